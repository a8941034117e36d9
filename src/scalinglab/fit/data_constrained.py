"""Loss against epochs at a fixed budget, L(k) = E + (D0 / D'(k))^beta (Muennighoff et al., 2023).

``D'(k)`` is the fresh-token worth of ``k`` epochs over ``tokens / k`` unique tokens,
:func:`scalinglab.limits.effective_data`. The fit keeps scipy's least_squares (trust-region
reflective, with bounds on R*): R* enters through the closed form of ``D'``, not as a
log-sum-exp of linear terms, so the shared optimiser of the other laws does not apply.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import least_squares

from .._checks import enough_points, positive_array, positive_float, same_length
from ..limits import _at_least_one, effective_data
from .result import LawFit

#: Bounds on R* in the fit (Muennighoff et al. fit 15.4).
_R_STAR_BOUNDS = (0.1, 1e3)
#: least_squares' tolerances on the cost, the step and the gradient: far below scipy's
#: defaults (1e-8), which stop these small, ill-conditioned fits early.
_TOL = 1e-14
#: Residual evaluations at most, per start.
_MAX_NFEV = 2000


@dataclass(frozen=True, repr=False)
class DataConstrainedFit(LawFit):
    """A fitted loss against epochs at a fixed budget, ``L(k) = E + (D0 / D'(k))^beta``.

    ``D'(k) = effective_data(tokens / k, k, r_star=r_star)``: ``k`` epochs over
    ``tokens / k`` unique tokens. ``E`` is in the units of the losses (nats/token), ``D0``
    in tokens, ``beta`` and ``r_star`` are pure numbers.

    Attributes:
        E, D0, beta, r_star: the fitted parameters.
        tokens: the fixed training budget the fit holds for.
        loss: half the sum of squared log residuals at the optimum.

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s: ``converged`` says
    whether scipy's least_squares met a stopping rule; no intervals, no bootstrap.
    """

    PARAMETERS = ("E", "D0", "beta", "r_star")

    E: float
    D0: float
    beta: float
    r_star: float
    tokens: float
    loss: float

    def predict(self, epochs: ArrayLike) -> float | np.ndarray:
        """Loss after ``epochs`` (>= 1) epochs over ``tokens / epochs`` unique tokens."""
        epochs = _at_least_one("epochs", epochs)
        return self.E + (self.D0 / effective_data(self.tokens / epochs, epochs, r_star=self.r_star)) ** self.beta

    def _details(self) -> dict[str, object]:
        return {"tokens": f"{self.tokens:.4g}"}


def _starts(epochs: np.ndarray, losses: np.ndarray, tokens: float) -> list[np.ndarray]:
    """30 starts (log E, log D0, beta, log R*): R* in {1, 5, 20, 100, 500}, beta in {0.1, 0.3, 1},
    E at 0.5 and 0.9 of the smallest loss, and D0 putting the curve through the point of fewest epochs."""
    first = int(np.argmin(epochs))
    starts = []
    for r_star in (1.0, 5.0, 20.0, 100.0, 500.0):
        log_d_first = math.log(float(effective_data(tokens / epochs[first], epochs[first], r_star=r_star)))
        for beta in (0.1, 0.3, 1.0):
            for share in (0.5, 0.9):
                e = share * losses.min()
                log_d0 = log_d_first + math.log(losses[first] - e) / beta
                starts.append(np.array([math.log(e), log_d0, beta, math.log(r_star)]))
    return starts


def _log_loss(theta: np.ndarray, tokens: float, epochs: np.ndarray) -> np.ndarray:
    """log L(k) for theta = (log E, log D0, beta, log R*): log(E + exp(beta (log D0 - log D')))."""
    log_e, log_d0, beta, log_r_star = theta
    log_d = np.log(effective_data(tokens / epochs, epochs, r_star=math.exp(log_r_star)))
    return np.logaddexp(log_e, beta * (log_d0 - log_d))


def fit_data_constrained(epochs: ArrayLike, losses: ArrayLike, *, tokens: float) -> DataConstrainedFit:
    """Fit ``L(k) = E + (D0 / D'(k))^beta`` to losses of one model trained on ``tokens`` tokens for ``k`` epochs.

    ``D'(k) = effective_data(tokens / k, k, r_star=R*)``, with ``E``, ``D0``, ``beta``
    and ``R*`` free. Minimises the squared log residuals ``log L_fit(k) - log L(k)`` with
    scipy's least_squares (trust-region reflective) over ``(log E, log D0, beta, log R*)``,
    with ``E`` below the smallest loss, ``beta`` in (0, 5] and ``R*`` in [0.1, 1000], from
    a grid of 30 starts (R* in {1, 5, 20, 100, 500}, beta in {0.1, 0.3, 1}, E at 0.5 and
    0.9 of the smallest loss, D0 through the first point); the best result is kept.

    Four parameters need at least four points. ``R*`` is only pinned down when the
    largest ``k`` reaches a sizeable fraction of it: the curve bends at ``k - 1 ~ R*``.

    Raises:
        ValueError: epochs below 1, losses not positive, different lengths, fewer than 4
            points, or ``tokens`` not positive.
    """
    epochs = np.atleast_1d(_at_least_one("epochs", epochs)).astype(float)
    losses = positive_array("losses", losses).reshape(-1)
    tokens = positive_float("tokens", tokens)
    same_length(epochs=epochs, losses=losses)
    enough_points(epochs.size, 4)
    log_losses = np.log(losses)
    log_e_max = math.log(losses.min())
    lower = np.array([-np.inf, -np.inf, 1e-6, math.log(_R_STAR_BOUNDS[0])])
    upper = np.array([log_e_max, np.inf, 5.0, math.log(_R_STAR_BOUNDS[1])])

    def residuals(theta: np.ndarray) -> np.ndarray:
        return _log_loss(theta, tokens, epochs) - log_losses

    results = [
        least_squares(
            residuals, start, bounds=(lower, upper), method="trf",
            x_scale="jac", xtol=_TOL, ftol=_TOL, gtol=_TOL, max_nfev=_MAX_NFEV,
        )
        for start in _starts(epochs, losses, tokens)
    ]
    best = min(results, key=lambda result: result.cost)
    converged = bool(best.success)
    if not converged:
        warnings.warn(
            f"fit_data_constrained did not converge in {_MAX_NFEV} evaluations: the parameters "
            "are the last iterate, not an optimum (check the data)",
            RuntimeWarning, stacklevel=2,
        )
    log_e, log_d0, beta, log_r_star = best.x
    return DataConstrainedFit(
        E=math.exp(log_e), D0=math.exp(log_d0), beta=float(beta), r_star=math.exp(log_r_star),
        tokens=tokens, converged=converged, loss=float(best.cost), n_points=epochs.size,
    )
