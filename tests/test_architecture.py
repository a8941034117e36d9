"""The package's layers: its import graph has no cycle, and no module imports one of a higher
layer, read statically from the source with ``ast`` (imports inside functions included)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "scalinglab"
PACKAGE = "scalinglab"

TORCH_FREE_ANALYSIS = ("emergence", "icl", "ladders", "repetition", "transfer", "universality", "plots", "protocol")
TORCH_SIDE = ("device", "model", "batches", "inference", "probes", "train", "sweep", "extend_scans", "lab", "__main__")

LAYERS: dict[str, int] = {
    PACKAGE: 0, "_checks": 0, "cache": 0, "mode": 0, "fermi": 0, "limits": 0, "tasks": 0,
    "corpora": 1,
    "runs": 2,
    "store": 3,
    "results": 4,
    "fit": 5,
    **{name: 6 for name in TORCH_FREE_ANALYSIS},
    # The claims tested on the recorded stores, above the fits and analyses their measurements use:
    "report": 7,
    # The torch side, above the torch-free one (probes read the in-context score from icl):
    "device": 8, "model": 9, "batches": 10, "inference": 11, "probes": 12, "train": 13, "sweep": 14, "extend_scans": 15, "lab": 15,
    "__main__": 16,
}
"""Each top-level module or subpackage of scalinglab -> its layer: a module may import its own
layer and the ones below. The package ``scalinglab`` itself (its ``__init__``, which holds
``__version__``) is at the bottom."""

KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}
"""Edges that break the layering and are waiting for a fix in src/ (delete an entry once it is fixed)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _is_internal(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _imports(module: str) -> list[tuple[str, int]]:
    """The scalinglab modules that ``module`` imports (with the line of each import), relative
    imports resolved; ``from X import name`` names the module ``X.name`` when there is one."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.append((submodule if submodule in MODULES else origin, node.lineno))
    return [(name, line) for name, line in found if _is_internal(name)]


GRAPH: dict[str, set[str]] = {module: {name for name, _ in _imports(module)} - {module} for module in MODULES}


def _layer_key(module: str) -> str:
    """``scalinglab.corpora.zipf`` -> ``corpora``; ``scalinglab`` -> ``scalinglab``."""
    return module.split(".")[1] if "." in module else module


def test_the_source_tree_is_found_and_parsed():
    assert {"scalinglab", "scalinglab.corpora", "scalinglab.corpora.zipf", "scalinglab.probes.base",
            "scalinglab.train", "scalinglab.__main__"} <= set(MODULES)
    assert "scalinglab.corpora.base" in GRAPH["scalinglab.corpora.zipf"]  # a relative import, resolved
    assert "scalinglab.fermi" in GRAPH["scalinglab.limits"]  # from . import fermi: the submodule
    assert "scalinglab" in GRAPH["scalinglab.train"]  # from . import __version__: the package itself
    assert "scalinglab.corpora.skills" in GRAPH["scalinglab.probes.skills"]  # from ..corpora.skills import ...
    assert "torch" not in str(GRAPH)  # only scalinglab's own modules


def _defined_names(module: str) -> set[str]:
    """Names that ``module`` binds anywhere at import time (assignments, definitions, imports)."""
    names = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_every_internal_import_names_a_module_or_a_name_that_exists():
    missing = [f"{module} line {line}: {name}" for module in MODULES for name, line in _imports(module) if name not in MODULES]
    for module in MODULES:  # from scalinglab import __version__: the package's own names
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module is None and node.level == 1:
                for alias in node.names:
                    if f"{package}.{alias.name}" not in MODULES and alias.name not in _defined_names(package):
                        missing.append(f"{module} line {node.lineno}: {package}.{alias.name}")
    assert not missing, "imports of modules or names that do not exist:\n" + "\n".join(missing)


def test_the_import_graph_has_no_cycle():
    try:
        order = list(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as error:
        cycle = error.args[1]
        pytest.fail("import cycle: " + " -> ".join(reversed(cycle)))
    assert set(order) >= set(MODULES)


def test_the_cycle_check_finds_a_cycle():
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter({**GRAPH, "scalinglab.runs": GRAPH["scalinglab.runs"] | {"scalinglab.train"}})
             .static_order())


def test_every_module_has_a_layer():
    unplaced = sorted({_layer_key(module) for module in MODULES} - set(LAYERS))
    assert not unplaced, f"give these a layer in LAYERS: {unplaced}"


def test_no_module_imports_one_of_a_higher_layer():
    upward = [
        f"{module} (layer {LAYERS[_layer_key(module)]}) imports {name} (layer {LAYERS[_layer_key(name)]}) at line {line}"
        for module in MODULES
        for name, line in _imports(module)
        if LAYERS[_layer_key(name)] > LAYERS[_layer_key(module)] and (module, name) not in KNOWN_VIOLATIONS
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_torch_free_modules_import_nothing_of_the_torch_side_nor_torch():
    torch_free = [module for module in MODULES if _layer_key(module) not in TORCH_SIDE]
    assert {"scalinglab.results", "scalinglab.runs", "scalinglab.icl", "scalinglab.corpora.base"} <= set(torch_free)
    offending = []
    for module in torch_free:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            )
            offending += [f"{module} line {node.lineno}: {n}" for n in names if n.split(".")[0] == "torch"]
        offending += [
            f"{module} line {line}: {name}"
            for name, line in _imports(module)
            if _layer_key(name) in TORCH_SIDE and (module, name) not in KNOWN_VIOLATIONS
        ]
    assert not offending, "torch-free modules that import torch or the torch side:\n" + "\n".join(offending)
