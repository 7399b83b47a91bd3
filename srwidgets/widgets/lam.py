"""LAMWidget: pick an SR window with the mouse, see which LR pixels the network used — by LAM (Local Attribution
Maps) or any member of the window-attribution family, for one model or several, side by side.

    >>> import srwidgets
    >>> w = srwidgets.LAMWidget("x4-edsr-lite", srwidgets.data.lr_image("astronaut", 4))   # in a notebook cell
    >>> w.window = (120, 96, 16)                # or drag on the SR canvas
    >>> w.wait(), 0 < w.result.diffusion_index < 100
    (True, True)
    >>> w.methods = ["lam", "ig"]               # or tick a second method: one panel per model x method

With ``atlas=True`` (the "DI atlas" box) the SR canvas also shows the DI of every window on a stride
(:func:`srwidgets.batch.di_atlas`); a click on a cell then opens that window's attribution. The Trust button runs
:func:`srwidgets.trust.report` on the current window and shows its table.

The engines (:func:`srwidgets.attribute` and its members, :func:`srwidgets.batch.di_atlas`,
:func:`srwidgets.trust.report`) compute, :mod:`srwidgets.viz` colours. The session
(:class:`~srwidgets.widgets.lam_session.LAMSession`, ``self.session``: the models, engines, images, settings, jobs
and cache; no ipywidgets) holds what the widget knows. This file is the view: the widget's traitlets (the session's
settings, and the display's), how it is built and how it reacts to them; its pieces, each in a module named for
its job:

=================  ==============================================================================================
``lam_session``    the state, the jobs and the cache: what a script drives without the view
``lam_settings``   the arguments' and traitlets' checks (``check_<name>``, the session's forwarded to it) and the
                   session's state under the widget's names
``lam_controls``   the control rows (Method, selection, engine sliders, display)
``lam_jobs``       the session's jobs on the worker: the window's attributions, the DI atlas, the ERF, the SR
                   preview, Trust
``lam_display``    what is shown: each panel's overlay in the view, the atlas, numbers, status, history
``trust_panel``    the Trust button and its tables
``panels``         the SR canvas with its selector and the grid of LR map panels (models × methods)
=================  ==============================================================================================

and the shared pieces: the worker (:mod:`~srwidgets.widgets.runner`) and the status row, errors, checked keywords
and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
import threading
from typing import Dict, Optional

import ipywidgets as widgets
from traitlets import Any as AnyTrait, Dict as DictTrait, observe

from .. import viz
from ..engine import check_output
from ..errors import InputError
from ..viz import difference_rgba  # noqa: F401  (the difference view's colours, srwidgets.viz.difference_rgba)
from .base import FIGURE_EXTENSIONS, CheckedAny, CheckedBool, CheckedFloat, CheckedInt, CheckedUnicode, EngineWidget
from .lam_controls import PATH_LABELS, LAMControls, view_button_width  # noqa: F401  (kept importable from here)
from .lam_display import ATLAS_CMAP, DIFFERENCE_CMAP, LAMDisplay  # noqa: F401
from .lam_jobs import LAMJobs
from .lam_session import LAMSession, WindowPlan  # noqa: F401  (the session: state, jobs, cache)
from .lam_settings import ATLAS_WINDOWS_PER_TASK, COLORMAPS, RUNTIME_OPTIONS, VIEWS, LAMSettings  # noqa: F401
from .lam_settings import LAM_OPTIONS as _LAM_OPTIONS  # noqa: F401  (the keys lam_options may have)
from .panels import MapPanel, PanelGrid, WindowPanel  # noqa: F401
from .session import source_files
from .trust_panel import TRUST_COLUMNS, TrustPanel  # noqa: F401

__all__ = ["LAMWidget"]


class LAMWidget(LAMSettings, LAMControls, LAMJobs, LAMDisplay, EngineWidget):
    """Interactive window attribution for one SR network, or several side by side (compare mode), by one method
    or several (the Method control): one panel per model × method.

    Args:
        model_or_models: an SR ``nn.Module`` (or a zoo name), or a list / dict ``name -> model`` to compare.
        image: the LR input: path, bundled image name, PIL image, numpy ``H x W x 3`` or torch ``[3, h, w]`` in
            ``[0, 1]`` (see :func:`srwidgets.data.load_image`).
        scale: the models' upscaling factor; read from ``model.scale`` or measured when omitted.
        max_display: longest side, in screen pixels, of the SR canvas (small images are zoomed by an integer
            factor, large ones fitted).
        throttle: seconds between repaints of the refining heatmap while a job runs.
        lam_options: engine keyword arguments (``device``, ``chunk_size``, ...; ``autocast`` and ``channels_last``
            go to LAM only).
        hr: the HR image ``[3, s·h, s·w]`` (anything :func:`~srwidgets.data.load_image` takes), for the methods
            that compare with it (``needs_hr``: CEM); without it their panels say so.
        **traits: any traitlet below, as a keyword (``steps=20``, ``window=(8, 8, 16)``,
            ``methods=["lam", "ig"]``...).

    Traitlets (set from code, ``ipywidgets.link``, or observe):
        ``window`` (tuple, **SR** pixels ``(top, left, height, width)``; ``(top, left, size)`` is accepted; ``()``
        for none). Setting it starts the attributions, like a drag on the SR canvas; an invalid window sets
        ``error`` at once, keeps the previous window and starts nothing.
        ``methods`` (names of :func:`srwidgets.attribution.methods`, in the order shown; a name or a list;
        default ``("lam",)``) and ``method`` (the first of them; setting it shows that method alone).
        ``steps``, ``sigma``, ``kernel_size``, ``path`` (a path name of :data:`srwidgets.lam.PATHS`): LAM's knobs;
        the first three also go to every member whose ``attribute`` takes them (``ig``). ``baseline``: the
        deprecated name of ``path`` (kept in step with it). ``knobs``: ``{method: {option: value}}`` for the
        members' other options (``{"ig": {"baseline": "blurred"}, "smoothgrad": {"samples": 8}}``). Changing one
        re-runs the current window.
        ``alpha`` (heatmap opacity in ``[0, 1]``), ``colormap`` (matplotlib name): display only.
        ``view`` (a key of :data:`VIEWS`): ``"map"`` (default), ``"kde"`` (of finished maps), ``"erf"`` (each
        model's effective receptive field of the window on its panels, ``erf_results``), ``"difference"``
        (compare mode only: ``map_1 − map_2`` of the first two models, per method, on the first model's panels).
        ``window_size`` (SR pixels of a click/drag window), ``free_size`` (drag any rectangle instead).
        ``atlas`` / ``atlas_stride`` / ``atlas_result``: the DI atlas of the first model (LAM, the knobs above).
        ``busy``, ``progress`` (``[0, 1]``), ``status``, ``error`` (``""`` when none).
        ``result`` (the first panel's result: first model, first method) and ``results`` (``{model name:
        result}`` of the first method), ``panel_results`` (``{(model, method): result}``, every panel's),
        ``trust_results`` (``{model name: DataFrame}`` of the last Trust press).

    Finished results are cached per (model, method, window, knobs), atlases per (model, image, stride, window
    size, settings): the history list, re-selections, method toggles and the atlas show them at once.

    ``session`` (:class:`~srwidgets.widgets.lam_session.LAMSession`) holds the models, engines, images, the
    settings above that are not display, the cache and the jobs; ``models``, ``names``, ``image``, ``hr``,
    ``scale``, ``runtimes`` and ``engines`` are its.
    """

    window = CheckedAny((), help="SR window (top, left, height, width); () for none")
    steps = CheckedInt(50, help="integration steps along the path")
    sigma = CheckedFloat(1.2, help="largest blur sigma of the path")
    kernel_size = CheckedInt(9, help="Gaussian kernel size of the path")
    path = CheckedUnicode("blur", help="LAM's path, a key of srwidgets.lam.PATHS")
    baseline = CheckedUnicode("blur", help="deprecated name of path")
    method = CheckedUnicode("lam", help="the first method shown (setting it shows it alone)")
    methods = CheckedAny(("lam",), help="the methods shown, names of srwidgets.attribution.methods()")
    knobs = CheckedAny({}, help="{method: {option: value}}: the members' other options")
    alpha = CheckedFloat(0.8, help="heatmap opacity at the map's maximum (weaker pixels fade to transparent)")
    colormap = CheckedUnicode("jet", help="matplotlib colormap of the heatmap")
    window_size = CheckedInt(16, help="side of the window a click selects, SR pixels")
    free_size = CheckedBool(False, help="drag a rectangle of any size instead of a fixed square")
    atlas = CheckedBool(False, help="draw the DI atlas over the SR image; a click then opens a cell's window")
    atlas_stride = CheckedInt(8, help="stride of the DI atlas' windows, SR pixels")
    view = CheckedUnicode("map", help="what the LR panels show: a key of VIEWS (map, kde, erf, difference)")
    result = AnyTrait(None, allow_none=True, help="the first panel's last finished result")
    results = DictTrait(help="{model name: result} of the first method, last finished window")
    panel_results = DictTrait(help="{(model, method): result} of every panel, last finished window")
    atlas_result = AnyTrait(None, allow_none=True, help="the DIAtlas shown (None when none)")
    trust_results = DictTrait(help="{model name: srwidgets.trust.report DataFrame} of the last Trust press")

    default_figure_path = "lam.png"
    history_size = 10
    keywords = ("window", "steps", "sigma", "kernel_size", "path", "baseline", "method", "methods", "knobs",
                "alpha", "colormap", "window_size", "free_size", "atlas", "atlas_stride", "view")

    def __init__(self, model_or_models, image, scale: Optional[int] = None, max_display: int = 512,
                 throttle: float = 0.25, lam_options: Optional[dict] = None, hr=None, **traits):
        # Every argument is checked here, before anything is built: a bad one is an InputError naming it and what
        # it may be, never a value quietly replaced later.
        max_display, throttle, options = self.check_arguments(traits, max_display, throttle, lam_options)
        super().__init__(throttle=throttle)
        self._run_lock = threading.RLock()  # a window set and the job it starts, as one step (any thread)
        self._syncing = False  # path <-> baseline (and method <-> methods) kept in step without warnings
        try:
            window = self._setup(model_or_models, image, scale, hr, max_display, options, traits)
        except BaseException:
            self.close()  # a refused widget leaves no worker and no open comm behind (as DDR and FAIG widgets)
            raise
        self._ready = True
        self._start_preview()
        if window:
            self.window = window
        elif self.atlas:
            self._run()

    # ------------------------------------------------------------------------------------------------ building
    def _setup(self, model_or_models, image, scale, hr, max_display, options, traits):
        """Everything the constructor builds; returns the checked ``window`` keyword (``None`` when not given)."""
        self._input_files = source_files(image, hr)  # never an export's path (a PIL image's file included)
        # the models, their runtimes (each model checked), the image, hr and the cache: the session's
        self.session = LAMSession(model_or_models, image, scale=scale, hr=hr, lam_options=options,
                                  cache_size=self.cache_size)
        self.cache = self.session.cache  # cache_get / cache_put read the session's
        self.erf_results: Dict[str, object] = {}  # model -> ERF result of the current window (in the erf view)
        self._atlas_job = None  # the job computing the atlas, while it does
        self._window_job = None  # the last job started for a window
        self._max_display = max_display
        self._build_views(max_display)
        traits = dict(traits)
        window = traits.pop("window", None)
        self.set_keywords(traits)
        if window is not None:
            window = self.session.check_window(window)
        self.build_method_engines(self.methods)  # LAM's engines when LAM is chosen (its option errors raised here)
        self._layout_panels()
        return window

    def _build_views(self, max_display: int) -> None:
        """The SR canvas, the grid of map panels, the control rows, the Trust panel, and the layout of them all."""
        self.window_panel = WindowPanel(
            self.image, self.scale, self._selected, size=self.window_size, free=bool(self.free_size),
            max_display=max_display, title=f"<b>SR output</b> ({html.escape(self.names[0])}, x{self.scale}): drag or "
                                           "click to select a window")
        # one panel matches the SR canvas; side by side they share the width
        self.grid = PanelGrid(self.image, self.names, full_zoom=self.sr_view.zoom * self.scale, max_display=max_display)
        self._build_controls()
        self.trust_panel = TrustPanel(self.run_trust)
        self.children = [self.css(), widgets.HBox([self.window_panel.box, self.grid.box],
                                                  layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
                         self._method_row, self._selection_row, self._engine_row, self._display_row,
                         self.status_row(), self.error_html, self.export_row(), self.trust_panel.box]

    def _describe(self) -> str:
        _, h, w = self.image.shape
        methods = "" if tuple(self.methods) == ("lam",) else f", methods={list(self.methods)}"
        return f"models={list(self.names)}, image {h}x{w}, x{self.scale}{methods}"

    # ------------------------------------------------------------------------------------------------ reactions
    @observe("window")
    def _window_changed(self, change) -> None:
        if self.ready and not self.closed:
            # Two threads (or fast mouse events) may set the window at once: under the lock, the box drawn and the
            # job started are those of the window *now* (not of change["new"], which a later set may have replaced),
            # and the last job started is always the last window's.
            with self._run_lock:
                self.erf_results = {}
                self._draw_window()
                self._run()

    def _sync(self, name: str, value) -> None:
        """Set a twin traitlet (path/baseline, method/methods) without its deprecation warning or a second run."""
        self._syncing = True
        try:
            setattr(self, name, value)
        finally:
            self._syncing = False

    @observe("path", "baseline")
    def _path_changed(self, change) -> None:
        twin = "baseline" if change["name"] == "path" else "path"
        if getattr(self, twin) != change["new"]:
            self._sync(twin, change["new"])
            return  # the twin's change runs once
        if self.ready:
            self._run()

    @observe("method")
    def _method_changed(self, change) -> None:
        if tuple(self.methods) != (change["new"],) and not self._syncing:
            self.methods = (change["new"],)

    @observe("methods")
    def _methods_changed(self, change) -> None:
        if self.method != self.methods[0]:
            self._sync("method", self.methods[0])
        for name, box in getattr(self, "method_boxes", {}).items():
            box.value = name in self.methods
        if self.ready and not self.closed:
            with self._run_lock:
                self._layout_panels()
                self._run()

    def _method_ticked(self, name: str, ticked: bool) -> None:
        shown = list(self.methods)
        if ticked and name not in shown:
            self.methods = tuple(shown + [name])
        elif not ticked and name in shown:
            if len(shown) == 1:
                self.method_boxes[name].value = True
                # a refusal of methods: the next methods set (a box ticked) clears it, with or without a window
                self.refuse("methods", "at least one method is shown: tick another one first")
                return
            self.methods = tuple(m for m in shown if m != name)

    @observe("steps", "sigma", "kernel_size", "knobs")
    def _settings_changed(self, change) -> None:
        if self.ready:
            self._run()

    @observe("alpha", "colormap")
    def _display_changed(self, change) -> None:
        if self.ready:
            self._repaint()
            if self.atlas_result is not None:
                self._show_atlas(self.atlas_result)

    @observe("view")
    def _view_changed(self, change) -> None:
        if not self.ready or self.closed:
            return
        todo = self._erf_todo(tuple(self.window)) if self.window else []  # fills erf_results from the cache
        self._repaint()
        if todo:
            self._run()

    @observe("atlas")
    def _atlas_changed(self, change) -> None:
        if not self.ready or self.closed:
            return
        if change["new"]:
            self._run()
            return
        self._hide_atlas()
        job = self._atlas_job
        if job is not None and job.current and not job.finished.is_set():
            # the running job is (still) computing the atlas: stop it, keep the window's attribution going
            if self.window:
                self._run()
            else:  # dropped, not "cancelled: press Run" (Run has nothing to do without a window or the atlas)
                self.supersede()
                self.status = "DI atlas off: select a window on the SR output"

    @observe("atlas_stride", "window_size")
    def _atlas_settings_changed(self, change) -> None:
        if self.ready and self.atlas and not self.closed:
            self._run()

    @observe("window_size", "free_size")
    def _selector_changed(self, change) -> None:
        if hasattr(self, "window_panel"):
            self.selector.size, self.selector.free = int(self.window_size), bool(self.free_size)

    def _selected(self, window) -> None:
        """A drag/click on the SR canvas ended (kernel thread). With the atlas shown, the window of the atlas
        cell under the selection's centre is opened."""
        atlas = self.atlas_result
        if self.atlas and atlas is not None:
            t, l, h, w = window
            window = atlas.window(*atlas.cell(t + h / 2, l + w / 2))
        self.window = window
        self._draw_window()  # replaces the dashed drag preview (also when the window was unchanged or rejected)

    def _history_clicked(self, change) -> None:
        if change["new"] and not getattr(self, "_filling_history", False):
            self.window = tuple(change["new"])

    def rerun(self) -> None:
        """Attribute the current window again (the Run button), and compute the atlas when it is on and missing;
        cached results are shown at once."""
        if not self.window and not self.atlas:
            self.status = "select a window on the SR output first"
        self._run()

    # ------------------------------------------------------------------------------------------------ export
    def save_figure(self, path: str):
        """Write a publication-ready PNG of the last result: :func:`srwidgets.viz.lam_figure` of every model's LAM
        (one method), else :func:`srwidgets.viz.methods_figure` of every panel; returns ``path``."""
        if self.result is None:
            raise InputError("nothing to save yet: select a window on the SR output first")
        # refused before drawing: a folder, a missing folder, an extension matplotlib does not write, the input image
        path = check_output(path, inputs=self._input_files, extensions=FIGURE_EXTENSIONS, flag="path",
                            what="the figure")
        if len(self.methods) > 1:
            keys = [k for k in self._keys() if k in self.panel_results]
            viz.methods_figure([self.panel_results[k] for k in keys], titles=[f"{n}: {m}" for n, m in keys],
                               path=path, cmap=self.colormap, alpha=self.alpha)
        elif self.compare:
            viz.lam_figure([self.results[n] for n in self.names], path=path, titles=self.names,
                           cmap=self.colormap, alpha=self.alpha)
        else:
            viz.lam_figure(self.result, path=path, cmap=self.colormap, alpha=self.alpha)
        return path
