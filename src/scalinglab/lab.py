"""A budgeted scaling study: the :class:`Lab` of the capstone chapter.

A reader gets a FLOP budget and a family of runs (:class:`LabFamily`): 2-layer GPTs of the
widths a recorded IsoFLOP store trained, each at the learning rate that store gave it,
on the same corpus, batch, context and schedule. Through :meth:`Lab.train` the reader
chooses which (width, FLOPs) runs to make; the lab

* refuses a run that would overspend the budget, or one outside the family, with a
  ``ValueError`` naming the argument and the rule, before anything is trained (so nothing
  already spent is lost);
* keeps every finished run in its own results store, and its ledger (:meth:`Lab.ledger`)
  is that store: the FLOPs spent are the sum of the budgets of the runs recorded there;
* replays a run already in its store without charging it again, so a notebook can be
  restarted.

The reader then fits a law to the runs and predicts, for a budget ``target_flops`` (ten
times the lab's budget), the compute-optimal size and its loss; :func:`truth_at` reads
the answer off the recorded IsoFLOP profile at that budget (the vertex of a parabola of
loss in ln N through its runs) and :func:`score` says how far the prediction was.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import positive_float
from .results import RunTable, load_table
from .runs import RunResult, TrainConfig, run_record
from .store import ResultsStore
from .sweep import provenance
from .train import train

MIN_RUN_FLOPS = 1e9
"""The smallest budget a lab run may have, FLOPs: below it a run has too few steps to
say anything."""

BUDGET_RTOL = 1e-9
"""Relative slack of the budget check, so that spending exactly what is left (a sum of
floats) is allowed, and a lab that did so opens again."""


@dataclass(frozen=True)
class LabFamily:
    """The runs a lab may train: every setting of ``template`` but the width, the learning
    rate and the budget, which :meth:`config` sets.

    Attributes:
        template: a run of the family (its model's width, its lr and budget are replaced).
        heads_and_lrs: d_model -> (n_head, peak lr) for each width the family allows.
    """

    template: TrainConfig
    heads_and_lrs: dict[int, tuple[int, float]]

    @classmethod
    def from_table(cls, table: RunTable) -> LabFamily:
        """The family of the runs of ``table`` (a recorded IsoFLOP store): they must differ only
        in width, lr and budget, and each width must have one lr (its best, from a scan)."""
        if not len(table):
            raise ValueError("table: must hold at least one run")
        configs = [result.config for result in table.results]
        template = configs[0]

        def shape(config: TrainConfig) -> TrainConfig:
            return dataclasses.replace(config, model=dataclasses.replace(config.model, d_model=1, n_head=1),
                                       lr=1.0, flops=1.0)

        for run, config in zip(table, configs):
            if shape(config) != shape(template):
                raise ValueError(f"table: the runs of a lab family must differ only in d_model, n_head, lr and flops; "
                                 f"run {run.run_id[:8]} differs from run {table.runs[0].run_id[:8]} in more")
        heads_and_lrs: dict[int, tuple[int, float]] = {}
        for config in configs:
            found = heads_and_lrs.setdefault(config.model.d_model, (config.model.n_head, config.lr))
            if found != (config.model.n_head, config.lr):
                raise ValueError(f"table: d_model {config.model.d_model} has two settings of n_head and lr: "
                                 f"{found} and {(config.model.n_head, config.lr)}")
        return cls(template, dict(sorted(heads_and_lrs.items())))

    @property
    def widths(self) -> tuple[int, ...]:
        """The d_model values allowed, increasing."""
        return tuple(sorted(self.heads_and_lrs))

    def config(self, d_model: int, flops: float) -> TrainConfig:
        """The family's run of width ``d_model`` trained on ``flops`` FLOPs (Kaplan's count,
        as :class:`~scalinglab.runs.TrainConfig` takes it)."""
        if d_model not in self.heads_and_lrs:
            raise ValueError(f"d_model must be one of the family's widths {list(self.widths)}, got {d_model!r}")
        flops = positive_float("flops", flops)
        if flops < MIN_RUN_FLOPS:
            raise ValueError(f"flops must be at least {MIN_RUN_FLOPS:.0e} for a lab run, got {flops:.3g}")
        n_head, lr = self.heads_and_lrs[d_model]
        model = dataclasses.replace(self.template.model, d_model=d_model, n_head=n_head)
        return dataclasses.replace(self.template, model=model, lr=lr, flops=float(flops))


@dataclass(frozen=True)
class LedgerEntry:
    """One run of a lab: its width, parameters (non-embedding), the FLOPs it was charged and
    its final validation loss (nats/token)."""

    d_model: int
    n_params: int
    flops: float
    loss_nats: float


class Lab:
    """A FLOP budget, a family of runs, and a results store that is the lab's ledger.

    ``Lab(store_path, budget_flops=..., family=...)`` opens (or makes) the store; runs
    already there count against the budget, once. The store is read once, when the lab is
    made; the lab then keeps its runs in memory and adds each run it records (a lab owns its
    store: two labs writing one store would not see each other's runs).
    """

    def __init__(self, store_path: str | os.PathLike[str], *, budget_flops: float, family: LabFamily) -> None:
        self.budget_flops = positive_float("budget_flops", budget_flops)
        self.family = family
        self.store = ResultsStore(Path(store_path), create=True)
        self._runs = {record["run_id"]: RunResult.from_record(record) for record in self.store}
        for result in self._results():
            d_model = result.config.model.d_model
            if result.config.flops is None or d_model not in family.heads_and_lrs or \
                    family.config(d_model, result.config.flops) != result.config:
                raise ValueError(f"store_path: run {result.config_hash[:8]} in {self.store.path} is not a run of the "
                                 f"lab's family; give a lab a store of its own")
        spent = self.spent_flops
        if spent > self.budget_flops * (1 + BUDGET_RTOL):
            raise ValueError(f"budget_flops: the store {self.store.path} already holds runs of {spent:.3g} FLOPs, "
                             f"more than the budget of {self.budget_flops:.3g}")

    def _results(self) -> list[RunResult]:
        return list(self._runs.values())

    @property
    def spent_flops(self) -> float:
        """The budgets of the runs in the store, summed (FLOPs)."""
        return float(sum(result.config.flops or 0.0 for result in self._results()))

    @property
    def left_flops(self) -> float:
        """The FLOPs still to spend."""
        return self.budget_flops - self.spent_flops

    def train(self, d_model: int, flops: float) -> RunResult:
        """The family's run of width ``d_model`` on ``flops`` FLOPs: replayed from the store
        when it is there (no charge), else trained and recorded if the budget allows it.

        Raises:
            ValueError: ``d_model`` or ``flops`` outside the family, or ``flops`` more than
                what is left of the budget (nothing is trained then).
        """
        config = self.family.config(d_model, flops)
        if config.config_hash() in self._runs:
            return self._runs[config.config_hash()]
        spent = self.spent_flops
        left = self.budget_flops - spent
        if spent + config.flops > self.budget_flops * (1 + BUDGET_RTOL):
            raise ValueError(f"flops: a run of {config.flops:.3g} FLOPs would overspend the budget: "
                             f"{left:.3g} of {self.budget_flops:.3g} FLOPs are left ({len(self.store)} runs made)")
        result = train(config)
        self.store.put(run_record(result, provenance(result)))
        self._runs[config.config_hash()] = result
        return result

    def ledger(self) -> list[LedgerEntry]:
        """The runs made, in the order of their budgets then widths."""
        entries = [LedgerEntry(r.config.model.d_model, r.n_params, float(r.config.flops or 0.0), r.final_val_loss_nats)
                   for r in self._results()]
        return sorted(entries, key=lambda entry: (entry.flops, entry.d_model))

    def describe(self) -> str:
        """The ledger as text: one line a run, then the FLOPs spent and left."""
        lines = [f"{'d_model':>7s} {'N':>9s} {'FLOPs':>9s} {'loss':>7s}"]
        lines += [f"{e.d_model:7d} {e.n_params:9,} {e.flops:9.2e} {e.loss_nats:7.3f}" for e in self.ledger()]
        lines.append(f"spent {self.spent_flops:.3g} of {self.budget_flops:.3g} FLOPs; {self.left_flops:.3g} left")
        return "\n".join(lines)

    def table(self) -> RunTable:
        """The lab's runs as a table, for fitting."""
        return load_table(self.store.path)


@dataclass(frozen=True)
class Optimum:
    """The compute-optimal run at one budget: its size N (non-embedding parameters), its
    loss (nats/token), and the budget (FLOPs)."""

    flops: float
    n_params: float
    loss_nats: float


def truth_at(table: RunTable, target_flops: float) -> Optimum:
    """The optimum of the recorded IsoFLOP profile at ``target_flops``: the vertex of the
    parabola L = c2 (ln N)^2 + c1 ln N + c0 through the run of least loss at that budget
    (within 1%) and its two neighbours in size; the least loss must not be at the profile's
    edge (then the parabola opens upward and its vertex lies between the neighbours)."""
    target_flops = positive_float("target_flops", target_flops)
    runs = table.filter(lambda run: abs(run.result.config.flops / target_flops - 1) < 0.01
                        if run.result.config.flops else False)
    if len(runs) < 3:
        raise ValueError(f"target_flops: the table has {len(runs)} runs at {target_flops:.3g} FLOPs; the truth needs 3")
    by_size = sorted(runs.group_by("result.n_params").items())  # seeds of one size averaged
    log_n = np.log(np.array([float(n) for n, _ in by_size]))
    loss = np.array([np.mean(group.column("result.final_val_loss_nats")) for _, group in by_size])
    if len(loss) < 3:
        raise ValueError(f"target_flops: the profile at {target_flops:.3g} FLOPs has {len(loss)} sizes; the truth needs 3")
    best = int(np.argmin(loss))
    if not 0 < best < len(loss) - 1:
        raise ValueError(f"target_flops: the profile at {target_flops:.3g} FLOPs has its least loss at its edge")
    c2, c1, c0 = np.polyfit(log_n[best - 1 : best + 2], loss[best - 1 : best + 2], 2)
    vertex = -c1 / (2 * c2)
    return Optimum(target_flops, float(np.exp(vertex)), float(np.polyval([c2, c1, c0], vertex)))


@dataclass(frozen=True)
class Score:
    """How far a prediction landed from the truth.

    Attributes:
        size_factor: N_predicted / N_true (1 is exact).
        loss_error_nats: L_predicted - L_true.
        points: 100 exp(-(|log10 size_factor| / 0.3 + |loss_error_nats| / 0.05)): 100 for an
            exact prediction, 37 for a size off by a factor of 2 (0.3 decades) or a loss off by
            0.05 nats, and less when both are.
    """

    size_factor: float
    loss_error_nats: float
    points: float


def score(prediction: Optimum, truth: Optimum) -> Score:
    """:class:`Score` of ``prediction`` against ``truth`` (which must be at the same budget)."""
    if not np.isclose(prediction.flops, truth.flops, rtol=0.01):
        raise ValueError(f"prediction: made for {prediction.flops:.3g} FLOPs, the truth is at {truth.flops:.3g}")
    if not prediction.n_params > 0:
        raise ValueError(f"prediction: n_params must be positive, got {prediction.n_params!r}")
    factor = prediction.n_params / truth.n_params
    error = prediction.loss_nats - truth.loss_nats
    return Score(factor, error, float(100 * np.exp(-(abs(np.log10(factor)) / 0.3 + abs(error) / 0.05))))
