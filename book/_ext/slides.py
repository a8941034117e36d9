"""Sphinx extension: a reveal.js slide deck for each chapter, built from its executed notebook.

After the HTML build, every chapter page written from a notebook (the pages listed in
:data:`DECK_PARTS` of the table of contents) gets ``slides/<chapter>.html`` beside the
site, made from the notebook that MyST-NB executed for the page
(``<build>/jupyter_execute/<page>.ipynb``), so that the slides show the same figures and
numbers as the page:

* the chapter's title is the first slide; each ``##`` or ``###`` heading starts a slide;
* a slide shows its section's display equations (``$$ ... $$`` and ``{math}`` blocks),
  its figures (the PNG outputs of its code cells, embedded, with their captions; one
  figure a slide, so a section with two gets a second slide), and its short code cells
  (at most :data:`MAX_CODE_LINES` lines, not hidden on the page) with their short
  printed output; a section with none of these shows its first paragraph;
* the section's prose becomes the slide's speaker notes (press ``s`` in the deck);
* each exercise is a slide of its own; solutions are left out.

The decks use the reveal.js that the ``sphinx-revealjs`` package carries (installed with
the book's requirements from PyPI) and the site's own offline MathJax, so nothing is
fetched from the network. Each chapter page gets a "Slides" entry in its download
button, and the ``{slide-decks}`` directive lists every deck (the instructor's guide
uses it).
"""

from __future__ import annotations

import base64
import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from docutils.parsers.rst import Directive
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

SLIDES_DIR = "slides"
"""Where the decks go, under the HTML output directory."""
REVEAL_DIR = "_static/revealjs"
"""Where reveal.js is copied to, under the HTML output directory."""
MATHJAX = "_static/mathjax/tex-chtml.js"
"""The site's offline MathJax (sphinx-mathjax-offline), relative to the output directory."""
MAX_CODE_LINES = 8
"""Code cells up to this many lines are shown on their slide; longer ones only in the notes' page."""
MAX_OUTPUT_LINES = 10
"""Printed output up to this many lines is shown under its code."""
MAX_BLOCKS = 3
"""Equations and code cells a slide holds before the next goes on a slide of its own."""
HIDDEN_CODE_TAGS = frozenset({"remove-cell", "remove-input", "hide-input", "hide-cell"})
"""Cell tags whose code the page does not show, so neither does the slide."""
HIDDEN_OUTPUT_TAGS = frozenset({"remove-cell", "remove-output", "hide-output", "hide-cell"})

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}(?P<argument>.*)$")
_PLAIN_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?!\{)[\w+-]*\s*$")
"""A code fence without a directive (```bash): read verbatim, no heading or equation inside."""
_DISPLAY_ONE_LINE = re.compile(r"^\$\$(?P<tex>.+?)\$\$\s*(\(\S+\))?$")
_DISPLAY_END = re.compile(r"^(?P<tex>.*?)\$\$\s*(\(\S+\))?$")
_HEADING = re.compile(r"^(?P<level>#{1,3})\s+(?P<title>.+?)\s*#*\s*$")
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]*)`")
_CITATION_KEY = re.compile(r"^(?P<name>[a-z]+?)(?P<year>\d{4})")
_BIB_ENTRY = re.compile(r"@\w+\{(?P<key>[^,]+),(?P<body>.*?)\n\}", re.S)
_BIB_FIELD = re.compile(r"(?P<field>author|year)\s*=\s*\{(?P<value>\{?[^}]*\}?)\}")
EQUATION_IN_NOTES = "(the equation on the slide)"
"""What stands in the speaker notes where the prose had a display equation."""
CONTINUED = " (continued)"
"""What the title of a section's second and later slides adds."""


def _bibliography() -> dict[str, str]:
    """Citation key -> "Kaplan et al. 2020" (one or two authors named in full), from the book's references."""
    path = Path(__file__).resolve().parents[1] / "references.bib"
    names: dict[str, str] = {}
    for entry in _BIB_ENTRY.finditer(path.read_text(encoding="utf-8") if path.exists() else ""):
        fields = {m["field"]: m["value"].strip("{}") for m in _BIB_FIELD.finditer(entry["body"])}
        authors = [a.split(",")[0].strip() for a in fields.get("author", "").split(" and ") if a.strip()]
        if not authors:
            continue
        who = authors[0] if len(authors) == 1 else " and ".join(authors) if len(authors) == 2 else f"{authors[0]} et al."
        names[entry["key"].strip()] = f"{who} {fields.get('year', '')}".strip()
    return names


_CITATIONS = _bibliography()
_doc_titles: dict[str, str] = {}
"""Page name (its last part) -> title, set by :func:`write_decks` so that a ``{doc}`` reads as its title."""

_markdown = MarkdownIt("commonmark", {"html": False}).use(dollarmath_plugin).enable("table")
_markdown.add_render_rule("math_inline", lambda self, tokens, idx, options, env: f"\\({html.escape(tokens[idx].content)}\\)")
_markdown.add_render_rule(
    "math_block", lambda self, tokens, idx, options, env: f'<div class="math">\\[{html.escape(tokens[idx].content)}\\]</div>\n'
)


@dataclass
class Slide:
    """One slide: its title, what it shows, and the prose that becomes its speaker notes."""

    title: str
    shown: list[str] = field(default_factory=list)  # HTML blocks
    notes: list[str] = field(default_factory=list)  # markdown paragraphs
    figures: int = 0
    kind: str = "section"  # "title", "section" or "exercise"

    def is_empty(self) -> bool:
        return not self.shown and not "".join(self.notes).strip()

    def has_room(self, figure: bool) -> bool:
        """Whether a figure (or an equation or code) fits: a figure fills a slide of its own."""
        if figure:
            return not self.shown
        return not self.figures and len(self.shown) < MAX_BLOCKS


def _role_text(match: re.Match[str]) -> str:
    """The plain text of a MyST role: a citation key as "Name year", a ``text <target>`` as text."""
    role, text = match["role"], match["text"]
    if role.startswith("cite"):
        named = []
        for key in (key.strip() for key in text.split(",")):
            found = _CITATION_KEY.match(key)
            named.append(_CITATIONS.get(key) or (f"{found['name'].title()} {found['year']}" if found else key))
        if role == "cite:t":  # the authors are the sentence's subject: "Kaplan et al. (2020)"
            return "; ".join(re.sub(r" (\d{4})$", r" (\1)", name) for name in named)
        return "(" + "; ".join(named) + ")"
    if "<" in text and text.endswith(">"):
        return text[: text.index("<")].strip()
    if role == "doc":
        return _doc_titles.get(text.split("/")[-1], text)
    if role in ("numref", "ref", "eq"):
        return "(see the page)"
    return text


def plain_markdown(text: str) -> str:
    """MyST markdown as CommonMark: roles replaced by their text, labels and comments dropped."""
    text = _ROLE.sub(_role_text, text)
    lines = [line for line in text.splitlines() if not re.match(r"^\(.+\)=\s*$", line) and not line.startswith("%")]
    return "\n".join(lines)


def render(markdown: str) -> str:
    """HTML of a piece of (plain) markdown, math kept for MathJax."""
    return _markdown.render(plain_markdown(markdown))


def _image_outputs(cell: nbformat.NotebookNode) -> list[str]:
    return [output["data"]["image/png"] for output in cell.get("outputs", [])
            if output.get("output_type") in ("display_data", "execute_result") and "image/png" in output.get("data", {})]


def _text_output(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "execute_result" and "text/plain" in output.get("data", {}) \
                and "image/png" not in output["data"] and "text/html" not in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts).rstrip("\n")


def _caption(cell: nbformat.NotebookNode) -> str:
    figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
    return str(figure.get("caption", "")).strip()


def _alt(cell: nbformat.NotebookNode) -> str:
    image = cell.get("metadata", {}).get("mystnb", {}).get("image", {})
    return str(image.get("alt", "A figure of the chapter")).strip()


class _Reader:
    """Walks a notebook's cells and collects its slides."""

    def __init__(self, exercise_prefix: str) -> None:
        self.exercise_prefix = exercise_prefix
        self.section_title = ""  # the heading of the section being read
        self.slides: list[Slide] = []
        self.in_solution = False
        self.exercise: list[str] | None = None
        self.exercises = 0
        self.directives: list[tuple[str, str]] = []  # open directives: (fence, name)
        self.math: list[str] | None = None  # the lines of a display equation being read
        self.math_end = ""  # the line that ends it: "$$" or the {math} block's fence
        self.verbatim: str | None = None  # the opening of a plain code fence being read
        self.paragraph: list[str] = []

    @property
    def slide(self) -> Slide:
        if not self.slides:
            self.slides.append(Slide(title="", kind="title"))
        return self.slides[-1]

    def new_slide(self, title: str, kind: str = "section") -> None:
        self.flush()
        self.slides.append(Slide(title=title, kind=kind))
        if kind == "section" and not title.endswith(CONTINUED):
            self.section_title = title

    def flush(self) -> None:
        """End the paragraph being read: into the exercise, or the slide's notes."""
        text = "\n".join(self.paragraph).strip()
        self.paragraph = []
        if not text or self.in_solution:
            return
        if self.exercise is not None:
            self.exercise.append(text)
            return
        notes = self.slide.notes
        continues = text == EQUATION_IN_NOTES or (notes and notes[-1].endswith(EQUATION_IN_NOTES)
                                                   and re.match(r"[a-z,.;:]", text))
        if notes and continues:
            notes[-1] += " " + text  # the sentence an equation interrupted goes on
        else:
            notes.append(text)

    # -- markdown ---------------------------------------------------------------

    def markdown(self, source: str) -> None:
        for line in source.splitlines():
            self.line(line)
        self.end_cell()

    def line(self, line: str) -> None:
        stripped = line.strip()
        if self.verbatim is not None:  # inside a plain code fence: its lines are prose for the notes
            if stripped.startswith(self.verbatim) and not stripped.strip(self.verbatim[0]):
                self.verbatim = None
            self.paragraph.append(line)
            return
        if self.math is not None:  # inside $$ ... $$ or a {math} block
            if self.math_end == "$$" and _DISPLAY_END.match(stripped):  # "$$", "x $$" or "$$ (label)"
                self.math.append(_DISPLAY_END.match(stripped)["tex"])
                self.end_math()
            elif self.math_end != "$$" and stripped.startswith(self.math_end) and not stripped.strip(self.math_end[0]):
                self.end_math()
            elif not (self.math_end != "$$" and re.match(r"^:[\w-]+:", stripped)):  # not a {math} option
                self.math.append(line)
            return
        fence = _FENCE.match(stripped)
        if fence:
            if fence["name"] != "math":
                self.flush()
            self.open_directive(fence["fence"], fence["name"])
            return
        if self.directives and stripped.startswith(self.directives[-1][0]) \
                and not stripped.strip(self.directives[-1][0][0]):  # a closing fence as long or longer
            self.flush()
            self.directives.pop()
            return
        if self.directives and re.match(r"^:[\w-]+:", stripped):
            return  # a directive's option
        if _PLAIN_FENCE.match(stripped):
            self.verbatim = _PLAIN_FENCE.match(stripped)["fence"]
            self.paragraph.append(line)
            return
        one_line = _DISPLAY_ONE_LINE.match(stripped)
        if one_line:  # "$$ x $$" or "$$ x $$ (label)"
            self.show_math(one_line["tex"])
            self.equation_read()
            return
        if stripped.startswith("$$"):
            self.math, self.math_end = ([stripped[2:]] if stripped != "$$" else []), "$$"
            return
        heading = _HEADING.match(line) if not self.directives else None
        if heading and not self.in_solution:
            level, title = len(heading["level"]), plain_markdown(heading["title"])
            if level == 1:
                self.flush()
                self.slide.title = title
            elif title.lower() != "exercises":
                self.new_slide(title)
            return
        if not stripped:
            self.flush()
        else:
            self.paragraph.append(line)

    def open_directive(self, fence: str, name: str) -> None:
        if name == "solution-start":
            self.in_solution = True
        elif name == "solution-end":
            self.in_solution = False
        elif name == "exercise-start":
            self.exercise = []
        elif name == "exercise-end":
            self.exercises += 1
            self.flush()
            self.slides.append(Slide(title=f"Exercise {self.exercise_prefix}{self.exercises}", kind="exercise",
                                     shown=[render("\n\n".join(self.exercise or []))]))
            self.exercise = None
            self.slides.append(Slide(title=self.section_title + CONTINUED))  # what follows is the section's
        elif name == "math":
            self.math, self.math_end = [], fence
            return
        # A directive's content is read as prose (into the notes); the four markers above
        # are opened and closed on their own lines ("```{name}", options, "```").
        self.directives.append((fence, name))

    def end_math(self) -> None:
        self.show_math("\n".join(self.math or []))
        self.math = None
        self.equation_read()

    def end_cell(self) -> None:
        """A markdown cell ends every equation, fence and paragraph it opened (a cell that leaves
        one open is malformed; what it held is kept)."""
        if self.math is not None:
            self.end_math()
        self.verbatim = None
        self.flush()

    def equation_read(self) -> None:
        """Mark the equation's place in the notes' prose, so that the sentence around it reads on."""
        if self.exercise is None:
            self.paragraph.append(EQUATION_IN_NOTES)
            if len(self.paragraph) == 1:  # the equation stood in a paragraph of its own
                self.flush()

    def show_math(self, tex: str) -> None:
        if self.in_solution or not tex.strip():
            return
        block = f'<div class="math">\\[{html.escape(tex.strip())}\\]</div>'
        if self.exercise is not None:  # in its place in the exercise's text
            self.paragraph += ["", "$$", tex.strip(), "$$", ""]
        else:
            self.show(block, figure=False)

    def show(self, block: str, *, figure: bool) -> None:
        """Put ``block`` on the slide, or on a next one of the same title when it is full."""
        if not self.slide.has_room(figure):
            title = self.slide.title if self.slide.title.endswith(CONTINUED) else self.slide.title + CONTINUED
            self.new_slide(title)
        self.slide.shown.append(block)
        self.slide.figures += figure

    # -- code -------------------------------------------------------------------

    def code(self, cell: nbformat.NotebookNode) -> None:
        if self.in_solution:
            return
        tags = set(cell.get("metadata", {}).get("tags", []))
        images = [] if tags & HIDDEN_OUTPUT_TAGS else _image_outputs(cell)
        if images:
            for png in images:
                caption = render(_caption(cell)) if _caption(cell) else ""
                self.show(f'<figure><img src="data:image/png;base64,{png.strip()}" alt="{html.escape(_alt(cell))}">'
                          f'<figcaption>{caption}</figcaption></figure>', figure=True)
            return
        lines = cell.source.strip().splitlines()
        if "remove-cell" in tags or not lines or self.slide.kind == "title":
            return
        code_shown = not tags & HIDDEN_CODE_TAGS and len(lines) <= MAX_CODE_LINES
        printed = "" if tags & HIDDEN_OUTPUT_TAGS else _text_output(cell)
        printed_shown = bool(printed) and len(printed.splitlines()) <= MAX_OUTPUT_LINES
        shown = f'<pre class="code"><code>{html.escape(cell.source.strip())}</code></pre>' if code_shown else ""
        if printed_shown:  # what a cell prints is shown even when its code is too long for a slide
            shown += f'<pre class="output">{html.escape(printed)}</pre>'
        if shown:
            self.show(shown, figure=False)


def notebook_slides(notebook: nbformat.NotebookNode, *, chapter_number: str = "") -> list[Slide]:
    """The slides of an executed notebook (see the module's docstring for what goes where);
    exercises are numbered as the book numbers them, "Exercise 4.1" for ``chapter_number="4"``."""
    reader = _Reader(f"{chapter_number}." if chapter_number else "")
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            reader.markdown(cell.source)
        elif cell.cell_type == "code":
            reader.code(cell)
    reader.flush()
    for slide in reader.slides:
        if not slide.shown and slide.notes and slide.kind == "section":
            slide.shown.append(render(slide.notes.pop(0)))  # on the slide, so not again in its notes
    return [slide for slide in reader.slides if not slide.is_empty() or slide.kind == "title"]


def _section(slide: Slide) -> str:
    heading = "h1" if slide.kind == "title" else "h2"
    notes = "".join(render(text) for text in slide.notes)
    body = "\n".join(slide.shown)
    title = _markdown.renderInline(plain_markdown(slide.title))
    return (f'<section class="{slide.kind}" data-kind="{slide.kind}">\n<{heading}>{title}</{heading}>\n'
            f"{body}\n" + (f'<aside class="notes">{notes}</aside>\n' if notes else "") + "</section>")


STYLE = """
.reveal { font-size: 28px; }
.reveal h1, .reveal h2 { text-transform: none; }
.reveal h1 { font-size: 1.9em; } .reveal h2 { font-size: 1.3em; }
.reveal section { text-align: left; }
.reveal section.title { text-align: center; }
.reveal figure { margin: 0; text-align: center; }
.reveal figure img { max-height: 470px; max-width: 100%; margin: 0; }
.reveal figcaption { font-size: 0.5em; line-height: 1.3; text-align: left; }
.reveal pre.code, .reveal pre.output { font-size: 0.5em; width: 100%; box-shadow: none; margin: 0.3em 0; }
.reveal pre.code code { max-height: 400px; padding: 0.4em; background: #f4f4f4; white-space: pre-wrap; }
.reveal pre.output { background: #fbfbf4; padding: 0.4em; white-space: pre-wrap; }
.reveal .math { font-size: 0.9em; }
.reveal section.exercise p, .reveal section.exercise li { font-size: 0.8em; }
.back { position: fixed; top: 0.6em; left: 0.9em; font: 14px "Source Sans Pro", Helvetica, sans-serif; z-index: 30; color: #2a76dd; }
"""


def deck_html(title: str, slides: list[Slide], *, root: str, page: str) -> str:
    """A complete reveal.js deck: ``root`` is the relative path to the site's root, ``page``
    the chapter's page (relative to the root) that the deck links back to."""
    sections = "\n".join(_section(slide) for slide in slides)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: slides</title>
<link rel="icon" href="{root}/favicon.ico">
<link rel="stylesheet" href="{root}/{REVEAL_DIR}/dist/reset.css">
<link rel="stylesheet" href="{root}/{REVEAL_DIR}/dist/reveal.css">
<link rel="stylesheet" href="{root}/{REVEAL_DIR}/dist/theme/white.css">
<style>{STYLE}</style>
<script>
window.MathJax = {{
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}},
  options: {{enableMenu: false}},
  startup: {{typeset: false}}
}};
</script>
<script src="{root}/{MATHJAX}"></script>
</head>
<body>
<a class="back" href="{root}/{page}.html">&larr; the chapter</a>
<div class="reveal"><div class="slides">
{sections}
</div></div>
<script src="{root}/{REVEAL_DIR}/dist/reveal.js"></script>
<script src="{root}/{REVEAL_DIR}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{hash: true, slideNumber: "c/t", plugins: [RevealNotes]}}).then(() =>
  MathJax.startup.promise.then(() => MathJax.typesetPromise()).then(() => {{
    document.body.dataset.typeset = "done";
    Reveal.layout();
  }}));
</script>
</body>
</html>
"""


def _reveal_source() -> Path | None:
    try:
        import sphinx_revealjs
    except ImportError:
        return None
    path = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    return path if (path / "dist" / "reveal.js").exists() else None


def _title(env: Any, page: str) -> str:
    return env.titles[page].astext() if page in env.titles else page


def _chapters(app: Sphinx) -> list[tuple[str, str]]:
    """(page, title) of every chapter that has an executed notebook, in the book's order."""
    executed = Path(app.outdir).parent / "jupyter_execute"
    return [(page, _title(app.env, page)) for page in _notebook_pages(app.env)
            if (executed / f"{page}.ipynb").exists()]


def write_decks(app: Sphinx, exception: Exception | None) -> None:
    """Write a deck for every chapter, and copy reveal.js beside them."""
    if exception is not None or app.builder.name != "html":
        return
    source = _reveal_source()
    if source is None:
        logger.warning("slides: the sphinx-revealjs package (which carries reveal.js) is not installed; no decks built")
        return
    out = Path(app.outdir)
    target = out / REVEAL_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copytree(source / "dist", target / "dist")
    shutil.copytree(source / "plugin" / "notes", target / "plugin" / "notes")
    (out / SLIDES_DIR).mkdir(exist_ok=True)
    executed = out.parent / "jupyter_execute"
    chapters = _chapters(app)
    _doc_titles.update({page.split("/")[-1]: _title(app.env, page) for page in app.env.found_docs})
    for page, title in chapters:
        number = ".".join(map(str, app.env.toc_secnumbers.get(page, {}).get("", ())))
        slides = notebook_slides(nbformat.read(executed / f"{page}.ipynb", as_version=4), chapter_number=number)
        deck = deck_html(title, slides, root="..", page=page)
        (out / deck_url(page)).write_text(deck, encoding="utf-8")
    logger.info("slides: %d decks in %s", len(chapters), out / SLIDES_DIR)


def deck_url(page: str) -> str:
    """The deck of ``page``, relative to the site's root."""
    return f"{SLIDES_DIR}/{page.split('/')[-1]}.html"


def add_slides_download(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Add the chapter's deck to its download button (a chapter is a page run as a notebook)."""
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}) or not pagename.startswith("notebooks/"):
        return
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].append({
                "type": "link",
                "url": f"{context['pathto']('', 1)}{deck_url(pagename)}".replace("//", "/"),
                "text": "slides (reveal.js)",
                "icon": "fas fa-person-chalkboard",
                "tooltip": "Open the chapter's slides, with the prose as speaker notes (press s)",
                "label": "slides-button",
            })
            return


class slide_decks(nodes.General, nodes.Element):
    """Where ``{slide-decks}`` stands, until every page's title is known."""


class SlideDecks(Directive):
    """``{slide-decks}``: a list of links to every chapter's deck, in the book's order."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        return [slide_decks()]


def fill_deck_lists(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Replace each ``{slide-decks}`` with its links, once every page has been read."""
    prefix = "../" * docname.count("/")
    for node in doctree.findall(slide_decks):
        items = "".join(
            f'<li><a class="slide-deck" href="{prefix}{deck_url(page)}">{html.escape(_title(app.env, page))}</a></li>'
            for page in _notebook_pages(app.env)
        )
        node.replace_self(nodes.raw("", f'<ul class="slide-decks">{items}</ul>', format="html"))


def _notebook_pages(env: Any) -> list[str]:
    """The chapter pages (notebooks/...) in the table of contents' order."""
    pages, queue = [], [env.config.root_doc]
    seen = set()
    while queue:
        page = queue.pop(0)
        if page in seen:
            continue
        seen.add(page)
        if page.startswith("notebooks/"):
            pages.append(page)
        queue[0:0] = env.toctree_includes.get(page, [])
    return pages


def setup(app: Sphinx) -> dict[str, bool]:
    app.add_node(slide_decks)
    app.add_directive("slide-decks", SlideDecks)
    app.connect("doctree-resolved", fill_deck_lists)
    app.connect("html-page-context", add_slides_download, priority=503)
    app.connect("build-finished", write_decks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
