"""RRDBNet (ESRGAN, Wang et al. 2018; Real-ESRGAN, Wang et al. 2021), BasicSR parameter naming.

ESRGAN / Real-ESRGAN x4: 64 features, 23 RRDB blocks, growth 32 (``RealESRGAN_x4plus_anime_6B``: 6 blocks).
Scales 2 and 1 use BasicSR's trick: the input is pixel-unshuffled by 2 (x2) or 4 (x1) first, so ``conv_first`` takes
12 or 48 channels, and the same x4 trunk brings the image back up.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import StateDict, block_count, make_layer, rename

ARCH = "RRDBNet"

# scale -> pixel-unshuffle factor in front of conv_first (BasicSR); the trunk always upsamples x4.
_UNSHUFFLE = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (keys ``conv1`` .. ``conv5``); returns ``x + 0.2 * conv5(...)``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(5):
            cin = num_feat + i * num_grow_ch
            cout = num_feat if i == 4 else num_grow_ch
            setattr(self, f"conv{i + 1}", nn.Conv2d(cin, cout, 3, 1, 1))
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        feats = [x]
        for i in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`ResidualDenseBlock` (``rdb1..3``), ``x + 0.2 * rdb3(rdb2(rdb1(x)))``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]`` (s = 4, 2 or 1). Keys: ``conv_first``,
    ``body.i.rdb{1,2,3}.conv{1..5}``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``.

    For x2 / x1 an ``h`` or ``w`` that is not a multiple of 2 / 4 is reflect-padded and the output cropped back,
    as Real-ESRGAN's inference does; otherwise the forward pass is BasicSR's exactly (no mean shift, range [0, 1]).
    """

    arch = ARCH

    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32, upscale: int = 4):
        super().__init__()
        if int(upscale) not in _UNSHUFFLE:
            raise ValueError(f"RRDBNet supports upscale 1, 2 or 4, not {upscale!r}")
        self.scale = int(upscale)
        self.config = dict(num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch, upscale=self.scale)
        self.unshuffle = _UNSHUFFLE[self.scale]
        self.conv_first = nn.Conv2d(3 * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        h, w = x.shape[-2:]
        r = self.unshuffle
        if r > 1:
            ph, pw = (-h) % r, (-w) % r
            if ph or pw:
                mode = "reflect" if ph < h and pw < w else "replicate"
                x = F.pad(x, (0, pw, 0, ph), mode=mode)
            x = F.pixel_unshuffle(x, r)  # channel order c*r*r + i*r + j, the same as BasicSR's pixel_unshuffle
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : self.scale * h, : self.scale * w]


    def feature_layers(self):
        """The RRDB blocks of the body, then ``conv_body`` (LR resolution, after pixel unshuffle for x1/x2)."""
        return [(f"body.{i}", m) for i, m in enumerate(self.body)] + [("conv_body", self.conv_body)]


MODEL = RRDBNet


def convert(sd: StateDict) -> StateDict:
    """Map the official ESRGAN naming to ours: ``RRDB_trunk.i.RDBk.convj``, ``trunk_conv``, ``upconv1/2``,
    ``HRconv`` (``RRDBNet_arch.py``), and the older sequential one (``model.0``, ``model.1.sub.i.RDBk.convj.0``,
    ``model.1.sub.N``, ``model.3/6/8/10``, x4) that ``transer_RRDB_models.py`` converts from."""
    if "RRDB_trunk.0.RDB1.conv1.weight" in sd and "trunk_conv.weight" in sd:
        rules = [
            (r"^RRDB_trunk\.(\d+)\.RDB([123])\.", r"body.\1.rdb\2."),
            (r"^trunk_conv\.", "conv_body."),
            (r"^upconv1\.", "conv_up1."),
            (r"^upconv2\.", "conv_up2."),
            (r"^HRconv\.", "conv_hr."),
        ]
        return rename(sd, rules)
    if "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd and "model.10.weight" in sd:
        n = block_count(sd, "model.1.sub.", ARCH) - 1  # the last child of the trunk is the trunk conv
        rules = [
            (r"^model\.0\.", "conv_first."),
            (r"^model\.1\.sub\.(\d+)\.RDB([123])\.(conv\d)\.0\.", r"body.\1.rdb\2.\3."),
            (rf"^model\.1\.sub\.{n}\.", "conv_body."),
            (r"^model\.3\.", "conv_up1."),
            (r"^model\.6\.", "conv_up2."),
            (r"^model\.8\.", "conv_hr."),
            (r"^model\.10\.", "conv_last."),
        ]
        return rename(sd, rules)
    return sd


def detect(sd: StateDict):
    need = ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
            "conv_up2.weight", "conv_hr.weight", "conv_last.weight")
    if not all(k in sd for k in need):
        return None
    first = sd["conv_first.weight"]
    scale = {3: 4, 12: 2, 48: 1}.get(first.shape[1])
    if scale is None or sd["conv_last.weight"].shape[0] != 3:
        return None  # not an RGB model (e.g. a 1-channel one)
    return dict(num_feat=first.shape[0], num_block=block_count(sd, "body.", ARCH),
                num_grow_ch=sd["body.0.rdb1.conv1.weight"].shape[0], upscale=scale)
