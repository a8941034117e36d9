"""Corpora as byte tokens: one file a kind behind a registry.

Every corpus is a stream of **byte tokens** (vocabulary 256: a token is one byte of
UTF-8 text) split into documents, and the documents are split into a training and a
validation set *by document*, deterministically from the seed. A corpus is built from a
:class:`CorpusConfig`, a frozen, hashable config that round-trips through JSON, so a
training run's identity can include its data::

    corpus = make_corpus(CorpusConfig(kind="zipf", n_tokens=200_000, seed=0))
    corpus.entropy_rate_nats          # the floor no model can beat, in nats/token

The kinds, one module each (its docstring says what a document is and what its
parameters mean): :mod:`~scalinglab.corpora.zipf` (rules with Zipf frequencies and an
exact entropy rate), :mod:`~scalinglab.corpora.markov_icl` (in-context Markov chains
with a Bayes-optimal loss), :mod:`~scalinglab.corpora.fewshot` (few-shot task
demonstrations), :mod:`~scalinglab.corpora.skills` (sums and facts mixed with text),
:mod:`~scalinglab.corpora.stdlib` (standard-library docstrings),
:mod:`~scalinglab.corpora.docstrings` (the installed packages' docstrings, tens of MB),
:mod:`~scalinglab.corpora.files` (the reader's own files), :mod:`~scalinglab.corpora.code`
(standard-library source), :mod:`~scalinglab.corpora.images` (8 x 8 digits),
:mod:`~scalinglab.corpora.shapes` (noisy 8 x 8 rectangles without end, with an entropy
rate estimated from their exact likelihood) and :mod:`~scalinglab.corpora.arithmetic`. A new kind is one new file in this folder that
calls :func:`~scalinglab.corpora.base.register` (see ARCHITECTURE.md).

This package needs numpy only (no torch): the training windows are cut by
:mod:`scalinglab.batches`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from .base import (
    KINDS,
    MAX_TEXT_TOKENS,
    VOCAB_SIZE,
    Corpus,
    CorpusConfig,
    CorpusKind,
    Parameter,
    corpus_kind,
    decode,
    encode,
    register,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

from .docstrings import forget as _forget_docstrings  # noqa: E402  (after the kinds are registered)


def make_corpus(config: CorpusConfig) -> Corpus:
    """Build the corpus that ``config`` describes (deterministic in ``config``; cached in-process,
    so its arrays are read-only)."""
    if not isinstance(config, CorpusConfig):
        raise ValueError(f"config must be a CorpusConfig, got {type(config).__name__}")
    return _make_corpus_cached(config)


@functools.lru_cache(maxsize=8)
def _make_corpus_cached(config: CorpusConfig) -> Corpus:
    return corpus_kind(config.kind).build(config)


def clear_cache() -> None:
    """Forget every corpus built so far (the next :func:`make_corpus` builds it anew, and the
    ``"docstrings"`` kind checks its source files on disk again)."""
    _make_corpus_cached.cache_clear()
    _forget_docstrings()


def check_available(config: CorpusConfig) -> None:
    """Raise ``ValueError`` when ``config``'s corpus cannot be built on this machine (a file
    of the reader's is missing), before any run that needs it starts."""
    kind = corpus_kind(config.kind)
    if kind.preflight is not None:
        kind.preflight(config)


def corpus_identity(config: CorpusConfig) -> dict | None:
    """What tells ``config``'s corpus on this machine apart from the same config's on another
    (plain JSON: e.g. a hash of its bytes and the versions it was read from), for a kind whose
    content depends on the machine (``"docstrings"``); None for a kind the config determines."""
    if not isinstance(config, CorpusConfig):
        raise ValueError(f"config must be a CorpusConfig, got {type(config).__name__}")
    kind = corpus_kind(config.kind)
    return kind.identity(config) if kind.identity is not None else None


def from_files(
    paths: list[str | Path] | tuple[str | Path, ...],
    *,
    max_tokens: int = MAX_TEXT_TOKENS,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Corpus:
    """A corpus of your own UTF-8 text files, split into documents at blank lines.

    An empty, missing or unreadable file raises ``ValueError`` naming its path. At most
    ``max_tokens`` bytes are used, files in the order given.
    """
    config = CorpusConfig(
        "files", paths=tuple(str(p) for p in paths), n_tokens=max_tokens, val_fraction=val_fraction, seed=seed
    )
    check_available(config)
    return make_corpus(config)


__all__ = [
    "KINDS", "MAX_TEXT_TOKENS", "VOCAB_SIZE", "Corpus", "CorpusConfig", "CorpusKind", "Parameter", "check_available",
    "clear_cache", "corpus_identity", "corpus_kind", "decode", "encode", "from_files", "make_corpus", "register",
]
