"""``"skills"``: two generated skills mixed with text, multi-digit addition and fact recall.

Documents of ``n_digits``-digit sums (training problems only; a tenth of all problems is
held out for testing) or of made-up facts ("the colour of X is Y."), drawn from
``n_facts`` facts with Zipf frequencies, up to ``document_tokens`` bytes each, shuffled
with standard-library docstrings that make up ``text_fraction`` of the tokens (at most
the ~1.6M tokens of docstrings there are; beyond that the corpus has less text). The
emergence chapter scores models on the held-out sums and on the facts
(:mod:`scalinglab.probes.skills`).

**Addition.** A line is ``"{a}+{b}={a + b}\\n"``, e.g. ``"347+185=532\\n"``, with both
operands exactly ``n_digits`` digits and no leading zeros (10^(n_digits-1) to
10^n_digits - 1; 0 to 9 for one digit), so the sum has n_digits or n_digits + 1
digits. A problem is *held out* when

    u(seed, min(a, b), max(a, b)) < held_out_fraction,

u being the first 8 bytes of a BLAKE2b hash read as a fraction of 2^64: a fixed,
uniform-looking number per unordered pair, the same in every process. So a held-out
sum never appears in training, not even commuted (b + a).

**Facts.** :func:`fact_table` makes up ``n_facts`` subjects (5-8 letters) and their
attributes (4-6 letters), pronounceable nonsense that a model can only memorise; a
line reads ``"the colour of {subject} is {attribute}.\\n"``. Documents draw fact i
(0-based: the i-th most frequent) with the Zipf probability

    p_i = (i + 1)^(-exponent) / sum_j (j + 1)^(-exponent),

so a model memorises the frequent facts first, and recall falls with rank.

**Documents.** :func:`skill_document` writes a newline, then whole lines of one skill,
addition (training problems only) or facts with probability 1/2 each, up to
``max_tokens`` bytes (byte tokens: one per character, all of it ASCII).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import fraction, non_negative_float, non_negative_int, positive_float, positive_int
from .base import CorpusConfig, CorpusKind, Parameter, at_least_two, encode, integer_in, register
from .stdlib import stdlib_documents
from .zipf import zipf_probabilities

MAX_DIGITS = 6
"""The most digits an addition operand may have."""

SUBJECT_LENGTHS: tuple[int, int] = (5, 8)
"""Fewest and most letters of a fact's subject."""

ATTRIBUTE_LENGTHS: tuple[int, int] = (4, 6)
"""Fewest and most letters of a fact's attribute."""

_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"
_CHUNK = 4096
_MAX_DRAWS = 2**20  # about a second of hashing

# ---------------------------------------------------------------------------
# Addition


def _n_digits(n_digits: object) -> int:
    if positive_int("n_digits", n_digits) > MAX_DIGITS:
        raise ValueError(f"n_digits must be at most {MAX_DIGITS}, got {n_digits!r}")
    return int(n_digits)  # type: ignore[call-overload]


def _held_out_fraction(held_out_fraction: object) -> float:
    if fraction("held_out_fraction", held_out_fraction) >= 1:
        raise ValueError(f"held_out_fraction must be a number in (0, 1), got {held_out_fraction!r}")
    return float(held_out_fraction)  # type: ignore[arg-type]


def operand_range(n_digits: int) -> tuple[int, int]:
    """Smallest and largest operand of ``n_digits`` digits without leading zeros (both included)."""
    n_digits = _n_digits(n_digits)
    return (0 if n_digits == 1 else 10 ** (n_digits - 1), 10**n_digits - 1)


def addition_line(a: int, b: int) -> str:
    """The training line of a + b: ``"{a}+{b}={a + b}\\n"``."""
    a, b = non_negative_int("a", a), non_negative_int("b", b)
    return f"{a}+{b}={a + b}\n"


def addition_split(a: int, b: int, *, held_out_fraction: float, seed: int) -> bool:
    """Whether the problem a + b is held out: u(seed, min(a, b), max(a, b)) < held_out_fraction.

    Deterministic in every process (a BLAKE2b hash, not Python's salted ``hash``), and
    the same for a + b and b + a. About ``held_out_fraction`` of problems are held out.
    """
    a, b = non_negative_int("a", a), non_negative_int("b", b)
    return _is_held_out(a, b, _held_out_fraction(held_out_fraction), non_negative_int("seed", seed))


def _is_held_out(a: int, b: int, held_out_fraction: float, seed: int) -> bool:
    digest = hashlib.blake2b(f"{seed}:{min(a, b)}+{max(a, b)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < held_out_fraction * 2**64


def addition_problems(
    n: int, *, n_digits: int, held_out: bool, held_out_fraction: float = 0.1, seed: int, rng_seed: int
) -> list[tuple[int, int]]:
    """``n`` problems (a, b) drawn uniformly, with replacement, from one side of the split.

    The held-out side (``held_out=True``) or the training side of
    :func:`addition_split` with ``held_out_fraction`` and ``seed``; both operands have
    ``n_digits`` digits. Deterministic given the arguments (``rng_seed`` seeds the
    draws). Raises ``ValueError`` naming ``held_out_fraction`` if rejection sampling
    finds too few problems on that side (a side holding a tiny fraction of the
    problems, e.g. of one or two digits, may hold none).
    """
    n, n_digits = positive_int("n", n), _n_digits(n_digits)
    if not isinstance(held_out, bool):
        raise ValueError(f"held_out must be True or False, got {held_out!r}")
    held_out_fraction, seed = _held_out_fraction(held_out_fraction), non_negative_int("seed", seed)
    rng = np.random.default_rng(non_negative_int("rng_seed", rng_seed))
    return _draw_problems(rng, n, n_digits, held_out, held_out_fraction, seed)


def _draw_problems(
    rng: np.random.Generator, n: int, n_digits: int, held_out: bool, held_out_fraction: float, seed: int
) -> list[tuple[int, int]]:
    """Rejection sampling: uniform pairs, kept when on the wanted side.

    Gives up after 64 + 20 n / (the side's nominal fraction) draws, or :data:`_MAX_DRAWS`
    if fewer, drawn in chunks of :data:`_CHUNK` pairs.
    """
    low, high = operand_range(n_digits)
    side = held_out_fraction if held_out else 1 - held_out_fraction
    budget = min(64 + int(20 * n / side), _MAX_DRAWS)
    problems: list[tuple[int, int]] = []
    for start in range(0, budget, _CHUNK):
        for a, b in rng.integers(low, high + 1, size=(min(_CHUNK, budget - start), 2)).tolist():
            if _is_held_out(a, b, held_out_fraction, seed) == held_out:
                problems.append((a, b))
                if len(problems) == n:
                    return problems
    name = "held-out" if held_out else "training"
    raise ValueError(
        f"held_out_fraction must leave enough {name} problems of {n_digits} digit(s) to draw {n} "
        f"in {budget} tries, got {held_out_fraction} (found {len(problems)})"
    )


# ---------------------------------------------------------------------------
# Facts


def _word(name: str, value: object, lengths: tuple[int, int]) -> None:
    shortest, longest = lengths
    if not (isinstance(value, str) and value.isascii() and value.isalpha() and value.islower()) or not (
        shortest <= len(value) <= longest
    ):
        raise ValueError(f"{name} must be {shortest}-{longest} lowercase ASCII letters, got {value!r}")


@dataclass(frozen=True)
class Fact:
    """One made-up fact: ``"the colour of {subject} is {attribute}."``.

    Attributes:
        subject: 5-8 lowercase ASCII letters (:data:`SUBJECT_LENGTHS`).
        attribute: 4-6 lowercase ASCII letters (:data:`ATTRIBUTE_LENGTHS`).
    """

    subject: str
    attribute: str

    def __post_init__(self) -> None:
        _word("subject", self.subject, SUBJECT_LENGTHS)
        _word("attribute", self.attribute, ATTRIBUTE_LENGTHS)


def _made_up_word(rng: np.random.Generator, lengths: tuple[int, int]) -> str:
    """Consonants and vowels in turn (which comes first drawn too), of a length uniform in ``lengths``."""
    length, first = int(rng.integers(lengths[0], lengths[1] + 1)), int(rng.integers(2))
    alphabets = [(_CONSONANTS, _VOWELS)[(first + i) % 2] for i in range(length)]
    return "".join(alphabet[rng.integers(len(alphabet))] for alphabet in alphabets)


def fact_table(n_facts: int, *, seed: int) -> tuple[Fact, ...]:
    """``n_facts`` made-up facts with distinct subjects, deterministic given ``seed``.

    Subjects and attributes alternate consonants and vowels, so they are pronounceable;
    attributes may repeat. Fact i is meant to be the i-th most frequent in training
    (:func:`fact_probabilities`). A smaller table with the same seed is a prefix of a larger one.
    """
    n_facts = positive_int("n_facts", n_facts)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    attributes: dict[str, str] = {}
    while len(attributes) < n_facts:
        subject, attribute = _made_up_word(rng, SUBJECT_LENGTHS), _made_up_word(rng, ATTRIBUTE_LENGTHS)
        attributes.setdefault(subject, attribute)
    return tuple(Fact(subject, attribute) for subject, attribute in attributes.items())


def fact_probabilities(n_facts: int, exponent: float = 1.1) -> np.ndarray:
    """Zipf frequencies of the facts: p_i ∝ (i+1)^(-exponent), i = 0..n_facts-1, summing to 1."""
    return zipf_probabilities(positive_int("n_facts", n_facts), exponent)


def fact_question(fact: Fact) -> str:
    return f"the colour of {fact.subject} is "


def fact_line(fact: Fact) -> str:
    """The training line of ``fact``: ``"the colour of {subject} is {attribute}.\\n"``."""
    return f"{fact_question(fact)}{fact.attribute}.\n"


def check_facts(facts: Sequence[Fact]) -> tuple[Fact, ...]:
    table = tuple(facts)
    if not table or not all(isinstance(fact, Fact) for fact in table):
        raise ValueError("facts must be a non-empty sequence of Fact, most frequent first")
    return table


_SHORTEST_FACT_LINE = len(fact_line(Fact("a" * SUBJECT_LENGTHS[0], "a" * ATTRIBUTE_LENGTHS[0])))
_LONGEST_FACT_LINE = len(fact_line(Fact("a" * SUBJECT_LENGTHS[1], "a" * ATTRIBUTE_LENGTHS[1])))

# ---------------------------------------------------------------------------
# Documents


def skill_document(
    rng: np.random.Generator,
    max_tokens: int,
    *,
    n_digits: int,
    facts: Sequence[Fact],
    fact_exponent: float,
    held_out_fraction: float,
    seed: int,
) -> str:
    """One training document: a newline, then whole lines of one skill, within ``max_tokens`` bytes.

    With probability 1/2 the lines are sums (:func:`addition_line`) of ``n_digits``-digit
    training problems only (the split of :func:`addition_split` with
    ``held_out_fraction`` and ``seed``), drawn uniformly; otherwise they are facts
    (:func:`fact_line`) drawn from ``facts`` with :func:`fact_probabilities` at
    ``fact_exponent``. Lines are added while the document stays within ``max_tokens``
    bytes, which must leave room for the newline and the longest possible line of
    either skill.
    """
    n_digits, facts = _n_digits(n_digits), check_facts(facts)
    held_out_fraction, seed = _held_out_fraction(held_out_fraction), non_negative_int("seed", seed)
    probabilities = fact_probabilities(len(facts), positive_float("fact_exponent", fact_exponent))
    longest_line = max(3 * n_digits + 4, _LONGEST_FACT_LINE)
    if positive_int("max_tokens", max_tokens) < 1 + longest_line:
        raise ValueError(
            f"max_tokens must leave room for the newline and one line of {longest_line} bytes, got {max_tokens}"
        )
    if rng.random() < 0.5:
        problems = _draw_problems(rng, (max_tokens - 1) // (3 * n_digits + 3), n_digits, False, held_out_fraction, seed)
        lines = [addition_line(a, b) for a, b in problems]
    else:
        chosen = rng.choice(len(facts), size=(max_tokens - 1) // _SHORTEST_FACT_LINE, p=probabilities)
        lines = [fact_line(facts[i]) for i in chosen]
    n_lines = np.searchsorted(np.cumsum([len(line) for line in lines]), max_tokens - 1, side="right")
    return "\n" + "".join(lines[:n_lines])


# ---------------------------------------------------------------------------
# The corpus

HELD_OUT_FRACTION = 0.1
"""Fraction of the ``"skills"`` corpus's addition problems held out of training."""
FACT_EXPONENT = 1.1
"""Zipf exponent of the facts' frequencies in the ``"skills"`` corpus."""


def _text_fraction(name: str, value: object) -> float:
    if non_negative_float(name, value) >= 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    rng = np.random.default_rng([config.seed, 5])
    facts = fact_table(config.n_facts, seed=config.seed)
    text = stdlib_documents(round(config.text_fraction * config.n_tokens), "docstring") if config.text_fraction else []
    documents, total = list(text), sum(len(d) for d in text)
    while total < config.n_tokens:
        document = skill_document(
            rng, config.document_tokens, n_digits=config.n_digits, facts=facts, fact_exponent=FACT_EXPONENT,
            held_out_fraction=HELD_OUT_FRACTION, seed=config.seed,
        )
        documents.append(encode(document))
        total += len(documents[-1])
    return [documents[i] for i in rng.permutation(len(documents))]


KIND = register(CorpusKind(
    name="skills",
    title="sums, facts and docstrings",
    parameters={
        "n_digits": Parameter(3, integer_in(1, MAX_DIGITS), "digits of each addition operand"),
        "n_facts": Parameter(1000, positive_int, "made-up facts, drawn with Zipf frequencies"),
        "text_fraction": Parameter(0.25, _text_fraction, "fraction of the tokens that are docstrings, in [0, 1)"),
        "document_tokens": Parameter(256, at_least_two, "bytes per document, filled with whole lines"),
    },
    documents=_documents,
))
