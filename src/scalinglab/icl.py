"""In-context learning, read from the loss along the context (no torch needed).

The mean loss (nats) at each position t of the context
(:func:`scalinglab.inference.loss_per_position` measures it on a model; a recorded run
keeps its last evaluation's in ``RunResult.val_loss_per_position_nats``) falls, for a
transformer, as a power law plus a constant (Kaplan et al. 2020, sec. 6),

    L(t) = E + (t0 / t)^alpha,        t = 1, 2, ..., n_ctx (1-based positions),

which :func:`fit_position_power_law` fits. :func:`icl_score` is Olsson et al.'s
(2022) one-number summary: loss late in the context minus loss early in it (they
use token 500 minus token 50); the more negative, the more the context helps.

Few-shot accuracy and induction heads, which need the model itself, are measured by
:mod:`scalinglab.probes.few_shot` and :mod:`scalinglab.probes.induction`.
"""

from __future__ import annotations

import numpy as np

from ._checks import positive_float, positive_int
from .fit import PowerLawFit, fit_power_law

# ---------------------------------------------------------------------------
# Loss along the context


def _loss_curve(loss_per_position: np.ndarray) -> np.ndarray:
    curve = np.asarray(loss_per_position, dtype=float)
    if curve.ndim != 1 or len(curve) < 2 or not np.all(np.isfinite(curve)):
        raise ValueError(f"loss_per_position must be a 1-D array of at least 2 finite losses, got shape {curve.shape}")
    return curve


def fit_position_power_law(
    loss_per_position: np.ndarray, *, start: int = 1, n_bootstrap: int = 0, seed: int = 0
) -> PowerLawFit:
    """Fit L(t) = E + (t0 / t)^alpha to the loss at positions t = start..n_ctx.

    Positions are 1-based: ``loss_per_position[t - 1]`` is the loss at position t
    (predicting token t+1 from t tokens), and ``n_ctx = len(loss_per_position)``. The
    fit's ``x0`` is t0, in tokens; ``E`` and the losses are in nats/token. Uses
    :func:`scalinglab.fit.fit_power_law` (``n_bootstrap`` resamples of the positions
    for its ``intervals``), which needs at least 3 positions, so
    ``1 <= start <= n_ctx - 2``. A curve that does not fall along the context has no
    meaningful exponent: look at the intervals.
    """
    curve = _loss_curve(loss_per_position)
    if positive_int("start", start) > len(curve) - 2:
        raise ValueError(f"start must be a position in 1..n_ctx - 2 = {len(curve) - 2}, got {start!r}")
    positions = np.arange(start, len(curve) + 1)
    return fit_power_law(positions, curve[start - 1 :], n_bootstrap=n_bootstrap, seed=seed)


def binned_along_context(loss_per_position: np.ndarray, *, n_bins: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Loss averaged over log-spaced bins of position: (bin centre positions, mean loss per bin).

    A single position's loss is the mean over the evaluation windows only, so it is
    noisy; late positions are many, so on a log axis one wants their average. Bin edges
    are ``n_bins + 1`` log-spaced positions from 1 to n_ctx + 1 (rounded, duplicates
    dropped, so early bins hold single positions); a bin's centre is the geometric
    mean of its first and last position.
    """
    curve = _loss_curve(loss_per_position)
    firsts, lasts = _log_bins(len(curve), n_bins)
    means = np.array([curve[a - 1 : b].mean() for a, b in zip(firsts, lasts)])
    return np.sqrt(firsts * lasts), means


def _log_bins(n_ctx: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last positions (1-based, inclusive) of the log-spaced bins over 1..n_ctx."""
    edges = np.unique(np.round(np.geomspace(1, n_ctx + 1, positive_int("n_bins", n_bins) + 1)).astype(int))
    return edges[:-1], edges[1:] - 1


def context_plateau(loss_per_position: np.ndarray, *, tolerance_nats: float = 0.02, n_bins: int = 24) -> int:
    """The first position from which more context helps by less than ``tolerance_nats``.

    On the binned curve (:func:`binned_along_context`), the first position of the
    first bin whose loss is within ``tolerance_nats`` of the last bin's and stays so
    in every later bin. For an LSTM this is where it stops using its context (about
    a hundred tokens in Kaplan et al. 2020, fig. 20); a transformer that keeps improving
    along the context reaches it only near n_ctx.
    """
    tolerance = positive_float("tolerance_nats", tolerance_nats)
    _, means = binned_along_context(loss_per_position, n_bins=n_bins)
    firsts, _ = _log_bins(len(loss_per_position), n_bins)
    above = np.flatnonzero(means - means[-1] > tolerance)
    return int(firsts[0 if len(above) == 0 else above[-1] + 1])


def _position(name: str, value: object, n_ctx: int) -> int:
    if positive_int(name, value) > n_ctx:
        raise ValueError(f"{name} must be a position in 1..n_ctx = {n_ctx}, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def icl_score(loss_per_position: np.ndarray, *, early: int | None = None, late: int | None = None) -> float:
    """In-context learning score: L(late) - L(early), in nats/token (negative = context helps).

    Olsson et al. (2022) use late = 500 and early = 50 in a 512-token context; by default
    both are scaled to this context, early = max(1, round(50/512 n_ctx)) and
    late = round(500/512 n_ctx). Positions are 1-based, ``1 <= early < late <= n_ctx``.
    """
    curve = _loss_curve(loss_per_position)
    n_ctx = len(curve)
    early = _position("early", max(1, round(50 / 512 * n_ctx)) if early is None else early, n_ctx)
    late = _position("late", round(500 / 512 * n_ctx) if late is None else late, n_ctx)
    if late <= early:
        raise ValueError(f"late must come after early={early}, got {late}")
    return float(curve[late - 1] - curve[early - 1])
