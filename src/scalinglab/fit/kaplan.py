"""Kaplan et al.'s (2020) joint law, L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D.

Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361,
eq. (1.5) and Section 4: the loss of a model of N non-embedding parameters trained (with
early stopping) on D tokens. It has no irreducible constant; ``irreducible=True`` adds
one, L = E + [...]^alpha_D, for corpora with a known entropy floor.

The law is not a log-sum-exp of terms linear in its parameters (the bracket is raised to
alpha_D), so it cannot use the feature form of ``_optimizer.solve``; it uses the same
pieces instead: L-BFGS-B (scipy, analytic gradient) from many starts with the shared
tolerances, then every bootstrap resample refitted at once by ``_optimizer.batched_lbfgs``
from the best and up to two other distinct optima, and the result named by
``_optimizer.Solution``. :func:`solve_objective` is that loop for any objective; the
critical-batch fit uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import nnls

from .._checks import (
    enough_points,
    fraction,
    non_negative_int,
    positive_array,
    positive_finite_array,
    positive_float,
    positive_int,
    same_length,
)
from ._optimizer import Objective, solve_objective
from .result import LawFit

#: Grid starts refined with L-BFGS-B (the best by objective value).
_STARTS = 8
#: The starting grid: alpha_D, alpha_N / alpha_D and, with a constant, E / min(L).
_ALPHA_D_GRID = np.geomspace(0.02, 1.0, 9)
_RATIO_GRID = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
_FLOOR_SHARES = (0.1, 0.5, 0.9)


@dataclass(frozen=True, repr=False)
class KaplanFit(LawFit):
    """A fitted Kaplan law, L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D.

    L is the loss in the units it was given (nats/token), N the parameters (Kaplan et al.
    count them without embeddings; count them as the data did), D the training tokens.
    N_c is in parameters and D_c in tokens; the exponents are pure numbers. E = 0.0 for
    Kaplan's own form (``irreducible=False``). At D -> infinity the law is
    E + (N_c / N)^alpha_N, at N -> infinity E + (D_c / D)^alpha_D.

    Attributes:
        alpha_N, alpha_D, N_c, D_c, E: the fitted parameters.
        irreducible: whether E was fitted.
        loss: the objective at the optimum (summed Huber loss, or half the summed squared
            error, of the log residuals).

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s; ``bootstrap`` and
    ``intervals`` also hold ``overfitting_exponent``.
    """

    PARAMETERS = ("alpha_N", "alpha_D", "N_c", "D_c", "E")

    alpha_N: float
    alpha_D: float
    N_c: float
    D_c: float
    E: float
    irreducible: bool
    loss: float

    @property
    def overfitting_exponent(self) -> float:
        """alpha_N / alpha_D: the data that keeps overfitting at bay grows as D ∝ N^(alpha_N/alpha_D).

        The bracket's two terms are in a fixed ratio along D ∝ N^(alpha_N / alpha_D);
        Kaplan et al. (eq. 4.4) find 0.74, D >~ 5e3 N^0.74.
        """
        return self.alpha_N / self.alpha_D

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (N parameters, D
        tokens, both > 0; broadcast)."""
        N, D = positive_array("N", N), positive_array("D", D)
        bracket = (self.N_c / N) ** self.overfitting_exponent + self.D_c / D
        return (self.E + bracket**self.alpha_D)[()]

    def _details(self) -> dict[str, object]:
        entry = f"{self.overfitting_exponent:.4g}"
        if "overfitting_exponent" in self.intervals:
            low, high = self.intervals["overfitting_exponent"]
            entry += f" [{low:.4g}, {high:.4g}]"
        return {"overfitting_exponent": entry, "irreducible": self.irreducible}


# --- the objective ---------------------------------------------------------------------
#
# theta = (alpha_D, r, p, v[, e]) with r = alpha_N / alpha_D, p = r log N_c, v = log D_c,
# e = log E. With t1 = p - r log N and t2 = v - log D (linear in theta),
#     g = alpha_D LSE(t1, t2)          = log [(N_c/N)^r + D_c/D]^alpha_D
#     log L_pred = g, or LSE(e, g)     (with the constant)


def _predict_log(
    theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, irreducible: bool
) -> tuple[np.ndarray, list[np.ndarray]]:
    """log L predicted for a batch theta (B, P) at n points, and its derivatives (B, n) by
    each parameter."""
    alpha_d, r, p, v = (theta[:, k, None] for k in range(4))
    t1, t2 = p - r * log_n, v - log_d
    bracket = np.logaddexp(t1, t2)
    share = np.exp(t1 - bracket)  # d LSE / d t1; 1 - share = d LSE / d t2
    g = alpha_d * bracket
    if irreducible:
        e = theta[:, 4, None]
        log_pred = np.logaddexp(e, g)
        floor_share = np.exp(e - log_pred)
        dg = 1 - floor_share
    else:
        log_pred, dg = g, 1.0
    derivatives = [
        dg * bracket,  # alpha_D
        -dg * alpha_d * share * log_n,  # r
        dg * alpha_d * share,  # p
        dg * alpha_d * (1 - share),  # v
    ]
    if irreducible:
        derivatives.append(floor_share)  # e
    return log_pred, derivatives


def _objective(
    log_n: np.ndarray, log_d: np.ndarray, log_l: np.ndarray, irreducible: bool, delta: float
) -> Objective:
    """The weighted Huber loss (r^2 / 2 with delta = inf) of the log residuals, and its gradient."""

    def fun(theta: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            log_pred, derivatives = _predict_log(theta, log_n, log_d, irreducible)
            residual = log_pred - log_l
            size = np.abs(residual)
            inner = np.minimum(size, delta)
            f = np.sum(weights * inner * (size - 0.5 * inner), axis=1)
            slope = weights * np.clip(residual, -delta, delta)
            grad = np.stack([np.sum(slope * d, axis=1) for d in derivatives], axis=1)
        return f, grad

    return fun


def _starts(n: np.ndarray, d: np.ndarray, loss: np.ndarray, irreducible: bool) -> np.ndarray:
    """The grid of starts: for each alpha_D, r (and E), the least-squares (N_c^r, D_c).

    With alpha_D, r and E fixed, z = (L - E)^(1/alpha_D) = N_c^r N^-r + D_c D^-1 is linear
    in (N_c^r, D_c): a non-negative least-squares fit of the relative error of z gives them
    (a zero is raised to a small share of z so that its log exists). Rows (alpha_D, r, p, v[, e]).
    """
    floors = [share * loss.min() for share in _FLOOR_SHARES] if irreducible else [0.0]
    starts = []
    for floor in floors:
        log_excess = np.log(loss - floor)
        for alpha_d in _ALPHA_D_GRID:
            log_z = log_excess / alpha_d
            for r in _RATIO_GRID:
                # rows scaled by 1 / z: columns N^-r / z and D^-1 / z, target 1
                columns = np.exp(np.stack([-r * np.log(n), -np.log(d)], axis=1) - log_z[:, None])
                scale = np.linalg.norm(columns, axis=0)
                if not np.all(np.isfinite(scale)) or np.any(scale == 0):
                    continue
                coef = nnls(columns / scale, np.ones(n.size))[0] / scale
                alone = np.median(1 / columns, axis=0)  # the coefficient of a column alone
                coef = np.maximum(coef, 1e-3 * alone)
                start = [alpha_d, r, np.log(coef[0]), np.log(coef[1])]
                starts.append(start + ([np.log(floor)] if irreducible else []))
    if not starts:
        raise ValueError("fit_kaplan: no starting point could be computed from the data (check its range)")
    return np.array(starts)


def _parameters(theta: np.ndarray, irreducible: bool) -> dict[str, np.ndarray]:
    """(alpha_N, alpha_D, N_c, D_c, E, overfitting_exponent) of theta, along the last axis."""
    alpha_d, r, p, v = (theta[..., k] for k in range(4))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        n_c = np.exp(p / r)
    E = np.exp(theta[..., 4]) if irreducible else np.zeros_like(alpha_d)
    return {
        "alpha_N": r * alpha_d, "alpha_D": alpha_d, "N_c": n_c, "D_c": np.exp(v), "E": E,
        "overfitting_exponent": r,
    }


def fit_kaplan(
    n_params: ArrayLike, tokens: ArrayLike, loss: ArrayLike, *, irreducible: bool = False,
    huber_delta: float | None = None, n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
    maxiter: int = 1000,
) -> KaplanFit:
    """Fit Kaplan et al.'s (2020) eq. (1.5), L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D.

    With ``irreducible=True`` the law is L = E + [...]^alpha_D, for a corpus whose entropy
    floor is not zero. Fitted in log space: minimises

        sum_i rho(log L_pred(N_i, D_i) - log L_i)

    with rho(r) = r^2 / 2 (least squares, the default) or the Huber loss of threshold
    ``huber_delta``, over (alpha_D, alpha_N / alpha_D, (alpha_N / alpha_D) log N_c,
    log D_c[, log E]) with L-BFGS-B and the analytic gradient. Starts: a grid of alpha_D
    (0.02 to 1), alpha_N / alpha_D (0.25 to 3) and E (10%, 50%, 90% of the least loss),
    each with the (N_c, D_c) of a non-negative least-squares fit of
    (L - E)^(1/alpha_D) = (N_c / N)^(alpha_N / alpha_D) + D_c / D; the best 8 are refined
    and the best result kept. The data must vary both N and D (Kaplan et al. used a grid
    of sizes by dataset sizes, every run early-stopped).

    Args:
        n_params: parameters N of each run (> 0); Kaplan et al. count them without
            embeddings.
        tokens: training tokens D of each run (> 0).
        loss: loss of each run, e.g. nats/token (> 0; > E with the constant).
        irreducible: fit the constant E too (5 parameters instead of 4).
        huber_delta: Huber threshold on the log residual; None for least squares.
        n_bootstrap: resamples of the runs (with replacement) refitted, all at once with a
            batched L-BFGS, for ``intervals`` (which include ``overfitting_exponent``); 0 for
            none. Resamples whose fit fails are left out, counted in
            ``n_bootstrap_dropped`` and reported by a ``RuntimeWarning``.
        seed: seed of the resampling.
        level: central probability of ``intervals``.
        maxiter: L-BFGS iterations at most, per start and per resample.

    Raises:
        ValueError: an array not positive and finite, arrays of different lengths, fewer
            points than parameters, N or D taking a single value; a bad option.
    """
    n = positive_finite_array("n_params", n_params)
    d = positive_finite_array("tokens", tokens)
    L = positive_finite_array("loss", loss)
    same_length(n_params=n, tokens=d, loss=L)
    if not isinstance(irreducible, bool):
        raise ValueError(f"irreducible must be True or False, got {irreducible!r}")
    n_fitted = 5 if irreducible else 4
    enough_points(n.size, n_fitted)
    for name, values in (("n_params", n), ("tokens", d)):
        if np.unique(values).size < 2:
            raise ValueError(f"{name} must take at least 2 distinct values (the law needs both N and D to vary)")
    delta = np.inf if huber_delta is None else positive_float("huber_delta", huber_delta)
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level, maxiter = fraction("level", level), positive_int("maxiter", maxiter)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(L)
    fun = _objective(log_n, log_d, log_l, irreducible, delta)
    grid = _starts(n, d, L, irreducible)
    grid_f, _ = fun(grid, np.ones((1, n.size)))
    best = grid[np.argsort(np.where(np.isfinite(grid_f), grid_f, np.inf))[:_STARTS]]
    solution = solve_objective(
        "fit_kaplan", best, fun, n.size, n_bootstrap=n_bootstrap, seed=seed, maxiter=maxiter
    )
    fields = solution.fields(lambda theta: _parameters(theta, irreducible), KaplanFit.PARAMETERS, level)
    return KaplanFit(**fields, irreducible=irreducible, loss=solution.loss, n_points=n.size)
