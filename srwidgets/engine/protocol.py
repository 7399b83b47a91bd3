"""What an engine may ask of a model beyond ``forward``: a small declared protocol instead of attribute probes.

Part of the runtime (engines read it; architectures implement it), so the runtime imports no model catalogue;
:mod:`srwidgets.models.protocol` re-exports it for model authors.

* :class:`SplitTail` — the model splits into LR-resolution ``features(x)`` and an upsampling ``tail(features, x)``
  that reaches ``tail_margin`` LR pixels; LAM then runs the tail only around the window. :class:`RegionFeatures`
  adds ``features_region(x, region)``: the features of one LR region, computed exactly on a shrinking cone.
* :class:`FeatureLayers` — ``feature_layers()`` lists ``(name, module)`` pairs, shallow to deep, whose outputs are
  the model's sensible feature maps (block / group / body outputs): what DDR hooks.

srwidgets' EDSR, RCAN, MSRResNet, RFDN, IMDN and PAN are :class:`SplitTail` (EDSR and MSRResNet also
:class:`RegionFeatures`); all its architectures are :class:`FeatureLayers`. Any other ``nn.Module`` works
everywhere: :func:`feature_layers` falls back to its top-level children.

Example:
    >>> from srwidgets.models import build
    >>> from srwidgets.engine.protocol import SplitTail, feature_layers
    >>> model = build("EDSR", num_feat=8, num_block=2, upscale=2)
    >>> isinstance(model, SplitTail), [name for name, _ in feature_layers(model)]
    (True, ['body.0', 'body.1', 'conv_after_body'])
"""
from __future__ import annotations

from typing import List, Protocol, Tuple, runtime_checkable

import torch
from torch import nn

__all__ = ["SplitTail", "RegionFeatures", "FeatureLayers", "feature_layers"]


@runtime_checkable
class SplitTail(Protocol):
    """``forward(x) == tail(features(x), x)``; the tail reads ``tail_margin`` LR pixels around each output pixel."""

    tail_margin: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, h, w]`` -> LR-resolution features ``[N, C, h, w]``."""

    def tail(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Features ``[N, C, h', w']`` of an LR region and the input ``x`` of the same region -> SR ``[N, 3, s·h', s·w']``."""


@runtime_checkable
class RegionFeatures(SplitTail, Protocol):
    """A :class:`SplitTail` whose features of one LR region can be computed alone, exactly."""

    def features_region(self, x: torch.Tensor, region: Tuple[int, int, int, int]) -> torch.Tensor:
        """``features(x)[..., r0:r1, c0:c1]`` for ``region = (r0, r1, c0, c1)`` (LR pixels, half-open)."""


@runtime_checkable
class FeatureLayers(Protocol):
    """Lists the modules whose outputs are the model's feature maps, shallow to deep."""

    def feature_layers(self) -> List[Tuple[str, nn.Module]]:
        """``[(qualified name, module), ...]`` shallow to deep; names as in ``model.named_modules()``."""


def feature_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The model's feature layers, shallow to deep: its own :class:`FeatureLayers` list, else its top-level
    children (for any ``nn.Module``)."""
    if isinstance(model, FeatureLayers):
        return list(model.feature_layers())
    return list(model.named_children())
