"""Let nbval run the book's Jupytext (MyST Markdown) notebooks.

nbval only collects ``.ipynb`` files, and ours are ``notebooks/*.md`` without outputs.
This plugin collects each ``notebooks/*.md`` with nbval's own collector, reading it
through ``jupytext.read``. Cells tagged ``nbval-check-output`` are compared with a
*reference execution* of the same notebook in a separate kernel: the executed copy that
``jupyter-book build`` left in ``_build/jupyter_execute/`` when it is newer than the
source and was run in the same mode (``_build/jupyter_execute/MODE``, written by
``book/_ext/mode_cache.py``), otherwise a fresh execution made here (kept per mode in
``_build/nbval-reference/<mode>``). So a checked cell passes only when two
independent runs print the same thing: the book's promise that a rerun on the same
machine prints the same numbers.

Usage: ``pytest --nbval-lax --nbval-current-env notebooks/``.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import jupytext
import nbformat
import pytest

from scalinglab.mode import current_mode

try:
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval missing: only the package tests can run
    IPyNbFile = None

ROOT = Path(__file__).resolve().parent
NOTEBOOK_DIR = ROOT / "notebooks"
BOOK_EXECUTED_DIR = ROOT / "_build" / "jupyter_execute" / "notebooks"
BOOK_MODE_FILE = ROOT / "_build" / "jupyter_execute" / "MODE"
REFERENCE_ROOT = ROOT / "_build" / "nbval-reference"
CELL_TIMEOUT_SECONDS = 600


def _execute(notebook: nbformat.NotebookNode, workdir: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def reference_notebook(source: Path) -> nbformat.NotebookNode:
    """The executed reference for ``source`` in the current mode: the book build's copy if
    fresh and of this mode, else an earlier reference run of this mode, else a new run."""
    mode = current_mode()
    reference_dir = REFERENCE_ROOT / mode
    candidates = [reference_dir / f"{source.stem}.ipynb"]
    if BOOK_MODE_FILE.exists() and BOOK_MODE_FILE.read_text().strip() == mode:
        candidates.insert(0, BOOK_EXECUTED_DIR / f"{source.stem}.ipynb")
    for candidate in candidates:
        if candidate.exists() and candidate.stat().st_mtime >= source.stat().st_mtime:
            return nbformat.read(candidate, as_version=4)
    executed = _execute(jupytext.read(source), source.parent)
    reference_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed, reference_dir / f"{source.stem}.ipynb")
    return executed


def read_with_reference_outputs(source: Path) -> nbformat.NotebookNode:
    """``source`` read by Jupytext, each code cell given the outputs of the reference run."""
    notebook = jupytext.read(source)
    reference_cells = [c for c in reference_notebook(source).cells if c.cell_type == "code"]
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    if [c.source for c in code_cells] != [c.source for c in reference_cells]:
        raise ValueError(f"reference execution of {source} does not match its code cells; rebuild it")
    for cell, reference in zip(code_cells, reference_cells):
        cell.outputs = reference.outputs
        cell.execution_count = reference.execution_count
    return notebook


if IPyNbFile is not None:

    class JupytextNotebookFile(IPyNbFile):
        """nbval's notebook collector, fed a Jupytext notebook with reference outputs."""

        def collect(self):
            source = Path(str(self.fspath))
            notebook = read_with_reference_outputs(source)
            with mock.patch("nbval.plugin.nbformat.read", return_value=notebook):
                yield from super().collect()

    def pytest_collect_file(file_path: Path, parent: pytest.Collector):
        options = parent.config.option
        nbval_on = getattr(options, "nbval", False) or getattr(options, "nbval_lax", False)
        if nbval_on and file_path.suffix == ".md" and file_path.parent == NOTEBOOK_DIR:
            return JupytextNotebookFile.from_parent(parent, path=file_path)
        return None
