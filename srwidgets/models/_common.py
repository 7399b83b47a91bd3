"""Building blocks shared by the architectures (BasicSR naming: ``make_layer`` gives ``body.0``, ``body.1``, ...)."""
from __future__ import annotations

import itertools
import math
import re
from typing import Dict, Iterable, Optional, Tuple

import torch
from torch import nn

from ..engine.probes import short  # noqa: F401  (a key name or config in a message; one home)
from ..errors import InputError

StateDict = Dict[str, torch.Tensor]


def make_layer(block, n: int, **kwargs) -> nn.Sequential:
    return nn.Sequential(*[block(**kwargs) for _ in range(n)])


class ResidualBlockNoBN(nn.Module):
    """``x + res_scale * conv2(relu(conv1(x)))`` (EDSR / SRResNet-without-BN block; keys ``conv1``, ``conv2``)."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


Region = Tuple[int, int, int, int]  # (r0, r1, c0, c1): LR rows r0:r1, columns c0:c1 (half-open)


def grow(region: Region, k: int, height: int, width: int) -> Region:
    """``region`` widened by ``k`` pixels on every side, clipped to the ``height x width`` image."""
    r0, r1, c0, c1 = region
    return max(0, r0 - k), min(height, r1 + k), max(0, c0 - k), min(width, c1 + k)


def crop_to(t: torch.Tensor, src: Region, dst: Region) -> torch.Tensor:
    """The part of ``t`` (covering ``src``) that covers ``dst`` (inside ``src``)."""
    return t[..., dst[0] - src[0]:dst[1] - src[0], dst[2] - src[2]:dst[3] - src[2]]


def blocks_on_region(blocks, x: torch.Tensor, out_region: Region, radius: int = 2) -> torch.Tensor:
    """``blocks(x)`` (a sequence of same-size blocks, each reaching ``radius`` pixels) computed only on
    ``out_region``, exactly: block ``b`` runs on its output region widened by ``radius`` and is cropped back, so the
    zero padding at the crop's inner borders never reaches a kept pixel (at the image's own borders it is the real
    padding). The work shrinks towards the output like a cone instead of covering the whole image at every block."""
    height, width = x.shape[-2:]
    regions = [out_region]
    for _ in blocks:
        regions.append(grow(regions[-1], radius, height, width))
    regions.reverse()  # regions[b] is block b's input region, regions[-1] == out_region
    h = crop_to(x, (0, height, 0, width), regions[0])
    for b, block in enumerate(blocks):
        h = crop_to(block(h), regions[b], regions[b + 1])
    return h


SUBPIXEL_SCALES = "x3 or a power of 2 (x2, x4, x8, ...)"


class Upsample(nn.Sequential):
    """Sub-pixel upsampler: scale 2^n -> n x (conv to 4C, PixelShuffle(2)); scale 3 -> conv to 9C, PixelShuffle(3).
    Its convs sit at indices 0, 2, 4, ... as in BasicSR. Other scales raise :class:`InputError`."""

    def __init__(self, scale: int, num_feat: int):
        s = int(scale) if isinstance(scale, int) and not isinstance(scale, bool) else None
        if s is None or s < 1 or not (s == 3 or s & (s - 1) == 0):
            raise InputError(f"scale {scale!r} is not supported: the sub-pixel upsampler builds "
                             f"{SUBPIXEL_SCALES} only; pick one of those scales (or a checkpoint trained for one)")
        layers = []
        if s == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            for _ in range(s.bit_length() - 1):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        super().__init__(*layers)


def upsample_scale(sd: StateDict, prefix: str, num_feat: int) -> int:
    """Read the scale of an :class:`Upsample` back from its conv shapes in a state dict: one conv to ``4C`` per
    factor 2, or a single conv to ``9C`` for x3. Any other layout (a conv to ``25C`` would mean x5, ``4C`` then
    ``9C`` x6) raises :class:`InputError` naming the scale it would mean and the supported ones."""
    convs = sorted(int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix) and k.endswith(".weight")
                   and k[len(prefix):].split(".")[0].isdigit())
    if not convs:
        raise KeyError(prefix)
    factors = []
    for i in convs:
        out_ch = sd[f"{prefix}{i}.weight"].shape[0]
        r = math.isqrt(out_ch // num_feat) if out_ch % num_feat == 0 else 0
        if r < 2 or r * r * num_feat != out_ch:
            raise InputError(
                f"the checkpoint's upsampler conv '{prefix}{i}' maps {num_feat} to {out_ch} channels, which is not "
                f"r*r*{num_feat} for a PixelShuffle(r): not a sub-pixel upsampler srwidgets can rebuild (it builds "
                f"{SUBPIXEL_SCALES}). Build this network yourself, load its weights and pass the nn.Module")
        factors.append(r)
    scale = math.prod(factors)
    if factors == [3] or all(r == 2 for r in factors):
        return scale
    stages = " then ".join(f"PixelShuffle({r})" for r in factors)
    raise InputError(
        f"the checkpoint's upsampler '{prefix}*' ({stages}) would make the model x{scale}; srwidgets' sub-pixel "
        f"upsampler supports {SUBPIXEL_SCALES} only (one conv + PixelShuffle(2) per factor 2, or one conv + "
        "PixelShuffle(3)). Use a checkpoint for a supported scale, or build this network yourself, load its weights "
        "and pass the nn.Module")




def cap_names(names: Iterable, limit: int = 5, total: Optional[int] = None, width: int = 80) -> str:
    """``"a, b, c, d, e ... and 7 more"``: at most ``limit`` names (each shortened) for a message, however many
    there are. ``names`` may be a lazy iterator (then pass ``total``, the number it would yield)."""
    if total is None:
        names = list(names)
        total = len(names)
    shown = [short(n, width) for n in itertools.islice(iter(names), limit)]
    more = total - len(shown)
    return ", ".join(shown) + (f" ... and {more} more" if more > 0 else "")


def article(word: str) -> str:
    """``"an EDSR"``, ``"a HAT"``: the family name with its article (by how it is read out)."""
    an = word in ("EDSR", "RCAN", "RRDBNet", "MSRResNet", "FSRCNN", "IMDN", "RFDN") or word[:1].lower() in "aeiou"
    return f"{'an' if an else 'a'} {word}"


def block_count(sd: StateDict, prefix: str, family: str, what: str = "block") -> int:
    """Number of blocks ``prefix{i}.`` (``i`` = 0 .. n-1) of a ``make_layer`` / ``ModuleList`` in a state dict,
    as :func:`count_indices`, but the indices must be contiguous: a stray key such as ``body.9999999.conv1.weight``
    would otherwise make the network ten million blocks deep.

    Raises:
        InputError: naming the first missing blocks and the stray key, never listing more than a few.
    """
    idx = set()
    for k in sd:
        if k.startswith(prefix):
            head = k[len(prefix):].split(".")[0]
            if head.isdigit():
                idx.add(int(head))
    if not idx:
        return 0
    n = max(idx) + 1
    if len(idx) != n:
        top = max(idx)
        stray = next(k for k in sd if k.startswith(f"{prefix}{top}."))
        missing = (f"{prefix}{i}" for i in range(n) if i not in idx)
        raise InputError(
            f"this looks like {article(family)} checkpoint, but its {what}s '{prefix}N' are not numbered 0, 1, 2, ...:"
            f" it has {len(idx)} of them, up to {prefix}{top}, and lacks {cap_names(missing, total=n - len(idx))}. "
            f"A stray key ({short(stray)!r})? Remove it, or use the complete checkpoint")
    return n


def conv_weight(sd: StateDict, key: str, family: str, ndim: int = 4) -> torch.Tensor:
    """``sd[key]``, checked to be a ``ndim``-D tensor (a conv weight ``[out, in, kh, kw]`` by default) before a
    detection reads widths from its shape; the :class:`InputError` names the key and its shape."""
    t = sd[key]
    if not isinstance(t, torch.Tensor) or t.dim() != ndim:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        kind = "a conv weight [out, in, kh, kw]" if ndim == 4 else f"a {ndim}-D tensor"
        raise InputError(f"this looks like {article(family)} checkpoint, but its {key!r} has shape {shape}: "
                         f"{kind} must be {ndim}-D. The checkpoint is damaged or another network's")
    return t


def count_indices(sd: StateDict, prefix: str) -> int:
    """Number of distinct integer children ``prefix{i}.`` in a state dict (blocks of a ``make_layer``)."""
    idx = set()
    for k in sd:
        if k.startswith(prefix):
            head = k[len(prefix):].split(".")[0]
            if head.isdigit():
                idx.add(int(head))
    return max(idx) + 1 if idx else 0


# The official EDSR-PyTorch / RCAN layout shares its head and tail: mean shifts (fixed, dropped), ``head.0`` (first
# conv), ``tail.0`` (upsampler), ``tail.1`` (last conv). Each family adds the rules for its body.
OFFICIAL_HEAD_TAIL = [
    (r"^(sub_mean|add_mean)\..*$", ""),
    (r"^head\.0\.", "conv_first."),
    (r"^tail\.0\.", "upsample."),
    (r"^tail\.1\.", "conv_last."),
]


DEFAULT_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean, EDSR-PyTorch's and BasicSR's default


def official_value_range(sd: StateDict, img_range=None):
    """``{"img_range", "rgb_mean"}`` of an official EDSR-PyTorch / RCAN checkpoint, read from its mean-shift layers,
    or ``None`` when the state dict has none (BasicSR naming: the family's defaults apply).

    The official ``MeanShift`` is a fixed 1x1 conv: ``sub_mean.bias = -rgb_range * mean / std`` and ``add_mean.bias =
    +rgb_range * mean / std``, weights ``eye / std``. The network is fed ``x * rgb_range`` (``--rgb_range``: 255 by
    default, 1 in some forks), so the biases state ``rgb_range * mean``. That product is split as follows:

    * ``img_range`` given (``load(..., img_range=)``): ``mean = bias / img_range``;
    * the bias is DIV2K's default mean times one number ``r`` (what every official training uses): ``r``;
    * otherwise, the one of ``rgb_range`` 1 and 255 that gives a plausible mean (every channel in 0.05 .. 0.95).

    Anything else (zero biases, a per-channel std, inconsistent ``sub_mean`` / ``add_mean``) raises
    :class:`InputError` saying which ``load`` option sets the range.
    """
    keys = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")
    if not any(k in sd for k in keys):
        return None
    how = ("pass it: srwidgets.models.load(path, img_range=255) for a network trained on 0..255 values "
           "(EDSR-PyTorch's default --rgb_range 255), img_range=1 for one trained on [0, 1]")
    if not all(k in sd for k in keys):
        missing = ", ".join(k for k in keys if k not in sd)
        raise InputError(f"the checkpoint has mean-shift layers but lacks {missing}: the value range it was trained "
                         f"with cannot be read; {how}")
    eye = torch.eye(3).view(3, 3, 1, 1)
    for k in ("sub_mean.weight", "add_mean.weight"):
        w = sd[k].detach().double().cpu()
        if tuple(w.shape) != (3, 3, 1, 1) or not torch.allclose(w, eye.double(), atol=1e-6):
            raise InputError(f"the checkpoint's '{k}' is not the identity: it was trained with a per-channel "
                             "--rgb_std, which srwidgets does not rebuild (the official MeanShift then divides by the "
                             "std twice). Build the network yourself and pass the nn.Module")
    sub, add = (sd[k].detach().double().cpu().flatten() for k in ("sub_mean.bias", "add_mean.bias"))
    if sub.numel() != 3 or not torch.allclose(sub, -add, rtol=1e-5, atol=1e-6):
        raise InputError(f"the checkpoint's mean shifts disagree (sub_mean.bias {sub.tolist()}, add_mean.bias "
                         f"{add.tolist()}; expected opposite values): the value range cannot be read; {how}")
    product = add
    if img_range is not None:
        r = float(img_range)
        mean = product / r
        if not bool(((mean >= 0) & (mean <= 1)).all()):
            raise InputError(f"with img_range={img_range:g} the checkpoint's mean-shift bias {product.tolist()} "
                             f"would mean an RGB mean of {[round(v, 4) for v in mean.tolist()]}, outside [0, 1]: "
                             "is img_range right? (255 for EDSR-PyTorch's default --rgb_range)")
        return dict(img_range=r, rgb_mean=tuple(float(v) for v in mean))
    default = torch.tensor(DEFAULT_RGB_MEAN, dtype=torch.float64)
    ratio = product / default
    r = float(ratio.mean())
    if r > 0 and torch.allclose(ratio, torch.full_like(ratio, r), rtol=1e-4):
        if abs(r - round(r)) <= 1e-4 * max(1.0, r):
            r = float(round(r))
        return dict(img_range=r, rgb_mean=DEFAULT_RGB_MEAN)
    plausible = [r for r in (1.0, 255.0) if bool(((product / r >= 0.05) & (product / r <= 0.95)).all())]
    if len(plausible) == 1:
        r = plausible[0]
        return dict(img_range=r, rgb_mean=tuple(float(v) for v in product / r))
    raise InputError(f"the value range this checkpoint was trained with cannot be determined: its mean-shift bias "
                     f"{[round(v, 6) for v in product.tolist()]} (= rgb_range x RGB mean) is not DIV2K's mean times a "
                     f"number, nor a plausible mean at rgb_range 1 or 255; {how}")


class FusedBlocksSR(nn.Module):
    """The layout RFDN and IMDN share: ``fea_conv`` -> numbered blocks ``{block_prefix}1..n`` (every output kept)
    -> fusion conv ``c`` on their concatenation -> ``LR_conv`` + the first features -> ``upsampler``. The network
    sees ``x · img_range`` and its output is divided back, so the module takes and returns [0, 1]. Subclasses build
    the layers in ``__init__`` and set ``num_block``, ``img_range`` and ``block_prefix``."""

    block_prefix = "B"

    def blocks(self):
        return [getattr(self, f"{self.block_prefix}{i}") for i in range(1, self.num_block + 1)]

    def features(self, x):
        """LR-resolution features ``[N, C, h, w]`` of ``x [N, 3, h, w]`` in [0, 1] (everything before the
        upsampler)."""
        fea = self.fea_conv(x * self.img_range)
        outs, h = [], fea
        for block in self.blocks():
            h = block(h)
            outs.append(h)
        return self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea

    def tail(self, features, x=None):
        """The upsampler: features ``[N, C, h, w]`` -> SR ``[N, 3, s*h, s*w]`` in about [0, 1] (``x`` is not
        used)."""
        return self.upsampler(features) / self.img_range

    def forward(self, x):
        return self.tail(self.features(x), x)

    def feature_layers(self):
        """The blocks (shallow to deep), then ``LR_conv`` (the LR-resolution features)."""
        return [(f"{self.block_prefix}{i}", b) for i, b in enumerate(self.blocks(), 1)] + [("LR_conv", self.LR_conv)]


def fused_blocks(sd: StateDict, family: str, prefix: str, num_feat: int, parts) -> int:
    """The depth of a network whose numbered blocks ``{prefix}1. ... {prefix}n.`` are all concatenated into a
    fusion conv ``c.0`` (RFDN, IMDN): ``n`` from that conv's input width, each block checked for its ``parts``.

    Raises:
        InputError: naming the missing or extra blocks, or the parts a block lacks.
    """
    fused = int(conv_weight(sd, "c.0.weight", family).shape[1])
    if num_feat < 1 or fused % num_feat:
        raise InputError(f"this looks like an {family} checkpoint, but its fusion conv 'c.0' takes {fused} channels, "
                         f"not a multiple of its {num_feat} features: the checkpoint is damaged or another variant")
    n = fused // num_feat
    block_key = re.compile(rf"^{re.escape(prefix)}(\d+)\.")
    found = sorted({int(m.group(1)) for k in sd for m in [block_key.match(k)] if m})
    expected = list(range(1, n + 1))
    if found != expected:
        missing = [f"{prefix}{i}" for i in expected if i not in found]
        extra = [f"{prefix}{i}" for i in found if i not in expected]
        problems = [f"{what} block{'s' if len(names) > 1 else ''} {cap_names(names)}"
                    for what, names in (("missing", missing), ("extra", extra)) if names]
        raise InputError(f"this looks like an {family} checkpoint with {n} blocks (its fusion conv 'c.0' takes {n} x "
                         f"{num_feat} channels), but its blocks do not match: {'; '.join(problems)}. Use the complete "
                         "checkpoint")
    for i in expected:
        lacking = [p for p in parts if f"{prefix}{i}.{p}.weight" not in sd]
        if lacking:
            raise InputError(f"this looks like an {family} checkpoint, but block {prefix}{i} lacks "
                             f"{cap_names(lacking)}: the checkpoint is incomplete or another variant")
    return n


def pixel_shuffle_factor(family: str, channels: int, out_channels: int = 3) -> int:
    """``s`` of a final conv with ``channels = out_channels · s²`` outputs feeding ``PixelShuffle(s)``."""
    r = int(round((channels / out_channels) ** 0.5))
    if r < 1 or out_channels * r * r != channels:
        raise InputError(f"this looks like an {family} checkpoint, but its upsampler conv maps to {channels} "
                         f"channels, not {out_channels}*s*s for a PixelShuffle(s): srwidgets cannot rebuild it")
    return r


def rename_official(sd: StateDict, body_rules) -> StateDict:
    """Rename an official EDSR-PyTorch / RCAN state dict to BasicSR's naming: head and tail, then ``body_rules``;
    the dropped mean-shift keys are left out."""
    return {k: v for k, v in rename(sd, OFFICIAL_HEAD_TAIL + list(body_rules)).items() if k}


def rename(sd: StateDict, rules) -> StateDict:
    """Apply ``(regex, replacement)`` rules to every key (first matching rule wins); keys matching no rule stay."""
    import re

    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            new, n = re.subn(pat, rep, k)
            if n:
                k = new
                break
        if k is not None and k != "":
            out[k] = v
    return out


class MeanShift(nn.Module):
    """Holds the fixed RGB mean and ``img_range`` of the BasicSR EDSR/RCAN/SwinIR conventions (not in state_dict)."""

    def __init__(self, rgb_mean=DEFAULT_RGB_MEAN, img_range: float = 255.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.img_range = img_range

    def normalize(self, x):
        return (x - self.mean) * self.img_range

    def denormalize(self, x):
        return x / self.img_range + self.mean


class MeanShiftResidualSR(nn.Module):
    """The BasicSR EDSR / RCAN layout: mean shift, ``conv_first``, a ``body`` (set by the subclass between
    :meth:`_build_head` and :meth:`_build_tail`, so parameters keep BasicSR's order), ``conv_after_body`` with a
    skip from ``conv_first``, sub-pixel ``upsample`` and ``conv_last``.

    Split for LAM: :meth:`features` (LR resolution) and :meth:`tail` (the upsampler, which reaches ``tail_margin``
    LR pixels: 1 (LR conv) + 1/2 (x2) + 1/4 (x4)).
    """

    tail_margin = 3

    def _build_head(self, num_feat: int, img_range: float, rgb_mean) -> None:
        self.shift = MeanShift(rgb_mean, img_range)
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)

    def _build_tail(self, num_feat: int, upscale: int) -> None:
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = Upsample(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)

    def features(self, x):
        """LR-resolution features ``[N, C, h, w]`` (everything before the upsampler)."""
        x = self.conv_first(self.shift.normalize(x))
        return self.conv_after_body(self.body(x)) + x

    def tail(self, features, x=None):
        """Upsampler and output conv: features ``[N, C, h, w]`` -> SR ``[N, 3, s*h, s*w]``."""
        return self.shift.denormalize(self.conv_last(self.upsample(features)))

    def forward(self, x):
        return self.tail(self.features(x), x)

    def feature_layers(self):
        """Residual blocks (or groups) of the body, then ``conv_after_body`` (shallow to deep)."""
        return [(f"body.{i}", m) for i, m in enumerate(self.body)] + [("conv_after_body", self.conv_after_body)]
