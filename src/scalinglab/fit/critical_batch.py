"""The critical batch size: the steps-tokens trade-off at a target loss, and B_crit(L).

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training", arXiv:1812.06162;
Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361, §5.1.

Training to a target loss with batches of B tokens takes S optimiser steps and E = B S
tokens (Kaplan's E: examples x n_ctx). Small batches are data-efficient and slow, large
ones fast and wasteful, and the runs of one loss lie on the hyperbola

    (S / S_min - 1) (E / E_min - 1) = 1,  i.e.  S = S_min + E_min / B,  E = E_min + S_min B,

S_min the fewest steps (infinite batch) and E_min the fewest tokens (batch -> 0) that
reach it. The critical batch size B_crit = E_min / S_min (tokens) is the batch at the
knee, where a run takes twice the least steps and twice the least tokens. Kaplan et al.
find it grows as the loss falls, B_crit(L) = B_* / L^(1/alpha_B) with B_* ~ 2e8 tokens and
alpha_B ~ 0.21 (L in nats/token).

From runs at several batch sizes (each a learning curve: tokens seen and loss at each
evaluation, and its batch size in tokens)::

    steps, tokens = steps_and_tokens_to_reach(tokens_seen, losses, batch_tokens, target)
    trade_off = fit_critical_batch(steps, tokens, n_bootstrap=200)    # one target loss
    ...                                                               # for several targets
    trend = fit_critical_batch_size(targets, b_crits, n_bootstrap=200)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._checks import (
    enough_points,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_array,
    positive_finite_array,
    positive_float,
    positive_int,
    same_length,
)
from ._optimizer import FTOL, Objective, solve, solve_objective
from .power_law import _features as _power_features
from .power_law import _starts as _power_starts
from .result import LawFit

#: Shares of the least steps and least tokens the grid of starts puts S_min and E_min at.
_START_SHARES = (0.1, 0.5, 0.9)


# --- where each learning curve reaches the target ----------------------------------------


def tokens_to_reach(tokens_seen: ArrayLike, loss: ArrayLike, target_loss: float) -> float:
    """Tokens a run took to first reach ``target_loss``, from its learning curve.

    The first evaluation whose loss is <= ``target_loss`` and the one before it bracket
    the crossing, found by linear interpolation of the loss in log-tokens (in tokens when
    the earlier evaluation is at 0 tokens). Evaluations whose loss is NaN (a diverged run)
    are left out.

    Args:
        tokens_seen: training tokens seen at each evaluation (>= 0, strictly increasing).
        loss: the loss at each evaluation, e.g. nats/token (NaN allowed).
        target_loss: the loss to reach, in the units of ``loss`` (> 0).

    Returns:
        The tokens, or NaN when the run never reaches the target, or reaches it at its
        first evaluation (the crossing is then somewhere before it, not located).

    Raises:
        ValueError: arrays not 1-D, of different lengths or empty; tokens_seen negative,
            not finite or not strictly increasing; target_loss not > 0.
    """
    tokens = np.asarray(tokens_seen, dtype=float)
    losses = np.asarray(loss, dtype=float)
    if tokens.ndim != 1 or tokens.size == 0:
        raise ValueError(f"tokens_seen must be a non-empty 1-D array, got shape {tokens.shape}")
    if losses.ndim != 1:
        raise ValueError(f"loss must be a 1-D array, got shape {losses.shape}")
    same_length(tokens_seen=tokens, loss=losses)
    if not np.all(np.isfinite(tokens)) or np.any(tokens < 0):
        raise ValueError("tokens_seen must be finite and >= 0")
    if np.any(np.diff(tokens) <= 0):
        raise ValueError("tokens_seen must be strictly increasing")
    target = positive_float("target_loss", target_loss)
    kept = ~np.isnan(losses)
    tokens, losses = tokens[kept], losses[kept]
    reached = np.flatnonzero(losses <= target)
    if reached.size == 0 or reached[0] == 0:
        return float("nan")
    i = reached[0]
    t0, t1, l0, l1 = tokens[i - 1], tokens[i], losses[i - 1], losses[i]
    share = (l0 - target) / (l0 - l1)  # l0 > target >= l1
    if t0 == 0:
        return float(t0 + share * (t1 - t0))
    return float(np.exp(np.log(t0) + share * (np.log(t1) - np.log(t0))))


def steps_and_tokens_to_reach(
    tokens_seen: Sequence[ArrayLike], losses: Sequence[ArrayLike], batch_tokens: ArrayLike, target_loss: float
) -> tuple[np.ndarray, np.ndarray]:
    """Steps S and tokens E each run took to first reach ``target_loss``.

    E comes from :func:`tokens_to_reach` (interpolated in log-tokens along the run's
    learning curve) and S = E / B, B the run's batch size in tokens (sequences x n_ctx);
    both are NaN for a run that never reached the target.

    Args:
        tokens_seen: for each run, the training tokens seen at each evaluation.
        losses: for each run, the loss at each evaluation (as many as its tokens_seen).
        batch_tokens: each run's batch size in tokens (> 0).
        target_loss: the loss to reach (> 0).

    Returns:
        (steps, tokens), each of shape (runs,); steps are fractional (interpolated).

    Raises:
        ValueError: as many curves, losses and batch sizes not given; a bad curve (see
            :func:`tokens_to_reach`, the run named).
    """
    batch = positive_finite_array("batch_tokens", batch_tokens)
    if len(tokens_seen) != batch.size or len(losses) != batch.size:
        raise ValueError(
            "tokens_seen, losses and batch_tokens must have one entry per run each, got "
            f"{len(tokens_seen)}, {len(losses)} and {batch.size}"
        )
    tokens = np.empty(batch.size)
    for run, (seen, loss) in enumerate(zip(tokens_seen, losses)):
        try:
            tokens[run] = tokens_to_reach(seen, loss, target_loss)
        except ValueError as error:
            raise ValueError(f"run {run}: {error}") from None
    return tokens / batch, tokens


# --- the trade-off at one loss ------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CriticalBatchFit(LawFit):
    """The steps-tokens trade-off at one loss, S / S_min - 1 = (E / E_min - 1)^-1.

    S_min in optimiser steps, E_min in tokens, B_crit = E_min / S_min in tokens per step.
    A run with batches of B tokens needs S(B) = S_min (1 + B_crit / B) steps and
    E(B) = E_min (1 + B / B_crit) tokens.

    Attributes:
        S_min, E_min, B_crit: the fitted parameters (B_crit derived; it has its interval).
        n_unreached: runs left out because they never reached the loss (NaN steps/tokens).
        loss: half the summed squared log residuals at the optimum.

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s.
    """

    PARAMETERS = ("S_min", "E_min", "B_crit")

    S_min: float
    E_min: float
    B_crit: float
    n_unreached: int
    loss: float

    def predict(self, batch_tokens: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(steps, tokens) to reach the loss with batches of ``batch_tokens`` (> 0) tokens."""
        return self.predict_steps(batch_tokens), self.predict_tokens(batch_tokens)

    def predict_steps(self, batch_tokens: ArrayLike) -> np.ndarray:
        """Steps to reach the loss: S = S_min + E_min / B."""
        return (self.S_min + self.E_min / positive_array("batch_tokens", batch_tokens))[()]

    def predict_tokens(self, batch_tokens: ArrayLike) -> np.ndarray:
        """Tokens to reach the loss: E = E_min + S_min B."""
        return (self.E_min + self.S_min * positive_array("batch_tokens", batch_tokens))[()]

    def _details(self) -> dict[str, object]:
        return {"n_unreached": self.n_unreached}


def _trade_off_objective(log_s: np.ndarray, log_b: np.ndarray) -> Objective:
    """Half the weighted squared log residuals of S = S_min + E_min / B, theta = (log S_min, log E_min)."""

    def fun(theta: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, e = theta[:, 0, None], theta[:, 1, None]
        log_pred = np.logaddexp(s, e - log_b)
        share = np.exp(s - log_pred)  # d log_pred / d s; 1 - share is d / d e
        residual = log_pred - log_s
        f = 0.5 * np.sum(weights * residual**2, axis=1)
        slope = weights * residual
        grad = np.stack([np.sum(slope * share, axis=1), np.sum(slope * (1 - share), axis=1)], axis=1)
        return f, grad

    return fun


def _trade_off_starts(steps: np.ndarray, tokens: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """Starts (log S_min, log E_min): the relative least-squares line E = E_min + S_min B
    when both come out positive, and a grid of shares of the least S and E."""
    starts = [
        [np.log(share_s * steps.min()), np.log(share_e * tokens.min())]
        for share_s in _START_SHARES for share_e in _START_SHARES
    ]
    design = np.stack([np.ones_like(batch), batch], axis=1) / tokens[:, None]
    (e_min, s_min), *_ = np.linalg.lstsq(design, np.ones_like(tokens), rcond=None)
    if e_min > 0 and s_min > 0:
        starts.insert(0, [np.log(s_min), np.log(e_min)])
    return np.array(starts)


def _trade_off_parameters(theta: np.ndarray) -> dict[str, np.ndarray]:
    """(S_min, E_min, B_crit) of theta = (log S_min, log E_min), along the last axis."""
    log_s, log_e = theta[..., 0], theta[..., 1]
    return {"S_min": np.exp(log_s), "E_min": np.exp(log_e), "B_crit": np.exp(log_e - log_s)}


def fit_critical_batch(
    steps: ArrayLike, tokens: ArrayLike, *, n_bootstrap: int = 0, seed: int = 0, level: float = 0.9,
    maxiter: int = 1000,
) -> CriticalBatchFit:
    """Fit S / S_min - 1 = (E / E_min - 1)^-1 to the runs of one target loss (McCandlish et al. 2018).

    Each run's batch size is B = E / S tokens; the law is then S = S_min + E_min / B (and
    E = E_min + S_min B), fitted in log space: minimises
    sum_i (log S_i - log(S_min + E_min / B_i))^2 / 2 over (log S_min, log E_min) with
    L-BFGS-B from a straight-line start and a grid, the best kept (the residuals of log E
    are the same). B_crit = E_min / S_min.

    Args:
        steps: optimiser steps S each run took to reach the loss (> 0; NaN for a run that
            never reached it), e.g. from :func:`steps_and_tokens_to_reach`.
        tokens: tokens E each run took (> 0; NaN where steps is NaN).
        n_bootstrap: resamples of the runs (with replacement) refitted, for ``intervals``
            on S_min, E_min and B_crit; 0 for none. Resamples whose fit fails, or that
            hold fewer than 2 distinct runs, are left out, counted in
            ``n_bootstrap_dropped`` and reported by a ``RuntimeWarning``.
        seed: seed of the resampling.
        level: central probability of ``intervals``.
        maxiter: L-BFGS iterations at most, per start and per resample.

    Raises:
        ValueError: steps or tokens not positive where not NaN, infinite, NaN in one but
            not the other, of different lengths; fewer than 2 runs that reached the loss,
            or all of them at one batch size; a bad option.
    """
    s, e = np.asarray(steps, dtype=float), np.asarray(tokens, dtype=float)
    for name, values in (("steps", s), ("tokens", e)):
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array, got shape {values.shape}")
    same_length(steps=s, tokens=e)
    if not np.array_equal(np.isnan(s), np.isnan(e)):
        raise ValueError("steps and tokens must be NaN for the same runs (the runs that never reached the loss)")
    reached = ~np.isnan(s)
    s, e = s[reached], e[reached]
    if s.size < 2:
        raise ValueError(f"need at least 2 runs that reached the loss, got {s.size}")
    positive_finite_array("steps", s)
    positive_finite_array("tokens", e)
    batch = e / s
    if np.unique(np.round(np.log(batch), 9)).size < 2:
        raise ValueError("the runs must span at least 2 distinct batch sizes (tokens / steps)")
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level, maxiter = fraction("level", level), positive_int("maxiter", maxiter)
    log_s, log_b = np.log(s), np.log(batch)
    solution = solve_objective(
        "fit_critical_batch", _trade_off_starts(s, e, batch), _trade_off_objective(log_s, log_b), s.size,
        n_bootstrap=n_bootstrap, seed=seed, maxiter=maxiter,
    )
    fields = solution.fields(_trade_off_parameters, CriticalBatchFit.PARAMETERS, level)
    return CriticalBatchFit(
        **fields, n_unreached=int(np.count_nonzero(~reached)), loss=solution.loss, n_points=s.size
    )


# --- B_crit against the loss --------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CriticalBatchSizeFit(LawFit):
    """The critical batch size against the loss, B_crit(L) = B_* / (L - L_floor)^(1/alpha_B).

    B_* in tokens (B_crit at L - L_floor = 1, in the units of the losses, nats/token),
    alpha_B a pure number. Kaplan et al. (2020, eq. 5.3) use L_floor = 0 and find
    B_* ~ 2e8 tokens, alpha_B ~ 0.21.

    Attributes:
        B_star, alpha_B: the fitted parameters.
        loss_floor: L_floor, subtracted from the losses before the fit (0 for Kaplan's form).

    The common fields are :class:`~scalinglab.fit.result.LawFit`'s.
    """

    PARAMETERS = ("B_star", "alpha_B")

    B_star: float
    alpha_B: float
    loss_floor: float

    def predict(self, loss: ArrayLike) -> np.ndarray:
        """B_crit in tokens at ``loss`` (> loss_floor): B_* / (loss - loss_floor)^(1/alpha_B)."""
        excess = np.asarray(loss, dtype=float) - self.loss_floor
        excess = positive_array("loss - loss_floor", excess)
        return (self.B_star / excess ** (1 / self.alpha_B))[()]

    def _details(self) -> dict[str, object]:
        return {"loss_floor": f"{self.loss_floor:.4g}"}


def _size_parameters(theta: np.ndarray) -> dict[str, np.ndarray]:
    """(B_star, alpha_B) of the power law's theta = (c, alpha), log B = c - alpha log L:
    B_star = e^c and alpha_B = 1 / alpha."""
    with np.errstate(divide="ignore"):
        return {"B_star": np.exp(theta[..., 0]), "alpha_B": 1 / theta[..., 1]}


def fit_critical_batch_size(
    losses: ArrayLike, b_crit: ArrayLike, *, loss_floor: float = 0.0, n_bootstrap: int = 0, seed: int = 0,
    level: float = 0.9, maxiter: int = 1000,
) -> CriticalBatchSizeFit:
    """Fit B_crit(L) = B_* / (L - L_floor)^(1/alpha_B) (Kaplan et al. 2020, eq. 5.3).

    A straight line on log-log axes, fitted as :func:`~scalinglab.fit.fit_power_law` fits
    B = (x0 / (L - L_floor))^(1/alpha_B) without a constant (least squares of log B_crit,
    the shared optimiser and bootstrap); B_* = x0^(1/alpha_B).

    Args:
        losses: the target losses, e.g. nats/token (> loss_floor).
        b_crit: the critical batch size at each, in tokens (> 0), e.g. the ``B_crit`` of
            :func:`fit_critical_batch` at each target.
        loss_floor: subtracted from the losses (>= 0): 0 for Kaplan's form; the corpus's
            entropy to make B_crit diverge as the *reducible* loss goes to 0.
        n_bootstrap: resamples of the points refitted, for ``intervals`` on B_star and
            alpha_B; 0 for none. Failed resample fits are left out, counted in
            ``n_bootstrap_dropped`` and reported by a ``RuntimeWarning``.
        seed: seed of the resampling.
        level: central probability of ``intervals``.
        maxiter: L-BFGS iterations at most, per start and per resample.

    Raises:
        ValueError: losses or b_crit not positive and finite, of different lengths, fewer
            than 2 points, a loss not above loss_floor, all losses equal; a bad option.
    """
    L, B = positive_finite_array("losses", losses), positive_finite_array("b_crit", b_crit)
    same_length(losses=L, b_crit=B)
    enough_points(L.size, 2)
    floor = non_negative_float("loss_floor", loss_floor)
    if np.any(L <= floor):
        raise ValueError(f"losses must all exceed loss_floor={floor:g}, got minimum {L.min()!r}")
    if np.unique(L).size < 2:
        raise ValueError("losses must take at least 2 distinct values")
    n_bootstrap, seed = non_negative_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    level, maxiter = fraction("level", level), positive_int("maxiter", maxiter)
    log_x, log_y = np.log(L - floor), np.log(B)
    solution = solve(
        "fit_critical_batch_size", _power_starts(log_x, B, False), _power_features(log_x, False), log_y,
        delta=np.inf, reduction="sum", n_bootstrap=n_bootstrap, seed=seed, maxiter=maxiter, ftol=FTOL,
    )
    fields = solution.fields(_size_parameters, CriticalBatchSizeFit.PARAMETERS, level)
    return CriticalBatchSizeFit(**fields, loss_floor=floor, n_points=L.size)
