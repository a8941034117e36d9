"""``"files"``: the reader's own UTF-8 text files, split into documents at blank lines."""

from __future__ import annotations

from pathlib import Path
import numpy as np

from .base import CorpusConfig, CorpusKind, Parameter, check_text_size, encode, register


def _paths(name: str, value: object) -> tuple[str, ...]:
    paths = tuple(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(paths, tuple) or not paths or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"{name} must name at least one file (a list of strings), got {value!r}")
    return paths


def _readable(config: CorpusConfig) -> None:
    """Every path is a file that exists (checked before any run starts)."""
    for name in config.paths:
        if not Path(name).is_file():
            raise ValueError(f"paths: {name!r} is not a file")


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    documents, total = [], 0
    for name in config.paths:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"paths: cannot read {name!r} as UTF-8 text ({error})") from error
        paragraphs = [p.strip() + "\n" for p in text.split("\n\n") if p.strip()]
        if not paragraphs:
            raise ValueError(f"paths: {name!r} is empty")
        for paragraph in paragraphs:
            if total >= config.n_tokens:
                return documents
            documents.append(encode(paragraph)[: config.n_tokens - total])
            total += len(documents[-1])
    return documents


KIND = register(CorpusKind(
    name="files",
    title="text files",
    parameters={"paths": Parameter((), _paths, "the UTF-8 text files, in order")},
    documents=_documents,
    check=check_text_size,
    preflight=_readable,
))
