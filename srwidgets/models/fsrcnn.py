"""FSRCNN (Dong et al. 2016) on RGB, with the common ``first_part / mid_part / last_part`` parameter naming.

A deliberately small receptive field: feature extraction 5x5, ``m`` 3x3 mapping layers, a 9x9 transposed conv.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ._common import StateDict

ARCH = "FSRCNN"


class FSRCNN(nn.Module):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]``. ``d`` features, ``s`` shrunk features, ``m`` mapping layers."""

    arch = ARCH

    def __init__(self, upscale: int = 4, d: int = 56, s: int = 12, m: int = 4, num_channels: int = 3,
                 bicubic_residual: bool = False):
        super().__init__()
        self.scale = int(upscale)
        self.config = dict(upscale=upscale, d=d, s=s, m=m, num_channels=num_channels, bicubic_residual=bicubic_residual)
        # Optional global residual: add the bicubic upsampling of the input, so the network learns only the
        # missing detail (a variant of ours; published FSRCNN weights have none, the default).
        self.bicubic_residual = bicubic_residual
        self.first_part = nn.Sequential(nn.Conv2d(num_channels, d, 5, padding=2), nn.PReLU(d))
        mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, num_channels, 9, stride=upscale, padding=4, output_padding=upscale - 1)
        nn.init.normal_(self.last_part.weight, std=1e-3)
        nn.init.zeros_(self.last_part.bias)

    def forward(self, x):
        y = self.last_part(self.mid_part(self.first_part(x)))
        if self.bicubic_residual:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


    def feature_layers(self):
        """Feature extraction, then every activation of the shrink / mapping / expand layers (LR resolution)."""
        acts = [(f"mid_part.{i}", m) for i, m in enumerate(self.mid_part) if isinstance(m, nn.PReLU)]
        return [("first_part", self.first_part)] + acts


MODEL = FSRCNN


def convert(sd: StateDict) -> StateDict:
    return sd


def detect(sd: StateDict):
    if "first_part.0.weight" not in sd or "last_part.weight" not in sd:
        return None
    convs = [k for k in sd if k.startswith("mid_part.") and k.endswith(".weight") and sd[k].dim() == 4]
    w0 = sd["first_part.0.weight"]
    # The transposed conv's stride (the scale) is not stored; ``load`` takes it from the file name or ``scale=``.
    return dict(upscale=None, d=w0.shape[0], s=sd["mid_part.0.weight"].shape[0], m=len(convs) - 2, num_channels=w0.shape[1])
