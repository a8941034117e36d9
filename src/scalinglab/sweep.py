"""Sweeps: many training runs from a grid, recorded in a results store, on any executor.

A sweep is a list of :class:`~scalinglab.train.TrainConfig`. :func:`expand_grid` makes
one from a *grid*: a ``base`` config plus ``axes`` whose every combination is one run.
A grid file is TOML::

    [base]                       # a TrainConfig; model and corpus are sub-tables
    tokens = 2_000_000
    batch_size = 16
    [base.model]
    arch = "gpt"
    n_ctx = 128
    [base.corpus]
    kind = "zipf"

    [axes]                       # the product of these lists is the sweep
    seed = [0, 1]                # ([[axes]] blocks instead: the union of their products)
    "corpus.kind" = ["zipf", "stdlib"]
    model = [                    # a table value updates the sub-table: a ladder
        {n_layer = 2, d_model = 32, n_head = 2},
        {n_layer = 4, d_model = 64, n_head = 4},
    ]

Every combination is built and validated before any run starts, so a typo fails at
once with the key named. :func:`run_sweep` then submits each run that the store does
not hold yet to a ``concurrent.futures.Executor`` (in-process, a process pool, or a Dask
cluster's ``Client.get_executor()``); each worker trains and writes its own record, so a
sweep killed at any moment loses only the runs in flight, and a restart re-does only those.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import platform
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import __version__
from .data import CorpusConfig
from .model import GPTConfig, LSTMConfig
from .store import ResultsStore
from .train import RunResult, TrainConfig, train

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GRID_SECTIONS = ("base", "axes")
_MODEL_FIELDS = {
    "gpt": {f.name for f in dataclasses.fields(GPTConfig)},
    "lstm": {f.name for f in dataclasses.fields(LSTMConfig)},
}
_SUB_TABLES = {"model", "corpus", "pretrain_corpus"}


# ---------------------------------------------------------------------------
# Grids


def load_grid(path: str | os.PathLike[str]) -> list[TrainConfig]:
    """Read a TOML grid file and expand it; ``ValueError`` naming the file and key on any problem."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"grid file {path} cannot be read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"grid file {path} is not valid TOML: {error}") from error
    return expand_grid(spec, source=str(path))


def expand_grid(spec: dict[str, Any], *, source: str = "grid") -> list[TrainConfig]:
    """The sweep that ``spec`` (``{"base": {...}, "axes": {...}}``) describes, in axis order.

    Keys of ``axes`` are TrainConfig fields, or dotted paths into ``model``, ``corpus`` and
    ``pretrain_corpus`` (``"model.d_model"``); a table value for one of those updates it.
    ``axes`` may also be a list of such tables (``[[axes]]`` blocks in TOML): the sweep is
    then the union of each block's product, e.g. a different range of sizes per budget.
    """
    unknown = set(spec) - set(GRID_SECTIONS)
    if unknown:
        raise ValueError(f"{source}: unknown section {sorted(unknown)[0]!r}; a grid has {', '.join(GRID_SECTIONS)}")
    base = spec.get("base", {})
    axes = spec.get("axes", {})
    if not isinstance(base, dict):
        raise ValueError(f"{source}: 'base' must be a table")
    if isinstance(axes, list):  # [[axes]] blocks: the union of each block's product
        if not axes:
            raise ValueError(f"{source}: 'axes' must hold at least one block")
        return [config for block in axes for config in expand_grid({"base": base, "axes": block}, source=source)]
    if not isinstance(axes, dict):
        raise ValueError(f"{source}: 'axes' must be a table or an array of tables")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{source}: axis {key!r} must be a non-empty list, got {values!r}")
    configs = []
    for combination in itertools.product(*axes.values()):
        settings = _deep_copy(base)
        for key, value in zip(axes, combination):
            _apply(settings, key, value, source)
        configs.append(_build(settings, source))
    return configs


def _deep_copy(table: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in table.items()}


def _apply(settings: dict[str, Any], key: str, value: Any, source: str) -> None:
    head, _, rest = key.partition(".")
    if rest:
        if head not in _SUB_TABLES:
            raise ValueError(f"{source}: unknown key {key!r}: only model.*, corpus.* and pretrain_corpus.* may be dotted")
        settings.setdefault(head, {})[rest] = value
    elif isinstance(value, dict):
        if key not in _SUB_TABLES:
            raise ValueError(f"{source}: axis {key!r} takes plain values, not tables")
        settings.setdefault(key, {}).update(value)
    else:
        settings[key] = value


def _build(settings: dict[str, Any], source: str) -> TrainConfig:
    """A validated TrainConfig from plain settings; unknown keys are named."""
    _check_keys(settings, {f.name for f in dataclasses.fields(TrainConfig)}, "", source)
    model = dict(settings.get("model", {}))
    arch = model.get("arch", "gpt")
    if arch not in _MODEL_FIELDS:
        raise ValueError(f"{source}: model.arch must be one of 'gpt', 'lstm', got {arch!r}")
    _check_keys(model, _MODEL_FIELDS[arch] | {"arch"}, "model.", source)
    corpora = {
        key: _corpus_settings(settings[key], f"{key}.", source) for key in ("corpus", "pretrain_corpus") if key in settings
    }
    model_class = GPTConfig if arch == "gpt" else LSTMConfig
    try:
        return TrainConfig(
            **{k: v for k, v in settings.items() if k not in _SUB_TABLES},
            model=model_class(**{k: v for k, v in model.items() if k != "arch"}),
            **{key: CorpusConfig(**table) for key, table in corpora.items()},
        )
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error


def _corpus_settings(table: dict[str, Any], prefix: str, source: str) -> dict[str, Any]:
    """A corpus sub-table's settings, keys checked, ``paths`` as a tuple."""
    corpus = dict(table)
    _check_keys(corpus, {f.name for f in dataclasses.fields(CorpusConfig)}, prefix, source)
    if isinstance(corpus.get("paths"), list):
        corpus["paths"] = tuple(corpus["paths"])
    return corpus


def _check_keys(table: dict[str, Any], allowed: set[str], prefix: str, source: str) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{source}: unknown key {prefix + key!r}; allowed: {', '.join(sorted(allowed))}")


# ---------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class SweepSummary:
    """What :func:`run_sweep` did: run ids skipped (already recorded), finished, and failed (with errors)."""

    skipped: tuple[str, ...]
    finished: tuple[str, ...]
    failed: dict[str, str]

    def __str__(self) -> str:
        return f"{len(self.finished)} finished, {len(self.skipped)} already recorded, {len(self.failed)} failed"


class InProcessExecutor(Executor):
    """A ``concurrent.futures.Executor`` that runs each task at once, in this process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # a KeyboardInterrupt is not stored: it stops the sweep
            future.set_exception(error)
        return future


def die_with_parent() -> None:
    """Initializer for worker processes: ask Linux to kill this process when its parent dies.

    A sweep killed with SIGKILL cannot stop its process pool; without this its workers
    would finish their runs as orphans. Elsewhere than Linux this does nothing.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:
            os._exit(1)  # the parent died before the request above was made


def run_sweep(
    configs: Sequence[TrainConfig],
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    device: str | None = None,
    threads_per_run: int | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Train every config that ``out`` does not hold yet, recording each as it finishes.

    Args:
        configs: the runs (e.g. from :func:`load_grid`).
        out: the results store directory (made if absent).
        executor: where runs go; ``None`` runs them one after another in this process.
        device: overrides each config's ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``).
        threads_per_run: ``torch.set_num_threads`` in each worker (``None``: torch's default).
        progress: a progress bar over runs.
    """
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig")
    if device is not None:
        configs = [dataclasses.replace(c, device=device) for c in configs]
    store = ResultsStore(out, create=True)
    pending: dict[str, TrainConfig] = {}
    skipped = []
    for config in configs:
        run_id = config.config_hash()
        if store.has(run_id):
            skipped.append(run_id)
        else:
            pending.setdefault(run_id, config)
    executor = executor or InProcessExecutor()
    store_path = str(store.path)
    futures: dict[Future, str] = {}
    if isinstance(executor, InProcessExecutor):  # run lazily, so the progress bar moves run by run
        completed = (
            (run_id, executor.submit(run_and_record, config.to_dict(), store_path, threads_per_run))
            for run_id, config in pending.items()
        )
    else:
        futures = {
            executor.submit(run_and_record, config.to_dict(), store_path, threads_per_run): run_id
            for run_id, config in pending.items()
        }
        completed = ((futures[future], future) for future in as_completed(futures))
    finished, failed = [], {}
    try:
        bar = tqdm(completed, total=len(pending) + len(skipped), initial=len(skipped), disable=not progress, unit="run")
        for run_id, future in bar:
            error = future.exception()
            if error is None:
                finished.append(run_id)
            else:
                failed[run_id] = "".join(traceback.format_exception_only(type(error), error)).strip()
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise
    return SweepSummary(tuple(skipped), tuple(finished), failed)


def run_and_record(config: dict[str, Any], store_path: str, threads_per_run: int | None = None) -> str:
    """Train one run and write its record to the store at ``store_path``; returns the run id.

    Takes and returns plain data so that it can be sent to any executor (a process pool
    or a Dask worker, which must see the same file system as the store).
    """
    import torch

    if threads_per_run is not None:
        torch.set_num_threads(threads_per_run)
    train_config = TrainConfig.from_dict(config)
    result = train(train_config)
    record = {
        "run_id": result.config_hash,
        "config": train_config.to_dict(),
        "result": result.to_dict(),
        "provenance": provenance(result),
    }
    ResultsStore(store_path).put(record)
    return result.config_hash


def provenance(result: RunResult) -> dict[str, Any]:
    """Where and when a run was made: device, versions, git commit, date, wall time."""
    import torch

    device_name = platform.processor() or platform.machine()
    if result.device == "cuda":
        device_name = torch.cuda.get_device_name()
    return {
        "device": result.device,
        "device_name": device_name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "scalinglab_version": __version__,
        "git_commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": result.seconds,
    }


def git_commit() -> str | None:
    """The commit of the scalinglab source tree (with ``+dirty`` if it has changes), or None."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=source, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


# ---------------------------------------------------------------------------
# Tables

TABLE_COLUMNS = (
    "run_id",
    "arch",
    "n_layer",
    "d_model",
    "corpus",
    "pretrain_corpus",
    "unique_tokens",
    "seed",
    "n_params",
    "n_params_with_embedding",
    "tokens",
    "flops",
    "final_val_loss_nats",
    "final_val_loss_bits_per_byte",
    "best_val_loss_nats",
    "seconds",
    "device",
)


@dataclass(frozen=True)
class RunTable:
    """Runs x fields, loaded from a store: ``table.column("n_params")`` is a numpy array.

    ``results`` holds the full :class:`~scalinglab.train.RunResult` of each row (learning
    curves, per-position losses) and ``provenance`` each run's provenance record.
    """

    rows: tuple[dict[str, Any], ...]
    results: tuple[RunResult, ...]
    provenance: tuple[dict[str, Any], ...]

    def column(self, name: str) -> np.ndarray:
        """One field across runs, as a numpy array."""
        if name not in TABLE_COLUMNS:
            raise ValueError(f"name must be one of {', '.join(TABLE_COLUMNS)}, got {name!r}")
        return np.array([row[name] for row in self.rows])

    def where(self, **equal: Any) -> RunTable:
        """The rows whose fields equal the given values, e.g. ``table.where(arch="lstm")``."""
        for name in equal:
            if name not in TABLE_COLUMNS:
                raise ValueError(f"{name} is not a column; columns are {', '.join(TABLE_COLUMNS)}")
        keep = [i for i, row in enumerate(self.rows) if all(row[k] == v for k, v in equal.items())]
        return RunTable(
            tuple(self.rows[i] for i in keep), tuple(self.results[i] for i in keep), tuple(self.provenance[i] for i in keep)
        )

    def __len__(self) -> int:
        return len(self.rows)

    def to_text(self) -> str:
        """A fixed-width text table of the runs, sorted by architecture, corpus and size."""
        header = ("run", "arch", "L", "d", "corpus", "seed", "N", "N+emb", "tokens", "FLOPs", "loss", "bits/B", "s", "device")
        lines = [header]
        for row in sorted(self.rows, key=lambda r: (r["arch"], r["corpus"], r["n_params"], r["tokens"], r["seed"])):
            lines.append(
                (
                    row["run_id"][:8],
                    row["arch"],
                    str(row["n_layer"]),
                    str(row["d_model"]),
                    row["corpus"],
                    str(row["seed"]),
                    f"{row['n_params']:,}",
                    f"{row['n_params_with_embedding']:,}",
                    f"{row['tokens']:.3g}",
                    f"{row['flops']:.3g}",
                    f"{row['final_val_loss_nats']:.4f}",
                    f"{row['final_val_loss_bits_per_byte']:.4f}",
                    f"{row['seconds']:.0f}",
                    row["device"],
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def load_table(path: str | os.PathLike[str]) -> RunTable:
    """All readable runs of the store at ``path`` as a :class:`RunTable` (corrupt records are warned about)."""
    records, _ = ResultsStore(path).load()
    results = [RunResult.from_dict(record["result"]) for record in records]
    rows = [_row(record["run_id"], result) for record, result in zip(records, results)]
    return RunTable(tuple(rows), tuple(results), tuple(record["provenance"] for record in records))


def _row(run_id: str, result: RunResult) -> dict[str, Any]:
    config = result.config
    return {
        "run_id": run_id,
        "arch": config.model.arch,
        "n_layer": config.model.n_layer,
        "d_model": config.model.d_model,
        "corpus": config.corpus.kind,
        "pretrain_corpus": config.pretrain_corpus.kind if config.pretrain_corpus is not None else None,
        "unique_tokens": config.unique_tokens,
        "seed": config.seed,
        "n_params": result.n_params,
        "n_params_with_embedding": result.n_params_with_embedding,
        "tokens": result.tokens,
        "flops": result.flops,
        "final_val_loss_nats": result.final_val_loss_nats,
        "final_val_loss_bits_per_byte": result.final_val_loss_bits_per_byte,
        "best_val_loss_nats": min(result.val_loss_nats),
        "seconds": result.seconds,
        "device": result.device,
    }



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
