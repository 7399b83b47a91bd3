"""DDRWidget: see an SR network sort its inputs by degradation (Deep Degradation Representations).

    >>> import srwidgets
    >>> w = srwidgets.DDRWidget("x2-srresnet-bicubic", ["astronaut", "chelsea", "coffee"])   # in a notebook cell
    >>> w.wait(), w.layer, len(w.result.labels)
    (True, 'body.5', 9)

The engine (:class:`srwidgets.ddr.DDR`) extracts and scores; :mod:`srwidgets.viz` draws the exported figure; this
file wires them to the shared pieces: a scatter and a curve chart (:mod:`~srwidgets.widgets.canvas`), the worker
(:mod:`~srwidgets.widgets.runner`) and the status row, errors and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
from typing import Dict, Optional

import ipywidgets as widgets
from traitlets import Any as AnyTrait, Dict as DictTrait, Float, Int, Unicode, observe, validate

from ..ddr import DDR, EMBEDDINGS
from ..errors import InputError
from ..models.lookup import named_models
from .base import EngineWidget
from .canvas import CurveView, ImageView, ScatterView

__all__ = ["DDRWidget"]


class DDRWidget(EngineWidget):
    """Interactive DDR for one SR network, or two side by side (e.g. with and without global residual).

    Args:
        model_or_models: an SR ``nn.Module`` or zoo name, or a list / dict ``name -> model`` (all of one scale).
        images: the HR images, as :func:`srwidgets.ddr.build_inputs` takes them (a list of arrays, tensors, file
            paths or bundled names, or a folder).
        degradations: ``{label: Compose}``, a list of default labels, or ``None`` for clean / blur / noise.
        layers: the layers to analyse (default: all, shallow to deep).
        seed: seed of the random degradations (noise) and of t-SNE.
        size: side of each scatter canvas in screen pixels.
        Any traitlet below may be passed as a keyword (``method="tsne"``, ``layer="body.3"``...).

    Traitlets:
        ``layer`` (the layer whose embedding is shown; a click on the CHI curve sets it), ``method`` (``"pca"``,
        ``"tsne"`` or ``"umap"``), ``perplexity`` (t-SNE): changing one re-embeds, features are not recomputed.
        ``selected`` (index of the clicked point, ``-1`` for none): its degraded input and SR output are shown.
        ``busy``, ``progress``, ``status``, ``error`` as every srwidgets widget.
        ``result`` (the first model's :class:`srwidgets.ddr.DDRResult`), ``results`` (``{name: DDRResult}``).
    """

    layer = Unicode("", help="layer whose 2-D embedding is shown")
    method = Unicode("pca", help="2-D embedding: pca, tsne or umap")
    perplexity = Float(30.0, help="t-SNE perplexity")
    selected = Int(-1, help="index of the selected point (-1: none)")
    result = AnyTrait(None, allow_none=True, help="the first model's DDRResult")
    results = DictTrait(help="{model name: DDRResult}")

    default_figure_path = "ddr.png"

    def __init__(self, model_or_models, images, degradations=None, layers=None, seed: int = 0, size: int = 320,
                 throttle: float = 0.25, **traits):
        super().__init__(throttle=throttle)
        self._ready = False
        self.models = named_models(model_or_models)
        self.names = list(self.models)
        if len(self.names) > 4:
            raise InputError(f"DDRWidget compares up to 4 models side by side, got {len(self.names)}")
        self.engines = {n: DDR(m) for n, m in self.models.items()}  # checks each model
        scales = {n: e.scale for n, e in self.engines.items()}
        if len(set(scales.values())) > 1:
            raise InputError(f"comparing models needs one scale (the same degraded inputs); got {scales}")
        self.images, self.degradations, self.seed = images, degradations, seed
        self.layers = {n: e.select_layers(layers) for n, e in self.engines.items()}
        self._embedded: Dict[str, object] = {}
        self._build(size)
        for name, value in traits.items():
            if not self.has_trait(name):
                raise TypeError(f"DDRWidget got an unexpected keyword argument {name!r}")
            setattr(self, name, value)
        self._ready = True
        self.rerun()

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        return f"models={self.names}, layer={self.layer!r}, method={self.method!r}"

    def _build(self, size: int) -> None:
        self.scatters: Dict[str, ScatterView] = {}
        self.curves: Dict[str, CurveView] = {}
        self.legends: Dict[str, widgets.HTML] = {}
        self.chi_labels: Dict[str, widgets.Label] = {}
        panels = []
        for name in self.names:
            scatter = ScatterView(size, size, on_hover=lambda i, n=name: self._point(n, i, click=False),
                                  on_click=lambda i, n=name: self._point(n, i, click=True))
            curve = CurveView(size, 200, on_select=lambda k, n=name: self._layer_clicked(n, k))
            legend, chi = widgets.HTML(""), widgets.Label("")
            chi.add_class("srw-chi")
            self.scatters[name], self.curves[name], self.legends[name], self.chi_labels[name] = scatter, curve, legend, chi
            panel = widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>"), scatter.canvas, legend, chi,
                                  widgets.HTML("CHI per layer (shallow to deep; click to show a layer)"),
                                  curve.canvas])
            panel.add_class("srw-ddr-panel")
            panels.append(panel)
        self.lr_view: Optional[ImageView] = None  # made when the first point is shown, at the inputs' aspect
        self.sr_view: Optional[ImageView] = None
        self.point_label = widgets.HTML("hover a point: its degraded input; click: also the SR output")
        self._detail = widgets.VBox([self.point_label])
        detail = self._detail
        first = self.layers[self.names[0]]
        self.layer_dropdown = widgets.Dropdown(options=first, value=first[-1], description="Layer:",
                                               layout=widgets.Layout(width="260px"))
        self.method_buttons = widgets.ToggleButtons(options=[("PCA", "pca"), ("t-SNE", "tsne"), ("UMAP", "umap")],
                                                    value="pca", description="Embedding:")
        self.perplexity_slider = widgets.FloatSlider(min=2.0, max=50.0, step=1.0, value=30.0, description="Perplexity:",
                                                     continuous_update=False)
        self.layer = first[-1]  # the deepest: where the paper finds the degradation clusters
        for trait, control in (("layer", self.layer_dropdown), ("method", self.method_buttons),
                               ("perplexity", self.perplexity_slider)):
            widgets.link((self, trait), (control, "value"))
        self.csv_path = widgets.Text(value="ddr.csv", description="Table:", layout=widgets.Layout(width="320px"))
        self.csv_button = widgets.Button(description="Save table", icon="download", tooltip="CHI per layer as CSV")
        self.csv_button.on_click(self._csv_clicked)
        self.children = [self.css(),
                         widgets.HBox(panels + [detail], layout=widgets.Layout(flex_flow="row wrap")),
                         widgets.HBox([self.layer_dropdown, self.method_buttons]), self.perplexity_slider,
                         self.status_row(), self.error_html, self.export_row(),
                         widgets.HBox([self.csv_path, self.csv_button])]

    # ------------------------------------------------------------------------------------------------ validation
    @validate("layer")
    def _validate_layer(self, proposal):
        value = proposal["value"]
        valid = self.layers[self.names[0]]
        if value not in valid:
            self.error = f"unknown layer {value!r}; valid layers (shallow to deep): {', '.join(valid)}"
            return self.layer
        return value

    @validate("method")
    def _validate_method(self, proposal):
        if proposal["value"] not in EMBEDDINGS:
            self.error = f"unknown embedding {proposal['value']!r}; choose one of {', '.join(EMBEDDINGS)}"
            return self.method
        return proposal["value"]

    # ------------------------------------------------------------------------------------------------ reactions
    @observe("layer", "method", "perplexity")
    def _view_changed(self, change) -> None:
        if self._ready and self.results:
            self._start_embedding()

    def _layer_clicked(self, name: str, k: int) -> None:
        self.layer = self.layers[name][k]

    def rerun(self) -> None:
        """Extract the features and score every layer (cached: a second run costs no forward pass), then embed."""
        if self.closed:
            return

        def work(job):
            results = {}
            for i, name in enumerate(self.names):
                def callback(p, i=i):
                    job.report(i * p.total + p.done, len(self.names) * p.total)

                results[name] = self.engines[name].analyse(self.images, self.degradations, self.layers[name],
                                                           self.seed, callback=callback, cancel=job.token)
            job.deliver(self._show_results, results)
            self._embed(job, results)

        self.start(work, label="extracting features")

    def _start_embedding(self) -> None:
        results = dict(self.results)
        self.start(lambda job: self._embed(job, results), label=f"embedding {self.layer} ({self.method})")

    def _embed(self, job, results) -> None:
        layer, method, perplexity = self.layer, self.method, float(self.perplexity)
        embedded = {}
        for name, res in results.items():
            job.token.raise_if_cancelled()
            embedded[name] = res.embed(layer, method, perplexity, self.seed) if layer in res.features else None
        job.deliver(self._show_embeddings, embedded, layer, method)

    # ------------------------------------------------------------------------------------------------ display
    def _show_results(self, results: dict) -> None:
        self.results = dict(results)
        self.result = results[self.names[0]]
        for name, res in results.items():
            self.curves[name].set_curves({"by degradation": [res.chi_degradation[n] for n in res.layers],
                                          "by image": [res.chi_image[n] for n in res.layers]}, res.layers)
        notes = "; ".join(self.result.notes)
        self.status = "features done" + (f" ({notes})" if notes else "")

    def _show_embeddings(self, embedded: dict, layer: str, method: str) -> None:
        for name, xy in embedded.items():
            res = self.results[name]
            if xy is None:
                self.chi_labels[name].value = f"{layer}: not a layer of this model"
                continue
            self.scatters[name].set_points(xy, res.labels)
            self.legends[name].value = " ".join(
                f"<span style='color:{c}'>&#9679;</span> {html.escape(label)}"
                for label, c in self.scatters[name].colors.items())
            self.chi_labels[name].value = (f"{layer}: CHI by degradation {res.chi_degradation[layer]:.3g}, "
                                           f"by image {res.chi_image[layer]:.3g} (pooled features)")
            k = res.layers.index(layer)
            self.curves[name].select(k)
        self._embedded = embedded
        self.progress = 1.0
        self.status = f"done: {layer}, {method}"

    def _point(self, name: str, i: Optional[int], click: bool) -> None:
        """Hover (``click=False``) shows the degraded input of point ``i``; a click also its SR output."""
        res = self.results.get(name)
        if res is None or i is None:
            return
        lr = res.lr(i)
        self.point_label.value = (f"<b>{html.escape(name)}</b>: {html.escape(res.image_names[res.image_ids[i]])}, "
                                  f"<b>{html.escape(res.labels[i])}</b> (point {i})")
        self._detail_views(*lr.shape[-2:])
        self.lr_view.show("image", lr)
        if click:
            self.selected = int(i)
            try:
                self.sr_view.show("image", res.sr(i))
            except InputError as exc:
                self.show_error(str(exc))

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
        """The CHI table of every model: ``pandas.DataFrame`` (model, layer, depth, chi_degradation, chi_image)."""
        import pandas as pd

        if not self.results:
            raise InputError("nothing to export yet: wait for the features (widget.wait())")
        return pd.concat([res.table().assign(model=name) for name, res in self.results.items()], ignore_index=True)

    def save_table(self, path: str) -> str:
        """Write :meth:`table` as CSV; returns ``path``."""
        self.table().to_csv(path, index=False)
        return path

    def save_figure(self, path: str):
        """Write the scatter of the shown layer and the CHI curves (every model) with
        :func:`srwidgets.viz.ddr_figure`; returns ``path``."""
        from .. import viz

        if not self.results:
            raise InputError("nothing to save yet: wait for the features (widget.wait())")
        viz.ddr_figure([self.results[n] for n in self.names], layer=self.layer, method=self.method,
                       perplexity=float(self.perplexity), seed=self.seed, titles=self.names, path=path)
        return path

    def _csv_clicked(self, _=None) -> None:
        path = self.csv_path.value.strip() or "ddr.csv"
        try:
            self.save_table(path)
        except (InputError, OSError) as exc:
            self.show_error(str(exc))
        else:
            self.error = ""
            self.status = f"saved {path}"
