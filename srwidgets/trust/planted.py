"""Planted ground truth: compose an SR model with a dependence we know, and ask whether a method finds it.

:func:`planted` wraps the user's model (never changed) in a :class:`PlantedModel` whose window depends on an
``size × size`` LR **patch** about ``distance`` LR pixels from the window (outside the model's receptive field of
the window, so the model itself cannot reach it):

* ``kind="gate"``: ``F'(x) = F(x) · tanh(gain · (δ(x_P) / δ(x⁰_P))^power)``, ``δ`` the patch's **detail** (mean
  absolute difference between the patch and its 3×3 box mean, replicate-padded), ``x⁰`` the image it was planted
  on (gain 4, power 4). At ``x`` the gate is saturated (``tanh(4)`` = 0.9993): the gradient at the input barely
  sees the patch; a path from a baseline with less detail (LAM's blur keeps ~30-40 % of it, black none) crosses
  the gate's slope and does. Without ``patch=``, the candidate position with the most detail is chosen.
* ``kind="brightness"``: the same gate on the patch's **mean brightness** ``μ(x_P) / μ(x⁰_P)``: a blur baseline keeps
  the mean (blur-path methods cannot see it), a black one does not.
* ``kind="copy"``: the window's SR pixels (and a margin of :data:`COPY_MARGIN` around it, which the local-gradient
  detector's differences read) are replaced by those of ``F(x)`` at the window shifted onto the patch (its LR
  footprint centred on the patch's centre): the window reads *only* the shifted box — the control every method
  must pass (the dependence is ordinary and local, just elsewhere).

The planted model adds ``0 · mean(x)`` to its output: numerically nothing, but it carries a NaN probe to every
output pixel, so the runtime never crops it (the patch is outside any receptive-field crop of the window) and
methods run on the whole image. Its ``scale`` is the model's; on inputs of another size than the planted image it
is ``F`` itself.

Scores (the map ``m`` of ``srwidgets.attribute(planted_model, lr, window, method, **knobs)``, ``[h, w]`` LR):
``share = Σ_{region} m / Σ_{outside the footprint} m`` — the share of the map's mass off the window's LR footprint
that lies in the planted **region** (the patch; for ``copy``, the shifted window's receptive-field box, where its
dependence really is) — and ``hit``, the pointing game: the largest value of the map off the footprint lies in the
region. ``passed``: ``hit`` and ``share ≥ 0.5``.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import nn

from ..engine import check_number
from ..engine.windows import validate_window
from ..errors import InputError
from .curves import window_engine
from .stratified import footprint

__all__ = ["planted", "PlantedModel", "KINDS", "patch_detail", "place_patch"]

KINDS = {
    "gate": "output × tanh(gain · detail(patch) / detail at x): a saturated gate of the patch's detail",
    "copy": "the window reads only F(x) at the window shifted onto the patch (every method must find it)",
    "brightness": "output × tanh(gain · mean(patch) / mean at x): a saturated gate of the patch's mean brightness",
}
COPY_MARGIN = 2
"""SR pixels copied around the window by ``kind="copy"``."""
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def patch_detail(p: torch.Tensor) -> torch.Tensor:
    """``[N, 3, a, b]`` -> ``[N]``: mean ``|p − box3(p)|``, ``box3`` the 3×3 mean with replicate padding."""
    q = nn.functional.pad(p, (1, 1, 1, 1), mode="replicate")
    return (p - nn.functional.avg_pool2d(q, 3, stride=1)).abs().mean((1, 2, 3))


class PlantedModel(nn.Module):
    """``model`` with a planted dependence (see the module docstring). ``patch``: ``(top, left, size)`` LR;
    ``image_shape``: the LR ``(h, w)`` it applies to; ``reference``: the detail / mean of the patch at the planted
    image (the gate's unit); ``shift``: SR ``(d_row, d_col)`` of the copy; ``window``: SR, for the copy."""

    def __init__(self, model: nn.Module, kind: str, patch, image_shape, scale: int, *, gain: float = 4.0,
                 reference: float = 1.0, window=None, shift=(0, 0), power: float = 4.0):
        super().__init__()
        self.model, self.kind, self.patch = model, kind, tuple(int(v) for v in patch)
        self.image_shape, self.scale, self.gain = tuple(image_shape), int(scale), float(gain)
        self.reference, self.window, self.shift = float(reference), window, tuple(shift)
        self.power = float(power)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` gate values of the patch of ``x`` ``[N, 3, h, w]``."""
        t, l, s = self.patch
        p = x[:, :, t:t + s, l:l + s]
        if self.kind == "gate":
            return torch.tanh(self.gain * (patch_detail(p) / self.reference) ** self.power)
        return torch.tanh(self.gain * p.mean((1, 2, 3)) / self.reference)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        y = y + 0 * x.mean((1, 2, 3), keepdim=True)  # carries a NaN probe everywhere: never cropped
        if tuple(x.shape[-2:]) != self.image_shape:
            return y
        if self.kind == "copy":
            t, l, h, w = self.window  # grown by COPY_MARGIN: the detector's differences read the window's edge too
            dr, dc = self.shift
            y = y.clone()
            y[:, :, t:t + h, l:l + w] = y[:, :, t + dr:t + dr + h, l + dc:l + dc + w]
            return y
        return y * self.gate(x)[:, None, None, None].to(y.dtype)


def place_patch(image_shape, window, scale: int, size: int, distance: float, patch=None, kind: str = "gate",
                x: torch.Tensor = None):
    """The patch's LR ``(top, left)``: ``patch`` checked, or, of the 8 directions (right, left, down, up,
    diagonals) where a ``size × size`` patch centred ``distance`` LR pixels from the footprint's centre fits, the
    first — for ``kind="gate"`` with ``x`` given, the one with the most detail (:func:`patch_detail`)."""
    h, w = image_shape
    r0, r1, c0, c1 = footprint(window, scale)
    if patch is not None:
        try:
            top, left = (int(v) for v in patch)
        except (TypeError, ValueError):
            raise InputError(f"patch must be (top, left) in LR pixels, got {patch!r}") from None
        candidates = [(top, left)]
    else:
        cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
        candidates = []
        for dy, dx in DIRECTIONS:
            norm = math.hypot(dy, dx)
            py, px = cy + distance * dy / norm, cx + distance * dx / norm
            candidates.append((int(round(py - (size - 1) / 2)), int(round(px - (size - 1) / 2))))
    good = []
    for top, left in candidates:
        fits = 0 <= top and top + size <= h and 0 <= left and left + size <= w
        overlaps = not (top + size <= r0 or top > r1 or left + size <= c0 or left > c1)
        if fits and not overlaps:
            good.append((top, left))
        elif patch is not None:
            if not fits:
                raise InputError(f"patch={tuple(patch)} (size {size}) does not fit the {h}x{w} LR image; choose "
                                 f"0 <= top <= {h - size}, 0 <= left <= {w - size}")
            raise InputError(f"patch={tuple(patch)} (size {size}) overlaps the window's LR footprint rows {r0}..{r1}, "
                             f"columns {c0}..{c1}; plant it away from the window (about 30 LR pixels)")
    if good:
        if kind == "gate" and x is not None and patch is None:
            details = [float(patch_detail(x[None, :, t:t + size, l:l + size].double())[0]) for t, l in good]
            return good[max(range(len(good)), key=lambda i: details[i])]
        return good[0]
    raise InputError(f"no {size}x{size} patch fits {distance} LR pixels from the window's footprint in the {h}x{w} "
                     f"LR image without overlapping it; pass a smaller distance= or size=, or patch=(top, left)")


def planted(model, lr, window, method: str = "lam", kind: str = "gate", *, size: int = 8, distance: float = 30,
            patch: Optional[Tuple[int, int]] = None, gain: float = 4.0, power: float = 4.0, threshold: float = 0.5,
            **knobs) -> dict:
    """Plant a known dependence in ``model`` and score ``method``'s map of ``window`` against it.

    Args:
        model: an SR ``nn.Module`` (never changed: the planted model wraps it).
        lr: the LR image ``[3, h, w]`` in [0, 1].
        window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels.
        method: any member of the family (:func:`srwidgets.attribution.methods`).
        kind: ``"gate"``, ``"copy"`` or ``"brightness"`` (:data:`KINDS`).
        size: the patch's side in LR pixels (8).
        distance: LR pixels from the footprint's centre to the patch's centre (30), when ``patch`` is not given.
        patch: ``(top, left)`` of the patch in LR pixels (it must fit the image and miss the window's footprint).
        gain: the gate's saturation at ``x`` (``tanh(gain)``).
        power: the detail gate's exponent (how sharply it closes as detail goes).
        threshold: the share ``passed`` needs (with ``hit``).
        **knobs: the method's options and engine options, as for :func:`srwidgets.attribute` (``hr`` for CEM).

    Returns:
        dict: ``model`` (the :class:`PlantedModel`), ``share``, ``hit``, ``passed``, ``patch`` ``(top, left, size)``
        LR, ``region`` (the LR box ``(top, left, height, width)`` the share is taken on), ``kind``, ``method``,
        ``map`` ``[h, w]`` (the method's map of the planted model), ``gate`` (the gate's value at ``x``; 1 for
        ``copy``).
    """
    from ..attribution import attribute, method_class

    if kind not in KINDS:
        raise InputError(f"kind={kind!r} is not one of: {', '.join(KINDS)}")
    method_class(method)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise InputError(f"size={size!r} must be an integer >= 2 (the patch's side in LR pixels; 8 by default)")
    distance = check_number("distance", distance, 0.0)
    gain = check_number("gain", gain, 0.0)
    if gain <= 0:
        raise InputError(f"gain={gain} must be > 0 (the gate is tanh(gain · value / value at x))")
    threshold = check_number("threshold", threshold, 0.0)
    power = check_number("power", power, 0.0)
    engine_knobs = {k: knobs[k] for k in ("scale", "device") if knobs.get(k) is not None}
    eng = window_engine(model, **engine_knobs)
    x, window = eng.inputs(lr, window)
    s = eng.scale
    h, w = x.shape[1:]
    top, left = place_patch((h, w), window, s, size, distance, patch, kind, x)
    region = (top, left, size, size)
    shift, copied = (0, 0), window
    reference = 1.0
    if kind == "copy":
        r0, r1, c0, c1 = footprint(window, s)
        wt, wl, wh, ww = window
        dr = s * int(round(top + (size - 1) / 2 - (r0 + r1) / 2))
        dc = s * int(round(left + (size - 1) / 2 - (c0 + c1) / 2))
        m = COPY_MARGIN
        grown = (max(0, wt - m), max(0, wl - m))
        grown = grown + (min(s * h, wt + wh + m) - grown[0], min(s * w, wl + ww + m) - grown[1])
        dr = max(-grown[0], min(dr, s * h - grown[2] - grown[0]))
        dc = max(-grown[1], min(dc, s * w - grown[3] - grown[1]))
        shift, copied = (dr, dc), grown
        shifted = validate_window((grown[0] + dr, grown[1] + dc, grown[2], grown[3]), s * h, s * w)
        box = eng.crop_for(x, shifted)
        region = box if box is not None else (0, 0, h, w)
    else:
        p = x[None, :, top:top + size, left:left + size].double()
        reference = float(patch_detail(p)[0] if kind == "gate" else p.mean())
        if not reference > 0:
            raise InputError(f"the patch at {(top, left)} is flat (its {'detail' if kind == 'gate' else 'mean'} is 0): "
                             "a gate of it has no unit; choose another patch=(top, left)")
    wrapped = PlantedModel(eng.model, kind, (top, left, size), (h, w), s,
                           gain=gain, reference=reference, window=copied, shift=shift, power=power)
    result = attribute(wrapped, lr, window, method, **knobs)
    amap = result.map.detach().double().cpu()
    r0, r1, c0, c1 = footprint(window, s)
    off = amap.clone()
    off[r0:r1 + 1, c0:c1 + 1] = 0
    rt, rl, rh, rw = region
    inside = torch.zeros_like(off, dtype=torch.bool)
    inside[rt:rt + rh, rl:rl + rw] = True
    total = float(off.sum())
    share = float(off[inside].sum()) / total if total > 0 else 0.0
    hit = bool(total > 0 and inside.flatten()[int(torch.argmax(off))])
    with torch.no_grad():
        gate = 1.0 if kind == "copy" else float(wrapped.gate(x[None].to(eng.dtype))[0])
    return {"model": wrapped, "share": share, "hit": hit, "passed": bool(hit and share >= threshold),
            "patch": (top, left, size), "region": tuple(int(v) for v in region), "kind": kind, "method": method,
            "map": amap, "gate": gate}
