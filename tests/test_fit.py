"""Fits: the compute-efficient frontier, every law of scalinglab.fit, and the shape they share."""

import warnings

import numpy as np
import pytest

from scalinglab import limits
from scalinglab.fit import (
    PUBLISHED_CHINCHILLA_FITS,
    ChinchillaFit,
    DataConstrainedFit,
    IsoFLOPFit,
    LawFit,
    PowerLawFit,
    TransferLawFit,
    _optimizer,
    common_exponent,
    allocation_exponent,
    fit_chinchilla,
    fit_data_constrained,
    fit_power_law,
    fit_transfer_law,
    group_budgets,
    isoflop_profiles,
    quietly,
    record_frontier,
    with_interval,
)
from scalinglab.fit.chinchilla import _features as chinchilla_features
from scalinglab.fit.power_law import _parameters


def power_law_parameters(theta):
    """(E, x0, alpha) of theta = (log E, alpha log x0, alpha), as fit_power_law writes them."""
    return _parameters(theta, irreducible=True)


#: Hoffmann et al.'s (2022) fitted law, used as the truth of the synthetic data.
TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TRUE_A = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])


def chinchilla_loss(N, D):
    return TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]


def chinchilla_data(noise, seed=0):
    """A 10 x 10 grid: N in 1e7..1e10 parameters, D in 1e9..1e12 tokens; loss times
    exp(normal(0, noise))."""
    N, D = (grid.ravel() for grid in np.meshgrid(np.logspace(7, 10, 10), np.logspace(9, 12, 10)))
    rng = np.random.default_rng(seed)
    return N, D, chinchilla_loss(N, D) * np.exp(rng.normal(0, noise, N.size))


@pytest.fixture(scope="module")
def noisy_fit():
    """The law fitted to the grid with 1% noise, with 100 bootstrap resamples."""
    return fit_chinchilla(*chinchilla_data(noise=0.01), n_bootstrap=100)


def test_record_frontier_keeps_each_new_record_by_increasing_compute():
    compute = [100, 1, 10, 10, 1000, 1e4]
    loss = [2.0, 5.0, 3.0, 2.5, 2.1, 1.0]
    # 10 has two runs (only 2.5 can be kept); 1000 does not beat 2.0 at 100
    assert record_frontier(compute, loss).tolist() == [1, 3, 0, 5]


def test_record_frontier_is_the_lower_envelope_every_other_point_lies_above():
    rng = np.random.default_rng(0)
    compute = rng.uniform(1e8, 1e12, 60)
    loss = 1 + (1e9 / compute) ** 0.2 * rng.uniform(1, 1.3, 60)
    kept = record_frontier(compute, loss)
    assert np.all(np.diff(compute[kept]) > 0) and np.all(np.diff(loss[kept]) < 0)
    for i in set(range(60)) - set(kept.tolist()):  # a kept point of no more compute is at least as good
        assert np.any((compute[kept] <= compute[i]) & (loss[kept] <= loss[i]))


@pytest.mark.parametrize(
    ("compute", "loss", "message"),
    [
        ([1, -1], [1, 1], "compute must be positive"),
        ([1, 2], [1, -1], "loss must be positive"),
        ([1, 2], [1, np.nan], "loss must be finite"),
        ([1, 2, 3], [1, 2], "same length"),
        ([], [], "non-empty"),
    ],
)
def test_record_frontier_names_a_bad_argument(compute, loss, message):
    with pytest.raises(ValueError, match=message):
        record_frontier(compute, loss)


# ------------------------------------------------------------------ fit_power_law


def power_law_data(noise, irreducible=True, seed=0):
    x = np.logspace(4, 9, 20)
    y = (1.5 if irreducible else 0.0) + (3e4 / x) ** 0.3
    return x, y * np.exp(np.random.default_rng(seed).normal(0, noise, x.size))


def test_power_law_recovers_exact_parameters():
    fit = fit_power_law(*power_law_data(noise=0))
    assert fit.converged
    assert fit.E == pytest.approx(1.5, rel=1e-4)
    assert fit.x0 == pytest.approx(3e4, rel=1e-3)
    assert fit.alpha == pytest.approx(0.3, rel=1e-4)
    assert repr(fit) == "PowerLawFit(E=1.5, x0=3e+04, alpha=0.3, converged=True, n_points=20)"


def test_power_law_without_constant_is_a_line_in_log_log():
    fit = fit_power_law(*power_law_data(noise=0, irreducible=False), irreducible=False)
    assert fit.E == 0.0
    assert fit.x0 == pytest.approx(3e4, rel=1e-6)
    assert fit.alpha == pytest.approx(0.3, rel=1e-6)


def test_power_law_bootstrap_intervals_and_band_cover_the_truth():
    # 1% multiplicative noise, 20 points, seed 0, 100 resamples, 90% intervals
    fit = fit_power_law(*power_law_data(noise=0.01), n_bootstrap=100)
    assert fit.E == pytest.approx(1.5, rel=0.02)
    assert fit.alpha == pytest.approx(0.3, abs=0.03)
    for name, truth in {"E": 1.5, "x0": 3e4, "alpha": 0.3}.items():
        low, high = fit.intervals[name]
        assert low < truth < high, name
    x = np.logspace(4, 9, 7)
    lower, upper = fit.band(x)
    truth = 1.5 + (3e4 / x) ** 0.3
    assert np.all(lower < upper)
    assert np.all((lower < truth) & (truth < upper))
    assert np.all(upper / lower < 1.05)


def test_power_law_band_needs_a_bootstrap():
    with pytest.raises(ValueError, match="n_bootstrap"):
        fit_power_law(*power_law_data(noise=0)).band([1e5])


def test_power_law_that_did_not_converge_says_so():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fit = fit_power_law(*power_law_data(noise=0.01), maxiter=1)
    assert not fit.converged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": [1, 2, -3], "y": [1, 2, 3]}, "x must be positive"),
        ({"x": [1, 2, 3], "y": [1, np.inf, 3]}, "y must be finite"),
        ({"x": [1, 2, 3], "y": [1, 2]}, "x and y must have the same length"),
        ({"x": [1, 2], "y": [3, 2]}, "at least as many points as parameters"),
        ({"x": [1, 2, 3], "y": [3, 2, 1], "n_bootstrap": -1}, "n_bootstrap"),
    ],
)
def test_power_law_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law(**kwargs)


# ------------------------------------------------------------------ fit_chinchilla


def test_chinchilla_recovers_exact_parameters():
    fit = fit_chinchilla(*chinchilla_data(noise=0))
    assert fit.converged
    for name, truth in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(truth, rel=1e-3), name
    assert fit.loss < 1e-9
    assert repr(fit).startswith("ChinchillaFit(\n    E=1.69,\n    A=406.4,\n")


def test_chinchilla_fit_to_noisy_data(noisy_fit):
    # 1% noise on 100 runs: exponents within 0.02, E within 2%, A and B within a factor 1.5
    # (A and B trade off against the exponents), a within 0.02, predictions within 1%
    fit = noisy_fit
    assert fit.converged
    assert fit.alpha == pytest.approx(TRUTH["alpha"], abs=0.02)
    assert fit.beta == pytest.approx(TRUTH["beta"], abs=0.02)
    assert fit.E == pytest.approx(TRUTH["E"], rel=0.02)
    assert 1 / 1.5 < fit.A / TRUTH["A"] < 1.5
    assert 1 / 1.5 < fit.B / TRUTH["B"] < 1.5
    assert fit.a == pytest.approx(TRUE_A, abs=0.02)
    assert fit.a + fit.b == pytest.approx(1)
    N, D, _ = chinchilla_data(noise=0)
    assert np.allclose(fit.predict(N, D), chinchilla_loss(N, D), rtol=0.01)


def test_chinchilla_bootstrap_intervals_cover_the_truth(noisy_fit):
    # the setting of noisy_fit: 100 runs, 1% noise, seed 0; 100 resamples, 90% intervals
    truths = {**TRUTH, "a": TRUE_A, "b": 1 - TRUE_A}
    assert set(noisy_fit.intervals) == set(truths)
    for name, truth in truths.items():
        low, high = noisy_fit.intervals[name]
        assert low < getattr(noisy_fit, name) < high, name
        assert low < truth < high, name
    assert noisy_fit.n_bootstrap == 100
    assert noisy_fit.intervals["alpha"][1] - noisy_fit.intervals["alpha"][0] < 0.05


def test_batched_lbfgs_matches_scipy_on_bootstrap_resamples():
    N, D, L = chinchilla_data(noise=0.01)
    features, log_l = chinchilla_features(np.log(N), np.log(D)), np.log(L)
    counts = np.random.default_rng(1).multinomial(L.size, np.full(L.size, 1 / L.size), size=4)
    start = fit_chinchilla(N, D, L)
    theta0 = np.log([start.A, start.B, start.E]).tolist() + [start.alpha, start.beta]

    def fun(theta, rows):
        return _optimizer.objective(theta, features, log_l, counts[rows].astype(float), 1e-3)

    theta, f, converged = _optimizer.batched_lbfgs(fun, np.tile(theta0, (4, 1)), 1000, 1e-14)
    assert converged.all()
    for row in range(4):
        _, f_scipy, _ = _optimizer.minimise(
            np.array(theta0), features, log_l, counts[row].astype(float), 1e-3, 1000, 1e-14
        )
        assert f[row] == pytest.approx(f_scipy, rel=1e-5)


def test_objective_gradient_matches_finite_differences():
    N, D, L = chinchilla_data(noise=0.01)
    features, log_l = chinchilla_features(np.log(N), np.log(D)), np.log(L)
    theta = np.array([[6.0, 6.0, 0.5, 0.3, 0.3]])
    weights = np.ones((1, L.size))
    _, grad = _optimizer.objective(theta, features, log_l, weights, 0.05)
    step = 1e-6
    for j in range(5):
        shift = np.zeros(5)
        shift[j] = step
        up, _ = _optimizer.objective(theta + shift, features, log_l, weights, 0.05)
        down, _ = _optimizer.objective(theta - shift, features, log_l, weights, 0.05)
        assert grad[0, j] == pytest.approx((up[0] - down[0]) / (2 * step), rel=1e-5)


def test_chinchilla_mean_reduction_reaches_the_same_optimum():
    N, D, L = chinchilla_data(noise=0.01)
    summed = fit_chinchilla(N, D, L)
    mean = fit_chinchilla(N, D, L, reduction="mean")
    assert mean.loss == pytest.approx(summed.loss / L.size, rel=1e-6)
    assert mean.alpha == pytest.approx(summed.alpha, abs=1e-3)
    assert mean.beta == pytest.approx(summed.beta, abs=1e-3)


def test_scipy_default_tolerance_stops_the_mean_loss_early():
    # the trap of the book's exercise: L-BFGS-B's default ftol (~2.2e-9) is absolute for
    # objectives below 1, and the mean Huber loss (~1e-5 here) meets it at the grid start
    N, D, L = chinchilla_data(noise=0.01)
    early = fit_chinchilla(N, D, L, reduction="mean", ftol=2.2e-9)
    summed = fit_chinchilla(N, D, L, ftol=2.2e-9)
    assert abs(early.alpha - summed.alpha) > 0.1
    assert early.loss > 2 * summed.loss / L.size


def test_compute_optimal_minimises_the_loss_at_fixed_compute():
    fit = fit_chinchilla(*chinchilla_data(noise=0))
    C = 1e22
    n_opt, d_opt = fit.compute_optimal(C)
    assert 6 * n_opt * d_opt == pytest.approx(C)
    N = n_opt * np.logspace(-0.5, 0.5, 101)
    assert np.argmin(fit.predict(N, C / (6 * N))) == 50
    n_opts, _ = fit.compute_optimal([1e20, 1e22])
    assert np.log(n_opts[1] / n_opts[0]) / np.log(100) == pytest.approx(fit.a)


def test_chinchilla_that_did_not_converge_says_so():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fit = fit_chinchilla(*chinchilla_data(noise=0.01), maxiter=1)
    assert not fit.converged


def test_bootstrap_fits_that_did_not_converge_are_left_out_and_counted():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_chinchilla(*chinchilla_data(noise=0.01), maxiter=2, n_bootstrap=5)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert any("fit_chinchilla did not converge" in m for m in messages)
    assert any("5 of 5 bootstrap fits did not converge" in m for m in messages)
    assert fit.n_bootstrap == 0 and fit.n_bootstrap_dropped == 5
    assert np.isnan(fit.intervals["alpha"]).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"N": -1.0}, "N must be positive"),
        ({"D": 0.0}, "D must be positive"),
        ({"L": np.nan}, "L must be finite"),
        ({"huber_delta": 0}, "huber_delta"),
        ({"reduction": "median"}, "reduction must be one of"),
        ({"n_bootstrap": 1.5}, "n_bootstrap"),
    ],
)
def test_chinchilla_bad_input(change, message):
    arrays = dict(zip("NDL", (array[:6].copy() for array in chinchilla_data(noise=0))))
    options = {}
    for name, value in change.items():
        if name in arrays:
            arrays[name][2] = value
        else:
            options[name] = value
    with pytest.raises(ValueError, match=message):
        fit_chinchilla(arrays["N"], arrays["D"], arrays["L"], **options)


def test_chinchilla_needs_equal_lengths_and_five_points():
    N, D, L = (array[:6] for array in chinchilla_data(noise=0))
    with pytest.raises(ValueError, match="N and D and L must have the same length"):
        fit_chinchilla(N, D[:5], L)
    with pytest.raises(ValueError, match="at least as many points as parameters"):
        fit_chinchilla(N[:4], D[:4], L[:4])


def test_chinchilla_predict_checks_its_input():
    fit = ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    assert fit.predict(1e9, 1e11) == pytest.approx(chinchilla_loss(1e9, 1e11))
    with pytest.raises(ValueError, match="C must be positive"):
        fit.compute_optimal(-1e20)


# ------------------------------------------------------------------ isoflop_profiles


def isoflop_data(noise=0.0, budgets=np.logspace(18, 22, 5), seed=0):
    """Runs at each budget C, N on a log grid around the optimum, D = C / 6N; compute
    jittered by up to 0.4% (still one budget)."""
    rng = np.random.default_rng(seed)
    fit = ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    compute, n_params = [], []
    for C in budgets:
        N = fit.compute_optimal(C)[0] * np.logspace(-1, 1, 9)
        n_params += N.tolist()
        compute += (C * (1 + rng.uniform(-0.004, 0.004, N.size))).tolist()
    compute, n_params = np.array(compute), np.array(n_params)
    n_tokens = compute / (6 * n_params)
    loss = chinchilla_loss(n_params, n_tokens) * np.exp(rng.normal(0, noise, compute.size))
    return compute, n_params, loss, n_tokens


def test_isoflop_recovers_the_allocation_exponent():
    # noise-free Chinchilla law, 5 budgets 1e18..1e22 FLOPs, 9 sizes over 2 decades each:
    # the parabola's vertex is within 5% of the true N_opt (the profile is not exactly a
    # parabola in ln N), and a within 0.005
    compute, n_params, loss, _ = isoflop_data()
    fit = isoflop_profiles(compute, n_params, loss)
    assert fit.budgets.size == 5 and not fit.dropped
    truth = ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    assert np.allclose(fit.n_opt, truth.compute_optimal(fit.budgets)[0], rtol=0.05)
    assert fit.a == pytest.approx(TRUE_A, abs=0.005)
    assert fit.b == pytest.approx(1 - fit.a)
    assert fit.predict_n_opt(1e20) * fit.predict_d_opt(1e20) * 6 == pytest.approx(1e20, rel=1e-6)
    assert np.allclose(fit.d_opt, fit.budgets / (6 * fit.n_opt))
    assert fit.parabolas.shape == (5, 3)
    budget = np.abs(compute / fit.budgets[0] - 1) < 0.01
    drawn = np.polyval(fit.parabolas[0], np.log(n_params[budget]))
    assert np.allclose(drawn, loss[budget], rtol=0.01)
    assert repr(fit).startswith(f"IsoFLOPFit(\n    a={fit.a:.4g} [")


def test_isoflop_intervals_cover_the_truth_with_noise():
    # 0.5% noise, 40 seeds: the 90% t-intervals on a cover the true exponent in at least
    # 75% of them (85% measured), and those on b likewise
    fits = [isoflop_profiles(*isoflop_data(noise=0.005, seed=seed)[:3]) for seed in range(40)]
    assert np.mean([f.intervals["a"][0] < TRUE_A < f.intervals["a"][1] for f in fits]) >= 0.75
    assert np.mean([f.intervals["b"][0] < 1 - TRUE_A < f.intervals["b"][1] for f in fits]) >= 0.75
    assert all(np.all(f.log_n_opt_stderr > 0) for f in fits)
    compute, n_params, loss, n_tokens = isoflop_data(noise=0.005)
    fit = isoflop_profiles(compute, n_params, loss)
    with_tokens = isoflop_profiles(compute, n_params, loss, n_tokens=n_tokens)
    assert with_tokens.a == pytest.approx(fit.a)
    assert with_tokens.b == pytest.approx(1 - fit.a, abs=0.01)


def test_isoflop_drops_budgets_without_a_minimum():
    compute, n_params, loss, _ = isoflop_data(budgets=[1e18, 1e19, 1e20])
    top = np.abs(compute / 1e20 - 1) < 0.01
    loss[top] = 5 - 0.1 * (np.log(n_params[top]) - np.log(n_params[top]).mean()) ** 2  # a cap
    # and a budget with a single run
    compute, n_params, loss = np.append(compute, 1e21), np.append(n_params, 1e9), np.append(loss, 2.0)
    with pytest.warns(RuntimeWarning, match="opens downward"):
        fit = isoflop_profiles(compute, n_params, loss)
    assert fit.budgets.size == 2
    assert np.isnan(fit.intervals["a"]).all()  # two budgets: a line, but no interval
    reasons = sorted(fit.dropped.values())
    assert reasons == ["fewer than 3 sizes", "parabola opens downward"]


def test_isoflop_bad_input():
    compute, n_params, loss, _ = isoflop_data(budgets=[1e18])
    with pytest.raises(ValueError, match="at least 2 budgets"):
        isoflop_profiles(compute, n_params, loss)
    with pytest.raises(ValueError, match="n_params must be positive"):
        isoflop_profiles(compute, -n_params, loss)
    with pytest.raises(ValueError, match="same length"):
        isoflop_profiles(compute, n_params[:-1], loss)
    with pytest.raises(ValueError, match="n_tokens must be finite"):
        isoflop_profiles(compute, n_params, loss, n_tokens=np.full(loss.size, np.inf))


def parabola_profiles(a, scatter=0.05, seed=0, budgets=np.logspace(10, 12, 5)):
    """IsoFLOP profiles whose vertex is exactly N* = 10 C^a times a log-normal jitter of
    ``scatter`` per budget (loss = 1 + 0.1 (ln N - ln N*)^2, seven sizes around it)."""
    rng = np.random.default_rng(seed)
    compute, n_params, loss = [], [], []
    for C in budgets:
        best = 10 * C**a * np.exp(rng.normal(0, scatter))
        N = best * np.exp(np.linspace(-1.5, 1.5, 7) + rng.uniform(-0.1, 0.1))
        compute += [C] * N.size
        n_params += N.tolist()
        loss += (1 + 0.1 * np.log(N / best) ** 2).tolist()
    return isoflop_profiles(compute, n_params, loss)


def test_common_exponent_pools_the_slopes_and_tests_whether_they_agree():
    same = [parabola_profiles(0.6, seed=seed) for seed in range(4)]
    common = common_exponent(same)
    assert common.interval[0] < 0.6 < common.interval[1] and common.interval[1] - common.interval[0] < 0.2
    assert common.n_vertices == 20 and common.n_groups == 4
    assert common.exponents == pytest.approx([fit.a for fit in same])
    assert min(common.exponents) <= common.a <= max(common.exponents)
    # Over many draws of four analyses that share a slope, the test rejects at 5% about
    # 5% of the time; analyses whose slopes are 0.3 apart it rejects almost always.
    p_same = [common_exponent([parabola_profiles(0.6, seed=10 * k + i) for i in range(4)]).p_value
              for k in range(40)]
    assert 0.0 <= np.mean(np.array(p_same) < 0.05) <= 0.15
    apart = common_exponent([parabola_profiles(0.5, seed=1), parabola_profiles(0.8, seed=2)])
    assert apart.p_value < 1e-3 and apart.exponents == pytest.approx([0.5, 0.8], abs=0.1)
    # Noise-free vertices on one line: the common slope exactly, with no width.
    exact = common_exponent([parabola_profiles(0.7, scatter=0.0, seed=s) for s in range(2)])
    assert exact.a == pytest.approx(0.7, abs=1e-6) and exact.interval[1] - exact.interval[0] < 1e-6
    with pytest.raises(ValueError, match="2 or more"):
        common_exponent(same[:1])
    with pytest.raises(ValueError, match="at least 3 budgets"):
        common_exponent([same[0], parabola_profiles(0.6, budgets=[1e10, 1e11])])


# ------------------------------------------------------------------ fit_data_constrained


def data_constrained_losses(epochs, tokens=1e10, E=1.0, D0=1e10, beta=0.3, r_star=15.4):
    return E + (D0 / limits.effective_data(tokens / epochs, epochs, r_star=r_star)) ** beta


def test_fit_data_constrained_recovers_parameters():
    epochs = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    tokens, E, D0, beta, r_star = 1e10, 1.0, 1e10, 0.3, 15.4
    losses = data_constrained_losses(epochs)
    fit = fit_data_constrained(epochs, losses, tokens=tokens)
    assert fit.converged
    assert fit.r_star == pytest.approx(r_star, rel=0.03)
    assert fit.E == pytest.approx(E, rel=0.03)
    assert fit.beta == pytest.approx(beta, rel=0.03)
    assert fit.D0 == pytest.approx(D0, rel=0.1)
    np.testing.assert_allclose(fit.predict(epochs), losses, rtol=1e-6)
    assert fit.predict(128) > fit.predict(64)
    with pytest.raises(AttributeError):
        fit.E = 0.0  # type: ignore[misc]


def test_fit_data_constrained_rejects_bad_input():
    with pytest.raises(ValueError, match="^epochs"):
        fit_data_constrained([0.5, 1, 2, 4], [3, 2, 2, 2], tokens=1e9)
    with pytest.raises(ValueError, match="^need at least"):
        fit_data_constrained([1, 2, 4], [2.0, 2.1, 2.2], tokens=1e9)
    with pytest.raises(ValueError, match="^epochs and losses"):
        fit_data_constrained([1, 2, 4, 8], [2.0, 2.1, 2.2], tokens=1e9)
    with pytest.raises(ValueError, match="^tokens must be positive"):
        fit_data_constrained([1, 2, 4, 8], [2.0, 2.1, 2.2, 2.3], tokens=-1.0)
    with pytest.raises(ValueError, match="^epochs and losses and tokens"):
        fit_data_constrained([1, 2, 4, 8], [2.0, 2.1, 2.2, 2.3], tokens=[1e9, 1e9])
    with pytest.raises(ValueError, match="^n_bootstrap"):
        fit_data_constrained([1, 2, 4, 8], [2.0, 2.1, 2.2, 2.3], tokens=1e9, n_bootstrap=-1)


def fresh_and_repeated(seed=None, noise=0.0):
    """A fresh-data ladder (k = 1 at 1/64 to 1 of the budget) and repeated runs at the
    budget (k = 2 to 64), from the law with R* = 15.4, with log-normal noise."""
    budget = 1e10
    fresh = budget / 2.0 ** np.arange(7)
    repeated = 2.0 ** np.arange(1, 7)
    epochs = np.concatenate([np.ones(fresh.size), repeated])
    tokens = np.concatenate([fresh, np.full(repeated.size, budget)])
    losses = data_constrained_losses(epochs, tokens=tokens)
    if noise:
        losses = losses * np.exp(np.random.default_rng(seed).normal(0, noise, losses.size))
    return epochs, tokens, losses


def test_fit_data_constrained_with_a_fresh_ladder_recovers_r_star():
    epochs, tokens, losses = fresh_and_repeated()
    fit = fit_data_constrained(epochs, losses, tokens=tokens)
    assert fit.converged and fit.tokens == tokens.max()
    assert fit.r_star == pytest.approx(15.4, rel=1e-3) and fit.beta == pytest.approx(0.3, rel=1e-3)
    np.testing.assert_allclose(fit.predict(epochs, tokens), losses, rtol=1e-8)
    # one epoch over a budget is fresh data: D' = D whatever R*
    assert fit.predict(1.0, 1e9) == pytest.approx(1.0 + (1e10 / 1e9) ** 0.3)


def test_data_constrained_bootstrap_interval_covers_the_truth():
    """With 1% noise, the 90% bootstrap interval of R* holds the true 15.4 in most of six
    noisy experiments, and the intervals narrow as the noise falls."""
    covered, widths = 0, {}
    for seed in range(6):
        epochs, tokens, losses = fresh_and_repeated(seed, noise=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = fit_data_constrained(epochs, losses, tokens=tokens, n_bootstrap=60, seed=seed)
        low, high = fit.intervals["r_star"]
        covered += low <= 15.4 <= high
        assert fit.n_bootstrap + fit.n_bootstrap_dropped == 60 and low <= fit.r_star <= high
        widths[seed] = high - low
    assert covered >= 4
    epochs, tokens, losses = fresh_and_repeated(0, noise=0.001)
    quiet = fit_data_constrained(epochs, losses, tokens=tokens, n_bootstrap=60, seed=0)
    assert quiet.intervals["r_star"][1] - quiet.intervals["r_star"][0] < widths[0]


# ------------------------------------------------------------------ fit_transfer_law


def transfer_data(noise=0.0, seed=0):
    """D_T = 2 D_F^0.2 N^0.4 on a 4 x 3 grid of D_F (tokens) and N (parameters), times
    exp(normal(0, noise)); the first point out of range (NaN)."""
    d, n = (grid.ravel() for grid in np.meshgrid([1e4, 3e4, 1e5, 3e5], [1e5, 4e5, 1.6e6]))
    transferred = 2.0 * d**0.2 * n**0.4 * np.exp(np.random.default_rng(seed).normal(0, noise, d.size))
    transferred[0] = np.nan
    return d, n, transferred


def test_transfer_law_recovers_its_exponents():
    fit = fit_transfer_law(*transfer_data())
    assert (fit.alpha, fit.beta, fit.k) == pytest.approx((0.2, 0.4, 2.0), rel=1e-6)
    assert fit.converged and fit.n_points == 11
    assert fit.predict([1e4], [1e5]) == pytest.approx(2.0 * 1e4**0.2 * 1e5**0.4)
    for name, value in fit.parameters.items():  # exact data: intervals of zero width
        assert fit.intervals[name] == pytest.approx((value, value), rel=1e-6)


def test_transfer_law_intervals_cover_the_truth_with_noise():
    # 10% noise, 11 points, 40 seeds: the 90% t-intervals on alpha and beta cover the
    # truth in at least 75% of them
    fits = [fit_transfer_law(*transfer_data(noise=0.1, seed=seed)) for seed in range(40)]
    for name, truth in {"k": 2.0, "alpha": 0.2, "beta": 0.4}.items():
        assert np.mean([f.intervals[name][0] < truth < f.intervals[name][1] for f in fits]) >= 0.75, name
    assert all(f.level == 0.9 and f.n_bootstrap == 0 for f in fits)


def test_transfer_law_with_one_model_size_is_not_pinned_down():
    d, n, transferred = transfer_data()
    one_size = n == n[-1]
    with pytest.warns(RuntimeWarning, match="do not vary independently"):
        fit = fit_transfer_law(d[one_size], n[one_size], transferred[one_size])
    assert not fit.converged
    assert np.isnan(fit.intervals["alpha"]).all()


def test_transfer_law_bad_input():
    d, n, transferred = transfer_data()
    with pytest.raises(ValueError, match="^n_params must be positive"):
        fit_transfer_law(d, -n, transferred)
    with pytest.raises(ValueError, match="^fine_tuning_tokens and n_params and transferred_tokens must have the same length"):
        fit_transfer_law(d[:-1], n, transferred)
    with pytest.raises(ValueError, match="^transferred_tokens must hold at least 4 finite, positive values, got 3"):
        fit_transfer_law(d[:4], n[:4], transferred[:4])
    with pytest.raises(ValueError, match="^level must be a number in"):
        fit_transfer_law(d, n, transferred, level=1.5)


# ------------------------------------------------------------------ the shape every law shares


def parabolic_isoflop_data():
    """Runs whose loss is exactly a parabola in ln N with its vertex at N_opt = 0.01 C^0.5."""
    compute, n_params = [], []
    for C in np.logspace(18, 22, 5):
        N = 0.01 * C**0.5 * np.logspace(-1, 1, 5)
        compute += [C] * N.size
        n_params += N.tolist()
    compute, n_params = np.array(compute), np.array(n_params)
    return compute, n_params, 2 + (np.log(n_params) - np.log(0.01 * compute**0.5)) ** 2


@pytest.fixture(scope="module")
def every_fit():
    """One fit of every law, with the number of points and of bootstrap resamples asked for."""
    constrained = fresh_and_repeated(0, noise=0.003)
    return {
        "power law": (fit_power_law(*power_law_data(noise=0.01), n_bootstrap=30), 20, 30),
        "chinchilla": (fit_chinchilla(*chinchilla_data(noise=0.01)), 100, 0),
        "isoflop": (isoflop_profiles(*parabolic_isoflop_data()), 25, 0),
        "data constrained": (fit_data_constrained(*constrained[::2], tokens=constrained[1], n_bootstrap=20), 13, 20),
        "transfer": (fit_transfer_law(*transfer_data(noise=0.1)), 11, 0),
    }


@pytest.mark.parametrize("law", ["power law", "chinchilla", "isoflop", "data constrained", "transfer"])
def test_every_law_has_the_common_fields(every_fit, law):
    fit, n_points, n_bootstrap = every_fit[law]
    assert isinstance(fit, LawFit)
    assert list(fit.parameters) == list(type(fit).PARAMETERS)
    assert all(isinstance(value, float) and value == getattr(fit, name) for name, value in fit.parameters.items())
    assert fit.converged is True
    assert fit.n_points == n_points
    assert fit.n_bootstrap + fit.n_bootstrap_dropped == n_bootstrap
    assert (fit.level is None) == (not fit.intervals)
    for low, high in fit.intervals.values():
        assert low <= high
    for name in fit.parameters:
        assert f"{name}=" in repr(fit)
    assert f"n_points={n_points}" in repr(fit) and "converged=True" in repr(fit)


def test_the_laws_without_bootstrap_say_where_their_intervals_come_from(every_fit):
    assert every_fit["isoflop"][0].intervals.keys() == {"a", "b"}
    assert every_fit["transfer"][0].intervals.keys() == {"k", "alpha", "beta"}
    assert every_fit["data constrained"][0].intervals.keys() == {"E", "D0", "beta", "r_star"}
    assert every_fit["chinchilla"][0].intervals == {} and every_fit["chinchilla"][0].bootstrap == {}


def test_repr_shows_values_intervals_and_the_bootstrap_kept_and_dropped():
    x = np.array([1e4, 1e5, 1e6, 1e7])
    with pytest.warns(RuntimeWarning, match="62 of 200 bootstrap fits"):
        fit = fit_power_law(x, 1.5 + (3e4 / x) ** 0.3, n_bootstrap=200, seed=0)
    assert repr(fit) == (
        "PowerLawFit(\n"
        "    E=1.5 [1.5, 1.5],\n"
        "    x0=3e+04 [3e+04, 3e+04],\n"
        "    alpha=0.3 [0.3, 0.3],\n"
        "    level=0.9, converged=True, n_points=4, n_bootstrap=138, n_bootstrap_dropped=62,\n"
        ")"
    )
    short = ChinchillaFit(E=1.7, A=400.0, B=410.0, alpha=0.3, beta=0.3, converged=True, loss=0.0, n_points=9)
    assert repr(short) == "ChinchillaFit(E=1.7, A=400, B=410, alpha=0.3, beta=0.3, converged=True, n_points=9)"


def test_n_bootstrap_dropped_counts_the_resamples_with_too_few_distinct_points():
    # 4 points and 3 parameters: a resample that repeats 2 distinct points cannot be fitted
    x = np.array([1e4, 1e5, 1e6, 1e7])
    with pytest.warns(RuntimeWarning, match="bootstrap fits did not converge"):
        fit = fit_power_law(x, 1.5 + (3e4 / x) ** 0.3, n_bootstrap=200, seed=0)
    counts = np.random.default_rng(0).multinomial(4, np.full(4, 0.25), size=200)  # the fit's resamples
    too_few = int(np.sum(np.count_nonzero(counts, axis=1) < 3))
    assert too_few > 0
    assert fit.n_bootstrap_dropped == too_few
    assert fit.n_bootstrap == 200 - too_few == fit.bootstrap["alpha"].size


def test_solution_fields_record_the_resamples_kept_and_dropped():
    theta = np.array([np.log(1.5), 0.3 * np.log(3e4), 0.3])
    solution = _optimizer.Solution(theta, 0.0, True, np.tile(theta, (3, 1)), n_dropped=2)
    names = PowerLawFit.PARAMETERS
    fit = PowerLawFit(**solution.fields(power_law_parameters, names, 0.5), n_points=4)
    assert (fit.n_bootstrap, fit.n_bootstrap_dropped, fit.level) == (3, 2, 0.5)
    assert fit.x0 == pytest.approx(3e4) and fit.intervals["x0"] == pytest.approx((3e4, 3e4))
    no_bootstrap = _optimizer.Solution(theta, 0.0, False, None, n_dropped=0).fields(power_law_parameters, names, 0.9)
    assert no_bootstrap.keys() == {"E", "x0", "alpha", "converged"}


def test_predict_inverts_known_parameters():
    x = np.array([1.0, 10.0, 1e3])
    power = PowerLawFit(E=1.0, x0=10.0, alpha=0.5, converged=True)
    assert power.predict(x) == pytest.approx(1.0 + (10.0 / x) ** 0.5)
    law = ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    assert law.predict(1e9, 1e11) == pytest.approx(chinchilla_loss(1e9, 1e11))
    constrained = DataConstrainedFit(E=1.0, D0=1e10, beta=0.3, r_star=15.4, tokens=1e10, converged=True, loss=0.0)
    epochs = np.array([1.0, 4.0, 64.0])
    assert constrained.predict(epochs) == pytest.approx(data_constrained_losses(epochs))
    transfer = TransferLawFit(k=2.0, alpha=0.2, beta=0.4, converged=True)
    assert transfer.predict([1e4], [1e5]) == pytest.approx(2.0 * 1e4**0.2 * 1e5**0.4)
    profiles = isoflop_profiles(*parabolic_isoflop_data())  # vertices exactly at N_opt = 0.01 C^0.5
    assert isinstance(profiles, IsoFLOPFit)
    n_opt, d_opt = profiles.predict(np.array([1e19, 1e23]))
    assert n_opt == pytest.approx(0.01 * np.array([1e19, 1e23]) ** 0.5, rel=1e-9)
    assert 6 * n_opt * d_opt == pytest.approx([1e19, 1e23], rel=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: PowerLawFit(E=1.0, x0=10.0, alpha=0.5, converged=True).predict([-1.0]), "^x must be positive"),
        (lambda: ChinchillaFit(**TRUTH, converged=True, loss=0.0).predict(-1.0, 1e9), "^N must be positive"),
        (lambda: isoflop_profiles(*parabolic_isoflop_data()).predict(0.0), "^C must be positive"),
        (
            lambda: DataConstrainedFit(E=1, D0=1, beta=1, r_star=1, tokens=1, converged=True, loss=0).predict(0.5),
            "^epochs must be >= 1",
        ),
        (lambda: TransferLawFit(k=2, alpha=0.2, beta=0.4, converged=True).predict([1e4], [0]), "^n_params must be positive"),
        (lambda: fit_power_law(*power_law_data(noise=0), level=0), "^level must be a number in"),
        (lambda: fit_chinchilla(*chinchilla_data(noise=0), seed=-1), "^seed must be a non-negative integer"),
        (lambda: isoflop_profiles(*parabolic_isoflop_data(), level=2), "^level must be a number in"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_quietly_hides_the_warnings_but_the_fit_still_counts_what_they_said():
    x = np.array([1e4, 1e5, 1e6, 1e7])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quietly():
            fit = fit_power_law(x, 1.5 + (3e4 / x) ** 0.3, n_bootstrap=200, seed=0)
        warnings.warn("after the block", UserWarning)
    assert [str(w.message) for w in caught] == ["after the block"]
    assert fit.n_bootstrap_dropped == 62


def test_with_interval_rounds_the_value_and_both_ends_alike():
    assert with_interval(0.7312, (0.6549, 0.8)) == "0.73 [0.65, 0.80]"
    assert with_interval(12.0, (9.96, 15.04), digits=1) == "12.0 [10.0, 15.0]"
    assert with_interval(0.5, (float("nan"), float("nan"))) == "0.50 [n/a]"  # every resample dropped
    fit = fit_power_law(np.geomspace(1e3, 1e7, 8), 2.0 + (1e3 / np.geomspace(1e3, 1e7, 8)) ** 0.5,
                        n_bootstrap=50, seed=0)
    low, high = fit.intervals["alpha"]
    assert fit.with_interval("alpha", digits=3) == f"{fit.alpha:.3f} [{low:.3f}, {high:.3f}]"


@pytest.mark.parametrize("call, message", [
    (lambda: with_interval(1.0, (2.0, 1.0)), "low <= high"),
    (lambda: with_interval(1.0, 0.5), r"\(low, high\) pair"),
    (lambda: with_interval(1.0, (0.0, 2.0), digits=-1), "digits must be an integer"),
    (lambda: PowerLawFit(E=1.0, x0=1.0, alpha=0.5, converged=True).with_interval("alpha"), "no interval on 'alpha'"),
    (lambda: PowerLawFit(E=1.0, x0=1.0, alpha=0.5, converged=True).with_interval("beta"), "name must be one of"),
])
def test_with_interval_refuses_what_it_cannot_print(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_allocation_exponent_at_6n_flops_per_token_is_the_laws_own_a():
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS["Besiroglu et al. 2024 refit"])
    sizes = np.geomspace(1e6, 1e13, 6000)
    a, interval = allocation_exponent(law, [1e20, 1e21, 1e22, 1e23], sizes, 6 * sizes)
    assert a == pytest.approx(law.a, abs=0.002) and interval is None


def test_a_cost_per_token_growing_as_a_power_of_n_gives_the_exponent_of_the_first_order_condition():
    # cost per token k N^g: D = C / (k N^g), and minimising A/N^alpha + B/D^beta gives a = beta / (alpha + g beta)
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS["Besiroglu et al. 2024 refit"])
    sizes = np.geomspace(1e3, 1e13, 8000)
    a_sqrt, _ = allocation_exponent(law, [1e18, 1e19, 1e20, 1e21], sizes, 6e4 * np.sqrt(sizes))
    assert a_sqrt == pytest.approx(law.beta / (law.alpha + 0.5 * law.beta), abs=0.003)


def test_a_head_whose_share_falls_with_size_raises_the_exponent_where_it_dominates():
    # a head of 6 d_model n_vocab FLOPs per token, d_model = sqrt(N / 24): its cost grows as sqrt(N), so where
    # it is most of the cost a bigger model costs less than proportionally more, and a rises
    law = ChinchillaFit.from_parameters(PUBLISHED_CHINCHILLA_FITS["Besiroglu et al. 2024 refit"])
    sizes = np.geomspace(1e3, 1e9, 6000)
    with_head = 6 * sizes + 6 * np.sqrt(sizes / 24) * 50_000
    a_head, _ = allocation_exponent(law, [1e14, 1e15, 1e16, 1e17], sizes, with_head)
    a_plain, _ = allocation_exponent(law, [1e14, 1e15, 1e16, 1e17], sizes, 6 * sizes)
    assert a_plain == pytest.approx(law.a, abs=0.005)
    assert law.a + 0.02 < a_head < law.beta / (law.alpha + 0.5 * law.beta)


def test_allocation_exponent_has_the_bootstrap_interval_and_refuses_an_optimum_at_the_edge():
    rng = np.random.default_rng(0)
    N, D = np.repeat(np.geomspace(1e5, 1e7, 6), 4), np.tile(np.geomspace(1e6, 1e8, 4), 6)
    L = (1.7 + 400 / N**0.34 + 410 / D**0.28) * np.exp(rng.normal(0, 0.01, N.size))
    law = fit_chinchilla(N, D, L, n_bootstrap=50, seed=0)
    sizes = np.geomspace(1e3, 1e11, 4000)
    a, (low, high) = allocation_exponent(law, [1e13, 1e14, 1e15], sizes, 6 * sizes)
    assert low <= a <= high and a == pytest.approx(law.a, abs=0.005)
    with pytest.raises(ValueError, match="edge of sizes"):
        allocation_exponent(law, [1e13, 1e14, 1e15], sizes[:100], 6 * sizes[:100])
    with pytest.raises(ValueError, match="sizes must be increasing"):
        allocation_exponent(law, [1e13, 1e14], sizes[::-1], 6 * sizes[::-1])


def test_group_budgets_joins_runs_within_one_percent_in_increasing_compute():
    compute = np.array([1e12, 3e10, 1.005e12, 3.01e10, 1e11])
    groups = group_budgets(compute)
    assert [sorted(g.tolist()) for g in groups] == [[1, 3], [4], [0, 2]]
    assert [sorted(g.tolist()) for g in group_budgets(compute, rtol=1e-4)] == [[1], [3], [4], [0], [2]]
