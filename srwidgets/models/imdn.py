"""IMDN: information multi-distillation network (Hui, Gao, Yang, Wang, "Lightweight Image Super-Resolution with
Information Multi-distillation Network", ACM MM 2019; winner of the AIM 2019 constrained-SR challenge).

Written for srwidgets from the paper's structure and the public parameter names of the official code
(github.com/Zheng222/IMDN), so that its checkpoints (``IMDN_x2/x3/x4.pth``: 64 features, 6 blocks) load:

* ``fea_conv`` (3x3, 3 -> C), then blocks ``IMDB1`` ... ``IMDBn``, each block's output kept;
* ``c.0``: 1x1 conv fusing the ``n`` block outputs (``n*C -> C``), LeakyReLU(0.05);
* ``LR_conv`` (3x3) plus a skip from ``fea_conv``;
* ``upsampler.0``: one 3x3 conv to ``3*s*s`` channels and ``PixelShuffle(s)``.

An IMDB (information multi-distillation block) runs three 3x3 convs (``c1``, ``c2``, ``c3``, LeakyReLU(0.05)); after
each it splits off ``d = C/4`` channels (kept) and passes the other ``C - d`` on; ``c4`` (3x3) turns the last
remainder into ``d`` more channels. The four distilled parts (``4d = C``) are reweighted by contrast-aware channel
attention (``cca.conv_du``: per-channel standard deviation plus mean, 1x1 squeeze to ``4d/16``, ReLU, 1x1 back,
sigmoid), fused by ``c5`` (1x1) and added to the block's input. The channel attention pools over the whole image,
so every output pixel depends on every input pixel (like RCAN).

Value range: the official test script feeds RGB in [0, 1] (``uint8 / 255``), srwidgets' convention; ``img_range``
(default 1) scales the values the network sees, for checkpoints trained on another range. No public IMDN checkpoint
is at hand here to confirm it by measurement (see ``tests/test_models_imdn.py``).
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import FusedBlocksSR, StateDict, fused_blocks, pixel_shuffle_factor

ARCH = "IMDN"
_SLOPE = 0.05  # the official code's LeakyReLU slope


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, 1, (k - 1) // 2)


class CCALayer(nn.Module):
    """Contrast-aware channel attention: ``x [N, C, h, w]`` -> ``x * w``, ``w [N, C, 1, 1]`` in (0, 1) from each
    channel's standard deviation plus mean over the image. Keys ``conv_du.0``, ``conv_du.2``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        mid = max(1, channels // reduction)
        self.conv_du = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(), nn.Conv2d(mid, channels, 1), nn.Sigmoid())

    def forward(self, x):
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return x * self.conv_du(std + mean)


class IMDB(nn.Module):
    """Information multi-distillation block: features ``[N, C, h, w]`` -> ``[N, C, h, w]`` (see the module
    docstring); ``C/4`` channels distilled per step."""

    def __init__(self, num_feat: int, reduction: int = 16):
        super().__init__()
        self.d = d = num_feat // 4
        self.r = r = num_feat - d
        self.c1 = _conv(num_feat, num_feat, 3)
        self.c2 = _conv(r, num_feat, 3)
        self.c3 = _conv(r, num_feat, 3)
        self.c4 = _conv(r, d, 3)
        self.c5 = _conv(4 * d, num_feat, 1)
        self.cca = CCALayer(4 * d, reduction)

    def forward(self, x):
        d1, r1 = torch.split(F.leaky_relu(self.c1(x), _SLOPE), (self.d, self.r), dim=1)
        d2, r2 = torch.split(F.leaky_relu(self.c2(r1), _SLOPE), (self.d, self.r), dim=1)
        d3, r3 = torch.split(F.leaky_relu(self.c3(r2), _SLOPE), (self.d, self.r), dim=1)
        d4 = self.c4(r3)
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class IMDN(FusedBlocksSR):
    """``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s*h, s*w]`` RGB in about [0, 1] (not clipped), any ``h, w``.

    ``num_feat`` features (64 in the official models, a multiple of 4), ``num_block`` IMDBs (6), ``upscale`` ``s``
    (one conv and ``PixelShuffle(s)``), channel-attention ``reduction`` (16); the network sees ``x * img_range``.
    Keys: ``fea_conv``, ``IMDB1.c1`` ... ``IMDB{n}.cca.conv_du.2``, ``c.0``, ``LR_conv``, ``upsampler.0``.

    Split for LAM: :meth:`features` (LR resolution) and :meth:`tail` (the upsampler: one 3x3 conv, 1 LR pixel).

    >>> m = IMDN(num_feat=8, num_block=2, upscale=2).eval()
    >>> tuple(m(torch.rand(1, 3, 5, 6)).shape), [name for name, _ in m.feature_layers()]
    ((1, 3, 10, 12), ['IMDB1', 'IMDB2', 'LR_conv'])
    """

    arch = ARCH
    block_prefix = "IMDB"
    tail_margin = 1

    def __init__(self, num_feat: int = 64, num_block: int = 6, upscale: int = 4, reduction: int = 16,
                 img_range: float = 1.0, num_in_ch: int = 3, num_out_ch: int = 3):
        super().__init__()
        if isinstance(upscale, bool) or not isinstance(upscale, int) or upscale < 1:
            raise InputError(f"IMDN: upscale must be a positive integer, got {upscale!r}")
        if num_feat < 4 or num_feat % 4:
            raise InputError(f"IMDN: num_feat must be a multiple of 4 (it distils num_feat/4 channels per step), "
                             f"got {num_feat}")
        if num_block < 1:
            raise InputError(f"IMDN: num_block must be at least 1, got {num_block}")
        if not isinstance(img_range, (int, float)) or isinstance(img_range, bool) or not img_range > 0:
            raise InputError(f"IMDN: img_range must be a positive number (1 for the official weights), "
                             f"got {img_range!r}")
        self.scale = int(upscale)
        self.config = dict(num_feat=num_feat, num_block=num_block, upscale=upscale, reduction=reduction,
                           img_range=float(img_range), num_in_ch=num_in_ch, num_out_ch=num_out_ch)
        self.num_block = num_block
        self.img_range = float(img_range)
        self.fea_conv = _conv(num_in_ch, num_feat, 3)
        for i in range(1, num_block + 1):  # the official names: IMDB1, IMDB2, ...
            setattr(self, f"IMDB{i}", IMDB(num_feat, reduction))
        self.c = nn.Sequential(_conv(num_feat * num_block, num_feat, 1), nn.LeakyReLU(_SLOPE))
        self.LR_conv = _conv(num_feat, num_feat, 3)
        self.upsampler = nn.Sequential(_conv(num_feat, num_out_ch * upscale * upscale, 3), nn.PixelShuffle(upscale))


MODEL = IMDN

_BLOCK_KEY = re.compile(r"^IMDB(\d+)\.")
_BLOCK_PARTS = ("c1", "c2", "c3", "c4", "c5", "cca.conv_du.0", "cca.conv_du.2")


def convert(sd: StateDict) -> StateDict:
    return sd


def detect(sd: StateDict):
    """``{num_feat, num_block, upscale, reduction, img_range, num_in_ch, num_out_ch}`` from the official IMDN key
    names (``img_range`` is the official 1: weights do not record it), or ``None`` when the keys are not IMDN's.
    IMDN keys with a missing or extra block raise :class:`InputError` naming it."""
    if not all(k in sd for k in ("fea_conv.weight", "LR_conv.weight", "c.0.weight", "upsampler.0.weight")) or \
            not any(_BLOCK_KEY.match(k) for k in sd):
        return None
    w0 = sd["fea_conv.weight"]
    num_feat, num_in = int(w0.shape[0]), int(w0.shape[1])
    n = fused_blocks(sd, "IMDN", "IMDB", num_feat, _BLOCK_PARTS)  # c.0 fuses every block: its width is the depth
    if num_feat % 4 or int(sd["IMDB1.c4.weight"].shape[0]) != num_feat // 4:
        d = int(sd["IMDB1.c4.weight"].shape[0])
        raise InputError(f"this looks like an IMDN checkpoint, but its blocks distil {d} of {num_feat} channels, not "
                         "a quarter: another distillation rate, which srwidgets does not build")
    mid = int(sd["IMDB1.cca.conv_du.0.weight"].shape[0])
    r = pixel_shuffle_factor("IMDN", int(sd["upsampler.0.weight"].shape[0]))
    reduction = max(1, num_feat // mid)
    if max(1, num_feat // reduction) != mid:
        raise InputError(f"this looks like an IMDN checkpoint, but its channel attention squeezes {num_feat} channels "
                         f"to {mid}, which no integer reduction gives: another variant, which srwidgets does not build")
    return dict(num_feat=num_feat, num_block=n, upscale=r, reduction=reduction, img_range=1.0,
                num_in_ch=num_in, num_out_ch=3)
