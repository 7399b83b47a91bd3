"""What the LAM, DDR and FAIG widgets share: image canvases with window selection, a worker thread that runs an
engine with cancel / supersede / throttled progress / error capture, and the status row (progress bar, Cancel, Run,
error message, figure export).

A method widget subclasses :class:`EngineWidget`, builds its controls and :class:`ImageView` s, and starts engine
calls with :meth:`EngineWidget.start` (``work(job)`` runs on the worker thread). No numerics live here: the
engines compute, :mod:`srwidgets.viz` turns results into colours and figures.

Threading: engines run on a daemon worker thread, one job at a time (a new job waits until the superseded one has
stopped, which takes at most one engine chunk). Everything a job shows goes through :meth:`Job.deliver`, which runs
it only while the job is still the current one, so a stale job can never overwrite a newer result. All canvas
drawing takes one module-wide lock because ipycanvas batches commands in a single global manager
(``hold_canvas()``), which two threads drawing at once would interleave.
"""
from __future__ import annotations

import atexit
import html
import math
import threading
import time
import traceback
import weakref
from collections import OrderedDict
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np
import ipywidgets as widgets
from ipycanvas import MultiCanvas, hold_canvas
from traitlets import Bool, Float, Unicode, observe

from .. import viz
from ..errors import Cancelled, InputError
from ..progress import CancelToken

__all__ = ["as_rgba", "display_zoom", "named_models", "ImageView", "WindowSelector", "Job", "Runner", "EngineWidget"]

# ipycanvas keeps one global command batch (hold_canvas); drawing from the worker and the kernel thread at the
# same time would mix their batches, so every draw in srwidgets holds this lock.
DRAW_LOCK = threading.RLock()

# Canvases are drawn at integer zoom with nearest-neighbour pixels; this keeps them crisp should the browser
# rescale them anyway (narrow notebook column).
_CSS_TEXT = (
    "<style>.srw-canvas canvas, canvas.srw-canvas {image-rendering: pixelated;}"
    ".srw-error {color: #b00020; white-space: pre-wrap;}</style>"
)


# ----------------------------------------------------------------------------------------------------------- images
def as_rgba(image) -> np.ndarray:
    """An image as ``uint8 [H, W, 4]`` for a canvas.

    ``image``: torch ``[3, H, W]`` / ``[1, 3, H, W]`` or numpy ``[H, W, 3|4]``, float in ``[0, 1]`` (clipped) or
    uint8. RGBA travels losslessly (ipycanvas sends RGB as JPEG).
    """
    arr = viz.to_hwc(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[2] == 3:
        arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return np.ascontiguousarray(arr)


def display_zoom(height: int, width: int, max_size: int = 512, min_size: int = 256) -> float:
    """Display pixels per image pixel: the smallest integer zoom that brings the longer side to ``min_size``
    (without passing ``max_size``), or a fraction that fits a large image into ``max_size``."""
    longest = max(int(height), int(width), 1)
    if longest > max_size:
        return max_size / longest
    return float(max(1, min(max_size // longest, math.ceil(min_size / longest))))


def _resample(rgba: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of ``[H, W, 4]`` (crisp pixels; exact repetition for integer zooms)."""
    h, w = rgba.shape[:2]
    if (h, w) == (out_h, out_w):
        return rgba
    return np.ascontiguousarray(rgba[_nearest(h, out_h)][:, _nearest(w, out_w)])


def _nearest(size: int, out: int) -> np.ndarray:
    """Source index of each of ``out`` display pixels sampling ``size`` image pixels (pixel centres)."""
    return np.minimum((np.arange(out) + 0.5) * size / out, size - 1).astype(np.intp)


# ---------------------------------------------------------------------------------------------------------- models
def named_models(model_or_models) -> "OrderedDict[str, Any]":
    """``{name: model}`` from one model, a list or a dict; strings are zoo names."""
    if isinstance(model_or_models, Mapping):
        items = [(str(k), v) for k, v in model_or_models.items()]
    elif isinstance(model_or_models, (list, tuple)):
        items = [(None, m) for m in model_or_models]
    else:
        items = [(None, model_or_models)]
    if not items:
        raise InputError("give at least one model (an nn.Module, a zoo name, a list or a dict name -> model)")
    out: "OrderedDict[str, Any]" = OrderedDict()
    for name, model in items:
        if isinstance(model, str):
            from .. import zoo

            name = name or model
            model = zoo.load(model)
        base = name or getattr(model, "zoo_name", None) or getattr(model, "arch", None) or type(model).__name__
        name, k = base, 2
        while name in out:
            name, k = f"{base} #{k}", k + 1
        out[name] = model
    return out


# ---------------------------------------------------------------------------------------------------------- canvas
class ImageView:
    """One image on a three-layer ``MultiCanvas`` (``image``, ``overlay``, ``selection``), crisp pixels.

    Coordinates given to and returned by this class are **image pixels** ``(row, col)`` of an image of
    ``height x width``; ``zoom`` display pixels per image pixel (see :func:`display_zoom`).
    ``sent[layer]`` keeps the last ``uint8 [dh, dw, 4]`` array put on a layer (``None`` once cleared): it is
    exactly what went to the browser, for tests and exports.
    """

    LAYERS = ("image", "overlay", "selection")

    def __init__(self, height: int, width: int, zoom: Optional[float] = None, css_class: Optional[str] = None,
                 max_size: int = 512):
        self.height, self.width = int(height), int(width)
        self.zoom = float(zoom) if zoom else display_zoom(height, width, max_size=max_size)
        self.display_height = max(1, int(round(self.height * self.zoom)))
        self.display_width = max(1, int(round(self.width * self.zoom)))
        self.canvas = MultiCanvas(
            len(self.LAYERS), width=self.display_width, height=self.display_height,
            layout=widgets.Layout(width=f"{self.display_width}px", height=f"{self.display_height}px",
                                  min_width=f"{self.display_width}px"),
        )
        self.canvas.add_class("srw-canvas")
        if css_class:
            self.canvas.add_class(css_class)
        self.sent = {name: None for name in self.LAYERS}
        with DRAW_LOCK, hold_canvas():
            for layer in self.canvas._canvases:
                layer.image_smoothing_enabled = False

    def layer(self, name: str):
        """The ``Canvas`` of a layer by name (``"image"``, ``"overlay"``, ``"selection"``)."""
        return self.canvas[self.LAYERS.index(name)]

    def show(self, name: str, image) -> np.ndarray:
        """Put ``image`` (anything :func:`as_rgba` takes, at image resolution or any size; stretched to the view)
        on layer ``name``; returns the display-size array that was sent."""
        if hasattr(image, "detach") and image.dim() == 3 and image.shape[1] > 2 * self.display_height:
            # a large tensor: pick the displayed pixels before converting the whole image
            rows = _nearest(image.shape[1], self.display_height)
            cols = _nearest(image.shape[2], self.display_width)
            image = image.detach()[:, rows][:, :, cols]
        rgba = _resample(as_rgba(image), self.display_height, self.display_width)
        with DRAW_LOCK, hold_canvas():
            layer = self.layer(name)
            layer.clear()
            layer.put_image_data(rgba, 0, 0)
        self.sent[name] = rgba
        return rgba

    def clear(self, name: str) -> None:
        with DRAW_LOCK, hold_canvas():
            self.layer(name).clear()
        self.sent[name] = None

    def draw_boxes(self, boxes: Sequence[Tuple[float, float, float, float]], color: str = "#39ff14",
                   name: str = "selection", dashed: bool = False) -> None:
        """Replace layer ``name`` with rectangles ``(top, left, height, width)`` in image pixels (floats allowed)."""
        z = self.zoom
        with DRAW_LOCK, hold_canvas():
            layer = self.layer(name)
            layer.clear()
            for top, left, h, w in boxes:
                x, y, bw, bh = left * z, top * z, w * z, h * z
                layer.set_line_dash([6, 4] if dashed else [])
                layer.line_width = 3
                layer.stroke_style = "black"
                layer.stroke_rect(x, y, bw, bh)
                layer.line_width = 1.5
                layer.stroke_style = color
                layer.stroke_rect(x, y, bw, bh)
        self.sent[name] = None

    def to_image(self, x: float, y: float) -> Tuple[int, int]:
        """Display coordinates (what ipycanvas mouse events carry) -> image pixel ``(row, col)``, clamped."""
        row = min(max(int(y // self.zoom), 0), self.height - 1)
        col = min(max(int(x // self.zoom), 0), self.width - 1)
        return row, col


class WindowSelector:
    """Press-drag-release on an :class:`ImageView` chooses a window ``(top, left, height, width)`` in image pixels.

    Snap mode (``free=False``): a ``size x size`` square centred on the pointer (kept inside the image), so a
    plain click selects too. Free mode: the rectangle spanned by the press and release pixels (inclusive).
    ``on_select(window)`` runs on release; the preview is drawn dashed while dragging.
    """

    def __init__(self, view: ImageView, on_select: Callable[[tuple], None], size: int = 16, free: bool = False,
                 color: str = "#ffd400"):
        self.view, self.on_select, self.size, self.free, self.color = view, on_select, int(size), bool(free), color
        self._anchor: Optional[Tuple[int, int]] = None
        view.canvas.on_mouse_down(self._down)
        view.canvas.on_mouse_move(self._move)
        view.canvas.on_mouse_up(self._up)
        view.canvas.on_mouse_out(self._out)

    def window_at(self, row: int, col: int) -> tuple:
        """The window the pointer at image pixel ``(row, col)`` would select now."""
        if self.free and self._anchor is not None:
            r0, c0 = self._anchor
            return (min(r0, row), min(c0, col), abs(row - r0) + 1, abs(col - c0) + 1)
        s = self.size
        top = row - s // 2
        left = col - s // 2
        if s <= self.view.height:
            top = min(max(top, 0), self.view.height - s)
        if s <= self.view.width:
            left = min(max(left, 0), self.view.width - s)
        return (top, left, s, s)

    def _down(self, x, y):
        self._anchor = self.view.to_image(x, y)
        self.view.draw_boxes([self.window_at(*self._anchor)], color=self.color, dashed=True)

    def _move(self, x, y):
        if self._anchor is not None:
            self.view.draw_boxes([self.window_at(*self.view.to_image(x, y))], color=self.color, dashed=True)

    def _up(self, x, y):
        if self._anchor is None:
            return
        window = self.window_at(*self.view.to_image(x, y))
        self._anchor = None
        self.on_select(window)

    def _out(self, x, y):
        # Leaving the canvas mid-drag abandons the drag (the release would happen elsewhere and never arrive).
        if self._anchor is not None:
            self._anchor = None
            self.view.clear("selection")


# ---------------------------------------------------------------------------------------------------------- worker
class Job:
    """One engine run on the worker thread. ``work(job)`` receives it and uses ``job.token`` (pass it to the
    engine as ``cancel``), ``job.report(...)`` for progress and ``job.deliver(fn, ...)`` to show results."""

    def __init__(self, runner: "Runner", generation: int, label: str):
        self.runner, self.generation, self.label = runner, generation, label
        self.token = CancelToken()
        self.finished = threading.Event()
        self.done = 0
        self.total = 0
        self.thread: Optional[threading.Thread] = None
        self._last_partial = -math.inf

    @property
    def current(self) -> bool:
        """False once a newer job (or a cached display) superseded this one."""
        return self.runner._current is self

    def deliver(self, fn: Callable, *args, **kwargs) -> bool:
        """Run ``fn(*args, **kwargs)`` (on this thread) only if this job is still current; True if it ran.
        Holding the runner's lock means no newer job can start being shown half-way through."""
        with self.runner._lock:
            if not self.current:
                return False
            fn(*args, **kwargs)
            return True

    def report(self, done: int, total: int, partial: Optional[Callable[[], None]] = None) -> None:
        """Progress ``done`` of ``total``: the bar moves on every call (cheap); ``partial()`` (e.g. repaint a
        refining heatmap) runs at most every ``runner.throttle`` seconds."""
        self.done, self.total = int(done), int(total)
        now = time.monotonic()
        paint = partial is not None and now - self._last_partial >= self.runner.throttle

        def show():
            self.runner._on_progress(self.done, self.total, self.label)
            if paint:
                partial()

        if self.deliver(show) and paint:
            self._last_partial = time.monotonic()


_RUNNERS: "weakref.WeakSet[Runner]" = weakref.WeakSet()


@atexit.register
def _stop_workers_at_exit() -> None:
    # A daemon thread still inside a torch op when the interpreter exits aborts the process ("terminate called
    # without an active exception"): cancel every job and give the threads a moment to leave torch.
    jobs = [j for r in list(_RUNNERS) for j in (r._current, r._last) if j is not None]
    for job in jobs:
        job.token.cancel()
    deadline = time.monotonic() + 10.0
    for job in jobs:
        if job.thread is not None and job.thread.is_alive():
            job.thread.join(max(0.0, deadline - time.monotonic()))


class Runner:
    """Runs one job at a time on daemon worker threads; a new job supersedes (cancels) the running one.

    Callbacks run on the worker thread and only for the current job: ``on_busy(bool)``,
    ``on_progress(done, total, label)``, ``on_error(message, traceback_or_None)``, ``on_cancelled(job)``.
    :class:`InputError` gives its own message; other exceptions give ``"TypeName: message"`` plus the traceback.
    """

    def __init__(self, on_busy, on_progress, on_error, on_cancelled, throttle: float = 0.25):
        self._on_busy, self._on_progress, self._on_error, self._on_cancelled = on_busy, on_progress, on_error, on_cancelled
        self.throttle = throttle
        self._lock = threading.RLock()
        self._generation = 0
        self._current: Optional[Job] = None  # the job whose output may still be shown
        self._last: Optional[Job] = None     # the last job started (a new one waits for it to stop)
        _RUNNERS.add(self)

    @property
    def busy(self) -> bool:
        job = self._current
        return job is not None and not job.finished.is_set()

    def submit(self, work: Callable[[Job], None], label: str = "") -> Job:
        with self._lock:
            self._generation += 1
            job = Job(self, self._generation, label)
            previous, self._last, self._current = self._last, job, job
            if previous is not None:
                previous.token.cancel()
            self._on_busy(True)
        thread = threading.Thread(target=self._run, args=(job, previous, work), daemon=True,
                                  name=f"srwidgets-{label or 'job'}-{job.generation}")
        job.thread = thread
        thread.start()
        return job

    def supersede(self) -> None:
        """Drop the running job's output without starting a new one (e.g. a cached result is shown instead)."""
        with self._lock:
            self._generation += 1
            if self._current is not None:
                self._current.token.cancel()
                self._current = None
                self._on_busy(False)

    def cancel(self) -> bool:
        """Ask the current job to stop (within one engine chunk); it reports through ``on_cancelled``."""
        job = self._current
        if job is None or job.finished.is_set():
            return False
        job.token.cancel()
        return True

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the current job (and any job that supersedes it meanwhile) has ended; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._current
            if job is None:
                return True
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.finished.wait(remaining):
                return False
            if self._current is job or self._current is None:
                return True

    def _run(self, job: Job, previous: Optional[Job], work) -> None:
        try:
            if previous is not None:
                previous.finished.wait()  # one engine at a time: the superseded job stops within a chunk
            try:
                job.token.raise_if_cancelled()
                work(job)
            except Cancelled:
                job.deliver(self._on_cancelled, job)
            except InputError as exc:
                job.deliver(self._on_error, str(exc), None)
            except Exception as exc:  # shown in the widget; the widget keeps working
                job.deliver(self._on_error, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        except Exception:  # a failing callback must not leave the job unfinished
            traceback.print_exc()
        finally:
            try:
                job.deliver(self._on_busy, False)
            finally:
                job.finished.set()


# ---------------------------------------------------------------------------------------------------------- widget
class EngineWidget(widgets.VBox):
    """Base of the method widgets: worker runner, progress bar, Cancel / Run buttons, status line, error area and
    a figure-export row. Subclasses build their views and controls, set ``children`` (using :meth:`status_row`,
    ``error_html`` and :meth:`export_row`), and implement :meth:`rerun` and :meth:`save_figure`.

    Traitlets: ``busy`` (a job is running), ``progress`` (``[0, 1]``), ``status`` (one line), ``error`` (the last
    error's message, ``""`` when none).
    """

    busy = Bool(False, help="an engine job is running").tag(sync=False)
    progress = Float(0.0, help="progress of the running job in [0, 1]").tag(sync=False)
    status = Unicode("", help="one line about what the widget is doing").tag(sync=False)
    error = Unicode("", help="last error message ('' when none)").tag(sync=False)

    default_figure_path = "figure.png"
    cache_size = 64

    def __repr__(self) -> str:
        # Short and stable (notebook outputs are compared by nbval; the default lists every child widget's state).
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        """What ``repr`` shows between the parentheses; subclasses name their models and inputs."""
        return ""

    def __init__(self, throttle: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.last_traceback: Optional[str] = None
        self.cache: "OrderedDict[Any, Any]" = OrderedDict()  # finished results by the subclass's key, LRU
        self._cache_lock = threading.Lock()
        self._runner = Runner(self._set_busy, self._set_progress, self._set_error, self._cancelled, throttle=throttle)
        self.progress_bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="",
                                                  layout=widgets.Layout(width="220px"))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="90px"), tooltip="stop the running job")
        self.run_button = widgets.Button(description="Run", icon="play", layout=widgets.Layout(width="80px"),
                                         tooltip="attribute the current selection again")
        self.status_label = widgets.Label("")
        self.error_html = widgets.HTML("")
        self.error_html.add_class("srw-error")
        self.export_path = widgets.Text(value=self.default_figure_path, description="Figure:",
                                        layout=widgets.Layout(width="320px"))
        self.export_button = widgets.Button(description="Save figure", icon="download",
                                            tooltip="write a publication-ready PNG (matplotlib)")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.run_button.on_click(lambda _: self.rerun())
        self.export_button.on_click(self._export_clicked)
        self.add_class("srw-widget")

    # -- layout pieces for subclasses
    def status_row(self) -> widgets.Widget:
        return widgets.HBox([self.progress_bar, self.cancel_button, self.run_button, self.status_label],
                            layout=widgets.Layout(align_items="center"))

    def export_row(self) -> widgets.Widget:
        return widgets.HBox([self.export_path, self.export_button])

    def css(self) -> widgets.Widget:
        """An invisible HTML widget carrying the stylesheet (crisp canvas pixels, red errors)."""
        return widgets.HTML(_CSS_TEXT, layout=widgets.Layout(display="none"))

    # -- public API
    def cancel(self) -> bool:
        """Stop the running job (it ends within one engine chunk; the last finished result is kept)."""
        asked = self._runner.cancel()
        if asked:
            self.status = "cancelling..."
        return asked

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the running job has ended (also one that supersedes it meanwhile). Returns False on
        timeout. Useful in scripts and tests: ``widget.window = (8, 8, 16); widget.wait(); widget.result``."""
        return self._runner.wait(timeout)

    def rerun(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def save_figure(self, path: str):  # pragma: no cover - subclasses
        raise NotImplementedError

    # -- for subclasses
    def start(self, work: Callable[[Job], None], label: str = "") -> Job:
        """Run ``work(job)`` on the worker thread, superseding the running job; clears the error."""
        self.error = ""
        self.last_traceback = None
        self.progress = 0.0
        if label:
            self.status = label
        return self._runner.submit(work, label=label)

    def supersede(self) -> None:
        """Drop the running job's output (when showing something that needs no job, e.g. a cached result)."""
        self._runner.supersede()

    def cache_put(self, key, value) -> None:
        """Keep a finished result (any thread; least recently used beyond ``cache_size`` are dropped)."""
        with self._cache_lock:
            self.cache[key] = value
            self.cache.move_to_end(key)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)

    def cache_get(self, key, default=None):
        """A kept result or ``default`` (any thread)."""
        with self._cache_lock:
            if key not in self.cache:
                return default
            self.cache.move_to_end(key)
            return self.cache[key]

    def show_error(self, message: str, tb: Optional[str] = None) -> None:
        self._set_error(message, tb)

    # -- runner callbacks (worker thread, current job only)
    def _set_busy(self, busy: bool) -> None:
        self.busy = busy

    def _set_progress(self, done: int, total: int, label: str) -> None:
        self.progress = done / total if total else 1.0
        self.status = f"{label} {done}/{total}".strip()

    def _set_error(self, message: str, tb: Optional[str]) -> None:
        self.last_traceback = tb
        self.error = message or "unknown error"
        self.status = "failed"

    def _cancelled(self, job: Job) -> None:
        where = f" after {job.done}/{job.total}" if job.total else ""
        self.status = f"cancelled{where}: press Run to start again"

    def _export_clicked(self, _=None) -> None:
        path = self.export_path.value.strip() or self.default_figure_path
        try:
            self.save_figure(path)
        except InputError as exc:
            self.show_error(str(exc))
        except Exception as exc:
            self.show_error(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.error = ""
            self.status = f"saved {path}"

    # -- traitlet -> view
    @observe("busy")
    def _busy_changed(self, change) -> None:
        self.cancel_button.disabled = not change["new"]

    @observe("progress")
    def _progress_changed(self, change) -> None:
        self.progress_bar.value = float(change["new"])

    @observe("status")
    def _status_changed(self, change) -> None:
        self.status_label.value = change["new"]

    @observe("error")
    def _error_changed(self, change) -> None:
        msg = change["new"]
        self.error_html.value = f"<b>Error:</b> {html.escape(msg)}" if msg else ""
