"""Tests of scalinglab.icl: the loss along the context, its power-law fit, the in-context
learning score, and where the context stops helping (torch-free analysis)."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.icl import binned_along_context, context_plateau, fit_position_power_law, icl_score

# ---------------------------------------------------------------------------
# Loss along the context


def _synthetic_curve(n_ctx: int = 128, E: float = 1.5, t0: float = 3.0, alpha: float = 0.5) -> np.ndarray:
    return E + (t0 / np.arange(1, n_ctx + 1)) ** alpha


def test_fit_position_power_law_recovers_a_known_law():
    for start in (1, 4):
        fit = fit_position_power_law(_synthetic_curve(), start=start)
        assert fit.alpha == pytest.approx(0.5, rel=1e-3)
        assert fit.E == pytest.approx(1.5, rel=1e-3)
        assert fit.x0 == pytest.approx(3.0, rel=1e-2)


def test_fit_position_power_law_intervals_cover_the_truth_of_a_noisy_curve():
    noisy = _synthetic_curve() + np.random.default_rng(0).normal(0, 0.005, 128)
    fit = fit_position_power_law(noisy, start=2, n_bootstrap=100, seed=0)
    low, high = fit.intervals["alpha"]
    assert low < 0.5 < high and high - low < 0.2


@pytest.mark.parametrize("start", [0, -1, 127, 128, 200, 1.5, True])
def test_fit_position_power_law_rejects_a_start_outside_the_context(start):
    with pytest.raises(ValueError, match="^start"):
        fit_position_power_law(_synthetic_curve(), start=start)


@pytest.mark.parametrize("curve", [[1.0], [[1.0, 2.0]], [1.0, float("nan"), 2.0]])
def test_loss_curves_must_be_one_dimensional_and_finite(curve):
    with pytest.raises(ValueError, match="^loss_per_position"):
        fit_position_power_law(curve)
    with pytest.raises(ValueError, match="^loss_per_position"):
        icl_score(curve)


def test_icl_score_is_late_minus_early_loss():
    curve = _synthetic_curve(512)
    assert icl_score(curve) == pytest.approx(curve[499] - curve[49])
    assert icl_score(curve, early=1, late=512) == pytest.approx(curve[-1] - curve[0])
    assert icl_score(_synthetic_curve(128)) == pytest.approx(_synthetic_curve(128)[124] - _synthetic_curve(128)[11])
    assert icl_score(_synthetic_curve(2)) < 0


@pytest.mark.parametrize(("early", "late", "name"), [(0, 10, "early"), (5, 129, "late"), (10, 10, "late"), (10, 5, "late")])
def test_icl_score_rejects_positions_outside_the_context(early, late, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        icl_score(_synthetic_curve(128), early=early, late=late)


# ---------------------------------------------------------------------------
# Binning along the context and where the context stops helping


def test_binned_along_context_averages_log_spaced_bins_covering_every_position():
    curve = np.arange(1.0, 257.0)
    centres, means = binned_along_context(curve, n_bins=8)
    assert np.all(np.diff(centres) > 0) and centres[0] == 1 and centres[-1] < 256
    # A linear curve's bin mean is the midpoint of the bin, at least the geometric centre.
    assert means[0] == 1.0 and np.all(means >= centres - 1e-9) and means[-1] < 256


def test_context_plateau_finds_where_a_curve_flattens():
    positions = np.arange(1, 257)
    flat_after_100 = np.where(positions < 100, 2.0 - positions / 100, 1.0)
    plateau = context_plateau(flat_after_100, tolerance_nats=0.02)
    assert 80 <= plateau <= 110
    still_falling = 1.0 + positions**-0.3
    assert context_plateau(still_falling, tolerance_nats=0.02) > 150
    assert context_plateau(np.ones(256)) == 1
    with pytest.raises(ValueError, match="^tolerance_nats"):
        context_plateau(flat_after_100, tolerance_nats=0)
