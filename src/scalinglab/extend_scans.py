"""Extending learning-rate scans whose best rate sits at an edge, in the grid file itself.

The protocol (:mod:`scalinglab.protocol`) refuses a best learning rate at the edge of the
rates tried: the basin's bottom may lie beyond them. The remedy is one more rate past
that edge, a factor ``factor`` beyond it, for the same runs. :func:`scan_extensions`
finds them: for each scan of a store whose best is at an edge, and each run of that scan
at the edge rate (one a seed), the ``[[axes]]`` block of the grid that made the run,
narrowed to the run's own values with ``lr`` set to the next rate. Appended to the grid
(:func:`append_blocks`), the blocks make the grid describe the extended store, so that
``bash results/record.sh NAME`` re-records all of it; appending and recording again
until nothing is appended gives every scan an interior best.

Each block is checked: expanded with the grid's ``base``, it must give exactly the edge
run's config with the new rate (a grid whose runs take their rate from a scan,
``lr_from``, has no rates to extend and is refused).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .protocol import LR_MATCH, learning_rate_scan, scan_key
from .results import load_table
from .runs import TrainConfig
from .sweep import expand_grid


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


def _blocks(spec: dict[str, Any]) -> list[dict[str, list[Any]]]:
    axes = spec.get("axes", {})
    return list(axes) if isinstance(axes, list) else [axes]


def _block_of(spec: dict[str, Any], config: TrainConfig) -> dict[str, list[Any]] | None:
    """The grid's block narrowed to the one combination that expands to ``config``, or None."""
    target = config.config_hash()
    for block in _blocks(spec):
        for combination in itertools.product(*block.values()):
            narrowed = {key: [value] for key, value in zip(block, combination)}
            (made,) = expand_grid({"base": spec.get("base", {}), "axes": narrowed})
            if made.config_hash() == target:
                return narrowed
    return None


def scan_extensions(
    grid_path: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    *,
    match: Sequence[str] = LR_MATCH,
    loss: str = "result.final_val_loss_nats",
    factor: float = 2.0,
) -> list[ScanExtension]:
    """The runs that take each edge scan of the store one rate further (see the module doc).

    ``match`` and ``loss`` define the scans as :func:`scalinglab.protocol.learning_rate_scan`
    does. A scan of one rate is extended both ways. Runs the store or the grid already
    holds are not proposed again.

    Raises:
        ValueError: ``factor`` not above 1, a grid that takes its rates from a scan
            (``lr_from``), or an edge run that no block of the grid makes.
    """
    if not factor > 1:
        raise ValueError(f"factor must be above 1, got {factor}")
    spec = tomllib.loads(Path(grid_path).read_text())
    if "lr_from" in spec.get("protocol", {}):
        raise ValueError(f"grid {grid_path} takes its rates from a scan (lr_from): extend that scan's grid instead")
    table = load_table(store_path)
    planned = {config.config_hash() for config in expand_grid(spec, base_dir=Path(grid_path).parent)}
    extensions: dict[str, ScanExtension] = {}
    for key, scan in learning_rate_scan(table, match, loss=loss).items():
        if scan.interior:
            continue
        beyond = []
        if scan.best_lr == scan.lrs[0]:
            beyond.append(scan.best_lr / factor)
        if scan.best_lr == scan.lrs[-1]:
            beyond.append(scan.best_lr * factor)
        edge_runs = [run.result.config for run in table
                     if scan_key(tuple(run.value(column) for column in match)) == key
                     and run.result.config.lr == scan.best_lr]
        for config, lr in itertools.product(edge_runs, beyond):
            block = _block_of(spec, config)
            if block is None:
                raise ValueError(f"no [[axes]] block of {grid_path} makes the edge run {config.config_hash()[:8]} "
                                 f"(lr {config.lr:g}): was the grid edited since it was recorded?")
            block["lr"] = [float(f"{lr:.6g}")]
            new = dataclasses.replace(config, lr=block["lr"][0])
            (made,) = expand_grid({"base": spec.get("base", {}), "axes": block})
            if made.config_hash() != new.config_hash():  # e.g. lr set in a way the block cannot override
                raise ValueError(f"the block for run {config.config_hash()[:8]} does not reproduce it at lr {lr:g}")
            if new.config_hash() not in planned:
                extensions[new.config_hash()] = ScanExtension(new, scan.best_lr, block)
    return list(extensions.values())


def _toml(value: Any) -> str:
    """``value`` as a TOML value: numbers, strings, booleans, lists and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"a grid value must be a number, string, boolean, list or table, got {value!r}")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else json.dumps(key)


def append_blocks(grid_path: str | os.PathLike[str], extensions: Sequence[ScanExtension]) -> str:
    """Append each extension's block to the grid file (with a comment naming its edge), and
    return the text appended; the grid is read back to check it still expands."""
    path = Path(grid_path)
    text = "".join(
        f"\n# extended scan: the best lr {extension.edge_lr:g} sat at the edge of the rates tried\n[[axes]]\n"
        + "".join(f"{_toml_key(key)} = {_toml(values)}\n" for key, values in extension.block.items())
        for extension in extensions
    )
    original = path.read_text()
    path.write_text(original + text)
    try:
        expand_grid(tomllib.loads(path.read_text()), source=str(path), base_dir=path.parent)
    except (ValueError, tomllib.TOMLDecodeError):
        path.write_text(original)
        raise
    return text
