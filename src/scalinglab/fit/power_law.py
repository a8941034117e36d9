"""A power law plus a constant, y = E + (x0 / x)^alpha, fitted in log space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._checks import (
    enough_points,
    fraction,
    non_negative_int,
    positive_array,
    positive_finite_array,
    positive_int,
    same_length,
)
from ._optimizer import FTOL, solve
from .result import LawFit


@dataclass(frozen=True, repr=False)
class PowerLawFit(LawFit):
    """A fitted power law plus constant, y = E + (x0 / x)^alpha.

    ``y`` is in the units it was given in (e.g. loss in nats/token), ``x0`` in the units of
    ``x`` (parameters, tokens or FLOPs): the law says the reducible part of y is 1 at
    x = x0. ``E`` is the irreducible part (0.0 for a pure power law).

    Attributes:
        E, x0, alpha: the fitted parameters.

    The common fields (``converged``, ``intervals``, ``bootstrap``, ...) are
    :class:`~scalinglab.fit.result.LawFit`'s.
    """

    PARAMETERS = ("E", "x0", "alpha")

    E: float
    x0: float
    alpha: float

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


def _features(log_x: np.ndarray, irreducible: bool) -> np.ndarray:
    """Features of log y = LSE(e, c - alpha log x), theta = (e, c, alpha); or c - alpha log x."""
    ones, zeros = np.ones_like(log_x), np.zeros_like(log_x)
    power = np.stack([ones, -log_x], axis=-1)
    if not irreducible:
        return power[None]
    constant = np.stack([ones, zeros, zeros], axis=-1)
    return np.stack([constant, np.concatenate([zeros[:, None], power], axis=-1)])


def _starts(log_x: np.ndarray, y: np.ndarray, irreducible: bool) -> np.ndarray:
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


def _parameters(theta: np.ndarray, irreducible: bool) -> dict[str, np.ndarray]:
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
            and ``band``; 0 for none. Resamples whose fit fails are left out, counted in
            ``n_bootstrap_dropped`` and reported by a ``RuntimeWarning``.
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
    features = _features(log_x, irreducible)
    enough_points(x.size, features.shape[-1])
    solution = solve(
        "fit_power_law", _starts(log_x, y, irreducible), features, log_y, delta=np.inf, reduction="sum",
        n_bootstrap=n_bootstrap, seed=seed, maxiter=maxiter, ftol=FTOL,
    )
    fields = solution.fields(lambda theta: _parameters(theta, irreducible), PowerLawFit.PARAMETERS, level)
    return PowerLawFit(**fields, n_points=x.size)
