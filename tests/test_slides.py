"""Tests of the slide decks' converter (book/_ext/slides.py): what of a chapter's executed
notebook goes on its slides, into their speaker notes, or nowhere. The decks of the built
book are opened in a browser by tests/test_site.py."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import slides  # noqa: E402

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f9d0000000049454e44ae426082"
)).decode()


def _figure_cell(source: str, caption: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={
        "tags": list(tags), "mystnb": {"figure": {"caption": caption}, "image": {"alt": "A test figure"}}})
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    return cell


def _printing_cell(source: str, printed: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    return cell


def chapter() -> nbformat.NotebookNode:
    markdown = nbformat.v4.new_markdown_cell
    return nbformat.v4.new_notebook(cells=[
        markdown("# Power laws\n\nThe opening prose, citing {cite:t}`kaplan2020scaling`.\n\n$$\nL(x) = E + (x_0/x)^\\alpha\n$$"),
        _printing_cell("import numpy as np\nprint('setup')", "setup\n"),
        markdown("## Loss against parameters\n\nFirst paragraph of the section.\n\nSecond, about $N$."),
        _figure_cell("fig = plot()\n" * 12, "The loss against $N$."),
        _figure_cell("fig = plot()", "A second figure."),
        _printing_cell("print(fit)", "alpha = 0.08\n"),
        _printing_cell("assert fit.alpha > 0", "", tags=("remove-cell",)),
        _printing_cell("\n".join(f"x{i} = {i}" for i in range(20)), ""),
        _printing_cell("\n".join(f"y{i} = {i}" for i in range(20)) + "\nprint(y19)", "19\n"),
        markdown("### A section with words only\n\nOnly prose here, shown on the slide."),
        markdown("```{math}\n:label: eq-law\nN_{opt} = k C^a\n```\n\nAfter the block."),
        markdown("## Exercises\n\n```{exercise-start}\n:label: ex-1\n```\nPredict the loss at $30N$.\n"
                 "```{exercise-end}\n```\n\n```{solution-start} ex-1\n:class: dropdown\n```"),
        _printing_cell("answer = 42\nprint(answer)", "42\n"),
        markdown("The solution's prose: SECRET.\n```{solution-end}\n```\n\n```{exercise-start}\n```\n"
                 "Second exercise.\n```{exercise-end}\n```"),
    ])


def test_headings_make_slides_with_their_equations_figures_and_short_code():
    deck = slides.notebook_slides(chapter(), chapter_number="4")
    assert [(s.kind, s.title) for s in deck] == [
        ("title", "Power laws"),
        ("section", "Loss against parameters"),
        ("section", "Loss against parameters (continued)"),  # a figure fills a slide: the second gets
        ("section", "Loss against parameters (continued)"),  # its own, and the code after it too
        ("section", "A section with words only"),
        ("exercise", "Exercise 4.1"),
        ("exercise", "Exercise 4.2"),
    ]
    title, first, second, after, words, exercise, _ = deck
    assert any("L(x) = E" in block for block in title.shown)
    assert not any("import numpy" in block for block in title.shown)  # no code on the title slide
    assert "Kaplan et al. (2020)" in slides.render(title.notes[0])  # {cite:t}, from the bibliography
    assert title.notes[0].endswith("scaling`. " + slides.EQUATION_IN_NOTES)  # the equation's place in the prose
    assert first.figures == 1 and 'src="data:image/png;base64,' in first.shown[0]
    assert "The loss against \\(N\\)." in first.shown[0]  # the caption, with its math
    assert second.figures == 1 and len(second.shown) == 1
    assert after.figures == 0 and any("print(fit)" in b and "alpha = 0.08" in b for b in after.shown)
    shown = "".join(after.shown)
    assert "assert" not in shown and "x19" not in shown  # a hidden check, a long cell
    assert "y19 = 19" not in shown and '<pre class="output">19</pre>' in shown  # a long cell's output, without it
    assert first.notes == ["First paragraph of the section.", "Second, about $N$."]
    assert any("N_{opt} = k C^a" in block for block in words.shown)
    assert "Only prose here" in "".join(words.notes)
    assert "\\(30N\\)" in exercise.shown[0]


def test_solutions_are_left_out_and_a_slide_without_content_shows_its_first_paragraph():
    notebook = chapter()
    html = slides.deck_html("Power laws", slides.notebook_slides(notebook), root="..", page="notebooks/power_laws")
    assert "SECRET" not in html and "answer = 42" not in html
    assert html.count('<section class="exercise"') == 2
    assert '<aside class="notes">' in html
    no_visuals = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# T\n\n## Words\n\nThe first paragraph.\n\nThe second.")])
    (_, words) = slides.notebook_slides(no_visuals)
    assert "The first paragraph." in words.shown[0] and "second" not in words.shown[0]
    assert words.notes == ["The second."]  # what the slide shows is not repeated in its notes


def test_a_deck_loads_everything_from_the_site_and_links_back_to_its_chapter():
    html = slides.deck_html("Power laws", slides.notebook_slides(chapter()), root="..", page="notebooks/power_laws")
    assert "http://" not in html and "https://" not in html.replace("https://revealjs.com", "")
    assert f'src="../{slides.MATHJAX}"' in html and f'src="../{slides.REVEAL_DIR}/dist/reveal.js"' in html
    assert 'href="../notebooks/power_laws.html"' in html
    assert slides.deck_url("notebooks/power_laws") == "slides/power_laws.html"


@pytest.mark.skipif(slides._reveal_source() is None, reason="sphinx-revealjs (which carries reveal.js) is not installed")
def test_the_reveal_assets_the_decks_use_are_installed_and_fetch_nothing():
    source = slides._reveal_source()
    for relative in ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme/white.css",
                     "plugin/notes/notes.js"):
        assert (source / relative).is_file(), relative
    css = (source / "dist" / "theme" / "white.css").read_text()
    assert "@import url(http" not in css and "fonts.googleapis" not in css


def test_code_fences_labelled_equations_and_exercises_with_equations_are_read_in_place():
    markdown = nbformat.v4.new_markdown_cell
    notebook = nbformat.v4.new_notebook(cells=[
        markdown("# T\n\n## Commands\n\nRun this:\n\n```bash\n# not a heading\n$$\npython -m x\n```\n\nAfter it."),
        markdown("## Laws\n\n$$ L = E + A/N $$ (eq-law)\n\nand then\n$$\nD = C / 6N\n$$\nends the law."),
        markdown("```{exercise-start}\n```\nShow that\n$$\na = b\n$$\nholds.\n```{exercise-end}\n```\n\nProse after it."),
    ])
    deck = slides.notebook_slides(notebook)
    assert [s.title for s in deck] == ["T", "Commands", "Laws", "Exercise 1", "Laws (continued)"]
    commands, laws, exercise, after = deck[1:]
    assert "# not a heading" in "\n".join(commands.notes) and "After it." in "\n".join(commands.notes)
    assert [b for b in laws.shown if "L = E + A/N" in b] and [b for b in laws.shown if "D = C / 6N" in b]
    shown = exercise.shown[0]
    assert shown.index("Show that") < shown.index("a = b") < shown.index("holds.")
    assert "Prose after it." in after.shown[0]  # a slide with nothing else shows its prose


def test_citations_name_the_authors_as_the_bibliography_does():
    assert slides.plain_markdown("{cite:p}`kaplan2020scaling`") == "(Kaplan et al. 2020)"
    assert slides.plain_markdown("{cite:t}`kaplan2020scaling` fitted") == "Kaplan et al. (2020) fitted"
    assert not any("{" in name for name in slides._CITATIONS.values())
