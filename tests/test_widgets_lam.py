"""LAMWidget driven like a browser would: mouse messages on the SR canvas, traitlets from code.

What reaches the browser is checked by spying on ipycanvas' command channel (``putImageData`` buffers decoded).
Tiny models (EDSR 8 features, 2 blocks, x4), 16 px LR images, 2-4 integration steps.
"""
from __future__ import annotations

import threading
import time

import ipywidgets
import numpy as np
import pytest
import torch
from torch import nn

from ipycanvas import canvas as ipc
from ipycanvas.utils import image_bytes_to_array

import srwidgets
from srwidgets.lam import LAMResult
from srwidgets.models import build
from srwidgets.widgets.canvas import resample as _resample
from srwidgets.widgets.lam import LAMWidget

LR = 16  # LR side; SR is 64, shown at zoom 4 (256 px); the LR panel at zoom 16 (256 px)


def tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build("EDSR", num_feat=8, num_block=2, upscale=4).eval()


class Slow(nn.Module):
    """A tiny model that takes ``delay`` seconds per forward pass (to catch a job mid-way) and can be broken."""

    def __init__(self, delay: float = 0.05, seed: int = 0):
        super().__init__()
        self.inner, self.delay, self.scale, self.fail = tiny(seed), delay, 4, False

    def forward(self, x):
        if self.fail:
            raise RuntimeError("the model broke")
        time.sleep(self.delay)
        return self.inner(x)


@pytest.fixture
def image():
    torch.manual_seed(1)
    return torch.rand(3, LR, LR)


@pytest.fixture
def make(image):
    """Build widgets (steps=4 by default); wait for their jobs at teardown so no thread outlives the test."""
    made = []

    def _make(model=None, img=None, **kw):
        kw.setdefault("steps", 4)
        w = LAMWidget(tiny() if model is None else model, image if img is None else img, **kw)
        made.append(w)
        assert w.wait(30), "the SR preview did not finish"
        return w

    yield _make
    for w in made:
        w.cancel()
        w.wait(30)


@pytest.fixture
def sent(monkeypatch):
    """``[(canvas layer, decoded RGBA array)]`` of every putImageData sent to the frontend."""
    log = []
    manager = ipc._CANVAS_MANAGER
    original = manager.send_draw_command

    def spy(canvas, name, args=[], buffers=[]):
        if name == ipc.COMMANDS["putImageData"]:
            log.append((canvas, image_bytes_to_array(buffers[0])))
        return original(canvas, name, args, buffers)

    monkeypatch.setattr(manager, "send_draw_command", spy)
    return log


def puts_on(log, layer):
    return [arr for c, arr in log if c is layer]


def mouse(view, event, x, y):
    """The message the browser sends for a mouse event on a MultiCanvas (display pixels)."""
    view.canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


def drag(view, start, end, steps=3):
    mouse(view, "mouse_down", *start)
    for k in range(1, steps + 1):
        mouse(view, "mouse_move", start[0] + (end[0] - start[0]) * k / steps, start[1] + (end[1] - start[1]) * k / steps)
    mouse(view, "mouse_up", *end)


def shown_text(value: str) -> str:
    """The text an HTML widget's ``value`` shows (tags dropped, spaces collapsed)."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).split())


def expected_overlay(w, name, result):
    view = w.lr_views[name]
    rgba = srwidgets.viz.heatmap_rgba(result.map, w.colormap, w.alpha, fade=True)
    return _resample(np.asarray(rgba), view.display_height, view.display_width)


# ------------------------------------------------------------------------------------------------ mouse
def test_click_on_sr_canvas_attributes_the_snapped_window_and_paints_the_heatmap(make, sent):
    w = make()
    name = w.names[0]
    overlay = w.lr_views[name].layer("overlay")
    assert w.sr_view.zoom == 4 and w.lr_views[name].zoom == 16
    assert puts_on(sent, overlay) == []
    # press-release at display (120, 80) = SR pixel (row 20, col 30): a 16 px window centred there
    mouse(w.sr_view, "mouse_down", 120, 80)
    mouse(w.sr_view, "mouse_up", 121, 81)
    assert w.window == (12, 22, 16, 16)
    assert w.wait(30)
    assert w.error == ""
    assert isinstance(w.result, LAMResult) and w.result.window == (12, 22, 16, 16)
    painted = puts_on(sent, overlay)
    assert painted, "nothing was sent to the LR heatmap layer"
    np.testing.assert_array_equal(painted[-1], expected_overlay(w, name, w.result))
    assert painted[-1][..., 3].max() > 0
    assert w.di_labels[name].value == f"DI {w.result.diffusion_index:.2f}"
    assert w.gini_labels[name].value == f"Gini {w.result.gini:.3f}"
    assert w.progress == 1.0 and not w.busy


def test_drag_moves_the_snapped_window_and_release_starts_one_job(make):
    w = make()
    starts = []
    w.observe(lambda c: starts.append(c["new"]), "window")
    drag(w.sr_view, (40, 40), (200, 160))  # ends at SR (row 40, col 50)
    assert starts == [(32, 42, 16, 16)]
    assert w.wait(30) and w.result.window == (32, 42, 16, 16)


def test_snapped_window_stays_inside_the_image(make):
    w = make(window_size=8)
    mouse(w.sr_view, "mouse_down", 255, 255)
    mouse(w.sr_view, "mouse_up", 255, 255)
    assert w.window == (56, 56, 8, 8)
    assert w.wait(30) and w.result.window == (56, 56, 8, 8)


def test_free_size_drag_selects_the_rectangle(make):
    w = make(free_size=True)
    drag(w.sr_view, (200, 40), (80, 100))  # SR cols 50 -> 20, rows 10 -> 25
    assert w.window == (10, 20, 16, 31)
    assert w.wait(30) and w.result.window == (10, 20, 16, 31)


def test_mouse_out_abandons_the_drag(make):
    w = make()
    mouse(w.sr_view, "mouse_down", 100, 100)
    mouse(w.sr_view, "mouse_out", 300, 100)
    mouse(w.sr_view, "mouse_up", 100, 100)
    assert w.window == () and not w.busy and w.result is None


def test_heatmap_refines_while_steps_accumulate(make, sent):
    w = make(throttle=0.0, lam_options={"chunk_size": 1})
    overlay = w.lr_views[w.names[0]].layer("overlay")
    partials = []
    w.observe(lambda c: partials.append(w.progress), "progress")
    w.window = (20, 20, 16)
    assert w.wait(30)
    painted = puts_on(sent, overlay)
    assert len(painted) >= 4 + 1  # one per step, then the final map
    assert partials[:4] == [0.25, 0.5, 0.75, 1.0]
    # the first partial is the 1-step attribution's map, not the final one
    assert not np.array_equal(painted[0], painted[-1])


# ------------------------------------------------------------------------------------------------ traitlets
def test_window_traitlet_accepts_size_and_normalises(make):
    w = make()
    w.window = (8, 4, 16)
    assert w.window == (8, 4, 16, 16)
    assert w.wait(30) and w.result.window == (8, 4, 16, 16)


@pytest.mark.parametrize("trait,value,key", [("steps", 2, "steps"), ("sigma", 2.0, "sigma"),
                                             ("kernel_size", 5, "kernel_size"), ("baseline", "black", "path")])
def test_changing_an_engine_setting_reruns_the_window(make, trait, value, key):
    w = make()
    w.window = (16, 16, 16)
    assert w.wait(30)
    first = w.result
    setattr(w, trait, value)
    assert w.wait(30)
    assert w.result is not first and w.result.window == first.window
    assert w.result.settings[key] == value


def test_alpha_and_colormap_repaint_without_rerunning(make, sent):
    w = make()
    name = w.names[0]
    overlay = w.lr_views[name].layer("overlay")
    w.window = (16, 16, 16)
    assert w.wait(30)
    result, n = w.result, len(puts_on(sent, overlay))
    w.alpha = 0.9
    w.colormap = "viridis"
    assert not w.busy and w.result is result
    painted = puts_on(sent, overlay)
    assert len(painted) == n + 2
    np.testing.assert_array_equal(painted[-1], expected_overlay(w, name, result))
    assert w.colormap_dropdown.value == "viridis"


def test_controls_are_linked_to_traitlets(make):
    w = make()
    slider = ipywidgets.IntSlider(min=1, max=10)
    ipywidgets.link((slider, "value"), (w, "steps"))
    slider.value = 3
    assert w.steps == 3
    w.baseline = "black"
    assert w.baseline_dropdown.value == "black"


def test_unknown_baseline_is_reported_and_kept(make):
    w = make()
    w.baseline = "nonsense"
    assert w.baseline == "blur" and "nonsense" in w.error


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("bad", [(-1, 0, 16), (60, 0, 16), (0, 50, 8, 16), (4, 4, 1), (0, 0, 1, 8), (1, 2), "x"])
def test_bad_window_sets_error_synchronously_and_starts_nothing(make, bad):
    w = make()
    w.window = (8, 8, 16)
    assert w.wait(30)
    good = w.result
    w.window = bad
    assert w.error != "" and "window" in w.error
    assert w.window == (8, 8, 16, 16) and not w.busy
    assert w.result is good
    assert w.error_html.value != ""
    # a following good window works and clears the error
    w.window = (24, 24, 16)
    assert w.error == ""
    assert w.wait(30) and w.result.window == (24, 24, 16, 16)


def test_a_bad_setting_from_code_is_reported_at_once_and_starts_nothing(make):
    w = make()
    w.window = (8, 8, 16)
    assert w.wait(30)
    done = w.result
    w.steps = 0  # refused by the widget (the Steps slider's min must not clamp it into a silent 1 either)
    assert "steps" in w.error and w.steps == 4 and not w.busy and w.result is done
    w.steps = 2
    assert w.wait(30) and w.error == "" and w.result.settings["steps"] == 2


def test_engine_input_error_is_shown_and_the_widget_recovers(make):
    w = make()
    w.window = (8, 8, 16)
    assert w.wait(30)
    w.knobs = {"lam": {"steps": 0}}  # not checked by the widget: the engine refuses it on the worker
    assert w.wait(30)
    assert "steps" in w.error and w.last_traceback is None
    assert w.result.window == (8, 8, 16, 16) and not w.busy
    w.knobs = {}
    assert w.wait(30) and w.error == "" and w.result.settings["steps"] == 4


def test_unexpected_exception_shows_type_and_message(make):
    model = Slow(delay=0.0)
    w = make(model)
    model.fail = True
    w.window = (8, 8, 16)
    assert w.wait(30)
    assert w.error.startswith("RuntimeError") and "the model broke" in w.error
    assert "RuntimeError" in w.last_traceback and not w.busy
    model.fail = False
    w.window = (16, 16, 16)
    assert w.wait(30) and w.error == "" and w.result.window == (16, 16, 16, 16)


# ------------------------------------------------------------------------------------------------ jobs
def _until(pred, timeout=20.0):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_cancel_keeps_the_last_result_and_says_cancelled(make):
    model = Slow(delay=0.0)
    w = make(model, steps=40, lam_options={"chunk_size": 1})
    w.window = (8, 8, 16)
    assert w.wait(30)
    done = w.result
    model.delay = 0.05
    w.window = (32, 32, 16)
    _until(lambda: 0 < w.progress < 0.5)
    assert w.busy and w.cancel_button.disabled is False
    assert w.cancel()
    assert w.wait(10)
    assert w.result is done
    assert "cancelled" in w.status and w.error == "" and not w.busy
    assert w.cancel_button.disabled
    # still usable: Run finishes the cancelled window
    model.delay = 0.0
    w.run_button.click()
    assert w.wait(30) and w.result.window == (32, 32, 16, 16)


def test_cancel_button_click_cancels(make):
    w = make(Slow(delay=0.05), steps=40, lam_options={"chunk_size": 1})
    w.window = (8, 8, 16)
    _until(lambda: w.progress > 0)
    w.cancel_button.click()
    assert w.wait(10) and w.result is None and "cancelled" in w.status


def test_new_selection_supersedes_the_running_one(make):
    w = make(Slow(delay=0.03), steps=20, lam_options={"chunk_size": 1})
    shown = []
    w.observe(lambda c: shown.append(c["new"].window), "result")
    w.window = (8, 8, 16)
    _until(lambda: w.progress > 0)
    w.window = (40, 40, 16)
    assert w.wait(30)
    assert shown == [(40, 40, 16, 16)]  # the stale job never showed anything
    assert w.result.window == (40, 40, 16, 16) and w.error == "" and not w.busy


def test_stale_job_cannot_overwrite_after_many_quick_selections(make):
    w = make(Slow(delay=0.01), steps=4, lam_options={"chunk_size": 1})
    shown = []
    w.observe(lambda c: shown.append(c["new"].window), "result")
    for k in range(6):
        w.window = (4 * k, 4 * k, 16)
    assert w.wait(30)
    time.sleep(0.2)  # any stale thread would deliver now
    assert w.result.window == (20, 20, 16, 16)
    assert shown[-1] == (20, 20, 16, 16)


def test_history_shows_cached_results_instantly(make):
    w = make()
    w.window = (8, 8, 16)
    assert w.wait(30)
    first = w.result
    w.window = (32, 32, 16)
    assert w.wait(30)
    assert [v for _, v in w.history.options] == [(32, 32, 16, 16), (8, 8, 16, 16)]
    w.history.value = (8, 8, 16, 16)  # a click on the list
    assert w.window == (8, 8, 16, 16)
    assert not w.busy and w.result is first and w.status.startswith("cached")


def test_worker_runs_off_the_calling_thread(make):
    w = make(Slow(delay=0.0))
    seen = []
    w.observe(lambda c: seen.append(threading.current_thread()), "result")
    w.window = (8, 8, 16)
    assert w.wait(30)
    assert seen and seen[0] is not threading.current_thread()


# ------------------------------------------------------------------------------------------------ compare mode
def test_compare_mode_gives_one_result_per_model(make, sent):
    w = make({"small": tiny(0), "other": tiny(3)})
    assert w.compare and w.names == ["small", "other"]
    w.window = (16, 16, 16)
    assert w.wait(60)
    assert set(w.results) == {"small", "other"}
    assert all(r.window == (16, 16, 16, 16) for r in w.results.values())
    assert w.result is w.results["small"]
    assert w.results["small"].diffusion_index != w.results["other"].diffusion_index
    for name in w.names:
        assert w.di_labels[name].value == f"DI {w.results[name].diffusion_index:.2f}"
        painted = puts_on(sent, w.lr_views[name].layer("overlay"))
        np.testing.assert_array_equal(painted[-1], expected_overlay(w, name, w.results[name]))


def test_compare_list_names_are_unique(make):
    w = make([tiny(0), tiny(1)])
    assert w.names == ["EDSR", "EDSR #2"]


# ------------------------------------------------------------------------------------------------ export, display
def test_save_figure_writes_a_png(make, tmp_path):
    w = make()
    with pytest.raises(srwidgets.errors.InputError):
        w.save_figure(str(tmp_path / "none.png"))
    w.window = (16, 16, 16)
    assert w.wait(30)
    path = tmp_path / "lam.png"
    assert w.save_figure(str(path)) == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    w.export_path.value = str(tmp_path / "button.png")
    w.export_button.click()
    assert (tmp_path / "button.png").exists() and w.error == "" and "saved" in w.status


def test_export_before_any_result_shows_error(make, tmp_path):
    w = make()
    w.export_path.value = str(tmp_path / "x.png")
    w.export_button.click()
    assert "select a window" in w.error


def test_save_figure_in_compare_mode(make, tmp_path):
    w = make({"a": tiny(0), "b": tiny(3)})
    w.window = (16, 16, 16)
    assert w.wait(60)
    w.save_figure(str(tmp_path / "cmp.png"))
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_dom_classes_for_the_browser_tests(make):
    w = make()
    assert "srw-sr-canvas" in w.sr_view.canvas._dom_classes
    assert "srw-sr-canvas" in w.sr_view.layer("selection")._dom_classes
    lr = w.lr_views[w.names[0]]
    assert "srw-lr-canvas" in lr.canvas._dom_classes and "srw-lr-canvas" in lr.layer("overlay")._dom_classes
    assert "srw-di" in w.di_labels[w.names[0]]._dom_classes


def test_images_are_shown_crisp_and_large_ones_fitted(make, sent):
    w = make(img=torch.rand(3, 200, 120), steps=2)
    assert max(w.sr_view.display_height, w.sr_view.display_width) <= 512
    assert (w.sr_view.display_height, w.sr_view.display_width) == (512, round(480 * 512 / 800))
    # the SR output was put on the image layer at display size, nearest-neighbour (lossless RGBA)
    sr = puts_on(sent, w.sr_view.layer("image"))[-1]
    assert sr.shape == (512, 307, 4)
    small = make()
    lr = puts_on(sent, small.lr_views[small.names[0]].layer("image"))[-1]
    assert lr.shape == (256, 256, 4)
    assert (lr[:16, :16] == lr[0, 0]).all()  # one LR pixel = a 16x16 block
    # clicks on the fitted canvas map back to SR pixels
    mouse(w.sr_view, "mouse_down", 0, 511)
    mouse(w.sr_view, "mouse_up", 0, 511)
    assert w.window == (800 - 16, 0, 16, 16)
    w.cancel()


def test_widget_is_exported_lazily_and_models_by_zoo_name_are_checked(image):
    assert srwidgets.LAMWidget is LAMWidget
    with pytest.raises(srwidgets.errors.InputError):
        LAMWidget([], image)


def _scale_weights(model):
    for p in model.parameters():
        p.mul_(1.5)  # in place, as fine-tuning or load_state_dict would


def _shift_mean(model):
    model.shift.mean.fill_(0.25)  # a buffer (the mean shift), not a parameter


@pytest.mark.parametrize("edit", [_scale_weights, _shift_mean])
def test_cached_results_are_dropped_when_the_model_changes(make, edit):
    model = tiny()
    w = make(model)
    w.window = (8, 8, 16)
    assert w.wait(30)
    before = w.result
    with torch.no_grad():
        edit(model)
    w.window = (16, 16, 16)
    assert w.wait(30)
    w.window = (8, 8, 16)  # the first window again: must be recomputed, not served from the cache
    assert w.wait(30)
    assert w.result is not before and not w.status.startswith("cached")
    assert not torch.allclose(w.result.attribution, before.attribution)


def test_close_cancels_the_running_job_and_stops_the_worker(make):
    w = make(Slow(delay=0.2), steps=50)
    w.window = (8, 8, 16)
    time.sleep(0.3)
    assert w.busy
    job = w._runner._last
    t0 = time.monotonic()
    w.close()
    assert job.finished.wait(10) and time.monotonic() - t0 < 10
    assert w.closed and not job.thread.is_alive()
    assert w.result is None  # the cancelled job delivered nothing
    w.window = (16, 16, 16)  # a closed widget starts nothing (and raises nothing)
    w.rerun()
    assert w._runner._last is job


# -- issue 17: concurrent windows, constructor arguments, layout ---------------------------------------------------
def test_threads_setting_the_window_rapidly_leave_the_result_of_the_window_shown(make):
    w = make(Slow(delay=0.002), steps=2)
    windows = [(4 * i, 4 * j, 16) for i in range(6) for j in range(6)]
    pauses = iter(np.random.default_rng(0).uniform(0, 0.004, 10_000))
    # a pause between reading the window and starting its job: where another thread's window can slip in
    w.settings = lambda: (time.sleep(next(pauses)), LAMWidget.settings(w))[1]

    def hammer(k):
        for win in windows[k::3]:
            w.window = win

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.wait(60)
    name = w.names[0]
    assert tuple(w.result.window) == tuple(w.window)
    assert w.di_labels[name].value == f"DI {w.result.diffusion_index:.2f}"
    panel = w.panel(name)
    assert panel.map is w.result.map and panel.final  # the heatmap drawn is that result's map
    expected = srwidgets.viz.heatmap_rgba(w.result.map, w.colormap, w.alpha, fade=True)
    assert np.array_equal(w.view_rgba(name), expected)


def test_a_window_set_while_another_is_being_started_wins(make):
    """Thread A has read its window and not yet started the job when thread B sets another: B's must be shown."""
    w = make(Slow(delay=0.002), steps=2)
    inside, gate = threading.Event(), threading.Event()

    def settings():
        if threading.current_thread().name == "A" and not gate.is_set():
            inside.set()
            gate.wait(0.5)  # with the widget's lock B cannot get in meanwhile: the wait just times out
        return LAMWidget.settings(w)

    w.settings = settings

    def b():
        inside.wait(5)
        w.window = (24, 24, 16)
        gate.set()

    threads = [threading.Thread(target=lambda: setattr(w, "window", (8, 8, 16)), name="A"),
               threading.Thread(target=b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.wait(60)
    assert tuple(w.window) == (24, 24, 16, 16) and tuple(w.result.window) == tuple(w.window)


def test_clearing_the_window_stops_its_attribution_from_landing(make):
    w = make(Slow(delay=0.05), steps=8)
    w.window = (8, 8, 16)
    w.window = ()
    assert w.wait(30)
    assert w.result is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=10 ** 9), "ceiling"), (dict(steps="50"), "steps must be an integer"),
    (dict(view="difference"), "needs two models"), (dict(view="heat"), "unknown view 'heat'; choose one of: map"),
    (dict(baseline="white"), "unknown baseline 'white'; choose one of: blur"), (dict(kernel_size=8), "odd"),
    (dict(alpha=2.0), "alpha"), (dict(colormap="nope"), "unknown colormap"), (dict(atlas="yes"), "True or False"),
    (dict(atlas_stride=0), "atlas_stride"), (dict(window=(500, 0, 16)), "outside the SR image"),
    (dict(stepz=3), "unexpected keyword argument 'stepz'; the keywords are: window, steps"),
    (dict(max_display="big"), "max_display"), (dict(throttle=-1), "throttle"),
    (dict(lam_options={"chunk": 4}), "lam_options: unknown 'chunk'"), (dict(lam_options=[1]), "lam_options must be"),
])
def test_bad_constructor_arguments_are_input_errors_naming_them(image, kwargs, match):
    with pytest.raises(srwidgets.errors.InputError, match=match):
        LAMWidget(tiny(), image, **kwargs)


def _label_width(text: str) -> float:
    """``text``'s width, px, in DejaVu Sans at the widgets' 13 px font (what Debian's Chromium draws the buttons
    with; the widest of the usual sans-serif fonts), measured by FreeType on matplotlib's copy of the font."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 13).getlength(text)


@pytest.mark.parametrize("models", [1, 2])
def test_view_buttons_are_wide_enough_for_their_names(make, models):
    """Each View button holds its label and ipywidgets 8's 10 px padding on both sides, with one model (map, kde,
    erf: "map" was cut to "m…" at a flat 8 px a character) and two (difference)."""
    w = make(model={"a": tiny(0), "b": tiny(1)} if models == 2 else None)
    width = int(w.view_buttons.style.button_width.rstrip("px"))
    assert ("difference" in w.view_buttons.options) == (models == 2)
    for name in w.view_buttons.options:
        assert width >= _label_width(name) + 20, (name, width, _label_width(name))
    assert "srw-view-buttons" not in w.view_buttons._dom_classes  # the width alone keeps them whole, no CSS rule


@pytest.mark.parametrize("label", ["map", "mmm", "WWW", "difference", "Wide Labels", "kde"])
def test_view_button_width_holds_any_label(label):
    from srwidgets.widgets.lam_controls import view_button_width

    assert int(view_button_width(["erf", label]).rstrip("px")) >= _label_width(label) + 20


def test_the_path_dropdown_labels_fit_it(make):
    w = make()
    box = int(w.baseline_dropdown.layout.width.rstrip("px"))
    labels = list(w.baseline_dropdown._options_labels)
    # "Path:" plus the arrow take ~70 px; at ~7.5 px a character every label must show whole
    assert all(7.5 * len(label) + 70 <= box for label in labels)
    assert w.baseline_dropdown.style.description_width == "initial"
    assert set(w.baseline_dropdown._options_values) == set(srwidgets.lam.PATHS)


def test_compared_models_completeness_lines_are_separate_wrapping_blocks(make):
    w = make(model={"a": tiny(0), "b": tiny(1)})
    w.window = (8, 8, 16)
    assert w.wait(30)
    for name in w.names:
        block = w.completeness_labels[name]
        assert isinstance(block, ipywidgets.HTML)  # a Label never wraps: side by side the lines ran together
        assert block.layout.width == f"{max(w.lr_views[name].display_width, 160)}px" and block.layout.margin
        assert shown_text(block.value) == " ".join(srwidgets.viz.completeness(w.results[name]).split())
    assert w.completeness_labels["a"].value != w.completeness_labels["b"].value


# ------------------------------------------------------------------------------------------------ issue 17: hostile use
def test_knobs_with_an_option_the_method_does_not_take_are_refused_when_set(make):
    """An option a member's attribute() does not take (or the widget's own callback / cancel) is refused when set —
    the message names the options it takes — instead of a raw TypeError from the job; the widget keeps working."""
    w = make(window=(16, 16, 16))
    assert w.wait(30)
    w.knobs = {"lam": {"bogus": 1}}
    assert "knobs['lam']: unknown option 'bogus'" in w.error and "steps" in w.error and w.knobs == {}
    w.knobs = {"ig": {"callback": print}}
    assert "the widget passes its own" in w.error and w.knobs == {}
    w.knobs = {"ig": {"baseline": "blurred"}}
    w.methods = ["ig"]
    assert w.wait(30) and not w.error and w.result.method == "ig"


def test_window_size_larger_than_the_sr_image_is_refused(make, image):
    w = make()
    side = LR * 4
    w.window_size = side + 1
    assert f"<= {side}" in w.error and w.window_size == 16
    w.window_size = side
    assert w.window_size == side
    with pytest.raises(srwidgets.errors.InputError, match="window_size"):
        LAMWidget(tiny(), image, window_size=10 ** 9)


def test_save_figure_refuses_a_folder_a_wrong_extension_and_the_input_image(make, tmp_path):
    from PIL import Image

    source = tmp_path / "input.png"
    Image.fromarray(np.full((LR, LR, 3), 128, np.uint8)).save(source)
    before = source.read_bytes()
    w = make(img=str(source), window=(16, 16, 16))
    assert w.wait(30) and w.result is not None
    for path, words in ((tmp_path, "is a folder"), (tmp_path / "fig.txt", "change the extension"),
                        (tmp_path / "missing" / "fig.png", "does not exist"), (source, "would overwrite it")):
        with pytest.raises(srwidgets.errors.InputError, match=words):
            w.save_figure(str(path))
    assert source.read_bytes() == before and not (tmp_path / "fig.txt").exists()
    w.export_path.value = str(source)  # the button shows the message instead of raising
    w.export_button.click()
    assert "would overwrite it" in w.error and source.read_bytes() == before


# ------------------------------------------------------------------------------------------------ legibility (issue 26)
def test_the_heat_fades_to_the_image_and_the_window_marker_leaves_it_visible(make, sent):
    """After a click on the SR image, the map panel's overlay is transparent where the map is 0 (the LR image
    shows untinted, not jet's blue), opaque (alpha) at the hottest pixel, and the window is outlined one LR pixel
    outside itself, so the heat in and at the edge of the window is not under the marker."""
    w = make()
    name = w.names[0]
    mouse(w.sr_view, "mouse_down", 120, 80)
    mouse(w.sr_view, "mouse_up", 121, 81)
    assert w.wait(30) and w.window == (12, 22, 16, 16)
    view = w.lr_views[name]
    overlay = view.sent["overlay"]
    m = _resample(np.asarray(w.result.map)[..., None], view.display_height, view.display_width)[..., 0]
    assert w.alpha == 0.8
    assert (overlay[m == 0][:, 3] == 0).all()                       # untouched image where nothing is attributed
    assert overlay[m == m.max()][:, 3].min() == round(0.8 * 255)   # the hottest pixel at alpha
    assert (np.diff(overlay[..., 3].ravel()[np.argsort(m.ravel())].astype(int)) >= 0).all()  # monotone in the map
    (x, y, bw, bh), = view.drawn["selection"]
    t, l, h, ww = (v / 4 * view.zoom for v in w.window)            # the window in display px
    assert x <= l - view.zoom and y <= t - view.zoom and x + bw >= l + ww + view.zoom and y + bh >= t + h + view.zoom
    w.alpha = 0.3                                                   # the Alpha slider: the hottest pixel's opacity
    assert view.sent["overlay"][m == m.max()][:, 3].min() == round(0.3 * 255)


def test_history_rounds_the_di_as_the_panel_label_does(make):
    w = make()
    for window in [(8, 8, 16), (20, 24, 16)]:
        w.window = window
        assert w.wait(30)
        label, value = w.history.options[0]
        di = w.di_labels[w.names[0]].value                          # "DI 0.52"
        assert tuple(value) == w.window and label.endswith(di), (label, di)
        assert di == f"DI {w.result.diffusion_index:.2f}"


def test_the_completeness_line_breaks_between_parts(make):
    """The completeness block wraps only between its parts (each in a nowrap span), never inside
    D(F(x)) − D(F(x′)). (The View buttons' width: test_view_buttons_are_wide_enough_for_their_names.)"""
    w = make(window=(8, 8, 16))
    assert w.wait(30)
    value = w.completeness_labels[w.names[0]].value
    spans = value.split("</span>")[:-1]
    assert len(spans) == 3 and all("<span class='srw-nowrap'>" in s for s in spans)
    assert any("D(F(x)) − D(F(x′)) = " in s for s in spans)
    assert ".srw-nowrap {white-space: nowrap;}" in w.css().value
