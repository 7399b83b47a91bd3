"""CEM beside LAM: block maps to LR pixels and back, and their rank agreement (Spearman).

Coordinates: a block map is ``[rows, cols]`` over the block grid of ``b``-pixel LR blocks (row-major, the last row
and column partial where the image is not a multiple of ``b``); an LR map is ``[h, w]``.

Example:
    >>> import torch
    >>> block_sums(torch.ones(3, 5), 2)
    tensor([[4., 4., 2.],
            [2., 2., 1.]], dtype=torch.float64)
    >>> spread(torch.tensor([[1.0, 2.0]]), 2, 2, 3)
    tensor([[1., 1., 2.],
            [1., 1., 2.]], dtype=torch.float64)
    >>> round(spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0])), 3)
    0.5
"""
from __future__ import annotations

from typing import Optional

import torch

from ..metrics import spearman  # noqa: F401  (re-exported: cem.spearman)
from ..errors import InputError

__all__ = ["block_sums", "spread", "spearman", "rank_agreement"]


def block_sums(lr_map: torch.Tensor, b: int) -> torch.Tensor:
    """``[h, w]`` LR map -> ``[ceil(h/b), ceil(w/b)]`` float64: the sum over each block's LR pixels."""
    m = torch.as_tensor(lr_map).detach().double().cpu()
    h, w = m.shape
    rows, cols = -(-h // b), -(-w // b)
    padded = torch.zeros(rows * b, cols * b, dtype=torch.float64)
    padded[:h, :w] = m
    return padded.view(rows, b, cols, b).sum(dim=(1, 3))


def spread(block_map: torch.Tensor, b: int, height: int, width: int) -> torch.Tensor:
    """``[rows, cols]`` block values -> ``[height, width]`` float64: each LR pixel takes its block's value."""
    m = torch.as_tensor(block_map).detach().double().cpu()
    return m.repeat_interleave(b, 0).repeat_interleave(b, 1)[:height, :width].contiguous()


def rank_agreement(cem, lam, *, exclude_window: bool = True, b: Optional[int] = None) -> float:
    """Spearman between the CEM ``|effect|`` per block and the LAM map summed per block.

    Args:
        cem: a :class:`~srwidgets.cem.engine.CEMResult`, a family result of ``method="cem"``, or a ``[rows, cols]``
            block map of effects (then give ``b``).
        lam: a LAM result (anything with ``.map``) or an LR map ``[h, w]`` (LAM's ``.map``, or ``|Σ_c A|``).
        exclude_window: leave out the window's own blocks (both methods rank them first; the question is the
            context). Needs a result for ``cem``.
        b: the block side in LR pixels, when ``cem`` is a bare map.

    Returns:
        rho in [-1, 1] (NaN when one map is constant over the blocks compared).
    """
    window_blocks = None
    if hasattr(cem, "extras") and "effects" in getattr(cem, "extras", {}):  # a family WindowAttribution
        ex = cem.extras
        effects, b, window_blocks = ex["effects"], ex["lr_block"], ex["window_blocks"]
    elif hasattr(cem, "window_blocks"):
        effects, b, window_blocks = cem.map, cem.lr_block, cem.window_blocks
    else:
        if b is None:
            raise InputError("rank_agreement(cem_map, lam_map) with a bare block map needs b=, the block side in LR "
                             "pixels (block / scale)")
        effects = torch.as_tensor(cem)
    lam_map = lam.map if hasattr(lam, "map") else torch.as_tensor(lam)
    lam_blocks = block_sums(lam_map.abs() if lam_map.is_floating_point() else lam_map.double(), int(b))
    if tuple(lam_blocks.shape) != tuple(effects.shape):
        raise InputError(f"the LAM map ({tuple(lam_map.shape)} LR pixels -> {tuple(lam_blocks.shape)} blocks of {b}) "
                         f"does not match the CEM map ({tuple(effects.shape)} blocks); use the same LR image")
    keep = torch.ones_like(lam_blocks, dtype=torch.bool)
    if exclude_window and window_blocks is not None:
        keep = ~window_blocks
    return spearman(effects.double().abs()[keep], lam_blocks[keep])
