"""Sphinx extension: a build in one mode never reuses pages executed in the other.

The book is executed in fast or full mode (``$SCALINGLAB_MODE``, read by
:func:`scalinglab.mode.current_mode`), but neither of the two caches of a build knows it:
MyST-NB's jupyter-cache (``_build/.jupyter_cache``) keys an executed notebook by its
source alone, and Sphinx re-reads only the pages whose source changed since the pickled
environment in ``_build/.doctrees``. So ``SCALINGLAB_MODE=full make book`` after a fast
build served the fast pages. When the configuration is read (``config-inited``, before
MyST-NB reads ``nb_execution_cache_path`` at ``builder-inited`` and before Sphinx loads
its saved environment), this extension

- gives each mode its own jupyter-cache: ``nb_execution_cache_path`` becomes
  ``<cache>/<mode>``, where ``<cache>`` is the path set in ``_config.yml`` (``execute:
  cache:``, which Jupyter Book passes on as ``nb_execution_cache_path``) or, when none is
  set, MyST-NB's default ``_build/.jupyter_cache`` (next to the HTML output folder); so
  switching back to a mode reuses that mode's executed notebooks;
- records the mode in the config value ``scalinglab_mode``, registered with
  ``rebuild="env"``, so that Sphinx re-reads every page when the mode differs from the
  one of the saved environment;
- writes the mode to ``_build/jupyter_execute/MODE`` when the build ends, so that nbval
  (``conftest.py``) compares with the book's executed notebooks only when they were run in
  its own mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

from scalinglab.mode import current_mode

MODE_CONFIG = "scalinglab_mode"
CACHE_CONFIG = "nb_execution_cache_path"
MODE_FILE = "MODE"
"""Name of the file beside the executed notebooks that says which mode ran them."""


def mode_cache_path(base: str | Path, mode: str) -> Path:
    """The jupyter-cache folder of ``mode``: ``base / mode``."""
    return Path(base) / mode


def separate_caches_by_mode(app: Sphinx, config: Config) -> None:
    """Set ``scalinglab_mode`` to the current mode and ``nb_execution_cache_path`` to that
    mode's own folder (``config-inited`` handler). Raises ValueError, naming
    ``SCALINGLAB_MODE``, when the variable is neither fast nor full."""
    mode = current_mode()
    # A path set in _config.yml is taken, like jupyter-cache takes it, from the working
    # directory; without one, MyST-NB's default (myst_nb.sphinx_ext.create_mystnb_config).
    base = config[CACHE_CONFIG] if CACHE_CONFIG in config else ""
    if not base:
        base = Path(app.outdir).parent / ".jupyter_cache"
    config[CACHE_CONFIG] = str(mode_cache_path(base, mode).resolve())
    config[MODE_CONFIG] = mode
    # Until this build finishes, the executed notebooks are of no known mode (an interrupted
    # build may leave some of each).
    (Path(app.outdir).parent / "jupyter_execute" / MODE_FILE).unlink(missing_ok=True)


def record_mode(app: Sphinx, exception: Exception | None) -> None:
    """Write the build's mode beside its executed notebooks (``build-finished`` handler)."""
    executed = Path(app.outdir).parent / "jupyter_execute"
    if exception is None and executed.is_dir():
        (executed / MODE_FILE).write_text(app.config[MODE_CONFIG] + "\n")


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("myst_nb")  # registers nb_execution_cache_path
    app.add_config_value(MODE_CONFIG, "fast", "env", types=[str])
    app.connect("config-inited", separate_caches_by_mode)
    app.connect("build-finished", record_mode)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
