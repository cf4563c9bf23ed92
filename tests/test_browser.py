"""The built book, opened page by page in a real headless browser.

Runs only against a finished build (``_build/html``): ``make test`` builds
the book first and then runs this file on its own with ``-m browser``; the
unit-test step before the build deselects it with ``-m "not browser"``. A
missing build is a failure here, never a skip.

What it checks, on every page of the book:

- no console errors and no uncaught JavaScript exceptions;
- no request to the book's own server fails (status >= 400 or a network
  error): stylesheets, scripts, fonts, images, data;
- every image has loaded (``naturalWidth > 0``);
- every internal link resolves: its target file exists in ``_build/html``
  and its ``#anchor``, if any, is an ``id`` (or ``name``) on the target page;

and on every chapter (pages under ``notebooks/``):

- at least one figure in the article has loaded;
- the download button is visible, offers the chapter's ``.ipynb``, and the
  file it links to is a notebook;
- a full-page screenshot is saved to ``artifacts/screenshots/NAME.png``
  (as the page first appears, before any click);

and on every page with equations: MathJax, served by the book itself
(``sphinx-mathjax-offline``), typesets every one of them without an error
(the test blocks every other host, so this holds offline);

and on every page with exercise solutions (sphinx-exercise ``solution``
admonitions, written with ``:class: dropdown``): each is folded when the page
opens and unfolds on click; a solution without the dropdown class fails. At
least one such solution must exist in the book, so this check can never pass
vacuously.

The browser is Debian's ``chromium`` (``make chromium`` installs it), driven
by the ``playwright`` Python package with ``executable_path``; playwright's
own browser download is never used. ``CSTR_CHROMIUM`` overrides the path;
``CSTR_BOOK_HTML`` points the test at a book built elsewhere.

Console noise the book could fix is fixed in the book, not ignored: the
theme's colour-mode error (``html_context.default_mode`` in ``_config.yml``),
the browser's ``/favicon.ico`` probe (``html.favicon``) and sphinx-thebe's
doubled inline script (``book/_ext/cstr_book.py``).

Ignored console noise, each provably not the book's fault:

- Requests to any host other than the loopback test server are blocked
  (the test runs offline and must not depend on the network). The book's
  theme loads MathJax and the like from public CDNs; each blocked request
  logs "Failed to load resource: net::ERR_FAILED" with the blocked URL as its
  location. Exactly those messages, whose location is a non-local URL that
  the test itself blocked, are ignored. Blocked URLs are reported in the
  test output so that they stay visible.
"""

from __future__ import annotations

import contextlib
import html.parser
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parent.parent
# CSTR_BOOK_HTML: check a book built elsewhere (jupyter-book build --path-output).
HTML_DIR = Path(os.environ.get("CSTR_BOOK_HTML", REPO_ROOT / "_build" / "html")).resolve()
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("CSTR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
PAGE_TIMEOUT_MS = 30_000
CHAPTER_DIR = "notebooks"


# ---------------------------------------------------------------------------
# Static side: the pages that exist and the ids on each.


def book_pages() -> list[str]:
    """Every HTML page of the book, as paths relative to ``_build/html``.

    ``_static/`` holds theme templates (``webpack-macros.html``), not pages.
    """
    pages = []
    for path in sorted(HTML_DIR.rglob("*.html")):
        rel = path.relative_to(HTML_DIR).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")):
            continue
        pages.append(rel)
    return pages


class _IdCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (name == "name" and tag == "a")):
                self.ids.add(value)


_ID_CACHE: dict[Path, set[str]] = {}


def ids_of(path: Path) -> set[str]:
    if path not in _ID_CACHE:
        parser = _IdCollector()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _ID_CACHE[path] = parser.ids
    return _ID_CACHE[path]


def resolve_internal(url: str, base: str) -> tuple[Path, str] | None:
    """``(file under _build/html, fragment)`` for a URL on the test server, else None."""
    if not url.startswith(base):
        return None
    parts = urllib.parse.urlsplit(url)
    rel = urllib.parse.unquote(parts.path).lstrip("/")
    target = HTML_DIR / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    return target, urllib.parse.unquote(parts.fragment)


# ---------------------------------------------------------------------------
# The server and the browser.


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``python -m http.server`` on a free loopback port, serving ``_build/html``."""
    if not (HTML_DIR / "index.html").is_file():
        pytest.fail(
            f"{HTML_DIR / 'index.html'} is missing: build the book first "
            "(`jupyter-book build . -W -n --keep-going`, or `make test`)"
        )
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(HTML_DIR)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"http.server on port {port} did not start (exit {process.poll()})")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`make chromium`, "
            "or apt-get install --no-install-recommends chromium); set CSTR_CHROMIUM "
            "to use another binary. Never `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary user-data-dir of its own.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ---------------------------------------------------------------------------
# One visit per page, everything recorded; the tests below judge the record.


@dataclass
class PageReport:
    page: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    article_images_loaded: int = 0
    links: list[str] = field(default_factory=list)
    solutions: list[dict] = field(default_factory=list)
    download_links: list[str] = field(default_factory=list)
    download_button_visible: bool = False
    notebook_download: str | None = None  # an error message, or None when fine
    math: dict = field(default_factory=dict)  # MathJax's work on the page (see _MATH_JS)
    output_figures: int = 0  # images in cell outputs
    enlargeable_figures: int = 0  # of those, wrapped in a link to their own file (book/_ext/static)
    figures_without_alt: list[str] = field(default_factory=list)  # output images whose alt is empty or a path
    screenshot: Path | None = None
    seconds: float = 0.0


@dataclass
class Audit:
    base: str
    pages: dict[str, PageReport]
    blocked_external: set[str]
    seconds: float


_IMAGES_JS = """
async () => {
  const images = Array.from(document.images);
  // Lazy images below the fold would never load in a headless viewport.
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done); img.addEventListener("error", done);
                            setTimeout(done, 10000); })));
  const article = document.querySelector("article") || document.querySelector("main") || document.body;
  return images.map(img => ({src: img.currentSrc || img.src, complete: img.complete,
                             naturalWidth: img.naturalWidth, inArticle: article.contains(img)}));
}
"""

_SOLUTIONS_JS = """
() => Array.from(document.querySelectorAll("div.solution")).map(el => ({
  id: el.id,
  title: (el.querySelector(".admonition-title") || el).innerText.trim().slice(0, 80),
  hasButton: !!el.querySelector("button.toggle-button"),
}))
"""

_CONTENT_VISIBLE_JS = """
(id) => {
  const el = document.getElementById(id);
  const body = Array.from(el.children).filter(c => !c.classList.contains("admonition-title"));
  // sphinx-togglebutton hides a folded admonition's body with visibility: hidden.
  return body.length > 0 && body.every(c => c.checkVisibility({visibilityProperty: true, opacityProperty: true})
                                            && c.getBoundingClientRect().height > 0);
}
"""


_MATH_JS = """
async () => {
  // Sphinx puts display math in div.math and inline math in span.math; MathJax replaces the
  // TeX in each with an mjx-container, and marks what it cannot parse with an merror element.
  const sources = document.querySelectorAll("div.math, span.math").length;
  if (sources === 0) return {sources: 0, rendered: 0, errors: []};
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) {
    return {sources, rendered: 0, errors: ["MathJax did not load"]};
  }
  await MathJax.startup.promise;
  const errors = Array.from(document.querySelectorAll("mjx-merror, merror")).map(e =>
      (e.getAttribute("data-mjx-error") || e.textContent || "").slice(0, 120));
  return {sources, rendered: document.querySelectorAll("mjx-container").length, errors};
}
"""


def _is_local(url: str, base: str) -> bool:
    return url.startswith(base) or url.startswith(("data:", "blob:", "about:"))


def _visit(context, base: str, rel: str, blocked: set[str]) -> PageReport:
    report = PageReport(rel)
    started = time.monotonic()
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)

    def on_console(message):
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if where and where in blocked and "net::ERR_FAILED" in message.text:
            return  # a request this test blocked on purpose (see the module docstring)
        report.console_errors.append(f"{message.text} [at {where or 'unknown'}]")

    page.on("console", on_console)
    page.on("pageerror", lambda error: report.console_errors.append(f"uncaught exception: {error}"))
    page.on(
        "requestfailed",
        lambda request: (
            None if request.url in blocked else report.failed_requests.append(f"{request.url}: {request.failure}")
        ),
    )
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and report.failed_requests.append(f"{response.url}: HTTP {response.status}")
        ),
    )

    page.goto(base + rel, wait_until="load")
    page.wait_for_load_state("networkidle")

    report.images = page.evaluate(_IMAGES_JS)
    report.math = page.evaluate(_MATH_JS)
    report.output_figures = page.locator("div.cell_output img").count()
    report.figures_without_alt = page.eval_on_selector_all(
        "div.cell_output img",
        "els => els.filter(img => !img.alt || img.alt.endsWith('.png') || img.alt.includes('/')).map(img => img.src)",
    )
    report.enlargeable_figures = page.locator("div.cell_output a.cstr-figure-link > img").count()
    report.article_images_loaded = sum(1 for img in report.images if img["inArticle"] and img["naturalWidth"] > 0)
    report.links = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    report.download_links = page.eval_on_selector_all(
        ".dropdown-download-buttons a.btn-download-source-button", "els => els.map(a => a.href)"
    )
    report.download_button_visible = page.evaluate(
        "() => { const b = document.querySelector('.dropdown-download-buttons > button');"
        " return !!b && b.checkVisibility({visibilityProperty: true}); }"
    )

    if rel.startswith(CHAPTER_DIR + "/"):
        # Taken as the reader first sees the page: after a click and scroll the
        # theme collapses its sidebars in a full-page capture.
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOT_DIR / (Path(rel).stem + ".png")
        page.screenshot(path=str(report.screenshot), full_page=True)

    # Solutions: folded on arrival, unfolded by a click on the title bar.
    for solution in page.evaluate(_SOLUTIONS_JS):
        element_id = solution["id"]
        record = dict(solution, folded_at_start=None, open_after_click=None)
        record["folded_at_start"] = not page.evaluate(_CONTENT_VISIBLE_JS, element_id)
        title = page.locator(f"[id='{element_id}'] > .admonition-title").first
        title.scroll_into_view_if_needed()
        title.click()
        try:
            page.wait_for_function(_CONTENT_VISIBLE_JS, arg=element_id, timeout=5000)
            record["open_after_click"] = True
        except Exception:  # playwright's TimeoutError
            record["open_after_click"] = False
        report.solutions.append(record)

    if rel.startswith(CHAPTER_DIR + "/"):
        for href in report.download_links:
            if href.endswith(".ipynb"):
                response = page.request.get(href)
                try:
                    notebook = json.loads(response.body())
                    if response.status != 200 or "cells" not in notebook:
                        report.notebook_download = f"{href}: HTTP {response.status}, not a notebook"
                except ValueError as error:
                    report.notebook_download = f"{href}: not JSON ({error})"

    page.close()
    report.seconds = time.monotonic() - started
    return report


@pytest.fixture(scope="module")
def audit(server, browser) -> Audit:
    started = time.monotonic()
    blocked: set[str] = set()
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")

    def route(route_, request):
        if _is_local(request.url, server):
            route_.continue_()
        else:
            blocked.add(request.url)
            route_.abort()

    context.route("**/*", route)
    pages = {}
    try:
        for rel in book_pages():
            pages[rel] = _visit(context, server, rel, blocked)
    finally:
        context.close()
    result = Audit(server, pages, blocked, time.monotonic() - started)
    print(f"\nbrowser audit: {len(pages)} pages in {result.seconds:.1f} s; {len(blocked)} external requests blocked")
    for url in sorted(blocked):
        print(f"  blocked (offline): {url}")
    return result


def _chapters(audit: Audit) -> dict[str, PageReport]:
    return {rel: report for rel, report in audit.pages.items() if rel.startswith(CHAPTER_DIR + "/")}


def _fail_if(problems: list[str], what: str):
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(f"  {p}" for p in problems))


# ---------------------------------------------------------------------------
# The checks.


def test_book_has_pages_and_chapters(audit):
    assert "index.html" in audit.pages
    assert _chapters(audit), f"no chapter pages under {CHAPTER_DIR}/ in {HTML_DIR}"


def test_no_console_errors(audit):
    _fail_if(
        [f"{rel}: {message}" for rel, report in audit.pages.items() for message in report.console_errors],
        "console errors",
    )


def test_no_failed_requests(audit):
    _fail_if(
        [f"{rel}: {failure}" for rel, report in audit.pages.items() for failure in report.failed_requests],
        "failed requests to the book's server",
    )


def test_every_image_loads(audit):
    _fail_if(
        [
            f"{rel}: {img['src']} (naturalWidth {img['naturalWidth']})"
            for rel, report in audit.pages.items()
            for img in report.images
            if img["naturalWidth"] <= 0
        ],
        "images that did not load",
    )


def test_internal_links_and_anchors_resolve(audit):
    problems = []
    for rel, report in audit.pages.items():
        for href in report.links:
            resolved = resolve_internal(href, audit.base)
            if resolved is None:
                continue  # external (http(s) elsewhere, mailto:, javascript:): not checked offline
            target, fragment = resolved
            if not target.is_file():
                problems.append(f"{rel}: {href} -> no file {target.relative_to(HTML_DIR)}")
            elif fragment and target.suffix == ".html" and fragment not in ids_of(target):
                problems.append(f"{rel}: {href} -> no id {fragment!r} on {target.relative_to(HTML_DIR)}")
    _fail_if(problems, "broken internal links")


def test_every_chapter_shows_figures(audit):
    _fail_if(
        [
            f"{rel}: no figure loaded in the article"
            for rel, report in _chapters(audit).items()
            if report.article_images_loaded < 1
        ],
        "chapters without a visible figure",
    )


def test_every_chapter_offers_its_notebook_for_download(audit):
    problems = []
    for rel, report in _chapters(audit).items():
        notebooks = [href for href in report.download_links if href.endswith(".ipynb")]
        if not report.download_button_visible:
            problems.append(f"{rel}: the download button is not visible")
        if not notebooks:
            problems.append(f"{rel}: no .ipynb in the download button ({report.download_links})")
        elif report.notebook_download:
            problems.append(f"{rel}: {report.notebook_download}")
    _fail_if(problems, "chapters without a working notebook download")


def test_every_output_figure_opens_at_full_size(audit):
    chapters = {rel: report for rel, report in audit.pages.items() if rel.startswith(CHAPTER_DIR + "/")}
    assert sum(report.output_figures for report in chapters.values()) > 0
    problems = [
        f"{rel}: {r.enlargeable_figures} of {r.output_figures} figures link to their image"
        for rel, r in chapters.items()
        if r.enlargeable_figures != r.output_figures
    ]
    assert not problems, "\n".join(problems)


def test_every_output_figure_says_what_it_shows(audit):
    """Alt text (the cell's ``mystnb.image.alt``), not the image's file name, on every figure of every chapter."""
    missing = {rel: r.figures_without_alt for rel, r in audit.pages.items() if r.figures_without_alt}
    assert not missing, "\n".join(f"{rel}: {len(srcs)} figures without alt text" for rel, srcs in missing.items())


def test_math_renders_offline(audit):
    """Every equation is typeset by the book's own MathJax (the test blocks every other host), without an error."""
    with_math = {rel: report.math for rel, report in audit.pages.items() if report.math.get("sources")}
    for rel, math in sorted(with_math.items()):
        print(f"  {rel}: {math['rendered']} of {math['sources']} equations typeset, {len(math['errors'])} errors")
    assert len(with_math) >= 5, f"only {len(with_math)} pages with equations: {sorted(with_math)}"
    problems = [
        f"{rel}: {math['rendered']} of {math['sources']} equations typeset; errors {math['errors']}"
        for rel, math in with_math.items()
        if math["errors"] or math["rendered"] < math["sources"]
    ]
    assert not problems, "\n".join(problems)


def test_solutions_are_folded_and_open_on_click(audit):
    solutions = [(rel, s) for rel, report in audit.pages.items() for s in report.solutions]
    assert solutions, "no exercise solution (sphinx-exercise dropdown) found anywhere in the book"
    problems = []
    for rel, solution in solutions:
        name = f"{rel}#{solution['id']} ({solution['title']})"
        if not solution["hasButton"]:
            problems.append(
                f"{name}: no toggle button (not written with :class: dropdown, or sphinx-togglebutton did not run)"
            )
        if not solution["folded_at_start"]:
            problems.append(f"{name}: visible before any click")
        if not solution["open_after_click"]:
            problems.append(f"{name}: still folded after a click on its title")
    _fail_if(problems, "solutions that do not fold and unfold")


def test_every_chapter_has_a_screenshot(audit):
    problems = []
    for rel, report in _chapters(audit).items():
        shot = report.screenshot
        if shot is None or not shot.is_file() or shot.stat().st_size < 1000:
            problems.append(f"{rel}: no screenshot at {shot}")
    _fail_if(problems, "chapters without a screenshot")
    print(
        "\nscreenshots:\n"
        + "\n".join(f"  {r.screenshot.relative_to(REPO_ROOT)} ({r.seconds:.1f} s)" for r in _chapters(audit).values())
    )
