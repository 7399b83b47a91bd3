"""CEM as a member of the family: causal effect maps (:mod:`srwidgets.cem`) as a :class:`WindowAttribution`.

``srwidgets.attribute(model, lr, window, method="cem", hr=hr, **knobs)`` runs
:meth:`srwidgets.cem.CEM.attribute` (same engine, same numbers) and returns, in the family's terms:

* ``.map`` ``[h, w]`` LR in [0, 1]: each block's ``|effect|`` on every LR pixel of the block, over the largest;
* ``.attribution`` ``[3, h, w]``: the signed effect in dB spread evenly over the block's LR pixels and 3 channels
  (``effect / (3 · pixels of the block)``), so that it sums to the effect over each block;
* ``.objective``: the window's PSNR against ``hr`` (dB); no baseline, so no completeness;
* ``.extras``: ``effects`` (the signed ``[rows, cols]`` block map, dB), ``counts``, ``skipped``, ``effect_range``,
  ``window_blocks``, ``fine_blocks``, ``lr_block``, ``passes`` and ``cem`` (the engine's :class:`CEMResult`).

Gini and DI are taken on the LR map as for every member (a block of ``b × b`` equal pixels counts ``b²`` times).
"""
from __future__ import annotations

import time

import torch

from ..cem import CEM
from ..cem.compare import block_sums, spread
from ..engine.results import make_result
from ..engine.inputs import MAX_STEPS
from ..errors import InputError
from .base import WindowMethod
from .knobs import Knob
from .lam import SEED


class CEMMethod(WindowMethod):
    """Knobs: ``hr`` (required), ``block=8, coarse=3, fine=50, threshold=0.01`` (the authors'), ``patches=None``,
    ``seed=0``, ``callback``, ``cancel``."""

    name = "cem"
    description = "Causal Effect Maps: replace each LR block by other content, ΔPSNR of the window (Hu et al. 2025)"
    map_rule = "abs_sum"
    needs_hr = True
    block_grid = 8  # SR pixels: the default block; windows lie on the block grid
    many_windows = True
    kind = "forward"
    knobs = (Knob("block", "int", 8, "block side in SR px, a multiple of the scale (the authors: 8)", low=1),
             Knob("coarse", "int", 3, "interventions per block (the authors: 3)", low=1, high=MAX_STEPS),
             Knob("fine", "int", 50, "interventions per selected block (the authors: 50)", low=1, high=MAX_STEPS),
             Knob("threshold", "float", 0.01, "dB: blocks below it are 0 (the authors: 0.01)", low=0.0, high=10.0,
                  step=0.01),
             SEED)

    def __init__(self, model, scale=None, device=None, **options):
        super().__init__(model, scale, device, **options)
        self.engine = CEM(self.model, self.scale, self.device, chunk_size=self.chunk_size,
                          memory_budget=self.memory_budget, crop=self.crop)

    def attribute(self, image, window, *, hr=None, objective="psnr", patches=None, **knobs):
        """``image`` ``[3, h, w]``, ``hr`` ``[3, s·h, s·w]`` in [0, 1]; ``window`` in SR px on the block grid;
        ``patches`` the bank ``[P, 3, b, b]`` (default: seeded from the bundled images)."""
        return self.attribute_many(image, [window], hr=hr, objective=objective, patches=patches, **knobs)[0]

    def attribute_many(self, image, windows, *, hr=None, objective="psnr", block: int = 8, coarse: int = 3,
                       fine: int = 50, threshold: float = 0.01, patches=None, seed: int = 0, callback=None,
                       cancel=None):
        """Several windows of one image from one batch of interventions (what a dataset runner calls)."""
        if objective != "psnr":
            raise InputError(f"method='cem' measures the window's PSNR against the HR image, got objective="
                             f"{objective!r}; drop objective= (or use a gradient method for another objective)")
        t0 = time.perf_counter()
        x = self.prepared.image(image, "the LR image")
        results = self.engine.attribute_many(x, hr, windows, block, coarse, fine, threshold, patches, seed,
                                             callback=callback, cancel=cancel)
        h, w = x.shape[1:]
        sr = self.super_resolve(x)
        out = []
        for r in results:
            b = r.lr_block
            count = block_sums(torch.ones(h, w), b)  # LR pixels per block (fewer in a partial last row / column)
            attribution = spread(r.map / (3 * count), b, h, w)[None].expand(3, h, w).clone()
            amap = spread(r.map.abs(), b, h, w)
            peak = amap.max()
            amap = amap / peak if peak > 0 else amap
            extras = dict(effects=r.map, counts=r.counts, skipped=r.skipped, effect_range=r.effect_range,
                          window_blocks=r.window_blocks, fine_blocks=r.fine_blocks, lr_block=b, passes=r.passes,
                          cem=r)
            settings = dict(r.settings, method=self.name, scale=self.scale, objective="psnr", crop=r.crop)
            out.append(make_result(attribution, rule=self.map_rule, sr=sr, image=x, window=r.window,
                                   settings=settings, objective=r.psnr, objective_baseline=None,
                                   seconds=time.perf_counter() - t0, crop=r.crop, method=self.name, amap=amap,
                                   extras=extras))
        return out
