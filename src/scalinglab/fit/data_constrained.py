"""Loss against epochs and budget, L = E + (D0 / D')^beta (Muennighoff et al., 2023).

``D'`` is the fresh-token worth of a run of ``D`` tokens that made ``k`` epochs over
``D / k`` unique tokens, :func:`scalinglab.limits.effective_data`; a run on fresh data has
``k = 1`` and ``D' = D``. The fit keeps scipy's least_squares (trust-region reflective, with
bounds on R*): R* enters through the closed form of ``D'``, not as a log-sum-exp of linear
terms, so the shared optimiser of the other laws does not apply.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

from .._checks import enough_points, fraction, non_negative_int, positive_array, same_length
from ..limits import _at_least_one, effective_data
from ._optimizer import percentiles
from .result import LawFit

#: Bounds on R* in the fit (Muennighoff et al. fit 15.4).
_R_STAR_BOUNDS = (0.1, 1e3)
#: least_squares' tolerances on the cost, the step and the gradient: far below scipy's
#: defaults (1e-8), which stop these small, ill-conditioned fits early.
_TOL = 1e-14
#: Residual evaluations at most, per start.
_MAX_NFEV = 2000
#: Starts of each bootstrap refit: the full-data optimum and the best of the other starts
#: that ended at a different optimum.
_BOOTSTRAP_STARTS = 3


@dataclass(frozen=True, repr=False)
class DataConstrainedFit(LawFit):
    """A fitted loss against epochs and budget, ``L = E + (D0 / D')^beta``.

    ``D' = effective_data(D / k, k, r_star=r_star)``: a run of ``D`` tokens making ``k``
    epochs over ``D / k`` unique tokens. ``E`` is in the units of the losses (nats/token),
    ``D0`` in tokens, ``beta`` and ``r_star`` are pure numbers.

    Attributes:
        E, D0, beta, r_star: the fitted parameters.
        tokens: the largest training budget fitted, ``predict``'s default budget (for a
            fit at one fixed budget, that budget).
        loss: half the sum of squared log residuals at the optimum.

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s: ``converged`` says
    whether scipy's least_squares met a stopping rule; ``intervals`` are bootstrap
    percentiles over resamples of the runs when ``n_bootstrap`` was asked for.
    """

    PARAMETERS = ("E", "D0", "beta", "r_star")

    E: float
    D0: float
    beta: float
    r_star: float
    tokens: float
    loss: float

    def predict(self, epochs: ArrayLike, tokens: ArrayLike | None = None) -> float | np.ndarray:
        """Loss after ``tokens`` training tokens (default ``self.tokens``) making ``epochs``
        (>= 1) epochs over ``tokens / epochs`` unique tokens."""
        epochs = _at_least_one("epochs", epochs)
        budget = self.tokens if tokens is None else positive_array("tokens", tokens)
        return self.E + (self.D0 / effective_data(budget / epochs, epochs, r_star=self.r_star)) ** self.beta

    def _details(self) -> dict[str, object]:
        return {"tokens": f"{self.tokens:.4g}"}


def _starts(epochs: np.ndarray, losses: np.ndarray, tokens: np.ndarray) -> list[np.ndarray]:
    """30 starts (log E, log D0, beta, log R*): R* in {1, 5, 20, 100, 500}, beta in {0.1, 0.3, 1},
    E at 0.5 and 0.9 of the smallest loss, and D0 putting the curve through the run of
    least worth (fewest fresh-token equivalents at that R*)."""
    starts = []
    for r_star in (1.0, 5.0, 20.0, 100.0, 500.0):
        worth = effective_data(tokens / epochs, epochs, r_star=r_star)
        first = int(np.argmin(worth))
        for beta in (0.1, 0.3, 1.0):
            for share in (0.5, 0.9):
                e = share * losses.min()
                log_d0 = math.log(float(worth[first])) + math.log(losses[first] - e) / beta
                starts.append(np.array([math.log(e), log_d0, beta, math.log(r_star)]))
    return starts


def _log_loss(theta: np.ndarray, tokens: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """log L for theta = (log E, log D0, beta, log R*): log(E + exp(beta (log D0 - log D')))."""
    log_e, log_d0, beta, log_r_star = theta
    log_d = np.log(effective_data(tokens / epochs, epochs, r_star=math.exp(log_r_star)))
    return np.logaddexp(log_e, beta * (log_d0 - log_d))


def _solve(
    starts: list[np.ndarray], tokens: np.ndarray, epochs: np.ndarray, log_losses: np.ndarray,
    weights: np.ndarray, bounds: tuple[np.ndarray, np.ndarray],
) -> list:
    """least_squares from each start, on the residuals scaled by sqrt(weights) (a run's count)."""
    scale = np.sqrt(weights)

    def residuals(theta: np.ndarray) -> np.ndarray:
        return scale * (_log_loss(theta, tokens, epochs) - log_losses)

    return [
        least_squares(
            residuals, start, bounds=bounds, method="trf",
            x_scale="jac", xtol=_TOL, ftol=_TOL, gtol=_TOL, max_nfev=_MAX_NFEV,
        )
        for start in starts
    ]


def _parameters(theta: np.ndarray) -> dict[str, float]:
    log_e, log_d0, beta, log_r_star = theta
    return {"E": math.exp(log_e), "D0": math.exp(log_d0), "beta": float(beta), "r_star": math.exp(log_r_star)}


def fit_data_constrained(
    epochs: ArrayLike, losses: ArrayLike, *, tokens: ArrayLike,
    n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
) -> DataConstrainedFit:
    """Fit ``L = E + (D0 / D')^beta`` to the losses of one model's runs of ``tokens`` tokens and ``epochs`` epochs.

    ``D' = effective_data(tokens / k, k, r_star=R*)``, with ``E``, ``D0``, ``beta`` and
    ``R*`` free. ``tokens`` is one budget for every run (a fixed-budget experiment) or one
    per run: runs on fresh data (``k = 1``) at several budgets pin ``E``, ``D0`` and
    ``beta``, so that the repeated runs pin ``R*``. Minimises the squared log residuals
    ``log L_fit - log L`` with scipy's least_squares (trust-region reflective) over
    ``(log E, log D0, beta, log R*)``, with ``E`` below the smallest loss, ``beta`` in
    (0, 5] and ``R*`` in [0.1, 1000], from a grid of 30 starts (R* in {1, 5, 20, 100, 500},
    beta in {0.1, 0.3, 1}, E at 0.5 and 0.9 of the smallest loss, D0 through the run of
    least worth); the best result is kept.

    Four parameters need at least four points. ``R*`` is only pinned down when the
    largest ``k`` reaches a sizeable fraction of it: the curve bends at ``k - 1 ~ R*``.

    Args:
        epochs: epochs of each run (>= 1; 1 for fresh data).
        losses: loss of each run (> 0), e.g. nats/token.
        tokens: training tokens of each run (> 0), or one budget for all.
        n_bootstrap: resamples of the runs (with replacement) refitted for ``intervals``,
            each from the full-data optimum and the two best other optima; 0 for none.
            Resamples with fewer than 4 distinct runs, or whose fit fails, are left out and
            counted in ``n_bootstrap_dropped``.
        seed: seed of the resampling.
        level: central probability of ``intervals``.

    Raises:
        ValueError: epochs below 1, losses or tokens not positive, different lengths,
            fewer than 4 points; a bad option.
    """
    epochs = np.atleast_1d(_at_least_one("epochs", epochs)).astype(float)
    losses = positive_array("losses", losses).reshape(-1)
    budgets = positive_array("tokens", tokens).reshape(-1)
    if budgets.size == 1:
        budgets = np.full(epochs.shape, budgets[0])
    same_length(epochs=epochs, losses=losses, tokens=budgets)
    enough_points(epochs.size, 4)
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level = fraction("level", level)
    log_losses = np.log(losses)
    lower = np.array([-np.inf, -np.inf, 1e-6, math.log(_R_STAR_BOUNDS[0])])
    upper = np.array([math.log(losses.min()), np.inf, 5.0, math.log(_R_STAR_BOUNDS[1])])
    ones = np.ones(epochs.size)
    results = sorted(_solve(_starts(epochs, losses, budgets), budgets, epochs, log_losses, ones, (lower, upper)),
                     key=lambda result: result.cost)
    best = results[0]
    converged = bool(best.success)
    if not converged:
        warnings.warn(
            f"fit_data_constrained did not converge in {_MAX_NFEV} evaluations: the parameters "
            "are the last iterate, not an optimum (check the data)",
            RuntimeWarning, stacklevel=2,
        )
    bootstrap, dropped = _bootstrap(results, budgets, epochs, log_losses, (lower, upper), n_bootstrap, seed)
    return DataConstrainedFit(
        **_parameters(best.x), tokens=float(budgets.max()), converged=converged, loss=float(best.cost),
        n_points=epochs.size, bootstrap=bootstrap, n_bootstrap_dropped=dropped,
        intervals=percentiles(bootstrap, level) if n_bootstrap else {}, level=level if n_bootstrap else None,
    )


def _bootstrap(
    results: list, tokens: np.ndarray, epochs: np.ndarray, log_losses: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray], n_bootstrap: int, seed: int,
) -> tuple[dict[str, np.ndarray], int]:
    """The parameters refitted on ``n_bootstrap`` resamples of the runs, and how many were dropped.

    ``results`` are the full-data fits, best first; the resamples start from the best and
    from the next distinct optima (parameters differing by more than 1e-6), up to
    ``_BOOTSTRAP_STARTS`` in all."""
    if not n_bootstrap:
        return {}, 0
    starts = [results[0].x]
    for result in results[1:]:
        if len(starts) < _BOOTSTRAP_STARTS and all(np.abs(result.x - start).max() > 1e-6 for start in starts):
            starts.append(result.x)
    # A start on a bound would be infeasible for least_squares: move it just inside.
    starts = [np.clip(start, bounds[0] + 1e-9, bounds[1] - 1e-9) for start in starts]
    rng = np.random.default_rng(seed)
    n_points = epochs.size
    counts = rng.multinomial(n_points, np.full(n_points, 1 / n_points), size=n_bootstrap)
    kept, dropped = [], 0
    for count in counts:
        used = count > 0
        if used.sum() < 4:
            dropped += 1
            continue
        fits = _solve(starts, tokens[used], epochs[used], log_losses[used], count[used].astype(float), bounds)
        refit = min(fits, key=lambda result: result.cost)
        if not refit.success:
            dropped += 1
            continue
        kept.append(refit.x)
    if dropped:
        warnings.warn(f"fit_data_constrained: {dropped} of {n_bootstrap} bootstrap resamples left out "
                      "(fewer than 4 distinct runs, or the refit failed)", RuntimeWarning, stacklevel=3)
    samples = np.array(kept).reshape(-1, 4)
    names = DataConstrainedFit.PARAMETERS
    values = [_parameters(theta) for theta in samples]
    return {name: np.array([v[name] for v in values], dtype=float) for name in names}, dropped
