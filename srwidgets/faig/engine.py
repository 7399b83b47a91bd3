"""FAIG's attribution (steps 1-5 of :mod:`srwidgets.faig`): the conv filters of a model, the parameter-space
integrated gradients per filter along ``θ_k = θ̄ + (k/M)(θ − θ̄)``, the per-input scores, eq. 7 and the ranking.

:class:`FAIG` is the engine (a private interpolated copy of the target, chunks of (step, input) evaluations
generated lazily, per-input score cache); :class:`FAIGResult` holds its scores. The masking experiment built on
them is :mod:`srwidgets.faig.masking`.
"""
from __future__ import annotations

import bisect
import copy
import math
import numbers
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..engine import (LRUCache, check_int, check_memory_budget, check_number, check_steps, ensure_fits,
                      estimate_chunk, guarded, image_digest, image_tensor, model_key, run_chunks, saved_bytes)
from ..engine.prepare import PreparedModel, model_errors, prepare_model
from ..errors import InputError
from ..zoo.lookup import model_pair
from ..progress import CancelLike, Progress, ProgressCallback, check_hooks

__all__ = ["FAIG", "FAIGResult", "Filter", "OTHER", "conv_filters", "top_count", "layer_counts", "check_hooks", "check_same_kind",
           "value_range"]

Filter = Tuple[str, int, int]
"""``(layer_name, out, in)``: one kernel ``weight[out, in]`` of a conv layer."""
OTHER = {"blur": "noise", "noise": "blur"}
"""Eq. 7's contrast: the other degradation of each."""


# -- 1. filters -----------------------------------------------------------------------------------------------------
def conv_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """Conv layers whose ``weight`` is a plain parameter, in ``model.named_modules()`` order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.modules.conv._ConvNd) and isinstance(m.weight, nn.Parameter)]


def conv_filters(model: nn.Module) -> List[Filter]:
    """Every filter ``(layer_name, out, in)``: conv layers in ``named_modules()`` order, ``(out, in)`` row-major
    (``out, in`` index the weight's first two dimensions; for transposed convs that is ``(in, out)``)."""
    return [(name, o, i) for name, m in conv_layers(model)
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
    def ranks(self) -> np.ndarray:
        """``[F]`` each filter's rank, 1 = the best (the inverse of :attr:`ranking`)."""
        ranks = np.empty(len(self.scores), dtype=np.int64)
        ranks[self.ranking] = np.arange(1, len(self.scores) + 1)
        return ranks

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


def layer_counts(filters: List[Filter], chosen) -> Dict[str, int]:
    """How many of the filter indices ``chosen`` each conv layer holds, ``{layer: count}`` for every layer of
    ``filters`` in order (zeros included), e.g. the masked filters per layer."""
    counts = dict.fromkeys((f[0] for f in filters), 0)
    try:
        chosen = np.asarray(chosen, dtype=np.int64).ravel()
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"chosen must be filter indices (integers in [0, {len(filters) - 1}]), got "
                         f"{type(chosen).__name__}") from None
    bad = chosen[(chosen < 0) | (chosen >= len(filters))]
    if bad.size:
        raise InputError(f"filter index {int(bad[0])} is out of range: there are {len(filters)} filters "
                         f"(indices 0 to {len(filters) - 1})")
    for j in chosen:
        counts[filters[int(j)][0]] += 1
    return counts


def top_count(total: int, fraction) -> int:
    """How many filters a ``fraction`` in [0, 1] of ``total`` is: ``int(total · fraction)`` (the authors' count)."""
    fraction = check_number("fraction", fraction, 0.0, " and <= 1 (a share of the filters, e.g. 0.01)")
    if fraction > 1:
        raise InputError(f"fraction must be in [0, 1] (a share of the filters, e.g. 0.01), got {fraction:g}")
    return int(total * fraction)


# -- argument checks shared with the masking experiment ---------------------------------------------------------------


def _model_scale(model: nn.Module, measure: bool) -> Optional[int]:
    """``model.scale`` (or its ``config["upscale"]``); measured with one forward pass when ``measure``."""
    from ..models import infer_scale

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
        # every cheap argument first: a typo must not cost a model copy
        self.chunk_size = check_int("chunk_size", chunk_size, 1, " or None") if chunk_size is not None else None
        self.memory_budget = check_memory_budget(memory_budget)
        if vmap is not None and not isinstance(vmap, (bool, np.bool_)):
            raise InputError(f"vmap must be True, False or None (None: on for CUDA), got {vmap!r}")
        scale = check_int("scale", scale, 1, " (the models' upscaling factor) or None") if scale is not None else None
        self.baseline, self.target = model_pair(baseline, target)
        prepared = prepare_model(self.target, scale, device)  # checked under guarded(): nothing of it changes
        self.device, self.scale = prepared.device, prepared.scale
        # the copy re-weighted along the path: never the user's target (prepare_model moves a copy, or not at all)
        self._net = copy.deepcopy(prepared.model) if prepared.model is self.target else prepared.model
        self._net.eval()
        check_same_kind(self.baseline, self.target, target_scale=self.scale)
        self.vmap = self.device.type == "cuda" if vmap is None else bool(vmap)
        self._layers = conv_layers(self._net)
        if not self._layers:
            raise InputError("the model has no conv layer (nn.Conv1d/2d/3d or transposed) with a weight parameter; "
                             "FAIG scores conv filters")
        self.filters = conv_filters(self._net)
        self._params = dict(self._net.named_parameters())
        for p in self._params.values():
            p.requires_grad_(True)  # our copy: gradients of every parameter, biases included (completeness)
        self.dtype = prepared.dtype
        self._prepared = PreparedModel(self._net, self.device, self.scale, self.dtype)  # the copy's forward
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
        loss_baseline = float(self._loss(self._prepared.forward(x[None]), y, i))
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
        with model_errors():
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
