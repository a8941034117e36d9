"""``"code"``: Python source code, the standard library's ``.py`` files on this machine.

Sorted paths, tests left out, with their docstrings removed so that the corpus shares no
text with ``"stdlib"``; one document per file, comments kept, up to ``n_tokens`` bytes.
A token is one byte of source (more than the 8 MB cap on CPython 3.11).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from .base import CorpusConfig, CorpusKind, check_text_size, encode, register
from .stdlib import stdlib_paths


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    documents, total = [], 0
    for path in stdlib_paths():
        source = without_docstrings(path)
        if not source.strip():
            continue
        documents.append(encode(source)[: config.n_tokens - total])
        total += len(documents[-1])
        if total >= config.n_tokens:
            break
    return documents


def without_docstrings(path: Path) -> str:
    """The source of ``path`` with the lines of every module, class and function docstring
    removed ("" if it cannot be read or parsed)."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, ValueError, OSError, UnicodeDecodeError):
        return ""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    dropped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, kinds) and node.body and _is_docstring(node.body[0]):
            first = node.body[0]
            dropped.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines = source.splitlines(keepends=True)
    return "".join(line for number, line in enumerate(lines, start=1) if number not in dropped)


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


KIND = register(CorpusKind(
    name="code",
    title="Python standard library code",
    documents=_documents,
    check=check_text_size,
))
