"""CARN and CARN-M: cascading residual networks (Ahn, Kang, Sohn, "Fast, Accurate, and Lightweight
Super-Resolution with Cascading Residual Network", ECCV 2018).

Written for srwidgets from the paper's structure and the public parameter names of the official code
(github.com/nmhkahn/CARN-pytorch), so that its checkpoints (e.g. ``carn_m.pth``: CARN-M, 64 features, one file for
x2, x3 and x4) load as they are:

* ``sub_mean.shifter``: a fixed 1x1 conv subtracting the DIV2K RGB mean (0.4488, 0.4371, 0.4040);
* ``entry`` (3x3, 3 -> C);
* three cascading blocks ``b1``, ``b2``, ``b3``; after block ``k`` a 1x1 conv ``c{k}`` (+ ReLU) fuses the
  concatenation of the entry features and every block output so far (``(k+1)·C -> C``): the *global cascade*;
* ``upsample``: one sub-pixel upsampler ``upsample.up`` (a single-scale file), or one per scale
  ``upsample.up2`` / ``up3`` / ``up4`` (a multi-scale file: the official code picks one by the scale it is called
  with). Each is 3x3 conv (C -> r²C, ``group`` groups) + ReLU + PixelShuffle(r), once for x3 and once per factor 2
  for x2 / x4 / x8: convs at ``body.0``, ``body.3``, ...;
* ``exit`` (3x3, C -> 3), then ``add_mean.shifter`` adds the mean back.

Inside a block the same cascade runs locally: CARN's block holds three residual blocks ``b1``, ``b2``, ``b3``
(3x3 conv, ReLU, 3x3 conv, + input, ReLU) with fusions ``c1``, ``c2``, ``c3``. CARN-M's block holds *one* efficient
residual block ``b1`` (grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1, + input, ReLU; 4 groups) applied three times with
shared weights (the paper's "recursive" sharing), with its own ``c1``, ``c2``, ``c3``.

Value range: the official code feeds RGB in [0, 1] (its test set converts with ``ToTensor``, ``sample.py`` writes
``output * 255``), and its mean shifts hold the mean in [0, 1]: srwidgets' convention (``img_range=1``). The mean
shifts are kept as the checkpoint stores them (buffers, not parameters: nothing trains them). A checkpoint whose
mean-shift biases hold the mean times 255 was trained on 0..255 values: ``load`` reads that (``img_range=255``).
"""
from __future__ import annotations

import math
import re
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import (DEFAULT_RGB_MEAN, SUBPIXEL_SCALES, StateDict, cap_names, conv_weight, official_value_range,
                      upsample_scale)

ARCH = "CARN"
ARCH_M = "CARN-M"
MULTI_SCALES = (2, 3, 4)  # the official multi-scale files' upsamplers


def _supported(s) -> bool:
    return isinstance(s, int) and not isinstance(s, bool) and s >= 2 and (s == 3 or s & (s - 1) == 0)


class MeanShift(nn.Module):
    """The official fixed 1x1 conv ``shifter`` adding ``sign * mean`` per channel: ``[N, 3, h, w]`` -> same.
    Its ``weight`` (identity) and ``bias`` are buffers named as the official parameters, so checkpoints load into
    them and nothing trains them."""

    def __init__(self, sign: int, rgb_mean: Sequence[float] = DEFAULT_RGB_MEAN):
        super().__init__()
        self.shifter = nn.Module()
        self.shifter.register_buffer("weight", torch.eye(3).view(3, 3, 1, 1))
        self.shifter.register_buffer("bias", sign * torch.tensor([float(m) for m in rgb_mean]))

    def forward(self, x):
        return F.conv2d(x, self.shifter.weight, self.shifter.bias)


class ConvReLU(nn.Module):
    """``relu(conv(x))``; key ``body.0`` (the official ``BasicBlock``)."""

    def __init__(self, cin: int, cout: int, k: int = 1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, k, 1, (k - 1) // 2), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class ResidualBlock(nn.Module):
    """CARN's residual block: ``relu(x + conv(relu(conv(x))))``, 3x3 convs; keys ``body.0``, ``body.2``."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(num_feat, num_feat, 3, 1, 1))

    def forward(self, x):
        return F.relu(self.body(x) + x)


class EResidualBlock(nn.Module):
    """CARN-M's efficient residual block: grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1 (mixes the groups), + input,
    ReLU; keys ``body.0``, ``body.2``, ``body.4``."""

    def __init__(self, num_feat: int, group: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, groups=group), nn.ReLU(),
                                  nn.Conv2d(num_feat, num_feat, 3, 1, 1, groups=group), nn.ReLU(),
                                  nn.Conv2d(num_feat, num_feat, 1))

    def forward(self, x):
        return F.relu(self.body(x) + x)


def cascade(x: torch.Tensor, units, fusions) -> torch.Tensor:
    """The cascading mechanism (local in a block, global in the network): after unit ``k`` the 1x1 fusion ``k``
    reads the concatenation of ``x`` and every unit output so far; the last fusion's output is returned."""
    kept, o = x, x
    for unit, fuse in zip(units, fusions):
        kept = torch.cat([kept, unit(o)], dim=1)
        o = fuse(kept)
    return o


class CascadingBlock(nn.Module):
    """CARN's block (keys ``b1..b3``: :class:`ResidualBlock`, ``c1..c3``: 1x1 fusions): ``[N, C, h, w]`` -> same."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.b1, self.b2, self.b3 = (ResidualBlock(num_feat) for _ in range(3))
        self.c1, self.c2, self.c3 = (ConvReLU(k * num_feat, num_feat) for k in (2, 3, 4))

    def forward(self, x):
        return cascade(x, (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))


class MobileCascadingBlock(nn.Module):
    """CARN-M's block: one :class:`EResidualBlock` ``b1`` run three times (shared weights) with fusions
    ``c1..c3``: ``[N, C, h, w]`` -> same."""

    def __init__(self, num_feat: int, group: int):
        super().__init__()
        self.b1 = EResidualBlock(num_feat, group)
        self.c1, self.c2, self.c3 = (ConvReLU(k * num_feat, num_feat) for k in (2, 3, 4))

    def forward(self, x):
        return cascade(x, (self.b1, self.b1, self.b1), (self.c1, self.c2, self.c3))


class SubPixelUp(nn.Module):
    """One scale's upsampler: per factor (3, or 2 repeated) a 3x3 conv ``C -> r²C`` in ``group`` groups, ReLU,
    PixelShuffle(r); ``[N, C, h, w]`` -> ``[N, C, s·h, s·w]``. Convs at ``body.0``, ``body.3``, ``body.6``."""

    def __init__(self, num_feat: int, scale: int, group: int):
        super().__init__()
        factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
        layers = []
        for r in factors:
            layers += [nn.Conv2d(num_feat, r * r * num_feat, 3, 1, 1, groups=group), nn.ReLU(), nn.PixelShuffle(r)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class CARN(nn.Module):
    """``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s·h, s·w]`` RGB in about [0, 1] (not clipped), any ``h, w``.

    Args:
        num_feat: features ``C`` (64 in the official models).
        upscale: the scale ``s`` this model runs at (``.scale``).
        scales: ``None`` for a single-scale network (one upsampler ``upsample.up``); or the scales of a
            multi-scale network (``(2, 3, 4)`` officially), one upsampler ``upsample.up{k}`` each, of which the
            model runs the one for ``upscale``. Each scale must be x3 or a power of 2.
        group: groups of the upsampler's convs (1 in CARN; 4 in CARN-M, where the residual blocks use it too).
        img_range: the values the network works on are ``x · img_range`` (1: the official [0, 1]); the output is
            divided back.

    Split for LAM: :meth:`features` (LR resolution: everything before the upsampler) and :meth:`tail` (upsampler,
    ``exit`` and the mean: they reach ``tail_margin`` = 2 LR pixels). :meth:`feature_layers`: the three cascading
    blocks, then ``c3`` (the fused LR features).

    >>> m = CARN(num_feat=8, upscale=3, scales=(2, 3, 4)).eval()
    >>> tuple(m(torch.rand(1, 3, 5, 6)).shape), m.scale, sorted(n for n, _ in m.upsample.named_children())
    ((1, 3, 15, 18), 3, ['up2', 'up3', 'up4'])
    >>> [name for name, _ in m.feature_layers()]
    ['b1', 'b2', 'b3', 'c3']
    """

    arch = ARCH
    tail_margin = 2  # upsampler conv: 1 LR pixel; the convs after each PixelShuffle: 1/2 + 1/4 + ... more
    _mobile = False

    def __init__(self, num_feat: int = 64, upscale: int = 4, scales: Optional[Sequence[int]] = None, group: int = 1,
                 img_range: float = 1.0):
        super().__init__()
        name = self.arch
        if not _supported(upscale):
            raise InputError(f"{name}: upscale must be {SUBPIXEL_SCALES}, got {upscale!r}")
        if scales is not None:
            seq = list(scales) if isinstance(scales, (tuple, list)) else None
            if not seq or not all(_supported(s) for s in seq) or len(set(seq)) != len(seq):
                raise InputError(f"{name}: scales must be None (a single-scale network) or distinct scales, each "
                                 f"{SUBPIXEL_SCALES}, e.g. (2, 3, 4), got {scales!r}")
            scales = tuple(sorted(int(s) for s in seq))
            if upscale not in scales:
                raise InputError(f"{name}: this multi-scale network has upsamplers for "
                                 f"{', '.join(f'x{s}' for s in scales)} only, not x{upscale}; pick one of them")
        if isinstance(num_feat, bool) or not isinstance(num_feat, int) or num_feat < 1:
            raise InputError(f"{name}: num_feat must be a positive integer (64 officially), got {num_feat!r}")
        if isinstance(group, bool) or not isinstance(group, int) or group < 1 or num_feat % group:
            raise InputError(f"{name}: group must be a positive integer dividing num_feat={num_feat} (1 in CARN, "
                             f"4 in CARN-M), got {group!r}")
        if isinstance(img_range, bool) or not isinstance(img_range, (int, float)) or not img_range > 0 or \
                not math.isfinite(img_range):
            raise InputError(f"{name}: img_range must be a positive number (1 for the official weights, 255 for a "
                             f"network trained on 0..255 values), got {img_range!r}")
        self.scale = int(upscale)
        self.scales = scales
        self.img_range = float(img_range)
        self.config = dict(num_feat=num_feat, upscale=int(upscale), scales=scales, group=group,
                           img_range=float(img_range))
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.entry = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.b1, self.b2, self.b3 = (self._block(num_feat, group) for _ in range(3))
        self.c1, self.c2, self.c3 = (ConvReLU(k * num_feat, num_feat) for k in (2, 3, 4))
        self.upsample = nn.Module()
        if scales is None:
            self.upsample.up = SubPixelUp(num_feat, self.scale, group)
        else:
            for s in scales:
                setattr(self.upsample, f"up{s}", SubPixelUp(num_feat, s, group))
        self.exit = nn.Conv2d(num_feat, 3, 3, 1, 1)

    def _block(self, num_feat: int, group: int) -> nn.Module:
        return CascadingBlock(num_feat)

    def features(self, x):
        """LR-resolution features ``[N, C, h, w]`` of ``x [N, 3, h, w]`` in [0, 1]: the global cascade's output."""
        x = self.entry(self.sub_mean(x * self.img_range))
        return cascade(x, (self.b1, self.b2, self.b3), (self.c1, self.c2, self.c3))

    def tail(self, features, x=None):
        """The upsampler for ``.scale``, ``exit`` and the mean: features ``[N, C, h, w]`` -> SR
        ``[N, 3, s·h, s·w]`` in about [0, 1] (``x`` is not used)."""
        up = self.upsample.up if self.scales is None else getattr(self.upsample, f"up{self.scale}")
        return self.add_mean(self.exit(up(features))) / self.img_range

    def forward(self, x):
        return self.tail(self.features(x), x)

    def feature_layers(self):
        """The cascading blocks ``b1``, ``b2``, ``b3`` (shallow to deep), then ``c3`` (the fused LR features the
        upsampler reads)."""
        return [("b1", self.b1), ("b2", self.b2), ("b3", self.b3), ("c3", self.c3)]


class CARNM(CARN):
    """CARN-M (mobile): :class:`CARN` with :class:`MobileCascadingBlock` blocks (one shared efficient residual
    block each, ``group`` groups: 4 officially); same keys but ``b{k}.b1.body.{0,2,4}`` and no ``b{k}.b2``/``b3``.

    >>> m = CARNM(num_feat=8, upscale=2, group=4).eval()
    >>> tuple(m(torch.rand(1, 3, 5, 6)).shape), m.arch
    ((1, 3, 10, 12), 'CARN-M')
    """

    arch = ARCH_M

    def __init__(self, num_feat: int = 64, upscale: int = 4, scales: Optional[Sequence[int]] = None, group: int = 4,
                 img_range: float = 1.0):
        super().__init__(num_feat=num_feat, upscale=upscale, scales=scales, group=group, img_range=img_range)

    def _block(self, num_feat: int, group: int) -> nn.Module:
        return MobileCascadingBlock(num_feat, group)


MODEL = CARN

# ------------------------------------------------------------------------------------------------- detection
_UP_KEY = re.compile(r"^upsample\.up(\d*)\.body\.\d+\.weight$")


def convert(sd: StateDict) -> StateDict:
    return sd


def _family_of(sd: StateDict) -> Optional[str]:
    """``"CARN"``, ``"CARN-M"`` or ``None``: the official CARN layout has a cascading block ``b1`` with fusions
    (``b1.c1.body.0``) and an upsampler ``upsample.up*``; CARN-M's blocks hold one residual block (no ``b1.b2``)."""
    if "b1.c1.body.0.weight" not in sd or not any(_UP_KEY.match(k) for k in sd):
        return None
    full = any(k.startswith(("b1.b2.", "b1.b3.", "b2.b2.", "b3.b2.")) for k in sd)
    return ARCH if full else ARCH_M


def _detect(sd: StateDict, arch: str):
    if _family_of(sd) != arch:
        return None
    needed = ["entry.weight", "exit.weight", "c1.body.0.weight", "c2.body.0.weight", "c3.body.0.weight",
              "sub_mean.shifter.bias", "add_mean.shifter.bias"]
    needed += [f"b{k}.b1.body.0.weight" for k in (1, 2, 3)]
    missing = [k for k in needed if k not in sd]
    if missing:
        raise InputError(f"this looks like a {arch} checkpoint, but it lacks {cap_names(missing)}: the checkpoint is "
                         "incomplete or another variant; use the complete checkpoint")
    entry = conv_weight(sd, "entry.weight", arch)
    num_feat = int(entry.shape[0])
    if int(entry.shape[1]) != 3 or int(conv_weight(sd, "exit.weight", arch).shape[0]) != 3:
        raise InputError(f"this looks like a {arch} checkpoint, but its 'entry' / 'exit' convs take "
                         f"{int(entry.shape[1])} / give {int(sd['exit.weight'].shape[0])} channels: srwidgets builds "
                         "RGB CARNs (3 channels), as the official code does")
    names = sorted({m.group(1) for k in sd for m in [_UP_KEY.match(k)] if m})
    if "" in names and len(names) > 1:
        raise InputError(f"this looks like a {arch} checkpoint, but it holds both a single-scale upsampler "
                         f"'upsample.up' and per-scale ones ({', '.join('upsample.up' + n for n in names if n)}): "
                         "it mixes two networks' weights; use one checkpoint")
    first = next(k for k in sd if _UP_KEY.match(k))
    per_group = int(conv_weight(sd, first, arch).shape[1])
    up_group = num_feat // per_group if per_group else 0
    if up_group < 1 or up_group * per_group != num_feat:
        raise InputError(f"this looks like a {arch} checkpoint, but its upsampler conv {first!r} reads "
                         f"{int(sd[first].shape[1])} channels per group of {num_feat} features: not a CARN upsampler")
    if arch == ARCH_M:
        block = int(conv_weight(sd, "b1.b1.body.0.weight", arch).shape[1])
        group = num_feat // block if block else 0
        if group < 1 or group * block != num_feat or group != up_group:
            raise InputError(f"this looks like a CARN-M checkpoint, but its residual blocks read {block} channels per "
                             f"group and its upsampler {int(sd[first].shape[1])}: srwidgets builds CARN-M with one "
                             "group count for both, as the official code does")
    config = dict(num_feat=num_feat, group=up_group)
    if names == [""]:
        config["upscale"] = _up_scale(sd, "upsample.up.body.", num_feat, up_group, arch)
        config["scales"] = None
        return config
    scales = []
    for n in names:
        s = _up_scale(sd, f"upsample.up{n}.body.", num_feat, up_group, arch)
        if str(s) != n:
            raise InputError(f"this looks like a multi-scale {arch} checkpoint, but its upsampler 'upsample.up{n}' "
                             f"makes the image x{s} larger, not x{n}: the checkpoint is damaged or another variant")
        scales.append(s)
    config["scales"] = tuple(sorted(scales))  # ``upscale`` comes from ``load(path, scale=...)``
    return config


def _up_scale(sd: StateDict, prefix: str, num_feat: int, group: int, arch: str) -> int:
    """The scale of one official upsampler (convs at ``body.0``, ``body.3``, ...), from its conv shapes."""
    scale = upsample_scale(sd, prefix, num_feat)
    found = sorted(int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix) and k.endswith(".weight"))
    expected = [3 * i for i in range(len(found))]
    if found != expected or not _supported(scale):
        raise InputError(f"this looks like a {arch} checkpoint, but its upsampler '{prefix[:-6]}' has convs at "
                         f"{', '.join(f'body.{i}' for i in found)}, not at {', '.join(f'body.{i}' for i in expected)} "
                         "(conv, ReLU, PixelShuffle per stage): another variant, which srwidgets does not build")
    return scale


def detect(sd: StateDict):
    """``{num_feat, group, upscale, scales}`` of an official CARN state dict, or ``None`` when the keys are not
    CARN's. A multi-scale file (``upsample.up2/up3/up4``) gives ``scales`` and no ``upscale``: ``load`` takes it from
    ``scale=``. An incomplete or inconsistent CARN state dict raises :class:`InputError` naming what is wrong."""
    return _detect(sd, ARCH)


def detect_mobile(sd: StateDict):
    """:func:`detect` for CARN-M."""
    return _detect(sd, ARCH_M)


def value_range(sd: StateDict, img_range=None):
    """``{"img_range"}`` read from the official mean-shift biases (``sub_mean.shifter.bias = -range · mean``): 1 for
    the official checkpoints (the mean in [0, 1]); ``None`` without them. The mean itself stays in the buffers."""
    renamed = {k.replace(".shifter.", "."): v for k, v in sd.items() if k.startswith(("sub_mean.", "add_mean."))}
    found = official_value_range(renamed, img_range)
    return None if found is None else {"img_range": found["img_range"]}


def scales_in(config: dict) -> Tuple[int, ...]:
    """The scales a (detected) CARN config can run at: its ``scales``, else its ``upscale``."""
    return tuple(config.get("scales") or ((config["upscale"],) if config.get("upscale") else ()))
