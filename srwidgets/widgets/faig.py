"""FAIGWidget: which filters of a blind-SR network remove one degradation? Find them (FAIG, Xie et al. 2021), put
the baseline's values back into them and watch the network stop removing it.

    >>> import srwidgets
    >>> from srwidgets import data, zoo
    >>> crops = [data.image(name)[:, 64:112, 64:112] for name in ("astronaut", "chelsea")]   # two 48×48 HR crops
    >>> w = srwidgets.FAIGWidget(*zoo.faig_pair(), crops, degradation="noise", steps=4)      # in a notebook cell
    >>> w.wait(), w.result.scores.shape, sum(w.layer_counts.values())    # the top 1 %: 176 of 17600 filters
    (True, (17600,), 176)
    >>> w.lam = 0.5; w.wait()        # half-way back to the baseline's values: one forward pass, no new scores
    True
    >>> sorted(w.psnrs)              # dB against the clean HR crop
    ['input', 'masked', 'target']

The engine (:mod:`srwidgets.faig`: scores, rankings, :func:`~srwidgets.faig.modulate`) computes,
:mod:`srwidgets.viz.faig` draws the exported figure; this file wires them to the shared pieces: image views and a
bar chart (:mod:`~srwidgets.widgets.canvas`), the worker (:mod:`~srwidgets.widgets.runner`) and the status row,
errors and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import csv
import html
import json
import math
import numbers
import os
from typing import Dict, List, Optional

import ipywidgets as widgets
import numpy as np
import torch
from traitlets import Any as AnyTrait, Dict as DictTrait, observe

from ..data import load_images
from ..degrade import FAIG_PRESETS
from ..engine import check_int, check_number, check_output, check_seed, model_key
from ..errors import InputError
from ..faig import (FAIG, METHODS, OTHER, Filter, degraded_inputs, hr_tensors, layer_counts, masked_outputs, rank,
                    top_count)
from ..viz.faig import format_psnr
from .base import FIGURE_EXTENSIONS, CheckedAny, EngineWidget, unknown_keyword
from .canvas import BarView, ImageView

__all__ = ["FAIGWidget", "DEGRADATIONS"]

DEGRADATIONS = tuple(d for d in FAIG_PRESETS if d in OTHER)
"""The degradations the widget offers: the FAIG presets with a contrast for eq. 7 (blur, noise)."""
METHOD_LABELS = {"faig": "FAIG", "random": "random", "weight_diff": "weight change"}
PANELS = ("input", "target", "masked")
MAX_FRACTION, MAX_LAM, MAX_STEPS = 0.10, 1.5, 500
LIST_ROWS = 40  # filters listed for a clicked layer
BAR_CAPTION = "<div><b>Masked filters per conv layer</b>, shallow to deep. Hover a bar to name its layer.</div>"
FILTER_LIST_EMPTY = "<div><i>No layer selected: click a bar to list its masked filters here.</i></div>"


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _model_name(model) -> str:
    return getattr(model, "zoo_name", None) or type(model).__name__


class FAIGWidget(EngineWidget):
    """Interactive FAIG on a (baseline, target) pair: the filters that remove one degradation, where they sit, and
    what the target does without them.

    Each HR image is degraded with :func:`srwidgets.degrade.faig_degradation` (``degradation`` and, for the
    paper's eq. 7, the other one; noise seeded by ``seed + image index`` as :func:`srwidgets.faig.masking_table`
    does). The FAIG scores are computed once per (degradation, steps) on the worker thread and kept; masking (the
    chosen filters set to ``θ̄ + λ(θ − θ̄)``) and one forward pass follow every change of the other knobs.

    Args:
        baseline: ``θ̄``, the non-blind SR model (``nn.Module`` or zoo name).
        target: ``θ``, the blind model fine-tuned from it (same architecture; its scale is used).
        images: HR images as :func:`srwidgets.ddr.build_inputs` takes them: HWC float arrays in [0, 1], tensors
            ``[3, H, W]``, file paths, bundled names (``"astronaut"``) or a folder; cropped to multiples of the
            scale, at least 11×11 pixels (the 21×21 blur).
        degradation: whose filters to find, ``"blur"`` or ``"noise"`` (:data:`DEGRADATIONS`).
        steps: ``M``, path evaluations of the integrated gradients (the paper: 100; fewer is faster and rougher).
        seed: seed of the noise and of the random ranking.
        device: where the engine runs (default: CUDA when available).
        size: longest side, in screen pixels, of each image view.
        **traits: any traitlet below, as a keyword (``fraction=0.03``, ``method="random"``...).

    Traitlets:
        ``degradation``, ``steps``: changing one computes (or fetches) the scores of that setting.
        ``fraction`` (share of the filters masked, in ``[0, 0.1]``: 0.01 = the top 1 %), ``method`` (ranking:
        ``"faig"``, ``"random"``, ``"weight_diff"``; ``"weight_change"`` is accepted), ``lam`` (λ in ``[0, 1.5]``:
        0 puts the baseline's values in, 1 keeps the target's), ``image_index`` (the image shown): changing one
        masks again, scores are not recomputed.
        ``layer`` (a conv layer name, ``""`` for none; a click on its bar sets it): its masked filters are listed.
        ``result`` (the :class:`srwidgets.faig.FAIGResult` of the current setting), ``psnrs`` (``{"input",
        "target", "masked": dB}`` against the HR image, Y channel, ``scale`` pixels shaved; the input bicubic-
        upscaled). Invalid values set ``error``, keep the previous value and start nothing.
        ``busy``, ``progress``, ``status``, ``error`` as every srwidgets widget.

    Raises:
        InputError: at construction, for models that are not a pair of one architecture, no or unreadable images,
            or an invalid keyword value; for an unknown keyword a :class:`~srwidgets.widgets.base.KeywordError` (an
            ``InputError`` and a ``TypeError``), as every widget. A refused widget is closed (no worker left).
    """

    degradation = CheckedAny("noise", help="whose filters: blur or noise")
    steps = CheckedAny(100, help="path evaluations M of the integrated gradients (int)")
    fraction = CheckedAny(0.01, help="share of the filters masked, in [0, 0.1]")
    method = CheckedAny("faig", help="ranking of the masked filters: faig, random or weight_diff")
    lam = CheckedAny(0.0, help="λ of the masked filters: θ̄ + λ(θ − θ̄), in [0, 1.5]")
    image_index = CheckedAny(0, help="index of the image shown (int)")
    layer = CheckedAny("", help="conv layer whose masked filters are listed ('' for none)")
    result = AnyTrait(None, allow_none=True, help="FAIGResult of the current degradation and steps")
    psnrs = DictTrait(help="{'input', 'target', 'masked': PSNR in dB against the HR image}")

    default_figure_path = "faig.png"
    keywords = ("degradation", "steps", "fraction", "method", "lam", "image_index", "layer")

    def __init__(self, baseline, target, images, degradation: str = "noise", steps: int = 100, seed: int = 0,
                 device=None, size: int = 256, throttle: float = 0.25, **traits):
        # ipywidgets closes a half-built widget when it is collected, and closing needs the base's runner: build the
        # base first (with a valid throttle), then refuse the cheap arguments before any model is copied
        checked_throttle = throttle if _is_number(throttle) and throttle >= 0 else 0.25
        super().__init__(throttle=checked_throttle)
        self._ready = False
        try:
            self._setup(baseline, target, images, degradation, steps, seed, device, size, throttle, traits)
        except BaseException:
            self.close()  # a refused widget leaves no worker and no open comm behind (as DDRWidget)
            raise
        self._ready = True
        self.rerun()

    def _setup(self, baseline, target, images, degradation, steps, seed, device, size, throttle, traits) -> None:
        unknown = [name for name in traits if name not in self.keywords]
        if unknown:  # before any model is copied
            raise unknown_keyword("FAIGWidget", unknown[0], self.keywords)
        check_number("throttle", throttle, 0.0, " (seconds between progress updates)")
        size = check_int("size", size, 32, " (screen pixels of each image view's longest side)")
        seed = check_seed(seed)
        if images is None or not (isinstance(images, (str, os.PathLike, np.ndarray, torch.Tensor))
                                  or hasattr(images, "__iter__")):
            raise InputError(f"images must be HR images: a list of HWC arrays in [0, 1], tensors [3, H, W], file "
                             f"paths, bundled names or a folder; got {type(images).__name__}")
        self.images = images  # what was given (its file paths are never an export's path)
        self.engine = FAIG(baseline, target, device=device)  # refuses pairs that differ or do not differ
        self.scale = self.engine.scale
        self.seed = seed
        hrs, self.image_names = load_images(images)
        self.hr: List[torch.Tensor] = hr_tensors(hrs, self.scale)  # [3, H, W] float32, multiples of the scale
        # [3, H/s, W/s] per degradation and image, as the masking experiment builds them
        self.lr: Dict[str, List[torch.Tensor]] = degraded_inputs(self.hr, DEGRADATIONS, self.scale, self.seed)
        self.layers = list(dict.fromkeys(f[0] for f in self.engine.filters))  # conv layers, shallow to deep
        index = {name: k for k, name in enumerate(self.layers)}
        self._layer_of = np.array([index[f[0]] for f in self.engine.filters])  # [F] layer index of each filter
        self.view: Optional[dict] = None  # what is shown: settings, masked filters, images, PSNRs
        self._build(size)
        self.set_keywords(dict(degradation=degradation, steps=steps, **traits))

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        return (f"baseline={_model_name(self.engine.baseline)!r}, target={_model_name(self.engine.target)!r}, "
                f"images={len(self.hr)}, x{self.scale}, degradation={self.degradation!r}, steps={self.steps}")

    def _build(self, size: int) -> None:
        self._size = int(size)
        self.views: Dict[str, ImageView] = {}  # made when the first output is shown, at the image's aspect
        self._titles = {k: widgets.HTML("") for k in PANELS}
        self._images_box = widgets.HBox([widgets.HTML("computing the FAIG scores...")],
                                        layout=widgets.Layout(flex_flow="row wrap"))
        self.bars = BarView(min(720, max(360, 24 * len(self.layers))), 230, on_select=self._bar_clicked,
                            on_hover=self._bar_hovered)
        self.bar_label = widgets.HTML("")
        self._bar_hovered(None)
        # the caption (above the chart) and the list (below it) are two blocks with two messages: side by side
        # they read as one run-on sentence
        self.filter_list = widgets.HTML(FILTER_LIST_EMPTY, layout=widgets.Layout(max_height="320px", overflow="auto",
                                                                                 margin="6px 0 0 0"))
        self.filter_list.add_class("srw-faig-filters")
        self.degradation_dropdown = widgets.Dropdown(options=list(DEGRADATIONS), description="Filters for:",
                                                     layout=widgets.Layout(width="200px"))
        self.steps_slider = widgets.IntSlider(min=1, max=MAX_STEPS, description="Steps M:", continuous_update=False)
        self.image_dropdown = widgets.Dropdown(options=[(n, j) for j, n in enumerate(self.image_names)],
                                               description="Image:", layout=widgets.Layout(width="240px"))
        self.method_dropdown = widgets.Dropdown(options=[(label, m) for m, label in METHOD_LABELS.items()],
                                                description="Ranking:", layout=widgets.Layout(width="220px"))
        self.fraction_slider = widgets.FloatSlider(min=0.0, max=MAX_FRACTION, step=0.001, readout_format=".1%",
                                                   description="Mask:", continuous_update=False)
        self.lam_slider = widgets.FloatSlider(min=0.0, max=MAX_LAM, step=0.05, description="λ:",
                                              continuous_update=False)
        for trait, control in (("degradation", self.degradation_dropdown), ("steps", self.steps_slider),
                               ("image_index", self.image_dropdown), ("method", self.method_dropdown),
                               ("fraction", self.fraction_slider), ("lam", self.lam_slider)):
            widgets.link((self, trait), (control, "value"))
        self.scores_row = self.save_row("faig_scores.json", "Scores:", "Save scores",
                                        "FAIG scores and ranking as .json or .csv", self.save_scores)
        self.children = [
            self.css(), self._images_box,
            widgets.HBox([self.degradation_dropdown, self.steps_slider, self.image_dropdown]),
            widgets.HBox([self.method_dropdown, self.fraction_slider, self.lam_slider]),
            widgets.VBox([self.bar_label, self.bars.canvas, self.filter_list]),
            self.status_row(), self.error_html, self.export_row(), self.scores_row]

    # ------------------------------------------------------------------------------------------------ validation
    # check_<name>(value) -> value, raising InputError: at construction it is raised, afterwards it is shown in
    # ``error`` and the traitlet keeps its value (srwidgets.widgets.base, checked keywords).
    def check_degradation(self, value) -> str:
        if not isinstance(value, str) or value not in DEGRADATIONS:
            raise InputError(f"unknown degradation {value!r}; choose one of {', '.join(DEGRADATIONS)} "
                             "(the FAIG presets with a contrast for eq. 7)")
        return str(value)

    def check_steps(self, value) -> int:
        bad = (f"steps must be an integer in [1, {MAX_STEPS}] (the slider's range; the paper uses 100; for more, "
               f"call srwidgets.faig.FAIG directly), got {value!r}")
        try:
            value = check_int("steps", value, 1)
        except InputError:
            raise InputError(bad) from None
        if value > MAX_STEPS:
            raise InputError(bad)
        return value

    def _checked_number(self, name: str, value, top: float, meaning: str) -> float:
        """``value`` as a float in ``[0, top]``, else an InputError saying so."""
        bad = f"{name} must be in [0, {top:g}] ({meaning}), got {value!r}"
        try:
            number = check_number(name, value, 0.0)
        except InputError:
            raise InputError(bad) from None
        if number > top:
            raise InputError(bad)
        return number

    def check_fraction(self, value) -> float:
        return self._checked_number("fraction", value, MAX_FRACTION, "a share of the filters: 0.01 masks the top 1 %")

    def check_lam(self, value) -> float:
        return self._checked_number("lam", value, MAX_LAM, "0: the baseline's values, 1: the target's")

    def check_method(self, value) -> str:
        name = "weight_diff" if value == "weight_change" else value
        if not isinstance(name, str) or name not in METHODS:
            raise InputError(f"unknown ranking {value!r}; choose one of {', '.join(METHODS)}")
        return str(name)

    def check_image_index(self, value) -> int:
        bad = f"image_index must be an integer in [0, {len(self.hr) - 1}] ({len(self.hr)} images), got {value!r}"
        try:
            index = check_int("image_index", value, 0)
        except InputError:
            raise InputError(bad) from None
        if index >= len(self.hr):
            raise InputError(bad)
        return index

    def check_layer(self, value) -> str:
        value = "" if value is None else value
        if not isinstance(value, str) or (value and value not in self.layers):
            shown = ", ".join(self.layers[:8]) + (f" ... and {len(self.layers) - 8} more" if len(self.layers) > 8
                                                  else "")
            raise InputError(f"unknown layer {value!r}; conv layers (shallow to deep): {shown}; '' for none")
        return str(value)

    # ------------------------------------------------------------------------------------------------ reactions
    @observe("degradation", "steps")
    def _scores_changed(self, change) -> None:
        if self._ready:
            self.rerun()

    @observe("fraction", "method", "lam", "image_index")
    def _masking_changed(self, change) -> None:
        if not self._ready or self.closed:
            return
        result, d = self.cache_get(self._key()), self.degradation
        if result is not None:
            self.start(lambda job: self._mask(job, result, d), label="masking")
        elif not self.busy:
            self.rerun()
        # else: the running job computes these scores and masks with the knobs as they are when it gets there

    @observe("layer")
    def _layer_changed(self, change) -> None:
        k = self.layers.index(self.layer) if self.layer else None
        if k is None or k < len(self.bars.xs):
            self.bars.select(k)
        self._list_layer()

    def _bar_clicked(self, k: int) -> None:
        self.layer = self.layers[k]

    def _bar_hovered(self, k: Optional[int]) -> None:
        if k is None:
            self.bar_label.value = BAR_CAPTION
            return
        counts = self.layer_counts
        self.bar_label.value = (f"<b>{html.escape(self.layers[k])}</b> (layer {k}): {counts.get(self.layers[k], 0)} "
                                f"masked of {int((self._layer_of == k).sum())} filters")

    # ------------------------------------------------------------------------------------------------ jobs
    def _key(self) -> tuple:
        # The weights' identity and version counters are part of the key: editing a model in place must not bring
        # back the scores of the old weights.
        return ("scores", self.degradation, int(self.steps), model_key(self.engine.baseline),
                model_key(self.engine.target))

    def rerun(self) -> None:
        """Compute the FAIG scores of the current degradation and steps (kept: a setting seen before costs
        nothing), then mask and show."""
        if self.closed:
            return
        d, steps, key = self.degradation, int(self.steps), self._key()

        def work(job):
            result = self.cache_get(key)
            if result is None:
                result = self.engine.attribute(self.lr[d], self.hr, self.lr[OTHER[d]], steps=steps,
                                               callback=lambda p: job.report(p.done, p.total), cancel=job.token)
                self.cache_put(key, result)  # before reading the knobs in _mask (see _masking_changed)
            job.deliver(self._show_result, result)
            self._mask(job, result, d)

        self.start(work, label=f"FAIG scores ({d} vs {OTHER[d]}, {steps} steps)")

    def _ranking(self, method: str, result) -> np.ndarray:
        """Filter indices, best first, of ``method`` (random and weight change kept per model weights)."""
        if method == "faig":
            return result.ranking
        key = ("ranking", method, self.seed, model_key(self.engine.baseline), model_key(self.engine.target))
        order = self.cache_get(key)
        if order is None:
            order = rank(method, self.engine.baseline, self.engine.target, seed=self.seed)
            self.cache_put(key, order)
        return order

    def _mask(self, job, result, d: str) -> None:
        """Mask the chosen filters (knobs as they are now), one forward pass, and show (worker thread)."""
        fraction, method, lam, i = float(self.fraction), self.method, float(self.lam), int(self.image_index)
        order = self._ranking(method, result)
        chosen = np.asarray(order[:top_count(len(order), fraction)])
        key = ("target", d, i, model_key(self.engine.target))  # the target's output does not depend on the knobs
        images, psnrs = masked_outputs(self.engine, chosen, lam, self.lr[d][i], self.hr[i],
                                       target_output=self.cache_get(key), cancel=job.token)
        self.cache_put(key, images["target"])
        view = dict(degradation=d, steps=result.steps, method=method, fraction=fraction, lam=lam, image=i,
                    chosen=chosen, counts=list(layer_counts(self.engine.filters, chosen).values()),
                    images=images, psnrs=psnrs, result=result)
        job.deliver(self._show_masking, view)

    # ------------------------------------------------------------------------------------------------ display
    def _show_result(self, result) -> None:
        self.result = result
        self.status = f"scores done ({result.seconds:.1f} s); masking"

    def _panel_titles(self, view: dict) -> Dict[str, str]:
        d, n = view["degradation"], len(view["chosen"])
        return {"input": f"{d} input (bicubic x{self.scale})", "target": "target",
                "masked": (f"masked: {n} filters ({view['fraction']:.1%}, {METHOD_LABELS[view['method']]}), "
                           f"λ = {view['lam']:g}")}

    def _show_masking(self, view: dict) -> None:
        images = view["images"]
        height, width = images["target"].shape[-2:]
        if not self.views or (self.views["target"].height, self.views["target"].width) != (height, width):
            self.views = {k: ImageView(height, width, max_size=self._size, min_size=min(self._size, 192))
                          for k in PANELS}
            self._images_box.children = [widgets.VBox([self._titles[k], self.views[k].canvas]) for k in PANELS]
        for k, title in self._panel_titles(view).items():
            self.views[k].show("image", images[k])
            self._titles[k].value = f"<b>{html.escape(title)}</b><br>PSNR {format_psnr(view['psnrs'][k])}"
        self.view = view
        self.psnrs = dict(view["psnrs"])
        self.bars.set_bars(view["counts"], self.layers)
        self._list_layer()
        drop = view["psnrs"]["target"] - view["psnrs"]["masked"]
        self.progress = 1.0
        self.status = (f"done: {len(view['chosen'])} {METHOD_LABELS[view['method']]} filters at λ = {view['lam']:g} "
                       f"on {self.image_names[view['image']]}: PSNR drop {drop:.2f} dB")

    def _list_layer(self) -> None:
        if not self.layer:
            self.filter_list.value = FILTER_LIST_EMPTY
            return
        name = html.escape(self.layer)
        if self.view is None:
            self.filter_list.value = f"<b>{name}</b>: waiting for the scores"
            return
        scores, ranked = self.view["result"].scores, self.top_filters(with_rank=True)
        rows = "".join(f"<tr><td>{r}</td><td>{o}</td><td>{i}</td><td>{scores[j]:.4g}</td></tr>"
                       for r, j, (_, o, i) in ranked[:LIST_ROWS])
        more = f"<br>... and {len(ranked) - LIST_ROWS} more" if len(ranked) > LIST_ROWS else ""
        head = (f"<b>{name}</b>: {len(ranked)} of the {len(self.view['chosen'])} masked filters "
                f"({METHOD_LABELS[self.view['method']]} ranking)")
        table = ("<table><tr><th>rank</th><th>out</th><th>in</th><th>FAIG score</th></tr>" + rows + "</table>"
                 if ranked else "")
        self.filter_list.value = head + table + more

    # ------------------------------------------------------------------------------------------------ state
    @property
    def layer_counts(self) -> Dict[str, int]:
        """``{conv layer: masked filters in it}`` of what is shown, shallow to deep (``{}`` before the first)."""
        if self.view is None:
            return {}
        return {name: int(c) for name, c in zip(self.layers, self.view["counts"])}

    @property
    def masked_filters(self) -> List[Filter]:
        """The filters masked in what is shown, ``(layer, out, in)``, best first."""
        if self.view is None:
            return []
        return [self.engine.filters[int(j)] for j in self.view["chosen"]]

    @property
    def outputs(self) -> Dict[str, torch.Tensor]:
        """What the three views show, ``[3, H, W]`` float32: ``input`` (bicubic-upscaled LR), ``target``,
        ``masked`` (SR outputs, not clipped)."""
        return dict(self.view["images"]) if self.view is not None else {}

    def top_filters(self, layer: Optional[str] = None, with_rank: bool = False) -> list:
        """The masked filters of ``layer`` (default: the ``layer`` traitlet), best first: ``(layer, out, in)``, or
        ``(rank, filter index, (layer, out, in))`` with ``with_rank`` (rank 1 = best of the ranking)."""
        layer = self.layer if layer is None else layer
        if self.view is None or layer not in self.layers:
            return []
        k = self.layers.index(layer)
        chosen = self.view["chosen"]
        out = [(r + 1, int(j), self.engine.filters[int(j)]) for r, j in enumerate(chosen) if self._layer_of[j] == k]
        return out if with_rank else [f for _, _, f in out]

    # ------------------------------------------------------------------------------------------------ export
    def _shown(self) -> dict:
        if self.view is None:
            raise InputError("nothing to save yet: wait for the scores (widget.wait())")
        return self.view

    def save_scores(self, path: str) -> str:
        """Write the FAIG scores and ranking of what is shown: ``.json`` (:meth:`srwidgets.faig.FAIGResult.to_dict`
        plus the degradation, the knobs and the masked filters) or ``.csv`` (one row per filter: ``index, layer,
        out, in, score, rank, masked``; rank 1 = the largest FAIG score). Returns ``path``."""
        view = self._shown()
        res = view["result"]
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".json", ".csv"):
            raise InputError(f"save_scores writes .json or .csv files, got {path!r}")
        path = check_output(path, inputs=[self.images], flag="path", what="the scores")  # before writing
        masked = set(int(j) for j in view["chosen"])
        if ext == ".json":
            data = dict(degradation=view["degradation"], contrast=OTHER[view["degradation"]], method=view["method"],
                        fraction=view["fraction"], lam=view["lam"], images=list(self.image_names),
                        masked=[list(self.engine.filters[j]) for j in view["chosen"]], **res.to_dict(view["fraction"]))
            with open(path, "w") as f:
                json.dump(data, f)
            return path
        ranks = res.ranks
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "layer", "out", "in", "score", "rank", "masked"])
            for j, (name, o, i) in enumerate(res.filters):
                writer.writerow([j, name, o, i, repr(float(res.scores[j])), int(ranks[j]), int(j in masked)])
        return path

    def save_figure(self, path: str):
        """Write the three images with their PSNRs and the masked filters per layer with
        :func:`srwidgets.viz.faig_figure`; returns ``path``."""
        from .. import viz

        view = self._shown()
        path = check_output(path, inputs=[self.images], extensions=FIGURE_EXTENSIONS, flag="path",
                            what="the figure")
        titles = self._panel_titles(view)
        d = view["degradation"]
        viz.faig_figure({titles[k]: view["images"][k] for k in PANELS}, self.layer_counts,
                        psnrs={titles[k]: view["psnrs"][k] for k in PANELS}, layer=self.layer or None,
                        title=(f"FAIG {d} filters ({d} − {OTHER[d]}, M = {view['steps']}) on "
                               f"{self.image_names[view['image']]}"), path=path)
        return path
