"""Sphinx extension: each chapter's download button offers its executed ``.ipynb``, and the
same notebook without the solutions of its exercises.

sphinx-book-theme adds a ``.ipynb`` entry to a page's download button when the page's
context holds ``ipynb_source``, but it sets that only while a launch button (Binder,
JupyterHub, Colab, Thebe) is configured, and this book has none: it must work offline.
For every page written from a MyST Markdown notebook, this copies the notebook that
MyST-NB executed during the build (``<build>/jupyter_execute/<page>.ipynb``, outputs
and figures included) next to the page's source in ``_sources`` and sets
``ipynb_source``, so that readers can take away both the ``.md`` and the ``.ipynb``.

It also writes ``<page>.exercises.ipynb`` beside it, :func:`without_solutions` of the
executed notebook, and adds it to the download button: the chapter with its outputs and
its exercises, but none of the text or code of their solutions (a folded solution is
hidden only on the web page; in a downloaded notebook it is one click away). Where a
solution checks its own numbers (a cell tagged ``remove-cell`` inside it), that check is
kept, so that a student can run it against their own answer.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

SOLUTION_START = re.compile(r"^```\{solution-start\}[^\n]*\n(?::[^\n]*\n)*```[ \t]*$\n?", re.MULTILINE)
"""The opening fence of a gated solution, with its options (``:class: dropdown``)."""
SOLUTION_END = re.compile(r"^```\{solution-end\}[ \t]*\n```[ \t]*$\n?", re.MULTILINE)
"""The closing fence of a gated solution."""
CHECK_TAG = "remove-cell"
"""The tag of a check cell: executed by the build and by nbval, not shown on the page."""
PLACEHOLDER = (
    "**Your solution.** Work it out in the cell below. The solution is in the chapter's full "
    "notebook and on its web page."
)
CHECK_NOTE = (
    "# A check of the chapter's own solution: it uses the names the solution defines, so give\n"
    "# your results the same names (read it to see which) and run it after your solution.\n"
)
STUDENT_SUFFIX = ".exercises.ipynb"
"""What the student notebook's name adds to the page's name."""


def _markdown_events(source: str, inside: bool) -> list[tuple[str, str]]:
    """A markdown cell as a sequence of ``("text", part)``, ``("start", "")`` and
    ``("end", "")`` events, reading it from a state inside a solution or not."""
    events, position = [], 0
    while True:
        match = (SOLUTION_END if inside else SOLUTION_START).search(source, position)
        if match is None:
            return events + [("text", source[position:])]
        events += [("text", source[position:match.start()]), ("end" if inside else "start", "")]
        inside, position = not inside, match.end()


def without_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without the text and code of its exercises' solutions.

    Each solution (from a ``{solution-start}`` fence to its ``{solution-end}``, across
    cells) is replaced by a note and an empty code cell for the student's answer; the
    solution's check cells (tagged :data:`CHECK_TAG`) are kept after it, with a comment
    that says what they need and with the tag removed. Everything outside solutions is
    kept, outputs included.

    Raises:
        ValueError: a solution that is never closed.
    """
    cells: list[nbformat.NotebookNode] = []
    checks: list[nbformat.NotebookNode] = []
    inside = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for kind, text in _markdown_events(cell.source, inside):
                if kind == "text" and not inside and text.strip():
                    cells.append(nbformat.v4.new_markdown_cell(text.strip("\n")))
                elif kind == "start":
                    inside, checks = True, []
                elif kind == "end":
                    inside = False
                    cells += _answer_cells(checks)
        elif not inside:
            cells.append(copy.deepcopy(cell))
        elif CHECK_TAG in cell.get("metadata", {}).get("tags", []):
            checks.append(cell)
    if inside:
        raise ValueError("a solution is opened with {solution-start} and never closed")
    student = copy.deepcopy(notebook)
    student.cells = cells
    return student


def _answer_cells(checks: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """The note and the empty cell that replace a solution, then its check cells."""
    answer = [nbformat.v4.new_markdown_cell(PLACEHOLDER), nbformat.v4.new_code_cell("")]
    for check in checks:
        tags = [tag for tag in check.get("metadata", {}).get("tags", []) if tag != CHECK_TAG]
        metadata = {**check.get("metadata", {}), "tags": tags}
        answer.append(nbformat.v4.new_code_cell(CHECK_NOTE + check.source, metadata=metadata))
    return answer


def offer_executed_notebook(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                            doctree: Any) -> None:
    """Copy a notebook page's executed ``.ipynb`` into ``_sources`` and name it in the context;
    write its student version beside it."""
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    if not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        logger.warning("no executed notebook %s to offer for download", executed, location=pagename)
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"
    notebook = nbformat.read(executed, as_version=4)
    if not any(SOLUTION_START.search(cell.source) for cell in notebook.cells if cell.cell_type == "markdown"):
        return  # a page without exercises needs no student version
    student = without_solutions(notebook)
    nbformat.write(student, Path(app.outdir) / "_sources" / f"{pagename}{STUDENT_SUFFIX}")
    context["student_ipynb_source"] = f"{pagename}{STUDENT_SUFFIX}"


def add_student_download(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                         doctree: Any) -> None:
    """Add the student notebook to the download button that sphinx-book-theme built."""
    if not context.get("student_ipynb_source"):
        return
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].insert(1, {
                "type": "link",
                "url": f"{context['pathto']('_sources', 1)}/{context['student_ipynb_source']}",
                "text": ".ipynb, exercises without solutions",
                "icon": "fas fa-pencil-alt",
                "tooltip": "Download the notebook without the exercises' solutions",
                "label": "download-student-notebook-button",
            })
            return


def setup(app: Sphinx) -> dict[str, bool]:
    # Before sphinx-book-theme builds its header buttons (priority 501), and after it.
    app.connect("html-page-context", offer_executed_notebook, priority=450)
    app.connect("html-page-context", add_student_download, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
