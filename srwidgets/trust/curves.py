"""Deletion and insertion curves for one SR window: does removing what a map ranks highest change the window most?

Rank the LR pixels (or ``block × block`` blocks) of the window's receptive-field box by the map (ties: raster
order, :mod:`srwidgets.trust.ranking`). At fraction ``f_k = k / steps``, ``k = 0 .. steps``, the top
``n_k = round(f_k · n)`` of the ``n`` units (halves rounded up) are

* ``mode="deletion"``: replaced by the baseline, starting from the input ``x``: ``x_k = where(M_k, x', x)``;
* ``mode="insertion"``: put into the baseline, starting from it: ``x_k = where(M_k, x, x')``,

and the window's objective ``D(F(x_k))`` (LAM's local-gradient detector by default) and the window PSNR of
``F(x_k)`` against ``F(x)`` (Y channel, 8-bit, as :func:`srwidgets.metrics.psnr`; identical windows count as
:data:`PSNR_CAP` dB so curves stay finite) are recorded. The ``steps + 1`` inputs are forwards of the verified
receptive-field crop, batched: as many per forward as the memory budget allows (CPU: a few for small crops).

``spacing="geometric"`` places the fractions ``f_0 = 0``, ``f_k = n^{−(steps−k)/(steps−1)}`` (one unit, then
geometric up to 1): the objective of a window usually collapses within the first few percent of its receptive
field, where linear steps have one point or none; the AUC is the same integral, sampled where the curve moves.

**AUC conventions.** ``auc`` is the trapezoid rule over the fractions in [0, 1] on the scores as given (objective
units: summed local-gradient magnitude over the window). ``auc_normalised`` is the same on the scores divided by
``D(F(x))``, the score of the untouched input (the score at fraction 0 for deletion, at fraction 1 for
insertion), so windows and models compare; ``nan`` when ``D(F(x)) = 0``. A faithful map has a **low** deletion AUC
(the window's detail goes first) and a **high** insertion AUC, both relative to the random control.

Baselines (:data:`BASELINES`): ``"blur"`` (the default: LAM's path baseline ``K_sigma ⋆ x``, sigma 1.2, kernel 9),
``"black"``, ``"mean"`` (each channel's mean over the image), ``"uniform"`` (seeded U(0, 1) noise), or a tensor
``[3, h, w]`` in [0, 1].
"""
from __future__ import annotations

import math
import time
import weakref
from typing import Optional

import numpy as np
import torch

from ..engine import check_choice, check_int, check_number, check_seed, check_steps, guarded, image_tensor
from ..engine import estimate_chunk, run_chunks, saved_bytes
from ..engine.objectives import get_objective
from ..engine.prepare import model_errors
from ..engine.windows import clip_window
from ..errors import InputError
from ..filters import check_kernel
from ..metrics import psnr
from ..progress import Progress, check_hooks
from .ranking import CONTROLS, as_map, crop_map, rank_units, resolve_scores, unit_mask, unit_scores

__all__ = ["deletion", "BASELINES", "PSNR_CAP", "trapezoid", "make_baseline", "window_engine", "ENGINE_OPTIONS",
           "check_method_knobs", "check_hooks"]

BASELINES = {
    "blur": "K_sigma ⋆ x, LAM's path baseline (Gaussian blur, sigma=1.2, kernel_size=9)",
    "black": "x' = 0",
    "mean": "each channel's mean over the LR image",
    "uniform": "x' ~ U(0, 1), seeded",
}
PSNR_CAP = 100.0
"""The PSNR (dB) of a window identical to F(x)'s (8-bit quantised), so curves and tables stay finite."""

ENGINE_OPTIONS = ("scale", "device", "chunk_size", "memory_budget")
_BYTES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> activation bytes per LR px per input


def trapezoid(fractions, scores) -> float:
    """``∫₀¹ score df`` by the trapezoid rule (``Σ (f_{k+1} − f_k)(s_k + s_{k+1}) / 2``)."""
    f, s = np.asarray(fractions, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    return float(((f[1:] - f[:-1]) * (s[1:] + s[:-1]) / 2).sum())


def check_method_knobs(knobs, what: str = "knobs") -> dict:
    """``knobs``: ``None`` or a dict of the method's options (``{"steps": 20}``) -> a new dict."""
    if knobs is None:
        return {}
    if not isinstance(knobs, dict) or not all(isinstance(k, str) for k in knobs):
        raise InputError(f"{what} must be a dict of the method's options, e.g. knobs={{'steps': 20}}, or None; "
                         f"got {type(knobs).__name__}")
    return dict(knobs)




def window_engine(model, **options):
    """The family's base engine on ``model`` (the ``gradient`` member, kept per model by the registry): prepared
    model, input checks, cached super-resolve, the verified receptive-field crop."""
    from ..attribution import engine

    return engine(model, "gradient", **{k: v for k, v in options.items() if v is not None})


def make_baseline(x: torch.Tensor, baseline="blur", *, sigma: float = 1.2, kernel_size: int = 9,
                  seed: int = 0) -> torch.Tensor:
    """The deletion baseline ``x'`` for LR ``x`` ``[3, h, w]``: ``[3, h, w]`` float64 on x's device."""
    if isinstance(baseline, (torch.Tensor, np.ndarray)):
        b = image_tensor(baseline, x.device, "the baseline")
        if b.shape != x.shape:
            raise InputError(f"the baseline has shape {tuple(b.shape)}; expected the LR image's {tuple(x.shape)}")
        return b
    check_choice("baseline", baseline, BASELINES)
    if baseline == "blur":
        check_kernel(kernel_size, *x.shape[1:])
    if baseline == "mean":
        return x.mean((1, 2), keepdim=True).expand_as(x).clone()
    from ..attribution.ig import make_baselines

    name = {"blur": "blurred"}.get(baseline, baseline)
    return make_baselines(x, name, sigma=sigma, kernel_size=kernel_size, seed=seed)[0]


def resolve_map(model, lr, window, attribution, x, seed, knobs, options):
    """``(map [h, w] float64 CPU, ranking name)`` for a map, a result, a control or a method name."""
    scores = resolve_scores(attribution, x, seed)
    if scores is not None:
        return scores, attribution
    if isinstance(attribution, str):
        from ..attribution import attribute, methods

        if attribution not in methods():
            raise InputError(f"unknown attribution {attribution!r}; pass a map [h, w], a result with .map, a method "
                             f"({', '.join(methods())}) or a control ({', '.join(CONTROLS)})")
        result = attribute(model, lr, window, attribution, **dict(knobs or {}), **options)
        return as_map(result, tuple(x.shape[1:])), attribution
    name = getattr(attribution, "method", "map") if hasattr(attribution, "map") else "map"
    return as_map(attribution, tuple(x.shape[1:])), name


def deletion(model, lr, window, attribution, steps: int = 20, baseline="blur", mode: str = "deletion", *,
             block: int = 1, objective="gradient", region: str = "crop", seed: int = 0, sigma: float = 1.2,
             kernel_size: int = 9, spacing: str = "linear", knobs: Optional[dict] = None, callback=None, cancel=None,
             **options) -> dict:
    """The deletion (or insertion) curve of one window under one ranking.

    Args:
        model: an SR ``nn.Module`` (never changed).
        lr: the LR image ``[3, h, w]`` in [0, 1].
        window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels.
        attribution: a map ``[h, w]`` / ``[3, h, w]``, a result with ``.map``, a method name (computed with
            ``srwidgets.attribute(model, lr, window, name, **knobs)``), or a control ``"random"`` / ``"edge"``.
        steps: points of the curve after fraction 0 (``steps + 1`` forwards).
        baseline: what deleted pixels become (:data:`BASELINES` or a tensor ``[3, h, w]``).
        mode: ``"deletion"`` or ``"insertion"``.
        block: rank ``block × block`` blocks of LR pixels (block score: the map's sum over it) instead of pixels.
        objective: the window score (a name of :data:`srwidgets.engine.objectives.OBJECTIVES` or a callable).
        region: ``"crop"`` ranks the pixels of the verified receptive-field box (the whole image where the runtime
            could not verify a crop for this model); ``"image"`` ranks every LR pixel.
        seed: of the random control and the ``"uniform"`` baseline.
        spacing: ``"linear"`` (fractions ``k / steps``) or ``"geometric"`` (see the module docstring).
        **options: engine options ``scale``, ``device``, ``chunk_size`` (inputs per forward), ``memory_budget``.

    Returns:
        dict: ``fractions`` (``steps + 1`` floats from 0 to 1, ``k / steps`` by default), ``counts`` (units replaced), ``scores``
        (``D(F(x_k))``), ``scores_normalised`` (``/ D(F(x))``), ``psnr`` (window PSNR vs ``F(x)``, dB), ``auc``,
        ``auc_normalised``, ``psnr_auc`` (trapezoid of ``psnr``), ``objective`` (``D(F(x))``), ``units`` (n),
        ``box``, ``mode``, ``baseline``, ``ranking``, ``block``, ``forwards``, ``batches``, ``seconds``.
    """
    t0 = time.perf_counter()
    steps = check_steps(steps, hint=" (deletion curves use 10-100 points)")
    mode = check_choice("mode", mode, ("deletion", "insertion"))
    region = check_choice("region", region, ("crop", "image"))
    spacing = check_choice("spacing", spacing, ("linear", "geometric"))
    block, seed = check_int("block", block, 1), check_seed(seed)
    sigma = check_number("sigma", sigma, 0.0)
    fn = get_objective(objective)
    knobs = check_method_knobs(knobs)
    check_hooks(callback, cancel)
    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"deletion() got unknown options {sorted(unknown)}; method knobs go in knobs={{...}}, engine "
                         f"options are {', '.join(ENGINE_OPTIONS)}")
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    engine_options = {k: v for k, v in options.items() if v is not None}
    amap, ranking = resolve_map(model, lr, window, attribution, x, seed, knobs, engine_options)
    box = eng.crop_for(x, window) if region == "crop" else None
    base = make_baseline(x, baseline, sigma=sigma, kernel_size=kernel_size, seed=seed)

    h, w = x.shape[1:]
    bh, bw = (box[2], box[3]) if box else (h, w)
    if block > max(bh, bw):
        raise InputError(f"block={block} LR pixels is larger than the ranked region ({bh}x{bw} LR pixels); use a "
                         f"block of at most {max(bh, bw)} (1 ranks single pixels)")
    scores_u = unit_scores(crop_map(amap, box), block)
    grid, order = tuple(scores_u.shape), rank_units(scores_u)
    n = grid[0] * grid[1]
    if spacing == "linear" or steps == 1:
        fractions = [k / steps for k in range(steps + 1)]
        counts = [(2 * k * n + steps) // (2 * steps) for k in range(steps + 1)]
    else:
        fractions = [0.0] + [float(n) ** (-(steps - k) / (steps - 1)) for k in range(1, steps + 1)]
        counts = [int(math.floor(f * n + 0.5)) for f in fractions]
    xc, bc = crop_map(x, box), crop_map(base, box)
    start_from, put = (xc, bc) if mode == "deletion" else (bc, xc)

    def make(start, stop):
        masks = torch.stack([unit_mask(order, counts[k], grid, (bh, bw), block) for k in range(start, stop)])
        return torch.where(masks[:, None].to(x.device), put[None], start_from[None])

    scale = eng.scale
    local = clip_window(window, scale, scale * h, scale * w, box)
    top, left = window[0] - scale * (box[0] if box else 0), window[1] - scale * (box[1] if box else 0)
    ref = eng.super_resolve(x)[:, window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
    scores = [0.0] * (steps + 1)
    psnrs = [0.0] * (steps + 1)
    batches = [0]

    def run(start, stop):
        p = make(start, stop).to(eng.dtype)
        measuring = _BYTES.get(eng.model) is None
        with model_errors():
            if measuring:  # the first chunk (one input) meters its activations; the rest are sized from it
                with torch.enable_grad(), saved_bytes() as meter:
                    y = eng.model(p.detach().requires_grad_(True)).detach()
                _BYTES[eng.model] = meter.bytes / (bh * bw) / p.shape[0]
            else:
                with torch.inference_mode():
                    y = eng.model(p)
        eng.prepared.check_output_shape(y, p)
        y = y.double()
        if not bool(torch.isfinite(y).all()):
            raise InputError(f"the model returns NaN or Inf on curve points {start}..{stop - 1}; try another "
                             "baseline (baseline='blur' keeps inputs natural)")
        vals = fn(y.float(), local).double()
        for i, k in enumerate(range(start, stop)):
            scores[k] = float(vals[i])
            win = y[i, :, top:top + window[2], left:left + window[3]]
            psnrs[k] = min(PSNR_CAP, psnr(win, ref))
        batches[0] += 1

    def report(done, total):
        if callback is not None:
            callback(Progress(done, total, f"{mode} curve"))

    with guarded(eng.model):
        run_chunks(steps + 1, run, cancel=cancel, on_chunk=report,
                   chunk=lambda: estimate_chunk(_BYTES.get(eng.model), bh * bw, eng.device, eng.chunk_size,
                                                eng.memory_budget))
    full = eng.objective_value(x, window, objective)
    normalised = [s / full if full != 0 else math.nan for s in scores]
    return {"fractions": fractions, "counts": counts, "scores": scores, "scores_normalised": normalised,
            "psnr": psnrs, "auc": trapezoid(fractions, scores),
            "auc_normalised": trapezoid(fractions, normalised) if full != 0 else math.nan,
            "psnr_auc": trapezoid(fractions, psnrs), "objective": full, "units": n, "box": box, "mode": mode,
            "baseline": baseline if isinstance(baseline, str) else "custom", "ranking": ranking, "block": block,
            "spacing": spacing, "forwards": steps + 1, "batches": batches[0], "seconds": time.perf_counter() - t0}
