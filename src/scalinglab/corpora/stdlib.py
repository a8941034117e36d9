"""``"stdlib"``: real English, the docstrings of the Python standard library on this machine.

Modules, classes and functions, read with :mod:`ast` from sorted paths, one document
each (``document_unit="docstring"``) or one document per module holding all its
docstrings in source order (``"module"``: long documents, for measuring the loss along a
long context), up to ``n_tokens`` bytes. Nothing is downloaded.
"""

from __future__ import annotations

import ast
import functools
import sysconfig
from pathlib import Path

import numpy as np

from .base import CorpusConfig, CorpusKind, Parameter, check_text_size, choice, encode, register

DOCUMENT_UNITS = ("docstring", "module")
_SKIPPED_STDLIB_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test"})


def stdlib_documents(max_tokens: int, unit: str) -> list[np.ndarray]:
    """Up to ``max_tokens`` bytes of standard-library docstrings, one document per ``unit``."""
    documents, total = [], 0
    for path in stdlib_paths():
        docstrings = _docstrings(path)
        texts = ["\n\n".join(docstrings)] if unit == "module" and docstrings else docstrings
        for text in texts:
            tokens = encode(text + "\n")
            documents.append(tokens[: max_tokens - total])
            total += len(documents[-1])
            if total >= max_tokens:
                return documents
    return documents


@functools.lru_cache(maxsize=1)
def stdlib_paths() -> tuple[Path, ...]:
    """The standard library's ``.py`` files, sorted, tests and installed packages left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return tuple(
        path
        for path in sorted(root.rglob("*.py"))
        if not _SKIPPED_STDLIB_DIRS.intersection(path.relative_to(root).parts[:-1])
    )


def _docstrings(path: Path) -> list[str]:
    """Docstrings of a module, its classes and functions, in source order ([] if unparsable)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = [n for n in ast.walk(tree) if isinstance(n, kinds)]
    nodes.sort(key=lambda n: getattr(n, "lineno", 0))
    docstrings = (ast.get_docstring(n) for n in nodes)
    return [d for d in docstrings if d and len(d) >= 40]


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    return stdlib_documents(config.n_tokens, config.document_unit)


KIND = register(CorpusKind(
    name="stdlib",
    title="Python standard library docstrings",
    parameters={"document_unit": Parameter("docstring", choice(*DOCUMENT_UNITS), "what one document is")},
    documents=_documents,
    check=check_text_size,
))
