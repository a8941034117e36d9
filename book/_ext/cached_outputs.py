"""Sphinx extension: a notebook taken from the execution cache keeps its outputs on disk.

With ``execute_notebooks: cache``, MyST-NB (1.4) renders a page from the cached executed
notebook but writes the notebook *without* its outputs to
``_build/jupyter_execute/<page>.ipynb`` (it saves the notebook it read, not the one the
cache merged outputs into). Two things read that file: the ``.ipynb`` download of each
chapter (``notebook_downloads``) and nbval's reference outputs (``conftest.py``). So on a
second build the downloads had no outputs and nbval compared the checked cells with
nothing. When a page has been read (``doctree-read``), this puts the cached outputs back
into its executed notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from jupyter_cache import get_cache
from sphinx.application import Sphinx


def executed_notebook_path(app: Sphinx, docname: str) -> Path:
    """Where MyST-NB writes the executed notebook of ``docname``."""
    return Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"


def restore_cached_outputs(path: Path, cache_path: str) -> bool:
    """Merge the cached outputs into the notebook at ``path`` when none of its code cells has
    any and the cache at ``cache_path`` holds a match; returns whether it did."""
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    if not code_cells or any(cell.outputs for cell in code_cells):
        return False
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache: the page was executed (or failed) in this build
        return False
    nbformat.write(merged, path)
    return True


def on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    path = executed_notebook_path(app, app.env.docname)
    if app.config.nb_execution_mode == "cache" and path.exists():
        restore_cached_outputs(path, app.config.nb_execution_cache_path)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("myst_nb")
    app.connect("doctree-read", on_doctree_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
