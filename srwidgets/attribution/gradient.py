"""Gradient saliency for an SR window (Simonyan et al. 2014): ``∇_x D(F(x))`` at the input, one backward pass.

The map is ``max_c |∇_c|`` normalised to max 1 (the saliency map's rule). No baseline, so no completeness.
"""
from __future__ import annotations

import time

from .base import WindowMethod


class Gradient(WindowMethod):
    """``attribution = ∇_x D(F(x))`` ``[3, h, w]``; ``map = max_c |attribution_c|``."""

    name = "gradient"
    description = "gradient saliency: ∇_x D(F(x)) at the input, map max_c |∇| (Simonyan et al. 2014)"
    map_rule = "max_abs"
    knobs = ()

    def attribute(self, image, window, *, objective="gradient", callback=None, cancel=None):
        """``image`` ``[3, h, w]`` in [0, 1]; ``window`` ``(top, left, size)`` or ``(top, left, height, width)``, SR px."""
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        box = self.crop_for(x, window)
        g = self.gradients(x[None], window, objective, box=box, callback=callback, cancel=cancel)[0]
        return self.result(x, window, g, t0=t0, settings={}, objective=objective, box=box)
