"""``"arithmetic"``: generated lines ``a+b=c``, ``a-b=c`` or ``a*b=c``.

The operator is uniform, the operands uniform in ``0 .. 10^n_digits - 1`` (written
without leading zeros; differences may be negative), each line after a newline, filling
documents of up to ``document_tokens`` bytes. Only the operator and operands are
random, so the loss cannot go below :func:`arithmetic_entropy_rate_nats`.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import one_of, positive_int
from .base import CorpusConfig, CorpusKind, Parameter, at_least_two, encode, integer_in, register

ARITHMETIC_OPERATORS = "+-*"
MAX_ARITHMETIC_DIGITS = 3
"""Largest ``n_digits`` of an ``"arithmetic"`` corpus (its entropy is then exact to enumerate)."""


def arithmetic_line(a: int, operator: str, b: int) -> str:
    """``"a+b=c\\n"`` (or ``-``, ``*``) with the exact integer result."""
    one_of("operator", operator, tuple(ARITHMETIC_OPERATORS))
    result = a + b if operator == "+" else a - b if operator == "-" else a * b
    return f"{a}{operator}{b}={result}\n"


_LINES_PER_DRAW = 1 << 16
"""Lines drawn per call of the generator in :func:`_documents` (any size gives the same corpus)."""


def _documents(config: CorpusConfig) -> list[np.ndarray]:
    """Documents of ``"\\n"`` followed by whole lines, filled to at most ``document_tokens``
    bytes (a first line longer than that stays, alone), until ``n_tokens`` bytes.

    The random stream is one bounded integer per operand and per operator, in the order
    a, b, operator for each line (a line that does not fit ends its document and is
    dropped, its draws spent). The draws are made in blocks, through bounds that repeat
    (high, high, 3): numpy draws each element of such a call exactly as a call of its own,
    so the corpus is the one a line-at-a-time loop makes, about 20 times faster.
    """
    rng = np.random.default_rng([config.seed, 7])
    high = 10**config.n_digits
    bounds = np.tile(np.array([high, high, len(ARITHMETIC_OPERATORS)]), _LINES_PER_DRAW)
    limit = config.document_tokens
    documents, total = [], 0
    document: list[str] = []
    length = 1  # the document's leading newline
    while total < config.n_tokens:
        draws = rng.integers(0, bounds).reshape(_LINES_PER_DRAW, 3).tolist()
        for a, b, operator in draws:
            line = arithmetic_line(a, ARITHMETIC_OPERATORS[operator], b)
            if length + len(line) > limit and length > 1:
                documents.append(encode("\n" + "".join(document)))
                total += length
                document, length = [], 1
                if total >= config.n_tokens:
                    break
                continue
            document.append(line)
            length += len(line)
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


KIND = register(CorpusKind(
    name="arithmetic",
    title="arithmetic",
    parameters={
        "n_digits": Parameter(3, integer_in(1, MAX_ARITHMETIC_DIGITS), "digits of the operands"),
        "document_tokens": Parameter(256, at_least_two, "bytes per document, filled with whole lines"),
    },
    documents=_documents,
    entropy_rate_nats=lambda config: arithmetic_entropy_rate_nats(config.n_digits),
))
