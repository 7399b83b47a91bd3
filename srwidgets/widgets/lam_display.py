"""What the LAM widget shows, on the kernel thread (the jobs of :mod:`~srwidgets.widgets.lam_jobs` deliver here):
each panel's overlay in the current view (:meth:`LAMDisplay.view_rgba`: the map, its KDE, the ERF or two models'
difference, coloured by :mod:`srwidgets.viz`; the maps faded, ``viz.heatmap_rgba(fade=True)``: transparent at 0,
``alpha`` at the maximum, so the LR image shows under them), the window boxes, the DI atlas over the SR canvas, the finished
results' numbers, the status line, the history list and the Trust tables.

:class:`LAMDisplay` is a mixin of :class:`~srwidgets.widgets.lam.LAMWidget` (its ``grid`` of panels, ``window_panel``,
``trust_panel``, ``history``, traitlets); it colours with :mod:`srwidgets.viz` and computes nothing itself.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .. import viz
from ..lam import attribution_map
from ..viz import difference_rgba
from .panels import MapPanel

__all__ = ["LAMDisplay", "ATLAS_CMAP", "DIFFERENCE_CMAP"]

ATLAS_CMAP = "magma"  # the DI atlas' colours, as srwidgets.viz.di.atlas_figure draws it
DIFFERENCE_CMAP = "RdBu_r"  # the signed difference of two models' maps (red: the first model uses the pixel more)


class LAMDisplay:
    """The LAM widget's display steps (a mixin)."""

    # The SR canvas and its selector (the window panel's), under their former names.
    @property
    def sr_view(self):
        return self.window_panel.sr_view

    @property
    def selector(self):
        return self.window_panel.selector

    # The Trust panel's button and tables (TrustPanel), under their former names.
    @property
    def trust_button(self):
        return self.trust_panel.button

    @property
    def trust_html(self):
        return self.trust_panel.html

    # ------------------------------------------------------------------------------------------------ panels
    @property
    def panels(self) -> Dict[Tuple[str, str], MapPanel]:
        """``{(model, method): MapPanel}`` of the panels made (:class:`~srwidgets.widgets.panels.PanelGrid`)."""
        return self.grid.panels

    @property
    def _panels_box(self):
        return self.grid.box

    def panel(self, name: str, method: Optional[str] = None) -> MapPanel:
        """The panel of model ``name`` and ``method`` (default: the first method), made if needed."""
        return self.grid.panel(name, method or self.methods[0], self.methods)

    def _keys(self) -> List[Tuple[str, str]]:
        """The panels shown, in order: models × methods."""
        return self.grid.keys(self.methods)

    def _layout_panels(self) -> None:
        self.window_panel.draw_window(self.window, self.grid.layout(self.methods))

    # The first method's panels by model (what the widget showed before it had several methods).
    @property
    def lr_views(self) -> dict:
        return {n: self.panel(n).view for n in self.names}

    @property
    def di_labels(self) -> dict:
        return {n: self.panel(n).di for n in self.names}

    @property
    def gini_labels(self) -> dict:
        return {n: self.panel(n).gini for n in self.names}

    @property
    def completeness_labels(self) -> dict:
        return {n: self.panel(n).completeness for n in self.names}

    # ------------------------------------------------------------------------------------------------ overlays
    def _kde(self, key, map2d):
        known = self.grid.kdes.get(key)
        if known is None or known[0] is not map2d:
            known = self.grid.kdes[key] = (map2d, viz.kde_map(map2d))
        return known[1]

    def view_rgba(self, name: str, method: Optional[str] = None):
        """The overlay of the panel of model ``name`` and ``method`` (default: the first) in the current ``view``
        (``uint8 h × w × 4`` on the LR grid), ``None`` when there is nothing to show yet."""
        key = (name, method or self.methods[0])
        panel, view = self.panels.get(key), self.view
        if panel is None:
            return None
        if view == "erf":
            res = self.erf_results.get(name)
            return None if res is None else viz.heatmap_rgba(res.map, self.colormap, self.alpha, fade=True)
        if view == "difference" and self.compare and name == self.names[0]:
            other = self.panels.get((self.names[1], key[1]))
            if not (panel.final and other is not None and other.final):
                return None
            return difference_rgba(panel.map, other.map, DIFFERENCE_CMAP, self.alpha)
        if panel.map is None:
            return None
        m = self._kde(key, panel.map) if view == "kde" and panel.final else panel.map
        # faded: transparent where the map is 0, so the LR image shows untinted around the few hot pixels
        return viz.heatmap_rgba(m, self.colormap, self.alpha, fade=True)

    def _paint_view(self, key) -> None:
        if key in self.panels:
            self.panels[key].paint(self.view_rgba(*key))

    def _painted(self, key) -> None:
        self._paint_view(key)
        if self.view == "difference" and self.compare and key[0] == self.names[1]:
            self._paint_view((self.names[0], key[1]))

    def _repaint(self) -> None:
        for key in self._keys():
            self._paint_view(key)

    def _draw_window(self) -> None:
        self.window_panel.draw_window(self.window, self.grid.shown(self.methods))

    # ------------------------------------------------------------------------------------------------ the atlas
    def _show_atlas(self, atlas) -> None:
        if not self.atlas:
            return
        from ..viz.di import atlas_rgba

        self.atlas_result = atlas
        self.sr_view.show("overlay", atlas_rgba(atlas, ATLAS_CMAP, self.alpha))
        rows, cols = atlas.di.shape
        self.status = (f"DI atlas: {rows}x{cols} windows of {atlas.size} px, DI {atlas.di.min():.2f} (dark) to "
                       f"{atlas.di.max():.2f} (bright); click a cell to open its window")

    def _hide_atlas(self) -> None:
        self.atlas_result = None
        self.sr_view.clear("overlay")

    # ------------------------------------------------------------------------------------------------ results
    def _show_erf(self, name: str, window: tuple, res) -> None:
        if tuple(self.window) != tuple(window):
            return
        self.erf_results[name] = res
        for key in self._keys():
            if key[0] == name:
                self._paint_view(key)

    def _paint_partial(self, key, attribution_tensor) -> None:
        panel = self.panels[key]
        panel.set_map(attribution_map(attribution_tensor))  # the engine's map rule, on the refining attribution
        self._painted(key)
        panel.refining()

    def _show_panel(self, key, res) -> None:
        panel = self.panel(*key)
        panel.set_map(res.map, res)
        self._painted(key)
        line = viz.completeness(res) if getattr(res, "completeness", None) is not None else ""
        panel.show_numbers(res, line)

    def _show_final(self, results: dict, cached: bool = False) -> None:
        first_method = self.methods[0]
        first = results.get((self.names[0], first_method))
        if first is None:  # the first method needs the HR image: nothing to publish as `result`
            # nor the previous window's or method's: a stale `result` would be exported as if it were shown
            self.panel_results = self.session.panel_results = dict(results)
            self.results, self.result = {}, None
            self.status = f"{first_method} needs the HR image: pass hr= to LAMWidget"
            return
        if not self.window_panel.sr_shown and getattr(first, "sr", None) is not None:
            self.window_panel.show_sr(first.sr)
        self.panel_results = self.session.panel_results = dict(results)
        self.results = {n: results[(n, first_method)] for n in self.names if (n, first_method) in results}
        self.result = first
        self.progress = 1.0
        empty = [f"{n}: {m}" if len(results) > 1 else m for (n, m), r in results.items() if not bool((r.map != 0).any())]
        note = (f"; all zero (nothing attributed, so DI 100 means nothing): {', '.join(empty)}" if empty else "")
        self.status = f"{'cached' if cached else 'done'}: DI {self._di_line(results, first)}{note}"
        self._remember(tuple(first.window), first.diffusion_index)

    def _di_line(self, results: dict, first) -> str:
        if len(results) == 1:
            return f"{first.diffusion_index:.2f}"
        return ", ".join(f"{n if len(self.methods) == 1 else f'{n}: {m}'} {r.diffusion_index:.2f}"
                         for (n, m), r in results.items())

    def _remember(self, window: tuple, di: float) -> None:
        t, l, h, w = window
        entries = [(label, value) for label, value in self.history.options if tuple(value) != window]
        entries.insert(0, (f"({t}, {l}) {h}x{w}  DI {di:.2f}", window))  # rounded as the panels' DI label
        self._filling_history = True
        try:
            self.history.options = entries[: self.history_size]
            self.history.value = window
        finally:
            self._filling_history = False

    def _show_trust(self, window: tuple, tables: dict) -> None:
        self.trust_results = dict(tables)
        self.trust_panel.show(window, tables)
        self.progress = 1.0
        self.status = "trust report done"
