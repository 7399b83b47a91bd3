"""The FAIG widget's session: its state, jobs and cache, without a view. :class:`FAIGSession` holds the models'
engine, the HR images and their degraded LR inputs, the settings (checked by ``check_<name>``), the FAIG scores
kept per (degradation, steps, weights), the rankings and the masked outputs; it imports no ipywidgets, so a script
or a test drives it as the widget does.

    >>> import srwidgets
    >>> from srwidgets import data, zoo
    >>> from srwidgets.widgets.faig_session import FAIGSession
    >>> crops = [data.image(name)[:, 64:112, 64:112] for name in ("astronaut", "chelsea")]   # two 48×48 HR crops
    >>> s = FAIGSession(*zoo.faig_pair(), crops)
    >>> s.set(degradation="noise", steps=4, fraction=0.01)
    >>> view = s.run()                       # the scores, then the masked output (the widget runs both on its worker)
    >>> sorted(view["psnrs"]), sum(s.layer_counts.values())
    (['input', 'masked', 'target'], 176)

:class:`~srwidgets.widgets.faig.FAIGWidget` is the view: its traitlets are the settings, its worker runs
:meth:`FAIGSession.scores` and :meth:`FAIGSession.mask`, and it shows what :meth:`FAIGSession.show` records.
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import os
from typing import Dict, List, Optional

import numpy as np
import torch

from ..data import load_images
from ..degrade import FAIG_PRESETS
from ..engine import check_int, check_number, check_output, model_key
from ..engine.cache import LRUCache
from ..errors import InputError
from ..faig import (FAIG, METHODS, OTHER, Filter, degraded_inputs, hr_tensors, layer_counts, masked_outputs, rank,
                    top_count)
from .session import Session, check_widget_seed, source_files

__all__ = ["FAIGSession", "DEGRADATIONS", "METHOD_LABELS", "PANELS", "SETTINGS"]

DEGRADATIONS = tuple(d for d in FAIG_PRESETS if d in OTHER)
"""The degradations offered: the FAIG presets with a contrast for eq. 7 (blur, noise)."""
METHOD_LABELS = {"faig": "FAIG", "random": "random", "weight_diff": "weight change"}
PANELS = ("input", "target", "masked")
MAX_FRACTION, MAX_LAM, MAX_STEPS = 0.10, 1.5, 500
SETTINGS = {"degradation": "noise", "steps": 100, "fraction": 0.01, "method": "faig", "lam": 0.0,
            "image_index": 0, "layer": ""}
"""The settings and their defaults (the widget's traitlets of the same names)."""


def is_number(value) -> bool:
    """A finite real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def model_name(model) -> str:
    """A model's zoo name, else its class name."""
    return getattr(model, "zoo_name", None) or type(model).__name__


class FAIGSession(Session):
    """FAIG on a (baseline, target) pair: state, jobs and cache (no view).

    Args:
        baseline, target, images, seed, device: as :class:`~srwidgets.widgets.faig.FAIGWidget` takes them.
        cache_size: finished results kept (scores, rankings, target outputs), least recently used dropped.

    What it holds —
        engine (:class:`srwidgets.faig.FAIG`), scale, seed, images (as given), image_names, hr (``[3, H, W]``
        float32 in [0, 1], multiples of the scale), lr (``{degradation: [[3, H/s, W/s], ...]}``), layers (conv
        layers, shallow to deep), layer_of (``[F]`` layer index of each filter), cache, the settings
        (:data:`SETTINGS`), result (the last scores shown) and view (what is shown: settings, masked filters,
        images, PSNRs; ``None`` before the first).
    """

    SETTINGS = SETTINGS

    def __init__(self, baseline, target, images, seed: int = 0, device=None, cache_size: int = 64):
        seed = check_widget_seed(seed)
        if images is None or not (isinstance(images, (str, os.PathLike, np.ndarray, torch.Tensor))
                                  or hasattr(images, "__iter__")):
            raise InputError(f"images must be HR images: a list of HWC arrays in [0, 1], tensors [3, H, W], file "
                             f"paths, bundled names or a folder; got {type(images).__name__}")
        self.images = images  # what was given (its file paths are never an export's path)
        self.engine = FAIG(baseline, target, device=device)  # refuses pairs that differ or do not differ
        self.scale = self.engine.scale
        self.seed = seed
        try:
            hrs, self.image_names = load_images(images)
            self.hr: List[torch.Tensor] = hr_tensors(hrs, self.scale)  # [3, H, W] float32, multiples of the scale
        except InputError as exc:  # the engine calls them hr_images: the argument here is images
            message = str(exc).replace("hr_images", "images")
            raise InputError(message if message.startswith("images") else f"images: {message}") from None
        # [3, H/s, W/s] per degradation and image, as the masking experiment builds them
        self.lr: Dict[str, List[torch.Tensor]] = degraded_inputs(self.hr, DEGRADATIONS, self.scale, self.seed)
        self.layers = list(dict.fromkeys(f[0] for f in self.engine.filters))  # conv layers, shallow to deep
        index = {name: k for k, name in enumerate(self.layers)}
        self.layer_of = np.array([index[f[0]] for f in self.engine.filters])  # [F] layer index of each filter
        self.cache = LRUCache(cache_size)
        for name, value in SETTINGS.items():
            setattr(self, name, value)
        self.result = None  # the FAIGResult of the scores last shown
        self.view: Optional[dict] = None  # what is shown: settings, masked filters, images, PSNRs

    def describe(self) -> str:
        return (f"baseline={model_name(self.engine.baseline)!r}, target={model_name(self.engine.target)!r}, "
                f"images={len(self.hr)}, x{self.scale}, degradation={self.degradation!r}, steps={self.steps}")

    # ------------------------------------------------------------------------------------------------ settings
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

    @staticmethod
    def _checked_number(name: str, value, top: float, meaning: str) -> float:
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

    # ------------------------------------------------------------------------------------------------ jobs
    def key(self, degradation: Optional[str] = None, steps: Optional[int] = None) -> tuple:
        """The cache key of the scores of ``degradation`` and ``steps`` (default: the settings'). The weights'
        identity and version counters are part of it: editing a model in place must not bring back the scores of
        the old weights."""
        d = self.degradation if degradation is None else degradation
        steps = int(self.steps if steps is None else steps)
        return ("scores", d, steps, model_key(self.engine.baseline), model_key(self.engine.target))

    def cached_scores(self, degradation: Optional[str] = None, steps: Optional[int] = None):
        """The kept scores of that setting (default: the settings'), ``None`` when not computed yet."""
        return self.cache.get(self.key(degradation, steps))

    def scores(self, degradation: Optional[str] = None, steps: Optional[int] = None, callback=None, cancel=None):
        """The FAIG scores (:class:`srwidgets.faig.FAIGResult`) of ``degradation`` against its contrast with
        ``steps`` path evaluations (default: the settings'), computed once and kept. ``callback(progress)`` and
        ``cancel`` as the engine takes them."""
        d = self.degradation if degradation is None else degradation
        steps = int(self.steps if steps is None else steps)
        key = self.key(d, steps)
        result = self.cache.get(key)
        if result is None:
            result = self.engine.attribute(self.lr[d], self.hr, self.lr[OTHER[d]], steps=steps, callback=callback,
                                           cancel=cancel)
            self.cache.put(key, result)  # before the knobs are read for masking
        return result

    def ranking(self, method: str, result) -> np.ndarray:
        """Filter indices, best first, of ``method`` (random and weight change kept per model weights)."""
        if method == "faig":
            return result.ranking
        key = ("ranking", method, self.seed, model_key(self.engine.baseline), model_key(self.engine.target))
        order = self.cache.get(key)
        if order is None:
            order = rank(method, self.engine.baseline, self.engine.target, seed=self.seed)
            self.cache.put(key, order)
        return order

    def mask(self, result, degradation: str, cancel=None) -> dict:
        """Mask the chosen filters (the settings as they are now), one forward pass: the view to show, a dict of
        the settings, ``chosen`` (filter indices, best first), ``counts`` (per layer), ``images`` (``input``,
        ``target``, ``masked``: ``[3, H, W]`` float32) and ``psnrs`` (dB), and ``result``."""
        d = degradation
        fraction, method, lam, i = float(self.fraction), self.method, float(self.lam), int(self.image_index)
        order = self.ranking(method, result)
        chosen = np.asarray(order[:top_count(len(order), fraction)])
        key = ("target", d, i, model_key(self.engine.target))  # the target's output does not depend on the knobs
        images, psnrs = masked_outputs(self.engine, chosen, lam, self.lr[d][i], self.hr[i],
                                       target_output=self.cache.get(key), cancel=cancel)
        self.cache.put(key, images["target"])
        return dict(degradation=d, steps=result.steps, method=method, fraction=fraction, lam=lam, image=i,
                    chosen=chosen, counts=list(layer_counts(self.engine.filters, chosen).values()),
                    images=images, psnrs=psnrs, result=result)

    def show(self, view: dict) -> None:
        """Record ``view`` (from :meth:`mask`) as what is shown."""
        self.view = view

    def run(self, callback=None, cancel=None) -> dict:
        """The scores of the settings, then the masked output, recorded as shown (in the calling thread);
        returns the view."""
        self.result = self.scores(callback=callback, cancel=cancel)
        view = self.mask(self.result, self.degradation, cancel=cancel)
        self.show(view)
        return view

    # ------------------------------------------------------------------------------------------------ what is shown
    def panel_titles(self, view: dict) -> Dict[str, str]:
        d, n = view["degradation"], len(view["chosen"])
        return {"input": f"{d} input (bicubic x{self.scale})", "target": "target",
                "masked": (f"masked: {n} filters ({view['fraction']:.1%}, {METHOD_LABELS[view['method']]}), "
                           f"λ = {view['lam']:g}")}

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
        """What is shown, ``[3, H, W]`` float32: ``input`` (bicubic-upscaled LR), ``target``, ``masked`` (SR
        outputs, not clipped)."""
        return dict(self.view["images"]) if self.view is not None else {}

    def top_filters(self, layer: Optional[str] = None, with_rank: bool = False) -> list:
        """The masked filters of ``layer`` (default: the ``layer`` setting), best first: ``(layer, out, in)``, or
        ``(rank, filter index, (layer, out, in))`` with ``with_rank`` (rank 1 = best of the ranking)."""
        layer = self.layer if layer is None else layer
        if self.view is None or layer not in self.layers:
            return []
        k = self.layers.index(layer)
        chosen = self.view["chosen"]
        out = [(r + 1, int(j), self.engine.filters[int(j)]) for r, j in enumerate(chosen) if self.layer_of[j] == k]
        return out if with_rank else [f for _, _, f in out]

    # ------------------------------------------------------------------------------------------------ export
    def shown(self) -> dict:
        """What is shown, or an InputError saying to wait for the scores."""
        if self.view is None:
            raise InputError("nothing to save yet: wait for the scores (widget.wait())")
        return self.view

    def save_scores(self, path: str) -> str:
        """Write the FAIG scores and ranking of what is shown: ``.json`` (:meth:`srwidgets.faig.FAIGResult.to_dict`
        plus the degradation, the knobs and the masked filters) or ``.csv`` (one row per filter: ``index, layer,
        out, in, score, rank, masked``; rank 1 = the largest FAIG score). Returns ``path``."""
        view = self.shown()
        res = view["result"]
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".json", ".csv"):
            raise InputError(f"save_scores writes .json or .csv files, got {path!r}")
        path = check_output(path, inputs=source_files(self.images), flag="path", what="the scores")  # before writing
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
