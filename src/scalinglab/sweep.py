"""Sweeps: many training runs from a grid, recorded in a results store, on any executor.

A sweep is a list of :class:`~scalinglab.runs.TrainConfig`. :func:`expand_grid` makes
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
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import __version__
from ._checks import positive_int
from .corpora import CorpusConfig, check_available
from .probes import check_probes
from .protocol import chosen_learning_rate, learning_rate_scan
from .results import load_table
from .runs import MODEL_CONFIGS, RunResult, TrainConfig, run_record
from .store import STORE_MARKER, ResultsStore
from .train import settle_arithmetic, train

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GRID_SECTIONS = ("base", "axes")
_SUB_TABLES = {"model", "corpus", "pretrain_corpus"}


# ---------------------------------------------------------------------------
# Grids


def read_grid_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML of a grid file, not expanded; ``ValueError`` naming the file when it
    cannot be read or is not valid TOML."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"grid file {path} cannot be read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"grid file {path} is not valid TOML: {error}") from error


def load_grid(path: str | os.PathLike[str]) -> list[TrainConfig]:
    """Read a TOML grid file and expand it; ``ValueError`` naming the file and key on any problem."""
    return expand_grid(read_grid_spec(path), source=str(path), base_dir=Path(path).parent)


def expand_grid(spec: dict[str, Any], *, source: str = "grid", base_dir: str | os.PathLike[str] = ".") -> list[TrainConfig]:
    """The sweep that ``spec`` (``{"base": {...}, "axes": {...}}``) describes, in axis order.

    Keys of ``axes`` are TrainConfig fields, or dotted paths into ``model``, ``corpus`` and
    ``pretrain_corpus`` (``"model.d_model"``); a table value for one of those updates it.
    ``axes`` may also be a list of such tables (``[[axes]]`` blocks in TOML): the sweep is
    then the union of each block's product, e.g. a different range of sizes per budget.

    An optional ``protocol`` section applies :mod:`scalinglab.protocol`'s rules:
    ``lr_from = "STORE"`` (a results store, relative to ``base_dir``, the grid file's
    folder) gives each run the best learning rate that store's scan found for its model,
    batch size and corpus (:func:`scalinglab.protocol.chosen_learning_rate`: refused when the best is
    at the edge of the scan); the grid must then not set ``lr`` itself. ``reuse_from = "STORE"``
    names a store whose records of the grid's runs (same config, same run id, e.g. a scan's
    best runs in a ladder of seeds) :func:`run_sweep` copies instead of training them again
    (see :func:`reuse_store`); it leaves the configs unchanged.
    """
    unknown = set(spec) - set(GRID_SECTIONS) - {"protocol"}
    if unknown:
        raise ValueError(
            f"{source}: unknown section {sorted(unknown)[0]!r}; a grid has {', '.join(GRID_SECTIONS)} and optionally protocol"
        )
    if "protocol" in spec:
        plain = {k: v for k, v in spec.items() if k != "protocol"}
        return _apply_protocol(expand_grid(plain, source=source), spec["protocol"], _sets_lr(plain), source, Path(base_dir))
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


PROTOCOL_KEYS = ("lr_from", "reuse_from")


def _sets_lr(spec: dict[str, Any]) -> bool:
    """Whether a grid sets ``lr`` in its base or in any axis block."""
    axes = spec.get("axes", {})
    blocks = axes if isinstance(axes, list) else [axes]
    return "lr" in spec.get("base", {}) or any(isinstance(b, dict) and "lr" in b for b in blocks)


def _apply_protocol(
    configs: list[TrainConfig], protocol: Any, sets_lr: bool, source: str, base_dir: Path
) -> list[TrainConfig]:
    """``configs`` with each run's lr taken from the scan store that ``protocol["lr_from"]`` names."""
    if not isinstance(protocol, dict):
        raise ValueError(f"{source}: 'protocol' must be a table")
    for key in protocol:
        if key not in PROTOCOL_KEYS:
            raise ValueError(f"{source}: unknown protocol key {key!r}; allowed: {', '.join(PROTOCOL_KEYS)}")
    if "reuse_from" in protocol:
        _protocol_store(protocol, "reuse_from", source, base_dir)
    if protocol.get("lr_from") is None:
        return configs
    path = _protocol_store(protocol, "lr_from", source, base_dir)
    if sets_lr:
        raise ValueError(f"{source}: a grid with protocol.lr_from must not set lr itself")
    scans = learning_rate_scan(load_table(path))
    try:
        return [
            dataclasses.replace(
                c, lr=chosen_learning_rate(scans, (c.model, c.batch_size, c.corpus),
                                           what=f"{c.model} at batch {c.batch_size} on {c.corpus}")
            )
            for c in configs
        ]
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error


def _protocol_store(protocol: dict[str, Any], key: str, source: str, base_dir: Path) -> Path:
    """The results store that ``protocol[key]`` names, relative to ``base_dir``."""
    store = protocol[key]
    if not isinstance(store, str) or not store:
        raise ValueError(f"{source}: protocol.{key} must name a results store, got {store!r}")
    path = base_dir / store
    if not (path / STORE_MARKER).exists():
        raise ValueError(f"{source}: protocol.{key}: {path} is not a results store")
    return path


def reuse_store(path: str | os.PathLike[str]) -> Path | None:
    """The store that the grid file at ``path`` names in ``[protocol] reuse_from``, or None."""
    path = Path(path)
    spec = tomllib.loads(path.read_text())
    protocol = spec.get("protocol", {})
    if not isinstance(protocol, dict) or "reuse_from" not in protocol:
        return None
    return _protocol_store(protocol, "reuse_from", str(path), path.parent)


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
    """A validated TrainConfig from plain settings, its probes checked; unknown keys are named."""
    allowed = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in settings:
        if key not in allowed:
            raise ValueError(f"{source}: unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    try:
        model = dict(settings.get("model", {}))
        arch = model.pop("arch", "gpt")
        if arch not in MODEL_CONFIGS:
            raise ValueError(f"model.arch must be one of {', '.join(map(repr, MODEL_CONFIGS))}, got {arch!r}")
        _check_keys(model, {f.name for f in dataclasses.fields(MODEL_CONFIGS[arch])}, "model.")
        corpora = {key: _corpus(settings[key], key) for key in ("corpus", "pretrain_corpus") if settings.get(key) is not None}
        config = TrainConfig(
            **{k: v for k, v in settings.items() if k not in _SUB_TABLES},
            model=MODEL_CONFIGS[arch](**model),
            **corpora,
        )
        check_probes(config)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error
    return config


def _corpus(table: dict[str, Any], key: str) -> CorpusConfig:
    """A corpus sub-table as a config; a key its kind does not have is named with the key's table."""
    try:
        return CorpusConfig(**table)
    except ValueError as error:
        raise ValueError(f"{key}: {error}") from error


def _check_keys(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {prefix + key!r}; allowed: {', '.join(sorted(allowed))}")


# ---------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class SweepSummary:
    """What :func:`run_sweep` did: run ids skipped (already recorded), finished, failed (with
    errors), and copied from the ``reuse_from`` store."""

    skipped: tuple[str, ...]
    finished: tuple[str, ...]
    failed: dict[str, str]
    copied: tuple[str, ...] = ()

    def __str__(self) -> str:
        copied = f", {len(self.copied)} copied" if self.copied else ""
        return f"{len(self.finished)} finished, {len(self.skipped)} already recorded{copied}, {len(self.failed)} failed"


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


def process_pool(workers: int, *, gpus: Sequence[str] | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes for :func:`run_sweep`, each of which dies with
    its parent and, where there are GPUs, sees one of them (round-robin:
    ``CUDA_VISIBLE_DEVICES`` is set in each worker before it touches CUDA).

    ``gpus`` are the GPU ids to share out; by default those of ``CUDA_VISIBLE_DEVICES`` or,
    without it, every GPU torch counts (none on a machine without CUDA).
    """
    import torch

    workers = positive_int("workers", workers)
    if gpus is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = [g for g in visible.split(",") if g.strip()] if visible is not None else [
            str(i) for i in range(torch.cuda.device_count())
        ]
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=init_worker, initargs=(context.Value("i", 0), tuple(gpus))
    )


def init_worker(counter: Any, gpus: tuple[str, ...]) -> None:
    """Initializer of :func:`process_pool`'s workers: die with the parent, and take the next
    of ``gpus`` (by a counter shared by the pool's workers) as this process's only GPU."""
    die_with_parent()
    if gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]


def check_executor(executor: Executor) -> None:
    """Raise ``ValueError`` for a process pool that forks once this process has initialised
    CUDA: a forked child cannot use it, and every run would fail."""
    import torch

    if isinstance(executor, ProcessPoolExecutor) and torch.cuda.is_initialized():
        context = getattr(executor, "_mp_context", None)
        method = context.get_start_method() if context is not None else multiprocessing.get_start_method()
        if method == "fork":
            raise ValueError(
                "executor: a fork-based process pool cannot use CUDA once this process has initialised it; "
                "use scalinglab.sweep.process_pool(workers), or mp_context=multiprocessing.get_context('spawn')"
            )


def run_sweep(
    configs: Sequence[TrainConfig],
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    device: str | None = None,
    threads_per_run: int | None = None,
    progress: bool = True,
    reuse_from: str | os.PathLike[str] | None = None,
) -> SweepSummary:
    """Train every config that ``out`` does not hold yet, recording each as it finishes.

    A run that the store ``reuse_from`` holds (same run id) is copied from it instead of
    trained, its provenance marked ``copied_from`` that store's name. A grid's ``[protocol]
    reuse_from`` is not applied by :func:`load_grid` (it leaves the configs as they are):
    pass :func:`reuse_store` of the grid file here, as the ``sweep`` command does.

    Args:
        configs: the runs (e.g. from :func:`load_grid`).
        out: the results store directory (made if absent).
        executor: where runs go; ``None`` runs them one after another in this process.
        device: overrides each config's ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``).
        threads_per_run: ``torch.set_num_threads`` in each worker (``None``: torch's default).
        progress: a progress bar over runs.
        reuse_from: a results store to copy recorded runs from (e.g. a grid's
            ``[protocol] reuse_from``, :func:`reuse_store`).
    """
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig")
    if device is not None:
        configs = [dataclasses.replace(c, device=device) for c in configs]
    configs = [settle_arithmetic(c) for c in configs]  # an "auto" that means bf16 here gets its own id
    if executor is not None:
        check_executor(executor)
    for config in configs:
        check_probes(config)
    recorded = ResultsStore(out).run_ids() if (Path(out) / STORE_MARKER).exists() else set()
    pending: dict[str, TrainConfig] = {}
    skipped = []
    for config in configs:
        run_id = config.config_hash()
        if run_id in recorded:
            skipped.append(run_id)
        else:
            pending.setdefault(run_id, config)
    source = ResultsStore(reuse_from) if reuse_from is not None else None
    copied = [run_id for run_id in pending if source is not None and source.has(run_id)]
    for run_id in copied:
        del pending[run_id]
    for config in pending.values():  # before any run starts: a missing file fails now, not hours in
        check_available(config.corpus)
        if config.pretrain_corpus is not None:
            check_available(config.pretrain_corpus)
    store = ResultsStore(out, create=True)
    for run_id in copied:
        record = source.get(run_id)
        record["provenance"] = {**record.get("provenance", {}), "copied_from": Path(reuse_from).resolve().name}
        store.put(record)
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
        done = len(skipped) + len(copied)
        bar = tqdm(completed, total=len(pending) + done, initial=done, disable=not progress, unit="run")
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
    return SweepSummary(tuple(skipped), tuple(finished), failed, tuple(copied))


def run_and_record(config: dict[str, Any], store_path: str, threads_per_run: int | None = None) -> str:
    """Train one run and write its record to the store at ``store_path``; returns the run id.

    Takes and returns plain data so that it can be sent to any executor (a process pool
    or a Dask worker, which must see the same file system as the store).
    """
    import torch

    if threads_per_run is not None:
        torch.set_num_threads(threads_per_run)
    result = train(TrainConfig.from_dict(config))
    ResultsStore(store_path).put(run_record(result, provenance(result)))
    return result.config_hash


def provenance(result: RunResult) -> dict[str, Any]:
    """Where and when a run was made: device, versions, git commit, date, wall time, and,
    for a corpus whose content depends on the machine, its ``corpus_identity`` (and
    ``pretrain_corpus_identity``)."""
    import torch

    from .corpora import corpus_identity

    device_name = platform.processor() or platform.machine()
    if result.device == "cuda":
        device_name = torch.cuda.get_device_name()
    identities = {"corpus_identity": corpus_identity(result.config.corpus)}
    if result.config.pretrain_corpus is not None:
        identities["pretrain_corpus_identity"] = corpus_identity(result.config.pretrain_corpus)
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
        **{key: value for key, value in identities.items() if value is not None},
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
