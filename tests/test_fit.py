"""Fits: the compute-efficient frontier, power laws, the Chinchilla law, IsoFLOP profiles."""

import warnings

import numpy as np
import pytest

from scalinglab import fit as fit_module
from scalinglab.fit import fit_chinchilla, fit_power_law, frontier, isoflop_profiles, record_frontier

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


def test_record_frontier_keeps_each_new_record_by_increasing_compute():
    compute = [100, 1, 10, 10, 1000, 1e4]
    loss = [2.0, 5.0, 3.0, 2.5, 2.1, 1.0]
    # 10 has two runs (only 2.5 can be kept); 1000 does not beat 2.0 at 100
    assert record_frontier(compute, loss).tolist() == [1, 3, 0, 5]


def test_record_frontier_holds_every_point_of_the_hull():
    rng = np.random.default_rng(0)
    compute = np.logspace(8, 12, 40)
    loss = 1 + (1e9 / compute) ** 0.2 * rng.uniform(1, 1.3, 40)
    assert set(frontier(compute, loss)) <= set(record_frontier(compute, loss))


def test_record_frontier_bad_input():
    with pytest.raises(ValueError, match="loss must be positive"):
        record_frontier([1, 2], [1, -1])


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
    assert "PowerLawFit(E=1.5" in repr(fit)


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
    assert "ChinchillaFit(E=1.69" in repr(fit)


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
    features, log_l = fit_module._chinchilla_features(np.log(N), np.log(D)), np.log(L)
    counts = np.random.default_rng(1).multinomial(L.size, np.full(L.size, 1 / L.size), size=4)
    start = fit_chinchilla(N, D, L)
    theta0 = np.log([start.A, start.B, start.E]).tolist() + [start.alpha, start.beta]

    def fun(theta, rows):
        return fit_module._objective(theta, features, log_l, counts[rows].astype(float), 1e-3)

    theta, f, converged = fit_module._batched_lbfgs(fun, np.tile(theta0, (4, 1)), 1000, 1e-14)
    assert converged.all()
    for row in range(4):
        _, f_scipy, _ = fit_module._minimise(
            np.array(theta0), features, log_l, counts[row].astype(float), 1e-3, 1000, 1e-14
        )
        assert f[row] == pytest.approx(f_scipy, rel=1e-5)


def test_objective_gradient_matches_finite_differences():
    N, D, L = chinchilla_data(noise=0.01)
    features, log_l = fit_module._chinchilla_features(np.log(N), np.log(D)), np.log(L)
    theta = np.array([[6.0, 6.0, 0.5, 0.3, 0.3]])
    weights = np.ones((1, L.size))
    _, grad = fit_module._objective(theta, features, log_l, weights, 0.05)
    step = 1e-6
    for j in range(5):
        shift = np.zeros(5)
        shift[j] = step
        up, _ = fit_module._objective(theta + shift, features, log_l, weights, 0.05)
        down, _ = fit_module._objective(theta - shift, features, log_l, weights, 0.05)
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
    assert fit.n_bootstrap == 0
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
    fit = fit_module.ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    assert fit.predict(1e9, 1e11) == pytest.approx(chinchilla_loss(1e9, 1e11))
    with pytest.raises(ValueError, match="C must be positive"):
        fit.compute_optimal(-1e20)


# ------------------------------------------------------------------ isoflop_profiles


def isoflop_data(noise=0.0, budgets=np.logspace(18, 22, 5), seed=0):
    """Runs at each budget C, N on a log grid around the optimum, D = C / 6N; compute
    jittered by up to 0.4% (still one budget)."""
    rng = np.random.default_rng(seed)
    fit = fit_module.ChinchillaFit(**TRUTH, converged=True, loss=0.0)
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
    truth = fit_module.ChinchillaFit(**TRUTH, converged=True, loss=0.0)
    assert np.allclose(fit.n_opt, truth.compute_optimal(fit.budgets)[0], rtol=0.05)
    assert fit.a == pytest.approx(TRUE_A, abs=0.005)
    assert fit.b == pytest.approx(1 - fit.a)
    assert fit.predict_n_opt(1e20) * fit.predict_d_opt(1e20) * 6 == pytest.approx(1e20, rel=1e-6)
    assert np.allclose(fit.d_opt, fit.budgets / (6 * fit.n_opt))
    assert fit.parabolas.shape == (5, 3)
    budget = np.abs(compute / fit.budgets[0] - 1) < 0.01
    drawn = np.polyval(fit.parabolas[0], np.log(n_params[budget]))
    assert np.allclose(drawn, loss[budget], rtol=0.01)
    assert "IsoFLOPFit(a=0.45" in repr(fit)


def test_isoflop_intervals_cover_the_truth_with_noise():
    # 0.5% noise, 40 seeds: the 90% t-intervals on a cover the true exponent in at least
    # 75% of them (85% measured), and those on b likewise
    fits = [isoflop_profiles(*isoflop_data(noise=0.005, seed=seed)[:3]) for seed in range(40)]
    assert np.mean([f.a_interval[0] < TRUE_A < f.a_interval[1] for f in fits]) >= 0.75
    assert np.mean([f.b_interval[0] < 1 - TRUE_A < f.b_interval[1] for f in fits]) >= 0.75
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
    assert np.isnan(fit.a_interval).all()  # two budgets: a line, but no interval
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
