"""Canvas views the method widgets are built from (ipycanvas): an image on layered canvases, a window selector
driven by the mouse — and room for a scatter view (DDR).

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
    >>> chosen
    [(12, 12, 8, 8)]
"""
from __future__ import annotations

import math
import threading
from typing import Callable, Optional, Sequence, Tuple

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas

from .. import viz

__all__ = ["DRAW_LOCK", "CSS_TEXT", "as_rgba", "display_zoom", "resample", "ImageView", "WindowSelector"]

# ipycanvas keeps one global command batch (hold_canvas); drawing from the worker and the kernel thread at the
# same time would mix their batches, so every draw in srwidgets holds this lock.
DRAW_LOCK = threading.RLock()

# Canvases are drawn at integer zoom with nearest-neighbour pixels; this keeps them crisp should the browser
# rescale them anyway (narrow notebook column).
CSS_TEXT = (
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


