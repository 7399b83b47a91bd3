"""The built docs site (``make docs`` / ``bash docs/build.sh``, run by .ci/run before the tests) in headless Chromium:
the index (the README) and a notebook page render, with every image loaded, and no page of the site fails to load.

The site is served from ``docs/_build/html`` by a local HTTP server on a free loopback port. Without a built site the
tests skip, except under CI (``CI`` set), where .ci/run has just built it: there they fail.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "_build" / "html"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-extensions", "--no-default-browser-check"]

# every <img>: its src, whether it finished loading, and its decoded width (0 for a broken image)
_JS_IMAGES = """() => Array.from(document.images).map(i => (
    {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log in the test output
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        msg = f"no built docs site at {SITE}: run `make docs` (or `bash docs/build.sh`)"
        if os.environ.get("CI"):
            pytest.fail(msg + " [CI is set: .ci/run builds the site before the tests, so this is a failure]")
        pytest.skip(msg)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def docs_page(chromium_path, site_url, tmp_path):
    """A Playwright page; ``page.local_failures`` lists the site's own requests that failed (status >= 400 or no
    answer). Requests to other hosts (the widget manager's CDN scripts) are not the site's: offline they fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            failures: list[str] = []
            page.on("response", lambda r: failures.append(f"{r.status} {r.url}")
                    if r.url.startswith(site_url) and r.status >= 400 else None)
            page.on("requestfailed", lambda r: failures.append(f"failed {r.url}")
                    if r.url.startswith(site_url) else None)
            page.local_failures = failures
            yield page
        finally:
            with contextlib.suppress(Exception):
                browser.close()


def _title(notebook: str) -> str:
    """The notebook's first Markdown heading: the title its page must show (and the navigation lists)."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    first = "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"]).splitlines()[0]
    return first.lstrip("#").strip().replace("*", "")


def _open(page, url: str) -> list[dict]:
    page.goto(url, wait_until="load")
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    return page.evaluate(_JS_IMAGES)


def test_index_renders_the_readme_with_its_images(docs_page, site_url):
    images = _open(docs_page, f"{site_url}/index.html")
    assert "srwidgets" in docs_page.title()
    h1 = docs_page.locator("article h1").first
    assert h1.is_visible() and "srwidgets" in h1.inner_text()
    # the README's method table and its images (docs/*.png) are on the page
    assert docs_page.locator("article table").first.is_visible()
    readme_images = [i for i in images if "lam_widget" in (i["src"] or "") or "ddr_figure" in (i["src"] or "")]
    assert len(readme_images) == 2, images
    broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    # the navigation reaches the notebooks and the API reference
    nav = docs_page.locator(".sidebar-tree").inner_text()
    assert _title("01_lam_tour.ipynb") in nav and "API reference" in nav, nav
    assert not docs_page.local_failures, docs_page.local_failures


def test_notebook_page_renders_stored_outputs(docs_page, site_url):
    images = _open(docs_page, f"{site_url}/notebooks/04_di_at_scale.html")
    assert _title("04_di_at_scale.ipynb") in docs_page.locator("article h1").first.inner_text()
    # stored outputs, not re-executed: code cells, their printed text and their figures are on the page
    assert docs_page.locator("div.cell").count() > 3
    assert docs_page.locator("div.cell_output").count() > 0
    figures = [i for i in images if "_images/" in (i["src"] or "")]
    assert figures, f"no output figure on the page: {images}"
    broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert all(i["width"] >= 100 for i in figures), figures  # figures, not icons
    assert not docs_page.local_failures, docs_page.local_failures
