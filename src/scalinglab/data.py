"""Corpora as byte tokens: synthetic sources with a known entropy, real text, batches.

Every corpus is a stream of **byte tokens** (vocabulary 256: a token is one byte of
UTF-8 text) split into documents, and the documents are split into a training and a
validation set *by document*, deterministically from the seed. A corpus is built from a
:class:`CorpusConfig`, a frozen, hashable dataclass that round-trips through JSON, so a
training run's identity can include its data::

    corpus = make_corpus(CorpusConfig(kind="zipf", n_tokens=200_000, seed=0))
    corpus.entropy_rate_nats          # the floor no model can beat, in nats/token
    x, y = get_batch(corpus.train_tokens, batch_size=8, n_ctx=64, generator=g)

The kinds of corpus (``CorpusConfig.kind``):

``"zipf"``
    The *Zipf-rules* source, built to scale like language (Hutter 2021; Michaud et
    al. 2023). A document is a run of fixed-length segments. Each segment draws a
    rule ``i`` from a Zipf law over ``n_rules`` rules, ``p_i ∝ (i+1)^(-zipf_exponent)``,
    writes the rule's id (``id_length`` capital letters), then the rule's own
    ``continuation_length`` lowercase letters (a fixed random string per rule, each
    letter independently replaced with probability ``noise`` by a uniformly random
    letter), then a space. A model learns the rules one by one, frequent ones first,
    so loss falls as a power law in model size and data rather than off a cliff.
    Its entropy rate is exact (see :func:`zipf_entropy_rate_nats`).
``"markov_icl"``
    The *in-context* source: each document is a newline followed by a first-order
    Markov chain over ``n_states`` letters whose transition table is drawn afresh for
    that document (rows from a symmetric Dirichlet(``concentration``)), so a model can
    only predict by learning the table from the context. The Bayes-optimal loss at
    each position is :func:`bayes_optimal_loss_per_position`.
``"fewshot"``
    Few-shot task demonstrations (:func:`scalinglab.tasks.task_document`): each
    document is a newline, with probability 1/2 a one-line task description, then
    ``word -> answer`` lines of one task (copy, first letter, last letter, or the
    first letter in a letter code drawn per document) on the training words, up to ``document_tokens``
    bytes. A model trained on it can be asked the same tasks in context, on held-out
    words (:func:`scalinglab.icl.few_shot_table`).
``"skills"``
    Two generated skills mixed with text (:mod:`scalinglab.skills`): documents of
    ``n_digits``-digit sums (training problems only; a tenth of all problems is held out
    for testing) or of made-up facts ("the colour of X is Y."), drawn from ``n_facts``
    facts with Zipf frequencies, up to ``document_tokens`` bytes each, shuffled with
    standard-library docstrings that make up ``text_fraction`` of the tokens (at most
    the ~1.6M tokens of docstrings there are; beyond that the corpus has less text).
``"stdlib"``
    Real English: the docstrings of the Python standard library on this machine
    (modules, classes and functions, read with :mod:`ast` from sorted paths), one
    document each (``document_unit="docstring"``) or one document per module holding
    all its docstrings in source order (``"module"``: long documents, for measuring the
    loss along a long context), up to ``n_tokens`` bytes. Nothing is downloaded.
``"files"``
    The reader's own UTF-8 text files (``paths``), split into documents at blank
    lines; see :func:`from_files`.
``"code"``
    Python source code: the standard library's ``.py`` files on this machine (sorted
    paths, tests left out) with their docstrings removed, so that it shares no text with
    ``"stdlib"``; one document per file, comments kept, up to ``n_tokens`` bytes. A token
    is one byte of source (more than the 8 MB cap of :data:`MAX_TEXT_TOKENS` on CPython 3.11).
``"images"``
    Small images as pixel sequences: the 1,797 handwritten digits (8 x 8 pixels, 17 grey
    levels) that ship inside scikit-learn, read from its data file (nothing is
    downloaded). A document is a newline then the 64 pixels in raster order (row by
    row), one token per pixel: grey level ``v`` in 0..16 is quantised to
    ``q = floor(v * pixel_levels / 17)`` and written as the byte ``ord("0") + q``
    (:data:`PIXEL_LEVELS` lists the accepted ``pixel_levels``). The split is by
    *source image*; each training image is also shifted by up to ``image_shift``
    pixels in each direction (blank pixels shifted in), ``(2 image_shift + 1)^2``
    copies in shuffled order, while validation images are used as they are. With the
    defaults: 1,617 training images x 9 shifts = 945,945 tokens, 180 validation images
    = 11,700 tokens. ``n_tokens`` caps the whole corpus: when the shifted copies do not
    fit (``image_shift=2`` makes 2,627,625 training tokens), the training split keeps
    the first of them in shuffled order, a random subset, and the validation split is
    kept whole.
``"arithmetic"``
    Generated arithmetic: lines ``a+b=c``, ``a-b=c`` or ``a*b=c`` (operator uniform,
    operands uniform in ``0 .. 10^n_digits - 1``, written without leading zeros,
    differences may be negative), after a newline, filling documents of up to
    ``document_tokens`` bytes. Only the operator and operands are random, so the loss
    cannot go below :func:`arithmetic_entropy_rate_nats` (``n_digits`` up to 3).

Fields that do not apply to a kind are ignored by it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import gzip
import importlib.util
import math
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._checks import fraction, non_negative_float, non_negative_int, one_of, positive_float, positive_int
from .tasks import task_document

VOCAB_SIZE = 256
KINDS = ("zipf", "markov_icl", "fewshot", "skills", "stdlib", "files", "code", "images", "arithmetic")
DOCUMENT_UNITS = ("docstring", "module")
MAX_TEXT_TOKENS = 8_000_000
"""Upper bound on ``n_tokens`` for the real-text kinds, to keep them a few MB."""
PIXEL_LEVELS = (2, 4, 8, 17)
"""Grey levels an ``"images"`` corpus may be quantised to (17: the digits' own levels)."""
MAX_IMAGE_SHIFT = 2
"""Largest ``image_shift`` (pixels) of the ``"images"`` corpus's augmentation."""
ARITHMETIC_OPERATORS = "+-*"
MAX_ARITHMETIC_DIGITS = 3
"""Largest ``n_digits`` of an ``"arithmetic"`` corpus (its entropy is then exact to enumerate)."""

_ID_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONTINUATION_LETTERS = b"abcdefghijklmnopqrstuvwxyz"
_STATE_LETTERS = b"abcdefghijklmnopqrstuvwxyz"
_SEGMENT_END = ord(" ")
_DOCUMENT_START = ord("\n")
_SKIPPED_STDLIB_DIRS = frozenset({"site-packages", "dist-packages", "test", "tests", "idle_test"})


# ---------------------------------------------------------------------------
# Tokens


def encode(text: str | bytes) -> np.ndarray:
    """Byte tokens (uint8, values 0-255) of ``text``: its UTF-8 bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return np.frombuffer(data, dtype=np.uint8).copy()


def decode(tokens: np.ndarray | torch.Tensor | list[int]) -> str:
    """Text of byte ``tokens``; bytes that are not valid UTF-8 become U+FFFD."""
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.detach().cpu().numpy()
    return bytes(np.asarray(tokens, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that determines a corpus; frozen, hashable and JSON-serialisable.

    Attributes:
        kind: one of :data:`KINDS`.
        n_tokens: tokens to generate (synthetic kinds: at least this many, rounded up
            to whole documents) or at most this many bytes (text kinds).
        seed: seed of the generator and of the train/validation split.
        val_fraction: fraction of documents held out for validation, in (0, 1).
        n_rules, zipf_exponent, continuation_length, noise: the ``"zipf"`` source.
        n_states, concentration: the ``"markov_icl"`` source.
        document_tokens: tokens per document of the synthetic kinds (``"zipf"``
            rounds it down to whole segments, at least one; ``"fewshot"`` fills each
            document with whole example lines up to it).
        paths: the text files of the ``"files"`` kind.
        document_unit: what one ``"stdlib"`` document is: ``"docstring"`` or ``"module"``.
        n_digits, n_facts, text_fraction: the ``"skills"`` source (``n_digits`` also
            sets the operands' digits of ``"arithmetic"``).
        pixel_levels, image_shift: the ``"images"`` corpus's quantisation (one of
            :data:`PIXEL_LEVELS`) and largest augmentation shift in pixels (0 to
            :data:`MAX_IMAGE_SHIFT`).
    """

    kind: str = "zipf"
    n_tokens: int = 1_000_000
    seed: int = 0
    val_fraction: float = 0.1
    n_rules: int = 10_000
    zipf_exponent: float = 1.3
    continuation_length: int = 8
    noise: float = 0.05
    n_states: int = 8
    concentration: float = 0.3
    document_tokens: int = 256
    paths: tuple[str, ...] = field(default_factory=tuple)
    document_unit: str = "docstring"
    n_digits: int = 3
    n_facts: int = 1000
    text_fraction: float = 0.25
    pixel_levels: int = 17
    image_shift: int = 1

    def __post_init__(self) -> None:
        one_of("kind", self.kind, KINDS)
        one_of("document_unit", self.document_unit, DOCUMENT_UNITS)
        if not 1 <= positive_int("n_digits", self.n_digits) <= 6:
            raise ValueError(f"n_digits must be an integer in 1..6, got {self.n_digits!r}")
        positive_int("n_facts", self.n_facts)
        if non_negative_float("text_fraction", self.text_fraction) >= 1:
            raise ValueError(f"text_fraction must be a number in [0, 1), got {self.text_fraction!r}")
        positive_int("n_tokens", self.n_tokens)
        non_negative_int("seed", self.seed)
        if fraction("val_fraction", self.val_fraction) >= 1:
            raise ValueError(f"val_fraction must be a number in (0, 1), got {self.val_fraction!r}")
        positive_int("n_rules", self.n_rules)
        positive_float("zipf_exponent", self.zipf_exponent)
        positive_int("continuation_length", self.continuation_length)
        if non_negative_float("noise", self.noise) > 1:
            raise ValueError(f"noise must be a number in [0, 1], got {self.noise!r}")
        if positive_int("n_states", self.n_states) > len(_STATE_LETTERS):
            raise ValueError(f"n_states must be at most {len(_STATE_LETTERS)}, got {self.n_states!r}")
        positive_float("concentration", self.concentration)
        if positive_int("document_tokens", self.document_tokens) < 2:
            raise ValueError(f"document_tokens must be at least 2, got {self.document_tokens!r}")
        if not isinstance(self.paths, tuple) or not all(isinstance(p, str) for p in self.paths):
            raise ValueError(f"paths must be a tuple of strings, got {self.paths!r}")
        if self.kind == "files" and not self.paths:
            raise ValueError("paths must name at least one file when kind='files'")
        one_of("pixel_levels", self.pixel_levels, PIXEL_LEVELS)
        if non_negative_int("image_shift", self.image_shift) > MAX_IMAGE_SHIFT:
            raise ValueError(f"image_shift must be an integer in 0..{MAX_IMAGE_SHIFT}, got {self.image_shift!r}")
        if self.kind == "arithmetic" and self.n_digits > MAX_ARITHMETIC_DIGITS:
            raise ValueError(
                f"n_digits must be an integer in 1..{MAX_ARITHMETIC_DIGITS} for kind='arithmetic', got {self.n_digits!r}"
            )
        if self.kind in ("stdlib", "files", "code") and self.n_tokens > MAX_TEXT_TOKENS:
            raise ValueError(f"n_tokens must be at most {MAX_TEXT_TOKENS} for kind={self.kind!r}, got {self.n_tokens}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``paths`` becomes a list)."""
        data = dataclasses.asdict(self)
        data["paths"] = list(self.paths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["paths"] = tuple(data.get("paths", ()))
        return cls(**data)


# ---------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True, eq=False)
class Corpus:
    """A tokenised corpus: training and validation byte tokens, split by document.

    Attributes:
        name: a short human-readable name.
        config: the spec it was built from.
        train_tokens, val_tokens: uint8 arrays of byte tokens (documents concatenated).
        train_document_starts, val_document_starts: int64 offsets of each document.
        entropy_rate_nats: a floor on the loss, in nats/token, where the source gives one:
            the exact entropy rate (``"zipf"``) or a lower bound on it (``"arithmetic"``);
            else ``None``. No model's average loss can be below it.
    """

    name: str
    config: CorpusConfig
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    train_document_starts: np.ndarray
    val_document_starts: np.ndarray
    entropy_rate_nats: float | None = None

    def unique_subset(self, n_tokens: int) -> np.ndarray:
        """The first ``n_tokens`` training tokens: exactly that many unique tokens, to be
        repeated for several epochs in data-constrained experiments."""
        n_tokens = positive_int("n_tokens", n_tokens)
        if n_tokens > len(self.train_tokens):
            raise ValueError(f"n_tokens must be at most the {len(self.train_tokens)} training tokens, got {n_tokens}")
        return self.train_tokens[:n_tokens]

    def describe(self, sample_tokens: int = 120) -> str:
        """A few lines: name, sizes, entropy rate (if known) and the first ``sample_tokens`` of training text."""
        lines = [
            f"{self.name}",
            f"  train: {len(self.train_tokens):,} tokens in {len(self.train_document_starts):,} documents",
            f"  val:   {len(self.val_tokens):,} tokens in {len(self.val_document_starts):,} documents",
        ]
        if self.entropy_rate_nats is not None:
            bits = self.entropy_rate_nats / math.log(2)
            lines.append(f"  entropy floor: {self.entropy_rate_nats:.4f} nats/token = {bits:.4f} bits/byte")
        if non_negative_int("sample_tokens", sample_tokens):
            lines.append(f"  sample: {decode(self.train_tokens[:sample_tokens])!r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Corpus(name={self.name!r}, train_tokens={len(self.train_tokens)}, "
            f"val_tokens={len(self.val_tokens)}, entropy_rate_nats={self.entropy_rate_nats})"
        )


def make_corpus(config: CorpusConfig) -> Corpus:
    """Build the corpus that ``config`` describes (deterministic in ``config``; cached in-process)."""
    if not isinstance(config, CorpusConfig):
        raise ValueError(f"config must be a CorpusConfig, got {type(config).__name__}")
    return _make_corpus_cached(config)


@functools.lru_cache(maxsize=8)
def _make_corpus_cached(config: CorpusConfig) -> Corpus:
    if config.kind == "zipf":
        documents, name, entropy = _zipf_documents(config), "Zipf rules", zipf_entropy_rate_nats(config)
    elif config.kind == "markov_icl":
        documents, name, entropy = _markov_icl_documents(config), "in-context Markov chains", None
    elif config.kind == "fewshot":
        documents, name, entropy = _fewshot_documents(config), "few-shot task demonstrations", None
    elif config.kind == "skills":
        documents, name, entropy = _skills_documents(config), "sums, facts and docstrings", None
    elif config.kind == "stdlib":
        documents, name = _stdlib_documents(config.n_tokens, config.document_unit), "Python standard library docstrings"
        entropy = None
    elif config.kind == "code":
        documents, name, entropy = _code_documents(config.n_tokens), "Python standard library code", None
    elif config.kind == "images":
        return _image_corpus(config)
    elif config.kind == "arithmetic":
        documents, name = _arithmetic_documents(config), "arithmetic"
        entropy = arithmetic_entropy_rate_nats(config.n_digits)
    else:
        documents, name, entropy = _file_documents(config.paths, config.n_tokens), "text files", None
    return _split(documents, config, name, entropy)


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
        kind="files",
        paths=tuple(str(p) for p in paths),
        n_tokens=max_tokens,
        val_fraction=val_fraction,
        seed=seed,
    )
    return make_corpus(config)


def _split(documents: list[np.ndarray], config: CorpusConfig, name: str, entropy: float | None) -> Corpus:
    """Split ``documents`` into train and validation by a seeded permutation of documents."""
    n_val = max(1, round(config.val_fraction * len(documents)))
    if len(documents) - n_val < 1:
        raise ValueError(
            f"n_tokens is too small to split {name!r} by document: only {len(documents)} document(s)"
        )
    order = np.random.default_rng([config.seed, 1]).permutation(len(documents))
    val_ids, train_ids = np.sort(order[:n_val]), np.sort(order[n_val:])
    train, train_starts = _concatenate([documents[i] for i in train_ids])
    val, val_starts = _concatenate([documents[i] for i in val_ids])
    return Corpus(name, config, train, val, train_starts, val_starts, entropy)


def _concatenate(documents: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(d) for d in documents], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return np.concatenate(documents).astype(np.uint8), starts


# ---------------------------------------------------------------------------
# The Zipf-rules source


def zipf_probabilities(n_rules: int, exponent: float) -> np.ndarray:
    """Rule probabilities ``p_i = (i+1)^(-exponent) / sum_j (j+1)^(-exponent)``, i = 0..n_rules-1."""
    n_rules, exponent = positive_int("n_rules", n_rules), positive_float("exponent", exponent)
    weights = np.arange(1, n_rules + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def zipf_id_length(n_rules: int) -> int:
    """Capital letters needed to give each of ``n_rules`` rules its own id (at least 1)."""
    return max(1, math.ceil(math.log(n_rules) / math.log(len(_ID_LETTERS)) - 1e-12))


def zipf_segment_tokens(config: CorpusConfig) -> int:
    """Tokens per segment: id letters + continuation letters + one space."""
    return zipf_id_length(config.n_rules) + config.continuation_length + 1


def noisy_letter_entropy_nats(noise: float, n_letters: int = len(_CONTINUATION_LETTERS)) -> float:
    """Entropy of one continuation letter, in nats.

    With probability ``1 - noise`` the letter is the rule's own; with probability
    ``noise`` it is uniform over ``n_letters`` (possibly the same one), so the rule's
    letter has probability ``q = 1 - noise + noise/n`` and each other ``r = noise/n``:
    ``H = -q ln q - (n-1) r ln r``.
    """
    r = noise / n_letters
    q = 1 - noise + r
    return float(-sum(p * math.log(p) for p in (q,) + (r,) * (n_letters - 1) if p > 0))


def zipf_entropy_rate_nats(config: CorpusConfig) -> float:
    """Exact entropy rate of the Zipf-rules source, in nats/token.

    Segments are independent and identically distributed, each of ``T`` tokens, so the
    rate is ``H(segment) / T``. By the chain rule the id letters together carry exactly
    ``H(rule) = -sum_i p_i ln p_i`` (an id names its rule one-to-one), each continuation
    letter then carries :func:`noisy_letter_entropy_nats` given the rule, and the space
    carries nothing::

        rate = (H(rule) + continuation_length * H(letter)) / T
    """
    p = zipf_probabilities(config.n_rules, config.zipf_exponent)
    rule_entropy = float(-(p * np.log(p)).sum())
    letters = config.continuation_length * noisy_letter_entropy_nats(config.noise)
    return (rule_entropy + letters) / zipf_segment_tokens(config)


def _zipf_documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 0])
    id_length, segment = zipf_id_length(config.n_rules), zipf_segment_tokens(config)
    letters = np.frombuffer(_CONTINUATION_LETTERS, dtype=np.uint8)
    id_codes = rng.choice(len(_ID_LETTERS) ** id_length, size=config.n_rules, replace=False)
    digits = (id_codes[:, None] // len(_ID_LETTERS) ** np.arange(id_length - 1, -1, -1)) % len(_ID_LETTERS)
    ids = np.frombuffer(_ID_LETTERS, dtype=np.uint8)[digits]
    continuations = letters[rng.integers(0, len(letters), size=(config.n_rules, config.continuation_length))]

    segments_per_document = max(1, config.document_tokens // segment)
    n_documents = math.ceil(config.n_tokens / (segments_per_document * segment))
    n_segments = n_documents * segments_per_document
    rules = rng.choice(config.n_rules, size=n_segments, p=zipf_probabilities(config.n_rules, config.zipf_exponent))
    text = continuations[rules]
    replaced = rng.random(text.shape) < config.noise
    text[replaced] = letters[rng.integers(0, len(letters), size=int(replaced.sum()))]
    ends = np.full((n_segments, 1), _SEGMENT_END, dtype=np.uint8)
    stream = np.concatenate([ids[rules], text, ends], axis=1)
    return list(stream.reshape(n_documents, segments_per_document * segment))


# ---------------------------------------------------------------------------
# The in-context Markov source


def _markov_icl_documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 0])
    n_states = config.document_tokens - 1
    n_documents = math.ceil(config.n_tokens / config.document_tokens)
    states = sample_markov_documents(n_documents, n_states, config.n_states, config.concentration, rng)
    letters = np.frombuffer(_STATE_LETTERS, dtype=np.uint8)
    stream = np.concatenate([np.full((n_documents, 1), _DOCUMENT_START, dtype=np.uint8), letters[states]], axis=1)
    return list(stream)


def sample_markov_documents(
    n_documents: int, length: int, n_states: int, concentration: float, rng: np.random.Generator
) -> np.ndarray:
    """State sequences (``n_documents`` x ``length``, int64), each from its own random chain.

    Per document: a transition table whose rows are Dirichlet(``concentration``,...),
    a uniformly random first state, then ``length - 1`` transitions.
    """
    tables = rng.dirichlet(np.full(n_states, concentration), size=(n_documents, n_states))
    cumulative = np.cumsum(tables, axis=-1)
    states = np.empty((n_documents, length), dtype=np.int64)
    states[:, 0] = rng.integers(0, n_states, size=n_documents)
    rows = np.arange(n_documents)
    for t in range(1, length):
        u = rng.random(n_documents)[:, None]
        states[:, t] = np.minimum((u > cumulative[rows, states[:, t - 1]]).sum(axis=1), n_states - 1)
    return states


def bayes_optimal_predictive(states: np.ndarray, n_states: int, concentration: float) -> np.ndarray:
    """The Bayes-optimal next-state distribution at every position of each sequence.

    For state sequences ``states`` (documents x length) returns ``P`` (documents x
    length x n_states) where ``P[d, t]`` predicts ``states[d, t]`` from
    ``states[d, :t]``: uniform at ``t = 0``, then the Dirichlet-categorical posterior
    predictive ``(count(prev -> x) + alpha) / (count(prev) + n_states * alpha)``.
    """
    n_documents, length = states.shape
    counts = np.zeros((n_documents, n_states, n_states))
    rows = np.arange(n_documents)
    predictive = np.empty((n_documents, length, n_states))
    predictive[:, 0] = 1.0 / n_states
    for t in range(1, length):
        previous = states[:, t - 1]
        if t > 1:
            counts[rows, states[:, t - 2], previous] += 1
        row = counts[rows, previous] + concentration
        predictive[:, t] = row / row.sum(axis=1, keepdims=True)
    return predictive


def bayes_optimal_loss_per_position(
    n_positions: int,
    *,
    n_states: int = 8,
    concentration: float = 0.3,
    n_samples: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected loss (nats) of the Bayes-optimal predictor at each position, with its standard error.

    Entry ``t`` is the expected log-loss of predicting state ``t`` of a ``"markov_icl"``
    document from the ``t`` states before it (entry 0 is ``ln n_states``). In a window
    that starts at a document's newline, it is the best possible loss at position ``t``.

    Estimated without bias by Rao-Blackwellisation: given a history the next state's
    distribution *is* the posterior predictive, so the expected loss given the history
    is exactly that predictive's entropy. The estimate is the mean of that entropy over
    ``n_samples`` sampled documents; the standard error is their standard deviation
    over ``sqrt(n_samples)``. (The Polya closed form does not apply directly: the times
    a row is visited depend on that row's own outcomes.)
    """
    n_positions = positive_int("n_positions", n_positions)
    n_states, concentration = positive_int("n_states", n_states), positive_float("concentration", concentration)
    n_samples = positive_int("n_samples", n_samples)
    rng = np.random.default_rng([non_negative_int("seed", seed), 2])
    states = sample_markov_documents(n_samples, n_positions, n_states, concentration, rng)
    predictive = bayes_optimal_predictive(states, n_states, concentration)
    entropy = -(predictive * np.log(predictive)).sum(axis=-1)
    standard_error = entropy.std(axis=0, ddof=1) / math.sqrt(n_samples) if n_samples > 1 else np.zeros(n_positions)
    return entropy.mean(axis=0), standard_error


# ---------------------------------------------------------------------------
# Few-shot task demonstrations


def _fewshot_documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 3])
    documents, total = [], 0
    while total < config.n_tokens:
        documents.append(encode(task_document(rng, config.document_tokens)))
        total += len(documents[-1])
    return documents


# ---------------------------------------------------------------------------
# Skills mixed with text

SKILLS_HELD_OUT_FRACTION = 0.1
"""Fraction of the ``"skills"`` corpus's addition problems held out of training."""
SKILLS_FACT_EXPONENT = 1.1
"""Zipf exponent of the facts' frequencies in the ``"skills"`` corpus."""


def _skills_documents(config: CorpusConfig) -> list[np.ndarray]:
    from .skills import fact_table, skill_document  # skills builds on this module

    rng = np.random.default_rng([config.seed, 5])
    facts = fact_table(config.n_facts, seed=config.seed)
    text = _stdlib_documents(round(config.text_fraction * config.n_tokens), "docstring") if config.text_fraction else []
    documents, total = list(text), sum(len(d) for d in text)
    while total < config.n_tokens:
        document = skill_document(
            rng, config.document_tokens, n_digits=config.n_digits, facts=facts, fact_exponent=SKILLS_FACT_EXPONENT,
            held_out_fraction=SKILLS_HELD_OUT_FRACTION, seed=config.seed,
        )
        documents.append(encode(document))
        total += len(documents[-1])
    return [documents[i] for i in rng.permutation(len(documents))]


# ---------------------------------------------------------------------------
# Real text


def _stdlib_documents(max_tokens: int, unit: str) -> list[np.ndarray]:
    documents, total = [], 0
    for path in _stdlib_paths():
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
def _stdlib_paths() -> tuple[Path, ...]:
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


def _file_documents(paths: tuple[str, ...], max_tokens: int) -> list[np.ndarray]:
    documents, total = [], 0
    for name in paths:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"paths: cannot read {name!r} as UTF-8 text ({error})") from error
        paragraphs = [p.strip() + "\n" for p in text.split("\n\n") if p.strip()]
        if not paragraphs:
            raise ValueError(f"paths: {name!r} is empty")
        for paragraph in paragraphs:
            if total >= max_tokens:
                return documents
            documents.append(encode(paragraph)[: max_tokens - total])
            total += len(documents[-1])
    return documents


# ---------------------------------------------------------------------------
# Code


def _code_documents(max_tokens: int) -> list[np.ndarray]:
    documents, total = [], 0
    for path in _stdlib_paths():
        source = _without_docstrings(path)
        if not source.strip():
            continue
        documents.append(encode(source)[: max_tokens - total])
        total += len(documents[-1])
        if total >= max_tokens:
            break
    return documents


def _without_docstrings(path: Path) -> str:
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


# ---------------------------------------------------------------------------
# Images

IMAGE_SIDE = 8
"""Side of the ``"images"`` corpus's digits, in pixels (64 pixels: 64 tokens an image)."""
_DIGIT_GREY_LEVELS = 17
_PIXEL_ZERO = ord("0")


def digit_images() -> np.ndarray:
    """scikit-learn's 1,797 handwritten digits, (1797, 8, 8) uint8 grey levels in 0..16.

    Read from the data file inside the installed package (without importing it);
    ``ValueError`` with the fix when scikit-learn is not installed.
    """
    return _digit_images().copy()


@functools.lru_cache(maxsize=1)
def _digit_images() -> np.ndarray:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("kind='images' needs scikit-learn's digits: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)


def quantise_pixels(grey: np.ndarray, pixel_levels: int) -> np.ndarray:
    """Grey levels 0..16 to ``pixel_levels`` levels: ``floor(v * pixel_levels / 17)``."""
    one_of("pixel_levels", pixel_levels, PIXEL_LEVELS)
    return (np.asarray(grey, dtype=np.int64) * pixel_levels // _DIGIT_GREY_LEVELS).astype(np.uint8)


def image_tokens(image: np.ndarray) -> np.ndarray:
    """One image's document: a newline, then its quantised pixels in raster order as bytes ``ord("0") + q``."""
    return np.concatenate([[_DOCUMENT_START], _PIXEL_ZERO + np.asarray(image, dtype=np.uint8).ravel()]).astype(np.uint8)


def pixels_of(tokens: np.ndarray) -> np.ndarray:
    """The quantised pixel levels of pixel tokens (inverse of :func:`image_tokens` without its newline)."""
    return np.asarray(tokens, dtype=np.int64) - _PIXEL_ZERO


def images_of(tokens: np.ndarray) -> np.ndarray:
    """The images of an ``"images"`` token stream, as an (n, 8, 8) array of quantised levels.

    ``tokens`` is whole image documents concatenated (a split of the corpus): each is
    :func:`image_tokens`' newline and 64 pixels, so its length is a multiple of 65.
    """
    document = IMAGE_SIDE * IMAGE_SIDE + 1
    tokens = np.asarray(tokens)
    if tokens.ndim != 1 or len(tokens) % document or np.any(tokens[::document] != _DOCUMENT_START):
        raise ValueError(
            f"tokens must be whole image documents (a newline and {document - 1} pixels each), "
            f"got {tokens.shape} tokens"
        )
    return pixels_of(tokens).reshape(-1, document)[:, 1:].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved ``dy`` pixels down and ``dx`` right; pixels shifted in are blank (0)."""
    out = np.zeros_like(image)
    height, width = image.shape
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def _image_corpus(config: CorpusConfig) -> Corpus:
    """Split source images into train and validation, then augment and shuffle the training ones."""
    images = quantise_pixels(_digit_images(), config.pixel_levels)
    order = np.random.default_rng([config.seed, 1]).permutation(len(images))
    n_val = max(1, round(config.val_fraction * len(images)))
    shifts = range(-config.image_shift, config.image_shift + 1)
    train = [image_tokens(shifted(images[i], dy, dx)) for i in np.sort(order[n_val:]) for dy in shifts for dx in shifts]
    train = [train[i] for i in np.random.default_rng([config.seed, 6]).permutation(len(train))]
    val = [image_tokens(images[i]) for i in np.sort(order[:n_val])]
    tokens_per_image = IMAGE_SIDE * IMAGE_SIDE + 1
    room = config.n_tokens // tokens_per_image - len(val)
    if room < 1:
        raise ValueError(
            f"n_tokens must be at least {(len(val) + 1) * tokens_per_image} for kind='images' "
            f"(the {len(val)} validation images and one training image), got {config.n_tokens}"
        )
    train_tokens, train_starts = _concatenate(train[:room])
    val_tokens, val_starts = _concatenate(val)
    name = f"handwritten digits ({config.pixel_levels} grey levels)"
    return Corpus(name, config, train_tokens, val_tokens, train_starts, val_starts, None)


# ---------------------------------------------------------------------------
# Arithmetic


def arithmetic_line(a: int, operator: str, b: int) -> str:
    """``"a+b=c\n"`` (or ``-``, ``*``) with the exact integer result."""
    one_of("operator", operator, tuple(ARITHMETIC_OPERATORS))
    result = a + b if operator == "+" else a - b if operator == "-" else a * b
    return f"{a}{operator}{b}={result}\n"


def _arithmetic_documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 7])
    high = 10**config.n_digits
    documents, total = [], 0
    while total < config.n_tokens:
        document = "\n"
        while True:
            a, b = (int(v) for v in rng.integers(0, high, size=2))
            line = arithmetic_line(a, ARITHMETIC_OPERATORS[int(rng.integers(len(ARITHMETIC_OPERATORS)))], b)
            if len(document) + len(line) > config.document_tokens and len(document) > 1:
                break
            document += line
        documents.append(encode(document))
        total += len(document)
    return documents


def arithmetic_entropy_rate_nats(n_digits: int) -> float:
    """The operands' and operator's entropy per token of ``"arithmetic"`` lines, in nats/token:
    ``(ln 3 + 2 n_digits ln 10) / E[line length]``, the expectation taken exactly over every
    operand pair and operator.

    A floor on any model's loss on the corpus (the results are determined by the
    operands); the true entropy rate is a little higher, since where a document ends is
    also uncertain (one newline every ``document_tokens`` bytes).
    """
    if not 1 <= positive_int("n_digits", n_digits) <= MAX_ARITHMETIC_DIGITS:
        raise ValueError(f"n_digits must be an integer in 1..{MAX_ARITHMETIC_DIGITS}, got {n_digits!r}")
    operands = np.arange(10**n_digits)
    a, b = np.meshgrid(operands, operands, indexing="ij")
    results = (a + b, a - b, a * b)
    mean_result_length = np.mean([_decimal_length(r).mean() for r in results])
    mean_operand_length = _decimal_length(operands).mean()
    mean_line_length = 2 * mean_operand_length + mean_result_length + 3  # operator, "=", newline
    return (math.log(len(ARITHMETIC_OPERATORS)) + 2 * n_digits * math.log(10)) / mean_line_length


def _decimal_length(values: np.ndarray) -> np.ndarray:
    """Characters of each integer written in decimal, a minus sign included."""
    magnitude = np.abs(values)
    digits = np.ones_like(magnitude)
    for power in range(1, 8):
        digits += magnitude >= 10**power
    return digits + (values < 0)


# ---------------------------------------------------------------------------
# Batches


def get_batch(
    tokens: np.ndarray | torch.Tensor,
    batch_size: int,
    n_ctx: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``n_ctx + 1`` tokens as inputs and next-token targets.

    Returns ``(x, y)``, int64 tensors of shape (batch_size, n_ctx) with
    ``y[b, t] = tokens[start_b + t + 1]`` and ``x[b, t] = tokens[start_b + t]``; the
    starts are uniform over the valid offsets, drawn from ``generator``.
    """
    batch_size, n_ctx = positive_int("batch_size", batch_size), positive_int("n_ctx", n_ctx)
    tokens = torch.from_numpy(tokens) if isinstance(tokens, np.ndarray) else tokens
    if len(tokens) < n_ctx + 1:
        raise ValueError(f"tokens must hold at least n_ctx + 1 = {n_ctx + 1} tokens, got {len(tokens)}")
    starts = torch.randint(0, len(tokens) - n_ctx, (batch_size,), generator=generator)
    return windows(tokens, starts, n_ctx, device)


def windows(
    tokens: np.ndarray | torch.Tensor, starts: torch.Tensor, n_ctx: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (int64, len(starts) x n_ctx) of the windows beginning at ``starts``."""
    tokens = torch.from_numpy(tokens) if isinstance(tokens, np.ndarray) else tokens
    window = tokens[starts[:, None] + torch.arange(n_ctx + 1)].long()
    return window[:, :-1].to(device), window[:, 1:].to(device)
