"""The Chinchilla law, L(N, D) = E + A / N^alpha + B / D^beta, and the allocation it implies.

The published constants are in :data:`PUBLISHED_CHINCHILLA_FITS`; a law written down from
them (``ChinchillaFit.from_parameters``) gives the compute-optimal allocation of a budget
with ``compute_optimal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._checks import (
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
from ._optimizer import FTOL, objective, percentiles, point_weights, solve
from .result import LawFit

#: Grid starts refined with L-BFGS-B (the best of the paper's 4,500 by objective value).
_STARTS = 16
#: Bootstrap laws evaluated at once by ``allocation_exponent`` (each a budgets x sizes array).
_LAWS_AT_ONCE = 64

#: Published fits of L(N, D) = E + A / N^alpha + B / D^beta: name -> parameters (L in
#: nats/token, N parameters with embeddings, D tokens; MassiveText). Quoted, not fitted here.
#:
#: * Hoffmann et al. (2022), eq. (10), their approach 3.
#: * Besiroglu et al. (2024), "Chinchilla Scaling: A replication attempt", arXiv:2404.10102:
#:   the same procedure refitted to data read off Hoffmann et al.'s Figure 4. Approach 3's
#:   published fit stopped before converging (a loss too small for the optimiser's
#:   tolerance) and was rounded; the refit agrees with approaches 1 and 2, about 20 tokens
#:   per parameter at Chinchilla's budget.
PUBLISHED_CHINCHILLA_FITS: dict[str, dict[str, float]] = {
    "Hoffmann et al. 2022, approach 3": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
    "Besiroglu et al. 2024 refit": {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
}


@dataclass(frozen=True, repr=False)
class ChinchillaFit(LawFit):
    """A fitted Chinchilla law, L(N, D) = E + A / N^alpha + B / D^beta.

    L is the loss in the units it was given (nats/token), N the parameters (count them as
    the data did: with or without embeddings), D the training tokens.

    Attributes:
        E, A, B, alpha, beta: the fitted parameters.
        loss: the objective at the optimum (summed or mean Huber loss of log residuals).

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s; ``bootstrap`` and
    ``intervals`` also hold the allocation exponents ``a`` and ``b``.
    """

    PARAMETERS = ("E", "A", "B", "alpha", "beta")

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    loss: float

    @property
    def a(self) -> float:
        """Exponent of the compute-optimal size, N_opt ∝ C^a, a = beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of the compute-optimal data, D_opt ∝ C^b, b = alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, float]) -> ChinchillaFit:
        """The law with the given ``E``, ``A``, ``B``, ``alpha`` and ``beta`` (each > 0), e.g.
        one of :data:`PUBLISHED_CHINCHILLA_FITS`: a law written down, not fitted here
        (``n_points`` 0, no intervals, ``loss`` NaN).

        Raises:
            ValueError: a parameter missing, unknown or not a finite number > 0.
        """
        names = set(cls.PARAMETERS)
        if set(parameters) != names:
            raise ValueError(
                f"parameters must have exactly the keys {', '.join(cls.PARAMETERS)}, "
                f"got {', '.join(map(str, parameters))}"
            )
        values = {name: positive_float(name, parameters[name]) for name in cls.PARAMETERS}
        return cls(**values, converged=True, loss=float("nan"))

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


def allocation_exponent(
    fit: ChinchillaFit, C: ArrayLike, sizes: ArrayLike, flops_per_token: ArrayLike
) -> tuple[float, tuple[float, float] | None]:
    """The exponent a of N_opt ∝ C^a when a budget of C FLOPs buys C / flops_per_token(N) tokens.

    ``compute_optimal`` assumes 6 N FLOPs per token; a model's real cost per token is
    often more (the output head's 6 d_model n_vocab, the attention's 6 n_layer n_ctx
    d_model), and a share of it that falls with N moves the optimum. At each budget C the
    optimum is the size among ``sizes`` that minimises L(N, C / flops_per_token) on the
    fitted law; a is the least-squares slope of ln N_opt on ln C over the budgets. The
    interval (at ``fit.level``) repeats this on every bootstrap resample of the fit.

    Args:
        fit: a fitted (or published) Chinchilla law; its N must count parameters the way
            ``sizes`` does.
        C: two or more budgets, in FLOPs (> 0).
        sizes: candidate sizes N, a dense grid (> 0, increasing), e.g. of a model family.
        flops_per_token: training FLOPs per token of each of ``sizes`` (> 0).

    Returns:
        (a, (low, high)), or (a, None) for a fit without a bootstrap.

    Raises:
        ValueError: bad inputs, or an optimum at the first or last of ``sizes`` (the grid
            must surround every optimum).
    """
    C = positive_finite_array("C", C)
    enough_points(C.size, 2)
    sizes, cost = positive_finite_array("sizes", sizes), positive_finite_array("flops_per_token", flops_per_token)
    same_length(sizes=sizes, flops_per_token=cost)
    if np.any(np.diff(sizes) <= 0):
        raise ValueError("sizes must be increasing")
    tokens = C[:, None] / cost[None, :]  # (budgets, sizes)

    def slopes(E: np.ndarray, A: np.ndarray, B: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 1)  # (laws, budgets, sizes)
        loss = (E.reshape(shape) + A.reshape(shape) / sizes**alpha.reshape(shape)
                + B.reshape(shape) / tokens**beta.reshape(shape))
        best = np.argmin(loss, axis=2)
        if np.any((best == 0) | (best == sizes.size - 1)):
            raise ValueError("an optimum is at the edge of sizes: widen the grid of sizes")
        log_c, log_n = np.log(C), np.log(sizes[best])
        centred = log_c - log_c.mean()
        return (log_n - log_n.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)

    names = ChinchillaFit.PARAMETERS
    (a,) = slopes(*(np.array([getattr(fit, name)]) for name in names))
    if not fit.bootstrap:
        return float(a), None
    resampled = np.stack([fit.bootstrap[name] for name in names])  # (parameters, resamples)
    chunks = np.array_split(resampled, -(-resampled.shape[1] // _LAWS_AT_ONCE), axis=1)  # bounds the memory
    (low, high) = percentiles({"a": np.concatenate([slopes(*chunk) for chunk in chunks])}, fit.level)["a"]
    return float(a), (low, high)


def _features(log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """Features of LSE(a - alpha log N, b - beta log D, e), theta = (a, b, e, alpha, beta)."""
    ones, zeros = np.ones_like(log_n), np.zeros_like(log_n)
    return np.stack([
        np.stack([ones, zeros, zeros, -log_n, zeros], axis=-1),
        np.stack([zeros, ones, zeros, zeros, -log_d], axis=-1),
        np.stack([zeros, zeros, ones, zeros, zeros], axis=-1),
    ])


def _grid() -> np.ndarray:
    """Hoffmann et al.'s 4,500 starts: a, b in {0, 5, ..., 25}, e in {-1, -0.5, ..., 1},
    alpha, beta in {0, 0.5, ..., 2}; rows (a, b, e, alpha, beta)."""
    axes = [np.arange(0, 26, 5.0)] * 2 + [np.arange(-1, 1.1, 0.5)] + [np.arange(0, 2.1, 0.5)] * 2
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 5)


def _parameters(theta: np.ndarray) -> dict[str, np.ndarray]:
    """(E, A, B, alpha, beta, a, b) from theta = (a, b, e, alpha, beta), along the last axis."""
    log_a, log_b, e, alpha, beta = np.moveaxis(theta, -1, 0)
    return {
        "E": np.exp(e), "A": np.exp(log_a), "B": np.exp(log_b), "alpha": alpha, "beta": beta,
        "a": beta / (alpha + beta), "b": alpha / (alpha + beta),
    }


def fit_chinchilla(
    N: ArrayLike, D: ArrayLike, L: ArrayLike, *, huber_delta: float = 1e-3,
    reduction: str = "sum", n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
    maxiter: int = 1000, ftol: float = FTOL,
) -> ChinchillaFit:
    """Fit L(N, D) = E + A / N^alpha + B / D^beta as Hoffmann et al. (2022) did.

    With a = log A, b = log B, e = log E, minimises

        sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i)

    (or its mean) with L-BFGS-B and the analytic gradient. The objective is evaluated on
    the paper's grid of 4,500 starts (see ``_grid``); L-BFGS-B runs from the best 16 of
    them and the best result is kept (Besiroglu et al. 2024 replicate this).

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
            optima, for ``intervals``; 0 for none. Resamples whose fit fails are left out,
            counted in ``n_bootstrap_dropped`` and reported by a ``RuntimeWarning``.
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
    features, log_l = _features(np.log(N), np.log(D)), np.log(L)
    grid = _grid()
    grid_loss, _ = objective(grid, features, log_l, point_weights(N.size, reduction)[None], delta)
    solution = solve(
        "fit_chinchilla", grid[np.argsort(grid_loss)[:_STARTS]], features, log_l, delta=delta,
        reduction=reduction, n_bootstrap=n_bootstrap, seed=seed, maxiter=maxiter, ftol=ftol,
    )
    fields = solution.fields(_parameters, ChinchillaFit.PARAMETERS, level)
    return ChinchillaFit(**fields, loss=solution.loss, n_points=N.size)
