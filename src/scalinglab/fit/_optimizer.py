"""The optimiser the laws of :mod:`scalinglab.fit` share, and their bootstrap.

Laws of the form  log y = LSE(terms), every term linear in the parameters. The power law
and the Chinchilla law are sums of a constant and power laws, so their logarithm is a
log-sum-exp of terms that are linear in the (log-)parameters:

    log(E + (x0/x)^alpha)         = LSE(e, c - alpha log x)                with c = alpha log x0
    log(E + A/N^alpha + B/D^beta) = LSE(a - alpha log N, b - beta log D, e)

A law is then a ``features`` array F of shape (K terms, n points, P parameters) with
term k of point i equal to F[k, i] @ theta. One vectorised objective (the Huber loss of
the log residuals; squared error with delta = inf) serves every such law: a batch of
parameter vectors (B, P) against per-point weights (B, n), which is how a bootstrap
resample (points drawn with replacement = integer counts) is written.

:func:`solve` is what a law calls: L-BFGS-B (scipy) from each of many starts, the best
kept; then, for intervals, every bootstrap resample refitted at once by a batched
L-BFGS, and the resample fits that failed counted and left out. :func:`percentiles`
turns the kept resamples into intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

#: L-BFGS-B's stopping rules: the objective fell by ``(f_k - f_k+1) / max(|f_k|, |f_k+1|, 1)
#: <= ftol`` in an iteration, or the largest gradient entry is <= gtol. scipy's defaults
#: (ftol ~2.2e-9, gtol 1e-5) stop fits of these small objectives (Huber or squared log
#: residuals, far below 1) early, anchored to the start: a bootstrap started from the
#: full-data optimum then barely moves and its intervals come out too narrow.
FTOL = 1e-14
GTOL = 1e-12
#: Resamples optimised together in one batch (bounds the memory of the bootstrap).
BOOTSTRAP_CHUNK = 1000


def objective(
    theta: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray, delta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Huber loss of the log residuals, and its gradient, for a batch of parameters.

    f(theta) = sum_i w_i Huber_delta(LSE_k(F[k, i] @ theta) - log y_i); with delta = inf the
    Huber loss is r^2 / 2 (least squares).

    Args:
        theta: parameters, shape (B, P).
        features: shape (K, n, P), see the module docstring.
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


def minimise(
    theta0: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
    delta: float, maxiter: int, ftol: float,
) -> tuple[np.ndarray, float, bool]:
    """One L-BFGS-B run (scipy, analytic gradient) from ``theta0``: (theta, f, converged)."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        f, grad = objective(theta[None], features, log_y, weights[None], delta)
        return float(f[0]), grad[0]

    result = minimize(
        fun, theta0, jac=True, method="L-BFGS-B",
        options={"maxiter": maxiter, "ftol": ftol, "gtol": GTOL},
    )
    return result.x, float(result.fun), bool(result.success)


def multistart(
    starts: np.ndarray, features: np.ndarray, log_y: np.ndarray, weights: np.ndarray,
    delta: float, maxiter: int, ftol: float,
) -> list[tuple[np.ndarray, float, bool]]:
    """L-BFGS-B from every start; the (theta, f, converged) results, best (least f) first."""
    results = [minimise(s, features, log_y, weights, delta, maxiter, ftol) for s in starts]
    return sorted(results, key=lambda result: result[1])


def distinct(results: list[tuple[np.ndarray, float, bool]], count: int) -> np.ndarray:
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


def batched_lbfgs(
    fun: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    theta0: np.ndarray, maxiter: int, ftol: float, memory: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise B independent problems at once with L-BFGS and a backtracking line search.

    Each problem keeps its own history, step and stopping test (L-BFGS-B's: ``ftol`` on
    the relative decrease of f, ``GTOL`` on the largest gradient entry); a problem that
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
    converged = np.max(np.abs(grad), axis=1) <= GTOL
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
        done = found & ((decrease <= ftol) | (np.max(np.abs(new_grad), axis=1) <= GTOL))
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


def resample_fits(
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
    chunks = np.array_split(weights, -(-n_bootstrap // BOOTSTRAP_CHUNK))
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
        return objective(theta, features, log_y, problem_weights[problems], delta)

    theta, f, converged = batched_lbfgs(fun, np.tile(starts, (n_rows, 1)), maxiter, ftol)
    best = np.arange(n_rows) * n_starts + f.reshape(n_rows, n_starts).argmin(axis=1)
    return theta[best], converged[best]


def percentiles(samples: dict[str, np.ndarray], level: float) -> dict[str, tuple[float, float]]:
    """Percentile interval (central, ``level``) of each named bootstrap sample; (NaN, NaN)
    for an empty sample."""
    tails = [50 * (1 - level), 50 * (1 + level)]
    return {
        name: tuple(np.percentile(values, tails).tolist()) if values.size else (np.nan, np.nan)
        for name, values in samples.items()
    }


def point_weights(n_points: int, reduction: str) -> np.ndarray:
    """Per-point weights of the objective: 1 each for ``"sum"``, 1 / n for ``"mean"``."""
    return np.full(n_points, 1 / n_points if reduction == "mean" else 1.0)


@dataclass(frozen=True)
class Solution:
    """What :func:`solve` found, before a law names the parameters.

    Attributes:
        theta: the best parameters over the starts, shape (P,).
        loss: the objective at ``theta``.
        converged: whether L-BFGS-B met its stopping rule at ``theta``.
        resampled: the best parameters of each bootstrap resample kept, shape (kept, P);
            None without a bootstrap.
        n_dropped: bootstrap resamples whose fit did not converge or that held fewer than
            P distinct points: left out of ``resampled``.
    """

    theta: np.ndarray
    loss: float
    converged: bool
    resampled: np.ndarray | None
    n_dropped: int

    def fields(
        self, parameters: Callable[[np.ndarray], dict[str, np.ndarray]], names: tuple[str, ...], level: float
    ) -> dict[str, object]:
        """Keyword arguments of a :class:`~scalinglab.fit.result.LawFit`: the parameters
        ``names`` of ``parameters(theta)`` as floats, ``converged``, and the bootstrap
        (every entry of ``parameters`` on the kept resamples) with its ``level`` intervals."""
        best = parameters(self.theta)
        fields: dict[str, object] = {name: float(best[name]) for name in names}
        fields["converged"] = self.converged
        if self.resampled is not None:
            samples = parameters(self.resampled)
            fields.update(
                bootstrap=samples, intervals=percentiles(samples, level), level=level,
                n_bootstrap_dropped=self.n_dropped,
            )
        return fields


def _warn_unless_converged(what: str, converged: bool) -> None:
    """The ``RuntimeWarning`` of a best fit that did not converge, pointing at the caller
    of the public function ``what`` (two frames above ``solve`` or ``solve_objective``)."""
    if not converged:
        warnings.warn(
            f"{what} did not converge: the parameters are the last iterate, not an optimum "
            "(raise maxiter, or check the data)",
            RuntimeWarning, stacklevel=4,
        )


def _with_resamples(
    theta: np.ndarray, loss: float, converged: bool, thetas: np.ndarray, usable: np.ndarray
) -> Solution:
    """The ``Solution`` keeping the resamples ``thetas[usable]``; the ``RuntimeWarning``
    counts those left out (it points where ``_warn_unless_converged``'s does)."""
    n_dropped = int(np.count_nonzero(~usable))
    if n_dropped:
        warnings.warn(
            f"{n_dropped} of {usable.size} bootstrap fits did not converge "
            "(or had too few distinct points) and were left out of the intervals",
            RuntimeWarning, stacklevel=4,
        )
    return Solution(theta, loss, converged, thetas[usable], n_dropped)


def solve(
    what: str, starts: np.ndarray, features: np.ndarray, log_y: np.ndarray, *, delta: float,
    reduction: str, n_bootstrap: int, seed: int, maxiter: int, ftol: float,
) -> Solution:
    """Fit a law from every start, keep the best, and refit it to ``n_bootstrap`` resamples.

    Minimises the summed (or mean, ``reduction``) Huber loss of the log residuals with
    L-BFGS-B from each row of ``starts``. The resamples start from the best result and up
    to two other distinct local optima. ``what`` (the public function's name) is quoted
    in the ``RuntimeWarning`` raised when the best fit did not converge, or when bootstrap
    fits were left out; the warnings point at the caller of that public function.
    """
    results = multistart(starts, features, log_y, point_weights(log_y.size, reduction), delta, maxiter, ftol)
    theta, loss, converged = results[0]
    _warn_unless_converged(what, converged)
    if n_bootstrap == 0:
        return Solution(theta, loss, converged, None, 0)
    thetas, usable = resample_fits(
        distinct(results, 3), features, log_y, delta, reduction, n_bootstrap, seed, maxiter, ftol
    )
    return _with_resamples(theta, loss, converged, thetas, usable)


Objective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``fun(theta (B, P), weights (B, n))`` -> (f (B,), gradient (B, P)): B problems at once."""


SAME_OPTIMUM_RTOL = 1e-9
"""Two starts whose objectives agree to this relative tolerance have found the same optimum."""


def solve_objective(
    what: str, starts: np.ndarray, fun: Objective, n_points: int, *, n_bootstrap: int, seed: int,
    maxiter: int, ftol: float = FTOL,
) -> Solution:
    """Minimise ``fun`` from every start, keep the best, refit ``n_bootstrap`` resamples.

    ``solve`` for an objective not in its feature form: L-BFGS-B (scipy, the
    shared ``ftol`` and ``GTOL``) from each row of ``starts`` with weight 1 on each point;
    then resamples of the points drawn with replacement (integer weights), refitted all at
    once by ``batched_lbfgs`` from the best and up to two other distinct optima.
    Resamples whose fit did not converge or that hold fewer distinct points than there are
    parameters are dropped and counted. ``what`` is quoted in the ``RuntimeWarning`` raised
    when the best fit did not converge or resamples were dropped; the warnings point at the
    caller of the public function that called this one.

    Args:
        what: the public function's name.
        starts: starting points, shape (S, P).
        fun: ``fun(theta (B, P), weights (B, n))`` -> (f (B,), gradient (B, P)).
        n_points: n, the points the objective sums over.
    """
    ones = np.ones((1, n_points))

    def one(theta: np.ndarray) -> tuple[float, np.ndarray]:
        f, grad = fun(theta[None], ones)
        return float(f[0]), grad[0]

    results = []
    for start in starts:
        result = minimize(
            one, start, jac=True, method="L-BFGS-B", options={"maxiter": maxiter, "ftol": ftol, "gtol": GTOL}
        )
        if np.isfinite(result.fun):
            results.append((result.x, float(result.fun), bool(result.success)))
    if not results:
        raise ValueError(f"{what}: the objective is not finite at any start (check the data)")
    results.sort(key=lambda result: result[1])
    theta, loss, converged = results[0]
    # A start whose line search stops at the optimum (scipy reports "ABNORMAL") is converged
    # when another start met the stopping rule at the same objective, to SAME_OPTIMUM_RTOL.
    converged = converged or any(
        done and abs(f - loss) <= SAME_OPTIMUM_RTOL * max(abs(loss), np.finfo(float).tiny) for _, f, done in results
    )
    _warn_unless_converged(what, converged)
    if n_bootstrap == 0:
        return Solution(theta, loss, converged, None, 0)
    refit_starts = distinct(results, 3)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_points, np.full(n_points, 1 / n_points), size=n_bootstrap)
    thetas, kept = [], []
    for chunk in np.array_split(counts.astype(float), -(-n_bootstrap // BOOTSTRAP_CHUNK)):
        n_rows, n_starts = len(chunk), len(refit_starts)
        problem_weights = np.repeat(chunk, n_starts, axis=0)  # problem = row * n_starts + start

        def batch(theta: np.ndarray, problems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return fun(theta, problem_weights[problems])

        fitted, f, fit_converged = batched_lbfgs(batch, np.tile(refit_starts, (n_rows, 1)), maxiter, ftol)
        f = np.where(np.isfinite(f), f, np.inf)
        best = np.arange(n_rows) * n_starts + f.reshape(n_rows, n_starts).argmin(axis=1)
        thetas.append(fitted[best])
        kept.append(fit_converged[best] & np.isfinite(f[best]))
    usable = np.concatenate(kept) & (np.count_nonzero(counts, axis=1) >= starts.shape[1])
    return _with_resamples(theta, loss, converged, np.concatenate(thetas), usable)
