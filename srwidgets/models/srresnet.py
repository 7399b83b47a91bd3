"""MSRResNet (SRResNet without batch norm, BasicSR naming) with an optional global bilinear residual.

BasicSR's MSRResNet adds the bilinearly upsampled input to its output (a *global residual*: the body learns only
the difference). ``global_residual=False`` drops it — the DDR paper compares the two.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ._common import ResidualBlockNoBN, StateDict, block_count, blocks_on_region, make_layer

ARCH = "MSRResNet"


class MSRResNet(nn.Module):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]``, s in {2, 3, 4}. Keys: ``conv_first``, ``body.i.conv{1,2}``,
    ``upconv1`` (``upconv2`` for x4), ``conv_hr``, ``conv_last``."""

    arch = ARCH

    def __init__(self, num_feat: int = 64, num_block: int = 16, upscale: int = 4, global_residual: bool = True):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports x2, x3, x4, not x{upscale}")
        self.scale = int(upscale)
        self.config = dict(num_feat=num_feat, num_block=num_block, upscale=upscale, global_residual=global_residual)
        self.global_residual = global_residual
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat)
        if upscale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * upscale * upscale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(upscale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    tail_margin = 3  # LR pixels: upconv1 (1) + upconv2 (1/2) + conv_hr, conv_last (1/4 each) + bilinear (1)

    def features(self, x):
        """LR-resolution features ``[N, C, h, w]`` (conv_first and the residual blocks)."""
        return self.body(self.lrelu(self.conv_first(x)))

    def features_region(self, x, region):
        """``features(x)`` on LR rows ``r0:r1``, columns ``c0:c1`` only, exactly (residual blocks on a cone)."""
        return blocks_on_region(self.body, self.lrelu(self.conv_first(x)), region)

    def forward(self, x):
        return self.tail(self.features(x), x)

    def tail(self, features, x):
        """Upsampling, output convs and the global bilinear residual of ``x`` (the same LR region as
        ``features``) -> SR ``[N, 3, s*h, s*w]``."""
        out = features
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        if self.global_residual:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out


    def feature_layers(self):
        """The residual blocks of the body, shallow to deep (LR-resolution features)."""
        return [(f"body.{i}", m) for i, m in enumerate(self.body)]


MODEL = MSRResNet


def convert(sd: StateDict) -> StateDict:
    return sd


def detect(sd: StateDict):
    need = ("conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_hr.weight", "conv_last.weight")
    if not all(k in sd for k in need):
        return None
    nf = sd["conv_first.weight"].shape[0]
    scale = 4 if "upconv2.weight" in sd else int(round((sd["upconv1.weight"].shape[0] // nf) ** 0.5))
    # Whether the bilinear residual is used is not in the weights; BasicSR's MSRResNet always uses it.
    return dict(num_feat=nf, num_block=block_count(sd, "body.", ARCH), upscale=scale, global_residual=True)
