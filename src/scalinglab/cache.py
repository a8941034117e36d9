"""Where scalinglab keeps what it computes once per machine (pre-trained weights, extracted corpora).

One directory for all of it: ``$SCALINGLAB_CACHE`` when set, else
``$XDG_CACHE_HOME/scalinglab``, else ``~/.cache/scalinglab``. Deleting it only costs time:
everything in it is rebuilt, deterministically, when next needed.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SCALINGLAB_CACHE"
"""The environment variable that moves the cache directory."""


def cache_dir() -> Path:
    """The cache directory (not created here): ``$SCALINGLAB_CACHE``, else
    ``$XDG_CACHE_HOME/scalinglab``, else ``~/.cache/scalinglab``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "scalinglab"
