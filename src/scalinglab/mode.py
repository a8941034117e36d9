"""Fast and full mode: one environment variable chooses the size of every experiment.

``SCALINGLAB_MODE=fast`` (the default) picks tiny configs so that every notebook runs
in well under two minutes on 2 CPU cores; this is what CI and the default book build
use. ``SCALINGLAB_MODE=full`` picks the real experiments, meant for a GPU or a
patient CPU. Notebooks call :func:`mode_banner` near the top so that the rendered page
says which mode produced it.
"""

from __future__ import annotations

import os
from typing import TypeVar

from ._checks import one_of

MODE_VARIABLE = "SCALINGLAB_MODE"
MODES = ("fast", "full")

T = TypeVar("T")


def current_mode() -> str:
    """Return ``"fast"`` or ``"full"`` from ``$SCALINGLAB_MODE`` (fast when unset or empty)."""
    value = os.environ.get(MODE_VARIABLE, "").strip().lower() or "fast"
    return one_of(MODE_VARIABLE, value, MODES)


def is_fast() -> bool:
    """True when the current mode is fast."""
    return current_mode() == "fast"


def pick(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` in full mode."""
    return fast if is_fast() else full


def mode_banner() -> str:
    """A two-line description of the mode, printed at the top of each notebook that depends on it."""
    mode = current_mode()
    if mode == "fast":
        return f"Mode: fast (tiny configs for a laptop CPU).\nSet {MODE_VARIABLE}=full for the real experiments."
    return f"Mode: full (the real experiments).\nSet {MODE_VARIABLE}=fast for tiny configs."
