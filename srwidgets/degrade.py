"""Image degradations as batched torch functions: bicubic / bilinear down-sampling, Gaussian blur, Gaussian noise,
JPEG, and a seeded :class:`Compose` of them.

All functions take ``[N, C, H, W]`` (or ``[C, H, W]``) float tensors in ``[0, 1]`` on any device and return the
same layout, dtype and device. Noise sigma is on the 0-255 scale, as in the SR literature.

Example:
    >>> import torch
    >>> hr = torch.rand(2, 3, 64, 64)
    >>> deg = Compose([Blur(sigma=2.0), BicubicDown(4), Noise(sigma=15), JPEG(quality=70)])
    >>> lr = deg(hr, seed=0)          # [N, 3, H/4, W/4], reproducible
    >>> lr.shape, bool(torch.equal(lr, deg(hr, seed=0)))
    (torch.Size([2, 3, 16, 16]), True)
"""
from __future__ import annotations

import io
import math
from dataclasses import field, fields, make_dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import filters
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


def _downsample(x: torch.Tensor, scale, mode: str, antialias: bool) -> torch.Tensor:
    """``x`` cropped to a multiple of the integer ``scale``, then resized ×1/scale with ``mode``."""
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    h, w = x.shape[-2] // scale * scale, x.shape[-1] // scale * scale
    if h == 0 or w == 0:
        raise InputError(f"image {tuple(x.shape[-2:])} is smaller than the scale {scale}")
    return F.interpolate(x[..., :h, :w], size=(h // scale, w // scale), mode=mode, align_corners=False,
                         antialias=antialias)


@_batched
def bicubic_down(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic down-sampling by an integer ``scale`` (Keys a=-0.5 kernel stretched by ``scale``, as
    PIL's ``Image.resize(..., BICUBIC)``). ``[N, C, H, W] -> [N, C, H//scale, W//scale]`` (H, W cropped to a multiple
    of ``scale`` first)."""
    return _downsample(x, scale, "bicubic", antialias=True)


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


__all__ = ["bicubic_down", "bilinear_down", "gaussian_kernel2d", "gaussian_blur", "add_noise", "jpeg", "quantize",
           "BicubicDown", "BilinearDown", "Blur", "Noise", "JPEG", "Quantize", "Compose",
           "FAIG_PRESETS", "faig_degradation"]
