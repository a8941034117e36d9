"""``"docstrings"`` and ``"package_code"``: the installed packages' docstrings (English) and source.

The corpus is read from the ``.py`` files of every ``site-packages`` or ``dist-packages``
directory on :data:`sys.path` that belongs to :data:`sys.prefix` (the virtual environment:
numpy, scipy, torch, sympy, scikit-learn, matplotlib, sphinx, ...), with :mod:`ast` and
without importing anything. A document is a **module**: its docstring, then its classes'
and functions' docstrings in source order, joined by blank lines (as the ``"stdlib"``
kind's ``document_unit="module"``), and a token is one byte of its UTF-8 text. Modules
with fewer than ``min_document_tokens`` bytes of docstrings (512 by default) are left out,
so that every document fills a context of that length; the documents are taken in sorted
order (top-level package, then relative path) up to ``n_tokens`` bytes (the last one cut,
and dropped if cut below ``min_document_tokens``).

Left out: the standard library (that is ``"stdlib"``), scalinglab itself, editable-install
hooks, and every file under a ``test`` or ``tests`` directory.

In the course's environment (Python 3.11, 139 distributions installed) this is
10,342 files read, of which 8,024 have docstrings and 5,349 at least 512 bytes of them:
5,349 documents from 118 distributions, 35,720,567 bytes (35.7 MB, as many tokens; torch,
scipy, sympy and scikit-learn give 3-5.5 MB each), so ``n_tokens`` can go well beyond the
8 MB cap of the ``"stdlib"`` kind. ``n_tokens`` (1,000,000 by default) takes the first
documents in that order; asking for more than the environment holds is a ``ValueError``,
raised when the corpus is built and by a sweep's check before any run starts, that says
how much there is.

The corpus depends on which packages, at which versions, are installed, so two machines
can hold different corpora under one config: the kind's ``identity`` (recorded in every
run's provenance as ``corpus_identity``) holds the sha256 of the documents' bytes (all of
them, before the ``n_tokens`` cap), ``n_files`` (files read), ``n_documents``, ``n_bytes``
and ``packages``, the version of every distribution that contributed a document.

The same modules give a second kind, ``"package_code"``: each module's **source** with
its docstrings' lines removed (as the ``"code"`` kind does to the standard library), comments
kept; modules with fewer than ``min_document_tokens`` bytes of it are left out. In the
course's environment that is 8,956 documents and 132,658,045 bytes, enough for the
allocation experiment's largest runs (``results/universality_lr_scan`` and the IsoFLOP
grids use its first 35M bytes, and 35M of the docstrings); it has its own disk cache and
identity.

Reading the ~10k files takes one to two minutes of one core's time (shared among forked
processes where Linux gives several cores), so the extracted documents are cached on disk,
one ``.npz`` file per environment in :func:`scalinglab.cache.cache_dir`, checked against a fingerprint
of the source files (their paths, sizes and modification times): a build in a new process
then takes about a second, and a changed environment re-reads only the files that changed.
A process reads the files' state once; :func:`scalinglab.corpora.clear_cache` makes it look
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .._checks import positive_int
from ..cache import cache_dir
from .base import CorpusConfig, CorpusKind, Parameter, encode, register
from .code import without_docstrings
from .stdlib import _docstrings


CACHE_FORMAT = 1
"""Bump when the extraction changes, so that old caches are not read."""

CONTENTS = ("docstrings", "code")
"""What is extracted from each module: its docstrings (the ``"docstrings"`` kind) or its
source with the docstrings removed (the ``"package_code"`` kind)."""

_SKIPPED_DIRS = frozenset({"test", "tests", "__pycache__"})
_SKIPPED_TOP_LEVEL = re.compile(r"^(scalinglab|__editable__.*)(\.py)?$")
_OWN_DISTRIBUTION = "scalinglab"


# ---------------------------------------------------------------------------
# Where the files are


def source_roots() -> tuple[Path, ...]:
    """The ``site-packages``/``dist-packages`` directories on :data:`sys.path` under
    :data:`sys.prefix`, in path order (tests replace this function)."""
    prefix = Path(sys.prefix).resolve()
    roots: list[Path] = []
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.name in ("site-packages", "dist-packages") and path.is_relative_to(prefix) and path.is_dir():
            if path not in roots:
                roots.append(path)
    return tuple(roots)


@dataclass(frozen=True)
class _File:
    root: int  # index into the roots
    relative: str  # posix path relative to its root
    size: int
    mtime_ns: int


def _scan(roots: tuple[Path, ...]) -> tuple[list[_File], str]:
    """The ``.py`` files of ``roots`` (tests, scalinglab and editable hooks left out) sorted by
    relative path, and a fingerprint of them and of the roots' ``.dist-info`` directory names."""
    files: list[_File] = []
    dist_infos: list[list[str]] = []
    for index, root in enumerate(roots):
        infos, top = [], str(root)
        for directory, subdirectories, names in os.walk(top):
            at_top = directory == top
            prefix = "" if at_top else directory[len(top) + 1 :].replace(os.sep, "/") + "/"
            if at_top:
                infos = sorted(d for d in subdirectories if d.endswith(".dist-info"))
            subdirectories[:] = sorted(
                d for d in subdirectories
                if d not in _SKIPPED_DIRS and not (at_top and _SKIPPED_TOP_LEVEL.match(d)) and "." not in d
            )
            for name in names:
                if not name.endswith(".py") or (at_top and _SKIPPED_TOP_LEVEL.match(name)):
                    continue
                try:
                    stat = os.stat(os.path.join(directory, name))
                except OSError:
                    continue
                files.append(_File(index, prefix + name, stat.st_size, stat.st_mtime_ns))
        dist_infos.append(infos)
    files.sort(key=lambda f: (f.relative.split("/"), f.root))
    header = [CACHE_FORMAT, sys.version_info[:2], [str(r) for r in roots], dist_infos]
    digest = hashlib.sha256(json.dumps(header).encode())
    for f in files:
        digest.update(f"{f.root}\0{f.relative}\0{f.size}\0{f.mtime_ns}\n".encode())
    return files, digest.hexdigest()


def _distributions(roots: tuple[Path, ...]) -> dict[tuple[int, str], tuple[str, str]]:
    """(root index, relative path, or ``top:NAME`` for a top-level name) -> (distribution,
    version), from each distribution's RECORD and, where it has none, its top_level.txt."""
    owners: dict[tuple[int, str], tuple[str, str]] = {}
    for index, root in enumerate(roots):
        for dist in importlib.metadata.distributions(path=[str(root)]):
            name, version = dist.metadata["Name"], dist.version
            if not name:
                continue
            for record in dist.files or ():
                if record.suffix == ".py" and not record.parts[0].startswith(".."):
                    owners.setdefault((index, PurePosixPath(*record.parts).as_posix()), (name, version))
            for top in (dist.read_text("top_level.txt") or "").split():
                owners.setdefault((index, f"top:{top}"), (name, version))
    return owners


def _owner(owners: dict[tuple[int, str], tuple[str, str]], f: _File) -> tuple[str, str] | None:
    top = f.relative.split("/")[0].removesuffix(".py")
    return owners.get((f.root, f.relative)) or owners.get((f.root, f"top:{top}"))


# ---------------------------------------------------------------------------
# The extraction and its cache


@dataclass(frozen=True)
class _Extraction:
    """Every module with some content (its docstrings, or its source without them), one
    document each (before the length filter)."""

    fingerprint: str
    files: list[_File]  # every file read (scalinglab's own left out)
    tokens: np.ndarray  # uint8: the documents, concatenated
    starts: np.ndarray  # int64: where each document starts (one more entry: the end)
    file_of: np.ndarray  # int64: the file index of each document
    distribution_of: np.ndarray  # int64: index into distributions, -1 where unknown
    distributions: list[tuple[str, str]]  # (name, version)

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.starts[i] : self.starts[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)


def _cache_path(roots: tuple[Path, ...], content: str) -> Path:
    key = hashlib.sha256(json.dumps([str(r) for r in roots]).encode()).hexdigest()[:16]
    return cache_dir() / f"{'docstrings' if content == 'docstrings' else 'package-code'}-{key}.npz"


def _load(path: Path) -> _Extraction | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != CACHE_FORMAT:
                return None
            return _Extraction(
                fingerprint=meta["fingerprint"],
                files=[_File(*f) for f in meta["files"]],
                tokens=data["tokens"],
                starts=data["starts"],
                file_of=data["file_of"],
                distribution_of=data["distribution_of"],
                distributions=[tuple(d) for d in meta["distributions"]],  # type: ignore[misc]
            )
    except Exception:  # a missing, foreign or damaged cache is a cache miss
        return None


def _save(path: Path, extraction: _Extraction) -> None:
    """Write ``extraction`` to ``path`` atomically (another process may be writing it too)."""
    meta = {
        "format": CACHE_FORMAT,
        "fingerprint": extraction.fingerprint,
        "files": [[f.root, f.relative, f.size, f.mtime_ns] for f in extraction.files],
        "distributions": [list(d) for d in extraction.distributions],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(
                    file,
                    meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
                    tokens=extraction.tokens,
                    starts=extraction.starts,
                    file_of=extraction.file_of,
                    distribution_of=extraction.distribution_of,
                )
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as error:
        warnings.warn(f"docstrings corpus: cannot write the cache {path} ({error}); it will be read again next time")


def _extract(
    roots: tuple[Path, ...], files: list[_File], fingerprint: str, previous: _Extraction | None, content: str
) -> _Extraction:
    """Read the ``content`` of ``files``, reusing ``previous``'s documents of unchanged files."""
    reused: dict[tuple[int, str, int, int], np.ndarray | None] = {}
    if previous is not None:
        reused = {(f.root, f.relative, f.size, f.mtime_ns): None for f in previous.files}
        for i, file_index in enumerate(previous.file_of):
            f = previous.files[file_index]
            reused[(f.root, f.relative, f.size, f.mtime_ns)] = previous.document(i)
    owners = _distributions(roots)
    owned = [(f, _owner(owners, f)) for f in files]
    wanted = [(f, owner) for f, owner in owned if owner is None or _normalise(owner[0]) != _OWN_DISTRIBUTION]
    keys = [(f.root, f.relative, f.size, f.mtime_ns) for f, _ in wanted]
    unread = [str(roots[f.root] / f.relative) for (f, _), key in zip(wanted, keys) if key not in reused]
    read = iter(_read_all(unread, content))
    distributions: dict[tuple[str, str], int] = {}
    pieces, file_of, distribution_of = [], [], []
    for index, ((_, owner), key) in enumerate(zip(wanted, keys)):
        document = reused[key] if key in reused else next(read)
        if document is None:
            continue
        pieces.append(document)
        file_of.append(index)
        distribution_of.append(-1 if owner is None else distributions.setdefault(owner, len(distributions)))
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    return _Extraction(
        fingerprint=fingerprint,
        files=[f for f, _ in wanted],
        tokens=np.concatenate(pieces).astype(np.uint8) if pieces else np.zeros(0, dtype=np.uint8),
        starts=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        file_of=np.array(file_of, dtype=np.int64),
        distribution_of=np.array(distribution_of, dtype=np.int64),
        distributions=list(distributions),
    )


def _read(path: str) -> np.ndarray | None:
    """The document of the module at ``path``: its docstrings joined by blank lines (None if none)."""
    docstrings = _docstrings(Path(path))
    return encode("\n\n".join(docstrings) + "\n") if docstrings else None


def _read_code(path: str) -> np.ndarray | None:
    """The document of the module at ``path``: its source without its docstrings (None if empty)."""
    source = without_docstrings(Path(path))
    return encode(source) if source.strip() else None


_PARALLEL_MIN_FILES = 500
"""Fewer files than this are read in this process; more, by a pool of forked processes."""


def _read_all(paths: list[str], content: str = "docstrings") -> list[np.ndarray | None]:
    """:func:`_read` (or, for ``content="code"``, :func:`_read_code`) of every path, in order:
    in parallel where processes can be forked (Linux) and there is more than one CPU, else (or
    if the pool fails) in this process."""
    read = {"docstrings": _read, "code": _read_code}[content]
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8)
    if len(paths) >= _PARALLEL_MIN_FILES and workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        try:
            with warnings.catch_warnings():  # the children only parse files: forking a threaded process is safe here
                warnings.simplefilter("ignore", DeprecationWarning)
                with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                    return list(pool.map(read, paths, chunksize=32))
        except Exception:  # no fork here after all (e.g. in a daemonic process): read serially
            pass
    return [read(path) for path in paths]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_IN_PROCESS: dict[tuple[tuple[Path, ...], str], _Extraction] = {}
_IDENTITIES: dict[tuple[str, str, int], dict[str, Any]] = {}


def extraction(content: str = "docstrings") -> _Extraction:
    """Every module of :func:`source_roots` with some ``content`` (one of :data:`CONTENTS`),
    once per process (until :func:`forget`): from the disk cache while its fingerprint matches
    the files, else read from the files (reusing the cache's documents of the files that did
    not change) and cached."""
    roots = source_roots()
    if (roots, content) in _IN_PROCESS:
        return _IN_PROCESS[roots, content]
    files, fingerprint = _scan(roots)
    path = _cache_path(roots, content)
    cached = _load(path)
    if cached is None or cached.fingerprint != fingerprint:
        cached = _extract(roots, files, fingerprint, previous=cached, content=content)
        _save(path, cached)
    for array in (cached.tokens, cached.starts, cached.file_of, cached.distribution_of):
        array.flags.writeable = False
    _IN_PROCESS[roots, content] = cached
    return cached


def forget() -> None:
    """Forget the extraction held in memory (:func:`scalinglab.corpora.clear_cache` calls
    this): the next build checks the files on disk again."""
    _IN_PROCESS.clear()
    _IDENTITIES.clear()


def _kept(ex: _Extraction, min_document_tokens: int) -> np.ndarray:
    """Indices of the documents of at least ``min_document_tokens`` bytes."""
    return np.flatnonzero(ex.lengths() >= min_document_tokens)


def available_tokens(min_document_tokens: int = 512, content: str = "docstrings") -> int:
    """The bytes of the corpus of ``content`` in this environment: its documents of at least
    ``min_document_tokens`` bytes (the most that ``n_tokens`` may ask for)."""
    ex = extraction(content)
    return int(ex.lengths()[_kept(ex, positive_int("min_document_tokens", min_document_tokens))].sum())


# ---------------------------------------------------------------------------
# The kind


def _content(config: CorpusConfig) -> str:
    return "docstrings" if config.kind == "docstrings" else "code"


def _check_size(config: CorpusConfig) -> None:
    """``n_tokens`` is at most what this environment holds (checked before any run starts)."""
    content = _content(config)
    available = available_tokens(config.min_document_tokens, content)
    if config.n_tokens > available:
        what = "docstrings" if content == "docstrings" else "source (docstrings removed)"
        raise ValueError(
            f"n_tokens must be at most {available}, the bytes of {what} in modules of at least "
            f"min_document_tokens={config.min_document_tokens} bytes in this environment, got {config.n_tokens}"
        )


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    _check_size(config)
    ex = extraction(_content(config))
    documents, total = [], 0
    for i in _kept(ex, config.min_document_tokens):
        document = ex.document(i)[: config.n_tokens - total]
        if len(document) < config.min_document_tokens:
            break
        documents.append(document)
        total += len(document)
        if total >= config.n_tokens:
            break
    return documents


def _identity(config: CorpusConfig) -> dict[str, Any]:
    ex = extraction(_content(config))
    key = (_content(config), ex.fingerprint, config.min_document_tokens)
    if key not in _IDENTITIES:
        kept = _kept(ex, config.min_document_tokens)
        digest = hashlib.sha256()
        for i in kept:
            digest.update(ex.document(i).data)
        owners = sorted({ex.distributions[d] for d in ex.distribution_of[kept] if d >= 0})
        _IDENTITIES[key] = {
            "sha256": digest.hexdigest(),
            "n_files": len(ex.files),
            "n_documents": len(kept),
            "n_bytes": int(ex.lengths()[kept].sum()),
            "packages": dict(owners),
        }
    return json.loads(json.dumps(_IDENTITIES[key]))  # a fresh copy


def _check(values: dict[str, Any]) -> None:
    if values["min_document_tokens"] > values["n_tokens"]:
        raise ValueError(
            f"min_document_tokens must be at most n_tokens ({values['n_tokens']}), got {values['min_document_tokens']}"
        )


def _files_used(ex: _Extraction, min_document_tokens: int) -> Iterable[Path]:
    """The paths of the files whose documents are kept (for tests and curious readers)."""
    roots = source_roots()
    for i in _kept(ex, min_document_tokens):
        f = ex.files[ex.file_of[i]]
        yield roots[f.root] / f.relative


def extracted_kind(name: str, title: str, what: str) -> CorpusKind:
    """Register the kind ``name`` that reads the installed packages' modules: their docstrings
    for ``"docstrings"``, their source without them otherwise (``what`` names it in the
    parameter's help and errors)."""
    return register(CorpusKind(
        name=name,
        title=title,
        parameters={
            "min_document_tokens": Parameter(
                512, positive_int, f"modules with fewer bytes of {what} are left out (each document is as long)"
            ),
        },
        documents=_documents,
        check=_check,
        preflight=_check_size,
        identity=_identity,
    ))


KIND = extracted_kind("docstrings", "docstrings of the installed packages", "docstrings")
