"""The effective receptive field (ERF) of an SR window: ``∇_x D(F(x))`` at the input alone, no path.

Where LAM integrates the gradient of the window objective along a path from a baseline to the input, the ERF
takes it once, at the input: which LR pixels would change the window's local-gradient objective
``D`` (:func:`~srwidgets.lam.engine.gradient_detector`, the same as LAM's) if nudged now. Its map is
``Σ_c |∇_c|`` normalised to max 1 (absolute values first: a gradient has no completeness to preserve, and
channels of opposite sign should not cancel); Gini and DI are computed on it as on a LAM map.

The model is run under :func:`~srwidgets.engine.guarded` (eval mode, parameters frozen, everything restored).

Example:
    >>> import torch
    >>> from torch import nn
    >>> conv = nn.Conv2d(3, 3, 3, padding=1)
    >>> r = erf(conv, torch.rand(3, 12, 12), (4, 4, 2), scale=1)
    >>> tuple(r.map.shape), [int(v) for v in (r.map > 0).nonzero().min(0).values]
    ((12, 12), [3, 3])
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from ..engine import check_int, explain_model_error, guarded, image_tensor, resolve_device
from ..errors import InputError
from ..metrics import diffusion_index, gini
from .engine import gradient_detector
from .geometry import clip_window, validate_window

__all__ = ["ERFResult", "erf"]


@dataclass
class ERFResult:
    """The ERF of one window. Tensors are float32 on the CPU; LR = input pixels, SR = output pixels."""

    gradient: torch.Tensor  # [3, h, w] LR, ∇_x D(F(x)) (NaN zeroed)
    map: torch.Tensor  # [h, w] LR, Σ_c |gradient_c| / max, in [0, 1]
    gini: float
    diffusion_index: float  # (1 − gini)·100
    sr: torch.Tensor  # [3, sH, sW] F(x) clamped to [0, 1]
    image: torch.Tensor  # [3, h, w] the LR input
    window: Tuple[int, int, int, int]  # (top, left, height, width) in SR pixels
    objective: float  # D(F(x))
    seconds: float


def erf(model: nn.Module, image, window, scale: Optional[int] = None, device=None) -> ERFResult:
    """The effective receptive field of ``window``: the gradient of LAM's objective at the input.

    Args:
        model: any ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]`` (never changed).
        image: LR image ``[3, h, w]`` (or ``[1, 3, h, w]``), float in [0, 1].
        window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels.
        scale: the model's scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device).

    Returns:
        :class:`ERFResult`; ``map`` is ``[h, w]`` on the LR grid, zero exactly where no path through the network
        links the pixel to the window (for a convolution, outside the window's footprint widened by the kernel).
    """
    from ..models import check, infer_scale

    if not isinstance(model, nn.Module):
        check(model, 1)  # the shared "expected a torch.nn.Module" error
    t0 = time.perf_counter()
    device, model = resolve_device(model, device)
    x = image_tensor(image, device)
    h, w = x.shape[1:]
    p = next(iter(model.parameters()), None)
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    with guarded(model):
        s = check_int("scale", scale, 1) if scale is not None else infer_scale(model)
        window = validate_window(window, s * h, s * w)
        xi = x[None].to(dtype).requires_grad_(True)
        try:
            with torch.enable_grad():
                y = model(xi)
                if tuple(y.shape) != (1, 3, s * h, s * w):
                    raise InputError(f"the model maps a {h}x{w} image to {tuple(y.shape)[1:]}, expected "
                                     f"(3, {s * h}, {s * w}); pass the right scale= or check the model")
                objective = gradient_detector(y.float(), clip_window(window, s, s * h, s * w)).sum()
                (g,) = torch.autograd.grad(objective, xi)
        except RuntimeError as exc:
            reason = explain_model_error(exc)
            if reason is None:
                raise
            raise InputError(reason) from None
    g = torch.nan_to_num(g[0].double(), nan=0.0)  # sqrt's infinite derivative at 0, as LAM does
    m = g.abs().sum(0)
    peak = m.max()
    amap = (m / peak if peak > 0 else m).float().cpu()
    return ERFResult(gradient=g.float().cpu(), map=amap, gini=gini(amap), diffusion_index=diffusion_index(amap),
                     sr=y.detach()[0].clamp(0, 1).float().cpu(), image=x.float().cpu(), window=window,
                     objective=float(objective.detach()), seconds=time.perf_counter() - t0)
