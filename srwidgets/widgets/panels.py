"""The window panels every window-attribution widget is built from: the SR image with a window selector
(:class:`WindowPanel`), one LR map panel per result shown (:class:`MapPanel`) and the grid of those panels, one per
model × method (:class:`PanelGrid`).

Coordinates: a window is ``(top, left, height, width)`` in **SR** pixels; the map panels show the LR input, on
which the window is drawn at ``1 / scale`` (fractional LR pixels). Maps arrive as RGBA overlays already coloured
(:mod:`srwidgets.viz`); nothing here computes.

    >>> import torch
    >>> from srwidgets.widgets.panels import MapPanel, WindowPanel
    >>> lr = torch.rand(3, 16, 16)
    >>> chosen = []
    >>> sr = WindowPanel(lr, scale=4, on_select=chosen.append, title="<b>SR</b>")
    >>> maps = [MapPanel(lr, "<b>a: lam</b>")]
    >>> sr.selector.select((8, 8, 16)); chosen               # what a finished drag sends, SR px
    [(8, 8, 16, 16)]
    >>> sr.draw_window((8, 8, 16, 16), maps)                  # on the SR canvas and, /4, on every map panel
    >>> grid = PanelGrid(lr, ["a", "b"], full_zoom=sr.sr_view.zoom * 4)
    >>> [p.title.value for p in grid.layout(["lam", "ig"])]  # models x methods, side-by-side size
    ['<b>a: lam</b>', '<b>a: ig</b>', '<b>b: lam</b>', '<b>b: ig</b>']
"""
from __future__ import annotations

import html
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import ipywidgets as widgets

from .canvas import ImageView, WindowSelector

__all__ = ["WindowPanel", "MapPanel", "PanelGrid"]


class WindowPanel:
    """The SR image (the LR input stretched until :meth:`show_sr`), a :class:`WindowSelector` on it and a title.

    Args:
        image: the LR input ``[3, h, w]`` (shown ×``scale`` until the SR output is known).
        scale: the SR factor; the canvas is ``scale·h × scale·w`` SR pixels at ``sr_view.zoom`` display px each.
        on_select: ``on_select(window)`` with ``(top, left, height, width)`` SR px when a drag or click ends.
        title: HTML above the canvas. size, free: the selector's square side (SR px) and free-rectangle mode.
    """

    def __init__(self, image, scale: int, on_select: Callable[[tuple], None], title: str = "",
                 size: int = 16, free: bool = False, max_display: int = 512):
        _, h, w = image.shape
        self.scale = int(scale)
        self.sr_view = ImageView(h * self.scale, w * self.scale, max_size=max_display, css_class="srw-sr-canvas")
        self.sr_view.layer("selection").add_class("srw-sr-canvas")
        self.sr_view.show("image", image)
        self.selector = WindowSelector(self.sr_view, on_select, size=size, free=free)
        self.title = widgets.HTML(title)
        self.box = widgets.VBox([self.title, self.sr_view.canvas])
        self.sr_shown = False

    def show_sr(self, sr) -> None:
        """Put the SR output ``[3, s·h, s·w]`` on the canvas."""
        self.sr_view.show("image", sr)
        self.sr_shown = True

    def draw_window(self, window, panels: Iterable["MapPanel"] = ()) -> None:
        """Draw ``window`` (SR px; ``()`` clears) on the SR canvas and, in LR px, on every panel of ``panels``."""
        views = [p.view for p in panels]
        if not window:
            self.sr_view.clear("selection")
            for view in views:
                view.clear("selection")
            return
        t, l, h, w = window
        s = self.scale
        self.sr_view.draw_boxes([(t, l, h, w)])
        for view in views:  # one LR pixel outside the window: the map's hot pixels sit in and next to it
            view.draw_boxes([(t / s, l / s, h / s, w / s)], outside=max(3.0, view.zoom))


class MapPanel:
    """One result's panel: a title, the LR input with the map's overlay, a DI / Gini line and a completeness block.

    ``map`` / ``final`` / ``result``: the map ``[h, w]`` (LR px, in [0, 1]) now painted, whether it is a finished
    result's, and that result (``None`` while refining or empty). The widget colours (``paint(rgba)``, an
    ``h × w × 4`` uint8 overlay on the LR grid, or ``None`` to clear it).
    """

    def __init__(self, image, title: str, zoom: Optional[float] = None, max_size: int = 512):
        _, h, w = image.shape
        self.view = ImageView(h, w, zoom=zoom, max_size=max_size, css_class="srw-lr-canvas")
        self.view.layer("overlay").add_class("srw-lr-canvas")
        self.view.show("image", image)
        self.di, self.gini = widgets.Label("DI -"), widgets.Label("Gini -")
        self.di.add_class("srw-di")
        self.gini.add_class("srw-gini")
        # HTML, not Label: a Label never wraps (ipywidgets 8: nowrap, cut with an ellipsis), so side by side the
        # panels' lines ran into each other; this block wraps at its panel's width, a gap before the next one.
        self.completeness = widgets.HTML("", layout=widgets.Layout(width=f"{max(self.view.display_width, 160)}px",
                                                                   margin="0 12px 4px 0"))
        self.completeness.add_class("srw-completeness")
        self.title = widgets.HTML(title)
        self.box = widgets.VBox([self.title, self.view.canvas, widgets.HBox([self.di, self.gini]), self.completeness],
                                layout=widgets.Layout(margin="0 16px 8px 0"))
        self.box.add_class("srw-lam-panel")
        self.map, self.final, self.result = None, False, None

    def paint(self, rgba) -> None:
        if rgba is None:
            self.view.clear("overlay")
        else:
            self.view.show("overlay", rgba)

    def set_map(self, map2d, result=None) -> None:
        """Remember the map shown: a finished ``result``'s (its ``.map``), or a refining one (``result=None``)."""
        self.map, self.final, self.result = map2d, result is not None, result

    def refining(self) -> None:
        self.di.value, self.gini.value = "DI ...", "Gini ..."

    def show_numbers(self, result, completeness: str = "") -> None:
        """DI, Gini and the completeness line (text, ``""`` for none) of a finished result."""
        self.di.value = f"DI {result.diffusion_index:.2f}"
        self.gini.value = f"Gini {result.gini:.3f}"
        # the line breaks between its parts (separated by two spaces), never inside "D(F(x)) − D(F(x′)) = ..."
        parts = [p.strip() for p in (completeness or "").split("  ") if p.strip()]
        self.completeness.value = " ".join(f"<span class='srw-nowrap'>{html.escape(p, quote=False)}</span>"
                                           for p in parts)

    def say(self, message: str) -> None:
        """A note instead of a result (e.g. a method that needs the HR image): overlay cleared, numbers reset."""
        self.clear()
        self.completeness.value = html.escape(message, quote=False)

    def clear(self) -> None:
        self.map, self.final, self.result = None, False, None
        self.view.clear("overlay")
        self.di.value, self.gini.value = "DI -", "Gini -"
        self.completeness.value = ""


class PanelGrid:
    """The LR map panels of a widget, one per ``(model, method)`` in a wrapping row (``box``), made when first
    shown: models × methods, model-major.

    One panel (one model, one method) matches the SR canvas (``full_zoom`` display px per LR pixel); several share
    the width (half ``max_display`` each). When :meth:`layout` passes from one size to the other the panels are made
    again (the widget repaints them, from its cache). ``panels``: ``{(model, method): MapPanel}`` made so far;
    ``kdes``: ``{(model, method): (map, its KDE)}``, the widget's memo of the KDE view, emptied with the panels.
    """

    def __init__(self, image, names: Sequence[str], full_zoom: Optional[float] = None, max_display: int = 512):
        self.image, self.names = image, list(names)
        self.full_zoom, self.max_display = full_zoom, int(max_display)
        self.panels: Dict[Tuple[str, str], MapPanel] = {}
        self.kdes: Dict[Tuple[str, str], Any] = {}
        self.compact: Optional[bool] = None  # whether the panels were made side-by-side size (None: none made)
        self.box = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap"))

    def keys(self, methods: Sequence[str]) -> List[Tuple[str, str]]:
        """The panels shown for ``methods``, in order: models × methods."""
        return [(n, m) for n in self.names for m in methods]

    def _compact_for(self, methods: Sequence[str]) -> bool:
        return len(self.names) > 1 or len(methods) > 1

    def panel(self, name: str, method: str, methods: Sequence[str] = ()) -> MapPanel:
        """The panel of model ``name`` and ``method``, made if needed (at the size of ``methods`` shown, when it is
        the first one made)."""
        key = (name, method)
        if key not in self.panels:
            if self.compact is None:
                self.compact = self._compact_for(methods or [method])
            zoom = None if self.compact else self.full_zoom
            size = self.max_display // 2 if self.compact else self.max_display
            self.panels[key] = MapPanel(self.image, f"<b>{html.escape(name)}: {html.escape(method)}</b>", zoom=zoom,
                                        max_size=size)
        return self.panels[key]

    def layout(self, methods: Sequence[str]) -> List[MapPanel]:
        """Show the panels of ``methods`` in ``box`` (made again at the other size when the count of panels
        passes 1); returns them in order."""
        if self.compact is not None and self._compact_for(methods) != self.compact:
            self.panels, self.kdes, self.compact = {}, {}, None  # remade at the other size, repainted from cache
        shown = [self.panel(n, m, methods) for n, m in self.keys(methods)]
        self.box.children = [p.box for p in shown]
        return shown

    def shown(self, methods: Sequence[str]) -> List[MapPanel]:
        """The panels of ``methods`` made so far, in order (none is made)."""
        return [self.panels[k] for k in self.keys(methods) if k in self.panels]
