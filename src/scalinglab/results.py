"""Reading recorded runs for analysis: a table of runs from one or more results stores.

Needs no torch: the chapters read the recorded stores with it, and so can any machine.
A column is named by a dotted path into a run's record::

    table = load_table(recorded_store("gpt_zipf"))
    table.column("result.n_params")                   # a numpy array, one entry per run
    table.column("config.model.d_model")
    table.where({"config.model.arch": "lstm"}).sort_by("result.n_params")
    for d_model, runs in table.group_by("config.model.d_model").items(): ...
    print(table.provenance_summary())                 # where and when the runs were made

``config.*`` reads the :class:`~scalinglab.runs.TrainConfig` (``config.corpus.kind``),
``result.*`` the :class:`~scalinglab.runs.RunResult` (any field or property, e.g.
``result.best_val_loss_nats``), ``provenance.*`` the record's provenance (``device_name``,
``date``, ``git_commit``), and ``run_id`` the run's id.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .runs import RunResult
from .store import ResultsStore

ROOTS = ("config", "result", "provenance")

TEXT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run", "run_id", "{:.8}"),
    ("arch", "config.model.arch", "{}"),
    ("layers", "config.model.n_layer", "{}"),
    ("d_model", "config.model.d_model", "{}"),
    ("corpus", "config.corpus.kind", "{}"),
    ("seed", "config.seed", "{}"),
    ("N", "result.n_params", "{:,}"),
    ("N+emb", "result.n_params_with_embedding", "{:,}"),
    ("tokens", "result.tokens", "{:.3g}"),
    ("FLOPs", "result.flops", "{:.3g}"),
    ("loss", "result.final_val_loss_nats", "{:.4f}"),
    ("bits/B", "result.final_val_loss_bits_per_byte", "{:.4f}"),
    ("s", "result.seconds", "{:.0f}"),
    ("device", "result.device", "{}"),
)
"""(header, column, format) of each column of :meth:`RunTable.to_text`."""


@dataclass(frozen=True)
class Run:
    """One recorded run: its id, result (which holds its config) and provenance."""

    run_id: str
    result: RunResult
    provenance: dict[str, Any]

    def value(self, column: str) -> Any:
        """The value at ``column``, a dotted path (see the module docstring)."""
        if column == "run_id":
            return self.run_id
        root, _, path = column.partition(".")
        if root not in ROOTS or not path:
            raise ValueError(
                f"column must be 'run_id' or a dotted path starting with {', '.join(r + '.' for r in ROOTS)} "
                f"(e.g. 'result.final_val_loss_nats'), got {column!r}"
            )
        value: Any = {"config": self.result.config, "result": self.result, "provenance": self.provenance}[root]
        for i, name in enumerate(path.split(".")):
            try:
                value = value[name] if isinstance(value, Mapping) else getattr(value, name)
            except (KeyError, AttributeError) as error:
                where = ".".join([root, *path.split(".")[:i]])
                raise ValueError(f"column {column!r}: {where} has no {name!r}") from error
        return value


@dataclass(frozen=True)
class RunTable:
    """Runs from results stores, in a fixed order; ``table.results`` are their
    :class:`~scalinglab.runs.RunResult` objects, ``table.column(path)`` one field across runs."""

    runs: tuple[Run, ...]
    sources: tuple[str, ...] = ()

    @property
    def results(self) -> list[RunResult]:
        """Each run's :class:`~scalinglab.runs.RunResult` (learning curves, probes, config), as a new list."""
        return [run.result for run in self.runs]

    @property
    def provenance(self) -> list[dict[str, Any]]:
        """Each run's provenance record, as a new list."""
        return [run.provenance for run in self.runs]

    def column(self, column: str) -> np.ndarray:
        """The value at ``column`` (a dotted path) of every run, as a numpy array (of objects
        when the runs' values are lists of different lengths)."""
        values = [run.value(column) for run in self.runs]
        try:
            return np.array(values)
        except ValueError:  # ragged: e.g. learning curves with different numbers of evaluations
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array

    def where(self, equal: Mapping[str, Any]) -> RunTable:
        """The runs whose columns equal the given values, e.g. ``where({"config.model.arch": "lstm"})``."""
        return self.filter(lambda run: all(run.value(column) == value for column, value in equal.items()))

    def filter(self, keep: Callable[[Run], bool]) -> RunTable:
        """The runs for which ``keep(run)`` is true (``run.result``, ``run.value(column)``)."""
        return RunTable(tuple(run for run in self.runs if keep(run)), self.sources)

    def sort_by(self, *columns: str) -> RunTable:
        """The runs sorted by the given columns (the first one first)."""
        if not columns:
            raise ValueError("columns must name at least one column")
        return RunTable(tuple(sorted(self.runs, key=lambda run: tuple(_sort_key(run.value(c)) for c in columns))), self.sources)

    def group_by(self, column: str) -> dict[Any, RunTable]:
        """Value of ``column`` -> the runs that have it, values in increasing order."""
        groups: dict[Any, list[Run]] = {}
        for run in self.runs:
            groups.setdefault(run.value(column), []).append(run)
        return {value: RunTable(tuple(groups[value]), self.sources) for value in sorted(groups, key=_sort_key)}

    def __add__(self, other: RunTable) -> RunTable:
        """The runs of both tables (this one's first)."""
        if not isinstance(other, RunTable):
            return NotImplemented
        sources = self.sources + tuple(s for s in other.sources if s not in self.sources)
        return RunTable(self.runs + other.runs, sources)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def provenance_summary(self) -> str:
        """One line: how many runs, on which device, when, with which versions and commit."""
        if not self.runs:
            return "0 runs"

        def values(key: str, cut: int | None = None) -> str:
            found = sorted({str(p.get(key))[:cut] for p in self.provenance})
            return found[0] if len(found) == 1 else f"{found[0]} to {found[-1]}" if key == "date" else " / ".join(found)

        devices = sorted({f"{p['device']} ({p['device_name']})" for p in self.provenance})
        return (
            f"{len(self)} runs on {' / '.join(devices)}, {values('date', 10)}, "
            f"scalinglab {values('scalinglab_version')}, torch {values('torch_version')}"
        )

    def to_text(self) -> str:
        """A fixed-width text table of the runs (:data:`TEXT_COLUMNS`), sorted by
        architecture, corpus, size, tokens and seed."""
        ordered = self.sort_by(
            "config.model.arch", "config.corpus.kind", "result.n_params", "result.tokens", "config.seed"
        )
        lines = [tuple(header for header, _, _ in TEXT_COLUMNS)]
        lines += [tuple(fmt.format(run.value(column)) for _, column, fmt in TEXT_COLUMNS) for run in ordered]
        widths = [max(len(line[i]) for line in lines) for i in range(len(TEXT_COLUMNS))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if value is not None else (1, 0)


def load_table(*paths: str | os.PathLike[str]) -> RunTable:
    """All readable runs of the stores at ``paths`` (one or more), in each store's order of
    run ids; corrupt records are warned about and left out."""
    if not paths:
        raise ValueError("paths must name at least one results store")
    runs = []
    for path in paths:
        for record in ResultsStore(path).load():
            try:
                runs.append(Run(record["run_id"], RunResult.from_record(record), record["provenance"]))
            except (ValueError, TypeError, KeyError) as error:  # a record this version cannot read
                warnings.warn(f"{path}: run {record['run_id'][:8]} left out: {error}", stacklevel=2)
    return RunTable(tuple(runs), tuple(str(p) for p in paths))


def recorded_store(name: str) -> Path:
    """The directory of the recorded results store ``results/NAME`` of this repository.

    Looked for in ``results/`` beside the source tree (an editable install or a clone),
    then in the current directory and its parents; ``ValueError`` names what was searched.
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be the name of a store in results/, got {name!r}")
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "results" / name]
    candidates += [folder / "results" / name for folder in (Path.cwd(), *Path.cwd().parents)]
    for candidate in candidates:
        if (candidate / "store.json").exists():
            return candidate
    raise ValueError(f"name: no recorded store results/{name} found (looked in {candidates[0]} and above {Path.cwd()})")
