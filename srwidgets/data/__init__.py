"""Bundled test images and image I/O.

* :func:`load_image` reads what a user brings (path, PIL image, numpy ``HWC`` uint8/float, torch ``CHW``) into a
  float32 ``[3, H, W]`` tensor in ``[0, 1]``, with a clear error for what it cannot take.
* :func:`image` / :func:`lr_image` give the bundled images (see ``LICENSES.md``), HR or bicubic-down-sampled.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List

import numpy as np
import torch

from ..errors import InputError

_DIR = Path(__file__).parent / "images"
HELD_OUT = ("chelsea", "coffee")  # never seen by the zoo's training


def images() -> List[str]:
    """Names of the bundled images."""
    return sorted(p.stem for p in _DIR.glob("*.png"))


def image_path(name: str) -> str:
    p = _DIR / f"{name}.png"
    if not p.exists():
        raise InputError(f"no bundled image {name!r}; choose one of {images()} or pass your own to load_image")
    return str(p)


def image(name: str, modcrop: int = 4) -> torch.Tensor:
    """Bundled HR image ``[3, H, W]`` in [0, 1], cropped so H and W are multiples of ``modcrop``."""
    x = load_image(image_path(name))
    h, w = x.shape[1] // modcrop * modcrop, x.shape[2] // modcrop * modcrop
    return x[:, :h, :w].contiguous()


def lr_image(name: str, scale: int = 4) -> torch.Tensor:
    """Bundled image bicubic-down-sampled by ``scale`` (antialiased, PIL convention): ``[3, H/s, W/s]``."""
    from ..degrade import bicubic_down

    return bicubic_down(image(name, scale), scale).clamp(0, 1)


def _from_hwc(arr: np.ndarray, convert: bool) -> torch.Tensor:
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        if not convert:
            raise InputError(
                f"the image is grayscale (shape {arr.shape}); SR models here take RGB. Convert it "
                "(PIL: img.convert('RGB')) or call load_image(x, convert=True) to repeat the grey channel."
            )
        arr = np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
    if arr.ndim != 3:
        raise InputError(f"expected an image of shape H x W x 3, got {arr.shape}")
    if arr.shape[2] == 2:  # grey + alpha (PIL mode "LA")
        if not convert:
            raise InputError(
                "the image is grayscale with an alpha channel (2 channels); SR models here take RGB. Convert it "
                "(PIL: img.convert('RGB')) or call load_image(x, convert=True)."
            )
        arr = np.repeat(arr[..., :1], 3, axis=2)
    if arr.shape[2] == 4:
        if not convert:
            raise InputError(
                "the image is RGBA (4 channels); SR models here take RGB. Drop the alpha channel "
                "(PIL: img.convert('RGB'), numpy: arr[..., :3]) or call load_image(x, convert=True)."
            )
        arr = arr[..., :3]
    if arr.shape[2] != 3:
        raise InputError(f"expected 3 colour channels (RGB), got {arr.shape[2]} (shape {arr.shape})")
    if arr.dtype == np.uint8:
        t = torch.from_numpy(arr.astype(np.float32) / 255.0)
    elif arr.dtype == np.uint16:
        t = torch.from_numpy(arr.astype(np.float32) / 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    elif arr.dtype == bool:
        t = torch.from_numpy(arr.astype(np.float32))
    else:
        raise InputError(f"unsupported pixel type {arr.dtype}: use uint8 (0-255) or float (0-1)")
    return t.permute(2, 0, 1).contiguous()


def load_image(src: Any, convert: bool = False) -> torch.Tensor:
    """Read an RGB image into a float32 ``[3, H, W]`` tensor in ``[0, 1]``.

    Args:
        src: a file path (``str`` / ``Path``), a bundled image name, a ``PIL.Image``, a numpy array ``H x W x 3``
            (uint8 0-255 or float 0-1), or a torch tensor ``[3, H, W]`` (or ``[1, 3, H, W]``) in [0, 1].
        convert: repeat a grey channel / drop an alpha channel instead of raising.

    Raises:
        InputError: missing file, unreadable file, grey or RGBA image (unless ``convert``), wrong layout, values
            outside [0, 1], NaN or Inf.
    """
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if not os.path.exists(path):
            if isinstance(src, str) and src in images():
                path = image_path(src)
            else:
                raise InputError(f"image file not found: {path!r} (bundled images: {images()})")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.load()
                src = im.copy()
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"could not read {path!r} as an image ({e}); use PNG, JPEG or another format Pillow reads") from None
    try:
        from PIL import Image

        if isinstance(src, Image.Image):
            if src.mode in ("P", "CMYK", "YCbCr", "LAB", "HSV"):
                src = src.convert("RGBA" if "transparency" in src.info else "RGB")
            elif src.mode in ("I;16", "I"):
                src = np.asarray(src).astype(np.float32) / (65535.0 if src.mode == "I;16" else float(max(np.asarray(src).max(), 1)))
            if isinstance(src, Image.Image):
                src = np.asarray(src)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(src, np.ndarray):
        t = _from_hwc(src, convert)
    elif isinstance(src, torch.Tensor):
        t = src.detach()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 2 or (t.dim() == 3 and t.shape[0] == 1):
            if not convert:
                raise InputError(f"the tensor is grayscale (shape {tuple(src.shape)}); pass RGB [3, H, W] or load_image(x, convert=True)")
            t = t.reshape(1, *t.shape[-2:]).expand(3, -1, -1)
        if t.dim() == 3 and t.shape[0] == 4:
            if not convert:
                raise InputError("the tensor has 4 channels (RGBA?); pass [3, H, W] RGB (x[:3]) or load_image(x, convert=True)")
            t = t[:3]
        if t.dim() != 3 or t.shape[0] != 3:
            hint = " (it looks like H x W x 3: use x.permute(2, 0, 1))" if t.dim() == 3 and t.shape[-1] == 3 else ""
            raise InputError(f"expected a [3, H, W] tensor, got shape {tuple(src.shape)}{hint}")
        if not t.is_floating_point():
            t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        t = t.float().cpu().contiguous()
    else:
        raise InputError(f"cannot read an image from {type(src).__name__}: pass a path, PIL image, numpy HxWx3 array or torch [3, H, W] tensor")
    if t.numel() == 0:
        raise InputError(f"the image is empty (shape {tuple(t.shape)}); pass an image with at least 1x1 pixels")
    if not torch.isfinite(t).all():
        raise InputError("the image contains NaN or Inf values; clean it (torch.nan_to_num) before use")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(f"pixel values span [{lo:.3g}, {hi:.3g}], expected [0, 1]; divide 0-255 floats by 255")
    return t.clamp(0, 1)


__all__ = ["images", "image", "image_path", "lr_image", "load_image", "HELD_OUT"]
