"""The DDR widget's session: its state, jobs and cache, without a view. :class:`DDRSession` holds the models and
their DDR engines, the degraded inputs (built once, again only when ``images``, ``degradations`` or ``seed`` is
replaced), the layers, the settings (checked by ``check_<name>``), the results and the 2-D embeddings; it imports
no ipywidgets, so a script or a test drives it as the widget does.

    >>> from srwidgets.widgets.ddr_session import DDRSession
    >>> s = DDRSession("x2-srresnet-bicubic", ["astronaut", "chelsea", "coffee"])
    >>> s.set(method="pca")
    >>> results, embedded = s.run()          # features and CHI per layer, then the shown layer's embedding
    >>> s.layer, len(s.result.labels), embedded[s.names[0]].shape
    ('body.5', 9, (9, 2))

:class:`~srwidgets.widgets.ddr.DDRWidget` is the view: its traitlets are the settings, its worker runs
:meth:`DDRSession.analyse` and :meth:`DDRSession.embed`, and it shows what they return.
"""
from __future__ import annotations

import importlib.util
import numbers
import os
import threading
from typing import Dict, Optional

import numpy as np

from ..ddr import DDR, EMBEDDINGS, DDRInputs, build_inputs
from ..engine import check_output
from ..errors import InputError
from ..progress import wait_cancellable
from ..zoo.lookup import named_models
from .session import Session, check_widget_seed, source_files

__all__ = ["DDRSession", "SETTINGS", "has_umap"]

SETTINGS = ("layer", "method", "perplexity", "selected")
"""The settings (the widget's traitlets of the same names)."""


EMBED_LOCK = threading.Lock()
"""One embedding at a time in this process: a t-SNE cancelled in one widget finishes (in the background) before the
next starts, so they never compete for the cores or interleave scikit-learn's thread-pool limits."""


def has_umap() -> bool:
    """Whether the optional umap-learn package is installed (the UMAP embedding is offered only then)."""
    return importlib.util.find_spec("umap") is not None


class DDRSession(Session):
    """DDR for one SR network or several of one scale: state, jobs and cache (no view).

    Args:
        model_or_models, images, degradations, layers, seed: as :class:`~srwidgets.widgets.ddr.DDRWidget` takes
            them.

    What it holds —
        models, names, engines (``{name: srwidgets.ddr.DDR}``), scale, images, degradations, seed (a script may
        replace them before :meth:`run`: the inputs are built again), layers (``{name: [layer, ...]}``, shallow to
        deep), the settings ``layer`` (default: the deepest), ``method`` (``"pca"``), ``perplexity`` (30),
        ``selected`` (-1), ``results`` (``{name: DDRResult}`` shown) and ``embedded`` (``{name: [N, 2] array, an
        InputError, or None}`` shown).
    """

    SETTINGS = SETTINGS

    MAX_MODELS = 4
    PERPLEXITY_RANGE = (1.0, 100.0)
    """Perplexities offered (t-SNE's usual range is 5-50; the engine clips values above (N − 1) / 3 for N points)."""

    def __init__(self, model_or_models, images, degradations=None, layers=None, seed: int = 0):
        seed = check_widget_seed(seed)
        if images is None or isinstance(images, (bool, numbers.Number, bytes, dict)) or not (
                isinstance(images, (str, os.PathLike, np.ndarray)) or hasattr(images, "__iter__")):
            raise InputError(f"images must be HR images: a list of HWC arrays in [0, 1], tensors [3, H, W], file "
                             f"paths, bundled names or a folder; got {type(images).__name__}")
        self.models = named_models(model_or_models)
        self.names = list(self.models)
        if len(self.names) > self.MAX_MODELS:
            raise InputError(f"DDRWidget compares up to {self.MAX_MODELS} models side by side, got {len(self.names)}")
        self.engines = {n: DDR(m) for n, m in self.models.items()}  # checks each model
        scales = {n: e.scale for n, e in self.engines.items()}
        if len(set(scales.values())) > 1:
            raise InputError(f"comparing models needs one scale (the same degraded inputs); got {scales}")
        self.scale = next(iter(scales.values()))
        self.images, self.degradations, self.seed = images, degradations, seed
        # built now so that bad images or degradations are refused here, and reused by the first run
        self._inputs: Optional[DDRInputs] = None
        self._inputs_key: tuple = ()
        self.inputs()
        self.layers = {}
        for n, e in self.engines.items():
            try:
                self.layers[n] = e.select_layers(layers)
            except InputError as exc:
                raise InputError(f"layers, model {n!r}: {exc}" if len(self.names) > 1 else f"layers: {exc}") from None
        self.layer = self.layers[self.names[0]][-1]  # the deepest: where the paper finds the degradation clusters
        self.method, self.perplexity, self.selected = "pca", 30.0, -1
        self.results: Dict[str, object] = {}
        self.embedded: Dict[str, object] = {}

    @property
    def result(self):
        """The first model's DDRResult shown (``None`` before the first)."""
        return self.results.get(self.names[0])

    # ------------------------------------------------------------------------------------------------ settings
    @property
    def all_layers(self) -> list:
        """Every model's layers, once each: the first model's (shallow to deep), then the others' it lacks (a click
        on another model's CHI curve may show one of them; a model without it says so in its panel)."""
        return list(dict.fromkeys(name for n in self.names for name in self.layers[n]))

    def check_layer(self, value) -> str:
        valid = self.all_layers
        if not isinstance(value, str) or value not in valid:
            shown = ", ".join(valid[:12]) + (f", ... and {len(valid) - 12} more" if len(valid) > 12 else "")
            raise InputError(f"unknown layer {value!r}; valid layers (shallow to deep): {shown}")
        return value

    def check_method(self, value) -> str:
        if not isinstance(value, str) or value not in EMBEDDINGS:
            raise InputError(f"unknown embedding {value!r} for method; choose one of: {', '.join(EMBEDDINGS)}")
        if value == "umap" and not has_umap():
            raise InputError("method='umap' needs the umap-learn package: pip install umap-learn (or use method='tsne' "
                             "or 'pca')")
        return value

    def check_perplexity(self, value) -> float:
        lo, hi = self.PERPLEXITY_RANGE
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and lo <= value <= hi
        if not ok:
            raise InputError(f"perplexity must be a number in [{lo:g}, {hi:g}] (t-SNE; usual values 5-50), got {value!r}")
        return float(value)

    def check_selected(self, value) -> int:
        n = self.points()
        ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and -1 <= value < n
        if not ok:
            raise InputError(f"selected must be a point index in [0, {n - 1}] ({n} points), or -1 for none; got "
                             f"{value!r}")
        return int(value)

    def points(self) -> int:
        """Points the scatter has (or will have): inputs x degradations."""
        if self.result is not None:
            return len(self.result.labels)
        return len(self._inputs) if self._inputs is not None else 0

    # ------------------------------------------------------------------------------------------------ jobs
    def inputs(self) -> DDRInputs:
        """The degraded inputs of ``images``, ``degradations`` and ``seed`` (attributes a script may change before
        a run): built once, again only when one of them was replaced (or a list of images edited)."""
        images = self.images
        snapshot = tuple(images) if isinstance(images, list) else None
        key = (images, snapshot, self.degradations, self.seed)
        old = self._inputs_key
        same = (self._inputs is not None and old[0] is images and old[2] is self.degradations and old[3] == self.seed
                and (snapshot is None or (len(snapshot) == len(old[1])
                                          and all(a is b for a, b in zip(snapshot, old[1])))))
        if not same:
            self._inputs = build_inputs(images, self.degradations, self.scale, self.seed)
            self._inputs_key = key
        return self._inputs

    def analyse(self, report=None, cancel=None) -> dict:
        """Features and CHI of every layer, per model (the engines cache them: a second run costs no forward
        pass): ``{name: DDRResult}``. ``report(done, total)`` counts over all models."""
        inputs = self.inputs()
        results = {}
        for i, name in enumerate(self.names):
            def callback(p, i=i):
                if report is not None:
                    report(i * p.total + p.done, len(self.names) * p.total)

            results[name] = self.engines[name].analyse(inputs, layers=self.layers[name], callback=callback,
                                                       cancel=cancel)
        return results

    def embed(self, results: dict, cancel=None) -> dict:
        """The 2-D embedding of the ``layer`` setting by ``method`` (``perplexity``, ``seed``), per model:
        ``{name: [N, 2] array}``, ``None`` where the layer is not the model's, the InputError where it cannot be
        embedded (e.g. features all equal)."""
        layer, method, perplexity = self.layer, self.method, float(self.perplexity)
        embedded = {}
        for name, res in results.items():
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                # t-SNE is one scikit-learn call that never looks at the token: a cancel returns at once, the
                # call finishes in the background (it only fills the result's embedding cache); one at a time
                embedded[name] = (wait_cancellable(lambda res=res: res.embed(layer, method, perplexity, self.seed),
                                                   cancel, lock=EMBED_LOCK) if layer in res.features else None)
            except InputError as exc:  # e.g. a layer whose features are all equal: said in that model's panel
                embedded[name] = exc
        return embedded

    def run(self, report=None, cancel=None):
        """The features and CHI, then the embedding, recorded as shown (in the calling thread); returns
        ``(results, embedded)``."""
        self.results = self.analyse(report, cancel)
        if self.selected >= len(self.result.labels):  # other inputs since the selection: it points nowhere now
            self.selected = -1
        self.embedded = self.embed(self.results, cancel)
        return self.results, self.embedded

    # ------------------------------------------------------------------------------------------------ export
    def table(self):
        """The CHI table of every model: ``pandas.DataFrame`` (model, layer, depth, chi_degradation, chi_image)."""
        import pandas as pd

        if not self.results:
            raise InputError("nothing to export yet: wait for the features (widget.wait())")
        return pd.concat([res.table().assign(model=name) for name, res in self.results.items()], ignore_index=True)

    def save_table(self, path: str) -> str:
        """Write :meth:`table` as CSV; returns ``path`` (refused before writing: a folder, a missing folder, not
        ``.csv``, or one of the input images)."""
        table = self.table()
        path = check_output(path, inputs=source_files(self.images), extensions=(".csv",), flag="path",
                            what="the table")
        table.to_csv(path, index=False)
        return path
