"""The effective receptive field (ERF) of an SR window: ``∇_x D(F(x))`` at the input alone, no path.

Where LAM integrates the gradient of the window objective along a path from a baseline to the input, the ERF
takes it once, at the input: which LR pixels would change the window's local-gradient objective ``D``
(:func:`~srwidgets.engine.objectives.gradient_detector`, the same as LAM's) if nudged now. Its map is ``Σ_c |∇_c|``
normalised to max 1 (absolute values first: a gradient has no completeness to preserve, and channels of opposite
sign should not cancel); Gini and DI are computed on it as on a LAM map.

The ``"erf"`` member of the window-attribution family (:mod:`srwidgets.attribution.erf`) computes the same gradient
on the verified crop; this function keeps the name LAM users know, runs the whole image through the runtime's
gradient loop (:func:`srwidgets.engine.forward.input_gradients`, as the member does) and adds ``.gradient``.

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
from typing import Optional

import torch
from torch import nn

from ..engine.base import Engine
from ..engine.forward import input_gradients, objective_values
from ..engine.guard import guarded
from ..engine.objectives import gradient_detector
from ..engine.results import WindowAttribution, make_result
from ..engine.windows import clip_window, validate_window

__all__ = ["ERFResult", "erf"]


@dataclass
class ERFResult(WindowAttribution):
    """The ERF of one window (a :class:`~srwidgets.engine.results.WindowAttribution`); ``gradient`` is
    ``attribution``: ``[3, h, w]`` LR, ``∇_x D(F(x))`` with NaN zeroed."""

    @property
    def gradient(self) -> torch.Tensor:
        return self.attribution


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
    # the whole image and the whole tail, as this function always ran (the family's "erf" member crops where
    # verified: equal up to float rounding, ~1e-6 of the map's peak); the runtime's gradient loop, as the member's
    t0 = time.perf_counter()
    engine = Engine(model, scale, device)
    with guarded(engine.model):
        x = engine.prepared.image(image)
        h, w = x.shape[1:]
        sh, sw = engine.scale * h, engine.scale * w
        window = validate_window(window, sh, sw)
        g = input_gradients(engine, x[None], window, "gradient")[0]
        sr = engine.super_resolve(x)
        value = float(objective_values(gradient_detector, sr[None], clip_window(window, engine.scale, sh, sw), 1).sum())
    settings = dict(method="erf", scale=engine.scale, device=str(engine.device), objective="gradient", crop=None)
    r = make_result(g, rule="sum_abs", sr=sr, image=x, window=window, settings=settings, objective=value,
                    objective_baseline=None, seconds=time.perf_counter() - t0, crop=None, method="erf")
    return ERFResult(**{f: getattr(r, f) for f in r.__dataclass_fields__})
