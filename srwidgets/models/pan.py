"""PAN: pixel attention network (Zhao, Kong, He, Qiao, Dong, "Efficient Image Super-Resolution Using Pixel
Attention", ECCV 2020 workshops; AIM 2020 efficient-SR challenge).

Written for srwidgets from the paper and the public parameter names of the official code (github.com/zhaohengyuan1/PAN,
``PAN_arch.py``), so its checkpoints (``PANx2_DF2K.pth`` ... ``PANx4_DF2K.pth``: 40 features, 24 upsampling
features, 16 blocks) load as they are:

* ``conv_first`` (3x3, 3 -> ``nf``);
* ``SCPA_trunk.i`` (self-calibrated blocks with pixel attention): two 1x1 convs split the features into halves
  (``conv1_a``, ``conv1_b``, no bias, LeakyReLU 0.2); one half goes through a 3x3 conv (``k1.0``), the other
  through PAConv (``PAConv.k2``: 1x1 conv + sigmoid gating a 3x3 conv ``PAConv.k3``, then 3x3 ``PAConv.k4``);
  ``conv3`` (1x1) fuses the halves, plus an identity skip;
* ``trunk_conv`` (3x3) with a skip from ``conv_first``;
* the upsampler: nearest upsampling (x2 twice for x4, x2 or x3 once), each time ``upconvK`` (3x3, -> ``unf``),
  pixel attention ``attK.conv`` (1x1 + sigmoid gating, LeakyReLU) and ``HRconvK`` (3x3, LeakyReLU);
* ``conv_last`` (3x3, ``unf`` -> 3) plus the bilinear upsampling of the input (global residual).

Value range: RGB in [0, 1], as the official test code feeds (its data loader divides by 255 and reorders BGR to RGB);
``img_range`` (default 1) is the factor the network sees the input multiplied by. The x2 and x3 checkpoints have the
same parameters (one upsampling stage): their scale comes from the file name or ``load(..., scale=)``; x4 has a
second stage (``upconv2``, ``att2``, ``HRconv2``).
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import StateDict, cap_names, count_indices, make_layer

ARCH = "PAN"
# The scales whose networks have the same parameters (one upsampling stage): ``load`` cannot read them from the
# weights and says to pass one of them.
UNRECORDED_SCALES = (2, 3)
_SLOPE = 0.2


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, 1, (k - 1) // 2, bias=bias)


class PA(nn.Module):
    """Pixel attention: ``x * sigmoid(conv1x1(x))`` (a weight per pixel and channel). Key: ``conv``."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv = _conv(nf, nf, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.conv(x))


class PAConv(nn.Module):
    """``k4(k3(x) * sigmoid(k2(x)))``: a 3x3 conv gated per pixel by a 1x1 attention branch. Keys ``k2`` (1x1,
    bias), ``k3``, ``k4`` (3x3, no bias)."""

    def __init__(self, nf: int):
        super().__init__()
        self.k2 = _conv(nf, nf, 1)
        self.k3 = _conv(nf, nf, 3, bias=False)
        self.k4 = _conv(nf, nf, 3, bias=False)

    def forward(self, x):
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Self-calibrated convolution with pixel attention: features ``[N, nf, h, w]`` -> same (residual)."""

    def __init__(self, nf: int, reduction: int = 2):
        super().__init__()
        g = nf // reduction
        self.conv1_a = _conv(nf, g, 1, bias=False)
        self.conv1_b = _conv(nf, g, 1, bias=False)
        self.k1 = nn.Sequential(_conv(g, g, 3, bias=False))
        self.PAConv = PAConv(g)
        self.conv3 = _conv(g * reduction, nf, 1, bias=False)

    def forward(self, x):
        a = F.leaky_relu(self.conv1_a(x), _SLOPE)
        b = F.leaky_relu(self.conv1_b(x), _SLOPE)
        a = F.leaky_relu(self.k1(a), _SLOPE)
        b = F.leaky_relu(self.PAConv(b), _SLOPE)
        return x + self.conv3(torch.cat([a, b], dim=1))


class PAN(nn.Module):
    """``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s*h, s*w]`` (about [0, 1], not clipped), ``s`` in 2, 3, 4; any size.

    ``nf`` trunk features (40 official), ``unf`` upsampling features (24), ``nb`` SCPA blocks (16), ``reduction``
    of the SCPA split (2). Keys as in the official ``PAN_arch.py``.

    Split for LAM: :meth:`features` (LR resolution: ``conv_first`` + trunk) and :meth:`tail` (the upsampler,
    ``conv_last`` and the bilinear residual of ``x``; it reaches under 3 LR pixels).

    >>> m = PAN(nf=8, unf=4, nb=2, upscale=4).eval()
    >>> tuple(m(torch.rand(1, 3, 5, 6)).shape), [name for name, _ in m.feature_layers()]
    ((1, 3, 20, 24), ['SCPA_trunk.0', 'SCPA_trunk.1', 'trunk_conv'])
    """

    arch = ARCH
    tail_margin = 3

    def __init__(self, nf: int = 40, unf: int = 24, nb: int = 16, upscale: int = 4, reduction: int = 2,
                 img_range: float = 1.0, in_nc: int = 3, out_nc: int = 3):
        super().__init__()
        if isinstance(upscale, bool) or not isinstance(upscale, int) or upscale not in (2, 3, 4):
            raise InputError(f"PAN builds x2, x3 and x4 only (as the official code), got upscale={upscale!r}")
        if nb < 1 or nf < reduction or nf % reduction:
            raise InputError(f"PAN: nb must be >= 1 and nf a multiple of reduction ({reduction}); got nf={nf}, nb={nb}")
        if isinstance(img_range, bool) or not isinstance(img_range, (int, float)) or not img_range > 0:
            raise InputError(f"PAN: img_range must be a positive number (1 for the official weights), "
                             f"got {img_range!r}")
        self.scale = int(upscale)
        self.img_range = float(img_range)
        self.config = dict(nf=nf, unf=unf, nb=nb, upscale=upscale, reduction=reduction, img_range=float(img_range),
                           in_nc=in_nc, out_nc=out_nc)
        self.conv_first = _conv(in_nc, nf, 3)
        self.SCPA_trunk = make_layer(SCPA, nb, nf=nf, reduction=reduction)
        self.trunk_conv = _conv(nf, nf, 3)
        self.upconv1 = _conv(nf, unf, 3)
        self.att1 = PA(unf)
        self.HRconv1 = _conv(unf, unf, 3)
        if self.scale == 4:
            self.upconv2 = _conv(unf, unf, 3)
            self.att2 = PA(unf)
            self.HRconv2 = _conv(unf, unf, 3)
        self.conv_last = _conv(unf, out_nc, 3)

    def _stage(self, fea, factor: int, k: int):
        fea = getattr(self, f"upconv{k}")(F.interpolate(fea, scale_factor=factor, mode="nearest"))
        fea = F.leaky_relu(getattr(self, f"att{k}")(fea), _SLOPE)
        return F.leaky_relu(getattr(self, f"HRconv{k}")(fea), _SLOPE)

    def features(self, x):
        """LR-resolution features ``[N, nf, h, w]`` of ``x [N, 3, h, w]`` in [0, 1]."""
        fea = self.conv_first(x * self.img_range if self.img_range != 1.0 else x)
        return fea + self.trunk_conv(self.SCPA_trunk(fea))

    def tail(self, features, x):
        """Upsampler, ``conv_last`` and the bilinear residual: features and input of one LR region -> its SR."""
        if self.scale == 4:
            fea = self._stage(self._stage(features, 2, 1), 2, 2)
        else:
            fea = self._stage(features, self.scale, 1)
        xs = x * self.img_range if self.img_range != 1.0 else x
        out = self.conv_last(fea) + F.interpolate(xs, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out / self.img_range if self.img_range != 1.0 else out

    def forward(self, x):
        return self.tail(self.features(x), x)

    def feature_layers(self):
        """The SCPA blocks (shallow to deep), then ``trunk_conv``."""
        return [(f"SCPA_trunk.{i}", b) for i, b in enumerate(self.SCPA_trunk)] + [("trunk_conv", self.trunk_conv)]


MODEL = PAN

_BLOCK_KEY = re.compile(r"^SCPA_trunk\.(\d+)\.")
_BLOCK_PARTS = ("conv1_a", "conv1_b", "k1.0", "PAConv.k2", "PAConv.k3", "PAConv.k4", "conv3")
_STAGE = ("upconv{}", "att{}.conv", "HRconv{}")


def convert(sd: StateDict) -> StateDict:
    return sd


def detect(sd: StateDict):
    """``{nf, unf, nb, reduction, in_nc, out_nc[, upscale]}`` from the official PAN key names, or ``None`` when the
    keys are not PAN's. ``upscale`` is 4 when the second upsampling stage is present, else left to ``load`` (x2 and
    x3 have the same parameters). Missing or extra blocks raise :class:`InputError` naming them."""
    need = ("conv_first.weight", "trunk_conv.weight", "upconv1.weight", "att1.conv.weight", "HRconv1.weight",
            "conv_last.weight")
    if not all(k in sd for k in need) or not any(_BLOCK_KEY.match(k) for k in sd):
        return None
    w0 = sd["conv_first.weight"]
    nf, in_nc = int(w0.shape[0]), int(w0.shape[1])
    found = sorted({int(m.group(1)) for k in sd for m in [_BLOCK_KEY.match(k)] if m})
    nb = count_indices(sd, "SCPA_trunk.")
    present = set(found)
    n_gaps = nb - len(present)
    if n_gaps:  # named lazily and capped: a stray 'SCPA_trunk.9999999' key must not list ten million blocks
        gaps = (f"SCPA_trunk.{i}" for i in range(nb) if i not in present)
        raise InputError(f"this looks like a PAN checkpoint, but its trunk lacks block{'s' if n_gaps > 1 else ''} "
                         f"{cap_names(gaps, total=n_gaps)} (it has blocks up to SCPA_trunk.{nb - 1}): the checkpoint is "
                         "incomplete, or a stray key")
    for i in range(nb):
        lacking = [p for p in _BLOCK_PARTS if f"SCPA_trunk.{i}.{p}.weight" not in sd]
        if lacking:
            raise InputError(f"this looks like a PAN checkpoint, but block SCPA_trunk.{i} lacks {cap_names(lacking)}: "
                             "the checkpoint is incomplete or another SCPA variant")
    g = int(sd["SCPA_trunk.0.conv1_a.weight"].shape[0])
    reduction = int(sd["SCPA_trunk.0.conv3.weight"].shape[1]) // g if g else 0
    if g < 1 or reduction < 1 or nf != g * reduction:
        raise InputError(f"this looks like a PAN checkpoint, but its SCPA blocks split {nf} features into parts of {g}:"
                         " not a variant srwidgets builds")
    second = [p.format(2) + ".weight" for p in _STAGE]
    has2 = [k for k in second if k in sd]
    if has2 and len(has2) != len(second):
        raise InputError(f"this looks like a x4 PAN checkpoint, but its second upsampling stage lacks "
                         f"{', '.join(k[:-7] for k in second if k not in sd)}: the checkpoint is incomplete")
    if "upconv3.weight" in sd:
        raise InputError("this looks like a PAN checkpoint with three upsampling stages (upconv3): srwidgets builds "
                         "the official x2, x3 and x4 networks only")
    cfg = dict(nf=nf, unf=int(sd["upconv1.weight"].shape[0]), nb=nb, reduction=reduction, in_nc=in_nc,
               out_nc=int(sd["conv_last.weight"].shape[0]))
    if has2:
        cfg["upscale"] = 4
    return cfg
