"""SwinIR (Liang et al. 2021), with the parameter and buffer names of the official code and of BasicSR.

Variants (``upsampler``):

* ``"pixelshuffle"``: classical SR (SwinIR-M: embed 180, depths 6x6, heads 6x6, window 8, mlp ratio 2), x2/x3/x4/x8;
* ``"pixelshuffledirect"``: lightweight SR (SwinIR-S: embed 60, depths 4x6, heads 4x6), one conv + PixelShuffle;
* ``"nearest+conv"``: real-world SR, x4 (``conv_up1``, ``conv_up2``) or x2 (``conv_up1`` only, as the official code
  builds it for ``upscale=2``); SwinIR-L uses embed 240, depths 9x6, heads 9x8, ``resi_connection="3conv"``;
* ``""``: no upsampler (colour denoising / JPEG artifact reduction, upscale 1, ``out = x + conv_last(...)``). The
  official colour JPEG models (``task='color_jpeg_car'``: window 7, since JPEG works on 8x8 blocks) are trained with
  ``img_range=255``, the colour denoisers (window 8) with ``img_range=1``; :func:`detect` tells them apart by the
  window size. Either way the model takes and returns [0, 1].

The official code keeps each shifted block's attention mask as a persistent buffer ``...blocks.j.attn_mask`` whose
shape depends on the training ``img_size``. Here the mask is computed for the actual (padded) input size at every
forward pass and is not part of the state dict: :func:`convert` drops ``attn_mask`` keys, and loading a state dict
that still holds them works too (``strict=True`` included). ``attn.relative_position_index`` is a persistent buffer
as in the official code (filled in when a checkpoint lacks it).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from ._common import MeanShift, StateDict, Upsample, block_count, upsample_scale

ARCH = "SwinIR"
UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "")
_NUM_FEAT = 64  # width of the reconstruction convs in the official code (fixed)


def window_partition(x, ws: int):
    """``[b, h, w, c]`` -> ``[b * h/ws * w/ws, ws*ws, c]`` (windows in row-major order per image)."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(windows, ws: int, h: int, w: int):
    """Inverse of :func:`window_partition`: ``[b * nW, ws*ws, c]`` -> ``[b, h, w, c]``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, ws: int, shift: int, device=None, dtype=torch.float32):
    """Attention mask ``[nW, ws*ws, ws*ws]`` (0 or -100) for shifted windows on an ``h x w`` map (multiples of ws):
    after the cyclic shift, tokens that came from different image regions must not attend to each other."""
    region = torch.zeros(1, h, w, 1, device=device, dtype=dtype)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wsl in cuts:
            region[:, hs, wsl, :] = label
            label += 1
    win = window_partition(region, ws).squeeze(-1)  # nW, ws*ws
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


def relative_position_index(ws: int) -> torch.Tensor:
    """``[ws*ws, ws*ws]`` index into the ``(2ws-1)^2`` relative position bias table (Swin Transformer convention)."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # 2, ws*ws
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)  # ws*ws, ws*ws, 2
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ``ws x ws`` windows with a learned relative position bias.
    Keys: ``relative_position_bias_table`` ``[(2ws-1)^2, heads]``, ``relative_position_index`` (buffer),
    ``qkv`` (``dim -> 3 dim``), ``proj``."""

    def __init__(self, dim: int, window_size: int, num_heads: int):
        super().__init__()
        self.dim, self.window_size, self.num_heads = dim, window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Older exports leave the (deterministic) index out; supply it so strict loading still works.
        state_dict.setdefault(prefix + "relative_position_index", self.relative_position_index.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x, mask=None):
        """``x``: ``[b*nW, n, c]`` (n = ws*ws); ``mask``: ``[nW, n, n]`` or None. Returns ``[b*nW, n, c]``."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)  # b*nW, heads, n, n
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(bw, self.num_heads, n, n)
        attn = self.softmax(attn)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` (keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    """(Shifted-)window attention + MLP, pre-norm (keys ``norm1``, ``attn.*``, ``norm2``, ``mlp.fc{1,2}``).
    Tokens ``[b, h*w, c]``; ``h``, ``w`` multiples of the window size. Odd blocks shift by ``ws // 2``."""

    def __init__(self, dim: int, num_heads: int, window_size: int, shift_size: int, mlp_ratio: float):
        super().__init__()
        self.window_size, self.shift_size = window_size, shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The official code stores the img_size-dependent mask; ours is computed per input size, so ignore it.
        state_dict.pop(prefix + "attn_mask", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x, x_size, mask=None):
        h, w = x_size
        b, _, c = x.shape
        ws, sh = self.window_size, self.shift_size
        y = self.norm1(x).view(b, h, w, c)
        if sh:
            y = torch.roll(y, shifts=(-sh, -sh), dims=(1, 2))
        y = self.attn(window_partition(y, ws), mask=mask if sh else None)
        y = window_reverse(y, ws, h, w)
        if sh:
            y = torch.roll(y, shifts=(sh, sh), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class BasicLayer(nn.Module):
    """``depth`` Swin blocks (key ``blocks.j``), alternating plain and shifted windows."""

    def __init__(self, dim, depth, num_heads, window_size, mlp_ratio):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, num_heads, window_size, 0 if j % 2 == 0 else window_size // 2, mlp_ratio)
            for j in range(depth)
        )

    def forward(self, x, x_size, mask=None):
        for blk in self.blocks:
            x = blk(x, x_size, mask)
        return x


def _resi_conv(dim: int, kind: str) -> nn.Module:
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    if kind == "3conv":  # keys .0, .2, .4 as in the official code
        return nn.Sequential(nn.Conv2d(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                             nn.Conv2d(dim // 4, dim // 4, 1, 1, 0), nn.LeakyReLU(0.2, inplace=True),
                             nn.Conv2d(dim // 4, dim, 3, 1, 1))
    raise ValueError(f"resi_connection must be '1conv' or '3conv', not {kind!r}")


def to_tokens(x):
    """``[b, c, h, w]`` feature map -> ``[b, h·w, c]`` tokens (shared with HAT)."""
    return x.flatten(2).transpose(1, 2)  # b, c, h, w -> b, h*w, c


def to_image(x, x_size):
    """``[b, h·w, c]`` tokens -> ``[b, c, h, w]`` with ``x_size = (h, w)`` (shared with HAT)."""
    return x.transpose(1, 2).reshape(x.shape[0], -1, x_size[0], x_size[1])  # b, h*w, c -> b, c, h, w


class RSTB(nn.Module):
    """Residual Swin Transformer block: ``x + tokens(conv(image(residual_group(x))))`` (keys ``residual_group``,
    ``conv``)."""

    def __init__(self, dim, depth, num_heads, window_size, mlp_ratio, resi_connection="1conv"):
        super().__init__()
        self.residual_group = BasicLayer(dim, depth, num_heads, window_size, mlp_ratio)
        self.conv = _resi_conv(dim, resi_connection)

    def forward(self, x, x_size, mask=None):
        return x + to_tokens(self.conv(to_image(self.residual_group(x, x_size, mask), x_size)))


class PatchEmbed(nn.Module):
    """Image -> tokens, then LayerNorm (key ``norm``); patch size 1 as in every SwinIR checkpoint."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(to_tokens(x))


class UpsampleOneStep(nn.Sequential):
    """Lightweight upsampler: one conv to ``3 * s^2`` channels (key ``0``) + PixelShuffle(s)."""

    def __init__(self, scale: int, dim: int, out_ch: int = 3):
        super().__init__(nn.Conv2d(dim, scale * scale * out_ch, 3, 1, 1), nn.PixelShuffle(scale))


class WindowTransformerSR(nn.Module):
    """What SwinIR and HAT share: transformer weight init, padding to window multiples, and the feature layers
    (the residual groups, token outputs ``[N, H·W, C]``, then ``conv_after_body``, ``[N, C, H, W]``)."""

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def pad(self, x):
        """Reflect-pad ``[N, C, h, w]`` at the bottom/right to multiples of ``window_size`` (replicate when the
        image is too small to reflect)."""
        h, w = x.shape[-2:]
        ws = self.window_size
        ph, pw = (-h) % ws, (-w) % ws
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        return x

    def feature_layers(self):
        """The residual groups ``layers.i`` (shallow to deep), then ``conv_after_body``."""
        return [(f"layers.{i}", m) for i, m in enumerate(self.layers)] + [("conv_after_body", self.conv_after_body)]


class SwinIR(WindowTransformerSR):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]``. Keys: ``conv_first``, ``patch_embed.norm``,
    ``layers.i.residual_group.blocks.j.{norm1, attn.relative_position_bias_table, attn.relative_position_index,
    attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``layers.i.conv``, ``norm``, ``conv_after_body``, then per
    ``upsampler``: ``conv_before_upsample.0``, ``upsample.{0,2}``, ``conv_last`` (pixelshuffle); ``upsample.0``
    (pixelshuffledirect); ``conv_before_upsample.0``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``
    (nearest+conv); ``conv_last`` ("", x1, residual).

    Any ``h, w`` works: the input is reflect-padded at the bottom/right to a multiple of ``window_size`` and the
    output cropped back, as the official ``check_image_size`` does; the shifted-window mask is built for the padded
    size. ``img_size`` is accepted for compatibility with the official options and has no effect here (the official
    code only uses it to precompute the mask). Input is normalised as ``(x - rgb_mean) * img_range``.
    """

    arch = ARCH

    def __init__(self, embed_dim: int = 96, depths=(6, 6, 6, 6), num_heads=(6, 6, 6, 6), window_size: int = 7,
                 mlp_ratio: float = 4.0, upscale: int = 2, upsampler: str = "pixelshuffle",
                 resi_connection: str = "1conv", img_range: float = 1.0, rgb_mean=(0.4488, 0.4371, 0.4040),
                 img_size=64, in_chans: int = 3, patch_size: int = 1):
        super().__init__()
        if in_chans != 3 or patch_size != 1:
            raise ValueError("srwidgets' SwinIR takes RGB input (in_chans=3) with patch_size=1, as all SR checkpoints do")
        depths, num_heads = tuple(int(d) for d in depths), tuple(int(h) for h in num_heads)
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {depths} and num_heads {num_heads} must have the same length")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, not {upsampler!r}")
        if upsampler == "nearest+conv" and int(upscale) not in (2, 4):
            raise ValueError("the 'nearest+conv' upsampler is x2 or x4 (as in the official code)")
        if upsampler == "" and int(upscale) != 1:
            raise ValueError("upsampler '' (denoising / JPEG) means upscale 1")
        self.scale = int(upscale)
        self.upsampler = upsampler
        self.window_size = int(window_size)
        self.config = dict(embed_dim=embed_dim, depths=depths, num_heads=num_heads, window_size=self.window_size,
                           mlp_ratio=float(mlp_ratio), upscale=self.scale, upsampler=upsampler,
                           resi_connection=resi_connection, img_range=float(img_range), rgb_mean=tuple(rgb_mean))
        self.shift = MeanShift(rgb_mean, img_range)

        self.conv_first = nn.Conv2d(3, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            RSTB(embed_dim, d, h, self.window_size, mlp_ratio, resi_connection) for d, h in zip(depths, num_heads)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _resi_conv(embed_dim, resi_connection)

        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, _NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True))
            self.upsample = Upsample(self.scale, _NUM_FEAT)
            self.conv_last = nn.Conv2d(_NUM_FEAT, 3, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = UpsampleOneStep(self.scale, embed_dim)
        elif upsampler == "nearest+conv":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, _NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True))
            self.conv_up1 = nn.Conv2d(_NUM_FEAT, _NUM_FEAT, 3, 1, 1)
            if self.scale == 4:
                self.conv_up2 = nn.Conv2d(_NUM_FEAT, _NUM_FEAT, 3, 1, 1)
            self.conv_hr = nn.Conv2d(_NUM_FEAT, _NUM_FEAT, 3, 1, 1)
            self.conv_last = nn.Conv2d(_NUM_FEAT, 3, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        else:
            self.conv_last = nn.Conv2d(embed_dim, 3, 3, 1, 1)
        self.apply(self._init_weights)

    def forward_features(self, x):
        """Deep features ``[N, C, H, W]`` -> ``[N, C, H, W]`` (H, W multiples of the window size)."""
        x_size = (x.shape[2], x.shape[3])
        ws = self.window_size
        mask = None
        if ws // 2 > 0 and any(len(layer.residual_group.blocks) > 1 for layer in self.layers):
            mask = shifted_window_mask(x_size[0], x_size[1], ws, ws // 2, device=x.device, dtype=x.dtype)
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, x_size, mask)
        return to_image(self.norm(t), x_size)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = self.shift.normalize(self.pad(x))
        feat = self.conv_first(x)
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        elif self.upsampler == "pixelshuffledirect":
            out = self.upsample(feat)
        elif self.upsampler == "nearest+conv":
            y = self.conv_before_upsample(feat)
            y = self.lrelu(self.conv_up1(F.interpolate(y, scale_factor=2, mode="nearest")))
            if self.scale == 4:
                y = self.lrelu(self.conv_up2(F.interpolate(y, scale_factor=2, mode="nearest")))
            out = self.conv_last(self.lrelu(self.conv_hr(y)))
        else:
            out = x + self.conv_last(feat)
        out = self.shift.denormalize(out)
        return out[..., : self.scale * h, : self.scale * w]


MODEL = SwinIR

_MASK_KEY = re.compile(r"(^|\.)attn_mask$")


def convert(sd: StateDict) -> StateDict:
    """Drop the official code's ``...blocks.j.attn_mask`` buffers (their shape depends on the training img_size;
    the mask is recomputed per input). Everything else already has our names; other state dicts pass unchanged."""
    if "layers.0.residual_group.blocks.0.attn.qkv.weight" not in sd or not any(_MASK_KEY.search(k) for k in sd):
        return sd
    return {k: v for k, v in sd.items() if not _MASK_KEY.search(k)}


def _resi_kind(sd: StateDict, prefix: str):
    if f"{prefix}.weight" in sd:
        return "1conv"
    if f"{prefix}.0.weight" in sd and f"{prefix}.4.weight" in sd:
        return "3conv"
    return None


def detect(sd: StateDict):
    need = ("conv_first.weight", "patch_embed.norm.weight", "layers.0.residual_group.blocks.0.attn.qkv.weight",
            "norm.weight")
    if not all(k in sd for k in need) or "absolute_pos_embed" in sd:
        return None
    first = sd["conv_first.weight"]
    if first.shape[1] != 3:
        return None  # grayscale SwinIR (denoising / JPEG): not an RGB model
    embed_dim = first.shape[0]
    resi = _resi_kind(sd, "conv_after_body")
    if resi is None:
        return None
    n_layers = block_count(sd, "layers.", ARCH, "group")
    depths, heads = [], []
    window = None
    for i in range(n_layers):
        p = f"layers.{i}.residual_group.blocks."
        depths.append(block_count(sd, p, ARCH))
        table = sd[f"{p}0.attn.relative_position_bias_table"]
        heads.append(table.shape[1])
        window = (math.isqrt(table.shape[0]) + 1) // 2
    mlp_ratio = sd["layers.0.residual_group.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    extra = {}
    if "conv_up1.weight" in sd and "conv_hr.weight" in sd:
        upsampler, upscale = "nearest+conv", 4 if "conv_up2.weight" in sd else 2
    elif "conv_before_upsample.0.weight" in sd:
        upsampler = "pixelshuffle"
        upscale = upsample_scale(sd, "upsample.", sd["conv_before_upsample.0.weight"].shape[0])
    elif "upsample.0.weight" in sd:
        upsampler = "pixelshuffledirect"
        upscale = math.isqrt(sd["upsample.0.weight"].shape[0] // 3)
    elif "conv_last.weight" in sd:
        upsampler, upscale = "", 1
        if window == 7:  # the official colour JPEG artifact-reduction models (task='color_jpeg_car'): 0..255 inside
            extra["img_range"] = 255.0
    else:
        return None
    return dict(embed_dim=embed_dim, depths=tuple(depths), num_heads=tuple(heads), window_size=window,
                mlp_ratio=float(mlp_ratio), upscale=upscale, upsampler=upsampler, resi_connection=resi, **extra)
