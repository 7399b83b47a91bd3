"""RFDN: residual feature distillation network (Liu, Tang, Wu, "Residual Feature Distillation Network for
Lightweight Image Super-Resolution", ECCV 2020 workshops; winner of the AIM 2020 efficient-SR challenge).

Written for srwidgets from the paper's structure and the public parameter names of the official code
(github.com/njulj/RFDN), so that its checkpoints (e.g. ``RFDN_AIM.pth``: 50 features, 4 blocks, x4) load as they are:

* ``fea_conv`` (3x3, 3 -> C), then blocks ``B1`` ... ``Bn`` (RFDB), each block's output kept;
* ``c.0``: 1x1 conv fusing the ``n`` block outputs (``n*C -> C``), LeakyReLU(0.05);
* ``LR_conv`` (3x3) plus a skip from ``fea_conv``;
* ``upsampler.0``: one 3x3 conv to ``3*s*s`` channels and ``PixelShuffle(s)``.

An RFDB refines its input three times (``c{1,2,3}_r``: 3x3 conv + identity skip, LeakyReLU(0.05)) and at each step
*distils* ``C/2`` channels with a 1x1 conv (``c{1,2,3}_d``); ``c4`` (3x3) distils the last refined features. The four
distilled parts are concatenated (``2C``), fused by ``c5`` (1x1, ``2C -> C``) and reweighted by ESA (enhanced
spatial attention, ``esa.*``): a 1x1 reduction to ``C/4`` channels, a 3x3 stride-2 conv, a 7x7 stride-3 max-pool,
three 3x3 convs, bilinear upsampling back to the input size, a skip through ``conv_f``, a 1x1 expansion and a
sigmoid mask. ESA's max-pool makes each output pixel see a wide neighbourhood (tens of LR pixels), so LAM shows
RFDN using much more of the image than a plain CNN of its size.

Value range: the official RFDN network works on RGB values in 0..255 (the AIM checkpoint was trained so, and its
test script feeds undivided uint8 values). Weights do not record it; we measured it: on the bundled images at x4,
``RFDN_AIM.pth`` fed 0..255 beats bicubic by 0.9-2.8 dB Y-PSNR, fed [0, 1] it is 1.4-4 dB *worse* than bicubic.
So :class:`RFDN` takes and returns srwidgets' [0, 1] and scales by ``img_range`` (255 by default, what ``load``
assumes for RFDN checkpoints) inside ``forward``; an RFDN trained on [0, 1] values is built with ``img_range=1``.
The channel order is RGB. The official ESA needs inputs of at least 15 x 15 LR pixels; ours extends it below that
(see :class:`ESA`) and matches it from 15 up.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import FusedBlocksSR, StateDict, fused_blocks, pixel_shuffle_factor

ARCH = "RFDN"
_SLOPE = 0.05  # the official code's LeakyReLU slope (everywhere)
_ESA_MIN = 15  # the smallest side the official ESA runs on


def _conv(cin: int, cout: int, k: int, stride: int = 1, padding: int = None) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if padding is None else padding)


class ESA(nn.Module):
    """Enhanced spatial attention: ``x [N, C, h, w]`` (any range) -> ``x * mask``, mask in (0, 1) of the same shape.

    The official ESA needs ``h, w >= 15`` (its stride-2 conv then 7x7 stride-3 max-pool must leave a pixel) and
    fails below. Ours gives the same result from 15 up and, below, runs the attention branch on its reduced map
    replicate-padded (bottom / right) to 15 pixels, so tiny probes and crops run instead of failing."""

    def __init__(self, num_feat: int):
        super().__init__()
        f = num_feat // 4
        self.conv1 = _conv(num_feat, f, 1)
        self.conv_f = _conv(f, f, 1)
        self.conv_max = _conv(f, f, 3)
        self.conv2 = _conv(f, f, 3, stride=2, padding=0)
        self.conv3 = _conv(f, f, 3)
        self.conv3_ = _conv(f, f, 3)
        self.conv4 = _conv(f, num_feat, 1)

    def forward(self, x):
        c1_ = self.conv1(x)
        pad_w, pad_h = max(0, _ESA_MIN - c1_.shape[-1]), max(0, _ESA_MIN - c1_.shape[-2])
        c1 = self.conv2(F.pad(c1_, (0, pad_w, 0, pad_h), mode="replicate") if pad_w or pad_h else c1_)
        v = F.relu(self.conv_max(F.max_pool2d(c1, kernel_size=7, stride=3)))
        c3 = self.conv3_(F.relu(self.conv3(v)))
        c3 = F.interpolate(c3, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class RFDB(nn.Module):
    """Residual feature distillation block: features ``[N, C, h, w]`` -> ``[N, C, h, w]`` (see the module
    docstring)."""

    def __init__(self, num_feat: int):
        super().__init__()
        dc = num_feat // 2
        self.c1_d = _conv(num_feat, dc, 1)
        self.c1_r = _conv(num_feat, num_feat, 3)
        self.c2_d = _conv(num_feat, dc, 1)
        self.c2_r = _conv(num_feat, num_feat, 3)
        self.c3_d = _conv(num_feat, dc, 1)
        self.c3_r = _conv(num_feat, num_feat, 3)
        self.c4 = _conv(num_feat, dc, 3)
        self.c5 = _conv(4 * dc, num_feat, 1)
        self.esa = ESA(num_feat)

    def forward(self, x):
        act = lambda t: F.leaky_relu(t, _SLOPE)  # noqa: E731
        d1 = act(self.c1_d(x))
        r1 = act(self.c1_r(x) + x)
        d2 = act(self.c2_d(r1))
        r2 = act(self.c2_r(r1) + r1)
        d3 = act(self.c3_d(r2))
        r3 = act(self.c3_r(r2) + r2)
        d4 = act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, d4], dim=1)))


class RFDN(FusedBlocksSR):
    """``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s*h, s*w]`` RGB in about [0, 1] (not clipped), any ``h, w``.

    ``num_feat`` features (50 in the AIM model), ``num_block`` RFDBs (4), any ``upscale`` ``s >= 1`` (one conv
    and ``PixelShuffle(s)``); the network itself runs on values ``x * img_range`` (255: the official convention)
    and its output is divided by ``img_range``. Keys: ``fea_conv``, ``B1.c1_d`` ... ``B{n}.esa.conv4``, ``c.0``,
    ``LR_conv``, ``upsampler.0``.

    Split for LAM: :meth:`features` (LR resolution, ``fea_conv`` to ``LR_conv`` + skip) and :meth:`tail` (the
    upsampler: one 3x3 conv, reaching 1 LR pixel).

    >>> m = RFDN(num_feat=8, num_block=2, upscale=3).eval()
    >>> tuple(m(torch.rand(1, 3, 16, 17)).shape), tuple(m(torch.rand(1, 3, 5, 7)).shape)
    ((1, 3, 48, 51), (1, 3, 15, 21))
    >>> [name for name, _ in m.feature_layers()]
    ['B1', 'B2', 'LR_conv']
    """

    arch = ARCH
    tail_margin = 1

    def __init__(self, num_feat: int = 50, num_block: int = 4, upscale: int = 4, img_range: float = 255.0,
                 num_in_ch: int = 3, num_out_ch: int = 3):
        super().__init__()
        if isinstance(upscale, bool) or not isinstance(upscale, int) or upscale < 1:
            raise InputError(f"RFDN: upscale must be a positive integer, got {upscale!r}")
        if num_feat < 4 or num_feat % 2:
            raise InputError(f"RFDN: num_feat must be an even number >= 4 (it distils num_feat/2 channels and ESA "
                             f"uses num_feat/4), got {num_feat}")
        if num_block < 1:
            raise InputError(f"RFDN: num_block must be at least 1, got {num_block}")
        self.scale = int(upscale)
        if not isinstance(img_range, (int, float)) or isinstance(img_range, bool) or not img_range > 0:
            raise InputError(f"RFDN: img_range must be a positive number (255 for the official weights, 1 for a "
                             f"network trained on [0, 1] values), got {img_range!r}")
        self.config = dict(num_feat=num_feat, num_block=num_block, upscale=upscale, img_range=float(img_range),
                           num_in_ch=num_in_ch, num_out_ch=num_out_ch)
        self.img_range = float(img_range)
        self.num_block = num_block
        self.fea_conv = _conv(num_in_ch, num_feat, 3)
        for i in range(1, num_block + 1):  # the official names: B1, B2, ... (not a Sequential)
            setattr(self, f"B{i}", RFDB(num_feat))
        self.c = nn.Sequential(_conv(num_feat * num_block, num_feat, 1), nn.LeakyReLU(_SLOPE))
        self.LR_conv = _conv(num_feat, num_feat, 3)
        self.upsampler = nn.Sequential(_conv(num_feat, num_out_ch * upscale * upscale, 3), nn.PixelShuffle(upscale))


MODEL = RFDN

_BLOCK_KEY = re.compile(r"^B(\d+)\.")
# What one RFDB holds (weight and bias of each).
_BLOCK_PARTS = ("c1_d", "c1_r", "c2_d", "c2_r", "c3_d", "c3_r", "c4", "c5", "esa.conv1", "esa.conv_f",
                "esa.conv_max", "esa.conv2", "esa.conv3", "esa.conv3_", "esa.conv4")


def convert(sd: StateDict) -> StateDict:
    return sd


def detect(sd: StateDict):
    """``{num_feat, num_block, upscale, img_range, num_in_ch, num_out_ch}`` from the official RFDN key names
    (``img_range`` is the official 255: weights do not record it), or ``None`` when the keys are not RFDN's. RFDN
    keys with a missing or extra block raise :class:`InputError` naming it."""
    if not all(k in sd for k in ("fea_conv.weight", "LR_conv.weight", "c.0.weight", "upsampler.0.weight")) or \
            not any(_BLOCK_KEY.match(k) for k in sd):
        return None
    w0 = sd["fea_conv.weight"]
    num_feat, num_in = int(w0.shape[0]), int(w0.shape[1])
    # The fusion conv ``c.0`` takes the concatenation of every block's output: its input width states the depth.
    n = fused_blocks(sd, "RFDN", "B", num_feat, _BLOCK_PARTS)
    num_out = 3
    r = pixel_shuffle_factor("RFDN", int(sd["upsampler.0.weight"].shape[0]), num_out)
    # The value range is not in the weights: the official networks work on 0..255 (see the module docstring).
    return dict(num_feat=num_feat, num_block=n, upscale=r, img_range=255.0, num_in_ch=num_in, num_out_ch=num_out)
