"""What every trust check shares: an attribution turned into one LR map, the domain it is judged on, a
deterministic ranking of LR pixels (or blocks), the two control rankings, and rank statistics.

Coordinates: maps are ``[h, w]`` on the LR grid of the image; a **box** is ``(top, left, height, width)`` in LR
pixels (the receptive-field crop of the window, :meth:`srwidgets.attribution.WindowMethod.crop_for`), ``None`` for
the whole image. Every check is judged on the box: LR pixels outside it cannot reach the window (the runtime
proved it for this model), so including them would only add ties at zero — which inflate rank correlations and
waste deletion steps.

**Ties** are broken by raster order: among units of equal score the one with the lower row-major index (top row
first, then left column first) ranks higher. The sort is a stable sort of ``−score``, so the ranking is the same
on every machine and device.

Example:
    >>> import torch
    >>> rank_units(torch.tensor([[1.0, 3.0], [3.0, 0.0]])).tolist()      # the two 3s: raster order decides
    [1, 2, 0, 3]
    >>> unit_scores(torch.arange(16.0).reshape(4, 4), block=2).tolist()  # 2x2 blocks, summed
    [[10.0, 18.0], [42.0, 50.0]]
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from ..metrics import spearman  # noqa: F401  (re-exported: trust.spearman)
from ..errors import InputError

__all__ = ["CONTROLS", "as_map", "crop_map", "unit_scores", "rank_units", "unit_mask", "edge_map", "random_scores",
           "spearman", "top_overlap"]

CONTROLS = {
    "random": "a seeded random ranking (torch.randperm with a torch.Generator seeded by seed=)",
    "edge": "LR edge magnitude sqrt(Σ_c (∂_row x)² + (∂_col x)²), forward differences, last row/column repeated",
}
"""The control rankings every method is compared with (names accepted wherever an attribution is)."""


def as_map(attribution, shape: Tuple[int, int], what: str = "attribution") -> torch.Tensor:
    """An attribution -> ``[h, w]`` float64 CPU map. Accepts a tensor / array ``[h, w]`` (ranked as given, signed
    values included: pass ``.abs()`` to rank by magnitude), ``[3, h, w]`` (reduced by ``|Σ_c A_c|``, LAM's rule), or
    anything with ``.map`` (a WindowAttribution, a LAMResult)."""
    if hasattr(attribution, "map") and not isinstance(attribution, (torch.Tensor, np.ndarray)):
        attribution = attribution.map
    if isinstance(attribution, np.ndarray):
        attribution = torch.from_numpy(np.ascontiguousarray(attribution))
    if not isinstance(attribution, torch.Tensor):
        raise InputError(f"{what} must be a map [h, w], an attribution [3, h, w], a result with .map, a method name "
                         f"(srwidgets.attribution.methods()) or a control ({', '.join(CONTROLS)}); got "
                         f"{type(attribution).__name__}")
    a = attribution.detach().cpu().double()
    if a.dim() == 3 and a.shape[0] == 3:
        a = a.sum(0).abs()
    if tuple(a.shape) != tuple(shape):
        raise InputError(f"{what} has shape {tuple(attribution.shape)}; expected the LR image's {tuple(shape)} "
                         f"(or [3, {shape[0]}, {shape[1]}]): attribute the same LR image the curve is run on")
    if not bool(torch.isfinite(a).all()):
        raise InputError(f"{what} contains NaN or Inf; fix the map (torch.nan_to_num) before ranking it")
    return a


def crop_map(m: torch.Tensor, box) -> torch.Tensor:
    """The part of an LR map ``[..., h, w]`` inside ``box`` (all of it for ``None``)."""
    if box is None:
        return m
    t, l, h, w = box
    return m[..., t:t + h, l:l + w]


def unit_scores(m: torch.Tensor, block: int = 1) -> torch.Tensor:
    """``[bh, bw]`` map -> ``[ceil(bh/block), ceil(bw/block)]`` block scores: the sum of the map over each
    ``block × block`` block, blocks aligned to the top-left corner (the last row/column of blocks may be
    smaller)."""
    if block == 1:
        return m
    bh, bw = m.shape
    ph, pw = -bh % block, -bw % block
    padded = torch.nn.functional.pad(m[None, None], (0, pw, 0, ph))[0, 0]
    return padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block).sum((1, 3))


def rank_units(scores: torch.Tensor) -> torch.Tensor:
    """Raster indices of the units, highest score first, ties broken by raster order (a stable sort)."""
    return torch.sort(-scores.flatten().double(), stable=True).indices


def unit_mask(order: torch.Tensor, count: int, grid: Tuple[int, int], shape: Tuple[int, int],
              block: int = 1) -> torch.Tensor:
    """The ``[bh, bw]`` bool pixel mask of the first ``count`` units of ``order`` (units on a ``grid`` of blocks)."""
    units = torch.zeros(grid[0] * grid[1], dtype=torch.bool)
    units[order[:count]] = True
    units = units.reshape(grid)
    if block > 1:
        units = units.repeat_interleave(block, 0).repeat_interleave(block, 1)
    return units[:shape[0], :shape[1]]


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """``[3, h, w]`` -> ``[h, w]`` float64: ``sqrt(Σ_c (x[c, i+1, j] − x[c, i, j])² + (x[c, i, j+1] − x[c, i, j])²)``,
    the last row and column repeated (their differences are 0). The edge-magnitude control: a map that merely
    follows image edges ranks like this."""
    x = x.detach().double().cpu()
    p = torch.cat([x, x[:, -1:, :]], 1)
    p = torch.cat([p, p[:, :, -1:]], 2)
    dv = p[:, 1:, :-1] - p[:, :-1, :-1]
    dh = p[:, :-1, 1:] - p[:, :-1, :-1]
    return (dv ** 2 + dh ** 2).sum(0).sqrt()


def random_scores(shape: Tuple[int, int], seed: int) -> torch.Tensor:
    """Scores whose ranking is a seeded random permutation: ``[h, w]`` float64 (``randperm`` on a CPU
    ``torch.Generator`` seeded with ``seed``: the same order on every device, the global RNG untouched)."""
    n = shape[0] * shape[1]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    scores = torch.empty(n, dtype=torch.float64)
    scores[perm] = torch.arange(n, 0, -1, dtype=torch.float64)  # perm[0] gets the highest score
    return scores.reshape(shape)


def top_overlap(a: torch.Tensor, b: torch.Tensor, fraction: float = 0.1) -> float:
    """``|top_k(a) ∩ top_k(b)| / k`` with ``k = max(1, round(fraction · n))`` units, rankings as
    :func:`rank_units` (ties by raster order): 1 when both maps pick the same top pixels, about ``fraction`` for
    unrelated maps."""
    n = a.numel()
    k = max(1, min(n, int(round(fraction * n))))
    ta, tb = set(rank_units(a)[:k].tolist()), set(rank_units(b)[:k].tolist())
    return len(ta & tb) / k


def resolve_scores(attribution, x: torch.Tensor, seed: int, what: str = "attribution") -> Optional[torch.Tensor]:
    """Controls by name -> their ``[h, w]`` scores; anything else -> ``None`` (a map or a method name)."""
    if isinstance(attribution, str) and attribution in CONTROLS:
        if attribution == "random":
            return random_scores(tuple(x.shape[1:]), seed)
        return edge_map(x)
    return None
