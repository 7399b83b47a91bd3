"""The images of a DI table or atlas: where they come from (a folder, files, bundled names, tensors), read and
checked as LAM reads them, their HR references, and each task's LR input and HR reference.

Coordinates: LR images are ``[3, h, w]`` float64 in [0, 1]; HR references ``[3, s·h, s·w]``; the SR grid (where
windows live, in SR pixels) is the HR image's, or without one the LR image upsampled bicubically.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..engine import image_tensor
from ..errors import InputError

__all__ = ["Image", "image_sources", "read_image", "load_images", "load_hr", "lr_and_reference", "task_inputs"]


@dataclass
class Image:
    """One image of the table: its index in ``images``, its file (``""`` for a tensor) and, for tensors, its pixels."""

    index: int
    file: str  # "" for tensors
    pixels: Optional[torch.Tensor]  # float64 [3, H, W] when given in memory; files are read again when needed
    hr_file: str = ""  # hr= of an LR image: its HR reference's file ("" for a tensor or none)
    hr_pixels: Optional[torch.Tensor] = None  # ... or its pixels, [3, s·h, s·w]


def image_sources(images) -> List[Tuple[int, str, Any]]:
    """``(index, file, source)`` for a folder (image files in name order), one path, a tensor or a list."""
    from ..data import image_files

    if isinstance(images, (str, os.PathLike)) and os.path.isdir(images):
        return [(i, f, f) for i, f in enumerate(image_files(os.fspath(images)))]
    if isinstance(images, (str, os.PathLike, torch.Tensor, np.ndarray)):
        images = [images]
    if not isinstance(images, Sequence) or not len(images):
        raise InputError("images must be a folder, a list of [3, h, w] tensors in [0, 1] or a list of image files")
    return [(i, os.fspath(s) if isinstance(s, (str, os.PathLike)) else "", s) for i, s in enumerate(images)]


def read_image(index: int, file: str, source) -> torch.Tensor:
    from ..data import load_image

    what = f"image {index}" + (f" ({file})" if file else "")
    if isinstance(source, (torch.Tensor, np.ndarray)) and not (isinstance(source, np.ndarray) and source.ndim == 3
                                                                and source.shape[-1] == 3):
        return image_tensor(source, "cpu", what)  # as LAM reads it: float64, checked
    return image_tensor(load_image(source), "cpu", what)


def load_images(images, on_error: str) -> Tuple[List[Image], Dict[int, torch.Tensor]]:
    """The readable images (files are not kept in memory) and their pixels for this first pass."""
    kept, pixels, bad = [], {}, []
    for index, file, source in image_sources(images):
        try:
            x = read_image(index, file, source)
        except InputError as e:
            if not file:  # a tensor: the message already names "image <index>"
                raise
            if on_error == "stop":
                said = str(e) if str(e).startswith(f"image {index}") else f"image {index} ({file}): {e}"
                raise InputError(f"{said}; fix or remove it, or pass on_error='skip'") from None
            bad.append(f"{file} ({e})")
            continue
        kept.append(Image(index, file, None if file else x))
        pixels[index] = x
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): " + "; ".join(bad), stacklevel=3)
    if not kept:
        raise InputError("none of the images could be read")
    return kept, pixels


def lr_and_reference(x: torch.Tensor, scale: int, downsample: bool, crop_to: int, hr: Optional[torch.Tensor] = None):
    """``(lr, hr or None, reference)``: the LR input, the HR reference (with ``downsample``, or ``hr`` given for an
    LR ``x``) and the SR-grid image the windows are picked on (HR, else the LR upsampled bicubically)."""
    if not downsample and hr is not None:
        return x, hr, hr
    if not downsample:
        ref = F.interpolate(x[None], scale_factor=scale, mode="bicubic", align_corners=False)[0].clamp(0, 1)
        return x, None, ref
    from ..degrade import pil_bicubic

    h, w = x.shape[1] // crop_to * crop_to, x.shape[2] // crop_to * crop_to
    if h == 0 or w == 0:
        raise InputError(f"an HR image of {x.shape[1]}x{x.shape[2]} is smaller than the scale {crop_to}")
    hr = x[:, :h, :w].float()  # float32 like srwidgets.data.image, so the LR equals data.lr_image's
    return pil_bicubic(hr, scale), hr, hr  # Pillow's 8-bit bicubic resize: the papers' LR


def load_hr(hr, imgs: List[Image], count: int, scale: int, pixels: Dict[int, torch.Tensor]) -> Dict[int, torch.Tensor]:
    """``hr=`` (HR references of LR images, matched by index) read, checked against every image's size and noted
    on ``imgs`` (files are read again when needed); returns their pixels by image index for this first pass."""
    sources = image_sources(hr)
    if len(sources) != count:
        raise InputError(f"hr= holds {len(sources)} image(s) but images= {count}: give one HR reference per LR image, "
                         "in the same order")
    digests = {}
    for img in imgs:
        _, file, source = sources[img.index]
        y = read_image(img.index, file, source)
        h, w = pixels[img.index].shape[1:]
        if tuple(y.shape[1:]) != (scale * h, scale * w):
            raise InputError(f"hr= image {img.index}{f' ({file})' if file else ''} is {y.shape[1]}x{y.shape[2]}, but "
                             f"its LR image is {h}x{w} at scale {scale}: the HR reference must be {scale * h}x"
                             f"{scale * w}; or pass the HR images as images= with downsample=True")
        img.hr_file, img.hr_pixels = file, None if file else y
        digests[img.index] = y
    return digests


def task_inputs(img: Image, scale: int, downsample: bool, crop_to: int):
    """``(lr [3, h, w], hr [3, s·h, s·w] or None)`` of one task; files are read again here, not kept."""
    x = img.pixels if img.pixels is not None else read_image(img.index, img.file, img.file)
    y = img.hr_pixels if img.hr_pixels is not None else read_image(img.index, img.hr_file, img.hr_file) if img.hr_file \
        else None
    lr, hr, _ = lr_and_reference(x, scale, downsample, crop_to, y)
    return lr, hr
