"""``"zipf"``: the *Zipf-rules* source, built to scale like language (Hutter 2021; Michaud et al. 2023).

A document is a run of fixed-length segments. Each segment draws a rule ``i`` from a
Zipf law over ``n_rules`` rules, ``p_i ∝ (i+1)^(-zipf_exponent)``, writes the rule's id
(``id_length`` capital letters), then the rule's own ``continuation_length`` lowercase
letters (a fixed random string per rule, each letter independently replaced with
probability ``noise`` by a uniformly random letter), then a space. A model learns the
rules one by one, frequent ones first, so loss falls as a power law in model size and
data rather than off a cliff. Its entropy rate is exact (:func:`zipf_entropy_rate_nats`).
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import non_negative_float, positive_float, positive_int
from .base import CorpusConfig, CorpusKind, Parameter, at_least_two, register

_ID_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONTINUATION_LETTERS = b"abcdefghijklmnopqrstuvwxyz"
_SEGMENT_END = ord(" ")


def _noise(name: str, value: object) -> float:
    if non_negative_float(name, value) > 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)  # type: ignore[arg-type]


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


def _documents(config: CorpusConfig) -> list[np.ndarray]:
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


KIND = register(CorpusKind(
    name="zipf",
    title="Zipf rules",
    parameters={
        "n_rules": Parameter(10_000, positive_int, "rules in the Zipf law"),
        "zipf_exponent": Parameter(1.3, positive_float, "exponent of p_i ∝ (i+1)^-exponent"),
        "continuation_length": Parameter(8, positive_int, "letters a rule writes after its id"),
        "noise": Parameter(0.05, _noise, "probability that a continuation letter is replaced, in [0, 1]"),
        "document_tokens": Parameter(256, at_least_two, "tokens per document, rounded down to whole segments (at least one)"),
    },
    documents=_documents,
    entropy_rate_nats=zipf_entropy_rate_nats,
))
