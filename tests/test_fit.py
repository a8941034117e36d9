"""Fits: the compute-efficient frontier."""

import numpy as np
import pytest

from scalinglab.fit import frontier


def test_frontier_of_points_on_a_power_law_is_all_of_them():
    compute = np.logspace(10, 15, 6)
    loss = 3 * compute**-0.05
    assert frontier(compute, loss).tolist() == list(range(6))


def test_frontier_skips_points_above_the_lower_hull_and_after_the_minimum():
    compute = [1, 10, 100, 1000, 10, 100, 1e4]
    loss = [5.0, 3.0, 2.0, 1.5, 4.0, 2.9, 1.6]
    # (10, 4.0) and (100, 2.9) are above the hull; (1e4, 1.6) is worse than (1000, 1.5)
    assert frontier(compute, loss).tolist() == [0, 1, 2, 3]


def test_frontier_drops_points_on_the_hull_that_are_not_convex():
    compute = [1, 10, 100]
    loss = [4.0, 3.9, 1.0]  # the middle point is above the segment from the first to the last
    assert frontier(compute, loss).tolist() == [0, 2]


@pytest.mark.parametrize(
    ("compute", "loss", "message"),
    [
        ([1, -1], [1, 1], "compute must be positive"),
        ([1, 2], [1, np.nan], "loss must be finite"),
        ([1, 2, 3], [1, 2], "same length"),
        ([], [], "non-empty"),
    ],
)
def test_frontier_bad_input(compute, loss, message):
    with pytest.raises(ValueError, match=message):
        frontier(compute, loss)
