"""FAIG's masking experiment (step 6 of :mod:`srwidgets.faig`): copy the baseline's values into the target's top
filters (:func:`mask`) or move them part of the way (:func:`modulate`), rank filters by FAIG, at random or by weight
change (:func:`rank`), and measure what the masked model loses (:func:`masking_experiment`, :func:`masking_table`,
:func:`masked_outputs` for one image as the widget shows it).
"""
from __future__ import annotations

import copy
import math
import numbers
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.inputs import check_flag
from ..degrade import faig_degradation
from ..engine import (LRUCache, check_choice, check_int, check_number, check_seed, check_steps, ensure_fits, guarded,
                      image_tensor, model_key)
from ..engine.prepare import PreparedModel
from ..errors import InputError
from ..metrics import psnr
from ..zoo.lookup import model_pair
from ..progress import CancelLike, Progress, ProgressCallback, check_cancel, check_hooks
from .engine import FAIG, OTHER, FAIGResult, conv_layers, check_same_kind, conv_filters, top_count

__all__ = ["METHODS", "MEASURES", "MAX_FRACTIONS", "check_fractions", "check_names", "mask", "modulate", "rank",
           "weight_change", "gradient_map", "output_difference", "hr_tensors", "degraded_inputs", "engine_for",
           "sr_output", "masked_outputs", "masking_experiment", "masking_table"]

METHODS = ("faig", "random", "weight_diff")
"""Rankings compared in the masking experiment (``"weight_change"`` is accepted for ``"weight_diff"``)."""
MEASURES = ("psnr_drop", "output_diff")
MAX_FRACTIONS = 100
"""The most fractions one masking experiment takes (each one masks and runs the models again)."""


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


# -- 6. masking ------------------------------------------------------------------------------------------------------
def _selection(model: nn.Module, filters) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """``{layer: (outs, ins)}`` of ``filters``: ``(layer, out, in)`` tuples or indices into :func:`conv_filters`."""
    layers = dict(conv_layers(model))
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
    biases = check_flag("biases", biases)
    base, targ = model_pair(baseline, target)
    check_same_kind(base, targ, measure=False)
    out = copy.deepcopy(targ)
    base_layers = dict(conv_layers(base))
    with torch.no_grad():
        for name, (o, i) in _selection(out, filters).items():
            m, mb = dict(conv_layers(out))[name], base_layers[name]
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
    for (name, m), (_, mb) in zip(conv_layers(targ), conv_layers(base)):
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
    seed = check_seed(seed, numpy=True)
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
        from ..data import load_images

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
    seed, scale = check_seed(seed, numpy=True), check_int("scale", scale, 1)
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
    steps, seed = check_steps(steps, hint=" (the paper uses 100)"), check_seed(seed, numpy=True)
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
        return [sr_output(model, x, engine.device, engine.dtype, scale=s) for x in lrs[d]]

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


def sr_output(model: nn.Module, x: torch.Tensor, device, dtype, scale: Optional[int] = None) -> torch.Tensor:
    """The SR output ``[3, s·h, s·w]`` float32 on the CPU of one LR image ``x`` ``[3, h, w]``, run on ``device`` in
    ``dtype`` (:meth:`~srwidgets.engine.prepare.PreparedModel.forward`: guarded, model errors in plain words).
    ``model`` is moved there: pass a copy (:func:`mask` / :func:`modulate` make one), never a user's model. With
    ``scale``, an output that is not ``scale`` times ``x`` is refused in plain words."""
    device = torch.device(device)
    prepared = PreparedModel(model.to(device), device, scale or 0, dtype)  # 0: scale unknown, shape not checked
    with guarded(prepared.model):
        # the input is cast to dtype as before and the float64 output back to float32: the same values
        sr = prepared.forward(x[None].to(device))[0]
    if scale:
        prepared.check_output_shape(sr, x)
    return sr.float().cpu()


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
        target_output = sr_output(mask(engine.target, engine.baseline, []), lr, engine.device, engine.dtype,
                                  scale=s)
    check_cancel(cancel)
    masked = sr_output(modulate(engine.target, engine.baseline, filters, lam), lr, engine.device, engine.dtype,
                       scale=s)
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
