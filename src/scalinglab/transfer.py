"""Transfer: what pre-training is worth in fine-tuning data (Hernandez et al. 2021).

A model pre-trained on one distribution (text) and fine-tuned on ``D_F`` tokens of
another (code) reaches some loss on the second. The **effective data** ``D_E`` is the
number of fine-tuning-distribution tokens a model of the same size trained from scratch
needs to reach that loss; the **effective data transferred** is ``D_T = D_E - D_F``,
what pre-training was worth in tokens of the new task. Hernandez et al. fit
``D_T = k D_F^alpha N^beta``: transfer grows with model size and, more slowly than
one for one, with the fine-tuning data (:func:`scalinglab.fit.fit_transfer_law` fits it).

Both losses are *early-stopped* (the least validation loss of a run,
``RunResult.best_val_loss_nats``), since small fine-tuning sets are seen for many epochs.
:func:`transfer_by_size` reads a store of fine-tuned and from-scratch runs, each data size
at several learning rates, into D_T per size at each point's best rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from ._checks import positive_finite_array, positive_int, same_length
from .corpora import CorpusConfig, make_corpus
from .protocol import learning_rate_scan, scan_key
from .results import RunTable
from .runs import TrainConfig


def fine_tuning_config(
    config: TrainConfig,
    fine_tuning_tokens: int,
    *,
    pretrain_corpus: CorpusConfig | None = None,
    pretrain_tokens: int | None = None,
) -> TrainConfig:
    """``config`` trained on only the first ``fine_tuning_tokens`` of its corpus's training
    split (repeated as the budget needs), after pre-training on ``pretrain_corpus`` for
    ``pretrain_tokens`` tokens when they are given (from scratch otherwise).

    Raises ``ValueError`` naming ``fine_tuning_tokens`` when it exceeds the training
    tokens the corpus has.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    positive_int("fine_tuning_tokens", fine_tuning_tokens)
    available = len(make_corpus(config.corpus).train_tokens)
    if fine_tuning_tokens > available:
        raise ValueError(
            f"fine_tuning_tokens must be at most the {available:,} training tokens of the "
            f"{config.corpus.kind!r} corpus, got {fine_tuning_tokens:,}"
        )
    return replace(
        config, unique_tokens=fine_tuning_tokens, pretrain_corpus=pretrain_corpus, pretrain_tokens=pretrain_tokens
    )


def effective_data_tokens(
    scratch_tokens: ArrayLike, scratch_loss_nats: ArrayLike, fine_tuned_loss_nats: ArrayLike
) -> np.ndarray:
    """``D_E``: the from-scratch data that reaches each fine-tuned loss, in tokens.

    The from-scratch curve (loss of models trained from scratch on ``scratch_tokens``
    tokens, one model size) is made non-increasing in D (a running minimum: with early
    stopping, more data cannot hurt, so a rise is noise) and interpolated linearly in
    log D (on a power law plus constant sampled every factor of 4 in D, the interpolated
    D_E is within 10% of the exact one). A loss outside the curve's range (better than the most data reached, or worse
    than the least) gives NaN: the effective data is then only known to lie beyond the
    measured range.
    """
    tokens = positive_finite_array("scratch_tokens", scratch_tokens)
    losses = positive_finite_array("scratch_loss_nats", scratch_loss_nats)
    same_length(scratch_tokens=tokens, scratch_loss_nats=losses)
    if len(np.unique(tokens)) != len(tokens) or len(tokens) < 2:
        raise ValueError(f"scratch_tokens must hold at least 2 distinct sizes, got {tokens.tolist()}")
    targets = positive_finite_array("fine_tuned_loss_nats", np.atleast_1d(fine_tuned_loss_nats))
    order = np.argsort(tokens)
    log_tokens, curve = np.log(tokens[order]), np.minimum.accumulate(losses[order])
    # np.interp wants increasing x: loss falls with D, so read the curve backwards
    log_effective = np.interp(targets, curve[::-1], log_tokens[::-1], left=np.nan, right=np.nan)
    inside = (targets >= curve[-1]) & (targets <= curve[0])
    return np.where(inside, np.exp(log_effective), np.nan)


def effective_data_transferred(
    scratch_tokens: ArrayLike,
    scratch_loss_nats: ArrayLike,
    fine_tuning_tokens: ArrayLike,
    fine_tuned_loss_nats: ArrayLike,
) -> np.ndarray:
    """``D_T = D_E - D_F`` for each fine-tuned run (tokens; NaN where ``D_E`` is out of range).

    ``fine_tuning_tokens`` (D_F) and ``fine_tuned_loss_nats`` describe the pre-trained,
    then fine-tuned runs of one model size; the scratch curve the same size's runs from
    scratch (see :func:`effective_data_tokens`). Negative values mean pre-training hurt.
    """
    fine_tuning = positive_finite_array("fine_tuning_tokens", np.atleast_1d(fine_tuning_tokens))
    fine_tuned = positive_finite_array("fine_tuned_loss_nats", np.atleast_1d(fine_tuned_loss_nats))
    same_length(fine_tuning_tokens=fine_tuning, fine_tuned_loss_nats=fine_tuned)
    return effective_data_tokens(scratch_tokens, scratch_loss_nats, fine_tuned) - fine_tuning


@dataclass(frozen=True)
class TransferBySize:
    """One model size's transfer, from a store of fine-tuned and from-scratch runs.

    Every (kind, data) pair may hold runs at several learning rates: each keeps its best
    (least early-stopped loss), and ``*_lr_interior`` says whether that rate lies inside
    the rates tried (False: the best may lie beyond them, or only one rate was tried).

    Attributes:
        n_params, d_model: the size.
        scratch_tokens: D of each from-scratch point (its unique tokens; a run on the
            whole corpus counts its training tokens).
        scratch_loss_nats, scratch_lr, scratch_lr_interior: its early-stopped loss, best
            lr, and whether that lr is interior.
        scratch_n_seeds: how many seeds each from-scratch loss is the mean of.
        fine_tuning_tokens: D_F of each fine-tuned point.
        fine_tuned_loss_nats, fine_tuned_lr, fine_tuned_lr_interior, fine_tuned_n_seeds:
            likewise.
        best_at_fraction: where in its run each fine-tuned point's best evaluation came,
            as a fraction of the run's tokens, the earliest over its seeds (a best inside
            the warm-up is transfer without fine-tuning).
        fine_tuned_warmup_fraction: the warm-up of each fine-tuned point's best run, as a
            fraction of its steps (so of its tokens: every step is one batch).
        transferred_tokens: D_T of each fine-tuned point
            (:func:`effective_data_transferred`; NaN outside the scratch curve).
    """

    n_params: int
    d_model: int
    scratch_tokens: np.ndarray
    scratch_loss_nats: np.ndarray
    scratch_lr: np.ndarray
    scratch_lr_interior: np.ndarray
    scratch_n_seeds: np.ndarray
    fine_tuning_tokens: np.ndarray
    fine_tuned_loss_nats: np.ndarray
    fine_tuned_lr: np.ndarray
    fine_tuned_lr_interior: np.ndarray
    fine_tuned_n_seeds: np.ndarray
    best_at_fraction: np.ndarray
    fine_tuned_warmup_fraction: np.ndarray
    transferred_tokens: np.ndarray


TRANSFER_POINT = ("config.model", "config.pretrain_corpus", "config.unique_tokens", "config.tokens")
"""Columns whose values identify one point of a transfer store (its runs differ only in lr
and seed)."""


def _point_key(run) -> str:
    return scan_key(tuple(run.value(column) for column in TRANSFER_POINT))


def _scan_seeds_only(table: RunTable) -> RunTable:
    """The runs of ``table`` whose seed every rate of their point has: the runs a point's
    learning-rate scan is judged on. A seed recorded at the best rate alone (a replicate,
    after the scan) would otherwise weigh on that rate's mean and not on the others'."""
    seeds: dict[str, dict[float, set[int]]] = {}
    for run in table:
        seeds.setdefault(_point_key(run), {}).setdefault(run.result.config.lr, set()).add(run.result.config.seed)
    common = {key: set.intersection(*by_lr.values()) for key, by_lr in seeds.items()}
    return table.filter(lambda run: run.result.config.seed in common[_point_key(run)])


def _points(table: RunTable, seed: int | None) -> list[tuple[float, float, float, bool, float, float, int]]:
    """(D, early-stopped loss, best lr, lr interior, best-at fraction, warm-up fraction,
    seeds) for each point of ``table`` (one size, one kind), smallest D first; D is a run's
    unique tokens, or its training tokens when it sees its corpus's tokens once.

    The best lr is judged on the seeds every rate has (:func:`_scan_seeds_only`); the loss
    is the mean over every seed at that rate (``seed`` None) or that seed's alone (a point
    without it is left out). The best-at fraction is the earliest of those seeds' bests.
    """
    runs_of: dict[str, list] = {}
    for run in table:
        runs_of.setdefault(_point_key(run), []).append(run.result)
    points = []
    for key, scan in learning_rate_scan(_scan_seeds_only(table), TRANSFER_POINT,
                                        loss="result.best_val_loss_nats").items():
        _, _, unique, tokens = scan.key
        at_best = [run for run in runs_of[key]
                   if run.config.lr == scan.best_lr and (seed is None or run.config.seed == seed)]
        if not at_best:
            continue
        at = min(run.val_tokens[int(np.argmin(run.val_loss_nats))] / run.tokens for run in at_best)
        points.append((float(unique or tokens), float(np.mean([run.best_val_loss_nats for run in at_best])),
                       scan.best_lr, scan.interior, at, at_best[0].config.warmup_fraction, len(at_best)))
    return sorted(points)


def transfer_seeds(table: RunTable) -> tuple[int, ...]:
    """The seeds of ``table``'s runs, smallest first (each a replicate of the whole
    measurement, pre-training included: the pre-training's seed is the run's)."""
    if not isinstance(table, RunTable):
        raise ValueError(f"table must be a RunTable (load_table), got {type(table).__name__}")
    return tuple(sorted({int(seed) for seed in table.column("config.seed")}))


def transfer_by_size(table: RunTable, seed: int | None = None) -> dict[int, TransferBySize]:
    """The fine-tuned and from-scratch points of each model size of ``table`` (non-embedding
    parameters, smallest first), each at its best lr by the early-stopped loss
    (:func:`scalinglab.protocol.learning_rate_scan` over the runs of one point, on the
    seeds every rate has), with the transfer D_T.

    With ``seed`` None each point's loss is the mean over the seeds recorded at its best
    rate (``*_n_seeds`` counts them); with a seed, that seed's run alone, so that D_T can
    be measured once per replicate (points without that seed are left out).

    A size needs from-scratch runs at two data sizes or more for D_T; without them its
    ``transferred_tokens`` are NaN.
    """
    if not isinstance(table, RunTable):
        raise ValueError(f"table must be a RunTable (load_table), got {type(table).__name__}")
    if not len(table):
        raise ValueError("table must hold at least one run")
    if seed is not None and seed not in (known := transfer_seeds(table)):
        raise ValueError(f"seed must be one of the table's seeds {known}, got {seed!r}")
    found = {}
    for n_params, runs in table.group_by("result.n_params").items():
        scratch = _points(runs.filter(lambda run: run.result.config.pretrain_corpus is None), seed)
        fine = _points(runs.filter(lambda run: run.result.config.pretrain_corpus is not None), seed)
        s_tokens, s_loss, s_lr, s_interior, _, _, s_seeds = (np.array(column) for column in zip(*scratch)) \
            if scratch else (np.array([]),) * 7
        f_tokens, f_loss, f_lr, f_interior, f_at, f_warmup, f_seeds = (np.array(column) for column in zip(*fine)) \
            if fine else (np.array([]),) * 7
        transferred = effective_data_transferred(s_tokens, s_loss, f_tokens, f_loss) \
            if len(scratch) >= 2 and fine else np.full(len(fine), np.nan)
        found[int(n_params)] = TransferBySize(
            n_params=int(n_params), d_model=int(runs.results[0].config.model.d_model),
            scratch_tokens=s_tokens.astype(float), scratch_loss_nats=s_loss.astype(float),
            scratch_lr=s_lr.astype(float), scratch_lr_interior=s_interior.astype(bool),
            scratch_n_seeds=s_seeds.astype(int),
            fine_tuning_tokens=f_tokens.astype(float), fine_tuned_loss_nats=f_loss.astype(float),
            fine_tuned_lr=f_lr.astype(float), fine_tuned_lr_interior=f_interior.astype(bool),
            fine_tuned_n_seeds=f_seeds.astype(int),
            best_at_fraction=f_at.astype(float), fine_tuned_warmup_fraction=f_warmup.astype(float),
            transferred_tokens=np.asarray(transferred, dtype=float),
        )
    return found


@dataclass(frozen=True)
class TransferLawPoints:
    """The points a transfer law is fitted to: every fine-tuned point whose best came after
    its warm-up, with the size's from-scratch curve to measure D_T.

    Attributes:
        fine_tuning_tokens, n_params, transferred_tokens: D_F, N and D_T of each point
            (D_T NaN where the fine-tuned loss lies outside the scratch curve).
        in_warmup: fine-tuned points left out because their best came inside the warm-up.
    """

    fine_tuning_tokens: np.ndarray
    n_params: np.ndarray
    transferred_tokens: np.ndarray
    in_warmup: int


def transfer_law_points(sizes: dict[int, TransferBySize], warmup_fraction: float | None = None) -> TransferLawPoints:
    """The points of ``sizes`` (:func:`transfer_by_size`) for ``D_T = k D_F^alpha N^beta``.

    A fine-tuned point whose best evaluation came at or before the end of its run's warm-up
    (``fine_tuned_warmup_fraction``, or ``warmup_fraction`` of every run when given) is
    left out: it measures what the pre-trained model knew before fine-tuning had begun
    (zero-shot transfer), not transfer by fine-tuning. Sizes without two from-scratch
    points give no D_T and are left out too.
    """
    if warmup_fraction is not None:
        warmup_fraction = float(warmup_fraction)
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
    d_f, n, d_t, in_warmup = [], [], [], 0
    for size in sizes.values():
        if size.scratch_tokens.size < 2:
            continue
        warmup = size.fine_tuned_warmup_fraction if warmup_fraction is None else warmup_fraction
        fine_tuned = size.best_at_fraction > warmup
        in_warmup += int((~fine_tuned).sum())
        d_f += size.fine_tuning_tokens[fine_tuned].tolist()
        d_t += size.transferred_tokens[fine_tuned].tolist()
        n += [size.n_params] * int(fine_tuned.sum())
    return TransferLawPoints(np.array(d_f, dtype=float), np.array(n, dtype=float), np.array(d_t, dtype=float),
                             in_warmup)

def describe_transfer_scans(table: RunTable) -> str:
    """One line per point of a transfer store (a size, fine-tuned or from scratch, a D):
    its width d_model and non-embedding parameters N, each lr tried with its early-stopped
    loss (nats/token; on the seeds every rate has), the best lr, flagged when it sits at
    the edge of the rates tried, and how many seeds were recorded at it."""
    lines = []
    scans = learning_rate_scan(_scan_seeds_only(table), TRANSFER_POINT, loss="result.best_val_loss_nats").values()
    n_of = {run.result.config.model: run.result.n_params for run in table}
    seeds_at: dict[tuple[str, float], set[int]] = {}
    for run in table:
        seeds_at.setdefault((_point_key(run), run.result.config.lr), set()).add(run.result.config.seed)

    def order(scan):
        model, pretrain, unique, tokens = scan.key
        return n_of[model], pretrain is None, unique or tokens

    for scan in sorted(scans, key=order):
        model, pretrain, unique, tokens = scan.key
        kind = "fine-tuned" if pretrain is not None else "scratch"
        losses = "  ".join(f"{lr:.3g}: {loss:.3f}" for lr, loss in zip(scan.lrs, scan.losses_nats))
        edge = "" if scan.interior else "  (edge)"
        n_seeds = len(seeds_at[(scan_key(scan.key), scan.best_lr)])
        lines.append(f"d_model {model.d_model:>3d}  N = {n_of[model]:>7,}  {kind:10s}  D = {unique or tokens:>9,}  "
                     f"{losses}  best {scan.best_lr:.3g}{edge}, {n_seeds} seed{'s' if n_seeds > 1 else ''}")
    return "\n".join(lines)
