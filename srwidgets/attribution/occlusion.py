"""Occlusion for an SR window (Zeiler & Fergus 2014): cover a square of the LR input with a constant, measure how the
window's objective changes. Forward passes only, on the verified receptive-field crop (:meth:`WindowMethod.values`).

``A_p = Σ_{squares S ∋ p} (D(F(x)) − D(F(x with S filled))) / #squares ∋ p`` on every channel (Captum's
``Occlusion`` with a ``3 × patch × patch`` window); squares at ``stride`` steps from the top-left corner.
"""
from __future__ import annotations

import time

import torch

from ..errors import InputError
from .base import LazyInputs, WindowMethod
from .knobs import Knob


class Occlusion(WindowMethod):
    """Knobs: ``patch`` (LR px), ``stride`` (LR px), ``fill`` (the value put in the square, [0, 1])."""

    name, kind, map_rule = "occlusion", "forward", "abs_sum"
    description = "occlusion: fill an LR square with a constant, the change of the window's objective (Zeiler 2014)"
    knobs = (Knob("patch", "int", 4, "side of the occluding square, LR px", low=1, high=64),
             Knob("stride", "int", 2, "step between squares, LR px", low=1, high=64),
             Knob("fill", "float", 0.0, "value put in the square ([0, 1]; 0: black)", low=0.0, high=1.0, step=0.05))

    def attribute(self, image, window, *, patch=4, stride=2, fill=0.0, objective="gradient", callback=None,
                  cancel=None):
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        h, w = x.shape[1:]
        if patch > min(h, w):
            raise InputError(f"patch={patch} LR px is larger than the LR image ({h}x{w}); use at most {min(h, w)}")
        box = self.crop_for(x, window)
        r0, c0, bh, bw = box or (0, 0, h, w)
        tops = [t for t in range(0, h - patch + 1, stride) if t < r0 + bh and t + patch > r0]  # squares on the crop
        lefts = [c for c in range(0, w - patch + 1, stride) if c < c0 + bw and c + patch > c0]
        spots = [(t, c) for t in tops for c in lefts]
        if not spots:  # every map value would be 0: said, not an empty map
            raise InputError(f"no {patch}x{patch} square at stride {stride} (from the top-left corner) falls on the LR "
                             f"pixels that can change this window (rows {r0}..{r0 + bh - 1}, columns {c0}..{c0 + bw - 1});"
                             f" use a smaller stride (at most {max(1, min(bh, bw))}) or a larger patch")

        def occluded(start, stop):
            batch = x[None].repeat(stop - start, 1, 1, 1)
            for k, (t, c) in enumerate(spots[start:stop]):
                batch[k, :, t:t + patch, c:c + patch] = fill
            return batch

        base = self.values(x[None], window, objective, box=box)[0]
        drop = base - self.values(LazyInputs(len(spots), (h, w), occluded), window, objective, box=box,
                                  callback=callback, cancel=cancel, stage="occlusion")
        total, count = torch.zeros(h, w, dtype=torch.float64, device=x.device), torch.zeros_like(x[0])
        for t in range(0, h - patch + 1, stride):
            for c in range(0, w - patch + 1, stride):
                count[t:t + patch, c:c + patch] += 1
        for (t, c), d in zip(spots, drop):
            total[t:t + patch, c:c + patch] += d
        a = torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))[None].expand(3, h, w)
        return self.result(x, window, a, t0=t0, settings=dict(patch=patch, stride=stride, fill=fill), box=box,
                           objective=objective)
