"""Fitting the scaling laws.

* :func:`frontier`: the compute-efficient frontier of many (compute, loss) points;
* :func:`record_frontier`: the runs whose loss beats every run of less compute;
* :func:`fit_power_law`: y = E + (x0 / x)^alpha, fitted in log space;
* :func:`fit_chinchilla`: L(N, D) = E + A / N^alpha + B / D^beta with the Huber loss of
  Hoffmann et al. (2022), and the compute-optimal allocation it implies;
* :func:`isoflop_profiles`: N_opt at each compute budget, and N_opt ∝ C^a.

Fits return objects with plain attributes, a ``predict`` and bootstrap ``intervals``
(resampling the points with replacement), in the spirit of scikit-learn's estimators.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from scipy.optimize import minimize

from ._checks import (
    enough_points,
    fraction,
    non_negative_int,
    one_of,
    positive_array,
    positive_finite_array,
    positive_float,
    positive_int,
    same_length,
)


def _compute_and_loss(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """The (compute, loss) points as a (2, n) array, checked positive, finite and of one length."""
    c = positive_finite_array("compute", compute)
    l = positive_finite_array("loss", loss)
    same_length(compute=c, loss=l)
    return np.stack([c, l])


def frontier(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """Indices of the compute-efficient frontier: the lower convex hull in log-log space.

    Given many (compute C, loss L) points (e.g. every validation point of every run),
    returns the indices, in increasing C, of the points on the lower convex hull of
    (log C, log L) whose loss is below that of every point of smaller compute. On log-log
    axes those points are the frontier of Kaplan et al. (2020): for each compute budget,
    the least loss any run reached with that much compute or less, as a convex curve.

    Args:
        compute: compute of each point, in FLOPs (> 0).
        loss: loss of each point (> 0), e.g. in nats/token.
    """
    x, y = np.log(_compute_and_loss(compute, loss))
    order = np.lexsort((y, x))  # by compute, ties by loss
    hull: list[int] = []
    for i in order:
        if hull and x[hull[-1]] == x[i]:
            continue  # same compute, higher (or equal) loss
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross >= -1e-12:
                break  # a left turn (or a straight line): b stays on the hull
            hull.pop()  # b lies above the segment from a to i
        hull.append(int(i))
    # keep the part of the lower hull where loss still falls with compute
    lowest = int(np.argmin([y[i] for i in hull]))
    return np.array(hull[: lowest + 1], dtype=int)


def record_frontier(compute: ArrayLike, loss: ArrayLike) -> np.ndarray:
    """Indices of the runs that reach a lower loss than every run of less compute.

    The frontier as a staircase of records rather than a convex hull: walking the points
    by increasing compute C, a point is kept when its loss L is below the least loss of
    every point kept before it (of two points with the same C, only the lower can be
    kept). Each kept point is the best loss that its budget, or any smaller one, bought.
    It keeps every point of :func:`frontier` and, on a sweep with few runs per budget,
    usually more: enough to fit a power law plus a constant, where the hull may leave
    only three or four points.

    Args:
        compute: compute of each point, in FLOPs (> 0).
        loss: loss of each point (> 0), e.g. in nats/token.
    """
    c, l = _compute_and_loss(compute, loss)
    kept: list[int] = []
    for i in np.lexsort((l, c)):  # by compute, ties by loss
        if kept and (c[kept[-1]] == c[i] or l[i] >= l[kept[-1]]):
            continue
        kept.append(int(i))
    return np.array(kept, dtype=int)


# --------------------------------------------------------------------------------------
# Laws of the form  log L = LSE(terms) with every term linear in the parameters.
#
# Both laws of the book are sums of a constant and power laws, so their logarithm is a
# log-sum-exp of terms that are linear in the (log-)parameters:
#     log(E + (x0/x)^alpha)         = LSE(e, c - alpha log x)                with c = alpha log x0
#     log(E + A/N^alpha + B/D^beta) = LSE(a - alpha log N, b - beta log D, e)
# A law is then a ``features`` array F of shape (K terms, n points, P parameters) with
# term k of point i equal to F[k, i] @ theta. One vectorised objective serves every fit
# below: a batch of parameter vectors (B, P) against per-point weights (B, n), which is
# how a bootstrap resample (points drawn with replacement = integer counts) is written.
# --------------------------------------------------------------------------------------

#: L-BFGS-B's stopping rules: the objective fell by ``(f_k - f_k+1) / max(|f_k|, |f_k+1|, 1)
#: <= ftol`` in an iteration, or the largest gradient entry is <= gtol. scipy's defaults
#: (ftol ~2.2e-9, gtol 1e-5) stop fits of these small objectives (Huber or squared log
#: residuals, far below 1) early, anchored to the start: a bootstrap started from the
#: full-data optimum then barely moves and its intervals come out too narrow.
_FTOL = 1e-14
_GTOL = 1e-12
#: Resamples optimised together in one batch (bounds the memory of the bootstrap).
_BOOTSTRAP_CHUNK = 1000


def _objective(
    theta: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray, delta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Huber loss of the log residuals, and its gradient, for a batch of parameters.

    f(theta) = sum_i w_i Huber_delta(LSE_k(F[k, i] @ theta) - log y_i); with delta = inf the
    Huber loss is r^2 / 2 (least squares).

    Args:
        theta: parameters, shape (B, P).
        features: shape (K, n, P), see the comment above.
        log_y: log of the observed values, shape (n,).
        weights: per-point weights, shape (B, n) or (1, n).
        delta: Huber threshold on the log residual (inf for squared error).

    Returns:
        f of shape (B,) and its gradient with respect to theta, shape (B, P).
    """
    n_terms, n_points, n_params = features.shape
    flat = features.reshape(n_terms * n_points, n_params)
    terms = (theta @ flat.T).reshape(-1, n_terms, n_points)
    top = terms.max(axis=1, keepdims=True)
    exps = np.exp(terms - top)
    total = exps.sum(axis=1)
    residual = top[:, 0] + np.log(total) - log_y
    size = np.abs(residual)
    inner = np.minimum(size, delta)
    f = np.sum(weights * inner * (size - 0.5 * inner), axis=1)
    slope = weights * np.clip(residual, -delta, delta)  # Huber'(r), weighted
    share = exps / total[:, None, :]  # d LSE / d term
    grad = (slope[:, None, :] * share).reshape(len(terms), -1) @ flat
    return f, grad


def _minimise(
    theta0: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
    delta: float, maxiter: int, ftol: float,
) -> tuple[np.ndarray, float, bool]:
    """One L-BFGS-B run (scipy, analytic gradient) from ``theta0``: (theta, f, converged)."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        f, grad = _objective(theta[None], features, log_y, weights[None], delta)
        return float(f[0]), grad[0]

    result = minimize(
        fun, theta0, jac=True, method="L-BFGS-B",
        options={"maxiter": maxiter, "ftol": ftol, "gtol": _GTOL},
    )
    return result.x, float(result.fun), bool(result.success)


def _multistart(
    starts: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
    delta: float, maxiter: int, ftol: float,
) -> list[tuple[np.ndarray, float, bool]]:
    """L-BFGS-B from every start; the (theta, f, converged) results, best (least f) first."""
    results = [_minimise(s, features, log_y, weights, delta, maxiter, ftol) for s in starts]
    return sorted(results, key=lambda result: result[1])


def _distinct(results: list[tuple[np.ndarray, float, bool]], count: int) -> np.ndarray:
    """Up to ``count`` end points of ``results`` (best first) that differ from one another."""
    kept: list[np.ndarray] = []
    for theta, _, _ in results:
        if all(np.max(np.abs(theta - other)) > 1e-3 for other in kept):
            kept.append(theta)
        if len(kept) == count:
            break
    return np.array(kept)


def _two_loop(
    grad: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray, gamma: np.ndarray, newest: int
) -> np.ndarray:
    """L-BFGS search direction -H grad for a batch, from circular histories (B, m, P).

    A pair with rho = 0 (empty, or rejected for lack of curvature) is skipped.
    """
    memory = s.shape[1]
    order = [(newest - j) % memory for j in range(memory)]  # newest first
    q = grad.copy()
    alphas = []
    for k in order:
        alpha = rho[:, k] * np.einsum("bp,bp->b", s[:, k], q)
        q -= alpha[:, None] * y[:, k]
        alphas.append(alpha)
    r = gamma[:, None] * q
    for k, alpha in zip(reversed(order), reversed(alphas)):
        beta = rho[:, k] * np.einsum("bp,bp->b", y[:, k], r)
        r += s[:, k] * (alpha - beta)[:, None]
    return -r


def _batched_lbfgs(
    fun: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta0: np.ndarray, maxiter: int, ftol: float, memory: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise B independent problems at once with L-BFGS and a backtracking line search.

    Each problem keeps its own history, step and stopping test (L-BFGS-B's: ``ftol`` on
    the relative decrease of f, ``_GTOL`` on the largest gradient entry); a problem that
    has stopped is no longer evaluated.

    Args:
        fun: ``fun(theta, rows)`` returns f (b,) and gradient (b, P) of problems ``rows``
            at ``theta`` (b, P).
        theta0: starting points, shape (B, P).
        maxiter: iterations at most.
        ftol: tolerance on the relative decrease of f, as in L-BFGS-B.

    Returns:
        theta (B, P), f (B,), and converged (B,) (False where maxiter ran out).
    """
    n_problems, n_params = theta0.shape
    theta = theta0.copy()
    f, grad = fun(theta, np.arange(n_problems))
    s = np.zeros((n_problems, memory, n_params))
    y = np.zeros_like(s)
    rho = np.zeros((n_problems, memory))
    gamma = _unit_step(grad)
    converged = np.max(np.abs(grad), axis=1) <= _GTOL
    active = ~converged
    for iteration in range(maxiter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        g = grad[rows]
        direction = _two_loop(g, s[rows], y[rows], rho[rows], gamma[rows], iteration - 1)
        slope = np.einsum("bp,bp->b", g, direction)
        uphill = ~(slope < 0)  # also catches NaN
        if uphill.any():  # restart those problems from steepest descent
            rho[rows[uphill]] = 0
            gamma[rows[uphill]] = _unit_step(g[uphill])
            direction[uphill] = -gamma[rows[uphill], None] * g[uphill]
            slope[uphill] = np.einsum("bp,bp->b", g[uphill], direction[uphill])
        steepest = ~rho[rows].any(axis=1)  # no curvature pairs: the direction is -gamma g
        new_theta, new_f, new_grad, found = _backtrack(
            fun, rows, theta[rows], f[rows], g, direction, slope
        )
        step, change = new_theta - theta[rows], new_grad - g
        curvature = np.einsum("bp,bp->b", step, change)
        scale = np.linalg.norm(step, axis=1) * np.linalg.norm(change, axis=1)
        good = found & (curvature > 1e-10 * scale)
        slot = iteration % memory
        s[rows, slot], y[rows, slot] = step, change
        rho[rows, slot] = np.where(good, 1 / np.where(good, curvature, 1), 0)
        gamma[rows[good]] = curvature[good] / np.einsum("bp,bp->b", change[good], change[good])
        decrease = (f[rows] - new_f) / np.maximum(np.maximum(np.abs(f[rows]), np.abs(new_f)), 1)
        theta[rows], f[rows], grad[rows] = new_theta, new_f, new_grad
        done = found & ((decrease <= ftol) | (np.max(np.abs(new_grad), axis=1) <= _GTOL))
        lost = ~found & ~steepest  # no step along the L-BFGS direction: retry steepest descent
        rho[rows[lost]] = 0
        gamma[rows[lost]] = _unit_step(g[lost])
        # no step even along steepest descent (down to 1e-12 of a unit step): f cannot be
        # lowered at float64 precision, a minimum as far as arithmetic can tell
        stalled = ~found & steepest & np.isfinite(f[rows])
        converged[rows] = done | stalled
        active[rows] = (found & ~done) | lost
    return theta, f, converged


def _unit_step(grad: np.ndarray) -> np.ndarray:
    """Scale 1 / |grad| per row: the first step of steepest descent has length 1."""
    return 1 / np.maximum(np.linalg.norm(grad, axis=1), 1e-12)


def _backtrack(
    fun: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    rows: np.ndarray, theta: np.ndarray, f: np.ndarray, grad: np.ndarray, direction: np.ndarray,
    slope: np.ndarray, tries: int = 40,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Armijo backtracking (halving from a unit step) for a batch of problems.

    Returns the new theta, f, gradient (unchanged where no step was found) and a mask of
    the problems where a step satisfying f_new <= f + 1e-4 t slope was found.
    """
    new_theta, new_f, new_grad = theta.copy(), f.copy(), grad.copy()
    found = np.zeros(len(rows), dtype=bool)
    step = np.ones(len(rows))
    for _ in range(tries):
        todo = np.flatnonzero(~found)
        if todo.size == 0:
            break
        trial = theta[todo] + step[todo, None] * direction[todo]
        trial_f, trial_grad = fun(trial, rows[todo])
        ok = trial_f <= f[todo] + 1e-4 * step[todo] * slope[todo]  # False for NaN
        accepted = todo[ok]
        new_theta[accepted], new_f[accepted] = trial[ok], trial_f[ok]
        new_grad[accepted] = trial_grad[ok]
        found[accepted] = True
        step[todo[~ok]] *= 0.5
    return new_theta, new_f, new_grad, found


def _resample_fits(
    starts: np.ndarray, features: np.ndarray, log_y: np.ndarray, delta: float, reduction: str,
    n_bootstrap: int, seed: int, maxiter: int, ftol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit the law to ``n_bootstrap`` resamples of the points (drawn with replacement).

    A resample is a vector of integer counts, one per point, so every resample shares the
    data arrays; all resamples, each from every start, are optimised in one batch.

    Returns:
        The best parameters of each resample (n_bootstrap, P) and a mask of the resamples
        whose best fit converged and that hold at least P distinct points.
    """
    n_points, n_params = features.shape[1:]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_points, np.full(n_points, 1 / n_points), size=n_bootstrap)
    weights = counts / n_points if reduction == "mean" else counts.astype(float)
    chunks = np.array_split(weights, -(-n_bootstrap // _BOOTSTRAP_CHUNK))
    thetas, converged = zip(
        *(_fit_weighted(starts, features, log_y, chunk, delta, maxiter, ftol) for chunk in chunks)
    )
    usable = np.concatenate(converged) & (np.count_nonzero(counts, axis=1) >= n_params)
    return np.concatenate(thetas), usable


def _fit_weighted(
    starts: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
    delta: float, maxiter: int, ftol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit each row of ``weights`` (R, n) from every start in one batched L-BFGS; return
    the best parameters of each row (R, P) and whether that fit converged (R,)."""
    n_rows, n_starts = len(weights), len(starts)
    problem_weights = np.repeat(weights, n_starts, axis=0)  # problem = row * n_starts + start

    def fun(theta: np.ndarray, problems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _objective(theta, features, log_y, problem_weights[problems], delta)

    theta, f, converged = _batched_lbfgs(fun, np.tile(starts, (n_rows, 1)), maxiter, ftol)
    best = np.arange(n_rows) * n_starts + f.reshape(n_rows, n_starts).argmin(axis=1)
    return theta[best], converged[best]


def _percentiles(samples: dict[str, np.ndarray], level: float) -> dict[str, tuple[float, float]]:
    """Percentile interval (central, ``level``) of each named bootstrap sample; (NaN, NaN)
    for an empty sample."""
    tails = [50 * (1 - level), 50 * (1 + level)]
    return {
        name: tuple(np.percentile(values, tails).tolist()) if values.size else (np.nan, np.nan)
        for name, values in samples.items()
    }


def _warn_unusable(usable: np.ndarray) -> None:
    if not usable.all():
        warnings.warn(
            f"{np.count_nonzero(~usable)} of {usable.size} bootstrap fits did not converge "
            "(or had too few distinct points) and were left out of the intervals",
            RuntimeWarning, stacklevel=3,
        )


def _warn_not_converged(what: str) -> None:
    warnings.warn(
        f"{what} did not converge: the parameters are the last iterate, not an optimum "
        "(raise maxiter, or check the data)",
        RuntimeWarning, stacklevel=3,
    )


# --------------------------------------------------------------------------------------
# y = E + (x0 / x)^alpha
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PowerLawFit:
    """A fitted power law plus constant, y = E + (x0 / x)^alpha.

    ``y`` is in the units it was given in (e.g. loss in nats/token), ``x0`` in the units of
    ``x`` (parameters, tokens or FLOPs): the law says the reducible part of y is 1 at
    x = x0. ``E`` is the irreducible part (0.0 for a pure power law).

    Attributes:
        E, x0, alpha: the fitted parameters.
        converged: whether the optimiser met its stopping rule.
        bootstrap: name -> the parameter refitted on each bootstrap resample (empty without
            a bootstrap; resamples whose fit failed are left out).
        intervals: name -> (low, high) percentile interval of ``bootstrap`` at ``level``.
    """

    E: float
    x0: float
    alpha: float
    converged: bool
    bootstrap: dict[str, np.ndarray] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """E + (x0 / x)^alpha at ``x`` (> 0, same units as the fitted x)."""
        x = positive_array("x", x)
        return (self.E + (self.x0 / x) ** self.alpha)[()]

    def band(self, x: ArrayLike, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise (lower, upper) percentile band of the bootstrap fits' predictions at x.

        For a shaded band on a plot: at each x, the central ``level`` of the predictions of
        the laws fitted to the bootstrap resamples.
        """
        level = fraction("level", level)
        if self.n_bootstrap == 0:
            raise ValueError("band needs bootstrap fits: fit with n_bootstrap > 0")
        x = positive_array("x", x)
        b = {name: values.reshape((-1,) + (1,) * x.ndim) for name, values in self.bootstrap.items()}
        predictions = b["E"] + (b["x0"] / x) ** b["alpha"]
        lower, upper = np.percentile(predictions, [50 * (1 - level), 50 * (1 + level)], axis=0)
        return lower, upper

    @property
    def n_bootstrap(self) -> int:
        """Number of bootstrap fits kept in ``bootstrap``."""
        return len(self.bootstrap.get("alpha", ()))

    def __repr__(self) -> str:
        return (
            f"PowerLawFit(E={self.E:.4g}, x0={self.x0:.4g}, alpha={self.alpha:.4g}, "
            f"converged={self.converged}, n_bootstrap={self.n_bootstrap})"
        )


def _power_law_features(log_x: np.ndarray, irreducible: bool) -> np.ndarray:
    """Features of log y = LSE(e, c - alpha log x), theta = (e, c, alpha); or c - alpha log x."""
    ones, zeros = np.ones_like(log_x), np.zeros_like(log_x)
    power = np.stack([ones, -log_x], axis=-1)
    if not irreducible:
        return power[None]
    constant = np.stack([ones, zeros, zeros], axis=-1)
    return np.stack([constant, np.concatenate([zeros[:, None], power], axis=-1)])


def _power_law_starts(log_x: np.ndarray, y: np.ndarray, irreducible: bool) -> np.ndarray:
    """Starting points: E at 10%, 50% and 90% of min(y), then a line through log(y - E)."""
    if not irreducible:
        slope, intercept = np.polyfit(log_x, np.log(y), 1)
        return np.array([[intercept, -slope]])
    starts = []
    for share in (0.1, 0.5, 0.9):
        floor = share * y.min()
        slope, intercept = np.polyfit(log_x, np.log(y - floor), 1)
        starts.append([np.log(floor), intercept, -slope])
    return np.array(starts)


def _power_law_parameters(theta: np.ndarray, irreducible: bool) -> dict[str, np.ndarray]:
    """(E, x0, alpha) from theta = (e, c, alpha) or (c, alpha), along the last axis."""
    alpha, c = theta[..., -1], theta[..., -2]
    E = np.exp(theta[..., 0]) if irreducible else np.zeros_like(alpha)
    with np.errstate(over="ignore", divide="ignore"):
        x0 = np.exp(c / alpha)
    return {"E": E, "x0": x0, "alpha": alpha}


def fit_power_law(
    x: ArrayLike, y: ArrayLike, *, irreducible: bool = True, n_bootstrap: int = 0, seed: int = 0,
    level: float = 0.9, maxiter: int = 1000,
) -> PowerLawFit:
    """Fit y = E + (x0 / x)^alpha (or y = (x0 / x)^alpha) in log space.

    Minimises sum_i (log y_i - log(E + (x0 / x_i)^alpha))^2 / 2 with L-BFGS-B over
    (log E, alpha log x0, alpha), which keeps E > 0, from three starting points (E at
    10%, 50%, 90% of the least y, the rest from a straight line through log(y - E));
    keeps the best. Without the constant the fit is a straight line on log-log axes.

    Args:
        x: e.g. parameters N, tokens D or FLOPs C (> 0).
        y: e.g. loss in nats/token (> 0).
        irreducible: fit the constant E (3 parameters) or not (E = 0, 2 parameters).
        n_bootstrap: resamples of the points (with replacement) to refit, for ``intervals``
            and ``band``; 0 for none.
        seed: seed of the resampling.
        level: central probability of ``intervals``.
        maxiter: L-BFGS iterations at most, per start and per resample.

    Raises:
        ValueError: x or y not positive and finite, of different lengths, or fewer points
            than parameters; a bad option.
    """
    x, y = positive_finite_array("x", x), positive_finite_array("y", y)
    same_length(x=x, y=y)
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level, maxiter = fraction("level", level), positive_int("maxiter", maxiter)
    log_x, log_y = np.log(x), np.log(y)
    features = _power_law_features(log_x, irreducible)
    enough_points(x.size, features.shape[-1])
    starts = _power_law_starts(log_x, y, irreducible)
    results = _multistart(starts, features, log_y, np.ones_like(y), np.inf, maxiter, _FTOL)
    theta, _, converged = results[0]
    if not converged:
        _warn_not_converged("fit_power_law")
    best = {name: float(value) for name, value in _power_law_parameters(theta, irreducible).items()}
    if n_bootstrap == 0:
        return PowerLawFit(**best, converged=converged)
    thetas, usable = _resample_fits(
        _distinct(results, 3), features, log_y, np.inf, "sum", n_bootstrap, seed, maxiter, _FTOL
    )
    _warn_unusable(usable)
    samples = _power_law_parameters(thetas[usable], irreducible)
    return PowerLawFit(
        **best, converged=converged, bootstrap=samples, intervals=_percentiles(samples, level)
    )


# --------------------------------------------------------------------------------------
# L(N, D) = E + A / N^alpha + B / D^beta
# --------------------------------------------------------------------------------------

#: Grid starts refined with L-BFGS-B (the best of the paper's 4,500 by objective value).
_CHINCHILLA_STARTS = 16
_CHINCHILLA_NAMES = ("E", "A", "B", "alpha", "beta")


@dataclass(frozen=True, repr=False)
class ChinchillaFit:
    """A fitted Chinchilla law, L(N, D) = E + A / N^alpha + B / D^beta.

    L is the loss in the units it was given (nats/token), N the parameters (count them as
    the data did: with or without embeddings), D the training tokens.

    Attributes:
        E, A, B, alpha, beta: the fitted parameters.
        converged: whether L-BFGS-B met its stopping rule.
        loss: the objective at the optimum (summed or mean Huber loss of log residuals).
        bootstrap: name -> the parameter (E, A, B, alpha, beta, a, b) refitted on each
            bootstrap resample (empty without a bootstrap; failed fits are left out).
        intervals: name -> (low, high) percentile interval of ``bootstrap`` at ``level``.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    converged: bool
    loss: float
    bootstrap: dict[str, np.ndarray] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def a(self) -> float:
        """Exponent of the compute-optimal size, N_opt ∝ C^a, a = beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of the compute-optimal data, D_opt ∝ C^b, b = alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """L(N, D) = E + A / N^alpha + B / D^beta (N parameters, D tokens; broadcast)."""
        N, D = positive_array("N", N), positive_array("D", D)
        return (self.E + self.A / N**self.alpha + self.B / D**self.beta)[()]

    def compute_optimal(self, C: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The (N_opt, D_opt) minimising L(N, D) under C = 6 N D FLOPs.

        N_opt = G (C/6)^a and D_opt = (C/6)^b / G, with G = (alpha A / (beta B))^(1/(alpha+beta)).
        """
        C = positive_array("C", C)
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return (G * (C / 6) ** self.a)[()], ((C / 6) ** self.b / G)[()]

    @property
    def n_bootstrap(self) -> int:
        """Number of bootstrap fits kept in ``bootstrap``."""
        return len(self.bootstrap.get("alpha", ()))

    def __repr__(self) -> str:
        return (
            f"ChinchillaFit(E={self.E:.4g}, A={self.A:.4g}, B={self.B:.4g}, "
            f"alpha={self.alpha:.4g}, beta={self.beta:.4g}, converged={self.converged}, n_bootstrap={self.n_bootstrap})"
        )


def _chinchilla_features(log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """Features of LSE(a - alpha log N, b - beta log D, e), theta = (a, b, e, alpha, beta)."""
    ones, zeros = np.ones_like(log_n), np.zeros_like(log_n)
    return np.stack([
        np.stack([ones, zeros, zeros, -log_n, zeros], axis=-1),
        np.stack([zeros, ones, zeros, zeros, -log_d], axis=-1),
        np.stack([zeros, zeros, ones, zeros, zeros], axis=-1),
    ])


def _chinchilla_grid() -> np.ndarray:
    """Hoffmann et al.'s 4,500 starts: a, b in {0, 5, ..., 25}, e in {-1, -0.5, ..., 1},
    alpha, beta in {0, 0.5, ..., 2}; rows (a, b, e, alpha, beta)."""
    axes = [np.arange(0, 26, 5.0)] * 2 + [np.arange(-1, 1.1, 0.5)] + [np.arange(0, 2.1, 0.5)] * 2
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 5)


def _chinchilla_parameters(theta: np.ndarray) -> dict[str, np.ndarray]:
    """(E, A, B, alpha, beta, a, b) from theta = (a, b, e, alpha, beta), along the last axis."""
    log_a, log_b, e, alpha, beta = np.moveaxis(theta, -1, 0)
    return {
        "E": np.exp(e), "A": np.exp(log_a), "B": np.exp(log_b), "alpha": alpha, "beta": beta,
        "a": beta / (alpha + beta), "b": alpha / (alpha + beta),
    }


def fit_chinchilla(
    N: ArrayLike, D: ArrayLike, L: ArrayLike, *, huber_delta: float = 1e-3,
    reduction: str = "sum", n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
    maxiter: int = 1000, ftol: float = _FTOL,
) -> ChinchillaFit:
    """Fit L(N, D) = E + A / N^alpha + B / D^beta as Hoffmann et al. (2022) did.

    With a = log A, b = log B, e = log E, minimises

        sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i)

    (or its mean) with L-BFGS-B and the analytic gradient. The objective is evaluated on
    the paper's grid of 4,500 starts (see ``_chinchilla_grid``); L-BFGS-B runs from the
    best 16 of them and the best result is kept (Besiroglu et al. 2024 replicate this).

    L-BFGS-B stops when the objective falls by less than ``ftol`` times max(|f|, 1) in an
    iteration. Huber losses of log residuals are far below 1, so that is an absolute
    tolerance, and dividing the objective by n (``reduction="mean"``) loosens it n-fold.
    scipy's default, ftol ~2.2e-9, stops these fits early; the default here is 1e-14.

    Args:
        N: parameters of each run (> 0).
        D: training tokens of each run (> 0).
        L: final loss of each run, e.g. nats/token (> 0).
        huber_delta: Huber threshold on the log residual (1e-3 in the paper).
        reduction: "sum" (the paper) or "mean" of the per-point losses.
        n_bootstrap: resamples of the runs (with replacement) refitted, all at once with a
            batched L-BFGS from the full-data optimum and up to two other distinct local
            optima, for ``intervals``; 0 for none.
        seed: seed of the resampling.
        level: central probability of ``intervals``.
        maxiter: L-BFGS iterations at most, per start and per resample.
        ftol: L-BFGS-B's tolerance on the relative decrease of the objective (see above).

    Raises:
        ValueError: N, D or L not positive and finite, of different lengths, or fewer
            than 5 points; a bad option.
    """
    N, D, L = positive_finite_array("N", N), positive_finite_array("D", D), positive_finite_array("L", L)
    same_length(N=N, D=D, L=L)
    enough_points(N.size, 5)
    delta = positive_float("huber_delta", huber_delta)
    reduction = one_of("reduction", reduction, ("sum", "mean"))
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level, maxiter = fraction("level", level), positive_int("maxiter", maxiter)
    ftol = positive_float("ftol", ftol)
    features, log_l = _chinchilla_features(np.log(N), np.log(D)), np.log(L)
    weights = np.full(N.size, 1 / N.size if reduction == "mean" else 1.0)
    grid = _chinchilla_grid()
    grid_loss, _ = _objective(grid, features, log_l, weights[None], delta)
    starts = grid[np.argsort(grid_loss)[:_CHINCHILLA_STARTS]]
    results = _multistart(starts, features, log_l, weights, delta, maxiter, ftol)
    theta, loss, converged = results[0]
    if not converged:
        _warn_not_converged("fit_chinchilla")
    parameters = _chinchilla_parameters(theta)
    best = {name: float(parameters[name]) for name in _CHINCHILLA_NAMES}
    if n_bootstrap == 0:
        return ChinchillaFit(**best, converged=converged, loss=loss)
    thetas, usable = _resample_fits(
        _distinct(results, 3), features, log_l, delta, reduction, n_bootstrap, seed, maxiter, ftol
    )
    _warn_unusable(usable)
    samples = _chinchilla_parameters(thetas[usable])
    return ChinchillaFit(
        **best, converged=converged, loss=loss, bootstrap=samples,
        intervals=_percentiles(samples, level),
    )


# --------------------------------------------------------------------------------------
# IsoFLOP profiles (Hoffmann et al. 2022, approach 2)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IsoFLOPFit:
    """IsoFLOP analysis: the loss-minimising size at each compute budget, and its trend.

    At each budget C (FLOPs) a parabola of loss in ln N is fitted; its vertex is N_opt
    (parameters, counted as the data counts them). Then N_opt = k_N C^a and D_opt = k_D C^b
    are fitted as straight lines on log-log axes (ordinary least squares in ln C).

    Attributes:
        budgets: compute of each kept budget (geometric mean of its runs' compute), FLOPs.
        parabolas: (n_budgets, 3) coefficients of loss against ln N, highest power first
            (``np.polyval(parabolas[i], np.log(N))`` draws budget i's profile).
        n_opt: N_opt at each budget, parameters.
        log_n_opt_stderr: standard error of ln N_opt from the parabola's coefficient
            covariance (delta method); NaN for a budget with only 3 runs (exact parabola).
        d_opt: D_opt at each budget, tokens: C / (6 N_opt), or the vertex of a parabola of
            loss in ln D when tokens were given.
        log_d_opt_stderr: standard error of ln D_opt, as for N.
        a, a_interval: exponent of N_opt ∝ C^a and its ``level`` confidence interval
            (Student t; NaN with only 2 budgets).
        b, b_interval: the same for D_opt ∝ C^b.
        n_prefactor, d_prefactor: k_N and k_D.
        dropped: compute of each budget left out -> why (fewer than 3 sizes, or a
            parabola opening downward).
    """

    budgets: np.ndarray
    parabolas: np.ndarray
    n_opt: np.ndarray
    log_n_opt_stderr: np.ndarray
    d_opt: np.ndarray
    log_d_opt_stderr: np.ndarray
    a: float
    a_interval: tuple[float, float]
    b: float
    b_interval: tuple[float, float]
    n_prefactor: float
    d_prefactor: float
    dropped: dict[float, str]

    def predict_n_opt(self, C: ArrayLike) -> np.ndarray:
        """Compute-optimal parameters at C FLOPs: k_N C^a."""
        return (self.n_prefactor * positive_array("C", C) ** self.a)[()]

    def predict_d_opt(self, C: ArrayLike) -> np.ndarray:
        """Compute-optimal tokens at C FLOPs: k_D C^b."""
        return (self.d_prefactor * positive_array("C", C) ** self.b)[()]

    def __repr__(self) -> str:
        return (
            f"IsoFLOPFit(a={self.a:.3g} [{self.a_interval[0]:.3g}, {self.a_interval[1]:.3g}], "
            f"b={self.b:.3g} [{self.b_interval[0]:.3g}, {self.b_interval[1]:.3g}], "
            f"budgets={self.budgets.size}, dropped={len(self.dropped)})"
        )


def _group_budgets(compute: np.ndarray, rtol: float = 0.01) -> list[np.ndarray]:
    """Indices of the runs of each budget: runs within ``rtol`` (relative) of the group's
    smallest compute share a budget. Groups in increasing compute."""
    order = np.argsort(compute)
    groups: list[list[int]] = []
    for i in order:
        if groups and compute[i] <= compute[groups[-1][0]] * (1 + rtol):
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return [np.array(group) for group in groups]


def _parabola_vertex(u: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Fit loss = c2 u^2 + c1 u + c0 by least squares; return (c2, c1, c0), the vertex
    u* = -c1 / (2 c2) and its standard error by the delta method (NaN with 3 points).

    The fit is done in u - mean(u) for conditioning; the coefficients returned are in u.
    """
    centre = u.mean()
    design = np.vander(u - centre, 3)
    coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
    c2, c1, c0 = coef
    dof = u.size - 3
    residual_variance = np.sum((loss - design @ coef) ** 2) / dof if dof > 0 else np.nan
    covariance = residual_variance * np.linalg.inv(design.T @ design)
    gradient = np.array([c1 / (2 * c2**2), -1 / (2 * c2), 0.0])  # d u* / d (c2, c1, c0)
    stderr = float(np.sqrt(gradient @ covariance @ gradient))
    raw = np.array([c2, c1 - 2 * c2 * centre, c2 * centre**2 - c1 * centre + c0])
    return raw, centre - c1 / (2 * c2), stderr


def _loglog_line(
    log_c: np.ndarray, log_y: np.ndarray, level: float
) -> tuple[float, float, tuple[float, float]]:
    """OLS of log_y on log_c: slope, intercept and the slope's Student-t interval."""
    slope, intercept = np.polyfit(log_c, log_y, 1)
    dof = log_c.size - 2
    if dof == 0:
        return float(slope), float(intercept), (np.nan, np.nan)
    residuals = log_y - (slope * log_c + intercept)
    stderr = np.sqrt(np.sum(residuals**2) / dof / np.sum((log_c - log_c.mean()) ** 2))
    half = stats.t.ppf(0.5 + level / 2, dof) * stderr
    return float(slope), float(intercept), (float(slope - half), float(slope + half))


def isoflop_profiles(
    compute: ArrayLike, n_params: ArrayLike, loss: ArrayLike, *, n_tokens: ArrayLike | None = None,
    level: float = 0.9,
) -> IsoFLOPFit:
    """IsoFLOP analysis: N_opt at each compute budget, then N_opt ∝ C^a and D_opt ∝ C^b.

    Runs whose compute agrees within 1% share a budget. For each budget with at least 3
    distinct sizes, loss = c2 (ln N)^2 + c1 ln N + c0 is fitted and N_opt = exp(-c1 / 2c2);
    a budget whose parabola opens downward (c2 <= 0) has no minimum and is dropped with a
    ``RuntimeWarning``. D_opt = C / (6 N_opt), or, when ``n_tokens`` is given (e.g. when
    C is not 6 N D), the vertex of the same parabola fitted in ln D. Finally ln N_opt and
    ln D_opt are regressed on ln C. The vertex may lie outside the sizes a budget sampled:
    that is an extrapolation, so sample each budget around its minimum.

    Args:
        compute: FLOPs of each run (> 0).
        n_params: parameters of each run (> 0); N_opt is counted the same way.
        loss: final loss of each run, e.g. nats/token (> 0).
        n_tokens: training tokens of each run (> 0), optional.
        level: central probability of ``a_interval`` and ``b_interval``.

    Raises:
        ValueError: inputs not positive and finite or of different lengths, or fewer than
            2 budgets with a minimum.
    """
    compute, n_params = positive_finite_array("compute", compute), positive_finite_array("n_params", n_params)
    loss = positive_finite_array("loss", loss)
    tokens = None if n_tokens is None else positive_finite_array("n_tokens", n_tokens)
    arrays = {"compute": compute, "n_params": n_params, "loss": loss}
    if tokens is not None:
        arrays["n_tokens"] = tokens
    same_length(**arrays)
    level = fraction("level", level)
    kept: list[tuple[float, np.ndarray, float, float, float, float]] = []
    dropped: dict[float, str] = {}
    for group in _group_budgets(compute):
        budget = float(np.exp(np.mean(np.log(compute[group]))))
        if np.unique(n_params[group]).size < 3:
            dropped[budget] = "fewer than 3 sizes"
            continue
        parabola, log_n, n_stderr = _parabola_vertex(np.log(n_params[group]), loss[group])
        if tokens is None:
            log_d, d_stderr, d_curvature = np.log(budget / 6) - log_n, n_stderr, 1.0
        else:
            d_parabola, log_d, d_stderr = _parabola_vertex(np.log(tokens[group]), loss[group])
            d_curvature = d_parabola[0]
        if parabola[0] <= 0 or d_curvature <= 0:
            dropped[budget] = "parabola opens downward"
            warnings.warn(
                f"isoflop_profiles: the profile at C = {budget:.3g} FLOPs opens downward "
                "(no minimum); that budget is dropped", RuntimeWarning, stacklevel=2,
            )
            continue
        kept.append((budget, parabola, log_n, n_stderr, log_d, d_stderr))
    if len(kept) < 2:
        raise ValueError(f"compute must hold at least 2 budgets with a minimum, got {len(kept)}")
    budgets, parabolas, log_n, n_stderr, log_d, d_stderr = map(np.array, zip(*kept))
    a, n_intercept, a_interval = _loglog_line(np.log(budgets), log_n, level)
    b, d_intercept, b_interval = _loglog_line(np.log(budgets), log_d, level)
    return IsoFLOPFit(
        budgets=budgets, parabolas=parabolas, n_opt=np.exp(log_n), log_n_opt_stderr=n_stderr,
        d_opt=np.exp(log_d), log_d_opt_stderr=d_stderr, a=a, a_interval=a_interval, b=b,
        b_interval=b_interval, n_prefactor=float(np.exp(n_intercept)),
        d_prefactor=float(np.exp(d_intercept)), dropped=dropped,
    )
