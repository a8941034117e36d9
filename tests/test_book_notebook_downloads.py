"""The student notebook of a chapter (book/_ext/notebook_downloads.py): the exercises and
everything else, none of the solutions' text or code, their checks kept."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("notebook_downloads", ROOT / "book" / "_ext" / "notebook_downloads.py")
notebook_downloads = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook_downloads)
without_solutions = notebook_downloads.without_solutions
CHAPTERS = sorted((ROOT / "notebooks").glob("*.md"))


def markdown(source):
    return nbformat.v4.new_markdown_cell(source)


def code(source, tags=(), output=None):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    if output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    return cell


def exercise_notebook():
    """A chapter's shape: a computed cell, an exercise whose solution spans two code cells
    and a check, with text after the solution in the cell that closes it."""
    return nbformat.v4.new_notebook(cells=[
        markdown("# A chapter"),
        code("x = 6 * 7\nprint(x)", output="42\n"),
        markdown("## Exercises\n\n```{exercise-start}\n:label: ex-1\n```\nDouble it.\n```{exercise-end}\n```\n\n"
                 "```{solution-start} ex-1\n:class: dropdown\n```\nMultiply by two:"),
        code("doubled = 2 * x\nprint(doubled)", output="84\n"),
        code("assert doubled == 84", tags=["remove-cell"]),
        markdown("which is the answer.\n```{solution-end}\n```\n\nThe end of the page."),
    ])


def test_a_solution_becomes_a_place_for_the_answer_and_keeps_its_check():
    student = without_solutions(exercise_notebook())
    sources = [cell.source for cell in student.cells]
    text = "\n".join(sources)
    assert "Double it." in text and "The end of the page." in text
    assert "Multiply by two" not in text and "which is the answer" not in text
    assert "doubled = 2 * x" not in text and "solution-start" not in text and "solution-end" not in text
    placeholder = sources.index(notebook_downloads.PLACEHOLDER)
    answer, check = student.cells[placeholder + 1], student.cells[placeholder + 2]
    assert answer.cell_type == "code" and answer.source == ""
    assert check.source.endswith("assert doubled == 84") and "remove-cell" not in check.metadata["tags"]
    assert student.cells[1].outputs[0]["text"] == "42\n"  # outside the solution, outputs are kept


def test_a_solution_never_closed_is_an_error():
    notebook = exercise_notebook()
    notebook.cells = notebook.cells[:-1]
    with pytest.raises(ValueError, match="never closed"):
        without_solutions(notebook)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_a_chapter_without_solutions_keeps_each_exercise_and_no_solution_code(chapter):
    notebook = jupytext.read(chapter)
    student = without_solutions(notebook)
    full_text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    student_text = "\n".join(cell.source for cell in student.cells)
    n_solutions = full_text.count("{solution-start}")
    assert full_text.count("{exercise-start}") == student_text.count("{exercise-start}")
    assert [cell.source for cell in student.cells].count(notebook_downloads.PLACEHOLDER) == n_solutions
    assert "{solution-start}" not in student_text and "{solution-end}" not in student_text
    kept_code = {cell.source for cell in student.cells if cell.cell_type == "code"}
    inside, dropped = False, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for kind, _ in notebook_downloads._markdown_events(cell.source, inside):
                inside = {"start": True, "end": False}.get(kind, inside)
        elif inside and "remove-cell" not in cell.metadata.get("tags", []):
            dropped.append(cell.source)
    assert not [source for source in dropped if source in kept_code]
