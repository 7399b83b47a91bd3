"""LAM as a member of the family: the paper's progressive-blur path, computed by :class:`srwidgets.lam.LAM`.

``srwidgets.attribute(model, lr, window, method="lam", **knobs)`` equals ``LAM(model).attribute(lr, window,
**knobs)`` exactly (same engine, same numbers, the same result object). Straight-line paths from other baselines
are the ``"ig"`` member's ``baseline=`` option; LAM's ``path=`` still accepts them for code written before.
"""
from __future__ import annotations

from ..lam import LAM
from .base import WindowMethod


class LAMMethod(WindowMethod):
    """Knobs: ``steps=50, sigma=1.2, kernel_size=9`` (the paper's), ``path="blur"``, ``callback``, ``cancel``, and
    the engine options ``autocast``, ``channels_last``, ``split_tail`` at construction."""

    name = "lam"
    description = "Local Attribution Maps: integrated gradients along a progressive blur (Gu & Dong, CVPR 2021)"
    map_rule = "abs_sum"

    def __init__(self, model, scale=None, device=None, *, autocast=False, channels_last: bool = False,
                 split_tail: bool = True, **options):
        super().__init__(model, scale, device, split_tail=split_tail, **options)
        self.options = dict(autocast=autocast, channels_last=channels_last, split_tail=split_tail)

    @classmethod
    def knobs(cls):
        import inspect

        names = set(inspect.signature(LAM.attribute).parameters) - {"self", "image", "window"}
        return names | {"objective"}

    def attribute(self, image, window, **knobs):
        """:meth:`srwidgets.lam.LAM.attribute` (``objective`` is LAM's local-gradient detector only).

        A fresh engine per call: its chunk sizes (the first chunk measures memory) are then those of a fresh
        ``LAM(model)``, so the float32 sums, and the map, are bit-identical to it."""
        objective = knobs.pop("objective", "gradient")
        if objective != "gradient":
            from ..errors import InputError

            raise InputError(f"method='lam' integrates the paper's local-gradient objective only, got "
                             f"objective={objective!r}; use method='ig' (with baseline='blurred') for another objective")
        engine = LAM(self.model, self.scale, self.device, self.chunk_size, self.memory_budget, self.crop,
                     **self.options)
        return engine.attribute(image, window, **knobs)
