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
:mod:`srwidgets.viz.faig` draws the exported figure; the session (:class:`~srwidgets.widgets.faig_session.FAIGSession`:
state, jobs, cache; no ipywidgets) holds what the widget knows. This file is the view: the traitlets (the session's
settings), the image views and bar chart (:mod:`~srwidgets.widgets.canvas`), the worker
(:mod:`~srwidgets.widgets.runner`) and the status row, errors and export (:mod:`~srwidgets.widgets.base`).
"""
from __future__ import annotations

import html
from typing import Dict, Optional

import ipywidgets as widgets
from traitlets import Any as AnyTrait, Dict as DictTrait, observe

from ..engine import check_int, check_number, check_output
from ..errors import InputError
from ..faig import OTHER
from ..viz.faig import format_psnr
from .base import FIGURE_EXTENSIONS, CheckedAny, EngineWidget, unknown_keyword
from .canvas import BarView, ImageView
from .session import session_check, source_files
from .faig_session import (DEGRADATIONS, MAX_FRACTION, MAX_LAM, MAX_STEPS, METHOD_LABELS, PANELS, SETTINGS,
                           FAIGSession, is_number)

__all__ = ["FAIGWidget", "DEGRADATIONS"]

LIST_ROWS = 40  # filters listed for a clicked layer
MAX_VIEW = 4096  # the largest image view, screen pixels (``size``)
BAR_CAPTION = "<div><b>Masked filters per conv layer</b>, shallow to deep. Hover a bar to name its layer.</div>"
FILTER_LIST_EMPTY = "<div><i>No layer selected: click a bar to list its masked filters here.</i></div>"


def _session_attribute(name: str, doc: str):
    return property(lambda self: getattr(self.session, name), doc=doc)


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
        checked_throttle = throttle if is_number(throttle) and throttle >= 0 else 0.25
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
        size = check_int("size", size, 32, f" and <= {MAX_VIEW} (screen pixels of each image view's longest side)")
        if size > MAX_VIEW:  # wider than any screen: the images would be drawn at that size
            raise InputError(f"size must be an integer >= 32 and <= {MAX_VIEW} (screen pixels of each image view's "
                             f"longest side), got {size}")
        self.session = FAIGSession(baseline, target, images, seed=seed, device=device, cache_size=self.cache_size)
        self.cache = self.session.cache  # cache_get / cache_put read the session's
        self._build(size)
        self.set_keywords(dict(degradation=degradation, steps=steps, **traits))

    # the session's state, under the widget's names
    engine = _session_attribute("engine", "the FAIG engine (srwidgets.faig.FAIG)")
    scale = _session_attribute("scale", "the models' scale")
    seed = _session_attribute("seed", "seed of the noise and of the random ranking")
    images = _session_attribute("images", "the images as given")
    image_names = _session_attribute("image_names", "the images' names")
    hr = _session_attribute("hr", "HR images [3, H, W] float32 in [0, 1], multiples of the scale")
    lr = _session_attribute("lr", "{degradation: [LR input [3, H/s, W/s], ...]}")
    layers = _session_attribute("layers", "conv layers, shallow to deep")
    _layer_of = _session_attribute("layer_of", "[F] layer index of each filter")
    layer_counts = _session_attribute("layer_counts", FAIGSession.layer_counts.__doc__)
    masked_filters = _session_attribute("masked_filters", FAIGSession.masked_filters.__doc__)
    outputs = _session_attribute("outputs", FAIGSession.outputs.__doc__)

    @property
    def view(self) -> Optional[dict]:
        """What is shown (``FAIGSession.view``): settings, masked filters, images, PSNRs."""
        return self.session.view

    def top_filters(self, layer: Optional[str] = None, with_rank: bool = False) -> list:
        """``FAIGSession.top_filters`` of what is shown."""
        return self.session.top_filters(layer, with_rank)

    # ------------------------------------------------------------------------------------------------ building
    def _describe(self) -> str:
        return self.session.describe()

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
    # ``error`` and the traitlet keeps its value (srwidgets.widgets.base, checked keywords). The session checks
    # (check_degradation, check_steps, ... are set below the class: session.session_check).

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
        return self.session.key()

    def rerun(self) -> None:
        """Compute the FAIG scores of the current degradation and steps (kept: a setting seen before costs
        nothing), then mask and show."""
        if self.closed:
            return
        d, steps = self.degradation, int(self.steps)

        def work(job):
            result = self.session.scores(d, steps, callback=lambda p: job.report(p.done, p.total), cancel=job.token)
            job.deliver(self._show_result, result)
            self._mask(job, result, d)

        self.start(work, label=f"FAIG scores ({d} vs {OTHER[d]}, {steps} steps)")

    def _mask(self, job, result, d: str) -> None:
        """Mask the chosen filters (knobs as they are now), one forward pass, and show (worker thread)."""
        job.deliver(self._show_masking, self.session.mask(result, d, cancel=job.token))

    # ------------------------------------------------------------------------------------------------ display
    def _show_result(self, result) -> None:
        self.session.result = self.result = result
        self.status = f"scores done ({result.seconds:.1f} s); masking"

    def _panel_titles(self, view: dict) -> Dict[str, str]:
        return self.session.panel_titles(view)

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
        self.session.show(view)
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

    # ------------------------------------------------------------------------------------------------ export
    def _shown(self) -> dict:
        return self.session.shown()

    def save_scores(self, path: str) -> str:
        """``FAIGSession.save_scores``: the FAIG scores and ranking of what is shown as ``.json`` or ``.csv``;
        returns ``path``."""
        return self.session.save_scores(path)

    def save_figure(self, path: str):
        """Write the three images with their PSNRs and the masked filters per layer with
        :func:`srwidgets.viz.faig_figure`; returns ``path``."""
        from .. import viz

        view = self._shown()
        path = check_output(path, inputs=source_files(self.images), extensions=FIGURE_EXTENSIONS, flag="path",
                            what="the figure")
        titles = self._panel_titles(view)
        d = view["degradation"]
        viz.faig_figure({titles[k]: view["images"][k] for k in PANELS}, self.layer_counts,
                        psnrs={titles[k]: view["psnrs"][k] for k in PANELS}, layer=self.layer or None,
                        title=(f"FAIG {d} filters ({d} − {OTHER[d]}, M = {view['steps']}) on "
                               f"{self.image_names[view['image']]}"), path=path)
        return path


for _name in SETTINGS:
    setattr(FAIGWidget, f"check_{_name}", session_check(_name, "FAIGSession"))
del _name
