"""The shared argument checks name the argument and the rule it broke."""

import math

import numpy as np
import pytest

from scalinglab import _checks


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "4", None])
def test_positive_int_rejects(value):
    with pytest.raises(ValueError, match=r"n_layer must be a positive integer, got"):
        _checks.positive_int("n_layer", value)


def test_positive_int_accepts_numpy_integers():
    assert _checks.positive_int("n_layer", np.int64(12)) == 12


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, False, "1"])
def test_positive_float_rejects(value):
    with pytest.raises(ValueError, match=r"flops must be a finite number > 0"):
        _checks.positive_float("flops", value)


def test_non_negative_and_fraction():
    assert _checks.non_negative_int("vocab_size", 0) == 0
    assert _checks.non_negative_float("x", 0) == 0.0
    assert _checks.fraction("utilization", 1) == 1.0
    with pytest.raises(ValueError, match="vocab_size must be a non-negative integer"):
        _checks.non_negative_int("vocab_size", -1)
    with pytest.raises(ValueError, match=r"utilization must be a number in \(0, 1\]"):
        _checks.fraction("utilization", 1.5)
    with pytest.raises(ValueError, match=r"x must be a finite number >= 0"):
        _checks.non_negative_float("x", -0.1)
