"""LAM as a member of the family: the paper's progressive-blur path, computed by :class:`srwidgets.lam.LAM`.

``srwidgets.attribute(model, lr, window, method="lam", **knobs)`` equals ``LAM(model).attribute(lr, window,
**knobs)`` exactly (same engine, same numbers, the same result object). Straight-line paths from other baselines
are the ``"ig"`` member's ``baseline=`` option; LAM's ``path=`` still accepts them for code written before.
"""
from __future__ import annotations

from ..engine.inputs import MAX_STEPS
from ..errors import InputError
from ..lam import LAM
from ..lam.paths import PATHS
from .base import WindowMethod
from .knobs import Knob

STEPS = Knob("steps", "int", 50, "path evaluations (the paper: 50)", low=1, high=MAX_STEPS)
SIGMA = Knob("sigma", "float", 1.2, "σ of the blur, LR px (the paper: 1.2)", low=0.0, high=20.0, step=0.1)
KERNEL_SIZE = Knob("kernel_size", "int", 9, "the blur's odd kernel size, LR px (the paper: 9)", low=1, high=99, step=2)
SEED = Knob("seed", "int", 0, "seed of the random baselines", low=-(1 << 63), high=(1 << 64) - 1)
NOISE_STD = Knob("noise_std", "float", 0.1, "σ of the gaussian baseline's noise on the [0, 1] scale", low=0.0,
                 high=1.0, step=0.01)
NUM_BASELINES = Knob("num_baselines", "int", 4, "random baselines averaged (expected gradients)", low=1, high=1024)


class LAMMethod(WindowMethod):
    """Knobs: ``steps=50, sigma=1.2, kernel_size=9`` (the paper's), ``path="blur"``, ``callback``, ``cancel``, and
    the engine options ``autocast``, ``channels_last``, ``split_tail`` at construction."""

    name = "lam"
    description = "Local Attribution Maps: integrated gradients along a progressive blur (Gu & Dong, CVPR 2021)"
    map_rule = "abs_sum"
    many_windows = True  # attribute_many: nearby windows of one image share their forward passes (di_table)
    knobs = (STEPS, SIGMA, KERNEL_SIZE, Knob("path", "choice", "blur", "the integration path", choices=tuple(PATHS)),
             SEED, NOISE_STD, NUM_BASELINES)

    def __init__(self, model, scale=None, device=None, *, autocast=False, channels_last: bool = False,
                 split_tail: bool = True, **options):
        super().__init__(model, scale, device, split_tail=split_tail, **options)
        self.options = dict(autocast=autocast, channels_last=channels_last, split_tail=split_tail)

    def attribute(self, image, window, **knobs):
        """:meth:`srwidgets.lam.LAM.attribute` (``objective`` is LAM's local-gradient detector only).

        A fresh engine per call: its chunk sizes (the first chunk measures memory) are then those of a fresh
        ``LAM(model)``, so the float32 sums, and the map, are bit-identical to it."""
        return self._fresh_engine().attribute(image, window, **self._lam_knobs(knobs))

    def attribute_many(self, image, windows, **knobs):
        """:meth:`srwidgets.lam.LAM.attribute_many` on a fresh engine: several windows of one image, nearby ones
        sharing their forward passes (what di_table runs, with the numbers it always had)."""
        return self._fresh_engine().attribute_many(image, windows, **self._lam_knobs(knobs))

    def _fresh_engine(self) -> LAM:
        return LAM(self.model, self.scale, self.device, self.chunk_size, self.memory_budget, self.crop, **self.options)

    @staticmethod
    def _lam_knobs(knobs: dict) -> dict:
        knobs = dict(knobs)
        objective = knobs.pop("objective", "gradient")
        if objective != "gradient":
            raise InputError(f"method='lam' integrates the paper's local-gradient objective only, got "
                             f"objective={objective!r}; use method='ig' (with baseline='blurred') for another objective")
        return knobs
