"""DDRWidget: see an SR network sort its inputs by degradation (Deep Degradation Representations).

    >>> import srwidgets
    >>> w = srwidgets.DDRWidget("x2-srresnet-bicubic", ["astronaut", "chelsea", "coffee"])   # in a notebook cell
    >>> w.wait(), w.layer, len(w.result.labels)
    (True, 'body.5', 9)

The engine (:class:`srwidgets.ddr.DDR`) extracts and scores; :mod:`srwidgets.viz` draws the exported figure; the
session (:class:`~srwidgets.widgets.ddr_session.DDRSession`: state, jobs, cache; no ipywidgets) holds what the widget
knows. This file is the view: the traitlets (the session's settings), a scatter and a curve chart
(:mod:`~srwidgets.widgets.canvas`), the worker (:mod:`~srwidgets.widgets.runner`) and the status row, errors and
export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
import traceback
from typing import Dict, Optional

import ipywidgets as widgets
import numpy as np
from traitlets import Any as AnyTrait, Dict as DictTrait, observe

from ..ddr import EMBEDDINGS
from ..engine import check_int, check_number, check_output
from ..errors import InputError
from ..viz.ddr import CURVE_NAMES, METHOD_NAMES, axis_labels
from .base import FIGURE_EXTENSIONS, CheckedFloat, CheckedInt, CheckedUnicode, EngineWidget, unknown_keyword
from .canvas import CurveView, ImageView, ScatterView
from .session import check_widget_seed, session_check, source_files
from .ddr_session import SETTINGS, DDRSession, has_umap

__all__ = ["DDRWidget"]


def _session_attribute(name: str, doc: str, settable: bool = False):
    """The session's attribute ``name`` under the widget's name (``settable``: a script may replace it)."""
    setter = (lambda self, value: setattr(self.session, name, value)) if settable else None
    return property(lambda self: getattr(self.session, name), setter, doc=doc)


def _check_size(size, lo: int, hi: int) -> int:
    """The ``size`` argument: an integer in ``[lo, hi]`` screen pixels, else an InputError saying so."""
    size = check_int("size", size, lo, f" and <= {hi} (screen pixels)")
    if size > hi:
        raise InputError(f"size must be an integer >= {lo} and <= {hi} (screen pixels), got {size}")
    return size


def _method_row():
    """The Embedding row: ``(row, label, toggle buttons)`` of the embeddings installed (UMAP only with umap-learn).
    The label is a widget of its own, fixed width, in a row that does not wrap: a ToggleButtons' description wraps
    away from its buttons in a narrow column."""
    methods = [m for m in EMBEDDINGS if m != "umap" or has_umap()]
    buttons = widgets.ToggleButtons(options=[(METHOD_NAMES[m], m) for m in methods], value="pca",
                                    style={"button_width": "64px"}, layout=widgets.Layout(width="auto", flex="0 0 auto"))
    label = widgets.Label("Embedding:", layout=widgets.Layout(width="80px", flex="0 0 auto"))
    row = widgets.HBox([label, buttons], layout=widgets.Layout(flex_flow="row nowrap", align_items="center",
                                                               flex="0 0 auto"))
    row.add_class("srw-ddr-method")
    return row, label, buttons


def _model_views(name: str, size: int, on_hover, on_click, on_select):
    """One model's panel: ``(panel, scatter, CHI curves, legend, CHI line)`` with the mouse handlers given."""
    scatter = ScatterView(size, size, on_hover=on_hover, on_click=on_click)
    curve = CurveView(size, 200, on_select=on_select)
    # HTML, not Label: a Label never wraps (cut with an ellipsis), and side by side two models' lines ran
    # together; this block wraps at its panel's width
    legend = widgets.HTML("")
    chi = widgets.HTML("", layout=widgets.Layout(width=f"{size}px", margin="0 16px 0 0"))
    chi.add_class("srw-chi")
    panel = widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>"), scatter.canvas, legend, chi,
                          widgets.HTML("CHI per layer (shallow to deep; click to show a layer)"), curve.canvas])
    panel.add_class("srw-ddr-panel")
    return panel, scatter, curve, legend, chi


class DDRWidget(EngineWidget):
    """Interactive DDR for one SR network, or two side by side (e.g. with and without global residual).

    Args:
        model_or_models: an SR ``nn.Module`` or zoo name, or a list / dict ``name -> model`` (all of one scale).
        images: the HR images, as :func:`srwidgets.ddr.build_inputs` takes them (a list of arrays, tensors, file
            paths or bundled names, or a folder).
        degradations: ``{label: Compose}``, a list of default labels, or ``None`` for clean / blur / noise.
        layers: the layers to analyse (default: all, shallow to deep).
        seed: seed of the random degradations (noise) and of t-SNE.
        size: side of each scatter canvas in screen pixels, in [:attr:`MIN_SIZE`, :attr:`MAX_SIZE`].
        ``layer``, ``method``, ``perplexity`` and ``selected`` (traitlets below) may be passed as keywords
        (``method="tsne"``, ``layer="body.3"``...).

    Traitlets:
        ``layer`` (the layer whose embedding is shown; a click on the CHI curve sets it), ``method`` (``"pca"``,
        ``"tsne"`` or ``"umap"``), ``perplexity`` (t-SNE): changing one re-embeds, features are not recomputed.
        ``selected`` (index of the clicked point, ``-1`` for none): its degraded input and SR output are shown.
        Setting ``selected`` from code shows what a click on that point shows (of the last clicked model, the
        first at start): its label, degraded input and SR output, the point ringed.
        ``busy``, ``progress``, ``status``, ``error`` as every srwidgets widget.
        ``result`` (the first model's :class:`srwidgets.ddr.DDRResult`), ``results`` (``{name: DDRResult}``).
        Invalid values set ``error``, keep the previous value and start nothing.

    Raises:
        InputError: at construction, for any bad argument (models, images, degradations, layers, seed, size,
            throttle or a keyword's value), naming it and what it may be; for an unknown keyword a
            :class:`~srwidgets.widgets.base.KeywordError` (an ``InputError`` and a ``TypeError``), as every widget.
    """

    layer = CheckedUnicode("", help="layer whose 2-D embedding is shown")
    method = CheckedUnicode("pca", help="2-D embedding: pca, tsne or umap")
    perplexity = CheckedFloat(30.0, help="t-SNE perplexity")
    selected = CheckedInt(-1, help="index of the selected point (-1: none)")
    result = AnyTrait(None, allow_none=True, help="the first model's DDRResult")
    results = DictTrait(help="{model name: DDRResult}")

    default_figure_path = "ddr.png"
    keywords = ("layer", "method", "perplexity", "selected")
    MAX_MODELS = DDRSession.MAX_MODELS
    MIN_SIZE, MAX_SIZE = 120, 2000
    PERPLEXITY_RANGE = DDRSession.PERPLEXITY_RANGE
    """Perplexities the slider offers and code may set (t-SNE's usual range is 5-50; the engine clips values above
    (N − 1) / 3 for N points)."""

    def __init__(self, model_or_models, images, degradations=None, layers=None, seed: int = 0, size: int = 320,
                 throttle: float = 0.25, **traits):
        super().__init__()
        self._ready = False
        try:
            unknown = [name for name in traits if name not in self.keywords]
            if unknown:  # before anything is built
                raise unknown_keyword("DDRWidget", unknown[0], self.keywords)
            self._runner.throttle = check_number("throttle", throttle, 0.0, " (seconds between progress updates)")
            self._setup(model_or_models, images, degradations, layers, seed, size, traits)
        except BaseException:
            self.close()  # a refused widget leaves no worker and no open comm behind
            raise
        self._ready = True
        self.rerun()

    def _setup(self, model_or_models, images, degradations, layers, seed, size, traits) -> None:
        check_widget_seed(seed)
        size = _check_size(size, self.MIN_SIZE, self.MAX_SIZE)
        self.session = DDRSession(model_or_models, images, degradations, layers, seed)
        self._selected_model = self.names[0]  # whose SR output a selection shows: the last clicked scatter's
        self._build(size)
        self.set_keywords(traits)

    # the session's state, under the widget's names
    models = _session_attribute("models", "{name: model}")
    names = _session_attribute("names", "the models' names, in order")
    engines = _session_attribute("engines", "{name: srwidgets.ddr.DDR}")
    scale = _session_attribute("scale", "the models' scale")
    layers = _session_attribute("layers", "{name: [layer, ...]}, shallow to deep")
    images = _session_attribute("images", "the HR images (a script may replace them before rerun)", settable=True)
    degradations = _session_attribute("degradations", "the degradations (replaceable before rerun)", settable=True)
    seed = _session_attribute("seed", "seed of the noise and of t-SNE (replaceable before rerun)", settable=True)

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        return f"models={self.names}, layer={self.layer!r}, method={self.method!r}"

    def _build(self, size: int) -> None:
        self.scatters: Dict[str, ScatterView] = {}
        self.curves: Dict[str, CurveView] = {}
        self.legends: Dict[str, widgets.HTML] = {}
        self.chi_labels: Dict[str, widgets.Label] = {}
        panels = [self._model_panel(name, size) for name in self.names]
        self.lr_view: Optional[ImageView] = None  # made when the first point is shown, at the inputs' aspect
        self.sr_view: Optional[ImageView] = None
        self.point_label = widgets.HTML("hover a point: its degraded input; click: also the SR output")
        self._detail = widgets.VBox([self.point_label])
        first = self.layers[self.names[0]]
        self.layer_dropdown = widgets.Dropdown(options=self.session.all_layers, value=first[-1], description="Layer:",
                                               layout=widgets.Layout(width="260px", flex="0 0 auto"))
        method_row, self.method_label, self.method_buttons = _method_row()
        lo, hi = self.PERPLEXITY_RANGE
        self.perplexity_slider = widgets.FloatSlider(min=lo, max=hi, step=1.0, value=30.0, description="Perplexity:",
                                                     continuous_update=False)
        self.layer = first[-1]  # the deepest: where the paper finds the degradation clusters
        for trait, control in (("layer", self.layer_dropdown), ("method", self.method_buttons),
                               ("perplexity", self.perplexity_slider)):
            widgets.link((self, trait), (control, "value"))
        self.csv_path = widgets.Text(value="ddr.csv", description="Table:", layout=widgets.Layout(width="320px"))
        self.csv_button = widgets.Button(description="Save table", icon="download", tooltip="CHI per layer as CSV")
        self.csv_button.on_click(self._csv_clicked)
        self.children = [self.css(),
                         widgets.HBox(panels + [self._detail], layout=widgets.Layout(flex_flow="row wrap")),
                         widgets.HBox([self.layer_dropdown, method_row],
                                      layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
                         self.perplexity_slider,
                         self.status_row(), self.error_html, self.export_row(),
                         widgets.HBox([self.csv_path, self.csv_button])]

    def _model_panel(self, name: str, size: int) -> widgets.VBox:
        """Model ``name``'s panel (:func:`_model_views`), its views kept in the by-model dicts."""
        panel, *views = _model_views(name, size, lambda i: self._point(name, i, click=False),
                                     lambda i: self._point(name, i, click=True), lambda k: self._layer_clicked(name, k))
        self.scatters[name], self.curves[name], self.legends[name], self.chi_labels[name] = views
        return panel

    # ------------------------------------------------------------------------------------------------ validation
    # (base.Checked: raised while building, shown in ``error`` once ready, the value kept). The session checks
    # (check_layer, check_method, ... are set below the class: session.session_check).

    # ------------------------------------------------------------------------------------------------ reactions
    @observe("layer", "method", "perplexity")
    def _view_changed(self, change) -> None:
        if self._ready and self.results:
            self._start_embedding()

    @observe("selected")
    def _selected_changed(self, change) -> None:
        if self._ready:
            self._show_selected()

    def _layer_clicked(self, name: str, k: int) -> None:
        self.layer = self.layers[name][k]

    def rerun(self) -> None:
        """Extract the features and score every layer (cached: a second run costs no forward pass), then embed."""
        if self.closed:
            return

        def work(job):
            results = self.session.analyse(job.report, cancel=job.token)
            job.deliver(self._show_results, results)
            self._embed(job, results)

        self.start(work, label="extracting features")

    def _start_embedding(self) -> None:
        results = dict(self.results)
        self.start(lambda job: self._embed(job, results), label=f"embedding {self.layer} ({self.method})")

    def _embed(self, job, results) -> None:
        layer, method = self.session.layer, self.session.method
        embedded = self.session.embed(results, cancel=job.token)
        job.deliver(self._show_embeddings, embedded, layer, method)

    # ------------------------------------------------------------------------------------------------ display
    def _show_results(self, results: dict) -> None:
        self.session.results = dict(results)
        self.results = dict(results)
        self.result = results[self.names[0]]
        for name, res in results.items():
            self.curves[name].set_curves({CURVE_NAMES[0]: [res.chi_degradation[n] for n in res.layers],
                                          CURVE_NAMES[1]: [res.chi_image[n] for n in res.layers]}, res.layers)
        notes = "; ".join(self.result.notes)
        self.status = "features done" + (f" ({notes})" if notes else "")
        if self.selected >= len(self.result.labels):  # other inputs since the selection: it points nowhere now
            self.selected = -1
        elif self.selected >= 0:
            self._show_selected()

    def _show_embeddings(self, embedded: dict, layer: str, method: str) -> None:
        failed = []
        for name, xy in embedded.items():
            res = self.results[name]
            if xy is None:
                self.chi_labels[name].value = html.escape(f"{layer}: not a layer of this model")
                continue
            if isinstance(xy, InputError):
                self.scatters[name].set_points(np.zeros((0, 2)), [], axes=axis_labels(method))
                self.chi_labels[name].value = html.escape(f"{layer}: {xy}")
                failed.append(f"{name}: {xy}" if len(self.names) > 1 else str(xy))
                continue
            self.scatters[name].set_points(xy, res.labels, axes=axis_labels(method))
            self.legends[name].value = " ".join(
                f"<span style='color:{c}'>&#9679;</span> {html.escape(label)}"
                for label, c in self.scatters[name].colors.items())
            self.chi_labels[name].value = html.escape(f"{layer}: CHI by degradation {res.chi_degradation[layer]:.3g}, "
                                                      f"by image {res.chi_image[layer]:.3g} (pooled features)")
            k = res.layers.index(layer)
            self.curves[name].select(k)
        self.session.embedded = embedded
        self.progress = 1.0
        self.status = f"done: {layer}, {method}"
        if failed:
            self.error = "; ".join(failed)
        if self.selected >= 0:
            self._ring(self.selected)

    def _point(self, name: str, i: Optional[int], click: bool) -> None:
        """Hover (``click=False``) shows the degraded input of point ``i``; a click selects it (``selected``),
        which also shows its SR output."""
        res = self.results.get(name)
        if res is None or i is None:
            return
        if not click:
            self._show_point(name, i, sr=False)
            return
        self._selected_model = name
        if self.selected == i:
            self._show_selected()  # the same point again (maybe of the other model): no traitlet change to observe
        else:
            self.selected = int(i)

    def _show_selected(self) -> None:
        """Show ``selected`` as a click shows it: label, degraded input, SR output, the point ringed; -1 clears."""
        name = self._selected_model if self._selected_model in self.results else self.names[0]
        if name not in self.results:
            return  # the features are not there yet: shown when they arrive (_show_results)
        i = self.selected
        if i < 0:
            for scatter in self.scatters.values():
                scatter.highlight(None)
            if self.sr_view is not None:
                self.sr_view.clear("image")
                self.lr_view.clear("image")
            self.point_label.value = "hover a point: its degraded input; click: also the SR output"
            return
        self._show_point(name, i, sr=True)
        self._ring(i)

    def _ring(self, i: int) -> None:
        """Ring point ``i`` in the scatter of the selected model (when it has been drawn)."""
        name = self._selected_model if self._selected_model in self.scatters else self.names[0]
        scatter = self.scatters[name]
        if 0 <= i < len(scatter.display):
            scatter.highlight(i)

    def _show_point(self, name: str, i: int, sr: bool) -> None:
        res = self.results[name]
        lr = res.lr(i)
        self.point_label.value = (f"<b>{html.escape(name)}</b>: {html.escape(res.image_names[res.image_ids[i]])}, "
                                  f"<b>{html.escape(res.labels[i])}</b> (point {i})")
        self._detail_views(*lr.shape[-2:])
        self.lr_view.show("image", lr)
        if sr:
            # one forward pass on the kernel thread: a failure is shown (a refusal of this selection, cleared by the
            # next point shown), never raised out of the click or the ``selected`` observer
            try:
                out = res.sr(i)
            except Exception as exc:  # noqa: BLE001
                message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
                self.refuse("selected", message)
                self.last_traceback = None if isinstance(exc, InputError) else traceback.format_exc()
                return
            self.sr_view.show("image", out)
            self.accept("selected")

    def _detail_views(self, height: int, width: int) -> None:
        """The LR-input and SR-output views, at the inputs' aspect ratio (made once per input size)."""
        if self.lr_view is not None and (self.lr_view.height, self.lr_view.width) == (height, width):
            return
        scale = self.engines[self.names[0]].scale
        self.lr_view = ImageView(height, width, max_size=200, min_size=128)
        self.sr_view = ImageView(height * scale, width * scale, max_size=200, min_size=128)
        self._detail.children = [self.point_label, widgets.HTML("degraded LR input"), self.lr_view.canvas,
                                 widgets.HTML("SR output"), self.sr_view.canvas]

    # ------------------------------------------------------------------------------------------------ export
    def table(self):
        """``DDRSession.table``: the CHI table of every model (``pandas.DataFrame``)."""
        return self.session.table()

    def save_table(self, path: str) -> str:
        """``DDRSession.save_table``: :meth:`table` as CSV; returns ``path``."""
        return self.session.save_table(path)

    def save_figure(self, path: str):
        """Write the scatter of the shown layer and the CHI curves (every model) with
        :func:`srwidgets.viz.ddr_figure`; returns ``path``."""
        from .. import viz

        if not self.results:
            raise InputError("nothing to draw yet: the features are not computed (a run failed or was cancelled: "
                             "press Run, then widget.wait())")
        path = check_output(path, inputs=source_files(self.images), extensions=FIGURE_EXTENSIONS,
                            flag="path", what="the figure")
        viz.ddr_figure([self.results[n] for n in self.names], layer=self.layer, method=self.method,
                       perplexity=float(self.perplexity), seed=self.seed, titles=self.names, path=path)
        return path

    def _csv_clicked(self, _=None) -> None:
        self.save_to(self.csv_path.value, "ddr.csv", self.save_table)  # the default name replaces no file


for _name in SETTINGS:
    setattr(DDRWidget, f"check_{_name}", session_check(_name, "DDRSession"))
del _name
