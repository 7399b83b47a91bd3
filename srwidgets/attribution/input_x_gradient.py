"""Input × gradient for an SR window (Shrikumar et al. 2016): ``x ⊙ ∇_x D(F(x))``, one backward pass.

Integrated gradients from black with a single step; map ``|Σ_c A_c|`` as LAM's (Captum's ``InputXGradient``).
"""
from __future__ import annotations

import time

from .base import WindowMethod


class InputXGradient(WindowMethod):
    """``attribution = x ⊙ ∇_x D(F(x))`` ``[3, h, w]``; no knobs."""

    name, map_rule, knobs = "input_x_gradient", "abs_sum", ()
    description = "input × gradient: x ⊙ ∇_x D(F(x)) (Shrikumar et al. 2016)"

    def attribute(self, image, window, *, objective="gradient", callback=None, cancel=None):
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        box = self.crop_for(x, window)
        g = self.gradients(x[None], window, objective, box=box, callback=callback, cancel=cancel)[0]
        return self.result(x, window, x * g, t0=t0, settings={}, objective=objective, box=box)
