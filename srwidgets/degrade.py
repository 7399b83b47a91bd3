"""Image degradations as batched torch functions: bicubic / bilinear down-sampling, Gaussian blur, Gaussian noise,
JPEG, and a seeded :class:`Compose` of them.

All functions take ``[N, C, H, W]`` (or ``[C, H, W]``) float tensors in ``[0, 1]`` on any device and return the
same layout, dtype and device. Noise sigma is on the 0-255 scale, as in the SR literature.

Two bicubic down-samplers: :func:`pil_bicubic` is Pillow's ``Image.resize(..., BICUBIC)`` on the 8-bit image, to
the grey level (the LR images of the SR papers' code; :func:`srwidgets.data.lr_image` and every ``--downsample``
use it); :func:`bicubic_down` is the same kernel in floating point, without Pillow's 8-bit rounding after each
pass (for float images, and the zoo's training pipeline).

Example:
    >>> import torch
    >>> hr = torch.rand(2, 3, 64, 64)
    >>> deg = Compose([Blur(sigma=2.0), BicubicDown(4), Noise(sigma=15), JPEG(quality=70)])
    >>> lr = deg(hr, seed=0)          # [N, 3, H/4, W/4], reproducible
    >>> lr.shape, bool(torch.equal(lr, deg(hr, seed=0)))
    (torch.Size([2, 3, 16, 16]), True)
"""
from __future__ import annotations

import functools
import io
import math
import numbers
from dataclasses import field, fields, make_dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import filters
from .engine.inputs import check_flag, check_value_range
from .errors import InputError


def _batched(fn):
    def wrapper(x, *args, **kwargs):
        if not isinstance(x, torch.Tensor):
            raise InputError(f"degradations take torch tensors [N, C, H, W] in [0, 1], got {type(x).__name__}; use srwidgets.data.load_image first")
        if x.dim() == 3:
            return fn(x[None], *args, **kwargs)[0]
        if x.dim() != 4:
            raise InputError(f"expected [C, H, W] or [N, C, H, W], got shape {tuple(x.shape)}")
        return fn(x, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def _check_scale(scale) -> int:
    """A down-sampling factor: a positive integer (integral floats such as ``2.0`` accepted)."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or int(scale) != scale or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")
    return int(scale)


def _downsample(x: torch.Tensor, scale, mode: str, antialias: bool) -> torch.Tensor:
    """``x`` cropped to a multiple of the integer ``scale``, then resized ×1/scale with ``mode``."""
    scale = _check_scale(scale)
    h, w = x.shape[-2] // scale * scale, x.shape[-1] // scale * scale
    if h == 0 or w == 0:
        raise InputError(f"image {tuple(x.shape[-2:])} is smaller than the scale {scale}")
    return F.interpolate(x[..., :h, :w], size=(h // scale, w // scale), mode=mode, align_corners=False,
                         antialias=antialias)


@_batched
def bicubic_down(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic down-sampling by an integer ``scale`` in floating point: PIL's kernel (Keys a=-0.5
    stretched by ``scale``) without PIL's 8-bit rounding. ``[N, C, H, W] -> [N, C, H//scale, W//scale]`` (H, W
    cropped to a multiple of ``scale`` first), any float values, differentiable.

    The alternative for float images (renders, HDR, training pipelines). For the LR image of an 8-bit photograph
    as the SR papers make it (PIL's ``Image.resize(..., BICUBIC)``), use :func:`pil_bicubic`: on real photographs
    the two differ by up to a few grey levels, and on sharp 8-bit patterns by far more."""
    return _downsample(x, scale, "bicubic", antialias=True)


PIL_PRECISION_BITS = 32 - 8 - 2
"""Pillow's fixed-point precision for 8-bit images (``libImaging/Resample.c``): coefficients are integers scaled
by ``2**22``, leaving 8 bits for the pixel and 2 for overshoot in a 32-bit sum."""


def _pil_cubic(x: np.ndarray) -> np.ndarray:
    """Pillow's bicubic kernel (Keys, a = -0.5) with its operations in its order, so float64 rounding is the same."""
    a = -0.5
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@functools.lru_cache(maxsize=64)
def _pil_taps(in_size: int, out_size: int):
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for BICUBIC over the whole axis (box 0..in_size):
    ``(index, weight)``, int64 numpy arrays ``[out_size, taps]``; output ``o`` is
    ``sum_t level[index[o, t]] * weight[o, t]`` in units of ``2**-22`` (taps past an output's span weigh 0)."""
    scale = in_size / out_size  # (double)(in1 - in0) / outSize
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    centre = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum(np.trunc(centre - support + 0.5), 0).astype(np.int64)  # C's (int) truncates
    xmax = np.minimum(np.trunc(centre + support + 0.5), in_size).astype(np.int64) - xmin  # a count, as in C
    taps = int(xmax.max())
    ss = 1.0 / filterscale
    t = np.arange(taps)
    w = _pil_cubic(((t[None, :] + xmin[:, None]).astype(np.float64) - centre[:, None] + 0.5) * ss)
    w = np.where(t[None, :] < xmax[:, None], w, 0.0)
    total = np.zeros(out_size)
    for i in range(taps):  # C sums tap by tap; numpy's pairwise sum could round differently
        total = total + w[:, i]
    w = np.where(total[:, None] != 0.0, w / np.where(total == 0.0, 1.0, total)[:, None], w)
    fixed = w * float(1 << PIL_PRECISION_BITS)
    weight = np.trunc(np.where(fixed < 0, fixed - 0.5, fixed + 0.5)).astype(np.int64)
    index = np.minimum(xmin[:, None] + t[None, :], in_size - 1)
    return index, weight


def _pil_pass(levels: torch.Tensor, out_size: int) -> torch.Tensor:
    """One of Pillow's 8-bit passes along dim 0 of int32 ``levels`` ``[L, ...]``: the fixed-point sum of each
    output's taps, rounded half up (``+2**21``, arithmetic shift) and clipped to 0..255 as Pillow's ``clip8``.

    Exact integer arithmetic in Pillow's own accumulator type (a C ``int``: PRECISION_BITS leaves 8 bits for the
    level and 2 for the kernel's overshoot, so the sum never leaves int32), hence deterministic on every device.
    Rows of dim 0 are gathered whole (the resampled axis leads), one tap at a time, so memory stays at two
    output-sized tensors."""
    index, weight = _pil_taps(levels.shape[0], out_size)
    index = torch.from_numpy(index).to(levels.device)
    weight = torch.from_numpy(weight).to(levels.device, torch.int32).view(out_size, -1, *(1,) * (levels.dim() - 1))
    acc = torch.full((out_size, *levels.shape[1:]), 1 << (PIL_PRECISION_BITS - 1), dtype=torch.int32,
                     device=levels.device)
    for t in range(index.shape[1]):
        acc.addcmul_(levels.index_select(0, index[:, t]), weight[:, t])
    return acc.bitwise_right_shift_(PIL_PRECISION_BITS).clamp_(0, 255)


@_batched
def pil_bicubic(hr: torch.Tensor, scale: int, *, horizontal_first: Optional[bool] = None) -> torch.Tensor:
    """Bicubic down-sampling by an integer ``scale``, equal to Pillow's
    ``Image.fromarray(hr_uint8).resize((W // scale, H // scale), Image.BICUBIC)`` to the grey level: the LR image
    of LAM's demo, CEM and most SR test sets (the authors' setting).

    ``hr`` is ``[3, H, W]`` or ``[N, 3, H, W]`` (``[1, H, W]`` grey works too, as Pillow's mode ``"L"``), float in
    [0, 1] holding 8-bit levels (``uint8_levels / 255``, what :func:`srwidgets.data.load_image` reads), or a
    ``uint8`` tensor of levels. Float values are **quantised to 8 bits first**: ``round(x * 255)``, after clipping
    values within ``srwidgets.engine.VALUE_TOLERANCE`` (1e-3) of [0, 1]; an image that is not 8-bit (a render,
    a network's output) is rounded like that, which is what saving it to PNG and running Pillow would do. For float
    images that should stay float, use :func:`bicubic_down`.

    Returns ``[..., C, H // scale, W // scale]``: float inputs give levels / 255 in [0, 1] in the input's dtype
    (float32: bit-equal to ``load_image`` of Pillow's LR saved as PNG), ``uint8`` inputs give ``uint8`` levels.
    No gradient flows (the result is rounded).

    Like Pillow, every pass works on 8-bit levels: Pillow's bicubic kernel (a = -0.5, support ``2 * scale``)
    normalised per output pixel, in 22-bit fixed point; the horizontal pass first, rounded and clipped to 0..255,
    then the vertical pass, rounded and clipped again. The intermediate rounding is why a float resize differs.
    Which pass goes first changes the rounding: Pillow 13 resizes vertically first when the height loses more than
    twice as many pixels as the width (``H - H//s > 2 * (W - W//s)``, images more than about twice as tall as
    wide); Pillow 12 and earlier, the version of the papers' code, always went horizontally first. The default
    (``horizontal_first=None``) follows Pillow 13; ``horizontal_first=True`` gives Pillow 12's result on tall
    images (``False`` forces the vertical pass first). Images at most twice as tall as wide are the same in both.

    A size that is not a multiple of ``scale`` is handled as Pillow's ``resize`` does: the **whole** image is
    resized to ``(H // scale, W // scale)`` (a factor of ``W / (W // scale)``, slightly under ``scale``; nothing
    is cropped). The SR papers crop first (``modcrop``): pass ``hr[..., :H // s * s, :W // s * s]``, or use
    ``srwidgets.data.image(name, modcrop=s)`` / :func:`srwidgets.data.lr_image`, which do.

    Raises:
        InputError: not a tensor, not ``[C, H, W]`` / ``[N, C, H, W]`` with C = 3 (or 1), a side smaller than
            ``scale`` (the LR image would be empty), NaN / Inf, values outside [0, 1] beyond the tolerance, a dtype
            other than float or uint8, a scale that is not a positive integer.

    Example:
        >>> from PIL import Image
        >>> levels = torch.randint(0, 256, (64, 48, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        >>> pil = Image.fromarray(levels.numpy()).resize((12, 16), Image.BICUBIC)      # (W, H)
        >>> lr = pil_bicubic(levels.permute(2, 0, 1).float() / 255, 4)                # [3, 16, 12] in [0, 1]
        >>> bool(np.array_equal((lr * 255).round().byte().permute(1, 2, 0).numpy(), np.asarray(pil)))
        True
    """
    scale = _check_scale(scale)
    if horizontal_first is not None:
        horizontal_first = check_flag("horizontal_first", horizontal_first)
    if hr.shape[1] not in (1, 3):
        hint = " (channels last? use x.permute(0, 3, 1, 2))" if hr.shape[-1] in (1, 3) else ""
        alpha = "; Pillow premultiplies an alpha channel, so drop it first (x[:, :3])" if hr.shape[1] == 4 else ""
        raise InputError(f"pil_bicubic takes RGB images [3, H, W] or [N, 3, H, W] (or grey, 1 channel), got shape "
                         f"{tuple(hr.shape)}{hint}{alpha}")
    h, w = hr.shape[-2:]
    if h // scale == 0 or w // scale == 0:
        raise InputError(f"image {h}x{w} is smaller than the scale {scale}: its LR image would have no pixels; "
                         f"pass an image of at least {scale}x{scale} pixels, or a smaller scale")
    if hr.dtype == torch.uint8:
        levels = hr
    elif hr.is_floating_point():
        x = hr.detach()
        if x.numel():
            check_value_range(x, "the HR image")
        x = x if x.dtype == torch.float64 else x.float()  # half types hold 8-bit levels too coarsely to round
        levels = torch.round(x.clamp(0, 1) * 255)
    else:
        raise InputError(f"pil_bicubic takes float images in [0, 1] or uint8 levels, got dtype {hr.dtype}; "
                         "use x.float() / 255 for 8-bit values in another integer type")
    out_h, out_w = h // scale, w // scale
    if horizontal_first is None:  # Pillow 13's choice (python-pillow/Pillow#9549)
        horizontal_first = not h - out_h > 2 * (w - out_w)
    # each pass resamples dim 0 of an [axis, N, C, other axis] layout; the two axes swap places between the passes
    if horizontal_first:
        levels, sizes, back = levels.permute(3, 0, 1, 2), (out_w, out_h), (1, 2, 0, 3)  # [W, N, C, H]
    else:
        levels, sizes, back = levels.permute(2, 0, 1, 3), (out_h, out_w), (1, 2, 3, 0)  # [H, N, C, W]
    levels = levels.to(torch.int32).contiguous()
    for i, size in enumerate(sizes):
        if i:
            levels = levels.permute(3, 1, 2, 0).contiguous()
        if size != levels.shape[0]:  # Pillow skips a pass whose size does not change (scale 1: a copy)
            levels = _pil_pass(levels, size)
    levels = levels.permute(*back)  # back to [N, C, H', W']
    if hr.dtype == torch.uint8:
        return levels.to(torch.uint8).contiguous()
    work = torch.float64 if hr.dtype == torch.float64 else torch.float32
    return (levels.to(work) / 255).to(hr.dtype).contiguous()


@_batched
def bilinear_down(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bilinear down-sampling without antialiasing (OpenCV ``INTER_LINEAR``; FAIG's code). For ``scale=2`` this is
    the mean of each 2x2 block. Same layout as :func:`bicubic_down`."""
    return _downsample(x, scale, "bilinear", antialias=False)


def gaussian_kernel2d(kernel_size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Isotropic Gaussian ``[k, k]`` kernel centred on the middle tap, summing to 1 (``sigma = 0``: a delta).
    The same kernel code as LAM's path (:func:`srwidgets.filters.gaussian_kernel2d`), without LAM's ``+1e-5``."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be odd and >= 1, got {kernel_size}")
    if sigma < 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    return filters.gaussian_kernel2d(float(sigma), kernel_size, torch.float64, device, eps=0.0).to(dtype)


@_batched
def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: Optional[int] = None) -> torch.Tensor:
    """Isotropic Gaussian blur with reflect borders (reflect-101), each channel separately. ``kernel_size`` defaults
    to ``2*ceil(3*sigma)+1``. Runs :func:`srwidgets.filters.gaussian_blur2d` without LAM's ``+1e-5``."""
    if sigma < 0:
        raise InputError(f"blur sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return x.clone()
    k = kernel_size or 2 * math.ceil(3 * sigma) + 1
    if k < 1 or k % 2 == 0:
        raise InputError(f"kernel_size must be odd and >= 1, got {k}")
    if min(x.shape[-2:]) <= k // 2:
        raise InputError(f"image {tuple(x.shape[-2:])} is too small for a {k}x{k} blur; use a smaller kernel or a larger image")
    return filters.gaussian_blur2d(x, float(sigma), k, eps=0.0)


@_batched
def add_noise(x: torch.Tensor, sigma: float, generator: Optional[torch.Generator] = None, clip: bool = True) -> torch.Tensor:
    """Add white Gaussian noise of std ``sigma`` on the 0-255 scale (e.g. 15); clip to [0, 1] by default."""
    if sigma < 0:
        raise InputError(f"noise sigma must be >= 0 (0-255 scale), got {sigma}")
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32, device="cpu" if generator is None or generator.device.type == "cpu" else generator.device)
    y = x + noise.to(x.device, x.dtype) * (sigma / 255.0)
    return y.clamp(0, 1) if clip else y


@_batched
def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress each image with Pillow at ``quality`` (1-95) and decode it (a CPU round trip: JPEG is a
    byte format). 8-bit quantisation happens on the way in."""
    from PIL import Image

    if not 1 <= int(quality) <= 100:
        raise InputError(f"JPEG quality must be in 1..100, got {quality}")
    out = []
    for img in x.detach().clamp(0, 1).cpu():
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        mode = "L" if arr.shape[2] == 1 else "RGB"
        buf = io.BytesIO()
        Image.fromarray(arr[..., 0] if mode == "L" else arr, mode).save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(mode), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(dec.reshape(arr.shape)).permute(2, 0, 1))
    return torch.stack(out).to(x.device, x.dtype)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 1] and round to 8 bits."""
    return (x.clamp(0, 1) * 255).round() / 255


# --- composable, seeded degradation steps ----------------------------------------------------------------------
class _Step:
    """A degradation step for :class:`Compose`: ``step(x, generator)`` calls ``fn(x, *fields)`` (plus the generator
    for the random steps)."""

    fn = None
    random = False

    def __call__(self, x, generator=None):
        args = [getattr(self, f.name) for f in fields(self)] + ([generator] if self.random else [])
        return type(self).fn(x, *args)


def _step(name: str, fn, doc: str, spec=(), random: bool = False):
    """A dataclass step ``name`` with fields ``spec`` = ``[(field, type, default), ...]`` that runs ``fn``."""
    cls = make_dataclass(name, [(f, t, field(default=d)) for f, t, d in spec], bases=(_Step,),
                         namespace={"fn": staticmethod(fn), "random": random, "__doc__": doc})
    cls.__module__ = __name__
    return cls


BicubicDown = _step("BicubicDown", bicubic_down, "Antialiased bicubic down-sampling ×1/scale (PIL's convention).",
                    [("scale", int, 4)])
BilinearDown = _step("BilinearDown", bilinear_down, "Bilinear down-sampling ×1/scale, no antialiasing (FAIG's code).",
                     [("scale", int, 2)])
Blur = _step("Blur", gaussian_blur, "Isotropic Gaussian blur (sigma in pixels; kernel_size 2·ceil(3σ)+1 if None).",
             [("sigma", float, 2.0), ("kernel_size", Optional[int], None)])
Noise = _step("Noise", add_noise, "White Gaussian noise of std sigma on the 0-255 scale, clipped; seeded by Compose.",
              [("sigma", float, 15.0)], random=True)
JPEG = _step("JPEG", jpeg, "JPEG compression at quality 1-100 (Pillow round trip).", [("quality", int, 75)])
Quantize = _step("Quantize", quantize, "Clip to [0, 1] and round to 8 bits.")


class Compose:
    """Apply steps in order; ``seed`` makes the random ones (noise) reproducible.

    ``Compose([Blur(2), BicubicDown(4), Noise(10)])(hr, seed=0)``.
    """

    def __init__(self, steps: Sequence):
        self.steps = list(steps)

    def __call__(self, x: torch.Tensor, seed: Optional[int] = None, generator: Optional[torch.Generator] = None):
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        for step in self.steps:
            x = step(x, generator)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(map(repr, self.steps)) + ")"


# --- FAIG's test degradations as named presets -------------------------------------------------------------------
FAIG_PRESETS = {
    "clean": "bilinear ×1/s (no antialiasing, OpenCV INTER_LINEAR), clip, 8-bit",
    "blur": "Gaussian blur 21×21, σ = 2 on the HR image (reflect-101 borders), bilinear ×1/s, clip, 8-bit",
    "noise": "bilinear ×1/s, white Gaussian noise σ = 0.1 on [0, 1] (25.5 on 0-255), clip, 8-bit",
}
"""The test inputs of FAIG (Xie et al. 2021), ``name -> description``: the names the FAIG widget and CLI offer."""


def faig_degradation(name: str, scale: int = 2) -> Compose:
    """FAIG's test degradation ``name`` (a key of :data:`FAIG_PRESETS`) at any integer ``scale``, as a seeded
    :class:`Compose`: ``faig_degradation("noise", 2)(hr, seed=0)`` maps HR ``[N, 3, H, W]`` in [0, 1] to LR
    ``[N, 3, H//s, W//s]`` in [0, 1], quantised to 8 bits (H, W cropped to multiples of ``s`` first). The same
    pipelines trained and evaluated the zoo's ``x2-srresnet-*`` pair. The blur needs HR sides of at least 11 pixels.

    Example:
        >>> lr = faig_degradation("noise", 2)(torch.rand(1, 3, 32, 32), seed=0)
        >>> tuple(lr.shape), bool(torch.equal(lr, (lr * 255).round() / 255))
        ((1, 3, 16, 16), True)
    """
    if not isinstance(name, str) or name not in FAIG_PRESETS:
        raise InputError(f"unknown degradation {name!r}; choose one of: {', '.join(FAIG_PRESETS)}")
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")
    down = BilinearDown(int(scale))
    steps = {"clean": [down], "blur": [Blur(2.0, 21), down], "noise": [down, Noise(25.5)]}[name]
    return Compose(steps + [Quantize()])


__all__ = ["bicubic_down", "pil_bicubic", "PIL_PRECISION_BITS", "bilinear_down", "gaussian_kernel2d", "gaussian_blur", "add_noise", "jpeg", "quantize",
           "BicubicDown", "BilinearDown", "Blur", "Noise", "JPEG", "Quantize", "Compose",
           "FAIG_PRESETS", "faig_degradation"]
