"""What every corpus kind shares: its declaration, the config, the corpus, the split.

A corpus kind is declared once, in its own file of this package, as a
:class:`CorpusKind`: its name, the parameters it takes (each with a default and a
check), a function that builds its documents, and its entropy rate where the source
gives one. :class:`CorpusConfig` accepts exactly the parameters of its kind (plus the
three every kind has: ``n_tokens``, ``seed``, ``val_fraction``), so a key that a kind
does not have is an error that names the key and lists the keys the kind accepts.

Tokens are bytes (vocabulary 256): a token is one byte of UTF-8 text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import _is_integer, fraction, non_negative_int, positive_int

VOCAB_SIZE = 256
DOCUMENT_START = ord("\n")
"""The byte that begins every generated document."""


# ---------------------------------------------------------------------------
# Tokens


def encode(text: str | bytes) -> np.ndarray:
    """Byte tokens (uint8, values 0-255) of ``text``: its UTF-8 bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return np.frombuffer(data, dtype=np.uint8).copy()


def decode(tokens: Any) -> str:
    """Text of byte ``tokens`` (an array, a list, or a tensor on any device); bytes that
    are not valid UTF-8 become U+FFFD."""
    if hasattr(tokens, "detach"):  # a torch tensor, without importing torch here
        tokens = tokens.detach().cpu().numpy()
    return bytes(np.asarray(tokens, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# Declaring a kind


@dataclass(frozen=True)
class Parameter:
    """One parameter of a corpus kind: its default and the check of a given value.

    ``check(name, value)`` returns the value (normalised, e.g. a list made a tuple) or
    raises ``ValueError`` naming ``name`` and the rule.
    """

    default: Any
    check: Callable[[str, Any], Any]
    doc: str = ""


def _open_fraction(name: str, value: object) -> float:
    if fraction(name, value) >= 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)  # type: ignore[arg-type]


COMMON_PARAMETERS: dict[str, Parameter] = {
    "n_tokens": Parameter(1_000_000, positive_int, "tokens to generate (at least, in whole documents) or to read (at most)"),
    "seed": Parameter(0, non_negative_int, "seed of the generator and of the train/validation split"),
    "val_fraction": Parameter(0.1, _open_fraction, "fraction of documents held out for validation, in (0, 1)"),
}
"""The parameters every kind has."""


@dataclass(frozen=True)
class CorpusKind:
    """A kind of corpus, as its file declares it.

    Attributes:
        name: the ``kind`` of a :class:`CorpusConfig` (``"zipf"``).
        title: a short human-readable name of the corpus (``"Zipf rules"``).
        parameters: the kind's own parameters (besides :data:`COMMON_PARAMETERS`).
        documents: ``documents(config)`` -> the documents (uint8 arrays), in order; the
            corpus is split into training and validation by document
            (:func:`split_documents`). Give ``make`` instead for a kind with its own split.
        make: ``make(config)`` -> the whole :class:`Corpus`.
        entropy_rate_nats: ``entropy_rate_nats(config)`` -> a floor on the loss in
            nats/token where the source gives one (exact, or a lower bound), else None.
        check: ``check(values)`` raises ``ValueError`` for a combination of values that
            the single parameters' checks cannot catch (e.g. a cap on ``n_tokens``).
        preflight: ``preflight(config)`` raises ``ValueError`` when the corpus cannot be
            built on this machine (files missing); sweeps call it before any run starts.
        identity: ``identity(config)`` -> plain JSON that tells this machine's corpus
            apart from another's under the same config (a hash of its bytes, the versions
            of what it was read from), for a kind whose content depends on the machine;
            recorded in each run's provenance (``corpora.corpus_identity``). None for a
            kind that the config alone determines.
    """

    name: str
    title: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    documents: Callable[[CorpusConfig], list[np.ndarray]] | None = None
    make: Callable[[CorpusConfig], Corpus] | None = None
    entropy_rate_nats: Callable[[CorpusConfig], float] | None = None
    check: Callable[[dict[str, Any]], None] | None = None
    preflight: Callable[[CorpusConfig], None] | None = None
    identity: Callable[[CorpusConfig], dict] | None = None

    def __post_init__(self) -> None:
        if (self.documents is None) == (self.make is None):
            raise ValueError(f"corpus kind {self.name!r}: give exactly one of documents and make")
        shared = set(self.parameters) & set(COMMON_PARAMETERS)
        if shared:
            raise ValueError(f"corpus kind {self.name!r}: {sorted(shared)} are common parameters already")

    @property
    def all_parameters(self) -> dict[str, Parameter]:
        """The common parameters, then the kind's own."""
        return {**COMMON_PARAMETERS, **self.parameters}

    def build(self, config: CorpusConfig) -> Corpus:
        """The corpus of ``config`` (a config of this kind)."""
        if self.make is not None:
            return self.make(config)
        entropy = self.entropy_rate_nats(config) if self.entropy_rate_nats is not None else None
        return split_documents(self.documents(config), config, self.title, entropy)  # type: ignore[misc]


KINDS: dict[str, CorpusKind] = {}
"""The registry: kind name -> :class:`CorpusKind`, filled as the kinds' files are imported."""


def register(kind: CorpusKind) -> CorpusKind:
    """Add ``kind`` to :data:`KINDS` (its file calls this once) and return it."""
    if kind.name in KINDS:
        raise ValueError(f"corpus kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def corpus_kind(name: str) -> CorpusKind:
    """The registered kind called ``name``; ``ValueError`` listing the kinds otherwise."""
    if name not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {name!r}")
    return KINDS[name]


# ---------------------------------------------------------------------------
# The config

_FLAT_DEFAULTS: dict[str, Any] = {
    "n_rules": 10_000, "zipf_exponent": 1.3, "continuation_length": 8, "noise": 0.05, "n_states": 8,
    "concentration": 0.3, "document_tokens": 256, "paths": [], "document_unit": "docstring", "n_digits": 3,
    "n_facts": 1000, "text_fraction": 0.25, "pixel_levels": 17, "image_shift": 1,
}
"""Records written before the corpora were split by kind hold every field of every kind;
these are the defaults those fields had. :meth:`CorpusConfig.from_dict` drops a field that
the record's kind does not have when it holds this value (the field was ignored then)."""


def _checked(name: str, parameter: Parameter, value: Any) -> Any:
    """``value`` once ``parameter``'s check accepts it: as given (a run's id hashes the JSON of
    its config, and ``0`` and ``0.0`` are different JSON), but a list made a tuple, so that
    the config stays hashable."""
    checked = parameter.check(name, value)
    return checked if isinstance(value, (list, tuple)) else value


DEFAULT_KIND = "zipf"
"""The kind of ``CorpusConfig()``."""


class CorpusConfig:
    """Everything that determines a corpus: its ``kind`` and that kind's parameters.

    ``CorpusConfig(kind="zipf", n_tokens=200_000, n_rules=1000)``; a parameter left out
    takes its kind's default, and one the kind does not have raises ``ValueError`` naming
    it and the parameters the kind accepts. Read a value as an attribute
    (``config.n_rules``). Frozen, hashable, and round-trips through JSON
    (:meth:`to_dict`, :meth:`from_dict`).
    """

    __slots__ = ("kind", "_values")
    kind: str
    _values: dict[str, Any]

    def __init__(self, kind: str = DEFAULT_KIND, **settings: Any) -> None:
        spec = corpus_kind(kind)
        allowed = spec.all_parameters
        for key in settings:
            if key not in allowed:
                raise ValueError(
                    f"{key!r} is not a parameter of the {kind!r} corpus; it accepts: {', '.join(allowed)}"
                )
        values = {
            name: _checked(name, parameter, settings[name] if name in settings else parameter.default)
            for name, parameter in allowed.items()
        }
        if spec.check is not None:
            spec.check(values)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        kind = object.__getattribute__(self, "kind")
        raise AttributeError(f"the {kind!r} corpus has no parameter {name!r}; it has: {', '.join(values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("CorpusConfig is frozen: use replace(...) for a changed copy")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("CorpusConfig is frozen: use replace(...) for a changed copy")

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        copy = CorpusConfig.from_dict(state)
        object.__setattr__(self, "kind", copy.kind)
        object.__setattr__(self, "_values", copy._values)

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, tuple(self._values.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorpusConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def replace(self, **changes: Any) -> CorpusConfig:
        """A copy with ``changes`` applied (``kind`` may change too: then only the
        parameters the new kind has are carried over)."""
        kind = changes.pop("kind", self.kind)
        carried = self._values if kind == self.kind else {
            k: v for k, v in self._values.items() if k in corpus_kind(kind).all_parameters
        }
        return CorpusConfig(kind, **{**carried, **changes})

    def changed(self) -> dict[str, Any]:
        """Plain JSON of what differs from the defaults: ``kind`` unless it is
        :data:`DEFAULT_KIND`, and the parameters that differ from the kind's defaults."""
        parameters = corpus_kind(self.kind).all_parameters
        data = self.to_dict()
        kind = {"kind": self.kind} if self.kind != DEFAULT_KIND else {}
        return {**kind, **{k: data[k] for k, v in self._values.items() if v != parameters[k].default}}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``kind`` and every parameter of the kind (tuples become lists)."""
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in self._values.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CorpusConfig:
        """Inverse of :meth:`to_dict`. Also reads records made when every corpus held every
        kind's fields: a field the kind does not have is dropped when it holds the value
        it had by default then, and is an error otherwise."""
        data = dict(data)
        kind = data.pop("kind", DEFAULT_KIND)
        allowed = corpus_kind(kind).all_parameters
        settings = {}
        for key, value in data.items():
            if key in allowed:
                settings[key] = value
            elif key not in _FLAT_DEFAULTS or value != _FLAT_DEFAULTS[key]:
                raise ValueError(
                    f"{key!r} is not a parameter of the {kind!r} corpus; it accepts: {', '.join(allowed)}"
                )
        return cls(kind, **settings)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.changed().items() if k != "kind"}
        return f"CorpusConfig(kind={self.kind!r}" + "".join(f", {k}={v!r}" for k, v in changed.items()) + ")"


# ---------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True, eq=False)
class Corpus:
    """A tokenised corpus: training and validation byte tokens, split by document.

    Attributes:
        name: a short human-readable name.
        config: the config it was built from.
        train_tokens, val_tokens: uint8 arrays of byte tokens (documents concatenated).
        train_document_starts, val_document_starts: int64 offsets of each document.
        entropy_rate_nats: a floor on the loss, in nats/token, where the source gives one:
            the exact entropy rate (``"zipf"``) or a lower bound on it (``"arithmetic"``);
            else ``None``. No model's average loss can be below it.

    The arrays are read-only: corpora are cached and shared (:func:`make_corpus`), so a
    caller that wants to change one must copy it first.
    """

    name: str
    config: CorpusConfig
    train_tokens: np.ndarray
    val_tokens: np.ndarray
    train_document_starts: np.ndarray
    val_document_starts: np.ndarray
    entropy_rate_nats: float | None = None

    def __post_init__(self) -> None:
        for array in (self.train_tokens, self.val_tokens, self.train_document_starts, self.val_document_starts):
            array.flags.writeable = False

    def unique_subset(self, n_tokens: int) -> np.ndarray:
        """The first ``n_tokens`` training tokens (a read-only view): exactly that many
        unique tokens, to be repeated for several epochs in data-constrained experiments."""
        n_tokens = positive_int("n_tokens", n_tokens)
        if n_tokens > len(self.train_tokens):
            raise ValueError(f"n_tokens must be at most the {len(self.train_tokens)} training tokens, got {n_tokens}")
        return self.train_tokens[:n_tokens]

    def ngram_loss_nats(self, n: int, *, smoothing: float = 0.01) -> float:
        """The validation loss (nats/token) of an n-gram model of the training tokens: n = 1
        predicts every byte from its frequency (unigram), n = 2 from the byte before it
        (bigram), with ``smoothing`` added to every count. A baseline, not a floor: a model
        that stays near the bigram loss has learned which byte follows which, and no more.
        Documents are joined as they are in the token stream."""
        if n not in (1, 2):
            raise ValueError(f"n must be 1 (unigram) or 2 (bigram), got {n!r}")
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not smoothing > 0:
            raise ValueError(f"smoothing must be a positive number, got {smoothing!r}")
        train, val = self.train_tokens.astype(np.int64), self.val_tokens.astype(np.int64)
        if n == 1:
            counts = np.bincount(train, minlength=VOCAB_SIZE) + smoothing
            return float(-np.mean(np.log(counts[val] / counts.sum())))
        counts = np.bincount(train[:-1] * VOCAB_SIZE + train[1:], minlength=VOCAB_SIZE**2).reshape(VOCAB_SIZE, -1)
        probabilities = (counts + smoothing) / (counts + smoothing).sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(probabilities[val[:-1], val[1:]])))

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


def split_documents(documents: list[np.ndarray], config: CorpusConfig, name: str, entropy: float | None) -> Corpus:
    """Split ``documents`` into train and validation by a seeded permutation of documents."""
    n_val = max(1, round(config.val_fraction * len(documents)))
    if len(documents) - n_val < 1:
        raise ValueError(f"n_tokens is too small to split {name!r} by document: only {len(documents)} document(s)")
    order = np.random.default_rng([config.seed, 1]).permutation(len(documents))
    val_ids, train_ids = np.sort(order[:n_val]), np.sort(order[n_val:])
    train, train_starts = concatenate([documents[i] for i in train_ids])
    val, val_starts = concatenate([documents[i] for i in val_ids])
    return Corpus(name, config, train, val, train_starts, val_starts, entropy)


def concatenate(documents: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The documents as one uint8 stream, and the int64 offset where each begins."""
    lengths = np.array([len(d) for d in documents], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return np.concatenate(documents).astype(np.uint8), starts


# ---------------------------------------------------------------------------
# Checks the kinds share


MAX_TEXT_TOKENS = 8_000_000
"""Upper bound on ``n_tokens`` for the kinds that read text from disk, to keep them a few MB."""


def check_text_size(values: dict[str, Any]) -> None:
    """The cap :data:`MAX_TEXT_TOKENS` on ``n_tokens``, for the kinds that read text from disk."""
    if values["n_tokens"] > MAX_TEXT_TOKENS:
        raise ValueError(f"n_tokens must be at most {MAX_TEXT_TOKENS} for this kind, got {values['n_tokens']}")


def at_least_two(name: str, value: object) -> int:
    """``value`` as an int >= 2 (a document of a newline and at least one token)."""
    if positive_int(name, value) < 2:
        raise ValueError(f"{name} must be at least 2, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def integer_in(low: int, high: int) -> Callable[[str, Any], int]:
    """A check that a value is an integer in ``low..high``."""

    def check(name: str, value: object) -> int:
        if not (_is_integer(value) and low <= int(value) <= high):  # type: ignore[call-overload]
            raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        return int(value)  # type: ignore[call-overload]

    return check


def choice(*allowed: Any) -> Callable[[str, Any], Any]:
    """A check that a value is one of ``allowed``."""

    def check(name: str, value: object) -> Any:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value

    return check
