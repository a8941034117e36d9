"""Argument checks shared by every public function.

Each check returns the value (converted to a plain Python number, or to a float
array for the array checks that the fitting modules share) or raises
``ValueError`` whose message names the argument and the rule it broke, e.g.
``n_layer must be a positive integer, got 0``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


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


def one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError`` listing them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


# Arrays (for fits)


def positive_finite_array(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a non-empty 1-D float array, checked finite and positive."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    if not np.all(array > 0):
        raise ValueError(f"{name} must be positive, got minimum {array.min()!r}")
    return array


def positive_array(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a float array of any shape, checked non-empty, finite and positive."""
    array = np.asarray(values, dtype=float)
    positive_finite_array(name, array.reshape(-1))
    return array


def same_length(**arrays: np.ndarray) -> None:
    """Check that the named arrays have as many elements each."""
    sizes = {name: array.size for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"{' and '.join(sizes)} must have the same length, got "
            + ", ".join(f"{name}: {size}" for name, size in sizes.items())
        )


def enough_points(n_points: int, n_params: int) -> None:
    """Check that a fit of ``n_params`` parameters has at least as many points."""
    if n_points < n_params:
        raise ValueError(
            f"need at least as many points as parameters ({n_params}), got {n_points} points"
        )
