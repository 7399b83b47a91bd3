"""Canvas views the method widgets are built from (ipycanvas): an image on layered canvases, a window selector
driven by the mouse, a scatter plot of labelled points (DDR), a clickable curve chart (scores per layer) and a
clickable bar chart (counts per layer, FAIG).

Coordinates given to and returned by these classes are **image pixels** ``(row, col)``; the canvas shows them at
``zoom`` display pixels per image pixel. All drawing holds :data:`DRAW_LOCK` and batches with ``hold_canvas()``.

Example:
    >>> import torch
    >>> from srwidgets.widgets.canvas import ImageView, WindowSelector
    >>> view = ImageView(32, 32)                  # zoomed to 256 x 256 display pixels
    >>> _ = view.show("image", torch.rand(3, 32, 32))
    >>> chosen = []
    >>> selector = WindowSelector(view, chosen.append, size=8)
    >>> selector._down(128, 128); selector._up(128, 128)   # what a click at the centre sends
    >>> selector.select((0, 0, 8))                          # the same from code: (top, left, size), image px
    >>> chosen
    [(12, 12, 8, 8), (0, 0, 8, 8)]
"""
from __future__ import annotations

import math
import threading
from typing import Callable, Optional, Sequence, Tuple

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas

from .. import viz

__all__ = ["DRAW_LOCK", "CSS_TEXT", "PALETTE", "as_rgba", "display_zoom", "resample", "ImageView", "WindowSelector",
           "ScatterView", "CurveView", "BarView"]

# ipycanvas keeps one global command batch (hold_canvas); drawing from the worker and the kernel thread at the
# same time would mix their batches, so every draw in srwidgets holds this lock.
DRAW_LOCK = threading.RLock()

# Canvases are drawn at integer zoom with nearest-neighbour pixels; this keeps them crisp should the browser
# rescale them anyway (narrow notebook column).
CSS_TEXT = (
    "<style>.srw-canvas canvas, canvas.srw-canvas {image-rendering: pixelated;}"
    ".srw-error {color: #b00020; white-space: pre-wrap;}"
    # a formula in a wrapping line stays whole: the line breaks between its parts only
    ".srw-nowrap {white-space: nowrap;}</style>"
)


CHART_FONT_PX = 12
"""Text size of the canvas charts (axis names, ticks, step names): legible when a notebook is projected."""
CHART_FONT = f"{CHART_FONT_PX}px sans-serif"


def step_label_room(steps: Sequence[str], pitch: float) -> Tuple[bool, float]:
    """How a chart writes the names of its steps (layers) under columns ``pitch`` display px apart: ``(upright,
    height)``: upright when the longest name fits its column, else turned a quarter (reading upwards); ``height``
    is the room they need below the axis, display px."""
    longest = max((len(str(s)) for s in steps), default=1)
    width = 0.58 * CHART_FONT_PX * longest  # about 7 px a character at 12 px
    return (width <= pitch, CHART_FONT_PX + 4.0) if width <= pitch else (False, width + 6.0)


def _write_step_labels(layer, xs, steps: Sequence[str], base: float, upright: bool) -> None:
    """Each step's name under its column (``base``: the axis' display y)."""
    layer.text_align = "center" if upright else "right"
    for x, name in zip(xs, steps):
        if upright:
            layer.fill_text(str(name), float(x), base + CHART_FONT_PX + 2)
        else:
            layer.save()
            layer.translate(float(x) + CHART_FONT_PX / 3, base + 4)
            layer.rotate(-math.pi / 2)
            layer.fill_text(str(name), 0, 0)
            layer.restore()
    layer.text_align = "start"


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


def resample(rgba: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of ``[H, W, 4]`` (crisp pixels; exact repetition for integer zooms)."""
    h, w = rgba.shape[:2]
    if (h, w) == (out_h, out_w):
        return rgba
    return np.ascontiguousarray(rgba[_nearest(h, out_h)][:, _nearest(w, out_w)])


def _nearest(size: int, out: int) -> np.ndarray:
    """Source index of each of ``out`` display pixels sampling ``size`` image pixels (pixel centres)."""
    return np.minimum((np.arange(out) + 0.5) * size / out, size - 1).astype(np.intp)


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
                 max_size: int = 512, min_size: int = 256):
        self.height, self.width = int(height), int(width)
        self.zoom = float(zoom) if zoom else display_zoom(height, width, max_size=max_size, min_size=min_size)
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
        self.drawn = {name: [] for name in self.LAYERS}  # rectangles draw_boxes put there, display px
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
        rgba = resample(as_rgba(image), self.display_height, self.display_width)
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
        self.drawn[name] = []

    def draw_boxes(self, boxes: Sequence[Tuple[float, float, float, float]], color: str = "#39ff14",
                   name: str = "selection", dashed: bool = False, outside: float = 0.0) -> None:
        """Replace layer ``name`` with rectangles ``(top, left, height, width)`` in image pixels (floats allowed),
        each drawn ``outside`` display pixels outside its box (so the pixels in and at the edge of the box stay
        visible). ``drawn[name]``: the rectangles ``(x, y, width, height)`` in display pixels."""
        z = self.zoom
        self.drawn[name] = []
        with DRAW_LOCK, hold_canvas():
            layer = self.layer(name)
            layer.clear()
            for top, left, h, w in boxes:
                x, y = left * z - outside, top * z - outside
                bw, bh = w * z + 2 * outside, h * z + 2 * outside
                self.drawn[name].append((x, y, bw, bh))
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


def _finite(*values) -> bool:
    """Every value a finite number (a mouse event's coordinates)."""
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


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

    def select(self, window) -> None:
        """Choose ``window`` from code, as a finished drag would: ``(top, left, size)`` or ``(top, left, height,
        width)`` in **image** pixels of the view (kept as given: checking it is ``on_select``'s job); drops a drag
        in progress and calls ``on_select((top, left, height, width))``."""
        window = tuple(int(v) for v in window)
        if len(window) == 3:
            window = window + (window[2],)
        self._anchor = None
        self.on_select(window)

    def select_at(self, row: int, col: int) -> None:
        """What a click at image pixel ``(row, col)`` selects (:meth:`window_at`, snapped and kept inside)."""
        self._anchor = None
        self.select(self.window_at(int(row), int(col)))

    def _down(self, x, y):
        if not _finite(x, y):
            return  # a pointer event without a position (NaN / Inf): nothing to select
        self._anchor = self.view.to_image(x, y)
        self.view.draw_boxes([self.window_at(*self._anchor)], color=self.color, dashed=True)

    def _move(self, x, y):
        if self._anchor is not None and _finite(x, y):
            self.view.draw_boxes([self.window_at(*self.view.to_image(x, y))], color=self.color, dashed=True)

    def _up(self, x, y):
        if self._anchor is None or not _finite(x, y):
            return
        window = self.window_at(*self.view.to_image(x, y))
        self._anchor = None
        self.on_select(window)

    def _out(self, x, y):
        # Leaving the canvas mid-drag abandons the drag (the release would happen elsewhere and never arrive).
        if self._anchor is not None:
            self._anchor = None
            self.view.clear("selection")


# ----------------------------------------------------------------------------------------------------------- plots
PALETTE = viz.PALETTE
"""Colours of the labels and curves, in order: the very tuple the exported figures use (:data:`srwidgets.viz.PALETTE`,
matplotlib's tab10), so a widget and its figure agree by construction."""


class ScatterView:
    """Labelled 2-D points on a two-layer ``MultiCanvas`` (``points``, ``highlight``); hover and click pick the
    nearest point within ``pick_radius`` display pixels.

    ``set_points(xy, labels, axes=("PC 1", "PC 2"))`` takes ``xy`` ``[N, 2]`` in any units (fitted to the canvas
    with a margin, y up) and one label per point; each label gets a colour of :data:`PALETTE` in order of first
    appearance (``colors``, from :func:`srwidgets.viz.label_colors`, as the figures). A grey frame marks the plot
    area; ``axes`` names the horizontal and vertical axes (``axis_labels``; written in the bottom-right and
    top-left corners).
    Drawing is one batched ``fill_circles`` call per label, smooth for thousands of points. ``on_hover(i)`` /
    ``on_click(i)`` receive the point's index (``None`` when the pointer is over no point).
    """

    def __init__(self, width: int = 360, height: int = 360, radius: float = 3.0, pick_radius: float = 6.0,
                 on_hover: Optional[Callable] = None, on_click: Optional[Callable] = None):
        self.width, self.height, self.radius, self.pick_radius = int(width), int(height), float(radius), pick_radius
        self.on_hover, self.on_click = on_hover, on_click
        self.canvas = MultiCanvas(2, width=self.width, height=self.height,
                                  layout=widgets.Layout(width=f"{self.width}px", height=f"{self.height}px",
                                                        min_width=f"{self.width}px"))
        self.canvas.add_class("srw-scatter")
        self.display = np.zeros((0, 2))  # [N, 2] display coordinates (x right, y down) of the points drawn
        self.labels: list = []
        self.colors: dict = {}
        self.axis_labels: Tuple[str, str] = ("", "")
        self.hovered: Optional[int] = None
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_out(lambda x, y: self._hover(None))

    def set_points(self, xy, labels: Sequence, axes: Optional[Tuple[str, str]] = None) -> None:
        """Draw ``xy`` ``[N, 2]`` coloured by ``labels`` (length N) in a frame, the axes named ``axes``
        (``(horizontal, vertical)``, e.g. ``("t-SNE 1", "t-SNE 2")``; ``None`` keeps the last names); replaces
        what was shown."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if len(labels) != len(xy):
            raise ValueError(f"{len(xy)} points but {len(labels)} labels")
        if axes is not None:
            self.axis_labels = (str(axes[0]), str(axes[1]))
        self.labels = [str(label) for label in labels]
        self.colors = viz.label_colors(self.labels)
        self.display = self._fit(xy)
        labels_arr = np.asarray(self.labels, dtype=object)
        with DRAW_LOCK, hold_canvas():
            layer = self.canvas[0]
            layer.clear()
            layer.fill_style = "white"
            layer.fill_rect(0, 0, self.width, self.height)
            self._frame(layer)
            for label, color in self.colors.items():
                pts = self.display[labels_arr == label]
                layer.fill_style = color
                layer.fill_circles(pts[:, 0], pts[:, 1], self.radius)
            self.canvas[1].clear()
        self.hovered = None

    def _frame(self, layer) -> None:
        """The plot area's frame and the axis names: the horizontal one bottom-right, the vertical one top-left,
        inside the margin the points keep free (call under ``DRAW_LOCK`` and ``hold_canvas``)."""
        layer.stroke_style = "#999"
        layer.line_width = 1
        layer.set_line_dash([])
        layer.stroke_rect(0.5, 0.5, self.width - 1, self.height - 1)
        x_name, y_name = self.axis_labels
        layer.fill_style = "#666"
        layer.font = CHART_FONT
        if x_name:
            layer.text_align = "right"
            layer.fill_text(f"{x_name} \u2192", self.width - 4, self.height - 3)
        if y_name:
            layer.text_align = "left"
            layer.fill_text(f"\u2191 {y_name}", 4, 11)
        layer.text_align = "left"

    def _fit(self, xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return xy
        margin = 4 * self.radius
        lo, hi = xy.min(0), xy.max(0)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        unit = (xy - lo) / span
        x = margin + unit[:, 0] * (self.width - 2 * margin)
        y = self.height - margin - unit[:, 1] * (self.height - 2 * margin)  # y up, as in a figure
        return np.stack([x, y], 1)

    def point_at(self, x: float, y: float) -> Optional[int]:
        """Index of the point nearest to display position ``(x, y)`` within ``pick_radius``, else ``None``."""
        if len(self.display) == 0:
            return None
        d2 = ((self.display - np.array([x, y])) ** 2).sum(1)
        i = int(np.argmin(d2))
        return i if d2[i] <= self.pick_radius ** 2 else None

    def highlight(self, i: Optional[int]) -> None:
        """Ring point ``i`` (``None`` clears)."""
        with DRAW_LOCK, hold_canvas():
            layer = self.canvas[1]
            layer.clear()
            if i is not None:
                layer.line_width = 2
                layer.stroke_style = "black"
                layer.stroke_circle(float(self.display[i, 0]), float(self.display[i, 1]), self.radius + 3)

    def _hover(self, i):
        if i != self.hovered:
            self.hovered = i
            self.highlight(i)
            if self.on_hover is not None:
                self.on_hover(i)

    def _move(self, x, y):
        self._hover(self.point_at(x, y))

    def _down(self, x, y):
        i = self.point_at(x, y)
        if i is not None and self.on_click is not None:
            self.on_click(i)


class CurveView:
    """Curves over named steps (e.g. a score per layer, shallow to deep) on a canvas; a click picks the nearest
    step. ``set_curves({name: [value per step]}, steps)`` draws one polyline per name (log scale with
    ``log=True``); ``select(k)`` marks step ``k``; ``on_select(k)`` runs on a click."""

    def __init__(self, width: int = 360, height: int = 220, on_select: Optional[Callable] = None, log: bool = True):
        self.width, self.height, self.on_select, self.log = int(width), int(height), on_select, log
        self.canvas = MultiCanvas(2, width=self.width, height=self.height,
                                  layout=widgets.Layout(width=f"{self.width}px", height=f"{self.height}px",
                                                        min_width=f"{self.width}px"))
        self.canvas.add_class("srw-curves")
        self.steps: list = []
        self.xs = np.zeros(0)
        self.selected: Optional[int] = None
        self.canvas.on_mouse_down(self._down)

    def set_curves(self, curves: dict, steps: Sequence[str]) -> None:
        self.steps = list(steps)
        n = len(self.steps)
        left, right, top, bottom = 44.0, 10.0, 10.0, 36.0
        pitch = (self.width - left - right) / max(n, 1)
        self.xs = left + (np.arange(n) + 0.5) * pitch
        named = step_label_room(self.steps, pitch)[0]  # the layers' names fit under their columns
        values = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()] or [np.zeros(0)])
        tf = (lambda v: np.log10(np.maximum(v, 1e-12))) if self.log else (lambda v: v)
        lo, hi = (float(tf(finite).min()), float(tf(finite).max())) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0

        def y_of(v):
            return top + (1 - (tf(v) - lo) / (hi - lo)) * (self.height - top - bottom)

        with DRAW_LOCK, hold_canvas():
            layer = self._axes((f"{10 ** hi if self.log else hi:.3g}", top + 8),
                               (f"{10 ** lo if self.log else lo:.3g}", self.height - bottom))
            if named:
                _write_step_labels(layer, self.xs, self.steps, self.height - bottom, upright=True)
            for k, x in enumerate(self.xs if not named else ()):
                if n <= 12 or k % max(1, n // 12) == 0:
                    layer.fill_text(str(k), float(x) - 3, self.height - bottom + 14)
            for j, (name, v) in enumerate(values.items()):
                color = PALETTE[j % len(PALETTE)]
                ok = np.isfinite(v)
                layer.stroke_style = color
                layer.fill_style = color
                layer.line_width = 2
                if ok.sum() > 1:
                    layer.stroke_lines(np.stack([self.xs[ok], y_of(v[ok])], 1))
                layer.fill_circles(self.xs[ok], y_of(v[ok]), 3)
                layer.fill_text(name, left + 4 + 130 * j, self.height - 4)
        self.select(self.selected if self.selected is not None and self.selected < n else None)

    def _axes(self, *labels):
        """Clear the chart layer to white and write the value labels ``(text, y)`` at its left edge; returns the
        layer, its text colour and font set for tick labels (call under ``DRAW_LOCK`` and ``hold_canvas``)."""
        layer = self.canvas[0]
        layer.clear()
        layer.fill_style = "white"
        layer.fill_rect(0, 0, self.width, self.height)
        layer.fill_style = "#444"
        layer.font = CHART_FONT
        for text, y in labels:
            layer.fill_text(text, 2, y)
        return layer

    def step_at(self, x: float) -> Optional[int]:
        """The step whose column holds display x, or ``None`` without steps."""
        if len(self.xs) == 0:
            return None
        return int(np.argmin(np.abs(self.xs - x)))

    def select(self, k: Optional[int]) -> None:
        self.selected = k
        with DRAW_LOCK, hold_canvas():
            layer = self.canvas[1]
            layer.clear()
            if k is not None:
                layer.stroke_style = "#999"
                layer.line_width = 1
                layer.set_line_dash([4, 3])
                layer.stroke_line(float(self.xs[k]), 0, float(self.xs[k]), self.height - 20)

    def _down(self, x, y):
        k = self.step_at(x)
        if k is not None:
            self.select(k)
            if self.on_select is not None:
                self.on_select(k)


class BarView(CurveView):
    """Bars over named steps (e.g. a count per layer, shallow to deep), linear from 0; a click picks the nearest
    bar (``on_select(k)``), hovering reports it (``on_hover(k)``, ``None`` off the bars). ``set_bars([value per
    step], steps)`` draws; ``select(k)`` marks bar ``k`` as :class:`CurveView` does."""

    def __init__(self, width: int = 360, height: int = 140, on_select: Optional[Callable] = None,
                 on_hover: Optional[Callable] = None, color: str = PALETTE[0]):
        super().__init__(width, height, on_select=on_select, log=False)
        self.canvas.add_class("srw-bars")
        self.on_hover, self.color = on_hover, color
        self.values = np.zeros(0)
        self.hovered: Optional[int] = None
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_out(lambda x, y: self._hover(None))

    def set_bars(self, values: Sequence[float], steps: Sequence[str]) -> None:
        self.steps = list(steps)
        self.values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(self.values) != len(self.steps):
            raise ValueError(f"{len(self.values)} values but {len(self.steps)} steps")
        n = len(self.steps)
        left, right, top = 34.0, 6.0, 10.0
        pitch = (self.width - left - right) / max(n, 1)
        upright, bottom = step_label_room(self.steps, pitch)  # each bar named by its layer, never by an index
        bottom = min(bottom, 0.6 * self.height)
        self.xs = left + (np.arange(n) + 0.5) * pitch
        finite = self.values[np.isfinite(self.values)]
        hi = max(float(finite.max()) if finite.size else 0.0, 1e-12)
        base = self.height - bottom
        heights = np.clip(np.nan_to_num(self.values) / hi, 0.0, 1.0) * (base - top)
        with DRAW_LOCK, hold_canvas():
            layer = self._axes((f"{hi:.3g}", top + 8), ("0", base))
            _write_step_labels(layer, self.xs, self.steps, base, upright)
            layer.stroke_style = "#999"
            layer.line_width = 1
            layer.stroke_line(left, base, self.width - right, base)
            if n:
                layer.fill_style = self.color
                layer.fill_rects(self.xs - 0.4 * pitch, base - heights, 0.8 * pitch, heights)
        self.select(self.selected if self.selected is not None and self.selected < n else None)

    def _hover(self, k: Optional[int]) -> None:
        if k != self.hovered:
            self.hovered = k
            if self.on_hover is not None:
                self.on_hover(k)

    def _move(self, x, y):
        self._hover(self.step_at(x))
