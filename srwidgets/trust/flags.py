"""Cheap extra flags of the verdict table: completeness and input invariance.

* **Completeness gap** (path methods: LAM, integrated gradients): ``|Σ A − (D(F(x)) − D(F(x')))| / |D(F(x)) −
  D(F(x'))|`` (the result's ``.completeness``), ``None`` for methods without a baseline. Large gaps mean too few
  path steps for this window.
* **Input invariance** (Kindermans et al., "The (Un)reliability of saliency methods", 2019): the model
  ``F'(x') = F((x' − 0.1) / 0.8)`` on ``x' = 0.1 + 0.8 · x`` computes exactly what ``F`` computes on ``x``; a method
  whose map changes explains the input's encoding, not the function. Score: the overlap ``1 − ½ Σ |p − q|`` of the
  two maps normalised to sum 1 on the receptive-field box (1: the same map); ``invariant`` when ≥
  :data:`INVARIANCE_THRESHOLD`. A black baseline is not invariant (0 is not mapped to 0.1); blur-based paths and
  gradients are.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .ranking import crop_map

__all__ = ["ShiftedInputModel", "input_invariance", "completeness_gap", "map_overlap", "INVARIANCE_THRESHOLD", "SHIFT"]

SHIFT = (0.1, 0.8)
"""``x' = 0.1 + 0.8 · x``: the input encoding of the invariance flag."""
INVARIANCE_THRESHOLD = 0.95


class ShiftedInputModel(nn.Module):
    """``F'(x') = F((x' − a) / b)`` with ``(a, b)`` = :data:`SHIFT`: the same function on shifted inputs."""

    def __init__(self, model: nn.Module, shift=SHIFT):
        super().__init__()
        self.model, self.offset, self.gain = model, float(shift[0]), float(shift[1])
        self.scale = getattr(model, "scale", None)

    def forward(self, x):
        return self.model((x - self.offset) / self.gain)


def map_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """``1 − ½ Σ |p − q|`` of two non-negative maps normalised to sum 1 (nan if one is all zero)."""
    a, b = a.double().abs(), b.double().abs()
    sa, sb = float(a.sum()), float(b.sum())
    if sa == 0 or sb == 0:
        return math.nan
    return 1.0 - 0.5 * float((a / sa - b / sb).abs().sum())


def completeness_gap(result) -> Optional[float]:
    """The result's relative completeness gap, or ``None`` where the method has no baseline."""
    c = getattr(result, "completeness", None)
    return None if c is None else float(c["gap"])


def input_invariance(model, x: torch.Tensor, window, method: str, reference_map: torch.Tensor, box, *,
                     knobs: Optional[dict] = None, **options) -> float:
    """:func:`map_overlap` on ``box`` of ``reference_map`` (the method's map of ``model`` at ``x``) and the map of
    :class:`ShiftedInputModel` at ``0.1 + 0.8 · x``. ``knobs``: the method's; ``options``: engine options."""
    from ..attribution import attribute

    knobs = dict(knobs or {})  # CEM's hr stays: the window's PSNR against it is the same function
    a, b = SHIFT
    shifted = ShiftedInputModel(model)
    m = attribute(shifted, (a + b * x).clamp(0, 1), window, method, **knobs, **options).map
    return map_overlap(crop_map(reference_map.cpu(), box), crop_map(m.cpu(), box))
