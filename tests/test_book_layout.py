"""The book's structure: every chapter is in the table of contents, and no notebook JSON is in git."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    for part in toc["parts"]:
        files.update(chapter["file"] for chapter in part["chapters"])
    return files


def test_every_notebook_is_a_chapter_and_every_chapter_exists():
    notebooks = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.md")}
    listed = toc_files()
    assert notebooks <= listed, f"notebooks missing from _toc.yml: {sorted(notebooks - listed)}"
    for entry in listed:
        assert (ROOT / f"{entry}.md").exists(), f"_toc.yml lists {entry} but {entry}.md does not exist"


def test_notebooks_are_jupytext_markdown_with_a_python_kernel():
    for path in (ROOT / "notebooks").glob("*.md"):
        head = path.read_text().split("---")[1]
        meta = yaml.safe_load(head)
        assert meta["jupytext"]["text_representation"]["format_name"] == "myst", path
        assert meta["kernelspec"]["name"] == "python3", path
