"""Real-browser tests: JupyterLab in headless Chromium (Debian binary, driven by Playwright).

``test_ipycanvas_roundtrip`` checks the infrastructure alone (JupyterLab, kernel, widget manager, ipycanvas
drawing and mouse events) with a tiny notebook, so that a failure there is not mistaken for a LAM bug.
``test_lam_widget_drag`` is the end-to-end check of :class:`srwidgets.LAMWidget`: run the notebook, drag a
box on the SR canvas with the real mouse, and read the LR heatmap pixels and the DI label from the page.
It leaves a screenshot in ``artifacts/lam_widget.png``.
"""
from __future__ import annotations

import re
import time

import nbformat
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KERNEL_READY_TIMEOUT_MS = 90_000
RUN_TIMEOUT_MS = 120_000
HEATMAP_TIMEOUT_MS = 120_000

# --------------------------------------------------------------------------------------------- helpers
_JS_CANVAS_STATS = """
(sel) => {
  const el = document.querySelector(sel);
  if (!el) return null;
  const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas');
  if (!c || !c.width || !c.height) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sumsq = 0, nonzero = 0, r = 0, g = 0, b = 0, h = 2166136261;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] + d[i + 1] + d[i + 2];
    sum += v; sumsq += v * v; if (d[i + 3] > 0) nonzero++;
    r += d[i]; g += d[i + 1]; b += d[i + 2];
    h = Math.imul(h ^ d[i] ^ (d[i + 1] << 8) ^ (d[i + 2] << 16), 16777619) >>> 0;
  }
  const n = d.length / 4;
  return {w: c.width, h: c.height, nonzero: nonzero, mean: sum / (3 * n),
          std: Math.sqrt(Math.max(0, sumsq / n - (sum / n) ** 2)) / 3,
          r: r / n, g: g / n, b: b / n, hash: h};
}
"""

_JS_PIXELS = """
(sel) => {
  const el = document.querySelector(sel);
  const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}
"""

_JS_KERNEL_IDLE = """
() => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : null;
}
"""


def write_notebook(server, name: str, sources: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(server.root_dir / name))
    return name


def open_notebook(page, server, name: str) -> None:
    t0 = time.monotonic()
    page.goto(server.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # more room for the widget: fold the file browser away
    page.evaluate("() => { const a = window.jupyterapp; if (a && a.shell.collapseLeft) a.shell.collapseLeft(); }")
    # autoStartDefaultKernel + the notebook's kernelspec: the kernel starts by itself; wait until it is idle
    page.wait_for_function(f"({_JS_KERNEL_IDLE})() === 'idle'", timeout=KERNEL_READY_TIMEOUT_MS, polling=250)
    print(f"[browser] {name}: notebook open, kernel idle after {time.monotonic() - t0:.1f}s")


def run_all_cells(page) -> None:
    """Run > Run All Cells, through the menu bar as a user would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_cells_done(page, n_cells: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """All code cells have an execution count, the kernel is idle; fail early with the traceback on an error."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        err = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
                           ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
        if page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count():
            raise AssertionError("a notebook cell raised:\n" + "\n".join(err.all_inner_texts()))
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        done = [p for p in prompts if re.search(r"\[\d+\]", p)]
        if len(done) >= n_cells and page.evaluate(_JS_KERNEL_IDLE) == "idle":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cells not done after {timeout_ms / 1000:.0f}s; prompts: {prompts}")
        page.wait_for_timeout(250)


def canvas_stats(page, selector: str):
    return page.evaluate(_JS_CANVAS_STATS, selector)


def drag(page, locator, frm: tuple[float, float], to: tuple[float, float], steps: int = 12) -> None:
    """A real mouse drag between two points given as fractions of the element's box."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"element has no box: {box}"
    x0, y0 = box["x"] + frm[0] * box["width"], box["y"] + frm[1] * box["height"]
    x1, y1 = box["x"] + to[0] * box["width"], box["y"] + to[1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()


def _first_visible(page, selectors: list[str], timeout_ms: int) -> str:
    """The first selector in the list that matches a visible element (waits up to timeout_ms)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        for sel in selectors:
            loc = page.locator(sel)
            if loc.count() and loc.first.is_visible():
                return sel
        if time.monotonic() > deadline:
            raise AssertionError(f"none of {selectors} became visible within {timeout_ms / 1000:.0f}s")
        page.wait_for_timeout(250)


# ------------------------------------------------------------------------------ infrastructure check
def test_ipycanvas_roundtrip(page, jupyterlab_server, artifacts_dir):
    """JupyterLab + kernel + ipycanvas work: Python draws, the page shows it; a real drag reaches Python."""
    t0 = time.monotonic()
    name = write_notebook(jupyterlab_server, "infra_ipycanvas.ipynb", [
        "import ipycanvas, ipywidgets as W\n"
        "c = ipycanvas.Canvas(width=160, height=120)\n"
        "c.add_class('srw-test-canvas'); c.layout.width = '320px'; c.layout.height = '240px'  # shown at 2x\n"
        "c.fill_style = '#ff0000'; c.fill_rect(0, 0, 160, 120)\n"
        "lab = W.Label('no drag yet'); lab.add_class('srw-test-label')\n"
        "def _up(x, y):\n"
        "    lab.value = f'up {x:.0f} {y:.0f}'\n"
        "    c.fill_style = '#0000ff'; c.fill_rect(0, 0, 160, 120)\n"
        "c.on_mouse_up(_up)\n"
        "W.VBox([c, lab])",
    ])
    open_notebook(page, jupyterlab_server, name)
    run_all_cells(page)
    wait_cells_done(page, 1)
    sel = "canvas.srw-test-canvas"
    page.wait_for_selector(sel, state="visible", timeout=30_000)
    page.wait_for_function(f"(({_JS_CANVAS_STATS})({sel!r}) || {{}}).r > 200", timeout=30_000)
    before = canvas_stats(page, sel)
    assert before["r"] > 200 and before["b"] < 50, before

    drag(page, page.locator(sel), (0.2, 0.2), (0.75, 0.8))
    label = page.locator(".srw-test-label")
    page.wait_for_function(
        "() => /^up \\d+ \\d+$/.test(document.querySelector('.srw-test-label').textContent.trim())",
        timeout=30_000,
    )
    x, y = map(int, label.inner_text().split()[1:])
    assert abs(x - 0.75 * 160) <= 3 and abs(y - 0.8 * 120) <= 3, (x, y)
    page.wait_for_function(f"(({_JS_CANVAS_STATS})({sel!r}) || {{}}).b > 200", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "infra_ipycanvas.png"))
    print(f"[browser] infra test done in {time.monotonic() - t0:.1f}s")


# --------------------------------------------------------------------------------------------- LAM
LAM_CELLS = [
    "import torch, srwidgets\n"
    "from srwidgets.models import build\n"
    "torch.manual_seed(0)\n"
    "m = build('EDSR', num_feat=8, num_block=2, upscale=4)\n"
    "img = torch.rand(3, 24, 24)\n"
    "w = srwidgets.LAMWidget(m, img)\n"
    "w",
]

# ipycanvas 0.14 renders a MultiCanvas as ONE <canvas> (the layers are composited in the model), and a
# widget's DOM classes land on its view's element, so the class may sit on the <canvas> or on a wrapper.
SR_SELECTORS = ["canvas.srw-sr-canvas", ".srw-sr-canvas canvas"]
LR_SELECTORS = ["canvas.srw-lr-canvas", ".srw-lr-canvas canvas"]
DI_SELECTOR = ".srw-di"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def test_lam_widget_drag(page, jupyterlab_server, artifacts_dir):
    t0 = time.monotonic()
    name = write_notebook(jupyterlab_server, "lam_widget.ipynb", LAM_CELLS)
    open_notebook(page, jupyterlab_server, name)
    run_all_cells(page)
    wait_cells_done(page, len(LAM_CELLS))
    sr_sel = _first_visible(page, SR_SELECTORS, 60_000)
    lr_sel = _first_visible(page, LR_SELECTORS, 60_000)
    # the LR image has been drawn (non-blank) before we touch anything
    page.wait_for_function(
        f"(() => {{ const s = ({_JS_CANVAS_STATS})({lr_sel!r}); return s && s.nonzero > 0 && s.std > 1; }})()",
        timeout=60_000,
    )
    page.wait_for_function(
        f"(() => {{ const s = ({_JS_CANVAS_STATS})({sr_sel!r}); return s && s.nonzero > 0 && s.std > 1; }})()",
        timeout=60_000,
    )
    t_render = time.monotonic() - t0
    before = canvas_stats(page, lr_sel)
    before_px = page.evaluate(_JS_PIXELS, lr_sel)
    di_before = page.locator(DI_SELECTOR).first.inner_text().strip() if page.locator(DI_SELECTOR).count() else ""
    page.screenshot(path=str(artifacts_dir / "lam_widget_before.png"))

    # drag a box in the middle of the SR image with the real mouse
    drag(page, page.locator(sr_sel).first, (0.40, 0.40), (0.60, 0.60))

    # the heatmap appears on the LR canvas: its pixels change from the plain LR image
    page.wait_for_function(
        f"(() => {{ const s = ({_JS_CANVAS_STATS})({lr_sel!r}); return s && s.hash !== {before['hash']}; }})()",
        timeout=HEATMAP_TIMEOUT_MS, polling=500,
    )
    # ... and the DI label shows a number
    page.wait_for_function(
        f"""(() => {{
            const el = document.querySelector({DI_SELECTOR!r});
            if (!el) return false;
            const t = el.textContent.trim();
            return t !== {di_before!r} && /[-+]?(\\d+\\.?\\d*|\\.\\d+)/.test(t);
        }})()""",
        timeout=HEATMAP_TIMEOUT_MS, polling=500,
    )
    # let any final frame land, then measure
    page.wait_for_timeout(500)
    after = canvas_stats(page, lr_sel)
    after_px = page.evaluate(_JS_PIXELS, lr_sel)
    assert (after["w"], after["h"]) == (before["w"], before["h"])
    n = len(after_px) // 4
    changed = sum(
        1 for i in range(0, len(after_px), 4)
        if abs(after_px[i] - before_px[i]) + abs(after_px[i + 1] - before_px[i + 1])
        + abs(after_px[i + 2] - before_px[i + 2]) > 30
    )
    assert changed >= 0.05 * n, f"heatmap changed only {changed}/{n} LR pixels: before {before}, after {after}"

    di_text = page.locator(DI_SELECTOR).first.inner_text().strip()
    m = _NUMBER.search(di_text)
    assert m, f"DI label has no number: {di_text!r}"
    di = float(m.group(0))
    assert di == di and di >= 0, f"DI is not a non-negative number: {di_text!r}"

    page.locator(sr_sel).first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "lam_widget.png"))
    print(f"[browser] LAM: rendered in {t_render:.1f}s, heatmap + DI={di_text!r} after drag; "
          f"{changed}/{n} LR pixels changed; total {time.monotonic() - t0:.1f}s")
