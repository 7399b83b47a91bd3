"""FAIG — Filter Attribution based on Integrated Gradients (Xie, Wang, Dong et al., NeurIPS 2021): which filters of
a blind-SR network remove one specific degradation?

The method, as in ``docs/algorithms.md`` (code below in the same order):

1. two networks of one architecture: the **baseline** ``θ̄`` (non-blind SR) and the **target** ``θ`` fine-tuned
   from it for blind SR (:class:`FAIG` refuses pairs whose parameter names or shapes differ);
2. a straight path in parameter space evaluated at ``θ_k = θ̄ + (k/M)(θ − θ̄)``, ``k = 1..M`` (right Riemann sum:
   the target is evaluated, the baseline ``k = 0`` is not);
3. per input ``x`` and clean HR ``y``: ``L(θ) = Σ (y − F(x; θ))²`` (squared error **summed** over pixels and
   channels); per parameter the term ``(θ̄_i − θ_i) · (1/M) Σ_k ∂L(θ_k)/∂θ_i``; a **filter** is one ``(out, in)``
   kernel of a conv weight (biases excluded), its score ``s_f(x)`` the sum of the **absolute** terms over its
   ``k×k`` entries. Without the absolute value the terms of all parameters (biases included) sum to
   ``L(θ̄) − L(θ)`` up to the Riemann error (:attr:`FAIGResult.completeness`);
4. the paper's **eq. 7**: ``FAIG_f = s_f(x_deg) − s_f(x_other)`` per image (the same image under the other
   degradation), then averaged over images (:meth:`FAIG.attribute`);
5. rank filters by ``FAIG_f``, descending (:attr:`FAIGResult.ranking`); the top ~1 % are the discriminative filters;
6. the **masking experiment**: copy the baseline's values into the target's top filters (:func:`mask`, or
   :func:`modulate` for ``θ̄ + λ(θ − θ̄)``) and measure the output change (:func:`masking_experiment`,
   :func:`masking_table`) against random and weight-change rankings (:func:`rank`).

Speed never changes the numbers: the interpolated network is one private copy of the target, re-weighted in place
per step (the user's models are never touched); gradients are per input (the absolute value is taken per image,
so a batch's losses are never summed before it), summed over steps before the absolute value, and taken image by
image on CPU (measured fastest there) or with ``torch.func.vmap`` on CUDA. Work runs in chunks of (step, input)
evaluations through :func:`srwidgets.engine.run_chunks` (progress, cancel); per-input scores are cached, so the
blur ranking after the noise ranking on the same images costs nothing.

Example:
    >>> import torch
    >>> from srwidgets import zoo
    >>> from srwidgets.degrade import faig_degradation
    >>> hr = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    >>> noisy, blurry = faig_degradation("noise", 2)(hr, seed=0), faig_degradation("blur", 2)(hr)
    >>> baseline, target = zoo.faig_pair()
    >>> result = FAIG(baseline, target).attribute(noisy, hr, lr_other=blurry, steps=4)   # eq. 7: noise filters
    >>> result.scores.shape, result.filters[0], result.per_image_scores.shape
    ((17600,), ('conv_first', 0, 0), (2, 17600))
    >>> masked = mask(target, baseline, result.top(0.01))   # the top 1 % back to the baseline's values
    >>> len(result.top(0.01)), masked is not target
    (176, True)
"""
from __future__ import annotations

import bisect
import copy
import math
import numbers
import os
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .degrade import faig_degradation
from .engine import (LRUCache, check_choice, check_int, check_memory_budget, check_number, check_seed, check_steps,
                     ensure_fits, estimate_chunk, explain_model_error, guarded, image_digest, image_tensor, model_key,
                     resolve_device, run_chunks, saved_bytes)
from .errors import InputError
from .metrics import psnr
from .models.lookup import model_pair
from .progress import CancelLike, CancelToken, Progress, ProgressCallback, check_cancel

Filter = Tuple[str, int, int]
"""``(layer_name, out, in)``: one kernel ``weight[out, in]`` of a conv layer."""
METHODS = ("faig", "random", "weight_diff")
"""Rankings compared in the masking experiment (``"weight_change"`` is accepted for ``"weight_diff"``)."""
MEASURES = ("psnr_drop", "output_diff")
OTHER = {"blur": "noise", "noise": "blur"}
"""Eq. 7's contrast: the other degradation of each."""


# -- 1. filters -----------------------------------------------------------------------------------------------------
def _conv_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """Conv layers whose ``weight`` is a plain parameter, in ``model.named_modules()`` order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.modules.conv._ConvNd) and isinstance(m.weight, nn.Parameter)]


def conv_filters(model: nn.Module) -> List[Filter]:
    """Every filter ``(layer_name, out, in)``: conv layers in ``named_modules()`` order, ``(out, in)`` row-major
    (``out, in`` index the weight's first two dimensions; for transposed convs that is ``(in, out)``)."""
    return [(name, o, i) for name, m in _conv_layers(model)
            for o in range(m.weight.shape[0]) for i in range(m.weight.shape[1])]


# -- 2.-5. the attribution -------------------------------------------------------------------------------------------
@dataclass
class FAIGResult:
    """FAIG scores of one set of images. Arrays are numpy float64; ``F`` filters, ``n`` images.

    ``scores[f]`` is ``FAIG_f``: the mean over images of ``s_f(lr) − s_f(lr_other)`` (eq. 7), or of ``s_f(lr)``
    without ``lr_other``; units of the loss (squared error summed over the HR image, values in [0, 1]).
    """

    scores: np.ndarray  # [F]
    filters: List[Filter]  # [F] (layer_name, out, in)
    per_image_scores: np.ndarray  # [n, F] eq. 7 per image (s_f(lr_i) − s_f(lr_other_i)), or s_f(lr_i)
    per_image_degraded: np.ndarray  # [n, F] s_f(lr_i)
    per_image_other: Optional[np.ndarray]  # [n, F] s_f(lr_other_i), None without lr_other
    term_sums: np.ndarray  # [inputs] Σ over ALL parameters of the signed terms; inputs = lr then lr_other
    loss_gaps: np.ndarray  # [inputs] L(θ̄) − L(θ), what term_sums approximate
    steps: int
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ranking(self) -> np.ndarray:
        """Filter indices, best (largest score) first; ties keep the filter order."""
        return np.argsort(-self.scores, kind="stable")

    @property
    def completeness(self) -> float:
        """Mean over inputs of ``|Σ terms − (L(θ̄) − L(θ))| / |L(θ̄) − L(θ)|``: the relative Riemann error of the
        signed terms over all parameters (biases included); it shrinks as ``1/steps``."""
        err = np.abs(self.term_sums - self.loss_gaps) / np.maximum(np.abs(self.loss_gaps), 1e-300)
        return float(err.mean())

    def top(self, fraction: float = 0.01) -> List[Filter]:
        """The best ``int(F · fraction)`` filters (the authors' count), best first."""
        n = top_count(len(self.filters), fraction)
        return [self.filters[j] for j in self.ranking[:n]]

    def layer_summary(self, fraction: float = 0.01) -> Dict[str, dict]:
        """Per conv layer: ``filters`` (count), ``top`` (how many of the top ``fraction`` filters it holds),
        ``top_share`` (``top`` / all top filters), ``layer_share`` (``top`` / its filters), ``mean_score``.
        ``pandas.DataFrame.from_dict(summary, orient="index")`` makes it a table."""
        n = top_count(len(self.filters), fraction)
        chosen = np.zeros(len(self.filters), bool)
        chosen[self.ranking[:n]] = True
        layers = np.array([f[0] for f in self.filters], dtype=object)
        out = {}
        for name in dict.fromkeys(layers):
            sel = layers == name
            k = int(chosen[sel].sum())
            out[name] = dict(filters=int(sel.sum()), top=k, top_share=k / n if n else 0.0,
                             layer_share=k / int(sel.sum()), mean_score=float(self.scores[sel].mean()))
        return out

    def to_dict(self, fraction: float = 0.01) -> dict:
        """JSON-ready: scores, filters, ranking, the layer summary and the completeness figures."""
        return dict(scores=self.scores.tolist(), filters=[list(f) for f in self.filters],
                    ranking=self.ranking.tolist(), layer_summary=self.layer_summary(fraction),
                    completeness=self.completeness, term_sums=self.term_sums.tolist(),
                    loss_gaps=self.loss_gaps.tolist(), steps=self.steps, settings=self.settings)


def top_count(total: int, fraction) -> int:
    """How many filters a ``fraction`` in [0, 1] of ``total`` is: ``int(total · fraction)`` (the authors' count)."""
    fraction = check_number("fraction", fraction, 0.0, " and <= 1 (a share of the filters, e.g. 0.01)")
    if fraction > 1:
        raise InputError(f"fraction must be in [0, 1] (a share of the filters, e.g. 0.01), got {fraction:g}")
    return int(total * fraction)


# -- argument checks shared by the public functions -----------------------------------------------------------------
MAX_FRACTIONS = 100
"""The most fractions one masking experiment takes (each one masks and runs the models again)."""


def check_hooks(callback, cancel) -> None:
    """Refuse a ``callback`` that is not callable and a ``cancel`` that is not a token, an event or a callable
    (before any work: a bad hook must not fail after the first chunk)."""
    if callback is not None and not callable(callback):
        raise InputError(f"callback must be a function of one Progress (or None), got {type(callback).__name__}")
    if cancel is not None and not (isinstance(cancel, (threading.Event, CancelToken)) or callable(cancel)):
        raise InputError(f"cancel must be a CancelToken, a threading.Event or a function returning True to stop "
                         f"(or None), got {type(cancel).__name__}")


def _model_scale(model: nn.Module, measure: bool) -> Optional[int]:
    """``model.scale`` (or its ``config["upscale"]``); measured with one forward pass when ``measure``."""
    from .models import infer_scale

    for s in (getattr(model, "scale", None), (getattr(model, "config", None) or {}).get("upscale")):
        if isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1:
            return int(s)
    if not measure:
        return None
    with guarded(model):
        return infer_scale(model)


def value_range(model: nn.Module) -> Optional[float]:
    """The ``img_range`` a model states (its attribute, its ``config``, or a submodule's such as BasicSR's mean
    shift): 255 for networks that scale [0, 1] inputs to 0..255 inside, 1 for those that do not; ``None`` if none."""
    config = getattr(model, "config", None)
    candidates = [getattr(model, "img_range", None), config.get("img_range") if isinstance(config, dict) else None]
    candidates += [getattr(m, "img_range", None) for m in model.modules()]
    for r in candidates:
        if isinstance(r, numbers.Real) and not isinstance(r, bool) and math.isfinite(r):
            return float(r)
    return None


def check_same_kind(baseline: nn.Module, target: nn.Module, target_scale: Optional[int] = None,
                    measure: bool = True) -> None:
    """Refuse a pair of equal parameter shapes that still computes different things: another scale (an x2 and an
    x4 FSRCNN have the same weights' shapes) or another value range (``img_range`` 1 vs 255). Interpolating
    between them gives meaningless scores. ``measure``: run one small forward pass when a model states no scale."""
    sb = _model_scale(baseline, measure)
    st = target_scale if target_scale is not None else _model_scale(target, measure)
    rb, rt = value_range(baseline), value_range(target)
    if (sb is not None and st is not None and sb != st) or (rb is not None and rt is not None and rb != rt):
        def kind(s, r):
            return (f"x{s}" if s is not None else "of unknown scale") + (f" (img_range {r:g})" if r is not None else "")
        raise InputError(f"baseline is {kind(sb, rb)}, target is {kind(st, rt)}: FAIG needs the same architecture, "
                         "scale and value range (use a target fine-tuned from the baseline)")


def check_fractions(fractions, name: str = "fractions") -> List[float]:
    """One number or a list of numbers in (0, 1] (shares of the filters) -> list of floats. A string is refused
    rather than read character by character."""
    what = f"{name} must be numbers in (0, 1], e.g. [0.01, 0.05]"
    if isinstance(fractions, (str, bytes)):
        raise InputError(f"{what}; got the string {fractions!r} (write numbers, not text)")
    if isinstance(fractions, (np.ndarray, torch.Tensor)):
        fractions = np.asarray(fractions.detach().cpu() if isinstance(fractions, torch.Tensor) else fractions)
        fractions = fractions.reshape(-1).tolist()
    elif isinstance(fractions, numbers.Number):
        fractions = [fractions]
    if not hasattr(fractions, "__iter__") or isinstance(fractions, dict):
        raise InputError(f"{what}; got {type(fractions).__name__}")
    if hasattr(fractions, "__len__") and len(fractions) > MAX_FRACTIONS:
        raise InputError(f"{what}, at most {MAX_FRACTIONS} of them (each masks and runs the models again); got "
                         f"{len(fractions)}")
    items = []
    for f in fractions:
        items.append(f)
        if len(items) > MAX_FRACTIONS:
            raise InputError(f"{what}, at most {MAX_FRACTIONS} of them (each masks and runs the models again)")
    if not items:
        raise InputError(f"{what}; got none")

    def ok(f):
        return (isinstance(f, numbers.Real) and not isinstance(f, (bool, np.bool_)) and math.isfinite(float(f))
                and 0 < float(f) <= 1)

    bad = [f for f in items if not ok(f)]
    if bad:
        more = f" ... and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise InputError(f"{what}; got {', '.join(repr(f) for f in bad[:3])}{more}")
    return [float(f) for f in items]


def check_names(name: str, values, choices, singular: str, aliases: Optional[Dict[str, str]] = None) -> List[str]:
    """One name or a list of names from ``choices`` -> the list (repeats dropped, order kept)."""
    aliases = aliases or {}
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple, np.ndarray)) and not (hasattr(values, "__iter__")
                                                                  and not isinstance(values, (dict, bytes))):
        raise InputError(f"{name} must be a name or a list of names from {', '.join(choices)}; got "
                         f"{type(values).__name__}")
    items = list(values)[:len(choices) * 4 + 1]
    if not items:
        raise InputError(f"{name} is empty; give at least one of {', '.join(choices)}")
    out = [check_choice(singular, aliases.get(v, v) if isinstance(v, str) else v, choices) for v in items]
    if len(out) > len(choices) * 4:
        raise InputError(f"{name} lists too many names; give each of {', '.join(choices)} at most once")
    return list(dict.fromkeys(out))


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


@dataclass
class _InputScores:
    scores: np.ndarray  # [F] s_f(x)
    term_sum: float
    loss_gap: float


class FAIG:
    """FAIG on a (baseline, target) pair of SR models with the same architecture (zoo names allowed).

    Neither model is changed: the engine interpolates on its own copy (re-synchronised when a model's weights
    change in place).

    Args:
        baseline: ``θ̄``, the non-blind model (``nn.Module`` or zoo name).
        target: ``θ``, the blind model fine-tuned from it.
        device: where to run (default: CUDA when available, else the target's device).
        chunk_size: (step, input) evaluations per chunk (default: sized from the measured memory of one).
        memory_budget: bytes per chunk, an int or a string such as ``"1GB"`` (default: 1 GiB on CPU, 60 % of free
            memory on CUDA); also bounds the per-input gradient accumulators (one float64 copy of the parameters
            each).
        scale: the models' scale ``s`` (default: ``target.scale`` or measured).
        vmap: per-input gradients with ``torch.func.vmap`` over a chunk's inputs (default: on CUDA; on CPU an
            input-by-input loop measured faster). Same numbers either way (float rounding aside).
    """

    def __init__(self, baseline, target, device=None, chunk_size: Optional[int] = None,
                 memory_budget=None, *, scale: Optional[int] = None, vmap: Optional[bool] = None):
        from .models import check, infer_scale

        # every cheap argument first: a typo must not cost a model copy
        self.chunk_size = check_int("chunk_size", chunk_size, 1, " or None") if chunk_size is not None else None
        self.memory_budget = check_memory_budget(memory_budget)
        if vmap is not None and not isinstance(vmap, (bool, np.bool_)):
            raise InputError(f"vmap must be True, False or None (None: on for CUDA), got {vmap!r}")
        scale = check_int("scale", scale, 1, " (the models' upscaling factor) or None") if scale is not None else None
        self.baseline, self.target = model_pair(baseline, target)
        self.device, net = resolve_device(self.target, device)
        self._net = copy.deepcopy(net) if net is self.target else net
        self._net.eval()
        with guarded(self._net):
            self.scale = scale if scale is not None else infer_scale(self._net)
            check(self._net, self.scale, device=self.device)
        check_same_kind(self.baseline, self.target, target_scale=self.scale)
        self.vmap = self.device.type == "cuda" if vmap is None else bool(vmap)
        self._layers = _conv_layers(self._net)
        if not self._layers:
            raise InputError("the model has no conv layer (nn.Conv1d/2d/3d or transposed) with a weight parameter; "
                             "FAIG scores conv filters")
        self.filters = conv_filters(self._net)
        self._params = dict(self._net.named_parameters())
        for p in self._params.values():
            p.requires_grad_(True)  # our copy: gradients of every parameter, biases included (completeness)
        p0 = next(iter(self._params.values()))
        self.dtype = p0.dtype if p0.is_floating_point() else torch.float32
        self._bytes_per_pixel: Optional[float] = None
        self._cache = LRUCache(256)  # per-input scores
        self._lock = threading.RLock()
        self._key = None
        self._sync()

    # -- the path θ_k (steps 1-2) -----------------------------------------------------------------------------------
    def _sync(self) -> None:
        """Read ``θ`` and ``Δ = θ − θ̄`` (float64, flat) from the user's models when their weights changed."""
        key = (model_key(self.baseline), model_key(self.target))
        if key == self._key:
            return
        base, targ = self.baseline.state_dict(), self.target.state_dict()
        theta = torch.cat([targ[n].detach().reshape(-1).to(self.device, torch.float64) for n in self._params])
        delta = theta - torch.cat([base[n].detach().reshape(-1).to(self.device, torch.float64) for n in self._params])
        if not bool(delta.ne(0).any()):
            raise InputError("the target's parameters equal the baseline's: every FAIG score would be 0. Pass the "
                             "blind model fine-tuned from the baseline as target")
        self._theta, self._delta = theta, delta
        self._buffers = [(b, targ[n].detach().to(self.device, torch.float64),
                          (targ[n].detach() - base[n].detach()).to(self.device, torch.float64))
                         for n, b in self._net.named_buffers() if b.is_floating_point() and n in targ]
        offsets = np.cumsum([0] + [p.numel() for p in self._params.values()])
        self._offsets = dict(zip(self._params, zip(offsets[:-1], offsets[1:])))
        self._alpha = None
        self._key = key

    def _set_alpha(self, alpha: float) -> None:
        """Re-weight the copy to ``θ̄ + α(θ − θ̄)``, computed as ``θ − (1 − α)Δ`` in float64 so ``α = 1`` is θ exactly
        (float buffers, e.g. BatchNorm statistics, follow the same path)."""
        if alpha == self._alpha:
            return
        with torch.no_grad():
            flat = self._theta - (1.0 - alpha) * self._delta
            for name, p in self._params.items():
                a, b = self._offsets[name]
                p.copy_(flat[a:b].view_as(p))
            for buf, theta, delta in self._buffers:
                buf.copy_(theta - (1.0 - alpha) * delta)
        self._alpha = alpha

    # -- public API -------------------------------------------------------------------------------------------------
    def attribute(self, lr, hr, lr_other=None, steps: int = 100, callback: ProgressCallback = None,
                  cancel: CancelLike = None) -> FAIGResult:
        """FAIG scores of every conv filter on a set of images.

        Args:
            lr: LR inputs with the degradation: ``[3, h, w]``, ``[N, 3, h, w]`` or a list of ``[3, h, w]`` (sizes
                may differ), float in [0, 1].
            hr: their clean HR images, ``[.., 3, s·h, s·w]`` (or a list), in [0, 1].
            lr_other: the same images under the other degradation (shapes as ``lr``) for eq. 7; ``None`` gives
                plain per-image scores ``s_f(lr)``.
            steps: ``M`` path evaluations (the paper: 100), at most :data:`srwidgets.engine.MAX_STEPS`; memory does
                not grow with ``steps`` (the (step, input) items are generated chunk by chunk).
            callback: called after each chunk with ``Progress(done, total, "faig")``, units (step, input)
                evaluations still to compute (inputs cached from an earlier call cost none).
            cancel: token, event or callable; checked before every chunk (raises :class:`~srwidgets.errors.Cancelled`).

        Returns:
            :class:`FAIGResult`.
        """
        t0 = time.perf_counter()
        steps = check_steps(steps, hint=" (the paper uses 100)")
        check_hooks(callback, cancel)
        xs = _images(lr, self.device, "lr")
        ys = _images(hr, self.device, "hr")
        if len(ys) != len(xs):
            raise InputError(f"lr has {len(xs)} images but hr has {len(ys)}; give one clean HR image per LR input")
        s = self.scale
        for i, (x, y) in enumerate(zip(xs, ys)):
            if tuple(y.shape[1:]) != (s * x.shape[1], s * x.shape[2]):
                raise InputError(f"hr[{i}] is {y.shape[1]}×{y.shape[2]} but lr[{i}] is {x.shape[1]}×{x.shape[2]}: the "
                                 f"models are ×{s}, so hr must be {s * x.shape[1]}×{s * x.shape[2]} (crop the HR image "
                                 f"to multiples of {s} before degrading it)")
        others = []
        if lr_other is not None:
            others = _images(lr_other, self.device, "lr_other")
            if len(others) != len(xs) or any(o.shape != x.shape for o, x in zip(others, xs)):
                raise InputError(f"lr_other must be the same images as lr under the other degradation (same count and "
                                 f"shapes); got {[tuple(o.shape) for o in others][:3]} for lr "
                                 f"{[tuple(x.shape) for x in xs][:3]}")
        h, w = max(x.shape[1] for x in xs), max(x.shape[2] for x in xs)
        ensure_fits(8 * 3 * s * s * h * w * 4, w, h, self.device, "LR image")  # a floor: SR-sized activations
        with self._lock:
            self._sync()
            inputs = xs + others
            per_input = self._scores(inputs, ys + ys if others else ys, steps, callback, cancel)
        degraded = np.stack([r.scores for r in per_input[:len(xs)]])
        other = np.stack([r.scores for r in per_input[len(xs):]]) if others else None
        per_image = degraded - other if others else degraded
        return FAIGResult(scores=per_image.mean(0), filters=list(self.filters), per_image_scores=per_image,
                          per_image_degraded=degraded, per_image_other=other,
                          term_sums=np.array([r.term_sum for r in per_input]),
                          loss_gaps=np.array([r.loss_gap for r in per_input]), steps=steps,
                          settings=dict(scale=s, device=str(self.device), vmap=self.vmap, eq7=bool(others),
                                        images=len(xs)),
                          seconds=time.perf_counter() - t0)

    # -- step 3: per-input gradients summed over the path, then the terms --------------------------------------------
    def _scores(self, xs, ys, steps, callback, cancel) -> List[_InputScores]:
        keys = [(self._key, image_digest(x), image_digest(y), steps, str(self.dtype)) for x, y in zip(xs, ys)]
        todo = [keys.index(k) for k in dict.fromkeys(keys) if k not in self._cache]
        per = 8 * self._delta.numel()  # one float64 accumulator per input
        budget = self.memory_budget or (1 << 30)
        size = max(1, min(len(todo) or 1, int(budget // per)))
        groups = [todo[a:a + size] for a in range(0, len(todo), size)]
        # Items in group order, then step, then input: one re-weighting per step and group. Item j is computed from
        # its index (group g starts at starts[g] and holds steps × len(group) items), never listed: memory must not
        # grow with steps.
        starts = np.cumsum([0] + [steps * len(group) for group in groups]).tolist()
        accs: Dict[int, torch.Tensor] = {}
        losses: Dict[int, float] = {}
        found = {k: self._cache.get(k) for k in keys if k in self._cache}
        done_groups = set()

        def run(start, stop):
            j = start
            while j < stop:
                g = bisect.bisect_right(starts, j) - 1
                group, r = groups[g], j - starts[g]
                k, at = 1 + r // len(group), r % len(group)
                run_end = min(stop, starts[g] + k * len(group))  # the rest of step k of this group, in this chunk
                idx = group[at:at + run_end - j]
                for i in idx:
                    if i not in accs:
                        accs[i] = torch.zeros_like(self._delta)
                self._set_alpha(k / steps)
                for i, grad, loss in self._gradients([xs[i] for i in idx], [ys[i] for i in idx], idx, k, steps):
                    accs[i] += grad
                    if k == steps:
                        losses[i] = loss
                j = run_end
            for g, group in enumerate(groups):
                if g not in done_groups and all(i in losses for i in group):
                    for i in group:
                        found[keys[i]] = self._finish(i, xs[i], ys[i], accs.pop(i), losses.pop(i), steps)
                        self._cache.put(keys[i], found[keys[i]])
                    done_groups.add(g)

        run_chunks(starts[-1], run, cancel=cancel,
                   on_chunk=(lambda done, total: callback(Progress(done, total, "faig", info=dict(
                       steps=steps, inputs=len(todo))))) if callback is not None else None,
                   chunk=lambda: estimate_chunk(self._bytes_per_pixel, max(x[0].numel() for x in xs), self.device,
                                                self.chunk_size, self.memory_budget))
        return [found[k] for k in keys]

    def _finish(self, i, x, y, grad_sum, loss_target, steps) -> _InputScores:
        """Terms ``(θ̄ − θ)·mean_k ∇L`` of one input -> its filter scores, their signed sum, ``L(θ̄) − L(θ)``."""
        terms = -self._delta * grad_sum / steps
        scores = []
        for name, m in self._layers:
            a, b = self._offsets[f"{name}.weight" if name else "weight"]
            scores.append(terms[a:b].view(m.weight.shape[0] * m.weight.shape[1], -1).abs().sum(1))
        self._set_alpha(0.0)
        with torch.no_grad():
            loss_baseline = float(self._loss(self._net(x[None].to(self.dtype)), y, i))
        return _InputScores(scores=torch.cat(scores).cpu().numpy(), term_sum=float(terms.sum()),
                            loss_gap=loss_baseline - loss_target)

    def _loss(self, out: torch.Tensor, y: torch.Tensor, i: int) -> torch.Tensor:
        """``Σ (y − F(x))²`` in float64 (summed over channels and pixels, not averaged)."""
        if tuple(out.shape[-3:]) != tuple(y.shape):
            raise InputError(f"the model maps input {i} to {tuple(out.shape[-3:])}, expected {tuple(y.shape)}; does "
                             "it need sizes that are a multiple of something? Crop the images")
        return ((out.double() - y) ** 2).sum()

    def _gradients(self, xs, ys, idx, k, steps):
        """Yield ``(input, ∇L(θ_k) flat float64, L(θ_k))`` for each input of one step."""
        try:
            if self.vmap and self._bytes_per_pixel is None:
                # torch.func refuses autograd's saved-tensor hooks: meter the first input through the loop, and
                # count per-input gradients (a copy of the parameters, plus the float64 sum) on top
                yield from self._gradients_loop(xs[:1], ys[:1], idx[:1], k, steps)
                self._bytes_per_pixel += 12 * self._delta.numel() / xs[0][0].numel()
                xs, ys, idx = xs[1:], ys[1:], idx[1:]
            if self.vmap:
                try:
                    batched = list(self._gradients_vmap(xs, ys, idx))
                except (RuntimeError, NotImplementedError):
                    self.vmap = False  # a model functorch cannot batch (or out of memory): the loop, for good
                else:
                    yield from batched
                    return
            yield from self._gradients_loop(xs, ys, idx, k, steps)
        except RuntimeError as exc:
            reason = explain_model_error(exc)
            if reason is None:
                raise
            raise InputError(reason) from None

    def _gradients_loop(self, xs, ys, idx, k, steps):
        """Input by input: one forward and one backward each (the first one metered for the chunk size)."""
        for x, y, i in zip(xs, ys, idx):
            measure = self._bytes_per_pixel is None
            with torch.enable_grad(), (saved_bytes() if measure else nullcontext()) as meter:
                loss = self._loss(self._net(x[None].to(self.dtype)), y, i)
            if measure:
                self._bytes_per_pixel = meter.bytes / x[0].numel()
            self._check_finite(loss, k, steps)
            grads = torch.autograd.grad(loss, list(self._params.values()), allow_unused=True, materialize_grads=True)
            yield i, torch.cat([g.reshape(-1) for g in grads]).double(), loss.item()

    def _gradients_vmap(self, xs, ys, idx):
        """``torch.func``: per-input gradients of a batch of same-size inputs in one call (CUDA's fast path)."""
        from torch.func import functional_call, grad_and_value, vmap

        params = {n: p.detach() for n, p in self._params.items()}
        buffers = dict(self._net.named_buffers())

        def loss(p, x, y):
            return ((functional_call(self._net, (p, buffers), (x[None],)).double() - y[None]) ** 2).sum()

        start = 0
        while start < len(xs):  # one vmap call per run of same-size inputs
            stop = start + 1
            while stop < len(xs) and xs[stop].shape == xs[start].shape:
                stop += 1
            x = torch.stack(xs[start:stop]).to(self.dtype)
            y = torch.stack(ys[start:stop])
            with torch.enable_grad():
                grads, values = vmap(grad_and_value(loss), in_dims=(None, 0, 0))(params, x, y)
            flat = torch.cat([grads[n].reshape(stop - start, -1) for n in params], 1).double()
            if not bool(torch.isfinite(values).all()):
                raise InputError("the interpolated model returns NaN or Inf; check both models' weights")
            for j in range(stop - start):
                yield idx[start + j], flat[j], float(values[j])
            start = stop

    def _check_finite(self, loss, k, steps):
        if not bool(torch.isfinite(loss)):
            raise InputError(f"the model interpolated at step {k}/{steps} returns NaN or Inf; check both models' "
                             "weights (a diverged fine-tune?)")


def _images(images, device, what: str) -> List[torch.Tensor]:
    """``[3, h, w]``, ``[N, 3, h, w]`` or a list of ``[3, h, w]`` -> list of float64 ``[3, h, w]`` on ``device``."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if isinstance(images, (list, tuple)):
        items = list(images)
    elif isinstance(images, torch.Tensor) and images.dim() == 4:
        items = list(images)
    else:
        items = [images]
    if not items:
        raise InputError(f"{what} is empty; give at least one image [3, h, w]")
    return [image_tensor(im, device, f"{what}[{i}]") for i, im in enumerate(items)]


# -- 6. masking ------------------------------------------------------------------------------------------------------
def _selection(model: nn.Module, filters) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """``{layer: (outs, ins)}`` of ``filters``: ``(layer, out, in)`` tuples or indices into :func:`conv_filters`."""
    layers = dict(_conv_layers(model))
    if isinstance(filters, FAIGResult):
        raise InputError("filters must be the filters to mask, not a FAIGResult: pass result.top(0.01) or "
                         "result.ranking[:n]")
    if isinstance(filters, (str, bytes)) or (isinstance(filters, tuple) and len(filters) == 3
                                             and isinstance(filters[0], str)):
        filters = [filters]  # one filter (layer, out, in); a bare string is refused below, naming it
    if isinstance(filters, (np.ndarray, torch.Tensor)):
        filters = np.asarray(filters.detach().cpu() if isinstance(filters, torch.Tensor) else filters)
        if filters.ndim == 0:
            filters = filters.reshape(1)
        filters = filters.tolist()
    elif isinstance(filters, numbers.Integral) and not isinstance(filters, bool):
        filters = [filters]
    if filters is None or not hasattr(filters, "__iter__") or isinstance(filters, dict):
        raise InputError("filters must be a list of (layer_name, out, in) tuples or of indices into "
                         f"conv_filters(model) (e.g. result.top(0.01)), got {type(filters).__name__}")
    filters = list(filters)
    everything = None
    sel: Dict[str, Tuple[list, list]] = {}
    for f in filters:
        if isinstance(f, numbers.Integral) and not isinstance(f, (bool, np.bool_)):
            everything = everything or conv_filters(model)
            if not 0 <= f < len(everything):
                raise InputError(f"filter index {f} is out of range: the model has {len(everything)} filters")
            f = everything[f]
        if not (isinstance(f, (tuple, list)) and len(f) == 3 and f[0] in layers):
            raise InputError(f"a filter is (layer_name, out, in) with a conv layer name ({', '.join(list(layers)[:4])}"
                             f", ...) or an index into conv_filters(model); got {f!r}")
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in f[1:]):
            raise InputError(f"a filter's out and in are integers (layer_name, out, in); got {tuple(f)!r}")
        name, o, i = f[0], int(f[1]), int(f[2])
        shape = layers[name].weight.shape
        if not (0 <= o < shape[0] and 0 <= i < shape[1]):
            raise InputError(f"filter {tuple(f)} is outside {name}'s weight {tuple(shape[:2])} (out, in)")
        sel.setdefault(name, ([], []))
        sel[name][0].append(o)
        sel[name][1].append(i)
    return {n: (torch.tensor(o), torch.tensor(i)) for n, (o, i) in sel.items()}


def modulate(target, baseline, filters, lam: float, biases: bool = False) -> nn.Module:
    """A copy of ``target`` whose ``filters`` are ``θ̄ + λ(θ − θ̄)`` (λ = 0: the baseline's values, λ = 1: the target's).

    Args:
        target, baseline: models of one architecture (zoo names allowed); neither is changed.
        filters: ``(layer_name, out, in)`` tuples or indices into :func:`conv_filters` (e.g. ``result.ranking[:n]``).
        lam: λ in [0, 1.5].
        biases: also move ``bias[out]`` of every chosen filter's output channel.
    """
    lam = check_number("lam", lam, 0.0, " and <= 1.5 (0: baseline values, 1: target values)")
    if lam > 1.5:
        raise InputError(f"lam must be in [0, 1.5] (0: baseline values, 1: target values), got {lam:g}")
    biases = _check_flag("biases", biases)
    base, targ = model_pair(baseline, target)
    check_same_kind(base, targ, measure=False)
    out = copy.deepcopy(targ)
    base_layers = dict(_conv_layers(base))
    with torch.no_grad():
        for name, (o, i) in _selection(out, filters).items():
            m, mb = dict(_conv_layers(out))[name], base_layers[name]
            pairs = [(m.weight, mb.weight, (o, i))]
            if biases and m.bias is not None:
                pairs.append((m.bias, mb.bias, (o.unique(),)))
            for w, wb, at in pairs:
                theta, theta_bar = w[at].double(), wb[at].to(w.device, torch.float64)
                w[at] = (theta - (1.0 - lam) * (theta - theta_bar)).to(w.dtype) if lam != 0 else wb[at].to(w)
    return out


def mask(target, baseline, filters, biases: bool = False) -> nn.Module:
    """A copy of ``target`` with the baseline's values copied into ``filters`` (``weight[out, in]`` kernels; with
    ``biases`` also ``bias[out]``): :func:`modulate` at λ = 0. Neither model is changed."""
    return modulate(target, baseline, filters, 0.0, biases)


def weight_change(baseline, target) -> np.ndarray:
    """The authors' weight-change score per filter, ``Σ_k |θ − θ̄| / Σ_k |θ̄|`` over its kernel entries ``[F]``
    (``x / 0`` = inf, ``0 / 0`` = 0)."""
    base, targ = model_pair(baseline, target)
    out = []
    for (name, m), (_, mb) in zip(_conv_layers(targ), _conv_layers(base)):
        w, wb = m.weight.detach().double().cpu(), mb.weight.detach().double().cpu()
        out.append((w - wb).abs().flatten(2).sum(2).flatten().numpy())
        out.append(wb.abs().flatten(2).sum(2).flatten().numpy())
    num, den = np.concatenate(out[0::2]), np.concatenate(out[1::2])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(num == 0, 0.0, num / den)


def rank(method: str, baseline, target, scores=None, seed: int = 0) -> np.ndarray:
    """Filter indices (into :func:`conv_filters` of the target), best first.

    ``"faig"``: by ``scores`` (a :class:`FAIGResult` or an array ``[F]``), descending; ``"random"``: a permutation
    seeded by ``seed``; ``"weight_diff"`` (or ``"weight_change"``): by :func:`weight_change`, descending.
    """
    method = "weight_diff" if method == "weight_change" else method
    method = check_choice("method", method, METHODS)
    seed = check_seed(seed)
    n = len(conv_filters(model_pair(baseline, target)[1]))
    if method == "random":
        return np.random.default_rng(seed).permutation(n)
    if method == "weight_diff":
        return np.argsort(-weight_change(baseline, target), kind="stable")
    if scores is None:
        raise InputError("rank('faig', ...) needs scores=: a FAIGResult or its .scores")
    try:
        scores = np.asarray(scores.scores if isinstance(scores, FAIGResult) else scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"scores must be a FAIGResult or {n} finite numbers (one per filter), got "
                         f"{type(scores).__name__}") from None
    if scores.shape != (n,):
        raise InputError(f"scores must be {n} finite numbers (one per filter), got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise InputError(f"scores must be {n} finite numbers (one per filter); {int((~np.isfinite(scores)).sum())} "
                         "are NaN or Inf")
    return np.argsort(-scores, kind="stable")


# -- the masking experiment's measures ------------------------------------------------------------------------------
def gradient_map(sr: torch.Tensor) -> torch.Tensor:
    """The paper's gradient map of an SR image ``[N, 3, H, W]`` in [0, 1]: quantised to 8 bits (the authors saved
    PNGs), grey ``0.299 R + 0.587 G + 0.114 B``, central differences ``[-1, 0, 1]`` vertically and horizontally
    (zero padding), ``sqrt(gv² + gh² + 1e-6)``: ``[N, 1, H, W]`` float64. (The authors' script reads the PNG in
    colour and repeats channels, so it measures the blue channel; we use the grey image the paper describes.)"""
    x = (_sr_batch(sr, "sr").clamp(0, 1) * 255).round() / 255
    grey = (x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114)
    kv = torch.tensor([[0, -1, 0], [0, 0, 0], [0, 1, 0]], dtype=torch.float64, device=x.device)[None, None]
    gv, gh = F.conv2d(grey, kv, padding=1), F.conv2d(grey, kv.transpose(2, 3), padding=1)
    return torch.sqrt(gv ** 2 + gh ** 2 + 1e-6)


def _sr_batch(sr, what: str) -> torch.Tensor:
    """An SR output ``[3, H, W]`` / ``[N, 3, H, W]`` (tensor or array, finite) -> float64 ``[N, 3, H, W]``."""
    if isinstance(sr, np.ndarray):
        sr = torch.from_numpy(sr)
    if not isinstance(sr, torch.Tensor) or not sr.is_floating_point():
        raise InputError(f"{what} must be a float tensor [3, H, W] or [N, 3, H, W] in [0, 1], got "
                         f"{getattr(sr, 'dtype', type(sr).__name__)}")
    sr = sr.detach()
    if sr.dim() == 3:
        sr = sr[None]
    if sr.dim() != 4 or sr.shape[1] != 3 or sr.numel() == 0:
        raise InputError(f"{what} must have shape [3, H, W] or [N, 3, H, W], got {tuple(sr.shape)}")
    if not bool(torch.isfinite(sr).all()):
        raise InputError(f"{what} contains NaN or Inf; the model's output diverged")
    return sr.double()


def output_difference(sr_a: torch.Tensor, sr_b: torch.Tensor) -> float:
    """The paper's measure: ``mean((G(a) − G(b))²) × 1000`` of the :func:`gradient_map` s, one value per image
    averaged over the batch (``[N, 3, H, W]`` or ``[3, H, W]``)."""
    a, b = _sr_batch(sr_a, "sr_a"), _sr_batch(sr_b, "sr_b")
    if a.shape != b.shape:
        raise InputError(f"sr_a and sr_b must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return float(((gradient_map(a) - gradient_map(b)) ** 2).flatten(1).mean(1).mean() * 1000)


def hr_tensors(hr_images, scale: int) -> List[torch.Tensor]:
    """HR images (numpy ``HWC`` or torch ``CHW``, float in [0, 1]; file paths and bundled names are read with
    :func:`srwidgets.data.load_images`; one image or a list) -> float32 ``[3, H, W]`` cropped to multiples of
    ``scale``."""
    scale = check_int("scale", scale, 1)
    if isinstance(hr_images, (str, os.PathLike)) or (isinstance(hr_images, (list, tuple)) and any(
            isinstance(im, (str, os.PathLike)) for im in hr_images)):
        from .data import load_images

        hr_images = load_images(hr_images)[0]
    if isinstance(hr_images, (np.ndarray, torch.Tensor)):
        hr_images = list(hr_images) if hr_images.ndim == 4 else [hr_images]  # a batch, or one image
    if not isinstance(hr_images, (list, tuple)) or not hr_images:
        raise InputError("hr_images must be a non-empty list of HR images (numpy HWC or torch CHW, float in [0, 1])")
    out = []
    for j, im in enumerate(hr_images):
        if isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[-1] == 3:
            im = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)
        t = image_tensor(im, "cpu", f"hr_images[{j}]").float()
        h, w = t.shape[1] // scale * scale, t.shape[2] // scale * scale
        # a floor: the degradations keep a few float64 copies of the image (blur, noise, resampling)
        ensure_fits(16 * 8 * 3 * t.shape[1] * t.shape[2], t.shape[2], t.shape[1], None, f"hr_images[{j}]")
        if min(h, w) < max(11, scale):
            raise InputError(f"hr_images[{j}] is {t.shape[1]}×{t.shape[2]}: too small for the 21×21 blur of the "
                             f"FAIG degradations; use images of at least {max(11, scale)}×{max(11, scale)} pixels")
        out.append(t[:, :h, :w].contiguous())
    return out


_ENGINES = LRUCache(2)  # masking_table(noise) then masking_table(blur) on the same pair reuse the per-input scores


def degraded_inputs(hrs: Sequence[torch.Tensor], degradations: Iterable[str], scale: int,
                    seed: int = 0) -> Dict[str, List[torch.Tensor]]:
    """FAIG's test inputs: ``{degradation: [LR [3, H/s, W/s] per HR image]}`` from HR ``[3, H, W]`` tensors
    (:func:`srwidgets.degrade.faig_degradation`); image ``j``'s noise is seeded by ``seed + j`` (reproducible, and
    different from image to image). The masking experiment, the CLI and the widget all use these."""
    degradations = check_names("degradations", degradations, OTHER, "degradation")
    seed, scale = check_seed(seed), check_int("scale", scale, 1)
    if isinstance(hrs, torch.Tensor) and hrs.dim() == 3:
        hrs = [hrs]
    if not isinstance(hrs, (list, tuple, torch.Tensor)):
        raise InputError(f"hrs must be a list of HR tensors [3, H, W] (see hr_tensors), got {type(hrs).__name__}")
    checked = []
    for j, hr in enumerate(hrs):
        dtype = hr.dtype if isinstance(hr, torch.Tensor) and hr.is_floating_point() else torch.float32
        checked.append(image_tensor(hr, "cpu", f"hrs[{j}]").to(dtype))  # float64 and back: values unchanged
    hrs = checked
    if not hrs:
        raise InputError("hrs is empty; give at least one HR image [3, H, W] (see hr_tensors)")
    return {d: [faig_degradation(d, scale)(hr[None], seed=seed + j)[0] for j, hr in enumerate(hrs)]
            for d in degradations}


def engine_for(baseline, target, device=None) -> FAIG:
    """A :class:`FAIG` engine for this pair (zoo names allowed), shared while the weights are unchanged: its
    per-input scores are reused by every later call on the same pair and images (masking tables, the CLI)."""
    base, targ = model_pair(baseline, target)
    key = (model_key(base), model_key(targ), str(device))
    engine = _ENGINES.get(key)
    if engine is None or engine.baseline is not base or engine.target is not targ:
        engine = FAIG(base, targ, device=device)
        _ENGINES.put(key, engine)
    return engine


def _masking_rows(baseline, target, hr_images, fractions, methods, rank_for, evaluate_on, steps, seed, device,
                  callback, cancel) -> List[dict]:
    # every argument is checked before any model is touched or copied
    methods = check_names("methods", methods, METHODS, "method", {"weight_change": "weight_diff"})
    rank_for = check_names("rank_for", rank_for, OTHER, "degradation")
    evaluate_on = check_names("degradations", evaluate_on, OTHER, "degradation")
    steps, seed = check_steps(steps, hint=" (the paper uses 100)"), check_seed(seed)
    check_hooks(callback, cancel)
    engine = engine_for(baseline, target, device)
    s, total = engine.scale, len(engine.filters)
    counts = [top_count(total, f) for f in fractions]  # fractions: checked by the caller
    hrs = hr_tensors(hr_images, s)
    needed = dict.fromkeys(list(rank_for) + [OTHER[d] for d in rank_for if "faig" in methods] + list(evaluate_on))
    lrs = degraded_inputs(hrs, list(needed), s, seed)
    rankings = {}
    for d in rank_for:
        for m in methods:
            if m == "faig":
                result = engine.attribute(lrs[d], hrs, lrs[OTHER[d]], steps=steps, callback=callback, cancel=cancel)
                rankings[d, m] = result.ranking
            else:
                rankings[d, m] = rank(m, engine.baseline, engine.target, seed=seed)

    def outputs(model, d):
        return [sr_output(model, x, engine.device, engine.dtype) for x in lrs[d]]

    reference = {d: outputs(mask(engine.target, engine.baseline, []), d) for d in evaluate_on}
    rows, done, todo = [], 0, len(rankings) * len(counts)
    for (d, m), order in rankings.items():
        for frac, n in zip(fractions, counts):
            check_cancel(cancel)
            masked = mask(engine.target, engine.baseline, order[:n])
            for e in evaluate_on:
                out = outputs(masked, e)
                p_t = [psnr(r, hr, shave=s) for r, hr in zip(reference[e], hrs)]
                p_m = [psnr(o, hr, shave=s) for o, hr in zip(out, hrs)]
                rows.append(dict(filters_for=d, method=m, fraction=frac, n_filters=n, input=e,
                                 psnr_target=float(np.mean(p_t)), psnr_masked=float(np.mean(p_m)),
                                 psnr_drop=float(np.mean(np.subtract(p_t, p_m))),
                                 output_diff=float(np.mean([output_difference(r, o)
                                                            for r, o in zip(reference[e], out)]))))
            done += 1
            if callback is not None:
                callback(Progress(done, todo, "masking"))
    return rows


def sr_output(model: nn.Module, x: torch.Tensor, device, dtype) -> torch.Tensor:
    """The SR output ``[3, s·h, s·w]`` float32 on the CPU of one LR image ``x`` ``[3, h, w]``, run on ``device`` in
    ``dtype``. ``model`` is moved there: pass a copy (:func:`mask` / :func:`modulate` make one), never a user's model."""
    model = model.to(device)
    with guarded(model), torch.inference_mode():
        return model(x[None].to(device, dtype))[0].float().cpu()


def masked_outputs(engine: FAIG, filters, lam: float, lr: torch.Tensor, hr: torch.Tensor,
                   target_output: Optional[torch.Tensor] = None, cancel: CancelLike = None):
    """One image of the masking experiment, as the widget shows it: ``(images, psnrs)``.

    ``images`` is ``{"input": the LR input bicubic-upscaled and clamped to [0, 1], "target": the target's output,
    "masked": the output with ``filters`` set to θ̄ + λ(θ − θ̄) (:func:`modulate`)}``, each ``[3, H, W]`` float32
    on the CPU (SR outputs not clipped); ``psnrs`` is ``{same keys: dB}`` against ``hr`` ``[3, H, W]`` (Y channel,
    ``engine.scale`` pixels shaved). ``target_output`` skips the target's forward pass (it does not depend on the
    filters); ``cancel`` is checked before each forward pass.
    """
    s = engine.scale
    check_hooks(None, cancel)
    check_cancel(cancel)
    if target_output is None:
        target_output = sr_output(mask(engine.target, engine.baseline, []), lr, engine.device, engine.dtype)
    check_cancel(cancel)
    masked = sr_output(modulate(engine.target, engine.baseline, filters, lam), lr, engine.device, engine.dtype)
    shown_input = F.interpolate(lr[None], scale_factor=s, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    images = dict(input=shown_input, target=target_output, masked=masked)
    return images, {k: psnr(v, hr, shave=s) for k, v in images.items()}


def masking_experiment(baseline, target, hr_images, fractions: Sequence[float] = (0.01, 0.03, 0.05, 0.1),
                       methods: Sequence[str] = METHODS, degradations: Sequence[str] = ("blur", "noise"),
                       steps: int = 100, seed: int = 0, device=None, callback: ProgressCallback = None,
                       cancel: CancelLike = None, rank_for: Optional[Sequence[str]] = None):
    """The paper's masking experiment as a ``pandas.DataFrame`` (one row per ranking × fraction × input).

    For each degradation ``d`` in ``degradations`` and each method (``"faig"``: eq. 7 scores of ``d`` against the
    other degradation on these images; ``"random"``: seeded; ``"weight_diff"``: :func:`weight_change`), the top
    ``int(F · fraction)`` filters of the target get the baseline's values (:func:`mask`), and the masked model is
    compared with the target on LR inputs of every degradation in ``degradations``
    (:func:`srwidgets.degrade.faig_degradation`, noise seeded by ``seed + image index``).

    Args:
        baseline, target: the model pair (zoo names allowed).
        hr_images: clean HR images, numpy ``HWC`` or torch ``CHW`` float in [0, 1] (cropped to multiples of s).
        fractions: shares of the filters in (0, 1] (the paper: 1, 3, 5, 10 %), one number or a list.
        methods, degradations, rank_for: one name or a list of names.
        steps, seed, device: FAIG's ``M``; the seed of the noise and the random ranking; where to run.
        callback, cancel: progress (stages ``"faig"`` then ``"masking"``) and cancellation.
        rank_for: the degradations whose filters are ranked and masked (default: ``degradations``); the inputs
            evaluated are always those of ``degradations``.

    Returns:
        columns ``filters_for`` (the ranking's degradation), ``method``, ``fraction``, ``n_filters``, ``input`` (the
        degradation of the inputs evaluated), ``psnr_target`` / ``psnr_masked`` (dB, Y channel, ``s`` pixels
        shaved, against the clean HR, mean over images), ``psnr_drop`` (dB, positive = worse; mean of the
        per-image drops), ``output_diff`` (:func:`output_difference`: gradient-map MSE × 1000, target vs masked).
    """
    try:
        import pandas as pd
    except ImportError:
        raise InputError("masking_experiment returns a pandas DataFrame: pip install pandas (or call masking_table "
                         "for one degradation and fraction)") from None
    fractions = check_fractions(fractions)
    degradations = check_names("degradations", degradations, OTHER, "degradation")
    rank_for = degradations if rank_for is None else rank_for
    rows = _masking_rows(baseline, target, hr_images, fractions, methods, rank_for, degradations, steps, seed,
                         device, callback, cancel)
    return pd.DataFrame(rows)


def masking_table(baseline, target, hr_images, degradation: str = "noise", fraction: float = 0.01, seed: int = 0,
                  measure: str = "psnr_drop", steps: int = 100, device=None, callback: ProgressCallback = None,
                  cancel: CancelLike = None) -> Dict[str, float]:
    """One cell of the masking experiment per method: ``{"faig": v, "random": v, "weight_diff": v}``.

    ``v`` is, on inputs with ``degradation`` after masking ``fraction`` of the filters chosen by each method (FAIG
    scores from these same images, the other degradation as eq. 7's contrast), the mean PSNR drop in dB against the
    clean HR (``measure="psnr_drop"``, positive = worse) or the paper's gradient-map measure
    (``measure="output_diff"``, :func:`output_difference`). Arguments as :func:`masking_experiment`.
    """
    measure = check_choice("measure", measure, MEASURES)
    fraction = check_number("fraction", fraction, 0.0, " and <= 1 (a share of the filters, e.g. 0.01)")
    top_count(1, fraction)  # refuses > 1 before any work
    rows = _masking_rows(baseline, target, hr_images, [fraction], METHODS, [degradation], [degradation], steps, seed,
                         device, callback, cancel)
    return {r["method"]: r[measure] for r in rows}


__all__ = ["FAIG", "FAIGResult", "Filter", "METHODS", "MEASURES", "OTHER", "conv_filters", "mask", "modulate", "rank",
           "top_count", "hr_tensors", "degraded_inputs", "engine_for",
           "weight_change", "gradient_map", "output_difference", "masking_experiment", "masking_table",
           "sr_output", "masked_outputs", "check_fractions", "check_same_kind", "value_range", "MAX_FRACTIONS"]
