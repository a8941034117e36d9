"""The critical batch size: crossing points on learning curves, S_min / E_min, and B_crit(L)."""

import math
import warnings

import numpy as np
import pytest

from scalinglab.fit import (
    CriticalBatchFit,
    CriticalBatchSizeFit,
    LawFit,
    fit_critical_batch,
    fit_critical_batch_size,
    steps_and_tokens_to_reach,
    tokens_to_reach,
)

S_MIN, E_MIN = 1e3, 2e7  # steps, tokens: B_crit = 2e4 tokens
BATCHES = np.geomspace(1e3, 1e6, 8)  # tokens per step
#: Kaplan et al. (2020), eq. 5.3: B_crit(L) = B_* / L^(1/alpha_B).
B_STAR, ALPHA_B = 2e8, 0.21


def trade_off(noise=0.0, seed=0):
    """(steps, tokens) of runs at BATCHES on the hyperbola, steps times exp(normal(0, noise))."""
    rng = np.random.default_rng(seed)
    steps = (S_MIN + E_MIN / BATCHES) * np.exp(rng.normal(0, noise, BATCHES.size))
    return steps, steps * BATCHES


# --- tokens_to_reach ---------------------------------------------------------------------


def test_tokens_to_reach_interpolates_in_log_tokens():
    # the loss falls from 3 at 100 tokens to 2 at 10,000: 2.5 is reached halfway in log
    # tokens, at 1,000
    assert tokens_to_reach([10, 100, 10_000, 20_000], [4.0, 3.0, 2.0, 1.5], 2.5) == pytest.approx(1000)
    # a quarter of the way: 100 * 100^0.25
    assert tokens_to_reach([100, 10_000], [3.0, 2.0], 2.75) == pytest.approx(100 * 100**0.25)


def test_tokens_to_reach_takes_the_first_crossing_and_exact_points():
    tokens, loss = [1, 2, 4, 8, 16], [5.0, 3.0, 2.0, 2.5, 1.0]
    assert tokens_to_reach(tokens, loss, 2.0) == pytest.approx(4)  # reached at an evaluation
    assert tokens_to_reach(tokens, loss, 2.2) == pytest.approx(2 * 2 ** (0.8 / 1.0))  # not the later one


def test_tokens_to_reach_from_zero_tokens_is_linear():
    assert tokens_to_reach([0, 100, 200], [5.0, 3.0, 2.0], 4.0) == pytest.approx(50)


def test_tokens_to_reach_is_nan_when_not_located():
    assert math.isnan(tokens_to_reach([10, 100], [4.0, 3.0], 2.0))  # never reached
    assert math.isnan(tokens_to_reach([10, 100], [2.0, 1.0], 3.0))  # before the first evaluation


def test_tokens_to_reach_leaves_out_nan_losses():
    # the NaN evaluation is left out: the crossing is between 10 (4.0) and 1000 (2.0)
    assert tokens_to_reach([10, 100, 1000], [4.0, np.nan, 2.0], 3.0) == pytest.approx(100)
    assert math.isnan(tokens_to_reach([10, 100], [4.0, np.nan], 3.0))  # diverged before it


@pytest.mark.parametrize(
    ("tokens", "loss", "target", "message"),
    [
        ([1, 2, 2], [3.0, 2.0, 1.0], 1.5, "tokens_seen must be strictly increasing"),
        ([-1, 2, 3], [3.0, 2.0, 1.0], 1.5, "tokens_seen must be finite and >= 0"),
        ([1, np.inf], [3.0, 2.0], 1.5, "tokens_seen must be finite and >= 0"),
        ([1, 2], [3.0, 2.0, 1.0], 1.5, "tokens_seen and loss must have the same length"),
        ([], [], 1.5, "tokens_seen must be a non-empty 1-D array"),
        ([1, 2], [3.0, 2.0], 0.0, "target_loss must be a finite number > 0"),
    ],
)
def test_tokens_to_reach_bad_input(tokens, loss, target, message):
    with pytest.raises(ValueError, match=message):
        tokens_to_reach(tokens, loss, target)


def test_steps_and_tokens_to_reach():
    curves = [[100, 10_000], [100, 10_000], [100, 1000]]
    losses = [[3.0, 2.0], [3.0, 1.0], [3.0, 2.9]]
    steps, tokens = steps_and_tokens_to_reach(curves, losses, [10, 100, 10], 2.5)
    # run 1 falls from 3 to 1: 2.5 is a quarter of the way, at 100 * 100^0.25 tokens
    assert tokens[:2] == pytest.approx([1000, 100 * 100**0.25])
    assert steps[:2] == pytest.approx([1000 / 10, 100 * 100**0.25 / 100])
    assert math.isnan(steps[2]) and math.isnan(tokens[2])


def test_steps_and_tokens_to_reach_bad_input():
    with pytest.raises(ValueError, match="one entry per run each, got 2, 1 and 2"):
        steps_and_tokens_to_reach([[1, 2], [1, 2]], [[3.0, 2.0]], [10, 20], 2.5)
    with pytest.raises(ValueError, match="batch_tokens must be positive"):
        steps_and_tokens_to_reach([[1, 2]], [[3.0, 2.0]], [0], 2.5)
    with pytest.raises(ValueError, match="run 1: tokens_seen must be strictly increasing"):
        steps_and_tokens_to_reach([[1, 2], [2, 1]], [[3.0, 2.0], [3.0, 2.0]], [10, 20], 2.5)


# --- fit_critical_batch -------------------------------------------------------------------


def test_fit_critical_batch_recovers_exact_parameters():
    fit = fit_critical_batch(*trade_off())
    assert isinstance(fit, CriticalBatchFit) and isinstance(fit, LawFit)
    assert fit.converged and fit.n_points == 8 and fit.n_unreached == 0
    assert fit.S_min == pytest.approx(S_MIN, rel=1e-6)
    assert fit.E_min == pytest.approx(E_MIN, rel=1e-6)
    assert fit.B_crit == pytest.approx(E_MIN / S_MIN, rel=1e-6)
    # at B = B_crit a run takes twice the least steps and twice the least tokens
    steps, tokens = fit.predict(fit.B_crit)
    assert steps == pytest.approx(2 * S_MIN, rel=1e-6) and tokens == pytest.approx(2 * E_MIN, rel=1e-6)


def test_fit_critical_batch_intervals_hold_the_truth():
    fit = fit_critical_batch(*trade_off(noise=0.02), n_bootstrap=200)
    assert fit.n_bootstrap + fit.n_bootstrap_dropped == 200 and fit.level == 0.9
    for name, value in {"S_min": S_MIN, "E_min": E_MIN, "B_crit": E_MIN / S_MIN}.items():
        low, high = fit.intervals[name]
        assert low < value < high, name
        assert high / low < 1.5, name
    assert "B_crit=" in repr(fit) and "n_unreached=0" in repr(fit)


def test_fit_critical_batch_leaves_out_runs_that_never_reached():
    steps, tokens = trade_off()
    steps[[0, 3]] = tokens[[0, 3]] = np.nan
    fit = fit_critical_batch(steps, tokens)
    assert fit.n_unreached == 2 and fit.n_points == 6
    assert fit.B_crit == pytest.approx(E_MIN / S_MIN, rel=1e-6)


def test_fit_critical_batch_bad_input():
    steps, tokens = trade_off()
    only_steps = steps.copy()
    only_steps[0] = np.nan
    with pytest.raises(ValueError, match="NaN for the same runs"):
        fit_critical_batch(only_steps, tokens)
    unreached = np.full(8, np.nan)
    unreached[0] = 1.0
    with pytest.raises(ValueError, match="at least 2 runs that reached the loss, got 1"):
        fit_critical_batch(unreached, unreached)
    with pytest.raises(ValueError, match="at least 2 distinct batch sizes"):
        fit_critical_batch([10.0, 20.0, 30.0], [100.0, 200.0, 300.0])
    with pytest.raises(ValueError, match="steps must be positive"):
        fit_critical_batch(np.r_[-1.0, steps[1:]], tokens)
    with pytest.raises(ValueError, match="tokens must be finite"):
        fit_critical_batch(steps, np.r_[np.inf, tokens[1:]])
    with pytest.raises(ValueError, match="steps and tokens must have the same length"):
        fit_critical_batch(steps[:-1], tokens)
    with pytest.raises(ValueError, match="n_bootstrap must be a non-negative integer"):
        fit_critical_batch(steps, tokens, n_bootstrap=-1)
    with pytest.raises(ValueError, match="batch_tokens must be positive"):
        fit_critical_batch(steps, tokens).predict_steps(0.0)


# --- fit_critical_batch_size --------------------------------------------------------------


def test_fit_critical_batch_size_recovers_kaplan():
    losses = np.linspace(2.5, 5.0, 8)
    fit = fit_critical_batch_size(losses, B_STAR / losses ** (1 / ALPHA_B))
    assert isinstance(fit, CriticalBatchSizeFit) and fit.converged and fit.loss_floor == 0.0
    assert fit.B_star == pytest.approx(B_STAR, rel=1e-6)
    assert fit.alpha_B == pytest.approx(ALPHA_B, rel=1e-6)
    assert fit.predict(1.0) == pytest.approx(B_STAR, rel=1e-6)


def test_fit_critical_batch_size_intervals_hold_the_truth():
    losses = np.linspace(2.5, 5.0, 10)
    rng = np.random.default_rng(1)
    b_crit = B_STAR / losses ** (1 / ALPHA_B) * np.exp(rng.normal(0, 0.05, losses.size))
    fit = fit_critical_batch_size(losses, b_crit, n_bootstrap=200)
    for name, value in {"B_star": B_STAR, "alpha_B": ALPHA_B}.items():
        low, high = fit.intervals[name]
        assert low < value < high, name


def test_fit_critical_batch_size_with_a_floor():
    losses, floor = np.linspace(1.2, 2.0, 6), 1.0
    fit = fit_critical_batch_size(losses, 3e4 / (losses - floor) ** 2.0, loss_floor=floor)
    assert fit.B_star == pytest.approx(3e4, rel=1e-6) and fit.alpha_B == pytest.approx(0.5, rel=1e-6)
    assert fit.predict(1.5) == pytest.approx(3e4 / 0.5**2, rel=1e-6)
    with pytest.raises(ValueError, match="loss - loss_floor must be positive"):
        fit.predict(0.9)


def test_fit_critical_batch_size_bad_input():
    with pytest.raises(ValueError, match="losses must all exceed loss_floor=2"):
        fit_critical_batch_size([1.5, 3.0], [1e5, 1e4], loss_floor=2.0)
    with pytest.raises(ValueError, match="losses and b_crit must have the same length"):
        fit_critical_batch_size([2.0, 3.0], [1e5])
    with pytest.raises(ValueError, match="at least as many points as parameters \\(2\\)"):
        fit_critical_batch_size([2.0], [1e5])
    with pytest.raises(ValueError, match="losses must take at least 2 distinct values"):
        fit_critical_batch_size([2.0, 2.0], [1e5, 2e5])
    with pytest.raises(ValueError, match="b_crit must be finite"):
        fit_critical_batch_size([2.0, 3.0], [1e5, np.nan])
    with pytest.raises(ValueError, match="loss_floor must be a finite number >= 0"):
        fit_critical_batch_size([2.0, 3.0], [1e5, 1e4], loss_floor=-1.0)


# --- from learning curves to B_crit(L) ------------------------------------------------------


def test_from_learning_curves_to_kaplans_law():
    """Runs at 6 batch sizes whose learning curves obey S(L, B) = S_min(L) (1 + B_crit(L) / B),
    with S_min(L) = 1e3 (L - 1)^-2 and B_crit(L) = B_* / L^(1/alpha_B); one run stops early."""
    batches = np.geomspace(1e4, 1e7, 6)
    grid = np.linspace(6.0, 1.8, 400)  # the loss along each curve, falling

    def steps_to(loss, batch):
        return 1e3 * (loss - 1) ** -2 * (1 + B_STAR / loss ** (1 / ALPHA_B) / batch)

    curves = [steps_to(grid, batch) * batch for batch in batches]
    losses = [grid.copy() for _ in batches]
    cut = curves[0] < np.interp(2.5, grid[::-1], curves[0][::-1])  # the smallest batch stops above 2.5
    curves[0], losses[0] = curves[0][cut], losses[0][cut]
    targets = np.linspace(2.0, 4.0, 6)
    fits = [fit_critical_batch(*steps_and_tokens_to_reach(curves, losses, batches, target)) for target in targets]
    assert [fit.n_unreached for fit in fits] == [1, 1, 0, 0, 0, 0]
    for fit, target in zip(fits, targets):
        assert fit.S_min == pytest.approx(1e3 * (target - 1) ** -2, rel=1e-3)
        assert fit.B_crit == pytest.approx(B_STAR / target ** (1 / ALPHA_B), rel=1e-3)
    trend = fit_critical_batch_size(targets, [fit.B_crit for fit in fits], n_bootstrap=100)
    assert trend.alpha_B == pytest.approx(ALPHA_B, rel=1e-3)
    assert trend.B_star == pytest.approx(B_STAR, rel=1e-2)
    low, high = trend.intervals["alpha_B"]  # exact data: a narrow interval at the truth
    assert low == pytest.approx(ALPHA_B, rel=1e-3) and high == pytest.approx(ALPHA_B, rel=1e-3)


def test_fit_warnings_point_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_critical_batch(*trade_off(noise=0.02), maxiter=1)
    assert not fit.converged
    assert any("fit_critical_batch did not converge" in str(w.message) and w.filename == __file__ for w in caught)
