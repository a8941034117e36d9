"""The one shape of a fitted law: :class:`LawFit`.

Every fit of :mod:`scalinglab.fit` returns a subclass of :class:`LawFit`: the law's
parameters as attributes (``fit.alpha``) and in ``parameters``, their ``intervals``, how
the fit went (``converged``, ``n_points``, the bootstrap kept and dropped) and a
``predict``, in the spirit of scikit-learn's estimators. A new law is a file in this
package with a subclass that names its ``PARAMETERS`` and writes ``predict``.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

#: Characters a repr may take on one line before it puts one entry a line.
_REPR_WIDTH = 88


@contextmanager
def quietly() -> Iterator[None]:
    """Inside the block, the fits' ``RuntimeWarning``s are not shown.

    What they say stays in each fit's fields: resamples left out in
    ``n_bootstrap_dropped``, a best fit that did not converge in ``converged``, IsoFLOP
    budgets left out in ``dropped``. For a page that prints those fields
    itself (``with quietly(): law = fit_power_law(...)``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def with_interval(value: float, interval: tuple[float, float], digits: int = 2) -> str:
    """``"value [low, high]"``, each rounded to ``digits`` decimals: how the book prints a
    measured number beside its interval (``with_interval(0.7312, (0.66, 0.8))`` is
    ``"0.73 [0.66, 0.80]"``). An interval with a NaN end (a bootstrap whose every resample
    was dropped) prints as ``"0.73 [n/a]"``.

    Raises:
        ValueError: ``interval`` not a (low, high) pair, finite ends with low > high, or
            ``digits`` not an integer from 0 to 10.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
        raise ValueError(f"digits must be an integer from 0 to 10, got {digits!r}")
    try:
        low, high = interval
    except (TypeError, ValueError):
        raise ValueError(f"interval must be a (low, high) pair, got {interval!r}") from None
    if math.isnan(low) or math.isnan(high):
        return f"{value:.{digits}f} [n/a]"
    if not low <= high:
        raise ValueError(f"interval must have low <= high, got ({low}, {high})")
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


@dataclass(frozen=True, repr=False, kw_only=True)
class LawFit(abc.ABC):
    """A fitted law: its parameters, how far to trust them, and its predictions.

    Subclasses hold the parameters as fields named in ``PARAMETERS`` (their units are
    the law's: see each subclass).

    Attributes:
        converged: whether the optimiser met its stopping rule (for a closed-form fit,
            whether its solution is unique).
        n_points: the points the law was fitted to (0 for a law written down by hand).
        intervals: name -> (low, high), the central ``level`` interval of a parameter
            (bootstrap percentiles, or Student t for a least-squares line); empty when
            none was computed.
        level: central probability of ``intervals``; None when there are none.
        bootstrap: name -> the value refitted on each bootstrap resample kept (empty
            without a bootstrap).
        n_bootstrap_dropped: bootstrap resamples whose fit failed (did not converge, or
            held fewer distinct points than the law has parameters): left out of
            ``bootstrap`` and ``intervals``, and counted here.
    """

    #: Names of the fitted parameters, in the order ``repr`` shows them.
    PARAMETERS: ClassVar[tuple[str, ...]] = ()

    converged: bool
    n_points: int = 0
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    level: float | None = None
    bootstrap: dict[str, np.ndarray] = field(default_factory=dict)
    n_bootstrap_dropped: int = 0

    @property
    def parameters(self) -> dict[str, float]:
        """Name -> fitted value of each of ``PARAMETERS``."""
        return {name: float(getattr(self, name)) for name in self.PARAMETERS}

    @property
    def n_bootstrap(self) -> int:
        """Number of bootstrap resamples kept in ``bootstrap`` (0 without a bootstrap)."""
        return len(next(iter(self.bootstrap.values()), ()))

    def with_interval(self, name: str, digits: int = 2) -> str:
        """Parameter ``name`` beside its interval, ``"value [low, high]"``
        (:func:`with_interval`).

        Raises:
            ValueError: ``name`` is not a parameter of this law, or has no interval.
        """
        if name not in self.PARAMETERS:
            raise ValueError(f"name must be one of {self.PARAMETERS}, got {name!r}")
        if name not in self.intervals:
            raise ValueError(f"{type(self).__name__} has no interval on {name!r} (its intervals: {sorted(self.intervals)})")
        return with_interval(getattr(self, name), self.intervals[name], digits)

    @abc.abstractmethod
    def predict(self, *args: object) -> object:
        """The law's prediction at the given inputs (see each subclass for its arguments)."""

    def _details(self) -> dict[str, object]:
        """Law-specific entries of ``repr``, after the parameters (none by default)."""
        return {}

    def __repr__(self) -> str:
        """``Name(p=value [low, high], ..., converged=..., n_points=..., ...)``: the parameters
        with their intervals, then how the fit went; one parameter a line when that is long."""
        parameters = []
        for name, value in self.parameters.items():
            entry = f"{name}={value:.4g}"
            if name in self.intervals:
                low, high = self.intervals[name]
                entry += f" [{low:.4g}, {high:.4g}]"
            parameters.append(entry)
        status = [f"{name}={value}" for name, value in self._details().items()]
        if self.level is not None:
            status.append(f"level={self.level:g}")
        status += [f"converged={self.converged}", f"n_points={self.n_points}"]
        if self.n_bootstrap or self.n_bootstrap_dropped:
            status += [f"n_bootstrap={self.n_bootstrap}", f"n_bootstrap_dropped={self.n_bootstrap_dropped}"]
        law = type(self).__name__
        line = f"{law}({', '.join(parameters + status)})"
        if len(line) <= _REPR_WIDTH:
            return line
        return f"{law}(\n" + "".join(f"    {entry},\n" for entry in [*parameters, ", ".join(status)]) + ")"
