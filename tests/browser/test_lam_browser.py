"""Real-browser tests: JupyterLab in headless Chromium (Debian binary, driven by Playwright).

``test_ipycanvas_roundtrip`` checks the infrastructure alone (JupyterLab, kernel, widget manager, ipycanvas
drawing and mouse events) with a tiny notebook, so that a failure there is not mistaken for a LAM bug.
``test_lam_widget_drag`` is the end-to-end check of :class:`srwidgets.LAMWidget`: run the notebook, drag a
box on the SR canvas with the real mouse, and read the LR heatmap pixels and the DI label from the page.
It leaves screenshots in ``artifacts/``: ``lam_widget.png`` (the widget) and ``lam_widget_page.png`` (the page).
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
DI_TIMEOUT_MS = 60_000  # after the heatmap

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

# keep a copy of a canvas's pixels in the page (under a key) / the fraction of pixels that differ from it now
_JS_SNAPSHOT = """
([sel, key]) => {
  const el = document.querySelector(sel);
  const c = el.tagName === 'CANVAS' ? el : el.querySelector('canvas');
  (window.__srwSnapshots = window.__srwSnapshots || {})[key] =
      {w: c.width, h: c.height, data: c.getContext('2d').getImageData(0, 0, c.width, c.height).data};
  return true;
}
"""

_JS_CHANGED_FRACTION = """
([sel, key, tol]) => {
  const el = document.querySelector(sel);
  const c = el && (el.tagName === 'CANVAS' ? el : el.querySelector('canvas'));
  const b = (window.__srwSnapshots || {})[key];
  if (!c || !b || c.width !== b.w || c.height !== b.h) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, o = b.data;
  let changed = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - o[i]) + Math.abs(d[i + 1] - o[i + 1]) + Math.abs(d[i + 2] - o[i + 2]) > tol) changed++;
  }
  return changed / (d.length / 4);
}
"""

# the centre of the pixels that differ from the snapshot (relative to the canvas: x, y in [0, 1]), and the mean
# summed |dRGB| in a disc of radius r (relative to the width) around a relative point
_JS_CHANGED_CENTRE = """
([sel, key, tol]) => {
  const el = document.querySelector(sel);
  const c = el && (el.tagName === 'CANVAS' ? el : el.querySelector('canvas'));
  const b = (window.__srwSnapshots || {})[key];
  if (!c || !b || c.width !== b.w || c.height !== b.h) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, o = b.data;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - o[i]) + Math.abs(d[i + 1] - o[i + 1]) + Math.abs(d[i + 2] - o[i + 2]) > tol) {
      const p = i / 4, x = p % c.width, y = Math.floor(p / c.width);
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return x1 < 0 ? null : [(x0 + x1 + 1) / 2 / c.width, (y0 + y1 + 1) / 2 / c.height];
}
"""

_JS_CHANGE_AT = """
([sel, key, cx, cy, r]) => {
  const el = document.querySelector(sel);
  const c = el && (el.tagName === 'CANVAS' ? el : el.querySelector('canvas'));
  const b = (window.__srwSnapshots || {})[key];
  if (!c || !b || c.width !== b.w || c.height !== b.h) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, o = b.data;
  const px = cx * c.width, py = cy * c.height, rr = (r * c.width) ** 2;
  let sum = 0, n = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    if ((x + 0.5 - px) ** 2 + (y + 0.5 - py) ** 2 > rr) continue;
    const i = 4 * (y * c.width + x);
    sum += Math.abs(d[i] - o[i]) + Math.abs(d[i + 1] - o[i + 1]) + Math.abs(d[i + 2] - o[i + 2]); n++;
  }
  return n ? sum / n : -1;
}
"""

# the box around what an output actually shows (canvases, controls, text), padded; page coordinates
_JS_CONTENT_BOX = """
(root) => {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const el of root.querySelectorAll('*')) {
    const media = /^(CANVAS|IMG|svg|INPUT|BUTTON|SELECT|TEXTAREA|PROGRESS)$/.test(el.tagName);
    if (!media && (el.children.length || !el.textContent.trim())) continue;
    let r = el.getBoundingClientRect();
    if (!media) { const rg = document.createRange(); rg.selectNodeContents(el); r = rg.getBoundingClientRect(); }
    if (r.width < 1 || r.height < 1 || getComputedStyle(el).visibility === 'hidden') continue;
    x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top); x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom);
  }
  if (!isFinite(x0)) return null;
  const pad = 8;
  const x = Math.max(0, x0 - pad), y = Math.max(0, y0 - pad);
  return {x: x + window.scrollX, y: y + window.scrollY,
          width: Math.min(window.innerWidth, x1 + pad) - x, height: Math.min(window.innerHeight, y1 + pad) - y};
}
"""

# the notebook panel of a path: its DOM id and its kernel's status (needs LabApp.expose_app_in_browser)
_JS_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path) {
      const s = w.sessionContext && w.sessionContext.session;
      return {id: w.id, current: app.shell.currentWidget === w, kernel: s && s.kernel ? s.kernel.status : null};
    }
  }
  return null;
}
"""


# the widget's toggle buttons (the View control), and those whose label is wider than the button (cut to "m…")
_JS_CUT_BUTTONS = """
(pid) => {
  const buttons = Array.from(document.querySelectorAll(`#${pid} .jupyter-widget-toggle-button, #${pid} .widget-toggle-button`));
  const unique = Array.from(new Set(buttons));
  return {all: unique.map(b => b.textContent.trim()),
          cut: unique.filter(b => b.scrollWidth > b.clientWidth).map(b => [b.textContent.trim(), b.scrollWidth, b.clientWidth])};
}
"""


def write_notebook(server, name: str, sources: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(server.root_dir / name))
    return name


def _panel_state(page, name: str):
    return page.evaluate(_JS_PANEL, name)


def open_notebook(page, server, name: str):
    """Open ``name`` in a fresh workspace, wait for its kernel to be idle; returns the notebook panel's locator."""
    t0 = time.monotonic()
    page.goto(server.notebook_url(name), wait_until="domcontentloaded", timeout=60_000)
    # autoStartDefaultKernel + the notebook's kernelspec: the kernel starts by itself; wait until it is idle
    page.wait_for_function(
        f"(() => {{ const s = ({_JS_PANEL})({name!r}); return !!s && s.current && s.kernel === 'idle'; }})()",
        timeout=KERNEL_READY_TIMEOUT_MS, polling=250,
    )
    panel = page.locator(f"#{_panel_state(page, name)['id']}")
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=30_000)
    # more room for the widget: fold the file browser away
    page.evaluate("() => { const a = window.jupyterapp; if (a && a.shell.collapseLeft) a.shell.collapseLeft(); }")
    print(f"[browser] {name}: notebook open, kernel idle after {time.monotonic() - t0:.1f}s")
    return panel


def run_all_cells(page, panel) -> None:
    """Run > Run All Cells, through the menu bar as a user would (with the notebook's first cell selected)."""
    panel.locator(".jp-Cell .jp-InputPrompt").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_cells_done(page, panel, name: str, n_cells: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """All code cells have an execution count, the kernel is idle; fail early with the traceback on an error."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        # JupyterLab renders an error output (traceback) with the stderr MIME type
        err = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                            has_text=re.compile(r"Traceback|Error"))
        if err.count():
            raise AssertionError("a notebook cell raised:\n" + "\n".join(err.all_inner_texts()))
        prompts = panel.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        done = [p for p in prompts if re.search(r"\[\d+\]", p)]
        if len(done) >= n_cells and (_panel_state(page, name) or {}).get("kernel") == "idle":
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
    panel = open_notebook(page, jupyterlab_server, name)
    run_all_cells(page, panel)
    wait_cells_done(page, panel, name, 1)
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
    "import srwidgets\n"
    "model = srwidgets.zoo.load('x4-edsr-lite')\n"
    "lr = srwidgets.data.lr_image('astronaut', scale=4)\n"
    "w = srwidgets.LAMWidget(model, lr)  # default settings: 50 steps, sigma 1.2, kernel 9\n"
    "w",
]

# ipycanvas 0.14 renders a MultiCanvas as ONE <canvas> (the layers are composited in the model), and a
# widget's DOM classes land on its view's element, so the class may sit on the <canvas> or on a wrapper.
SR_SELECTORS = ["canvas.srw-sr-canvas", ".srw-sr-canvas canvas"]
LR_SELECTORS = ["canvas.srw-lr-canvas", ".srw-lr-canvas canvas"]
DI_SELECTOR = ".srw-di"
HEAT_TOL = 30  # summed |dRGB| above which an LR pixel counts as changed
HEAT_RADIUS = 0.02  # of the canvas width: a disc inside the selected window's LR box (a 16-px SR window is 4 LR px
# of 64, 6 % of the width): the window's outline is drawn outside the box, so the disc sees the heat alone
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def test_lam_widget_drag(page, jupyterlab_server, artifacts_dir):
    t0 = time.monotonic()
    name = write_notebook(jupyterlab_server, "lam_widget.ipynb", LAM_CELLS)
    panel = open_notebook(page, jupyterlab_server, name)
    run_all_cells(page, panel)
    wait_cells_done(page, panel, name, len(LAM_CELLS))
    pid = panel.get_attribute("id")
    sr_sel = _first_visible(page, [f"#{pid} {s}" for s in SR_SELECTORS], 60_000)
    lr_sel = _first_visible(page, [f"#{pid} {s}" for s in LR_SELECTORS], 60_000)
    di_sel = f"#{pid} {DI_SELECTOR}"
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
    # the View buttons hold their labels whole (a label wider than its button is cut to "m…")
    cut = page.evaluate(_JS_CUT_BUTTONS, pid)
    assert len(cut["all"]) == 3 and not cut["cut"], f"View buttons cut: {cut}"
    page.evaluate(_JS_SNAPSHOT, [lr_sel, "lr"])
    page.evaluate(_JS_SNAPSHOT, [sr_sel, "sr"])
    di_before = page.locator(di_sel).first.inner_text().strip() if page.locator(di_sel).count() else ""

    # drag a box in the middle of the SR image with the real mouse
    drag(page, page.locator(sr_sel).first, (0.40, 0.40), (0.60, 0.60))
    t_up = time.monotonic()

    # the drag drew the selection on the SR canvas
    page.wait_for_function(f"({_JS_CHANGED_FRACTION})({[sr_sel, 'sr', 30]!r}) > 0", timeout=30_000, polling=250)
    # the heatmap appears on the LR canvas inside the selected window: the heat fades to transparent where the map
    # is 0 (the LR image stays visible), so for a local model it is seen where the window is, at the centre of the
    # selection drawn on the SR canvas (both canvases show the same image). The centre is read again at every poll:
    # on a loaded machine the kernel can still be drawing the window at an earlier mouse position of the drag when
    # the first change shows, and the heat lands where the window ends up
    heat_at_selection = f"""(() => {{
        const c = ({_JS_CHANGED_CENTRE})({[sr_sel, 'sr', 30]!r});
        return c !== null && ({_JS_CHANGE_AT})([{lr_sel!r}, 'lr', c[0], c[1], {HEAT_RADIUS}]) >= {HEAT_TOL};
    }})()"""
    page.wait_for_function(heat_at_selection, timeout=HEATMAP_TIMEOUT_MS, polling=500)
    t_heat = time.monotonic() - t_up
    centre = page.evaluate(_JS_CHANGED_CENTRE, [sr_sel, "sr", 30])
    assert centre is not None, "the drag drew nothing on the SR canvas"
    # ... and the DI label shows a (new) number
    page.wait_for_function(
        f"""(() => {{
            const el = document.querySelector({di_sel!r});
            if (!el) return false;
            const t = el.textContent.trim();
            return t !== {di_before!r} && /[-+]?(\\d+\\.?\\d*|\\.\\d+)/.test(t);
        }})()""",
        timeout=DI_TIMEOUT_MS, polling=500,
    )
    t_di = time.monotonic() - t_up
    change = page.evaluate(_JS_CHANGE_AT, [lr_sel, "lr", centre[0], centre[1], HEAT_RADIUS])
    assert change >= HEAT_TOL, f"the heatmap changed the window's LR pixels by only {change:.1f} (summed |dRGB|)"
    stats = canvas_stats(page, lr_sel)

    di_text = page.locator(di_sel).first.inner_text().strip()
    m = _NUMBER.search(di_text)
    assert m, f"DI label has no number: {di_text!r}"
    di = float(m.group(0))
    assert di == di and di >= 0, f"DI is not a non-negative number: {di_text!r}"

    # artifacts: the widget alone (for the README) and the whole JupyterLab page
    output = panel.locator(".jp-OutputArea-output").filter(has=page.locator(sr_sel.split(" ", 1)[1])).first
    output.scroll_into_view_if_needed()
    clip = output.evaluate(_JS_CONTENT_BOX)
    output.screenshot(path=str(artifacts_dir / "lam_widget.png")) if clip is None else \
        page.screenshot(path=str(artifacts_dir / "lam_widget.png"), clip=clip)
    page.screenshot(path=str(artifacts_dir / "lam_widget_page.png"))
    (artifacts_dir / "lam_browser_timing.txt").write_text(
        f"mouse-up to first heatmap pixels: {t_heat:.2f}s\nmouse-up to final DI label: {t_di:.2f}s\n")
    print(f"[browser] mouse-up -> heatmap {t_heat:.2f}s, -> final DI {t_di:.2f}s (polling 0.5s)")
    print(f"[browser] LAM: rendered in {t_render:.1f}s, heatmap + DI={di_text!r} after drag; "
          f"the window's LR pixels changed by {change:.0f} ({stats['w']}x{stats['h']}); total {time.monotonic() - t0:.1f}s")

    # the Method control: ticking a second method (a real click) adds its panel, and its attribution lands there
    page.locator(f"#{pid} .srw-method-gradient input").click()
    page.wait_for_function(f"document.querySelectorAll({f'#{pid} .srw-lam-panel'!r}).length === 2", timeout=30_000)
    page.wait_for_function(
        f"""(() => {{
            const els = document.querySelectorAll({di_sel!r});
            return els.length === 2 && /[-+]?(\\d+\\.?\\d*|\\.\\d+)/.test(els[1].textContent.trim());
        }})()""",
        timeout=DI_TIMEOUT_MS, polling=500,
    )
    titles = page.locator(f"#{pid} .srw-lam-panel").all_inner_texts()
    assert "gradient" in titles[1], titles
