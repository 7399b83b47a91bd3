"""The forward pass a window method needs: ``F(x)``, or for models that split into LR features and an upsampling
tail (:class:`~srwidgets.models.protocol.SplitTail`) only the SR patch the windows read.

A window objective reads a few SR pixels; a split tail can run only on the features around them (and
:class:`~srwidgets.models.protocol.RegionFeatures` bodies only where that region depends on the input), which
changes no SR pixel the objective reads — the tail's zero padding touches only pixels it never reads
(:func:`srwidgets.engine.windows.tail_region`).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    >>> y, windows = window_forward(net, torch.rand(1, 3, 8, 8), [(2, 2, 4, 4)], scale=2)
    >>> tuple(y.shape), windows
    ((1, 3, 16, 16), [(2, 2, 4, 4)])
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

from .windows import tail_region

__all__ = ["window_forward", "splits_tail"]


def splits_tail(model: nn.Module) -> bool:
    """Whether ``model`` offers ``features`` / ``tail`` / ``tail_margin`` (the SplitTail protocol)."""
    from ..models.protocol import SplitTail

    return isinstance(model, SplitTail)


def window_forward(model: nn.Module, x: torch.Tensor, windows: Sequence, scale: int, split_tail: bool = True
                   ) -> Tuple[torch.Tensor, List[Tuple[int, int, int, int]]]:
    """``(y, windows in y's coordinates)``: ``F(x)`` of a batch ``[N, 3, h, w]`` with the windows unchanged, or,
    with ``split_tail`` on a SplitTail model, only the SR patch around the windows (SR pixels of ``x``)."""
    if not (split_tail and splits_tail(model)):
        return model(x), list(windows)
    from ..models.protocol import RegionFeatures

    s = scale
    r0, r1, c0, c1 = tail_region(windows, s, int(model.tail_margin), *x.shape[-2:])
    if isinstance(model, RegionFeatures):  # the body, too, only where the region depends on it
        features = model.features_region(x, (r0, r1, c0, c1))
    else:
        features = model.features(x)[..., r0:r1, c0:c1]
    y = model.tail(features, x[..., r0:r1, c0:c1])
    return y, [(t - s * r0, l - s * c0, h, w) for t, l, h, w in windows]
