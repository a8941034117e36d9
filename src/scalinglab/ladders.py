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
runs, for an interval (it holds the evaluation's sampling error, not the seed-to-seed spread
of training, which the seeds of a ladder show).

Sample efficiency (Kaplan et al. 2020, fig. 2): the tokens a run took to first reach a fixed
loss, read off its learning curve (:func:`scalinglab.fit.tokens_to_reach`), against its size:
larger models reach a loss in fewer tokens when the slope of log D(L) on log N is negative
(:func:`tokens_to_loss_slope`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._checks import fraction, positive_finite_array, same_length
from .fit import loglog_line, tokens_to_reach
from .icl import ContextWindows, document_resample_weights, paired_windows, percentile_interval
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


def ladder_windows(table: RunTable, arch: str) -> tuple[np.ndarray, list[ContextWindows]]:
    """The ``arch`` ladder of ``table`` at its best learning rates (:func:`best_runs`): sizes
    (non-embedding parameters, increasing) and each size's :class:`ContextWindows`, the
    window losses averaged over its seeds. ``ValueError`` when a run lacks the probe."""
    runs = best_runs(table).filter(lambda run: run.result.config.model.arch == arch)
    sizes, measured = [], []
    for size, group in sorted(runs.group_by("result.n_params").items()):
        probes = [run.result.probes.get("context_windows") for run in group]
        if any(probe is None for probe in probes):
            raise ValueError(f"the {arch} runs of {size:,} parameters lack the context_windows probe")
        seeds = [ContextWindows.from_probe(probe) for probe in probes]
        paired_windows(seeds)
        mean = np.mean([w.window_bin_loss_nats for w in seeds], axis=0)
        sizes.append(float(size))
        measured.append(ContextWindows(seeds[0].bin_firsts, seeds[0].bin_lasts, mean, seeds[0].window_document))
    return np.array(sizes), measured


@dataclass(frozen=True)
class FactorInterval:
    """:func:`parameter_factor` with intervals over the evaluation documents.

    Attributes:
        factor: N_other(L) / N at each size of the first ladder (NaN outside the other ladder).
        low, high: each factor's interval at ``level`` (NaN where the factor is).
        geometric_mean, mean_low, mean_high: the geometric mean of the finite factors and its
            interval (each resample averages the same sizes; a resample where one of them
            falls outside the other ladder is left out and counted in ``n_dropped``, which
            biases the interval when it is more than a few: the resamples left out are those
            at the ladder's edge).
        n_kept, n_dropped: the resamples of the geometric mean kept and left out.
    """

    factor: np.ndarray
    low: np.ndarray
    high: np.ndarray
    geometric_mean: float
    mean_low: float
    mean_high: float
    level: float
    n_kept: int
    n_dropped: int


def parameter_factor_interval(
    n_params: ArrayLike, windows: list[ContextWindows], other_n_params: ArrayLike, other_windows: list[ContextWindows],
    *, n_bootstrap: int = 400, level: float = 0.9, seed: int = 0,
) -> FactorInterval:
    """:func:`parameter_factor` of two ladders whose runs were all measured on the same windows,
    each run's loss the mean over its windows, with intervals from resampling the documents
    (the same resample for every run: the comparison is paired)."""
    documents = paired_windows(list(windows) + list(other_windows))
    weights = document_resample_weights(documents, n_bootstrap, seed)

    def losses(ladder: list[ContextWindows]) -> np.ndarray:  # (1 + B, n_sizes)
        per_window = np.stack([w.window_loss_nats for w in ladder], axis=1)
        return np.vstack([per_window.mean(axis=0), weights @ per_window / weights.sum(axis=1, keepdims=True)])

    mine, other = losses(windows), losses(other_windows)
    factors = np.array([parameter_factor(n_params, a, other_n_params, b) for a, b in zip(mine, other)])
    finite = np.isfinite(factors[0])
    if not finite.any():
        raise ValueError("no loss of the first ladder lies inside the other ladder's range: no factor to measure")
    means = np.exp(np.mean(np.log(factors[:, finite]), axis=1))
    kept = np.isfinite(means[1:])
    low, high = np.full(len(finite), np.nan), np.full(len(finite), np.nan)
    for i in np.flatnonzero(finite):  # each size over the resamples where it has a factor
        column = factors[1:, i]
        low[i], high[i] = percentile_interval(column[np.isfinite(column)], level)
    mean_low, mean_high = percentile_interval(means[1:][kept], level)
    return FactorInterval(factors[0], low, high, float(means[0]), float(mean_low), float(mean_high), level,
                          int(kept.sum()), int(np.count_nonzero(~kept)))
