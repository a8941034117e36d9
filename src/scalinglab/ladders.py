"""Comparing ladders of models: the parameter factor between two architectures at equal loss,
and the tokens each size needs to reach a loss (no torch needed).

A *ladder* is one architecture's runs at several sizes, each at its own best learning rate
(:func:`best_runs` keeps those of a learning-rate scan). Two ladders trained alike are
compared at equal loss: where a GPT of N_G non-embedding parameters reaches loss L, the
LSTM ladder reaches L at N_L(L), read by straight-line interpolation of log N against log L
between the two LSTM sizes around L (:func:`matched_size`), and

    parameter factor = N_L(L) / N_G                       (Kaplan et al. 2020, fig. 7: 5-10x)

is how many times more parameters the LSTM needs for the GPT's loss. A GPT loss outside the
LSTM ladder's range has no factor (NaN): an extrapolation would be a guess. When every run
was measured by the ``"context_windows"`` probe on the same windows,
:func:`parameter_factor_interval` resamples the evaluation documents, paired across all
runs, and the seeds of each size, for an interval that holds both the evaluation's sampling
error and the spread between seeds. When every run of one ladder beats every run of the other
the factor has only a bound (:func:`factor_bound`).

Sample efficiency (Kaplan et al. 2020, fig. 2): the tokens a run took to first reach a fixed
loss, read off its learning curve (:func:`scalinglab.fit.tokens_to_reach`), against its size:
larger models reach a loss in fewer tokens when the slope of log D(L) on log N is negative
(:func:`tokens_to_loss_slope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._checks import fraction, positive_finite_array, same_length
from .fit import loglog_line, tokens_to_reach
from .icl import ContextWindows, FewShotOutcomes, document_resample_weights, paired_windows, percentile_interval
from .protocol import LR_MATCH, learning_rate_scan, scan_key
from .results import RunTable


def best_runs(table: RunTable) -> RunTable:
    """The runs of ``table`` at the best learning rate of each scan (one model at one batch
    size, :func:`scalinglab.protocol.learning_rate_scan`), every seed of it kept."""
    scans = learning_rate_scan(table)
    return table.filter(lambda run: run.value("config.lr") == scans[
        scan_key([run.value(column) for column in LR_MATCH])].best_lr)


def _ladder(n_params: ArrayLike, loss_nats: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    n, loss = positive_finite_array("n_params", n_params), positive_finite_array("loss_nats", loss_nats)
    same_length(n_params=n, loss_nats=loss)
    if len(np.unique(n)) != len(n) or len(n) < 2:
        raise ValueError("n_params must hold at least two distinct sizes, each once (average seeds first)")
    order = np.argsort(n)
    return n[order], loss[order]


def matched_size(n_params: ArrayLike, loss_nats: ArrayLike, target_loss_nats: ArrayLike) -> np.ndarray:
    """The size at which a ladder reaches each ``target_loss_nats``: log N interpolated
    linearly in log L between the first pair of neighbouring sizes (smallest first) whose
    losses bracket the target; NaN where none does (the target lies outside the ladder)."""
    n, loss = _ladder(n_params, loss_nats)
    targets = positive_finite_array("target_loss_nats", np.atleast_1d(np.asarray(target_loss_nats, dtype=float)))
    found = np.full(targets.shape, np.nan)
    log_n, log_l = np.log(n), np.log(loss)
    for i in range(len(n) - 1):
        low, high = sorted((log_l[i], log_l[i + 1]))
        log_t = np.log(targets)
        inside = np.isnan(found) & (log_t >= low) & (log_t <= high) & (log_l[i] != log_l[i + 1])
        share = (log_t - log_l[i]) / (log_l[i + 1] - log_l[i]) if log_l[i] != log_l[i + 1] else 0.0
        found = np.where(inside, np.exp(log_n[i] + share * (log_n[i + 1] - log_n[i])), found)
    return found


def parameter_factor(
    n_params: ArrayLike, loss_nats: ArrayLike, other_n_params: ArrayLike, other_loss_nats: ArrayLike
) -> np.ndarray:
    """For each size of the first ladder (in the order given), N_other(L) / N: how many times
    its parameters the other ladder needs for the same loss (NaN where that loss is outside
    the other ladder)."""
    n, loss = positive_finite_array("n_params", n_params), positive_finite_array("loss_nats", loss_nats)
    same_length(n_params=n, loss_nats=loss)
    return matched_size(other_n_params, other_loss_nats, loss) / n


@dataclass(frozen=True)
class SlopeInLogs:
    """A straight line in log-log axes with a Student-t interval on its slope
    (:func:`tokens_to_loss_slope`).

    Attributes:
        slope: d log y / d log x.
        low, high: the slope's interval at ``level``.
        intercept: log y at log x = 0.
        n_points: the points fitted.
    """

    slope: float
    low: float
    high: float
    level: float
    intercept: float
    n_points: int


def tokens_to_loss(table: RunTable, target_loss_nats: float) -> np.ndarray:
    """For each run of ``table``, the training tokens at which its validation curve first
    reaches ``target_loss_nats`` (NaN for a run that never does, or does at its first evaluation)."""
    return np.array([tokens_to_reach(run.result.val_tokens, run.result.val_loss_nats, target_loss_nats)
                     for run in table])


def tokens_to_loss_slope(
    n_params: ArrayLike, tokens: ArrayLike, *, level: float = 0.9
) -> SlopeInLogs:
    """The slope of log(tokens to reach a loss) on log N, with its Student-t interval (at
    least three sizes; NaN tokens are left out). Negative: larger models need fewer tokens."""
    n, tokens = positive_finite_array("n_params", n_params), np.asarray(tokens, dtype=float)
    same_length(n_params=n, tokens=tokens)
    keep = np.isfinite(tokens) & (tokens > 0)
    if len(np.unique(n[keep])) < 3:
        raise ValueError(f"tokens_to_loss_slope needs at least 3 sizes that reach the loss, got {len(np.unique(n[keep]))}")
    level = fraction("level", level)
    slope, intercept, (low, high) = loglog_line(np.log(n[keep]), np.log(tokens[keep]), level)
    return SlopeInLogs(slope, low, high, level, intercept, int(keep.sum()))


def ladder_seed_windows(table: RunTable, arch: str) -> tuple[np.ndarray, list[list[ContextWindows]]]:
    """The ``arch`` ladder of ``table`` at its best learning rates (:func:`best_runs`): sizes
    (non-embedding parameters, increasing) and, for each size, the :class:`ContextWindows` of
    each of its seeds (all on the same windows). ``ValueError`` when a run lacks the probe."""
    runs = best_runs(table).filter(lambda run: run.result.config.model.arch == arch)
    sizes, measured = [], []
    for size, group in sorted(runs.group_by("result.n_params").items()):
        probes = [run.result.probes.get("context_windows") for run in group]
        if any(probe is None for probe in probes):
            raise ValueError(f"the {arch} runs of {size:,} parameters lack the context_windows probe")
        seeds = [ContextWindows.from_probe(probe) for probe in probes]
        paired_windows(seeds)
        sizes.append(float(size))
        measured.append(seeds)
    return np.array(sizes), measured


def mean_over_seeds(seeds: Sequence[ContextWindows]) -> ContextWindows:
    """One size's :class:`ContextWindows` with each window's losses averaged over its seeds."""
    first = seeds[0]
    mean = np.mean([w.window_bin_loss_nats for w in seeds], axis=0)
    return ContextWindows(first.bin_firsts, first.bin_lasts, mean, first.window_document)


def ladder_windows(table: RunTable, arch: str) -> tuple[np.ndarray, list[ContextWindows]]:
    """:func:`ladder_seed_windows` with each size's window losses averaged over its seeds."""
    sizes, seeds = ladder_seed_windows(table, arch)
    return sizes, [mean_over_seeds(s) for s in seeds]


@dataclass(frozen=True)
class FactorBound:
    """The parameter factor when no loss of one ladder lies inside the other's range
    (:func:`factor_bound`).

    Attributes:
        value: the bound on N_other(L) / N that holds at every size of the first ladder.
        at_most: True when the other ladder wins everywhere (every run of it beats every
            run of the first: the factor is at most ``value``); False when the first
            ladder wins everywhere (the factor is at least ``value``).
    """

    value: float
    at_most: bool


def factor_bound(
    n_params: ArrayLike, loss_nats: ArrayLike, other_n_params: ArrayLike, other_loss_nats: ArrayLike
) -> FactorBound | None:
    """The bound on the parameter factor when one ladder beats the other everywhere.

    * Every run of the other ladder beats every run of the first (its worst loss below the
      first's best): at each size N of the first ladder the other needs at most
      N_other,min / N parameters; the bound returned is the largest, at the first ladder's
      smallest size.
    * Every run of the first beats every run of the other: the other needs more than
      N_other,max / N; the bound returned is the smallest, at the first ladder's largest size.

    ``None`` otherwise: the ranges overlap, and :func:`parameter_factor` measures the
    factor wherever a loss of the first ladder lies inside the other's range.
    """
    n, loss = _ladder(n_params, loss_nats)
    other_n, other_loss = _ladder(other_n_params, other_loss_nats)
    if other_loss.max() < loss.min():
        return FactorBound(float(other_n.min() / n.min()), at_most=True)
    if loss.max() < other_loss.min():
        return FactorBound(float(other_n.max() / n.max()), at_most=False)
    return None


@dataclass(frozen=True)
class FactorInterval:
    """:func:`parameter_factor` with intervals over the evaluation documents and the seeds.

    Attributes:
        factor: N_other(L) / N at each size of the first ladder (NaN outside the other ladder).
        low, high: each factor's interval at ``level`` (NaN where the factor is).
        geometric_mean, mean_low, mean_high: the geometric mean of the finite factors and its
            interval (each resample averages the same sizes).
        n_censored: resamples in which at least one of those sizes' losses fell outside the
            other ladder. Such a factor is censored, not dropped: 0 when the loss lies above
            every loss of the other ladder (the factor is below N_other,min / N), infinite
            when below (above N_other,max / N); so an interval near the ladder's edge widens
            to 0 or to infinity instead of shrinking to the resamples that stayed inside.
        n_undecided: resamples whose geometric mean holds both a 0 and an infinity, left
            out of its interval.

    With few seeds the seed level of the bootstrap is coarse (two seeds give three
    distinct draws) and understates the spread between seeds by a factor (S - 1) / S
    in variance.
    """

    factor: np.ndarray
    low: np.ndarray
    high: np.ndarray
    geometric_mean: float
    mean_low: float
    mean_high: float
    level: float
    n_censored: int
    n_undecided: int


def _censored_factor(n: np.ndarray, loss: np.ndarray, other_n: np.ndarray, other_loss: np.ndarray) -> np.ndarray:
    factor = parameter_factor(n, loss, other_n, other_loss)
    factor = np.where(np.isnan(factor) & (loss > other_loss.max()), 0.0, factor)
    return np.where(np.isnan(factor) & (loss < other_loss.min()), np.inf, factor)


def _as_seeds(ladder: Sequence[ContextWindows | Sequence[ContextWindows]]) -> list[list[ContextWindows]]:
    return [[size] if isinstance(size, ContextWindows) else list(size) for size in ladder]


def parameter_factor_interval(
    n_params: ArrayLike,
    windows: Sequence[ContextWindows | Sequence[ContextWindows]],
    other_n_params: ArrayLike,
    other_windows: Sequence[ContextWindows | Sequence[ContextWindows]],
    *, n_bootstrap: int = 400, level: float = 0.9, seed: int = 0,
) -> FactorInterval:
    """:func:`parameter_factor` of two ladders whose runs were all measured on the same
    windows, each size's loss the mean over its windows and its seeds (one
    :class:`ContextWindows` per size, or a list of its seeds' as :func:`ladder_seed_windows`
    gives), with intervals from a two-level bootstrap: each resample draws the evaluation
    documents (the same draw for every run: the comparison is paired) and, for every size,
    its seeds with replacement, so the interval holds the evaluation's sampling error and
    the spread between seeds. A resample whose loss leaves the other ladder is censored
    (see :class:`FactorInterval`)."""
    level = fraction("level", level)
    mine, other = _as_seeds(windows), _as_seeds(other_windows)
    documents = paired_windows([w for seeds in mine + other for w in seeds])
    weights = document_resample_weights(documents, n_bootstrap, seed)
    rng = np.random.default_rng([seed, 1])

    def losses(ladder: list[list[ContextWindows]]) -> np.ndarray:  # (1 + B, n_sizes)
        columns = []
        for seeds in ladder:
            per_seed = np.stack([w.window_loss_nats for w in seeds])  # (n_seeds, n_windows)
            drawn = per_seed[rng.integers(len(seeds), size=(n_bootstrap, len(seeds)))].mean(axis=1)
            resampled = np.sum(weights * drawn, axis=1) / weights.sum(axis=1)
            columns.append(np.concatenate([[per_seed.mean()], resampled]))
        return np.stack(columns, axis=1)

    n, other_n = positive_finite_array("n_params", n_params), positive_finite_array("other_n_params", other_n_params)
    same_length(n_params=n, windows=np.arange(len(mine)))
    same_length(other_n_params=other_n, other_windows=np.arange(len(other)))
    mine_loss, other_loss = losses(mine), losses(other)
    factors = np.array([_censored_factor(n, a, other_n, b) for a, b in zip(mine_loss, other_loss)])
    finite = np.isfinite(factors[0]) & (factors[0] > 0)
    if not finite.any():
        raise ValueError("no loss of the first ladder lies inside the other ladder's range: no factor to measure "
                         "(factor_bound gives a bound when one ladder beats the other everywhere)")
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.exp(np.mean(np.log(factors[:, finite]), axis=1))
    low, high = np.full(len(finite), np.nan), np.full(len(finite), np.nan)
    for i in np.flatnonzero(finite):
        low[i], high[i] = percentile_interval(factors[1:, i], level, exact_order=True)
    resampled = factors[1:, finite]
    censored = ~np.isfinite(resampled) | (resampled == 0)
    mean_low, mean_high = percentile_interval(means[1:], level, exact_order=True)
    return FactorInterval(np.where(finite, factors[0], np.nan), low, high, float(means[0]), mean_low, mean_high, level,
                          int(censored.any(axis=1).sum()), int(np.isnan(means[1:]).sum()))


def few_shot_ladder(table: RunTable, arch: str = "gpt", *, with_description: bool = False
                    ) -> tuple[np.ndarray, list[FewShotOutcomes]]:
    """The ``arch`` runs of ``table`` with the ``"few_shot"`` probe, at the best learning rate of
    each scan (:func:`best_runs`): sizes (non-embedding parameters,
    increasing) and each size's :class:`scalinglab.icl.FewShotOutcomes` over its seeds."""
    runs = best_runs(table).filter(lambda run: run.result.config.model.arch == arch and "few_shot" in run.result.probes)
    sizes = sorted(runs.group_by("result.n_params").items())
    return (np.array([float(n) for n, _ in sizes]),
            [FewShotOutcomes.from_probes([r.probes["few_shot"] for r in group.results],
                                         with_description=with_description) for _, group in sizes])
