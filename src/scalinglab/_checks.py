"""Argument checks shared by every public function.

Each check returns the value (converted to a plain Python number) or raises
``ValueError`` whose message names the argument and the rule it broke, e.g.
``n_layer must be a positive integer, got 0``.
"""

from __future__ import annotations

import math
import numbers


def _is_integer(value: object) -> bool:
    """True for ints and integer-valued numpy integers, False for bools and floats."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise ``ValueError``."""
    if not _is_integer(value) or int(value) < 1:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise ``ValueError``."""
    if not _is_integer(value) or int(value) < 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number > 0, else raise ``ValueError``."""
    if not _is_real(value) or not math.isfinite(float(value)) or float(value) <= 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real number >= 0, else raise ``ValueError``."""
    if not _is_real(value) or not math.isfinite(float(value)) or float(value) < 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def fraction(name: str, value: object) -> float:
    """Return ``value`` as a float if it lies in (0, 1], else raise ``ValueError``."""
    if not _is_real(value) or not math.isfinite(float(value)) or not 0 < float(value) <= 1:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)  # type: ignore[arg-type]


def one_of(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError`` listing them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]
