"""Browser tests of the built site: every page in headless Chromium, served from localhost.

They need the built book (``make book``), selenium and Chromium with its driver (Debian:
``apt-get install chromium chromium-driver``); without any of them, the tests that need it
are skipped with the reason, so ``pytest tests/test_site.py -rs`` reports them as skipped
and exits 0. ``make test`` runs them after building the book.

Only ``chromium`` (or ``chromium-browser``, ``google-chrome``) and ``chromedriver`` on the
PATH are used: the driver's path is given to selenium, so Selenium Manager never tries to
download one (the machine may be offline).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported as a skip by the ``browser`` fixture
    webdriver = None

SITE = Path(__file__).resolve().parents[1] / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")

NOT_BUILT = "the book is not built: run `make book` first"
NO_SELENIUM = "selenium is not installed (pip install -e '.[test]')"
NO_CHROMIUM = "no headless Chromium with chromedriver (Debian: apt-get install chromium chromium-driver)"

# Every test needs the built site; each is reported as skipped, with the reason, without it.
pytestmark = pytest.mark.skipif(not (SITE / "index.html").exists(), reason=NOT_BUILT)

# How Python prints a warning ("<file>:<line>: RuntimeWarning: <message>"), and nbval's markers.
PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning: ")
TEST_MARKER = "NBVAL"

PAGES = sorted(
    str(path.relative_to(SITE))
    for folder in ("book", "notebooks")
    for path in (SITE / folder).glob("*.html")
) + ["index.html"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The built site on a free localhost port, for the duration of the module."""
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium; every test that uses it is skipped, with the reason, without
    selenium or without Chromium and chromedriver on the PATH."""
    if webdriver is None:
        pytest.skip(NO_SELENIUM)
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(NO_CHROMIUM)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1024", "--disable-background-networking", "--disable-component-update"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser: webdriver.Chrome, url: str) -> None:
    """Load ``url`` and wait until MathJax (if the page loads it) has typeset the page."""
    browser.get_log("performance")  # drop the previous page's requests
    browser.get_log("browser")
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")
    browser.set_script_timeout(30)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise) {"
        "  MathJax.startup.promise.then(() => done(true), () => done(false));"
        "} else { done(true); }"
    )


def _requested_urls(browser: webdriver.Chrome) -> list[str]:
    """The URLs the browser requested since the last call."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _assert_offline_without_errors(browser: webdriver.Chrome, what: str) -> None:
    """No console error since the page was opened, and no request to any host but localhost."""
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"console errors on {what}: {errors}"
    outside = [url for url in _requested_urls(browser)
               if urlparse(url).scheme in ("http", "https") and urlparse(url).hostname != "127.0.0.1"]
    assert not outside, f"{what} requested {outside}"


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_without_errors_with_math_and_figures(browser, server, page):
    _open(browser, f"{server}/{page}")
    _assert_offline_without_errors(browser, page)
    if page.startswith("notebooks/"):
        assert browser.find_elements(By.CSS_SELECTOR, "mjx-container"), f"no typeset math on {page}"
    for image in browser.find_elements(By.CSS_SELECTOR, "main img, article img"):
        source = image.get_attribute("src")
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image), (
            f"{page}: image {source} did not load"
        )
        assert (image.get_attribute("alt") or "").strip(), f"{page}: image {source} has no alt text"


@pytest.mark.parametrize("page", [page for page in PAGES if page.startswith("notebooks/")])
def test_a_chapter_shows_no_test_marker_and_no_python_warning(browser, server, page):
    """What a reader sees of a chapter (solutions included, folded or not) holds no nbval
    marker and no bare ``assert`` in its code (the checks sit in cells tagged
    ``remove-cell``: executed, not shown), and its cell outputs no stream on stderr and
    no printed Python warning."""
    _open(browser, f"{server}/{page}")
    text = browser.execute_script("return document.querySelector('main').textContent")
    assert TEST_MARKER not in text, f"{page} shows an nbval marker"
    code = browser.execute_script(
        "return Array.from(document.querySelectorAll('div.cell_input')).map(e => e.textContent).join('\\n')")
    asserts = [line for line in code.splitlines() if line.strip().startswith("assert ")]
    assert not asserts, f"{page} shows bare asserts: {asserts}"
    stderr = browser.find_elements(By.CSS_SELECTOR, "div.output.stderr")
    assert not stderr, f"{page} shows output on stderr: {[e.get_attribute('textContent')[:200] for e in stderr]}"
    outputs = browser.execute_script(
        "return Array.from(document.querySelectorAll('div.cell_output')).map(e => e.textContent).join('\\n')")
    warnings = [line for line in outputs.splitlines() if PYTHON_WARNING.search(line)]
    assert not warnings, f"{page} prints Python warnings: {warnings}"


def test_the_site_root_serves_an_icon(server):
    """Browsers ask for ``/favicon.ico`` on a page that links no icon, like the redirecting index."""
    with urllib.request.urlopen(f"{server}/favicon.ico") as response:
        assert response.status == 200
        assert response.read(4) == b"\x00\x00\x01\x00", "favicon.ico is not an icon file"


def test_a_hidden_solution_opens_when_clicked(browser, server):
    _open(browser, f"{server}/notebooks/fermi.html")
    solution = browser.find_element(By.CSS_SELECTOR, "div.solution.dropdown, div.solution.toggle")
    body = solution.find_element(By.CSS_SELECTOR, "section, div.solution-content, .admonition-title ~ *")
    assert not body.is_displayed()
    toggle = solution.find_element(By.CSS_SELECTOR, "button.toggle-button, .admonition-title")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", toggle)
    toggle.click()
    WebDriverWait(browser, 10).until(lambda b: body.is_displayed())


def test_search_finds_a_chapter_by_a_word_in_it(browser, server):
    _open(browser, f"{server}/search.html?q=induction")
    WebDriverWait(browser, 30).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#search-results li a, ul.search li a")
    )
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results li a, ul.search li a")]
    assert any("icl_few_shot" in link for link in links), links


def test_a_chapter_downloads_as_markdown_and_as_an_executed_notebook(browser, server):
    _open(browser, f"{server}/notebooks/fermi.html")
    links = {Path(urlparse(a.get_attribute("href")).path).suffix: a.get_attribute("href")
             for a in browser.find_elements(By.CSS_SELECTOR, "a[href*='_sources/']")}
    assert {".md", ".ipynb"} <= set(links), f"download links on fermi.html: {links}"
    with urllib.request.urlopen(links[".md"]) as response:
        assert response.read().startswith(b"---\njupytext:")
    with urllib.request.urlopen(links[".ipynb"]) as response:
        notebook = json.load(response)
    assert notebook["nbformat"] == 4
    assert any(cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code"), (
        "the downloaded notebook has no outputs: it is not the executed one"
    )


def test_a_chapter_downloads_as_a_student_notebook_without_the_solutions(browser, server):
    _open(browser, f"{server}/notebooks/fermi.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href$='.exercises.ipynb']")]
    assert links, "fermi.html offers no notebook without the solutions"
    with urllib.request.urlopen(links[0]) as response:
        student = json.load(response)
    with urllib.request.urlopen(links[0].replace(".exercises.ipynb", ".ipynb")) as response:
        full = json.load(response)

    def text(notebook, kind):
        return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == kind]

    assert not any("{solution-start}" in source for source in text(student, "markdown"))
    assert sum(s.count("{exercise-start}") for s in text(student, "markdown")) == sum(
        s.count("{exercise-start}") for s in text(full, "markdown")) > 0
    assert set(text(full, "code")) - set(text(student, "code")), "no solution code was left out"
    assert set(text(student, "code")) - {""} - set(text(full, "code")) == {
        source for source in text(student, "code") if source.startswith("# A check")}


# ---------------------------------------------------------------------------
# The chapters' slide decks (book/_ext/slides.py)

DECKS = sorted(str(path.relative_to(SITE)) for path in (SITE / "slides").glob("*.html"))
CHAPTERS = sorted(Path(page).stem for page in PAGES if page.startswith("notebooks/"))


def test_every_chapter_has_a_slide_deck():
    assert sorted(Path(deck).stem for deck in DECKS) == CHAPTERS


def _open_deck(browser: webdriver.Chrome, url: str) -> None:
    """Load a deck and wait until reveal.js is ready and MathJax has typeset every slide."""
    _open(browser, url)
    WebDriverWait(browser, 60).until(lambda b: b.execute_script("return document.body.dataset.typeset") == "done")


@pytest.mark.parametrize("deck", DECKS)
def test_a_deck_opens_offline_and_navigates_with_math_figures_and_notes(browser, server, deck):
    _open_deck(browser, f"{server}/{deck}")
    _assert_offline_without_errors(browser, deck)
    total = browser.execute_script("return Reveal.getTotalSlides()")
    assert total >= 2, f"{deck} has {total} slides"
    browser.execute_script("Reveal.next()")
    assert browser.execute_script("return Reveal.getIndices().h") == 1, f"{deck}: the next slide did not open"
    browser.execute_script("Reveal.slide(0)")
    equations = browser.execute_script("return document.querySelectorAll('.slides div.math').length")
    typeset = browser.execute_script("return document.querySelectorAll('.slides div.math mjx-container').length")
    assert typeset == equations, f"{deck}: {equations - typeset} of {equations} equations not typeset"
    for image in browser.find_elements(By.CSS_SELECTOR, ".slides img"):
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image), (
            f"{deck}: a figure did not load"
        )
        assert (image.get_attribute("alt") or "").strip(), f"{deck}: a figure has no alt text"
    assert browser.find_elements(By.CSS_SELECTOR, ".slides aside.notes"), f"{deck} has no speaker notes"


def test_the_instructors_guide_and_each_chapter_link_the_decks(browser, server):
    _open(browser, f"{server}/book/instructor_guide.html")
    listed = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "ul.slide-decks a")]
    assert sorted(Path(urlparse(href).path).stem for href in listed) == CHAPTERS
    for href in listed:
        with urllib.request.urlopen(href) as response:
            assert response.status == 200
    _open(browser, f"{server}/notebooks/power_laws.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a[href$='slides/power_laws.html']")]
    assert links, "power_laws.html does not link its slides"
    on_page = len(browser.find_elements(By.CSS_SELECTOR, "div.exercise"))
    _open_deck(browser, links[0])
    exercises = browser.find_elements(By.CSS_SELECTOR, ".slides section[data-kind='exercise']")
    assert len(exercises) == on_page > 0, f"{len(exercises)} exercise slides for {on_page} exercises"
