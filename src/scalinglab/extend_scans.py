"""Extending learning-rate scans whose best rate sits at an edge, in the grid file itself.

The protocol (:mod:`scalinglab.protocol`) refuses a best learning rate at the edge of the
rates tried: the basin's bottom may lie beyond them. The remedy is one more rate past
that edge, a factor ``factor`` beyond it, for the same runs. :func:`scan_extensions`
finds them (with how many planned runs the store still lacks): for each scan of a store whose best is at an edge, and each run of that scan
at the edge rate (one a seed), the ``[[axes]]`` block of the grid that made the run,
narrowed to the run's own values with ``lr`` set to the next rate. Appended to the grid
(:func:`append_blocks`), the blocks make the grid describe the extended store, so that
``bash results/record.sh NAME`` re-records all of it; appending and recording again
until nothing is appended gives every scan an interior best.

Each new run's config is the one its block gives when expanded with the grid's ``base``,
so that it is exactly the run the sweep will make (a grid whose runs take their rate from
a scan, ``lr_from``, has no rates to extend and is refused).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .protocol import LR_MATCH, learning_rate_scan, scan_key
from .results import load_table
from .runs import TrainConfig
from .sweep import expand_grid, read_grid_spec, tomllib
from .train import settle_arithmetic


@dataclasses.dataclass(frozen=True)
class ScanExtension:
    """One run to add: the edge run's config at the next rate, and the grid block that makes it.

    Attributes:
        config: the new run's config.
        edge_lr: the best rate of its scan, at the edge of the rates tried.
        block: an ``[[axes]]`` block (key -> one-element list) that, with the grid's
            ``base``, expands to ``config``.
    """

    config: TrainConfig
    edge_lr: float
    block: dict[str, list[Any]]


@dataclasses.dataclass(frozen=True)
class ScanPlan:
    """What :func:`scan_extensions` found in a grid and its store.

    Attributes:
        extensions: the runs to append to the grid, one :class:`ScanExtension` each.
        n_pending: runs the grid plans that the store does not hold yet (run ids as the
            sweep makes them on this machine); while any of a scan's runs is pending, that
            scan is not extended.
    """

    extensions: list[ScanExtension]
    n_pending: int


def _narrowed_blocks(spec: dict[str, Any], source: str) -> dict[str, dict[str, list[Any]]]:
    """Run id (as the sweep makes it on this machine) -> the grid's block narrowed to the one
    combination that makes that run."""
    axes = spec.get("axes", {})
    found = {}
    for block in axes if isinstance(axes, list) else [axes]:
        for combination in itertools.product(*block.values()):
            narrowed = {key: [value] for key, value in zip(block, combination)}
            (expanded,) = expand_grid({"base": spec.get("base", {}), "axes": narrowed}, source=source)
            found[settle_arithmetic(expanded).config_hash()] = narrowed
    return found


def scan_extensions(
    grid_path: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    *,
    match: Sequence[str] = LR_MATCH,
    loss: str = "result.final_val_loss_nats",
    factor: float = 2.0,
) -> ScanPlan:
    """The runs that take each edge scan of the store one rate further (see the module doc),
    and how many of the grid's runs the store lacks.

    ``match`` and ``loss`` define the scans as :func:`scalinglab.protocol.learning_rate_scan`
    does (a diverged run is never a scan's best; a scan whose every run diverged counts as
    best at its lowest rate, so it is extended downward). A scan of one rate is extended both
    ways. A scan with runs the grid plans but the store does not hold yet is left alone
    (record the grid first), and so is a next rate the grid already plans.

    Raises:
        ValueError: ``factor`` not a finite number above 1, ``match`` naming ``config.lr``,
            a grid that takes its rates from a scan (``lr_from``), or an edge run that no
            block of the grid makes.
    """
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f"factor must be a finite number above 1, got {factor}")
    if "config.lr" in match:
        raise ValueError("match must not name config.lr: a scan is the runs that differ in it")
    source = str(grid_path)
    spec = read_grid_spec(grid_path)
    if "lr_from" in spec.get("protocol", {}):
        raise ValueError(f"grid {source} takes its rates from a scan (lr_from): extend that scan's grid instead")
    table = load_table(store_path)
    recorded = {run.run_id for run in table}
    planned = expand_grid(spec, source=source, base_dir=Path(grid_path).parent)
    planned_hashes = {config.config_hash() for config in planned}
    blocks = _narrowed_blocks(spec, source)
    pending = [config for config in planned if settle_arithmetic(config).config_hash() not in recorded]
    pending_keys = {scan_key(tuple(_value(config, column) for column in match)) for config in pending}
    extensions: dict[str, ScanExtension] = {}
    for key, scan in learning_rate_scan(table, match, loss=loss).items():
        if scan.interior or key in pending_keys:
            continue
        next_lrs = []
        if scan.best_lr == scan.lrs[0]:
            next_lrs.append(scan.best_lr / factor)
        if scan.best_lr == scan.lrs[-1]:
            next_lrs.append(scan.best_lr * factor)
        edge_runs = [run for run in table if run.result.config.lr == scan.best_lr
                     and scan_key(tuple(run.value(column) for column in match)) == key]
        for run, lr in itertools.product(edge_runs, next_lrs):
            if run.run_id not in blocks:
                raise ValueError(f"no [[axes]] block of {source} makes the edge run {run.run_id[:8]} "
                                 f"(lr {scan.best_lr:g}): was the grid edited since it was recorded?")
            block = {**blocks[run.run_id], "lr": [lr]}
            (new,) = expand_grid({"base": spec.get("base", {}), "axes": block}, source=source)
            if new.config_hash() not in planned_hashes:
                extensions[new.config_hash()] = ScanExtension(new, scan.best_lr, block)
    return ScanPlan(list(extensions.values()), len(pending))


def _value(config: TrainConfig, column: str) -> Any:
    """A ``config.*`` column of a config that has no record yet (as ``RunTable`` reads it)."""
    head, _, path = column.partition(".")
    if head != "config":
        raise ValueError(f"match columns must be config.* columns, got {column!r}")
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _toml(value: Any, key: str) -> str:
    """``value`` (of grid key ``key``) as a TOML value: numbers, strings, booleans, lists and
    inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # repr round-trips a float exactly, and is valid TOML (1e-05, inf, nan)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item, key) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml(v, key)}" for k, v in value.items()) + "}"
    raise ValueError(f"grid key {key!r}: a value must be a number, string, boolean, list or table, got {value!r}")


def _toml_key(key: str) -> str:
    """``key`` bare where TOML allows it, quoted otherwise (``"model.d_model"`` stays one key)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def append_blocks(grid_path: str | os.PathLike[str], extensions: Sequence[ScanExtension]) -> str:
    """Append each extension's block to the grid file (with a comment naming its edge), and
    return the text appended. A grid written with one ``[axes]`` table has it renamed
    ``[[axes]]`` first (a list of one block: the same runs). The new grid is checked to
    expand before it is written."""
    path = Path(grid_path)
    text = "".join(
        f"\n# extended scan: the best lr {extension.edge_lr:g} sat at the edge of the rates tried\n[[axes]]\n"
        + "".join(f"{_toml_key(key)} = {_toml(values, key)}\n" for key, values in extension.block.items())
        for extension in extensions
    )
    original = path.read_text()
    if isinstance(read_grid_spec(path).get("axes"), dict):
        original = re.sub(r"(?m)^\[axes\][ \t]*$", "[[axes]]", original, count=1)
    try:
        expand_grid(tomllib.loads(original + text), source=str(path), base_dir=path.parent)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"grid file {path}: the extended grid is not valid TOML: {error}") from error
    path.write_text(original + text)
    return text
