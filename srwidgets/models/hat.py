"""HAT (Hybrid Attention Transformer, Chen et al., CVPR 2023), with the parameter and buffer names of the official
``hat_arch.HAT``; the classical SR models (``upsampler="pixelshuffle"``), x2/x3/x4.

Structure (written from the paper and the official key names): ``conv_first``; residual hybrid attention groups
``layers.i`` (RHAG), each ``residual_group.blocks.j`` hybrid attention blocks (HAB: pre-norm (shifted-)window
self-attention plus a channel-attention conv branch ``conv_block.cab`` scaled by ``conv_scale``, then an MLP),
one overlapping cross-attention block ``residual_group.overlap_attn`` (OCAB: queries from ``ws x ws`` windows,
keys / values from the overlapping ``(ws + ws * overlap_ratio)`` windows around them) and a conv ``conv``; then
``norm``, ``conv_after_body`` and the sub-pixel reconstruction (``conv_before_upsample.0``, ``upsample.{0,2,..}``,
``conv_last``).

The official configurations: HAT (embed 180, depths 6x6, heads 6x6, window 16, compress_ratio 3, squeeze_factor 30,
overlap_ratio 0.5, mlp_ratio 2), HAT-L (depths 12x6), HAT-S (embed 144, compress_ratio 24, squeeze_factor 24). The
network sees ``(x - mean) * img_range`` with the DIV2K mean and ``img_range=1`` as in the official code; the model
takes and returns [0, 1]. Any input size works: it is reflect-padded at the bottom / right to a multiple of the
window size and the output cropped, as the official test code does. ``conv_scale`` is not recorded by the weights
(official value 0.01).

The relative position indices ``relative_position_index_SA`` / ``relative_position_index_OCA`` are persistent
buffers as in the official code (filled in when a checkpoint lacks them); an ``attn_mask`` in a checkpoint is
dropped (the mask is computed for each padded input size).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import MeanShift, StateDict, Upsample, cap_names, count_indices, upsample_scale
from .swinir import (Mlp, PatchEmbed, WindowTransformerSR, to_image, to_tokens, relative_position_index,
                     shifted_window_mask, window_partition, window_reverse)

ARCH = "HAT"
_NUM_FEAT = 64  # width of the reconstruction convs in the official code (fixed)


def overlap_window_size(window_size: int, overlap_ratio: float) -> int:
    """Side of OCAB's key / value windows: ``ws + int(ws * overlap_ratio)`` (official)."""
    return window_size + int(overlap_ratio * window_size)


def oca_relative_position_index(ws: int, wse: int) -> torch.Tensor:
    """``[ws*ws, wse*wse]`` index into OCAB's ``(ws + wse - 1)^2`` bias table, computed as the official
    ``calculate_rpi_oca`` does (some entries are negative there and wrap around when indexing; kept as is)."""
    co = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    ce = torch.stack(torch.meshgrid(torch.arange(wse), torch.arange(wse), indexing="ij")).flatten(1)
    rel = (ce[:, None, :] - co[:, :, None]).permute(1, 2, 0) + (ws - wse + 1)  # ws*ws, wse*wse, 2
    return rel[..., 0] * (ws + wse - 1) + rel[..., 1]


def _bias(table: torch.Tensor, index: torch.Tensor, nq: int, nk: int) -> torch.Tensor:
    """``[heads, nq, nk]`` relative position bias (negative indices wrap, as PyTorch indexing does)."""
    return table[index.reshape(-1) % table.shape[0]].view(nq, nk, -1).permute(2, 0, 1)


class ChannelAttention(nn.Module):
    """``x * sigmoid(conv(relu(conv(avgpool(x)))))`` (keys ``attention.1``, ``attention.3``)."""

    def __init__(self, num_feat: int, squeeze_factor: int):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(num_feat, num_feat // squeeze_factor, 1),
                                       nn.ReLU(inplace=True), nn.Conv2d(num_feat // squeeze_factor, num_feat, 1),
                                       nn.Sigmoid())

    def forward(self, x):
        return x * self.attention(x)


class CAB(nn.Module):
    """Channel attention block: conv - GELU - conv - channel attention (keys ``cab.0``, ``cab.2``,
    ``cab.3.attention.{1,3}``)."""

    def __init__(self, num_feat: int, compress_ratio: int, squeeze_factor: int):
        super().__init__()
        self.cab = nn.Sequential(nn.Conv2d(num_feat, num_feat // compress_ratio, 3, 1, 1), nn.GELU(),
                                 nn.Conv2d(num_feat // compress_ratio, num_feat, 3, 1, 1),
                                 ChannelAttention(num_feat, squeeze_factor))

    def forward(self, x):
        return self.cab(x)


class WindowAttention(nn.Module):
    """Window self-attention with a relative position bias; the index is shared by the whole network and passed
    in (keys ``relative_position_bias_table``, ``qkv``, ``proj``)."""

    def __init__(self, dim: int, window_size: int, num_heads: int):
        super().__init__()
        self.dim, self.window_size, self.num_heads = dim, window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rpi, mask=None):
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1) + _bias(self.relative_position_bias_table, rpi, n, n).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(bw, self.num_heads, n, n)
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c))


class HAB(nn.Module):
    """Hybrid attention block: ``x + attn(norm1 x) + conv_scale * CAB(norm1 x)``, then ``+ mlp(norm2 .)``
    (keys ``norm1``, ``conv_block.cab.*``, ``attn.*``, ``norm2``, ``mlp.fc{1,2}``)."""

    def __init__(self, dim, num_heads, window_size, shift_size, compress_ratio, squeeze_factor, conv_scale,
                 mlp_ratio):
        super().__init__()
        self.window_size, self.shift_size, self.conv_scale = window_size, shift_size, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.conv_block = CAB(dim, compress_ratio, squeeze_factor)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "attn_mask", None)  # some exports store the img_size-dependent mask
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x, x_size, rpi, mask=None):
        h, w = x_size
        b, _, c = x.shape
        ws, sh = self.window_size, self.shift_size
        y = self.norm1(x).view(b, h, w, c)
        conv = self.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        if sh:
            y = torch.roll(y, shifts=(-sh, -sh), dims=(1, 2))
        y = window_reverse(self.attn(window_partition(y, ws), rpi, mask if sh else None), ws, h, w)
        if sh:
            y = torch.roll(y, shifts=(sh, sh), dims=(1, 2))
        x = x + y.reshape(b, h * w, c) + conv * self.conv_scale
        return x + self.mlp(self.norm2(x))


class OCAB(nn.Module):
    """Overlapping cross-attention block: queries in ``ws x ws`` windows, keys and values in the ``wse x wse``
    windows centred on them (zero-padded at the borders, as the official ``nn.Unfold``), then an MLP (keys
    ``norm1``, ``qkv``, ``relative_position_bias_table``, ``proj``, ``norm2``, ``mlp.fc{1,2}``)."""

    def __init__(self, dim, window_size, overlap_ratio, num_heads, mlp_ratio):
        super().__init__()
        self.dim, self.window_size, self.num_heads = dim, window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.overlap_win_size = overlap_window_size(window_size, overlap_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((window_size + self.overlap_win_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, x_size, rpi):
        h, w = x_size
        b, _, c = x.shape
        ws, wse, nh = self.window_size, self.overlap_win_size, self.num_heads
        d = c // nh
        qkv = self.qkv(self.norm1(x)).view(b, h, w, 3, c)
        q = window_partition(qkv[..., 0, :], ws)  # b*nW, ws*ws, c
        kv = qkv[..., 1:, :].reshape(b, h, w, 2 * c).permute(0, 3, 1, 2)  # b, 2c, h, w
        kv = F.unfold(kv, (wse, wse), stride=ws, padding=(wse - ws) // 2)  # b, 2c*wse*wse, nW
        kv = kv.view(b, 2, c, wse * wse, -1).permute(1, 0, 4, 3, 2).reshape(2, -1, wse * wse, c)
        bw, nq = q.shape[:2]
        q = q.reshape(bw, nq, nh, d).transpose(1, 2) * self.scale
        k = kv[0].reshape(bw, wse * wse, nh, d).transpose(1, 2)
        v = kv[1].reshape(bw, wse * wse, nh, d).transpose(1, 2)
        attn = q @ k.transpose(-2, -1) + _bias(self.relative_position_bias_table, rpi, nq, wse * wse).unsqueeze(0)
        y = (attn.softmax(-1) @ v).transpose(1, 2).reshape(bw, nq, c)
        x = self.proj(window_reverse(y, ws, h, w).reshape(b, h * w, c)) + x
        return x + self.mlp(self.norm2(x))


class AttenBlocks(nn.Module):
    """``depth`` HABs (alternating plain / shifted windows, key ``blocks.j``), then one OCAB (``overlap_attn``)."""

    def __init__(self, dim, depth, num_heads, window_size, compress_ratio, squeeze_factor, conv_scale,
                 overlap_ratio, mlp_ratio):
        super().__init__()
        self.blocks = nn.ModuleList(
            HAB(dim, num_heads, window_size, 0 if j % 2 == 0 else window_size // 2, compress_ratio, squeeze_factor,
                conv_scale, mlp_ratio) for j in range(depth))
        self.overlap_attn = OCAB(dim, window_size, overlap_ratio, num_heads, mlp_ratio)

    def forward(self, x, x_size, rpi_sa, rpi_oca, mask):
        for blk in self.blocks:
            x = blk(x, x_size, rpi_sa, mask)
        return self.overlap_attn(x, x_size, rpi_oca)


class RHAG(nn.Module):
    """Residual hybrid attention group: ``x + tokens(conv(image(residual_group(x))))`` (keys ``residual_group``,
    ``conv``)."""

    def __init__(self, dim, depth, num_heads, window_size, compress_ratio, squeeze_factor, conv_scale,
                 overlap_ratio, mlp_ratio):
        super().__init__()
        self.residual_group = AttenBlocks(dim, depth, num_heads, window_size, compress_ratio, squeeze_factor,
                                          conv_scale, overlap_ratio, mlp_ratio)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x, x_size, rpi_sa, rpi_oca, mask):
        return x + to_tokens(self.conv(to_image(self.residual_group(x, x_size, rpi_sa, rpi_oca, mask), x_size)))


class HAT(WindowTransformerSR):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]`` (classical HAT, pixelshuffle reconstruction).

    Keys as the official ``hat_arch.HAT``: ``relative_position_index_SA``, ``relative_position_index_OCA``
    (buffers), ``conv_first``, ``patch_embed.norm``, ``layers.i.residual_group.blocks.j.{norm1,
    conv_block.cab.{0,2,3.attention.1,3.attention.3}, attn.{relative_position_bias_table,qkv,proj}, norm2,
    mlp.fc1, mlp.fc2}``, ``layers.i.residual_group.overlap_attn.{norm1, qkv, relative_position_bias_table, proj,
    norm2, mlp.fc1, mlp.fc2}``, ``layers.i.conv``, ``norm``, ``conv_after_body``, ``conv_before_upsample.0``,
    ``upsample.{0,2,..}``, ``conv_last``. ``img_size`` is accepted for compatibility with the official options
    and has no effect.
    """

    arch = ARCH

    def __init__(self, embed_dim: int = 180, depths=(6, 6, 6, 6, 6, 6), num_heads=(6, 6, 6, 6, 6, 6),
                 window_size: int = 16, compress_ratio: int = 3, squeeze_factor: int = 30, conv_scale: float = 0.01,
                 overlap_ratio: float = 0.5, mlp_ratio: float = 2.0, upscale: int = 4,
                 upsampler: str = "pixelshuffle", resi_connection: str = "1conv", img_range: float = 1.0,
                 rgb_mean=(0.4488, 0.4371, 0.4040), img_size=64, in_chans: int = 3, patch_size: int = 1):
        super().__init__()
        if in_chans != 3 or patch_size != 1:
            raise ValueError("srwidgets' HAT takes RGB input (in_chans=3) with patch_size=1, as the SR checkpoints do")
        if upsampler != "pixelshuffle" or resi_connection != "1conv":
            raise ValueError("srwidgets builds the classical HAT (upsampler='pixelshuffle', resi_connection='1conv') "
                             f"only, not upsampler={upsampler!r}, resi_connection={resi_connection!r}")
        depths, num_heads = tuple(int(d) for d in depths), tuple(int(h) for h in num_heads)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError(f"depths {depths} and num_heads {num_heads} must be non-empty and of the same length")
        if any(embed_dim % h for h in num_heads):
            raise ValueError(f"embed_dim {embed_dim} must be divisible by every num_heads {num_heads}")
        ws = int(window_size)
        if ws < 2 or (overlap_window_size(ws, overlap_ratio) - ws) % 2:
            raise ValueError(f"window_size {ws} with overlap_ratio {overlap_ratio}: need window_size >= 2 and an even "
                             "overlap (int(window_size * overlap_ratio))")
        self.scale = int(upscale)
        self.window_size = ws
        self.upsampler = upsampler
        self.config = dict(embed_dim=int(embed_dim), depths=depths, num_heads=num_heads, window_size=ws,
                           compress_ratio=int(compress_ratio), squeeze_factor=int(squeeze_factor),
                           conv_scale=float(conv_scale), overlap_ratio=float(overlap_ratio),
                           mlp_ratio=float(mlp_ratio), upscale=self.scale, img_range=float(img_range),
                           rgb_mean=tuple(float(m) for m in rgb_mean))
        self.shift = MeanShift(rgb_mean, img_range)
        wse = overlap_window_size(ws, overlap_ratio)
        self.register_buffer("relative_position_index_SA", relative_position_index(ws))
        self.register_buffer("relative_position_index_OCA", oca_relative_position_index(ws, wse))

        self.conv_first = nn.Conv2d(3, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            RHAG(embed_dim, d, h, ws, compress_ratio, squeeze_factor, conv_scale, overlap_ratio, mlp_ratio)
            for d, h in zip(depths, num_heads))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, _NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True))
        self.upsample = Upsample(self.scale, _NUM_FEAT)
        self.conv_last = nn.Conv2d(_NUM_FEAT, 3, 3, 1, 1)
        self.apply(self._init_weights)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # exports without the (deterministic) index buffers still load strictly
        for name in ("relative_position_index_SA", "relative_position_index_OCA"):
            state_dict.setdefault(prefix + name, getattr(self, name).clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward_features(self, x):
        """Deep features ``[N, C, H, W]`` -> ``[N, C, H, W]`` (H, W multiples of the window size)."""
        x_size = (x.shape[2], x.shape[3])
        ws = self.window_size
        mask = None
        if any(len(layer.residual_group.blocks) > 1 for layer in self.layers):
            mask = shifted_window_mask(x_size[0], x_size[1], ws, ws // 2, device=x.device, dtype=x.dtype)
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, x_size, self.relative_position_index_SA, self.relative_position_index_OCA, mask)
        return to_image(self.norm(t), x_size)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = self.shift.normalize(self.pad(x))
        feat = self.conv_first(x)
        feat = self.conv_after_body(self.forward_features(feat)) + feat
        out = self.conv_last(self.upsample(self.conv_before_upsample(feat)))
        return self.shift.denormalize(out)[..., : self.scale * h, : self.scale * w]


MODEL = HAT

_MASK_KEY = re.compile(r"(^|\.)attn_mask$")
_HAB_KEY = re.compile(r"layers\.\d+\.residual_group\.blocks\.\d+\.conv_block\.cab\.")
_OCAB_KEY = re.compile(r"layers\.\d+\.residual_group\.overlap_attn\.")
_HAB_PARTS = ("norm1.weight", "conv_block.cab.0.weight", "conv_block.cab.2.weight",
              "conv_block.cab.3.attention.1.weight", "conv_block.cab.3.attention.3.weight",
              "attn.relative_position_bias_table", "attn.qkv.weight", "attn.proj.weight", "norm2.weight",
              "mlp.fc1.weight", "mlp.fc2.weight")
_OCAB_PARTS = ("norm1.weight", "qkv.weight", "relative_position_bias_table", "proj.weight", "norm2.weight",
               "mlp.fc1.weight", "mlp.fc2.weight")


def convert(sd: StateDict) -> StateDict:
    """Drop stored ``attn_mask`` buffers (their shape depends on the training img_size); HAT's keys are ours."""
    if not any(_MASK_KEY.search(k) for k in sd) or not any(_OCAB_KEY.match(k) for k in sd):
        return sd
    return {k: v for k, v in sd.items() if not _MASK_KEY.search(k)}


def _ratio(dim: int, reduced: int) -> int:
    """The ``r`` with ``dim // r == reduced`` (the official layers store ``dim // r`` channels)."""
    r = dim // reduced if reduced else 0
    if r < 1 or dim // r != reduced:
        raise InputError(f"this looks like a HAT checkpoint, but a channel-attention conv has {reduced} channels, "
                         f"not embed_dim // r for embed_dim {dim}")
    return r


def detect(sd: StateDict):
    # HAT's own keys (a SwinIR state dict has the others): a HAB's CAB branch and an OCAB, in any group
    need = ("conv_first.weight", "patch_embed.norm.weight", "norm.weight")
    if not all(k in sd for k in need):
        return None
    if not (any(_HAB_KEY.match(k) for k in sd) and any(_OCAB_KEY.match(k) for k in sd)):
        return None
    first = sd["conv_first.weight"]
    if first.shape[1] != 3:
        return None  # not an RGB model
    embed_dim = int(first.shape[0])
    n_layers = count_indices(sd, "layers.")
    found = {int(k.split(".")[1]) for k in sd if re.match(r"layers\.\d+\.", k)}
    n_gaps = n_layers - len(found)
    if n_gaps:  # named lazily and capped: a stray 'layers.9999999' key must not list ten million groups
        gaps = (f"layers.{i}" for i in range(n_layers) if i not in found)
        raise InputError(f"this looks like a HAT checkpoint, but it lacks group{'s' if n_gaps > 1 else ''} "
                         f"{cap_names(gaps, total=n_gaps)} (it has groups up to layers.{n_layers - 1}): the checkpoint "
                         "is incomplete, or a stray key")
    depths, heads, window = [], [], None
    for i in range(n_layers):
        p = f"layers.{i}.residual_group."
        nb = count_indices(sd, p + "blocks.")
        have = {int(k[len(p + "blocks."):].split(".")[0]) for k in sd if k.startswith(p + "blocks.")}
        n_gaps = nb - len(have)
        if nb == 0 or n_gaps:
            gaps = (f"{p}blocks.{j}" for j in range(nb) if j not in have)
            what = cap_names(gaps, total=n_gaps) if n_gaps else f"{p}blocks.0"
            raise InputError(f"this looks like a HAT checkpoint, but it lacks block{'s' if n_gaps > 1 else ''} "
                             f"{what}: the checkpoint is incomplete, or a stray key")
        for j in range(nb):
            lacking = [q for q in _HAB_PARTS if f"{p}blocks.{j}.{q}" not in sd]
            if lacking:
                raise InputError(f"this looks like a HAT checkpoint, but block {p}blocks.{j} lacks "
                                 f"{cap_names(lacking)}: the checkpoint is incomplete or another HAT variant")
        lacking = [q for q in _OCAB_PARTS if f"{p}overlap_attn.{q}" not in sd]
        if lacking:
            raise InputError(f"this looks like a HAT checkpoint, but {p}overlap_attn lacks {cap_names(lacking)}: "
                             "the checkpoint is incomplete")
        if f"layers.{i}.conv.weight" not in sd:
            raise InputError(f"this looks like a HAT checkpoint, but it lacks layers.{i}.conv (the group's conv; "
                             "srwidgets builds resi_connection='1conv'): the checkpoint is incomplete")
        table = sd[f"{p}blocks.0.attn.relative_position_bias_table"]
        heads.append(int(table.shape[1]))
        ws = (math.isqrt(int(table.shape[0])) + 1) // 2
        if (2 * ws - 1) ** 2 != table.shape[0] or window not in (None, ws):
            raise InputError(f"this looks like a HAT checkpoint, but {p}blocks.0.attn.relative_position_bias_table "
                             f"has {table.shape[0]} rows, not (2*window_size-1)^2 for one window size")
        window = ws
        depths.append(nb)
    p = "layers.0.residual_group."  # every group has them (checked above)
    oca_rows = int(sd[p + "overlap_attn.relative_position_bias_table"].shape[0])
    side = math.isqrt(oca_rows)
    wse = side + 1 - window
    if side * side != oca_rows or wse < window:
        raise InputError(f"this looks like a HAT checkpoint, but {p}overlap_attn.relative_position_bias_table has "
                         f"{oca_rows} rows, not (window_size + overlap_window - 1)^2 for window size {window}")
    overlap_ratio = (wse - window) / window
    compress_ratio = _ratio(embed_dim, int(sd[p + "blocks.0.conv_block.cab.0.weight"].shape[0]))
    squeeze_factor = _ratio(embed_dim, int(sd[p + "blocks.0.conv_block.cab.3.attention.1.weight"].shape[0]))
    mlp_ratio = sd[p + "blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    if "conv_before_upsample.0.weight" not in sd or "conv_last.weight" not in sd:
        raise InputError("this looks like a HAT checkpoint, but not a classical one (conv_before_upsample.0, "
                         "upsample.*, conv_last): srwidgets builds the classical pixelshuffle HAT only")
    upscale = upsample_scale(sd, "upsample.", int(sd["conv_before_upsample.0.weight"].shape[0]))
    return dict(embed_dim=embed_dim, depths=tuple(depths), num_heads=tuple(heads), window_size=window,
                compress_ratio=compress_ratio, squeeze_factor=squeeze_factor, overlap_ratio=float(overlap_ratio),
                mlp_ratio=float(mlp_ratio), upscale=upscale)
