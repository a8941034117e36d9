"""In-context learning, read from the loss along the context (no torch needed).

The mean loss (nats) at each position t of the context
(:func:`scalinglab.inference.loss_per_position` measures it on a model; a recorded run
keeps its last evaluation's in ``RunResult.val_loss_per_position_nats``) falls, for a
transformer, as a power law plus a constant (Kaplan et al. 2020, sec. 6),

    L(t) = E + (t0 / t)^alpha,        t = 1, 2, ..., n_ctx (1-based positions),

which :func:`fit_position_power_law` fits. :func:`icl_score` is Olsson et al.'s
(2022) one-number summary: loss late in the context minus loss early in it (they
use token 500 minus token 50); the more negative, the more the context helps.

A single curve has no interval. The ``"context_windows"`` probe keeps, for a final model,
the loss of every evaluation window in log-spaced position bins, on windows placed inside
documents (:class:`ContextWindows`); resampling the documents
(:func:`document_resample_weights`) then gives intervals on the curve, on where it stops
falling (:func:`plateau_interval`), on its power law (:func:`position_power_law`) and on
anything else computed from the runs measured on the same windows, paired.

Few-shot accuracy and induction heads, which need the model itself, are measured by
:mod:`scalinglab.probes.few_shot` and :mod:`scalinglab.probes.induction`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from ._checks import fraction, non_negative_int, positive_finite_array, positive_float, positive_int
from .fit import PowerLawFit, fit_power_law

# ---------------------------------------------------------------------------
# Loss along the context

POSITION_BINS = 24
"""Log-spaced position bins of a binned loss-along-the-context curve (at most; early bins hold one position)."""


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


def binned_along_context(loss_per_position: np.ndarray, *, n_bins: int = POSITION_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Loss averaged over log-spaced bins of position: (bin centre positions, mean loss per bin).

    A single position's loss is the mean over the evaluation windows only, so it is
    noisy; late positions are many, so on a log axis one wants their average. Bin edges
    are ``n_bins + 1`` log-spaced positions from 1 to n_ctx + 1 (rounded, duplicates
    dropped, so early bins hold single positions); a bin's centre is the geometric
    mean of its first and last position.
    """
    curve = _loss_curve(loss_per_position)
    firsts, lasts = log_bins(len(curve), n_bins)
    means = np.array([curve[a - 1 : b].mean() for a, b in zip(firsts, lasts)])
    return np.sqrt(firsts * lasts), means


def log_bins(n_ctx: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last positions (1-based, inclusive) of the log-spaced bins over 1..n_ctx."""
    edges = np.unique(np.round(np.geomspace(1, n_ctx + 1, positive_int("n_bins", n_bins) + 1)).astype(int))
    return edges[:-1], edges[1:] - 1


def context_plateau(loss_per_position: np.ndarray, *, tolerance_nats: float = 0.02, n_bins: int = POSITION_BINS) -> int:
    """The first position from which more context helps by less than ``tolerance_nats``.

    On the binned curve (:func:`binned_along_context`), the first position of the
    first bin whose loss is within ``tolerance_nats`` of the last bin's and stays so
    in every later bin. For an LSTM this is where it stops using its context (about
    a hundred tokens in Kaplan et al. 2020, fig. 7); a transformer that keeps improving
    along the context reaches it only near n_ctx.
    """
    tolerance = positive_float("tolerance_nats", tolerance_nats)
    _, means = binned_along_context(loss_per_position, n_bins=n_bins)
    firsts, _ = log_bins(len(loss_per_position), n_bins)
    return int(plateau_positions(firsts, means, tolerance))


def plateau_positions(bin_firsts: np.ndarray, binned_loss_nats: np.ndarray, tolerance_nats: float) -> np.ndarray:
    """:func:`context_plateau`'s rule on binned curves: for each row of ``binned_loss_nats``
    (shape (..., n_bins)), the first position of the first bin from which every bin is no
    more than ``tolerance_nats`` above the last bin's loss (a bin below it counts as
    levelled off: the rule asks where the curve stops *falling*). A curve still falling by
    more than the tolerance into its last bin gives that bin's first position."""
    means = np.asarray(binned_loss_nats, dtype=float)
    above = means - means[..., -1:] > tolerance_nats
    # index of the last bin still above the final level, + 1 (0 when none is)
    n_bins = means.shape[-1]
    last_above = np.where(above.any(axis=-1), n_bins - 1 - np.argmax(above[..., ::-1], axis=-1), -1)
    return np.asarray(bin_firsts)[last_above + 1]


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


# ---------------------------------------------------------------------------
# Window by window: intervals over the evaluation documents


@dataclass(frozen=True)
class ContextWindows:
    """One final model's loss along the context, window by window (the ``"context_windows"``
    probe of :mod:`scalinglab.probes.context_windows`).

    Attributes:
        bin_firsts, bin_lasts: the position bins, 1-based and inclusive, shape (n_bins,).
        window_bin_loss_nats: each window's mean loss in each bin, shape (n_windows, n_bins).
        window_document: each window's validation document, shape (n_windows,).
    """

    bin_firsts: np.ndarray
    bin_lasts: np.ndarray
    window_bin_loss_nats: np.ndarray
    window_document: np.ndarray

    @classmethod
    def from_probe(cls, data: Mapping[str, Any]) -> ContextWindows:
        """From a run's ``result.probes["context_windows"]``."""
        if not isinstance(data, Mapping) or "window_bin_loss_nats" not in data:
            raise ValueError("data must be a run's probes['context_windows'] (a mapping with window_bin_loss_nats)")
        return cls(np.asarray(data["bin_firsts"]), np.asarray(data["bin_lasts"]),
                   np.asarray(data["window_bin_loss_nats"], dtype=float), np.asarray(data["window_document"]))

    @property
    def centres(self) -> np.ndarray:
        """Each bin's centre, the geometric mean of its first and last position."""
        return np.sqrt(self.bin_firsts * self.bin_lasts)

    @property
    def window_loss_nats(self) -> np.ndarray:
        """Each window's mean loss over all its positions, shape (n_windows,)."""
        widths = self.bin_lasts - self.bin_firsts + 1
        return self.window_bin_loss_nats @ widths / widths.sum()

    def binned(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The mean loss in each bin over the windows, shape (n_bins,); with ``weights``
        (shape (B, n_windows), e.g. :func:`document_resample_weights`), one curve a row."""
        if weights is None:
            return self.window_bin_loss_nats.mean(axis=0)
        return weights @ self.window_bin_loss_nats / weights.sum(axis=1, keepdims=True)


def document_resample_weights(window_document: np.ndarray, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Weights of ``n_bootstrap`` bootstrap resamples of the documents, shape (n_bootstrap, n_windows).

    Each resample draws the documents with replacement; a window's weight is the number of
    times its document was drawn, so the windows of one document stay together (they are
    not independent). Two runs measured on the same windows take the same weights, which
    pairs their resamples.
    """
    n_bootstrap, seed = positive_int("n_bootstrap", n_bootstrap), non_negative_int("seed", seed)
    documents, index = np.unique(np.asarray(window_document), return_inverse=True)
    counts = np.random.default_rng(seed).multinomial(len(documents), np.full(len(documents), 1 / len(documents)),
                                                     size=n_bootstrap)
    return counts[:, index].astype(float)


def percentile_interval(
    samples: np.ndarray, level: float, axis: int = 0, *, exact_order: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` percentile interval of bootstrap ``samples`` along ``axis`` (NaNs left out).

    With ``exact_order`` the ends are samples themselves, read off their order with no
    interpolation between neighbours, so that a resample censored to 0 or infinity stays
    what it is; every sample NaN is then a ``ValueError`` (no interval).
    """
    level = fraction("level", level)
    samples = np.asarray(samples, dtype=float)
    tails = [(1 - level) / 2, (1 + level) / 2]
    if not exact_order:
        low, high = np.nanquantile(samples, tails, axis=axis)
        return low, high
    if np.isnan(samples).all(axis=axis).any():
        raise ValueError("every resample is undecided (a 0 and an infinity in each): no interval")
    low, high = np.nanquantile(samples, tails, axis=axis, method="inverted_cdf")
    return low, high


@dataclass(frozen=True)
class Plateau:
    """Where a loss-along-the-context curve stops falling (:func:`plateau_interval`).

    Attributes:
        position: the plateau position of the measured curve (:func:`context_plateau`'s rule).
        low, high: its bootstrap interval over documents, at ``level``.
        end_bin_first: the first position of the last bin: a plateau there means the curve
            still falls into the end of the context.
    """

    position: int
    low: float
    high: float
    level: float
    end_bin_first: int

    @property
    def still_falling(self) -> bool:
        """Whether the curve falls by more than the tolerance into its last bin."""
        return self.position == self.end_bin_first


def plateau_interval(
    windows: ContextWindows, *, tolerance_nats: float = 0.02, n_bootstrap: int = 400, level: float = 0.9, seed: int = 0
) -> Plateau:
    """The position from which more context helps by less than ``tolerance_nats``
    (:func:`plateau_positions`), with its interval over bootstrap resamples of the documents."""
    tolerance = positive_float("tolerance_nats", tolerance_nats)
    weights = document_resample_weights(windows.window_document, n_bootstrap, seed)
    position = int(plateau_positions(windows.bin_firsts, windows.binned(), tolerance))
    low, high = percentile_interval(plateau_positions(windows.bin_firsts, windows.binned(weights), tolerance), level)
    return Plateau(position, float(low), float(high), level, int(windows.bin_firsts[-1]))


ALPHA_GRID = np.geomspace(0.01, 4.0, 1200)
"""The exponents :func:`position_power_law` profiles over."""


def _profile_power_law(t: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares of each row of ``curves`` on E + c t^-alpha, profiled over :data:`ALPHA_GRID`:
    for each alpha, E and c > 0 are a straight-line fit; the alpha of least squared error is kept.
    Returns (E, c, alpha), one a row. A row that no alpha fits with c > 0 (a curve that does not
    fall) gets the constant law: alpha = 0, c = 0, E its mean."""
    x = t[None, :] ** -ALPHA_GRID[:, None]                           # (K, n)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = curves - curves.mean(axis=1, keepdims=True)                 # (B, n)
    sxx = np.sum(xc**2, axis=1)                                      # (K,)
    sxy = yc @ xc.T                                                  # (B, K)
    sse = np.sum(yc**2, axis=1, keepdims=True) - np.where(sxy > 0, sxy**2 / sxx, 0.0)
    best = np.argmin(np.where(sxy > 0, sse, np.inf), axis=1)
    rows = np.arange(len(curves))
    c = sxy[rows, best] / sxx[best]
    e = curves.mean(axis=1) - c * x[best].mean(axis=1)
    ok = sxy[rows, best] > 0
    return np.where(ok, e, curves.mean(axis=1)), np.where(ok, c, 0.0), np.where(ok, ALPHA_GRID[best], 0.0)


def position_power_law(
    windows: ContextWindows, *, last_position: int | None = None, first_position: int = 1,
    n_bootstrap: int = 400, level: float = 0.9, seed: int = 0,
) -> PowerLawFit:
    """L(t) = E + (t0 / t)^alpha fitted to the binned curve over the bins whose positions lie in
    ``first_position..last_position`` (default: the whole context), with intervals over
    bootstrap resamples of the documents.

    Least squares in nats on the bin means, one point a bin (so each factor of the position
    weighs the same), profiled over alpha on :data:`ALPHA_GRID` (E and t0 follow in closed
    form): fast enough to refit every resample. A curve (or resample) that does not fall
    gets alpha = 0 and t0 = 0, and is kept: so a curve that barely falls has an interval
    that reaches 0. ``converged`` is False when the best alpha of the measured curve is at
    the grid's upper edge (a step, not a power law). ``x0`` is t0, in tokens.
    """
    first = positive_int("first_position", first_position)
    last = int(windows.bin_lasts[-1]) if last_position is None else positive_int("last_position", last_position)
    if last <= first:
        raise ValueError(f"last_position must exceed first_position={first}, got {last}")
    keep = (windows.bin_firsts >= first) & (windows.bin_lasts <= last)
    if keep.sum() < 3:
        raise ValueError(f"position_power_law needs at least 3 bins in positions {first}..{last}, got {keep.sum()}")
    t = windows.centres[keep]
    weights = document_resample_weights(windows.window_document, n_bootstrap, seed)
    curves = np.vstack([windows.binned()[None, :], windows.binned(weights)])[:, keep]
    e, c, alpha = _profile_power_law(t, curves)
    t0 = np.where(alpha > 0, c ** (1 / np.where(alpha > 0, alpha, 1.0)), 0.0)
    samples = {"E": e[1:], "x0": t0[1:], "alpha": alpha[1:]}
    intervals = {name: tuple(float(v) for v in percentile_interval(values, level)) for name, values in samples.items()}
    return PowerLawFit(E=float(e[0]), x0=float(t0[0]), alpha=float(alpha[0]), converged=bool(alpha[0] < ALPHA_GRID[-1]),
                       n_points=int(keep.sum()), intervals=intervals, level=level, bootstrap=samples)


def context_gain(windows: ContextWindows, position: int, weights: np.ndarray | None = None) -> np.ndarray | float:
    """How much the context still helps after ``position``: the loss in the bin that holds
    ``position`` minus the loss in the last bin, nats/token (positive = still falling); one
    value a resample with ``weights``."""
    position = positive_int("position", position)
    inside = np.flatnonzero((windows.bin_firsts <= position) & (position <= windows.bin_lasts))
    if len(inside) == 0:
        raise ValueError(f"position must lie in 1..{windows.bin_lasts[-1]}, got {position}")
    curve = windows.binned(weights)
    gain = curve[..., inside[0]] - curve[..., -1]
    return float(gain) if weights is None else gain


def paired_windows(runs: Sequence[ContextWindows]) -> np.ndarray:
    """The documents of the windows several runs share: ``ValueError`` unless every run was
    measured on the same windows (same corpus and context), as a paired comparison needs."""
    if not runs:
        raise ValueError("runs must hold at least one ContextWindows")
    first = runs[0]
    for run in runs[1:]:
        if not (np.array_equal(run.window_document, first.window_document)
                and np.array_equal(run.bin_firsts, first.bin_firsts)):
            raise ValueError("the runs were measured on different windows (corpus or n_ctx differ): they cannot be paired")
    return first.window_document


# ---------------------------------------------------------------------------
# Few-shot accuracy: counted numbers with binomial intervals


def binomial_interval(accuracy: np.ndarray | float, n_trials: int, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``accuracy`` measured on ``n_trials`` trials
    (e.g. few-shot prompts): (low, high), elementwise. Unlike accuracy ± z·SE it stays
    inside [0, 1] and is not empty at an accuracy of 0 or 1."""
    n, level = positive_int("n_trials", n_trials), fraction("level", level)
    p = np.asarray(accuracy, dtype=float)
    if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
        raise ValueError("accuracy must lie in [0, 1]")
    z = norm.ppf(0.5 + level / 2)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


@dataclass(frozen=True)
class FewShotOutcomes:
    """Each prompt's outcome in the ``"few_shot"`` probes of one model's seeds, for one
    setting of the description (:meth:`from_probes`).

    Attributes:
        ks: the numbers of examples in the prompt.
        tasks: the tasks, in order.
        correct: bool, shape (n_seeds, n_tasks, n_ks, n_prompts): prompt p of task t at
            k = ks[i] answered right by seed s. Prompt p is the same prompt for every
            seed, task, k and model scored with the same ``prompt_seed``.
        prompt_seed: the seed the probe drew its prompts from.
    """

    ks: np.ndarray
    tasks: tuple[str, ...]
    correct: np.ndarray
    prompt_seed: int = 0

    @classmethod
    def from_probes(cls, probes: Sequence[Mapping[str, Any]], *, with_description: bool) -> FewShotOutcomes:
        """From the ``"few_shot"`` probe records of one model's seeds (which must share ks,
        tasks, prompt count and prompt seed). ``ValueError`` when a record lacks the
        prompt-by-prompt outcomes (``"correct"``, recorded since the probe asked 300 prompts)."""
        if not probes:
            raise ValueError("probes must hold at least one few_shot record")
        key = "with_description" if with_description else "without_description"
        first = probes[0]
        for probe in probes:
            if "correct" not in probe:
                raise ValueError("a few_shot record lacks the prompt-by-prompt outcomes ('correct'); re-record it")
            if (probe["ks"], probe["n_prompts"], probe["seed"], list(probe["correct"])) != (
                    first["ks"], first["n_prompts"], first["seed"], list(first["correct"])):
                raise ValueError("the few_shot records of one model must share ks, tasks, n_prompts and seed")
        tasks = tuple(first["correct"])
        for probe in probes:
            for task in tasks:
                cells = probe["correct"][task][key]
                if len(cells) != len(first["ks"]) or any(len(c) != first["n_prompts"] or set(c) - {"0", "1"}
                                                         for c in cells):
                    raise ValueError(f"probes: the outcomes of {task!r} must be one string of n_prompts = "
                                     f"{first['n_prompts']} characters '0' or '1' for each k")
        correct = np.array([[[[c == "1" for c in outcomes] for outcomes in probe["correct"][task][key]]
                             for task in tasks] for probe in probes], dtype=bool)
        return cls(np.asarray(first["ks"]), tasks, correct, int(first["seed"]))

    @property
    def n_prompts(self) -> int:
        return int(self.correct.shape[-1])

    def accuracy(self) -> np.ndarray:
        """Mean accuracy over seeds, tasks and prompts at each k, shape (n_ks,)."""
        return self.correct.mean(axis=(0, 1, 3))

    def task_accuracy(self) -> np.ndarray:
        """Mean accuracy over seeds and prompts, shape (n_tasks, n_ks)."""
        return self.correct.mean(axis=(0, 3))


@dataclass(frozen=True)
class FewShotSlopes:
    """How the mean few-shot accuracy grows with the examples in the prompt, for each model
    of a ladder: accuracy = a + b log2(k), least squares over k >= 1 (:func:`few_shot_slopes`).

    Attributes:
        slope: b of each model, accuracy gained per doubling of k.
        low, high: each slope's bootstrap interval at ``level``.
        samples: the bootstrap slopes, shape (n_bootstrap, n_models), paired across models
            (the same prompts drawn for all), for :meth:`difference`.
        ks: the k fitted.
    """

    slope: np.ndarray
    low: np.ndarray
    high: np.ndarray
    samples: np.ndarray
    level: float
    ks: tuple[int, ...]

    def difference(self, first: int, second: int) -> tuple[float, float, float]:
        """Slope of model ``first`` minus slope of model ``second`` and its paired bootstrap
        interval: (difference, low, high)."""
        low, high = percentile_interval(self.samples[:, first] - self.samples[:, second], self.level)
        return float(self.slope[first] - self.slope[second]), float(low), float(high)

    def trend(self, n_params: ArrayLike) -> tuple[float, float, float]:
        """How the slope grows with model size over the whole ladder: the least-squares
        slope of b on log2 N, accuracy per doubling of k gained per doubling of N, with
        its paired bootstrap interval (the same fit to each resample's slopes):
        (trend, low, high). ``n_params`` holds each model's N, in the ladder's order.

        Raises:
            ValueError: ``n_params`` not one positive size per model, or fewer than two
                distinct sizes.
        """
        sizes = positive_finite_array("n_params", n_params)
        if sizes.shape != self.slope.shape:
            raise ValueError(f"n_params must hold one size per model ({self.slope.size}), got {sizes.size}")
        if np.unique(sizes).size < 2:
            raise ValueError("n_params must hold at least two distinct sizes")
        x = np.log2(sizes)
        weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
        low, high = percentile_interval(self.samples @ weights, self.level)
        return float(self.slope @ weights), float(low), float(high)


def few_shot_slopes(
    ladder: Sequence[FewShotOutcomes], *, n_bootstrap: int = 400, level: float = 0.9, seed: int = 0
) -> FewShotSlopes:
    """The slope of mean accuracy (over tasks, seeds and prompts) on log2(k), k >= 1 (at
    least three values), of each model in ``ladder``, with intervals from a two-level
    bootstrap: each resample draws the prompts with replacement (the same draw for every
    model, since every model answered the same prompts, so comparisons are paired; a
    prompt is drawn with its answers at every k and task, which keeps their correlation)
    and, for each model, its seeds with replacement."""
    if not ladder:
        raise ValueError("ladder must hold at least one model's FewShotOutcomes")
    first = ladder[0]
    for outcomes in ladder:
        if not np.array_equal(outcomes.ks, first.ks) or outcomes.tasks != first.tasks or \
                outcomes.n_prompts != first.n_prompts or outcomes.prompt_seed != first.prompt_seed:
            raise ValueError("every model of the ladder must have been scored on the same ks, tasks and prompts "
                             "(the same prompt seed)")
    keep = first.ks >= 1
    if keep.sum() < 3:
        raise ValueError(f"few_shot_slopes needs at least 3 values of k >= 1, got {int(keep.sum())}")
    n_bootstrap, level = positive_int("n_bootstrap", n_bootstrap), fraction("level", level)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    prompts = first.n_prompts
    prompt_weights = rng.multinomial(prompts, np.full(prompts, 1 / prompts), size=n_bootstrap)  # (B, P)
    x = np.log2(first.ks[keep].astype(float))
    centred = (x - x.mean()) / np.sum((x - x.mean()) ** 2)

    def slope_of(accuracy: np.ndarray) -> np.ndarray:  # (..., n_k) -> (...)
        return accuracy @ centred

    slopes, samples = [], []
    for outcomes in ladder:
        right = outcomes.correct[:, :, keep, :].sum(axis=1).astype(float)  # (S, K, P): tasks right per prompt
        n_seeds, per_cell = right.shape[0], len(outcomes.tasks) * prompts
        seed_weights = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_bootstrap)  # (B, S)
        resampled = np.einsum("skp,bp,bs->bk", right, prompt_weights, seed_weights) / (n_seeds * per_cell)
        slopes.append(float(slope_of(right.sum(axis=(0, 2)) / (n_seeds * per_cell))))
        samples.append(slope_of(resampled))
    samples_array = np.stack(samples, axis=1)
    low, high = percentile_interval(samples_array, level)
    return FewShotSlopes(np.array(slopes), np.asarray(low), np.asarray(high), samples_array, level,
                         tuple(int(k) for k in first.ks[keep]))
