"""The experimental protocol of the recorded sweeps: learning rates, convergence, IsoFLOP coverage.

A scaling law fitted to badly set-up runs measures the set-up, not the law. Three checks
carry most of the weight, and each lives here so that a grid file, a chapter and the
report all apply the same rule (torch-free; it reads recorded stores):

* **A learning rate per size and architecture** (Kaplan et al. 2020, §6; Hoffmann et
  al. 2022, App. D). :func:`learning_rate_scan` groups a scan store's runs by model (and
  batch size) and keeps, for each, the lr of least final validation loss. The best must
  be *interior*: at the smallest or largest value scanned the basin's bottom may lie
  beyond the scan, and :func:`chosen_learning_rate` refuses it. A grid file takes its lr
  from a scan with ``[protocol] lr_from = "STORE"`` (see :mod:`scalinglab.sweep`).
* **Convergence** (:func:`data_slope`): the slope ``d log L / d log D`` between two runs
  of one model trained on D/k and D tokens, each with its own schedule. A run counts as
  converged when the slope is above :data:`CONVERGED_SLOPE`: doubling the data would then
  lower the loss by less than ``1 - 2^CONVERGED_SLOPE``, 1.4%. The slope *within* one run
  (:func:`convergence_slope`, over its last evaluations) is no substitute: under a cosine
  schedule the loss falls fastest at the end, as the learning rate anneals, whether or not
  more data would help.
* **Interior IsoFLOP minima** (:func:`isoflop_coverage`): at each budget, the number of
  sampled sizes on each side of the least loss; a parabola's vertex read off a profile
  whose minimum is at its edge is an extrapolation, so every budget should have at least
  :data:`MIN_SIZES_EACH_SIDE` on each side.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .corpora import CorpusConfig
from .results import RunTable

CONVERGED_SLOPE = -0.02
"""A run whose :func:`data_slope` (against a run of the same model on less data) is above this counts as converged."""

MIN_SIZES_EACH_SIDE = 2
"""Sizes an IsoFLOP profile needs on each side of its minimum for the minimum to count as interior."""

LR_MATCH = ("config.model", "config.batch_size", "config.corpus")
"""Columns whose values identify one learning-rate scan: a model (architecture and shape) at one batch
size on one corpus (a scan store may hold several corpora, as the universality scan does).
:func:`chosen_learning_rate` looks a run's scan up on these exactly, and only when there is none,
on the same corpus but for its size ``n_tokens``, if exactly one scan matches so: a run on a
*generated* corpus of the same kind and settings ("shapes", "arithmetic") draws from the same
distribution whatever its size, and the IsoFLOP runs that take their lr from a scan need larger
corpora, so as not to repeat a token. (A kind read from files in order, such as "docstrings",
holds other documents at another size: give its scan the runs' own size.)"""


@dataclass(frozen=True)
class LearningRateScan:
    """The runs of one model at several learning rates, and the best of them.

    Attributes:
        key: the values of the matched columns (e.g. the model config and batch size).
        lrs: the peak learning rates scanned, increasing.
        losses_nats: each lr's final validation loss (or the column the scan was judged by,
            see :func:`learning_rate_scan`; the mean over seeds), nats/token.
        best_lr: the lr of least loss.
        interior: whether ``best_lr`` is neither the smallest nor the largest lr scanned.
    """

    key: tuple[Any, ...]
    lrs: tuple[float, ...]
    losses_nats: tuple[float, ...]

    @property
    def _best_index(self) -> int:
        """The index of the least loss, a diverged run's (NaN or infinite) counting as the worst."""
        losses = np.asarray(self.losses_nats, dtype=float)
        return int(np.argmin(np.where(np.isfinite(losses), losses, np.inf)))

    @property
    def best_lr(self) -> float:
        """The scanned lr of least final validation loss (a diverged run is never the best)."""
        return self.lrs[self._best_index]

    @property
    def best_loss_nats(self) -> float:
        """The loss at :attr:`best_lr` (nats/token)."""
        return self.losses_nats[self._best_index]

    @property
    def interior(self) -> bool:
        """True when the best lr has a scanned value on each side of it."""
        return 0 < self._best_index < len(self.lrs) - 1


def _key(value: Any) -> str:
    """A hashable, order-independent form of a column's value (configs become sorted JSON)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value) | {"arch": getattr(value, "arch", None)}
    elif isinstance(value, CorpusConfig):
        value = value.to_dict()
    return json.dumps(value, sort_keys=True, default=str)


def learning_rate_scan(
    table: RunTable, match: Sequence[str] = LR_MATCH, *, loss: str = "result.final_val_loss_nats"
) -> dict[str, LearningRateScan]:
    """The learning-rate scans in ``table``: key (JSON of the ``match`` columns) -> scan.

    Runs that agree on every ``match`` column form one scan; runs of one lr (several
    seeds) are averaged. A scan of fewer than two lrs is kept (its ``interior`` is False).
    ``loss`` is the column each run is judged by, in nats/token: the final validation loss,
    or ``"result.best_val_loss_nats"`` for the early-stopped one (the scan's
    ``losses_nats`` then hold it).
    """
    if not match:
        raise ValueError("match must name at least one column")
    if not loss.startswith("result."):
        raise ValueError(f"loss must be a result column (result.*), got {loss!r}")
    groups: dict[str, dict[float, list[float]]] = {}
    keys: dict[str, tuple[Any, ...]] = {}
    for run in table:
        values = tuple(run.value(column) for column in match)
        key = scan_key(values)
        keys[key] = values
        groups.setdefault(key, {}).setdefault(float(run.value("config.lr")), []).append(
            float(run.value(loss))
        )
    scans = {}
    for key, by_lr in groups.items():
        lrs = tuple(sorted(by_lr))
        scans[key] = LearningRateScan(keys[key], lrs, tuple(float(np.mean(by_lr[lr])) for lr in lrs))
    return scans


def at_best_learning_rate(
    table: RunTable, match: Sequence[str] = LR_MATCH, *, loss: str = "result.final_val_loss_nats"
) -> RunTable:
    """The runs of ``table`` at their scan's best learning rate, every seed of it: one scan
    per value of the ``match`` columns, as :func:`learning_rate_scan` makes them (so a
    diverged run is never the best, unless every run of its scan diverged: then the
    lowest rate's runs are kept, NaN losses and all). For a store that scans the rate of
    each size and keeps its runs: the ladder a page draws. Whether each best is interior
    is the scans' ``interior``; check it before trusting the ladder."""
    scans = learning_rate_scan(table, match, loss=loss)

    def at_best(run: Any) -> bool:
        return float(run.value("config.lr")) == scans[scan_key(tuple(run.value(column) for column in match))].best_lr

    return table.filter(at_best)


def _size_free(values: Sequence[Any]) -> str:
    """:func:`scan_key` with every corpus's ``n_tokens`` left out."""
    def without_size(value: Any) -> Any:
        if isinstance(value, CorpusConfig):
            return {key: setting for key, setting in value.to_dict().items() if key != "n_tokens"}
        return value

    return json.dumps([_key(without_size(value)) for value in values])


def scan_key(values: Sequence[Any]) -> str:
    """The key :func:`learning_rate_scan` gives runs whose ``match`` columns hold ``values``."""
    return json.dumps([_key(v) for v in values])


def describe_scans(table: RunTable) -> str:
    """One line per model and corpus of a scan store (:func:`learning_rate_scan` with the
    default match), by corpus kind, architecture and width: its non-embedding parameters N,
    each lr scanned with its final loss (nats/token, the mean over seeds) and the best lr,
    flagged when it sits at the edge of the scan."""
    lines = []
    scans = learning_rate_scan(table).values()
    for scan in sorted(scans, key=lambda scan: (scan.key[2].kind, scan.key[0].arch, scan.key[0].d_model)):
        model, corpus = scan.key[0], scan.key[2]
        n = table.where({"config.model": model}).results[0].n_params
        losses = "  ".join(f"{lr:g}: {loss:.3f}" for lr, loss in zip(scan.lrs, scan.losses_nats))
        edge = "" if scan.interior else "  (at the edge of the scan)"
        lines.append(
            f"{corpus.kind:12s} {model.arch:4s} width {model.d_model:3d}  N = {n:>9,}  {losses}  best {scan.best_lr:g}{edge}"
        )
    return "\n".join(lines)


def chosen_learning_rate(scans: dict[str, LearningRateScan], values: Sequence[Any], *, what: str = "run") -> float:
    """The best lr of the scan whose matched columns hold ``values``.

    Raises:
        ValueError: no scan has these values, or its best lr is at the edge of the values
            scanned (the basin's bottom may lie outside the scan: extend it).
    """
    scan = scans.get(scan_key(values))
    if scan is None:
        sized = [scan for scan in scans.values() if _size_free(scan.key) == _size_free(values)]
        if len(sized) > 1:
            raise ValueError(f"lr_from: {len(sized)} learning-rate scans match {what} on corpora of different "
                             "sizes; scan it on the run's own corpus")
        scan = sized[0] if sized else None
    if scan is None:
        raise ValueError(f"lr_from: the learning-rate scan has no runs for {what} (scanned: {len(scans)} models)")
    if not scan.interior:
        raise ValueError(
            f"lr_from: the best lr for {what} is {scan.best_lr:g}, at the edge of the values scanned "
            f"({', '.join(f'{lr:g}' for lr in scan.lrs)}); extend the scan past it"
        )
    return scan.best_lr


def convergence_slope(tokens: ArrayLike, losses_nats: ArrayLike, *, last_fraction: float = 0.25) -> float:
    """``d log L / d log D`` over the evaluations in the last ``last_fraction`` of training.

    The least-squares slope of log loss on log tokens seen, over the evaluations at
    ``tokens >= (1 - last_fraction) * tokens[-1]`` (at least the last two). 0 for a loss
    that has stopped falling, about ``-alpha_D`` for one still on its data power law.
    """
    tokens, losses = np.asarray(tokens, dtype=float), np.asarray(losses_nats, dtype=float)
    if tokens.shape != losses.shape or tokens.ndim != 1 or len(tokens) < 2:
        raise ValueError("tokens and losses_nats must be 1-d arrays of one length, at least 2")
    if not 0 < last_fraction <= 1:
        raise ValueError(f"last_fraction must be in (0, 1], got {last_fraction!r}")
    if np.any(tokens <= 0):
        raise ValueError("tokens must be positive")
    if np.any(losses <= 0):
        raise ValueError("losses_nats must be positive")
    keep = tokens >= (1 - last_fraction) * tokens[-1]
    keep[-2:] = True
    return float(np.polyfit(np.log(tokens[keep]), np.log(losses[keep]), 1)[0])


def data_slope(tokens_short: float, loss_short_nats: float, tokens_long: float, loss_long_nats: float) -> float:
    """``d log L / d log D`` between two runs of one model, each trained to the end of its
    own schedule: ``log(L_long / L_short) / log(D_long / D_short)``.

    0 for a model that more data no longer helps; about ``-alpha_D`` for one still limited
    by its data.
    """
    values = {"tokens_short": tokens_short, "loss_short_nats": loss_short_nats,
              "tokens_long": tokens_long, "loss_long_nats": loss_long_nats}
    for name, value in values.items():
        if not (isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if not tokens_long > tokens_short:
        raise ValueError(f"tokens_long must exceed tokens_short, got {tokens_long!r} and {tokens_short!r}")
    return float(math.log(loss_long_nats / loss_short_nats) / math.log(tokens_long / tokens_short))


def run_convergence_slope(result: Any, *, last_fraction: float = 0.25) -> float:
    """:func:`convergence_slope` of a :class:`~scalinglab.runs.RunResult`'s validation curve."""
    return convergence_slope(result.val_tokens, result.val_loss_nats, last_fraction=last_fraction)


def is_converged(slope: float) -> bool:
    """Whether a :func:`data_slope` is above :data:`CONVERGED_SLOPE`."""
    return bool(slope > CONVERGED_SLOPE)


@dataclass(frozen=True)
class BudgetCoverage:
    """How an IsoFLOP budget's sampled sizes sit around its least loss.

    Attributes:
        flops: the budget, FLOPs.
        n_params: the sampled sizes, increasing.
        best_index: the index of the size of least loss.
    """

    flops: float
    n_params: tuple[float, ...]
    best_index: int

    @property
    def below(self) -> int:
        """Sampled sizes smaller than the best one."""
        return self.best_index

    @property
    def above(self) -> int:
        """Sampled sizes larger than the best one."""
        return len(self.n_params) - 1 - self.best_index

    @property
    def interior(self) -> bool:
        """At least :data:`MIN_SIZES_EACH_SIDE` sizes on each side of the best."""
        return min(self.below, self.above) >= MIN_SIZES_EACH_SIDE


def isoflop_coverage(flops: ArrayLike, n_params: ArrayLike, losses_nats: ArrayLike, *, rtol: float = 0.01) -> list[BudgetCoverage]:
    """Per budget (runs whose FLOPs agree within ``rtol``), where the least loss sits among the sizes.

    Several seeds of one size are averaged before the least loss is found.
    """
    flops, n_params, losses = (np.asarray(a, dtype=float) for a in (flops, n_params, losses_nats))
    if not flops.shape == n_params.shape == losses.shape or flops.ndim != 1:
        raise ValueError("flops, n_params and losses_nats must be 1-d arrays of one length")
    coverage, order = [], np.argsort(flops)
    groups: list[list[int]] = []
    for i in order:
        if groups and math.isclose(flops[i], flops[groups[-1][0]], rel_tol=rtol):
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    for group in groups:
        sizes = np.unique(n_params[group])
        mean_loss = [float(np.mean(losses[[i for i in group if n_params[i] == size]])) for size in sizes]
        coverage.append(BudgetCoverage(float(flops[group[0]]), tuple(float(s) for s in sizes), int(np.argmin(mean_loss))))
    return coverage
