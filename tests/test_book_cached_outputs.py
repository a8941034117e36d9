"""A notebook taken from the execution cache keeps its outputs in jupyter_execute
(book/_ext/cached_outputs.py), so that downloads and nbval see them on every build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cached_outputs", ROOT / "book" / "_ext" / "cached_outputs.py")
cached_outputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cached_outputs)


def notebook(with_output: bool) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print(6 * 7)")
    if with_output:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"), cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_outputs_of_a_cached_notebook_are_put_back(tmp_path):
    cache_path = str(tmp_path / "cache")
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook(with_output=True), executed)
    get_cache(cache_path).cache_notebook_file(executed, check_validity=False)
    written = tmp_path / "jupyter_execute.ipynb"
    nbformat.write(notebook(with_output=False), written)
    assert cached_outputs.restore_cached_outputs(written, cache_path)
    restored = nbformat.read(written, as_version=4)
    assert restored.cells[1].outputs[0].text == "42\n"
    assert not cached_outputs.restore_cached_outputs(written, cache_path)  # already has outputs


def test_a_notebook_missing_from_the_cache_is_left_alone(tmp_path):
    written = tmp_path / "jupyter_execute.ipynb"
    nbformat.write(notebook(with_output=False), written)
    before = written.read_text()
    assert not cached_outputs.restore_cached_outputs(written, str(tmp_path / "empty_cache"))
    assert written.read_text() == before


def test_the_book_loads_the_extension():
    assert "cached_outputs: book/_ext" in (ROOT / "_config.yml").read_text()
