"""The effective receptive field (ERF) of an SR window: ``∇_x D(F(x))`` at the input, map ``Σ_c |∇_c|``.

Where LAM integrates the objective's gradient along a path, the ERF takes it once, at the input: which LR pixels
would change the window's objective if nudged now. Absolute values are summed over channels (a gradient has no
completeness to preserve, and channels of opposite sign should not cancel). Same gradient as
:mod:`srwidgets.attribution.gradient`; only the map rule differs.
"""
from __future__ import annotations

from .gradient import Gradient


class ERF(Gradient):
    """``attribution = ∇_x D(F(x))``; ``map = Σ_c |attribution_c| / max``."""

    name = "erf"
    description = "effective receptive field: ∇_x D(F(x)) at the input, map Σ_c |∇|"
    map_rule = "sum_abs"
