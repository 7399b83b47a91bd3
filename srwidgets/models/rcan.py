"""RCAN (Zhang et al. 2018): residual groups of residual channel-attention blocks, BasicSR naming.

Channel attention pools each feature map globally, so every output pixel depends on the whole input: LAM cannot
crop around the window for this model.
"""
from __future__ import annotations

from torch import nn

from ._common import (MeanShiftResidualSR, StateDict, block_count, make_layer, official_value_range,
                      rename_official, upsample_scale)

ARCH = "RCAN"


class ChannelAttention(nn.Module):
    def __init__(self, num_feat: int, squeeze_factor: int = 16):
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(num_feat, num_feat // squeeze_factor, 1),
            nn.ReLU(inplace=True), nn.Conv2d(num_feat // squeeze_factor, num_feat, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class RCAB(nn.Module):
    def __init__(self, num_feat: int, squeeze_factor: int = 16, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.rcab = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(True),
                                  nn.Conv2d(num_feat, num_feat, 3, 1, 1), ChannelAttention(num_feat, squeeze_factor))

    def forward(self, x):
        return x + self.rcab(x) * self.res_scale


class ResidualGroup(nn.Module):
    def __init__(self, num_feat: int, num_block: int, squeeze_factor: int = 16, res_scale: float = 1.0):
        super().__init__()
        self.residual_group = make_layer(RCAB, num_block, num_feat=num_feat, squeeze_factor=squeeze_factor, res_scale=res_scale)
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x):
        return x + self.conv(self.residual_group(x))


class RCAN(MeanShiftResidualSR):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]``. Paper size: 64 features, 10 groups of 20 blocks."""

    arch = ARCH

    def __init__(self, num_feat: int = 64, num_group: int = 10, num_block: int = 20, squeeze_factor: int = 16,
                 upscale: int = 4, res_scale: float = 1.0, img_range: float = 255.0, rgb_mean=(0.4488, 0.4371, 0.4040)):
        super().__init__()
        self.scale = int(upscale)
        self.config = dict(num_feat=num_feat, num_group=num_group, num_block=num_block, squeeze_factor=squeeze_factor,
                           upscale=upscale, res_scale=res_scale, img_range=img_range, rgb_mean=tuple(rgb_mean))
        # The channel attention in the body pools globally, so unlike EDSR there is no features_region: the body
        # always runs on the whole image; only the tail can be restricted to the window.
        self._build_head(num_feat, img_range, rgb_mean)
        self.body = make_layer(ResidualGroup, num_group, num_feat=num_feat, num_block=num_block,
                               squeeze_factor=squeeze_factor, res_scale=res_scale)
        self._build_tail(num_feat, upscale)


MODEL = RCAN


# The official checkpoints' mean-shift biases state ``rgb_range * mean`` (see ``_common.official_value_range``).
value_range = official_value_range


def convert(sd: StateDict) -> StateDict:
    """Map the official RCAN naming (``head.0``, ``body.g.body.b.body.{0,2,3.conv_du}``, ``tail``) to BasicSR's."""
    if "head.0.weight" not in sd or "body.0.body.0.body.0.weight" not in sd:
        return sd
    n_group = block_count(sd, "body.", ARCH, "group") - 1
    n_block = block_count(sd, "body.0.body.", ARCH) - 1
    return rename_official(sd, [
        (rf"^body\.{n_group}\.", "conv_after_body."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.0\.", r"body.\1.residual_group.\2.rcab.3.attention.1."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.2\.", r"body.\1.residual_group.\2.rcab.3.attention.3."),
        (rf"^body\.(\d+)\.body\.{n_block}\.", r"body.\1.conv."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.(\d+)\.", r"body.\1.residual_group.\2.rcab.\3."),
    ])


def detect(sd: StateDict):
    if "body.0.residual_group.0.rcab.0.weight" not in sd or "conv_first.weight" not in sd:
        return None
    nf = sd["conv_first.weight"].shape[0]
    return dict(num_feat=nf, num_group=block_count(sd, "body.", ARCH, "group"),
                num_block=block_count(sd, "body.0.residual_group.", ARCH),
                squeeze_factor=nf // sd["body.0.residual_group.0.rcab.3.attention.1.weight"].shape[0],
                upscale=upsample_scale(sd, "upsample.", nf))
