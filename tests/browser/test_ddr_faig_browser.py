"""Real-browser tests of the DDR and FAIG widgets: JupyterLab in headless Chromium, real mouse clicks.

``test_ddr_widget_click``: run a notebook with :class:`srwidgets.DDRWidget` on the bundled images, click a point
of the scatter with the real mouse, and check that the page shows that point's degraded input and SR output.
``test_faig_widget_click``: run a notebook with :class:`srwidgets.FAIGWidget` on the zoo pair, check the three
images are drawn, click the tallest bar of the per-layer strip and check the page lists that layer's filters.
The notebooks print where to click (canvas pixels, computed by the widget itself): the page has no other way to
know where a point or a bar was drawn. Screenshots land in ``artifacts/``.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from test_lam_browser import (_JS_CANVAS_STATS, _JS_CONTENT_BOX, open_notebook, run_all_cells, wait_cells_done,
                              write_notebook)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _output_json(panel, tag: str) -> dict:
    """The JSON a notebook cell printed after ``tag`` (e.g. ``CLICK {...}``)."""
    text = "\n".join(panel.locator(".jp-OutputArea-output").all_inner_texts())
    m = re.search(tag + r" (\{.*\})", text)
    assert m, f"no {tag} line in the outputs:\n{text[-2000:]}"
    return json.loads(m.group(1))


def _click_canvas(page, selector: str, x: float, y: float, width: float, height: float) -> None:
    """A real click at canvas pixel ``(x, y)`` of a canvas ``width × height`` pixels, whatever its CSS size."""
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    assert box and box["width"] > 0, f"canvas has no box: {box}"
    page.mouse.click(box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height)


def _drawn(page, selector: str, timeout_ms: int = 60_000) -> None:
    """Wait until the canvas matched by ``selector`` shows something (non-transparent, not flat)."""
    page.wait_for_function(
        f"(() => {{ const s = ({_JS_CANVAS_STATS})({selector!r}); return s && s.nonzero > 0 && s.std > 1; }})()",
        timeout=timeout_ms, polling=250)


def _painted(page, selector: str, k: int, timeout_ms: int = 60_000) -> None:
    """Wait until the ``k``-th canvas matched by ``selector`` has most of its pixels painted (an image shown)."""
    page.wait_for_function(
        f"(() => {{ const c = document.querySelectorAll({selector!r})[{k}];"
        f" if (!c || !c.width) return false; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        f".data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n > d.length / 8; }})()",
        timeout=timeout_ms, polling=250)


def _screenshot(page, panel, has_selector: str, path) -> None:
    output = panel.locator(".jp-OutputArea-output").filter(has=page.locator(has_selector)).first
    output.scroll_into_view_if_needed()
    clip = output.evaluate(_JS_CONTENT_BOX)
    output.screenshot(path=str(path)) if clip is None else page.screenshot(path=str(path), clip=clip)


DDR_CELLS = [
    "import json, srwidgets\n"
    "w = srwidgets.DDRWidget('x2-srresnet-bicubic', ['astronaut', 'chelsea', 'coffee'])\n"
    "w",
    "w.wait()\n"
    "s = w.scatters[w.names[0]]\n"
    "print('CLICK', json.dumps({'x': float(s.display[4, 0]), 'y': float(s.display[4, 1]), "
    "'w': s.width, 'h': s.height, 'label': w.result.labels[4]}))",
]


def test_ddr_widget_click(page, jupyterlab_server, artifacts_dir):
    t0 = time.monotonic()
    name = write_notebook(jupyterlab_server, "ddr_widget.ipynb", DDR_CELLS)
    panel = open_notebook(page, jupyterlab_server, name)
    run_all_cells(page, panel)
    wait_cells_done(page, panel, name, len(DDR_CELLS))
    pid = panel.get_attribute("id")
    scatter = f"#{pid} canvas.srw-scatter"
    _drawn(page, scatter)
    assert page.locator(f"#{pid} canvas.srw-canvas").count() == 0, "no point was clicked yet: no detail view"
    click = _output_json(panel, "CLICK")

    _click_canvas(page, scatter, click["x"], click["y"], click["w"], click["h"])
    # the click shows the point's degraded LR input and its SR output (two image views), and names the point
    page.wait_for_function(f"document.querySelectorAll('#{pid} canvas.srw-canvas').length >= 2", timeout=60_000)
    for k in (0, 1):
        _painted(page, f"#{pid} canvas.srw-canvas", k)
    label = page.locator(f"#{pid}").get_by_text(re.compile(r"\(point \d+\)")).first
    label.wait_for(timeout=30_000)
    text = label.inner_text()
    assert re.search(r"(clean|blur|noise) \(point \d+\)", text), text
    _screenshot(page, panel, "canvas.srw-scatter", artifacts_dir / "ddr_widget.png")
    print(f"[browser] DDR: clicked {click}, page shows {text!r}; total {time.monotonic() - t0:.1f}s")


FAIG_CELLS = [
    "import json, srwidgets\n"
    "from srwidgets import data, zoo\n"
    "crops = [data.image(n)[:, 64:128, 64:128] for n in ('astronaut', 'chelsea')]\n"
    "w = srwidgets.FAIGWidget(*zoo.faig_pair(), crops, degradation='noise', steps=4)\n"
    "w",
    "w.wait()\n"
    "counts = [w.layer_counts.get(layer, 0) for layer in w.layers]\n"
    "k = counts.index(max(counts))\n"
    "print('CLICK', json.dumps({'x': float(w.bars.xs[k]), 'y': w.bars.height - 30, 'w': w.bars.width, "
    "'h': w.bars.height, 'layer': w.layers[k]}))",
]


def test_faig_widget_click(page, jupyterlab_server, artifacts_dir):
    t0 = time.monotonic()
    name = write_notebook(jupyterlab_server, "faig_widget.ipynb", FAIG_CELLS)
    panel = open_notebook(page, jupyterlab_server, name)
    run_all_cells(page, panel)
    wait_cells_done(page, panel, name, len(FAIG_CELLS))
    pid = panel.get_attribute("id")
    # input, target output, masked output: three image views, all drawn
    page.wait_for_function(f"document.querySelectorAll('#{pid} canvas.srw-canvas').length >= 3", timeout=60_000)
    for k in range(3):
        _painted(page, f"#{pid} canvas.srw-canvas", k)
    bars = f"#{pid} canvas.srw-bars"
    _drawn(page, bars)
    click = _output_json(panel, "CLICK")
    filters = page.locator(f"#{pid} .srw-faig-filters").first
    assert click["layer"] not in filters.inner_text()

    _click_canvas(page, bars, click["x"], click["y"], click["w"], click["h"])
    page.wait_for_function(
        f"(() => {{ const el = document.querySelector('#{pid} .srw-faig-filters');"
        f" return !!el && el.textContent.includes({click['layer']!r}); }})()", timeout=30_000, polling=250)
    text = filters.inner_text()
    assert re.search(r"\bout\b|\d+", text), text
    _screenshot(page, panel, "canvas.srw-bars", artifacts_dir / "faig_widget.png")
    print(f"[browser] FAIG: clicked the {click['layer']} bar, filter list: {text[:120]!r}; "
          f"total {time.monotonic() - t0:.1f}s")
