"""fit_kaplan: Kaplan et al.'s (2020) eq. (1.5), with and without an irreducible constant."""

import warnings

import numpy as np
import pytest

from scalinglab.fit import KaplanFit, LawFit, fit_kaplan

#: Kaplan et al. (2020), Table 2 (eq. 1.5): alpha_N, alpha_D, N_c (parameters), D_c (tokens).
TRUTH = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
#: An entropy floor for the fits with a constant, nats/token.
FLOOR = 1.0


def kaplan_loss(N, D, E=0.0):
    ratio = TRUTH["alpha_N"] / TRUTH["alpha_D"]
    return E + ((TRUTH["N_c"] / N) ** ratio + TRUTH["D_c"] / D) ** TRUTH["alpha_D"]


def kaplan_data(noise, E=0.0, seed=0):
    """An 8 x 8 grid: N in 1e6..1e9 parameters, D in 1e7..1e10 tokens; loss times
    exp(normal(0, noise))."""
    N, D = (grid.ravel() for grid in np.meshgrid(np.logspace(6, 9, 8), np.logspace(7, 10, 8)))
    rng = np.random.default_rng(seed)
    return N, D, kaplan_loss(N, D, E) * np.exp(rng.normal(0, noise, N.size))


@pytest.fixture(scope="module")
def noisy_fit():
    """Kaplan's form fitted to the grid with 0.5% noise, with 100 bootstrap resamples."""
    return fit_kaplan(*kaplan_data(noise=0.005), n_bootstrap=100)


def test_recovers_exact_parameters():
    fit = fit_kaplan(*kaplan_data(noise=0))
    assert isinstance(fit, KaplanFit) and isinstance(fit, LawFit)
    assert fit.converged and fit.n_points == 64 and not fit.irreducible
    for name, value in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(value, rel=1e-3), name
    assert fit.E == 0.0
    assert fit.overfitting_exponent == pytest.approx(0.076 / 0.103, rel=1e-4)
    assert fit.intervals == {} and fit.n_bootstrap == 0


def test_recovers_exact_parameters_with_a_constant():
    fit = fit_kaplan(*kaplan_data(noise=0, E=FLOOR), irreducible=True)
    assert fit.converged and fit.irreducible
    assert fit.E == pytest.approx(FLOOR, rel=1e-3)
    for name, value in TRUTH.items():
        assert getattr(fit, name) == pytest.approx(value, rel=1e-2), name


def test_noisy_fit_is_close_and_predicts(noisy_fit):
    assert noisy_fit.converged
    assert noisy_fit.alpha_N == pytest.approx(TRUTH["alpha_N"], rel=0.05)
    assert noisy_fit.alpha_D == pytest.approx(TRUTH["alpha_D"], rel=0.05)
    assert noisy_fit.overfitting_exponent == pytest.approx(0.738, abs=0.03)
    N, D, _ = kaplan_data(noise=0)
    assert np.allclose(noisy_fit.predict(N, D), kaplan_loss(N, D), rtol=0.005)


def test_bootstrap_intervals_hold_the_truth(noisy_fit):
    assert noisy_fit.n_bootstrap + noisy_fit.n_bootstrap_dropped == 100
    assert noisy_fit.n_bootstrap >= 95
    assert noisy_fit.level == 0.9
    truth = {**TRUTH, "overfitting_exponent": TRUTH["alpha_N"] / TRUTH["alpha_D"]}
    for name, value in truth.items():
        low, high = noisy_fit.intervals[name]
        assert low < value < high, name
        assert low <= (getattr(noisy_fit, name)) <= high, name
    assert set(noisy_fit.bootstrap) >= set(truth)


def test_repr_shows_the_overfitting_exponent(noisy_fit):
    text = repr(noisy_fit)
    assert text.startswith("KaplanFit(") and "alpha_N=" in text
    assert "overfitting_exponent=0.7" in text and "n_bootstrap=" in text


def test_predict_broadcasts_and_checks_its_input():
    fit = fit_kaplan(*kaplan_data(noise=0))
    assert fit.predict(1e8, 1e9) == pytest.approx(kaplan_loss(1e8, 1e9), rel=1e-4)
    grid = fit.predict(np.array([[1e7], [1e8]]), np.array([1e9, 1e10, 1e11]))
    assert grid.shape == (2, 3)
    # more data lowers the loss, and at fixed D a bigger model does too
    assert np.all(np.diff(grid, axis=1) < 0) and np.all(np.diff(grid, axis=0) < 0)
    with pytest.raises(ValueError, match="N must be positive"):
        fit.predict(0.0, 1e9)
    with pytest.raises(ValueError, match="D must be finite"):
        fit.predict(1e8, np.nan)


def test_huber_loss_resists_an_outlier():
    N, D, L = kaplan_data(noise=0.002)
    L = L.copy()
    L[5] *= 1.5
    squared = fit_kaplan(N, D, L)
    huber = fit_kaplan(N, D, L, huber_delta=1e-3)
    assert abs(huber.alpha_D - TRUTH["alpha_D"]) < abs(squared.alpha_D - TRUTH["alpha_D"])
    assert huber.alpha_D == pytest.approx(TRUTH["alpha_D"], rel=0.03)


def test_that_did_not_converge_says_so():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_kaplan(*kaplan_data(noise=0.005), maxiter=1)
    assert not fit.converged
    messages = [str(w.message) for w in caught]
    assert any("fit_kaplan did not converge" in m for m in messages)
    assert all(w.filename == __file__ for w in caught if "fit_kaplan" in str(w.message))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_params": -1.0}, "n_params must be positive"),
        ({"tokens": np.nan}, "tokens must be finite"),
        ({"loss": np.inf}, "loss must be finite"),
        ({"loss": 0.0}, "loss must be positive"),
    ],
)
def test_bad_values(change, message):
    arrays = dict(zip(("n_params", "tokens", "loss"), (a[:8].copy() for a in kaplan_data(noise=0))))
    arrays["n_params"] = np.repeat([1e6, 1e7], 4)
    arrays["tokens"] = np.tile([1e7, 1e8, 1e9, 1e10], 2)
    ((name, value),) = change.items()
    arrays[name][0] = value
    with pytest.raises(ValueError, match=message):
        fit_kaplan(arrays["n_params"], arrays["tokens"], arrays["loss"])


def test_bad_shapes_and_options():
    N, D, L = kaplan_data(noise=0)
    with pytest.raises(ValueError, match="n_params and tokens and loss must have the same length"):
        fit_kaplan(N, D[:-1], L)
    with pytest.raises(ValueError, match="at least as many points as parameters \\(4\\)"):
        fit_kaplan(N[:3], D[:3], L[:3])
    with pytest.raises(ValueError, match="parameters \\(5\\)"):
        fit_kaplan(N[:4], D[:4], L[:4], irreducible=True)
    with pytest.raises(ValueError, match="n_params must take at least 2 distinct values"):
        fit_kaplan(np.full(8, 1e8), D[:8], L[:8])
    with pytest.raises(ValueError, match="tokens must take at least 2 distinct values"):
        fit_kaplan(N[:8], np.full(8, 1e9), L[:8])
    with pytest.raises(ValueError, match="tokens must be a non-empty 1-D array"):
        fit_kaplan(N, D.reshape(8, 8), L)
    for options, message in [
        ({"irreducible": 1}, "irreducible must be True or False"),
        ({"huber_delta": 0.0}, "huber_delta must be a finite number > 0"),
        ({"n_bootstrap": -1}, "n_bootstrap must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"level": 1.5}, "level must be a number in \\(0, 1\\]"),
        ({"maxiter": 0}, "maxiter must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            fit_kaplan(N, D, L, **options)


def test_same_seed_same_intervals():
    data = kaplan_data(noise=0.005, seed=3)
    first = fit_kaplan(*data, n_bootstrap=20, seed=7)
    second = fit_kaplan(*data, n_bootstrap=20, seed=7)
    assert first.intervals == second.intervals
    assert first.parameters == second.parameters
