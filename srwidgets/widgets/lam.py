"""LAMWidget: pick an SR window with the mouse, see which LR pixels the network used (Local Attribution Maps).

    >>> import srwidgets
    >>> w = srwidgets.LAMWidget("x4-edsr-lite", srwidgets.data.lr_image("astronaut", 4))   # in a notebook cell
    >>> w.window = (120, 96, 16)                # or drag on the SR canvas
    >>> w.wait(), 0 < w.result.diffusion_index < 100
    (True, True)

With ``atlas=True`` (the "DI atlas" box) the SR canvas also shows the DI of every window on a stride
(:func:`srwidgets.batch.di_atlas`); a click on a cell then opens that window's attribution.

The engines (:class:`srwidgets.lam.LAM`, :func:`srwidgets.batch.di_atlas`) compute, :mod:`srwidgets.viz` colours;
this file wires the LAM knobs to
the shared pieces: canvases (:mod:`~srwidgets.widgets.canvas`), the worker (:mod:`~srwidgets.widgets.runner`) and
the status row, errors and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
import threading
from typing import Any, Dict, Optional

import ipywidgets as widgets
import numpy as np
from traitlets import Any as AnyTrait, Bool, Dict as DictTrait, Float, Int, Unicode, observe, validate

from .. import viz
from ..data import load_image
from ..errors import InputError
from ..engine import check_choice, check_int, check_number, check_steps
from ..engine.cache import image_digest, model_key
from ..lam import LAM, PATHS, attribution_map
from ..lam.geometry import validate_window
from ..models.lookup import named_models
from .base import EngineWidget
from .canvas import ImageView, WindowSelector

__all__ = ["LAMWidget"]

COLORMAPS = ["jet", "seismic", "viridis", "magma", "inferno", "hot", "coolwarm", "RdBu_r", "gray"]
ATLAS_CMAP = "magma"  # the DI atlas' colours, as srwidgets.viz.di.atlas_figure draws it
ATLAS_WINDOWS_PER_TASK = 8  # atlas windows per engine call: the progress bar moves (and a cancel lands) between them
DIFFERENCE_CMAP = "RdBu_r"  # the signed difference of two models' maps (red: the first model uses the pixel more)
_LAM_OPTIONS = ("device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail")
"""The keys ``lam_options`` may have (:class:`srwidgets.lam.LAM`'s keyword arguments besides model and scale)."""
VIEWS = {"map": "the raw LAM map |Σ_c A_c| / max",
         "kde": "kernel-density view of the LAM map (srwidgets.viz.kde_map, the LAM paper's style)",
         "erf": "effective receptive field of the window: |∇_x D(F(x))| at the input (srwidgets.lam.erf)",
         "difference": "compare mode: the first model's map minus the second's, on the first model's panel"}
"""The LR panels' views (the ``view`` traitlet)."""
PATH_LABELS = {"blur": "blur (paper)", "black": "line from black", "uniform": "line from noise",
               "gaussian": "line from x + noise", "blurred": "line from blurred x", "multi": "noise baselines, mean"}
"""The Path dropdown's labels (the dropdown's tooltip and :data:`srwidgets.lam.PATHS` give the full description)."""


def view_button_width(names) -> str:
    """The CSS width of the View buttons: room for the longest name (about 8 px a character + 24 px padding)."""
    return f"{8 * max(len(n) for n in names) + 24}px"


def difference_rgba(map_a, map_b, alpha: float = 0.5):
    """The signed difference ``map_a − map_b`` coloured with :data:`DIFFERENCE_CMAP`, symmetric limits
    ``±max|d|`` (white: equal; red: ``a`` larger), as :func:`srwidgets.viz.difference_figure` draws it."""
    import numpy as np

    d = np.nan_to_num(viz._numpy(map_a).astype(np.float64) - viz._numpy(map_b).astype(np.float64), nan=0.0)
    limit = max(float(np.abs(d).max()), 1e-12)
    return viz.heatmap_rgba(0.5 + 0.5 * d / limit, DIFFERENCE_CMAP, alpha)


class LAMWidget(EngineWidget):
    """Interactive LAM for one SR network, or several side by side (compare mode).

    Args:
        model_or_models: an SR ``nn.Module`` (or a zoo name), or a list / dict ``name -> model`` to compare.
        image: the LR input: path, bundled image name, PIL image, numpy ``H x W x 3`` or torch ``[3, h, w]`` in
            ``[0, 1]`` (see :func:`srwidgets.data.load_image`).
        scale: the models' upscaling factor; read from ``model.scale`` or measured when omitted.
        max_display: longest side, in screen pixels, of the SR canvas (small images are zoomed by an integer
            factor, large ones fitted).
        throttle: seconds between repaints of the refining heatmap while a job runs.
        lam_options: keyword arguments for each :class:`srwidgets.lam.LAM` (``device``, ``chunk_size``, ...).
        Any traitlet below may be passed as a keyword (``steps=20``, ``window=(8, 8, 16)``...).

    Traitlets (set from code, ``ipywidgets.link``, or observe):
        ``window`` (tuple, **SR** pixels ``(top, left, height, width)``; ``(top, left, size)`` is accepted; ``()``
        for none). Setting it starts an attribution, like a drag on the SR canvas; an invalid window sets
        ``error`` at once, keeps the previous window and starts nothing.
        ``steps``, ``sigma``, ``kernel_size``, ``baseline`` (a path name of :data:`srwidgets.lam.PATHS`): the
        engine's knobs; changing one re-runs the current window.
        ``alpha`` (heatmap opacity in ``[0, 1]``), ``colormap`` (matplotlib name): display only.
        ``view`` (a key of :data:`VIEWS`): what the LR panels show: ``"map"`` (default) the raw LAM map, ``"kde"``
        its kernel-density view (:func:`srwidgets.viz.kde_map`, of finished maps; a refining map shows raw),
        ``"erf"`` the window's effective receptive field (:func:`srwidgets.lam.effective_receptive_field`, computed
        on the worker, cached per window and model; ``erf_results`` holds them), ``"difference"`` (compare mode
        only) ``map_1 − map_2`` of the first two models, signed, diverging colours (``RdBu_r``, symmetric limits
        ``±max|d|``), on the first model's panel (the others keep their raw maps).
        ``window_size`` (SR pixels of a click/drag window), ``free_size`` (drag any rectangle instead).
        ``atlas`` (draw the DI atlas over the SR image: the DI of every ``window_size`` window on an
        ``atlas_stride`` grid, SR pixels, for the first model; a click on the SR canvas then opens the window of the
        cell under the pointer) and ``atlas_result`` (the :class:`srwidgets.batch.DIAtlas` shown, ``None`` when none).
        The atlas uses the engine knobs above; a change recomputes it.
        ``busy``, ``progress`` (``[0, 1]``), ``status``, ``error`` (``""`` when none).
        ``result`` (the last finished :class:`srwidgets.lam.LAMResult`, the first model's in compare mode) and
        ``results`` (``{model name: LAMResult}`` for the same window).

    Finished results are cached per (model, window, settings), atlases per (model, image, stride, window size,
    settings): the history list, re-selections and toggling the atlas show them at once.
    """

    # Any rather than Tuple so that a list or a wrong type reaches the validator and becomes a readable error.
    window = AnyTrait((), help="SR window (top, left, height, width); () for none")
    steps = Int(50, help="integration steps along the path")
    sigma = Float(1.2, help="largest blur sigma of the path")
    kernel_size = Int(9, help="Gaussian kernel size of the path")
    baseline = Unicode("blur", help="path / baseline name, a key of srwidgets.lam.PATHS")
    alpha = Float(0.5, min=0.0, max=1.0, help="heatmap opacity")
    colormap = Unicode("jet", help="matplotlib colormap of the heatmap")
    window_size = Int(16, help="side of the window a click selects, SR pixels")
    free_size = Bool(False, help="drag a rectangle of any size instead of a fixed square")
    result = AnyTrait(None, allow_none=True, help="last finished LAMResult (first model's in compare mode)")
    results = DictTrait(help="{model name: LAMResult} of the last finished window")
    atlas = Bool(False, help="draw the DI atlas over the SR image; a click then opens a cell's window")
    atlas_stride = Int(8, help="stride of the DI atlas' windows, SR pixels")
    atlas_result = AnyTrait(None, allow_none=True, help="the DIAtlas shown (None when none)")
    view = Unicode("map", help="what the LR panels show: a key of VIEWS (map, kde, erf, difference)")

    default_figure_path = "lam.png"
    history_size = 10

    def __init__(self, model_or_models, image, scale: Optional[int] = None, max_display: int = 512,
                 throttle: float = 0.25, lam_options: Optional[dict] = None, **traits):
        # Every argument is checked here, before anything is built: a bad one is an InputError naming it and what
        # it may be, never a value quietly replaced later.
        max_display = check_int("max_display", max_display, 64, " (screen pixels of the SR canvas, e.g. 512)")
        throttle = check_number("throttle", throttle, 0.0, " (seconds between repaints, e.g. 0.25)")
        if lam_options is not None and not isinstance(lam_options, dict):
            raise InputError(f"lam_options must be a dict of srwidgets.lam.LAM keyword arguments (device, chunk_size, "
                             f"memory_budget, ...), got {type(lam_options).__name__}")
        unknown = sorted(set(lam_options or {}) - set(_LAM_OPTIONS))
        if unknown:
            raise InputError(f"lam_options: unknown {', '.join(map(repr, unknown))}; choose from: "
                             f"{', '.join(_LAM_OPTIONS)}")
        super().__init__(throttle=throttle)
        self._ready = False
        self._run_lock = threading.RLock()  # a window set and the job it starts, as one step (any thread)
        self.models = named_models(model_or_models)
        self.names = list(self.models)
        self.compare = len(self.names) > 1
        self.image = load_image(image)
        opts = dict(lam_options or {})
        self.engines = {n: LAM(m, scale=scale, **opts) for n, m in self.models.items()}  # checks each model
        scales = {n: e.scale for n, e in self.engines.items()}
        if len(set(scales.values())) > 1:
            raise InputError(f"compare mode needs models of one scale; got {scales}")
        self.scale = next(iter(scales.values()))
        self._maps: Dict[str, Any] = {}  # name -> the map now painted (final or partial), for alpha/cmap changes
        self._final: Dict[str, bool] = {}  # name -> whether _maps[name] is a finished result's map
        self._kdes: Dict[str, Any] = {}  # name -> (map, its kde_map), the KDE of the finished map shown
        self.erf_results: Dict[str, Any] = {}  # name -> ERFResult of the current window (filled in the erf view)
        self._sr_shown = False
        self._image_key = image_digest(self.image)
        self._atlas_job = None  # the job computing the atlas, while it does
        self._window_job = None  # the last job started for a window
        self._build_views(max_display)
        self._build_controls()
        self.children = [self.css(), widgets.HBox([self._sr_box, self._panels_box],
                                                  layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
                         self._selection_row, self._engine_row, self._display_row, self.status_row(), self.error_html,
                         self.export_row()]
        window = traits.pop("window", None)
        for name, value in traits.items():
            setattr(self, name, self._check_argument(name, value))
        if window is not None:
            window = self._check_window(window) if not (isinstance(window, (tuple, list)) and not window) else ()
        self._ready = True
        self._start_preview()
        if window:
            self.window = window
        elif self.atlas:
            self._run()

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        _, h, w = self.image.shape
        return f"models={list(self.names)}, image {h}x{w}, x{self.scale}"

    def _build_views(self, max_display: int) -> None:
        _, h, w = self.image.shape
        s = self.scale
        self.sr_view = ImageView(h * s, w * s, max_size=max_display, css_class="srw-sr-canvas")
        self.sr_view.layer("selection").add_class("srw-sr-canvas")
        self.sr_view.show("image", self.image)  # the LR input stretched, until the SR output is known
        self.selector = WindowSelector(self.sr_view, self._selected, size=self.window_size, free=self.free_size)
        self._sr_title = widgets.HTML(f"<b>SR output</b> ({html.escape(self.names[0])}, x{s}): "
                                      "drag or click to select a window")
        self._sr_box = widgets.VBox([self._sr_title, self.sr_view.canvas])
        # Side by side the LR panels share the width; one panel matches the SR canvas.
        lr_zoom = self.sr_view.zoom * s if not self.compare else None
        self.lr_views: Dict[str, ImageView] = {}
        self.di_labels: Dict[str, widgets.Label] = {}
        self.gini_labels: Dict[str, widgets.Label] = {}
        self.completeness_labels: Dict[str, widgets.HTML] = {}
        panels = []
        for name in self.names:
            view = ImageView(h, w, zoom=lr_zoom, max_size=max_display // 2 if self.compare else max_display,
                             css_class="srw-lr-canvas")
            view.layer("overlay").add_class("srw-lr-canvas")
            view.show("image", self.image)
            di, gini = widgets.Label("DI -"), widgets.Label("Gini -")
            di.add_class("srw-di")
            gini.add_class("srw-gini")
            # HTML, not Label: a Label never wraps (ipywidgets 8: nowrap, cut with an ellipsis), so side by side the
            # panels' lines ran into each other; this block wraps at its panel's width, a gap before the next one.
            comp = widgets.HTML("", layout=widgets.Layout(width=f"{max(view.display_width, 160)}px",
                                                          margin="0 12px 4px 0"))
            comp.add_class("srw-completeness")
            self.lr_views[name], self.di_labels[name], self.gini_labels[name] = view, di, gini
            self.completeness_labels[name] = comp
            panel = widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>: attribution on the LR input"),
                                  view.canvas, widgets.HBox([di, gini]), comp],
                                 layout=widgets.Layout(margin="0 16px 8px 0"))
            panel.add_class("srw-lam-panel")
            panels.append(panel)
        self._panels_box = widgets.HBox(panels, layout=widgets.Layout(flex_flow="row wrap"))

    def _build_controls(self) -> None:
        def linked(trait, control):
            widgets.link((self, trait), (control, "value"))
            return control

        def slider(trait, control):
            # Two-way, but a value set from code outside the slider's range stays in the traitlet (and the engine
            # reports it) instead of being silently clamped by the slider.
            control.value = getattr(self, trait) if control.min <= getattr(self, trait) <= control.max else control.value
            control.observe(lambda c: setattr(self, trait, c["new"]), "value")
            self.observe(lambda c: setattr(control, "value", c["new"]) if control.min <= c["new"] <= control.max
                         else None, trait)
            return control

        small = widgets.Layout(width="170px")
        self.history = widgets.Select(options=[], rows=4, description="History:",
                                      layout=widgets.Layout(width="320px"))
        self.history.observe(self._history_clicked, "value")
        self._selection_row = widgets.HBox([
            linked("window_size", widgets.IntText(description="Window:", layout=small)),
            linked("free_size", widgets.Checkbox(description="free size (drag a rectangle)", indent=False)),
            widgets.VBox([
                linked("atlas", widgets.Checkbox(description="DI atlas (click a cell to open it)", indent=False)),
                linked("atlas_stride", widgets.IntText(description="Stride:", layout=small)),
            ]),
            self.history,
        ])
        # A label the dropdown shows whole (ipywidgets 8 cuts it at the box's width); the full descriptions are
        # in the tooltip.
        self.baseline_dropdown = widgets.Dropdown(options=[(PATH_LABELS.get(k, k), k) for k in PATHS],
                                                  description="Path:", style={"description_width": "initial"},
                                                  tooltip="\n".join(f"{k}: {v}" for k, v in PATHS.items()),
                                                  layout=widgets.Layout(width="230px"))
        self._engine_row = widgets.HBox([
            slider("steps", widgets.IntSlider(min=1, max=200, description="Steps:", continuous_update=False)),
            slider("sigma", widgets.FloatSlider(min=0.0, max=4.0, step=0.1, description="Sigma:",
                                                continuous_update=False)),
            slider("kernel_size", widgets.IntSlider(min=1, max=31, step=2, description="Kernel:",
                                                    continuous_update=False)),
        ])
        options = COLORMAPS if self.colormap in COLORMAPS else COLORMAPS + [self.colormap]
        self.colormap_dropdown = widgets.Dropdown(options=options, description="Colormap:",
                                                  layout=widgets.Layout(width="220px"))
        views = [v for v in VIEWS if v != "difference" or self.compare]
        # Buttons as wide as the longest name needs (about 8 px a character at the widgets' 13 px font, plus
        # ipywidgets 8's padding and border): a fixed 80 px cut "difference" to "differe…".
        self.view_buttons = widgets.ToggleButtons(options=views, description="View:",
                                                  tooltips=[VIEWS[v] for v in views],
                                                  style={"button_width": view_button_width(views),
                                                         "description_width": "initial"})
        self._display_row = widgets.HBox([  # wraps rather than squeezing its controls on a narrow page
            linked("baseline", self.baseline_dropdown),
            linked("alpha", widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="Alpha:")),
            linked("colormap", self.colormap_dropdown),
            linked("view", self.view_buttons),
        ], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))

    # ------------------------------------------------------------------------------------------------ validation
    _SETTABLE = ("steps", "sigma", "kernel_size", "baseline", "alpha", "colormap", "window_size", "free_size",
                 "atlas", "atlas_stride", "view")

    def _check_argument(self, name: str, value):
        """A constructor keyword checked (an :class:`InputError` naming it and its allowed values), so that no
        validator later falls back to the default without a word."""
        import matplotlib

        if name not in self._SETTABLE:
            raise InputError(f"LAMWidget got an unexpected keyword argument {name!r}; the keywords are: "
                             f"window, {', '.join(self._SETTABLE)}, scale, max_display, throttle, lam_options")
        if name == "steps":
            return check_steps(value, hint=" (the paper uses 50)")
        if name == "sigma":
            return check_number("sigma", value, 0.0, " (the paper uses 1.2)")
        if name == "kernel_size":
            value = check_int("kernel_size", value, 1, " (odd; the paper uses 9)")
            if value % 2 == 0:
                raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {value}")
            return value
        if name == "baseline":
            return check_choice("baseline", value, PATHS)
        if name == "alpha":
            value = check_number("alpha", value, 0.0, " and <= 1 (heatmap opacity)")
            if value > 1:
                raise InputError(f"alpha must be a finite number >= 0 and <= 1 (heatmap opacity), got {value!r}")
            return value
        if name == "colormap":
            if not isinstance(value, str) or value not in matplotlib.colormaps:
                raise InputError(f"unknown colormap {value!r}; a matplotlib colormap name such as "
                                 f"{', '.join(COLORMAPS)}")
            return value
        if name == "window_size":
            return check_int("window_size", value, 2, " (SR pixels; the paper uses 16)")
        if name == "atlas_stride":
            return check_int("atlas_stride", value, 1, " (SR pixels)")
        if name in ("free_size", "atlas"):
            if not isinstance(value, (bool, np.bool_)):
                raise InputError(f"{name} must be True or False, got {value!r}")
            return bool(value)
        views = [v for v in VIEWS if v != "difference" or self.compare]
        if value == "difference" and not self.compare:
            raise InputError("view='difference' needs two models (compare mode); with one model choose one of: "
                             + ", ".join(views))
        return check_choice("view", value, views)

    @validate("window")
    def _validate_window(self, proposal):
        value = proposal["value"]
        if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
            return ()
        try:
            return self._check_window(value)
        except InputError as exc:
            # Invalid windows are reported, not raised: the widget (and a link driving it) keeps working.
            self.error = str(exc)
            self.status = "window rejected"
            return self.window

    def _check_window(self, value) -> tuple:
        # The engine's own check, run here synchronously so a bad window never reaches the worker.
        if isinstance(value, (str, bytes)):
            value = (value,)  # a string is not a window; let the engine's message say so
        _, h, w = self.image.shape
        return tuple(validate_window(value, h * self.scale, w * self.scale))

    @validate("atlas_stride")
    def _validate_atlas_stride(self, proposal):
        if proposal["value"] < 1:
            self.error = f"the atlas stride is in SR pixels, at least 1; got {proposal['value']}"
            return self.atlas_stride
        return proposal["value"]

    @validate("baseline")
    def _validate_baseline(self, proposal):
        if proposal["value"] not in PATHS:
            self.error = f"unknown path {proposal['value']!r}; choose one of {', '.join(PATHS)}"
            return self.baseline
        return proposal["value"]

    @validate("view")
    def _validate_view(self, proposal):
        name = proposal["value"]
        if name not in VIEWS:
            self.error = f"unknown view {name!r}; choose one of {', '.join(VIEWS)}"
            return self.view
        if name == "difference" and not self.compare:
            self.error = "the difference view needs two models (compare mode)"
            return self.view
        return name

    @validate("colormap")
    def _validate_colormap(self, proposal):
        import matplotlib

        name = proposal["value"]
        if name not in matplotlib.colormaps:
            self.error = f"unknown matplotlib colormap {name!r} (try {', '.join(COLORMAPS)})"
            return self.colormap
        if hasattr(self, "colormap_dropdown") and name not in self.colormap_dropdown.options:
            self.colormap_dropdown.options = list(self.colormap_dropdown.options) + [name]
        return name

    # ------------------------------------------------------------------------------------------------ reactions
    @observe("window")
    def _window_changed(self, change) -> None:
        if self._ready and not self.closed:
            # Two threads (or fast mouse events) may set the window at once: under the lock, the box drawn and the
            # job started are those of the window *now* (not of change["new"], which a later set may have replaced),
            # and the last job started is always the last window's.
            with self._run_lock:
                self.erf_results = {}
                self._draw_window()
                self._run()

    @observe("steps", "sigma", "kernel_size", "baseline")
    def _settings_changed(self, change) -> None:
        if self._ready:
            self._run()

    @observe("alpha", "colormap")
    def _display_changed(self, change) -> None:
        if self._ready:
            self._repaint()
            if self.atlas_result is not None:
                self._show_atlas(self.atlas_result)

    @observe("view")
    def _view_changed(self, change) -> None:
        if not self._ready or self.closed:
            return
        todo = self._erf_todo(tuple(self.window)) if self.window else []  # fills erf_results from the cache
        self._repaint()
        if todo:
            self._run()

    def _repaint(self) -> None:
        for name in self.names:
            self._paint_view(name)

    @observe("atlas")
    def _atlas_changed(self, change) -> None:
        if not self._ready or self.closed:
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
            else:
                self.cancel()

    @observe("atlas_stride", "window_size")
    def _atlas_settings_changed(self, change) -> None:
        if self._ready and self.atlas and not self.closed:
            self._run()

    @observe("window_size", "free_size")
    def _selector_changed(self, change) -> None:
        if hasattr(self, "selector"):
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

    # ------------------------------------------------------------------------------------------------ jobs
    def settings(self) -> dict:
        """The engine keyword arguments of the current traitlets."""
        return dict(steps=int(self.steps), sigma=float(self.sigma), kernel_size=int(self.kernel_size),
                    path=str(self.baseline))

    def _key(self, name: str, window: tuple, settings: dict) -> tuple:
        # The weights' and buffers' identity and version counters are part of the key: editing a model in place
        # (fine-tuning, load_state_dict, a changed mean shift) must not bring back results of the old state.
        return (name, tuple(window), model_key(self.engines[name].model)) + tuple(sorted(settings.items()))

    def atlas_settings(self) -> dict:
        """The keyword arguments of :func:`srwidgets.batch.di_atlas` the atlas is computed with (besides the model,
        ``{first name: first model}``, and the image): the atlas stride, ``window_size`` and the engine knobs."""
        s = self.settings()
        return dict(stride=int(self.atlas_stride), size=int(self.window_size), steps=s["steps"], sigma=s["sigma"],
                    kernel_size=s["kernel_size"], path=s["path"], device=self.engines[self.names[0]].device,
                    windows_per_task=ATLAS_WINDOWS_PER_TASK, progress=False)

    def _atlas_key(self, settings: dict) -> tuple:
        name = self.names[0]
        return ("atlas", name, model_key(self.engines[name].model), self._image_key) + tuple(
            (k, str(v)) for k, v in sorted(settings.items()))

    def _erf_key(self, name: str, window: tuple) -> tuple:
        return ("erf", name, tuple(window), model_key(self.engines[name].model))

    def _erf_todo(self, window: tuple) -> list:
        """In the erf view: the models whose ERF of ``window`` is not cached (the cached ones are put in
        ``erf_results``); else ``[]``."""
        if self.view != "erf" or not window:
            return []
        todo = []
        for name in self.names:
            cached = self.cache_get(self._erf_key(name, window))
            if cached is None:
                todo.append(name)
            else:
                self.erf_results[name] = cached
        return todo

    def _erf_work(self, window: tuple, todo: list):
        """``work(job)`` computing the ERF of ``window`` for the models ``todo`` (``None`` when none)."""
        if not todo:
            return None
        keys = {name: self._erf_key(name, window) for name in todo}

        def work(job):
            from ..lam import effective_receptive_field

            for name in todo:
                engine = self.engines[name]
                res = effective_receptive_field(engine.model, self.image, window, scale=self.scale,
                                                device=engine.device)
                self.cache_put(keys[name], res)
                job.deliver(self._show_erf, name, window, res)

        return work

    def _atlas_work(self):
        """``None`` when the atlas is off or cached (then shown now); else ``work(job)`` computing and showing it."""
        if not self.atlas:
            return None
        settings = self.atlas_settings()
        key = self._atlas_key(settings)
        cached = self.cache_get(key)
        if cached is not None:
            self._show_atlas(cached)
            return None
        self._hide_atlas()
        name = self.names[0]
        engine = self.engines[name]

        def work(job):
            from ..batch import di_atlas

            if not self._sr_shown:  # the preview was superseded: the SR image under the atlas first
                job.deliver(self._show_sr, engine.super_resolve(self.image))
            atlas = di_atlas({name: engine.model}, self.image, callback=lambda p: job.report(p.done, p.total),
                             cancel=job.token, **settings)
            self.cache_put(key, atlas)
            job.atlas_done = True
            job.deliver(self._show_atlas, atlas)

        return work

    def _start(self, work, label: str, atlas_work):
        """Start ``work`` (may be ``None``), after the atlas when ``atlas_work`` is given; returns the job."""
        if atlas_work is None:
            return self.start(work, label=label)

        def both(job):
            atlas_work(job)
            if work is not None:
                work(job)

        self._atlas_job = self.start(both, label="DI atlas" + (f", then {label}" if work is not None else ""))
        return self._atlas_job

    def _run(self) -> None:
        with self._run_lock:
            self._run_locked()

    def _run_locked(self) -> None:
        if self.closed:
            return
        atlas_work = self._atlas_work()
        if not self.window:
            job = self._window_job
            if job is not None and job.current and not job.finished.is_set():
                self.supersede()  # the window was cleared: its attribution must not land afterwards
            if atlas_work is not None:
                self._start(None, "", atlas_work)
            return
        window, settings = tuple(self.window), self.settings()
        cached = {n: self.cache_get(self._key(n, window, settings)) for n in self.names}
        cached = {n: r for n, r in cached.items() if r is not None}
        erf_work = self._erf_work(window, self._erf_todo(window))
        if len(cached) == len(self.names):
            self.supersede()
            self.error = ""
            for name in self.names:
                self._show_panel(name, cached[name])
            self._show_final(cached, cached=True)
            if atlas_work is not None or erf_work is not None:
                self._start(erf_work, "ERF of the window", atlas_work)
            return
        todo = [n for n in self.names if n not in cached]
        if self.busy:
            self.supersede()  # first, so the old job cannot paint over the cleared panels
        for name in todo:
            self._clear_panel(name)

        def shown(fn):  # a display step of this job, run only while its window is the one shown
            return lambda *args: fn(*args) if tuple(self.window) == window else None

        def work(job):
            results = dict(cached)
            for name in cached:
                job.deliver(shown(self._show_panel), name, cached[name])
            for i, name in enumerate(todo):
                def callback(p, i=i, name=name):
                    partial = None if p.partial is None else (lambda: self._paint_partial(name, p.partial))
                    job.report(i * p.total + p.done, len(todo) * p.total, partial)

                res = self.engines[name].attribute(self.image, window, callback=callback, cancel=job.token,
                                                   **settings)
                self.cache_put(self._key(name, window, settings), res)
                results[name] = res
                job.deliver(shown(self._show_panel), name, res)
            job.deliver(shown(self._show_final), results)
            if erf_work is not None:
                erf_work(job)

        t, l, h, w = window
        self._window_job = self._start(work, f"LAM of ({t}, {l}, {h}x{w})", atlas_work)

    def _start_preview(self) -> None:
        """The SR output for the SR canvas: the first engine's forward pass (its device, its guard, its cache), on
        the worker; an attribution supersedes it, and its result carries the SR output too."""
        engine = self.engines[self.names[0]]

        def work(job):
            sr = engine.super_resolve(self.image)
            job.deliver(self._show_sr, sr)
            job.deliver(setattr, self, "status", "select a window on the SR output")

        self.start(work, label="computing the SR output")

    # ------------------------------------------------------------------------------------------------ display
    def _show_sr(self, sr) -> None:
        self.sr_view.show("image", sr)
        self._sr_shown = True

    def _draw_window(self) -> None:
        if not self.window:
            self.sr_view.clear("selection")
            for view in self.lr_views.values():
                view.clear("selection")
            return
        t, l, h, w = self.window
        s = self.scale
        self.sr_view.draw_boxes([(t, l, h, w)])
        for view in self.lr_views.values():
            view.draw_boxes([(t / s, l / s, h / s, w / s)])

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

    def _paint_map(self, name: str, map2d, final: bool = False) -> None:
        self._maps[name], self._final[name] = map2d, final
        self._paint_view(name)
        if self.view == "difference" and self.compare and name == self.names[1]:
            self._paint_view(self.names[0])

    def _kde(self, name: str, map2d):
        known = self._kdes.get(name)
        if known is None or known[0] is not map2d:
            known = self._kdes[name] = (map2d, viz.kde_map(map2d))
        return known[1]

    def view_rgba(self, name: str):
        """The overlay of panel ``name`` in the current ``view`` (``uint8 h × w × 4`` on the LR grid), ``None``
        when there is nothing to show yet."""
        view = self.view
        if view == "erf":
            res = self.erf_results.get(name)
            return None if res is None else viz.heatmap_rgba(res.map, self.colormap, self.alpha)
        if view == "difference" and self.compare and name == self.names[0]:
            a, b = self.names[:2]
            if not (self._final.get(a) and self._final.get(b)):
                return None
            return difference_rgba(self._maps[a], self._maps[b], self.alpha)
        m = self._maps.get(name)
        if m is None:
            return None
        if view == "kde" and self._final.get(name):
            m = self._kde(name, m)
        return viz.heatmap_rgba(m, self.colormap, self.alpha)

    def _paint_view(self, name: str) -> None:
        rgba = self.view_rgba(name)
        if rgba is None:
            self.lr_views[name].clear("overlay")
        else:
            self.lr_views[name].show("overlay", rgba)

    def _show_erf(self, name: str, window: tuple, res) -> None:
        if tuple(self.window) != tuple(window):
            return
        self.erf_results[name] = res
        self._paint_view(name)

    def _paint_partial(self, name: str, attribution) -> None:
        self._paint_map(name, attribution_map(attribution))
        self.di_labels[name].value = "DI ..."
        self.gini_labels[name].value = "Gini ..."

    def _clear_panel(self, name: str) -> None:
        self._maps.pop(name, None)
        self._final.pop(name, None)
        self.lr_views[name].clear("overlay")
        self.di_labels[name].value = "DI -"
        self.gini_labels[name].value = "Gini -"
        self.completeness_labels[name].value = ""

    def _show_panel(self, name: str, res) -> None:
        self._paint_map(name, res.map, final=True)
        self.di_labels[name].value = f"DI {res.diffusion_index:.2f}"
        self.gini_labels[name].value = f"Gini {res.gini:.3f}"
        self.completeness_labels[name].value = html.escape(viz.completeness(res) or "", quote=False)

    def _show_final(self, results: dict, cached: bool = False) -> None:
        first = results[self.names[0]]
        if not self._sr_shown and getattr(first, "sr", None) is not None:
            self._show_sr(first.sr)
        self.results = dict(results)
        self.result = first
        self.progress = 1.0
        dis = ", ".join(f"{n} {results[n].diffusion_index:.2f}" for n in self.names) if self.compare \
            else f"{first.diffusion_index:.2f}"
        self.status = f"{'cached' if cached else 'done'}: DI {dis}"
        self._remember(tuple(first.window), first.diffusion_index)

    def _remember(self, window: tuple, di: float) -> None:
        t, l, h, w = window
        entries = [(label, value) for label, value in self.history.options if tuple(value) != window]
        entries.insert(0, (f"({t}, {l}) {h}x{w}  DI {di:.1f}", window))
        self._filling_history = True
        try:
            self.history.options = entries[: self.history_size]
            self.history.value = window
        finally:
            self._filling_history = False

    # ------------------------------------------------------------------------------------------------ export
    def save_figure(self, path: str):
        """Write a publication-ready PNG of the last result (every model's in compare mode) with
        :func:`srwidgets.viz.lam_figure`; returns ``path``."""
        if self.result is None:
            raise InputError("nothing to save yet: select a window on the SR output first")
        if self.compare:
            viz.lam_figure([self.results[n] for n in self.names], path=path, titles=self.names,
                           cmap=self.colormap, alpha=self.alpha)
        else:
            viz.lam_figure(self.result, path=path, cmap=self.colormap, alpha=self.alpha)
        return path

