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
:func:`srwidgets.trust.report`) compute, :mod:`srwidgets.viz` colours; this file wires the knobs to the shared
pieces: the window panels (:mod:`~srwidgets.widgets.panels`), the worker (:mod:`~srwidgets.widgets.runner`) and the
status row, errors, checked keywords and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
import inspect
import threading
import warnings
from typing import Any, Dict, List, Optional, Tuple

import ipywidgets as widgets
import numpy as np
from traitlets import Any as AnyTrait, Dict as DictTrait, observe

from .. import attribution, viz
from ..data import load_image
from ..engine import check_choice, check_int, check_number, check_steps
from ..engine.cache import image_digest, model_key
from ..errors import InputError
from ..lam import LAM, PATHS, attribution_map
from ..lam.geometry import validate_window
from ..models.lookup import named_models
from .base import CheckedAny, CheckedBool, CheckedFloat, CheckedInt, CheckedUnicode, EngineWidget
from .panels import MapPanel, WindowPanel

__all__ = ["LAMWidget"]

COLORMAPS = ["jet", "seismic", "viridis", "magma", "inferno", "hot", "coolwarm", "RdBu_r", "gray"]
ATLAS_CMAP = "magma"  # the DI atlas' colours, as srwidgets.viz.di.atlas_figure draws it
ATLAS_WINDOWS_PER_TASK = 8  # atlas windows per engine call: the progress bar moves (and a cancel lands) between them
DIFFERENCE_CMAP = "RdBu_r"  # the signed difference of two models' maps (red: the first model uses the pixel more)
_LAM_OPTIONS = ("device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail")
"""The keys ``lam_options`` may have (:class:`srwidgets.lam.LAM`'s keyword arguments besides model and scale)."""
_LAM_ONLY = ("autocast", "channels_last")  # lam_options the other members' engines do not take
_SHARED_KNOBS = ("steps", "sigma", "kernel_size")  # the sliders, given to every member whose attribute() names them
VIEWS = {"map": "the raw map of each panel's method",
         "kde": "kernel-density view of the map (srwidgets.viz.kde_map, the LAM paper's style)",
         "erf": "effective receptive field of the window: Σ_c |∇_x D(F(x))| at the input (srwidgets.attribute "
                "method 'erf'), one per model",
         "difference": "compare mode: the first model's map minus the second's (same method), on the first "
                       "model's panels"}
"""The LR panels' views (the ``view`` traitlet)."""
PATH_LABELS = {"blur": "blur (paper)", "black": "line from black", "uniform": "line from noise",
               "gaussian": "line from x + noise", "blurred": "line from blurred x", "multi": "noise baselines, mean"}
"""The Path dropdown's labels (the dropdown's tooltip and :data:`srwidgets.lam.PATHS` give the full description)."""
TRUST_COLUMNS = ("kind", "gini", "diffusion_index", "auc_deletion_norm", "auc_insertion_norm", "del_vs_random",
                 "ins_vs_random", "edge_spearman")
"""The columns of :func:`srwidgets.trust.report` the Trust panel shows (the whole table is ``trust_results``)."""


def view_button_width(names) -> str:
    """The CSS width of the View buttons: room for the longest name (about 8 px a character + 24 px padding)."""
    return f"{8 * max(len(n) for n in names) + 24}px"


def difference_rgba(map_a, map_b, alpha: float = 0.5):
    """The signed difference ``map_a − map_b`` coloured with :data:`DIFFERENCE_CMAP`, symmetric limits
    ``±max|d|`` (white: equal; red: ``a`` larger), as :func:`srwidgets.viz.difference_figure` draws it.

    (Belongs in :mod:`srwidgets.viz.lam` as a public ``difference_rgba``; kept here until it is there.)"""
    d = np.nan_to_num(viz._numpy(map_a).astype(np.float64) - viz._numpy(map_b).astype(np.float64), nan=0.0)
    limit = max(float(np.abs(d).max()), 1e-12)
    return viz.heatmap_rgba(0.5 + 0.5 * d / limit, DIFFERENCE_CMAP, alpha)


def _explicit_parameters(fn) -> set:
    """The keyword parameters ``fn`` names (not those it swallows in ``**kwargs``)."""
    return {p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class LAMWidget(EngineWidget):
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
        Any traitlet below may be passed as a keyword (``steps=20``, ``window=(8, 8, 16)``, ``methods=["lam",
        "ig"]``...).

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
    alpha = CheckedFloat(0.5, help="heatmap opacity")
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
        unknown = [n for n in traits if n not in self.keywords]
        if unknown:
            raise InputError(f"LAMWidget got an unexpected keyword argument {unknown[0]!r}; the keywords are: "
                             f"{', '.join(self.keywords)}, scale, max_display, throttle, lam_options, hr")
        max_display = check_int("max_display", max_display, 64, " (screen pixels of the SR canvas, e.g. 512)")
        throttle = check_number("throttle", throttle, 0.0, " (seconds between repaints, e.g. 0.25)")
        if lam_options is not None and not isinstance(lam_options, dict):
            raise InputError(f"lam_options must be a dict of srwidgets.lam.LAM keyword arguments (device, chunk_size, "
                             f"memory_budget, ...), got {type(lam_options).__name__}")
        bad = sorted(set(lam_options or {}) - set(_LAM_OPTIONS))
        if bad:
            raise InputError(f"lam_options: unknown {', '.join(map(repr, bad))}; choose from: {', '.join(_LAM_OPTIONS)}")
        super().__init__(throttle=throttle)
        self._run_lock = threading.RLock()  # a window set and the job it starts, as one step (any thread)
        self._syncing = False  # path <-> baseline (and method <-> methods) kept in step without warnings
        self.models = named_models(model_or_models)
        self.names = list(self.models)
        self.compare = len(self.names) > 1
        self.image = load_image(image)
        self._options = dict(lam_options or {})
        self.engines = {n: LAM(m, scale=scale, **self._options) for n, m in self.models.items()}  # checks each
        scales = {n: e.scale for n, e in self.engines.items()}
        if len(set(scales.values())) > 1:
            raise InputError(f"compare mode needs models of one scale; got {scales}")
        self.scale = next(iter(scales.values()))
        self.hr = self._check_hr(hr)
        self._hr_key = None if self.hr is None else image_digest(self.hr)
        self._image_key = image_digest(self.image)
        self.panels: Dict[Tuple[str, str], MapPanel] = {}  # (model, method) -> its panel, made when first shown
        self._compact: Optional[bool] = None  # whether the panels were made side-by-side size
        self._kdes: Dict[Tuple[str, str], Any] = {}  # panel key -> (map, its kde_map) of the finished map shown
        self.erf_results: Dict[str, Any] = {}  # model -> ERF result of the current window (in the erf view)
        self._atlas_job = None  # the job computing the atlas, while it does
        self._window_job = None  # the last job started for a window
        self._max_display = max_display
        self.window_panel = WindowPanel(
            self.image, self.scale, self._selected, size=self.window_size, free=bool(self.free_size),
            max_display=max_display, title=f"<b>SR output</b> ({html.escape(self.names[0])}, x{self.scale}): drag or "
                                           "click to select a window")
        self._panels_box = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap"))
        self._build_controls()
        self.trust_button = widgets.Button(description="Trust", icon="check", tooltip=(
            "deletion / insertion curves of the shown methods on this window, against random and edge controls "
            "(srwidgets.trust.report)"))
        self.trust_button.on_click(lambda _: self.run_trust())
        self.trust_html = widgets.HTML("")
        self.trust_html.add_class("srw-trust")
        self.children = [self.css(), widgets.HBox([self.window_panel.box, self._panels_box],
                                                  layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
                         self._method_row, self._selection_row, self._engine_row, self._display_row,
                         self.status_row(), self.error_html, self.export_row(),
                         widgets.VBox([self.trust_button, self.trust_html])]
        window = traits.pop("window", None)
        self.set_keywords(traits)
        if window is not None:
            window = self._check_window(window)
        self._layout_panels()
        self._ready = True
        self._start_preview()
        if window:
            self.window = window
        elif self.atlas:
            self._run()

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        _, h, w = self.image.shape
        methods = "" if tuple(self.methods) == ("lam",) else f", methods={list(self.methods)}"
        return f"models={list(self.names)}, image {h}x{w}, x{self.scale}{methods}"

    # The SR canvas and its selector (the window panel's), under their former names.
    @property
    def sr_view(self):
        return self.window_panel.sr_view

    @property
    def selector(self):
        return self.window_panel.selector

    def panel(self, name: str, method: Optional[str] = None) -> MapPanel:
        """The panel of model ``name`` and ``method`` (default: the first method), made if needed."""
        key = (name, method or self.methods[0])
        if key not in self.panels:
            if self._compact is None:
                self._compact = self.compare or len(self.methods) > 1
            # one panel matches the SR canvas; side by side they share the width
            zoom = None if self._compact else self.sr_view.zoom * self.scale
            size = self._max_display // 2 if self._compact else self._max_display
            self.panels[key] = MapPanel(self.image, f"<b>{html.escape(name)}: {html.escape(key[1])}</b>",
                                        zoom=zoom, max_size=size)
        return self.panels[key]

    def _keys(self) -> List[Tuple[str, str]]:
        """The panels shown, in order: models × methods."""
        return [(n, m) for n in self.names for m in self.methods]

    def _layout_panels(self) -> None:
        compact = self.compare or len(self.methods) > 1
        if self._compact is not None and compact != self._compact:
            self.panels, self._kdes, self._compact = {}, {}, None  # remade at the other size, repainted from cache
        self._panels_box.children = [self.panel(n, m).box for n, m in self._keys()]
        self.window_panel.draw_window(self.window, [self.panels[k] for k in self._keys()])

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

        # One box per member registered now (the family is open: a member registered later needs a new widget).
        registered = attribution.methods()
        self.method_boxes = {
            name: widgets.Checkbox(value=name in self.methods, description=name, indent=False, tooltip=text,
                                   layout=widgets.Layout(width="auto", margin="0 12px 0 0"))
            for name, text in registered.items()}
        for name, box in self.method_boxes.items():
            box.add_class(f"srw-method-{name}")
            box.observe(lambda c, name=name: self._method_ticked(name, c["new"]), "value")
        self._method_row = widgets.HBox([widgets.Label("Method:")] + list(self.method_boxes.values()),
                                        layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        self._method_row.add_class("srw-methods")
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
        views = self._views()
        # Buttons as wide as the longest name needs (about 8 px a character at the widgets' 13 px font, plus
        # ipywidgets 8's padding and border): a fixed 80 px cut "difference" to "differe…".
        self.view_buttons = widgets.ToggleButtons(options=views, description="View:",
                                                  tooltips=[VIEWS[v] for v in views],
                                                  style={"button_width": view_button_width(views),
                                                         "description_width": "initial"})
        self._display_row = widgets.HBox([  # wraps rather than squeezing its controls on a narrow page
            linked("path", self.baseline_dropdown),
            linked("alpha", widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="Alpha:")),
            linked("colormap", self.colormap_dropdown),
            linked("view", self.view_buttons),
        ], layout=widgets.Layout(flex_flow="row wrap", align_items="center"))

    # ------------------------------------------------------------------------------------------------ checks
    # check_<name>(value) -> value, raising InputError: at construction it is raised, afterwards it is shown in
    # ``error`` and the traitlet keeps its value (srwidgets.widgets.base).
    def _views(self) -> list:
        return [v for v in VIEWS if v != "difference" or self.compare]

    def check_window(self, value) -> tuple:
        try:
            return self._check_window(value)
        except InputError:
            if self.ready:
                self.status = "window rejected"
            raise

    def _check_window(self, value) -> tuple:
        if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
            return ()
        # The engine's own check, run here synchronously so a bad window never reaches the worker.
        if isinstance(value, (str, bytes)):
            value = (value,)  # a string is not a window; let the engine's message say so
        _, h, w = self.image.shape
        return tuple(validate_window(value, h * self.scale, w * self.scale))

    def check_steps(self, value) -> int:
        return check_steps(value, hint=" (the paper uses 50)")

    def check_sigma(self, value) -> float:
        return check_number("sigma", value, 0.0, " (the paper uses 1.2)")

    def check_kernel_size(self, value) -> int:
        value = check_int("kernel_size", value, 1, " (odd; the paper uses 9)")
        if value % 2 == 0:
            raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {value}")
        return value

    def check_path(self, value) -> str:
        return check_choice("path", value, PATHS)

    def check_baseline(self, value) -> str:
        value = check_choice("baseline", value, PATHS)
        if not self._syncing:
            warnings.warn("LAMWidget's baseline is now called path (the engine's name; ig's baseline= is another "
                          "knob): use path=", DeprecationWarning, stacklevel=7)
        return value

    def check_method(self, value) -> str:
        return check_choice("method", value, attribution.methods())

    def check_methods(self, value) -> tuple:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not names:
            raise InputError(f"methods must be a method name or a non-empty list of them ({', '.join(attribution.methods())}), "
                             f"got {value!r}")
        known = attribution.methods()
        for name in names:
            check_choice("methods", name, known)
        return tuple(dict.fromkeys(names))  # in the order given, once each

    def check_knobs(self, value) -> dict:
        known = attribution.methods()
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise InputError(f"knobs must be a dict {{method: {{option: value}}}}, e.g. {{'ig': {{'baseline': "
                             f"'blurred'}}}}, got {value!r}")
        for name in value:
            check_choice("knobs", name, known)
        return {k: dict(v) for k, v in value.items()}

    def check_alpha(self, value) -> float:
        value = check_number("alpha", value, 0.0, " and <= 1 (heatmap opacity)")
        if value > 1:
            raise InputError(f"alpha must be a finite number >= 0 and <= 1 (heatmap opacity), got {value!r}")
        return value

    def check_colormap(self, value) -> str:
        import matplotlib

        if not isinstance(value, str) or value not in matplotlib.colormaps:
            raise InputError(f"unknown colormap {value!r}; a matplotlib colormap name such as {', '.join(COLORMAPS)}")
        if hasattr(self, "colormap_dropdown") and value not in self.colormap_dropdown.options:
            self.colormap_dropdown.options = list(self.colormap_dropdown.options) + [value]
        return value

    def check_window_size(self, value) -> int:
        return check_int("window_size", value, 2, " (SR pixels; the paper uses 16)")

    def check_atlas_stride(self, value) -> int:
        return check_int("atlas_stride", value, 1, " (SR pixels)")

    def _flag(self, name, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {value!r}")
        return bool(value)

    def check_free_size(self, value) -> bool:
        return self._flag("free_size", value)

    def check_atlas(self, value) -> bool:
        return self._flag("atlas", value)

    def check_view(self, value) -> str:
        if value == "difference" and not self.compare:
            raise InputError("view='difference' needs two models (compare mode); with one model choose one of: "
                             + ", ".join(self._views()))
        return check_choice("view", value, self._views())

    def _check_hr(self, hr):
        if hr is None:
            return None
        try:
            hr = load_image(hr)
        except InputError as exc:
            raise InputError(f"hr: {exc}") from None
        _, h, w = self.image.shape
        if tuple(hr.shape[-2:]) != (self.scale * h, self.scale * w):
            raise InputError(f"hr must be the HR image of the input, {self.scale * h}x{self.scale * w} (x{self.scale} "
                             f"the LR {h}x{w}), got {hr.shape[-2]}x{hr.shape[-1]}")
        return hr

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
                self.error = "at least one method is shown: tick another one first"
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

    def _repaint(self) -> None:
        for key in self._keys():
            self._paint_view(key)

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
            else:
                self.cancel()

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

    # ------------------------------------------------------------------------------------------------ knobs
    def settings(self) -> dict:
        """LAM's keyword arguments of the current traitlets (SR px windows aside)."""
        return dict(steps=int(self.steps), sigma=float(self.sigma), kernel_size=int(self.kernel_size),
                    path=str(self.path))

    def method_knobs(self, method: str) -> dict:
        """The keyword arguments ``srwidgets.attribute(..., method=method)`` gets: LAM's :meth:`settings`; for the
        other members the sliders they take (``steps``, ``sigma``, ``kernel_size``), ``hr`` where they need it,
        then ``knobs[method]``."""
        cls = attribution.method_class(method)
        s = self.settings()
        if method == "lam":
            out = s
        else:
            named = _explicit_parameters(cls.attribute)
            out = {k: s[k] for k in _SHARED_KNOBS if k in named}
            if getattr(cls, "needs_hr", False):
                out["hr"] = self.hr
        out.update(self.knobs.get(method, {}))
        return out

    def _engine(self, name: str, method: str):
        """The engine ``attribute(image, window, callback=, cancel=, **knobs)`` of model ``name`` and ``method``:
        LAM's own for ``"lam"`` (the family's ``"lam"`` is the same computation), else the family's member."""
        if method == "lam":
            return self.engines[name]
        opts = {k: v for k, v in self._options.items() if k not in _LAM_ONLY}
        opts["device"] = self.engines[name].device
        return attribution.engine(self.models[name], method, scale=self.scale, **opts)

    def _missing_hr(self, method: str) -> bool:
        return self.hr is None and getattr(attribution.method_class(method), "needs_hr", False)

    def _key(self, name: str, method: str, window: tuple, knobs: dict) -> tuple:
        # The weights' and buffers' identity and version counters are part of the key: editing a model in place
        # (fine-tuning, load_state_dict, a changed mean shift) must not bring back results of the old state.
        shown = tuple(sorted((k, self._hr_key if k == "hr" else repr(v)) for k, v in knobs.items()))
        return (name, method, tuple(window), model_key(self.engines[name].model)) + shown

    def atlas_settings(self) -> dict:
        """The keyword arguments of :func:`srwidgets.batch.di_atlas` the atlas is computed with (besides the model,
        ``{first name: first model}``, and the image): the atlas stride, ``window_size`` and LAM's knobs."""
        s = self.settings()
        return dict(stride=int(self.atlas_stride), size=int(self.window_size), steps=s["steps"], sigma=s["sigma"],
                    kernel_size=s["kernel_size"], path=s["path"], device=self.engines[self.names[0]].device,
                    windows_per_task=ATLAS_WINDOWS_PER_TASK, progress=False)

    def _atlas_key(self, settings: dict) -> tuple:
        name = self.names[0]
        return ("atlas", name, model_key(self.engines[name].model), self._image_key) + tuple(
            (k, str(v)) for k, v in sorted(settings.items()))

    # ------------------------------------------------------------------------------------------------ jobs
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
        """``work(job)`` computing the ERF (the family's ``"erf"``) of ``window`` for the models ``todo``
        (``None`` when none)."""
        if not todo:
            return None

        def work(job):
            for name in todo:
                res = self._engine(name, "erf").attribute(self.image, window, cancel=job.token)
                self.cache_put(self._erf_key(name, window), res)
                job.deliver(self._show_erf, name, window, res)

        return work

    def _atlas_work(self):
        """``None`` when the atlas is off or cached (then shown now); else ``work(job)`` computing and showing it
        with one engine call, :func:`srwidgets.batch.di_atlas`."""
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

            if not self.window_panel.sr_shown:  # the preview was superseded: the SR image under the atlas first
                job.deliver(self.window_panel.show_sr, engine.super_resolve(self.image))
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
        window = tuple(self.window)
        keys = self._keys()
        knobs = {m: self.method_knobs(m) for m in self.methods}
        cache_keys = {k: self._key(k[0], k[1], window, knobs[k[1]]) for k in keys}
        cached = {k: self.cache_get(cache_keys[k]) for k in keys}
        cached = {k: r for k, r in cached.items() if r is not None}
        missing_hr = [k for k in keys if self._missing_hr(k[1])]
        todo = [k for k in keys if k not in cached and k not in missing_hr]
        erf_work = self._erf_work(window, self._erf_todo(window))
        for key in missing_hr:
            self.panels[key].say(f"{key[1]} needs the HR image: pass hr= to LAMWidget")
        if not todo:
            self.supersede()
            self.error = ""
            for key, res in cached.items():
                self._show_panel(key, res)
            self._show_final(cached, cached=True)
            if atlas_work is not None or erf_work is not None:
                self._start(erf_work, "ERF of the window", atlas_work)
            return
        if self.busy:
            self.supersede()  # first, so the old job cannot paint over the cleared panels
        for key in todo:
            self.panels[key].clear()

        def shown(fn):  # a display step of this job, run only while its window is the one shown
            return lambda *args: fn(*args) if tuple(self.window) == window else None

        def work(job):
            results = dict(cached)
            for key, res in cached.items():
                job.deliver(shown(self._show_panel), key, res)
            for i, key in enumerate(todo):
                def callback(p, i=i, key=key):
                    partial = None if p.partial is None else (lambda: self._paint_partial(key, p.partial))
                    job.report(i * p.total + p.done, len(todo) * p.total, partial)

                res = self._engine(*key).attribute(self.image, window, callback=callback, cancel=job.token,
                                                   **knobs[key[1]])
                self.cache_put(cache_keys[key], res)
                results[key] = res
                job.deliver(shown(self._show_panel), key, res)
            job.deliver(shown(self._show_final), results)
            if erf_work is not None:
                erf_work(job)

        t, l, h, w = window
        what = "LAM" if tuple(self.methods) == ("lam",) else ", ".join(self.methods)
        self._window_job = self._start(work, f"{what} of ({t}, {l}, {h}x{w})", atlas_work)

    def _start_preview(self) -> None:
        """The SR output for the SR canvas: the first engine's forward pass (its device, its guard, its cache), on
        the worker; an attribution supersedes it, and its result carries the SR output too."""
        engine = self.engines[self.names[0]]

        def work(job):
            sr = engine.super_resolve(self.image)
            job.deliver(self.window_panel.show_sr, sr)
            job.deliver(setattr, self, "status", "select a window on the SR output")

        self.start(work, label="computing the SR output")

    # ------------------------------------------------------------------------------------------------ trust
    def trust_methods(self) -> list:
        """The methods the Trust panel reports on: those shown, less any that needs the HR image the widget lacks."""
        return [m for m in self.methods if not self._missing_hr(m)]

    def run_trust(self):
        """The Trust button: :func:`srwidgets.trust.report` of the current window for every model (the shown
        methods, their knobs), on the worker; the tables land in ``trust_results`` and the Trust panel. Returns
        the job (``None`` without a window)."""
        if not self.window:
            self.error = "select a window on the SR output first, then press Trust"
            return None
        window, methods = tuple(self.window), self.trust_methods()
        if not methods:
            self.error = "no method to check: the shown methods need the HR image (pass hr= to LAMWidget)"
            return None
        knobs = {m: {k: v for k, v in self.method_knobs(m).items() if k != "hr"} for m in methods}
        self.trust_html.value = ""

        def work(job):
            from ..trust import report

            tables = {}
            for i, name in enumerate(self.names):
                tables[name] = report(self.models[name], self.image, window, methods=methods, hr=self.hr,
                                      knobs=knobs, device=self.engines[name].device, cancel=job.token,
                                      callback=lambda p, i=i: job.report(i, len(self.names)))
            job.deliver(self._show_trust, window, tables)

        t, l, h, w = window
        return self.start(work, label=f"trust of ({t}, {l}, {h}x{w})")

    def _show_trust(self, window: tuple, tables: dict) -> None:
        self.trust_results = dict(tables)
        parts = []
        for name, df in tables.items():
            cols = [c for c in TRUST_COLUMNS if c in df.columns]
            skipped = df.attrs.get("skipped") or {}
            note = "".join(f"<br><i>{html.escape(m)}: {html.escape(why)}</i>" for m, why in skipped.items())
            parts.append(f"<b>Trust of {html.escape(name)} on {window}</b> (negative del_vs_random / positive "
                         f"ins_vs_random: the map finds the window's detail faster than chance){note}"
                         + df[cols].to_html(float_format=lambda v: f"{v:.3f}", na_rep="-"))
        self.trust_html.value = "".join(parts)
        self.progress = 1.0
        self.status = "trust report done"

    # ------------------------------------------------------------------------------------------------ display
    def _draw_window(self) -> None:
        self.window_panel.draw_window(self.window, [self.panels[k] for k in self._keys() if k in self.panels])

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

    def _kde(self, key, map2d):
        known = self._kdes.get(key)
        if known is None or known[0] is not map2d:
            known = self._kdes[key] = (map2d, viz.kde_map(map2d))
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
            return None if res is None else viz.heatmap_rgba(res.map, self.colormap, self.alpha)
        if view == "difference" and self.compare and name == self.names[0]:
            other = self.panels.get((self.names[1], key[1]))
            if not (panel.final and other is not None and other.final):
                return None
            return difference_rgba(panel.map, other.map, self.alpha)
        if panel.map is None:
            return None
        m = self._kde(key, panel.map) if view == "kde" and panel.final else panel.map
        return viz.heatmap_rgba(m, self.colormap, self.alpha)

    def _paint_view(self, key) -> None:
        if key in self.panels:
            self.panels[key].paint(self.view_rgba(*key))

    def _painted(self, key) -> None:
        self._paint_view(key)
        if self.view == "difference" and self.compare and key[0] == self.names[1]:
            self._paint_view((self.names[0], key[1]))

    def _show_erf(self, name: str, window: tuple, res) -> None:
        if tuple(self.window) != tuple(window):
            return
        self.erf_results[name] = res
        for key in self._keys():
            if key[0] == name:
                self._paint_view(key)

    def _paint_partial(self, key, attribution_tensor) -> None:
        panel = self.panels[key]
        panel.set_map(attribution_map(attribution_tensor))
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
            self.status = f"{first_method} needs the HR image: pass hr= to LAMWidget"
            return
        if not self.window_panel.sr_shown and getattr(first, "sr", None) is not None:
            self.window_panel.show_sr(first.sr)
        self.panel_results = dict(results)
        self.results = {n: results[(n, first_method)] for n in self.names if (n, first_method) in results}
        self.result = first
        self.progress = 1.0
        if len(results) > 1:
            dis = ", ".join(f"{n if len(self.methods) == 1 else f'{n}: {m}'} {r.diffusion_index:.2f}"
                            for (n, m), r in results.items())
        else:
            dis = f"{first.diffusion_index:.2f}"
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
        """Write a publication-ready PNG of the last result: :func:`srwidgets.viz.lam_figure` of every model's LAM
        (one method), else :func:`srwidgets.viz.methods_figure` of every panel; returns ``path``."""
        if self.result is None:
            raise InputError("nothing to save yet: select a window on the SR output first")
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
