"""The image helpers every figure and canvas uses: ``H × W × 3`` conversion, colormaps to RGBA, nearest
upsampling, a heatmap blended over an image, and the label palette. Pure numpy + matplotlib (no pyplot).

Maps are ``[h, w]`` arrays in ``[0, 1]`` on the LR grid; images ``[3, H, W]`` tensors/arrays in ``[0, 1]`` or
``H × W × 3`` (uint8 or float).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
"""Colours of labels and curves, in order: matplotlib's tab10. The one palette of srwidgets: the canvas views
(:data:`srwidgets.widgets.canvas.PALETTE` is this tuple) and the exported figures both read it, so a label has
the same colour in a widget and in its figure."""


def label_colors(labels) -> dict:
    """``{label: colour}`` for the distinct ``labels`` in order of first appearance, :data:`PALETTE` in order
    (cycling after 10). Labels are compared as strings (what a legend shows).

    Example:
        >>> label_colors(["clean", "blur", "clean", "noise"])
        {'clean': '#1f77b4', 'blur': '#ff7f0e', 'noise': '#2ca02c'}
    """
    colors: dict = {}
    for label in labels:
        colors.setdefault(str(label), PALETTE[len(colors) % len(PALETTE)])
    return colors


def as_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu()
        if str(a.dtype) in ("torch.float16", "torch.bfloat16"):  # numpy has no bfloat16
            a = a.float()
        a = a.numpy()
    return np.asarray(a)


def to_hwc(image) -> np.ndarray:
    """An image as a numpy ``H × W (× C)`` array: torch / numpy ``[C, H, W]`` or ``[1, C, H, W]`` (C = 1, 3 or 4)
    are moved to channels-last; ``H × W (× C)`` arrays pass through. Values are not touched."""
    a = as_numpy(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (3, 4):
        a = a.transpose(1, 2, 0)
    return a


def hwc01(image) -> np.ndarray:
    """``[3, H, W]`` / ``H × W × 3``, uint8 or float in [0, 1] -> float ``H × W × 3`` in [0, 1]."""
    a = to_hwc(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [3, H, W] or H x W x 3, got shape {a.shape}")
    a = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    return np.clip(a, 0.0, 1.0)


def colormap(cmap):
    import matplotlib

    return matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap


def fade_opacity(map2d, alpha: float) -> np.ndarray:
    """Per-pixel opacity of a faded heatmap: ``alpha·√m`` for a map ``[h, w]`` in [0, 1] (clipped; NaN as 0).

    Transparent where the map is 0 (the image shows through untinted), ``alpha`` at the map's maximum; the square
    root keeps a pixel at a tenth of the maximum visible (a third of ``alpha``), since attribution maps are
    concentrated on a few pixels with a long faint tail."""
    m = np.clip(np.nan_to_num(as_numpy(map2d).astype(np.float64), nan=0.0), 0.0, 1.0)
    return alpha * np.sqrt(m)


def heatmap_rgba(map2d, cmap: str = "jet", alpha: float = 0.5, fade: bool = False) -> np.ndarray:
    """Colour a map ``[h, w]`` in [0, 1] (clipped; NaN shows as 0): ``uint8`` ``h × w × 4`` with constant opacity
    ``alpha`` (to lay over the LR image in a canvas), or with ``fade`` the opacity of :func:`fade_opacity`
    (transparent at 0, ``alpha`` at the maximum: the image stays visible under the map)."""
    m = np.nan_to_num(as_numpy(map2d).astype(np.float64), nan=0.0)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D map [h, w], got shape {m.shape}")
    rgba = colormap(cmap)(np.clip(m, 0.0, 1.0))
    rgba[..., 3] = fade_opacity(m, alpha) if fade else alpha
    return (rgba * 255).round().astype(np.uint8)


def upsample(a: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour ×``scale`` of an ``H × W (× C)`` array (each LR pixel becomes an ``s × s`` block)."""
    return np.repeat(np.repeat(a, scale, axis=0), scale, axis=1) if scale > 1 else a


def blend(image, map2d, scale: Optional[int] = None, alpha: float = 0.5, cmap: str = "jet",
          fade: bool = False) -> np.ndarray:
    """The LAM paper's overlay: the map coloured and upsampled ×``scale`` (nearest), mixed with the image.

    Args:
        image: the LR image (``h × w``, upsampled ×``scale`` nearest) or an image already ``scale·h × scale·w``.
        map2d: ``[h, w]`` in [0, 1] on the LR grid.
        scale: the SR scale ``s``; default: image size / map size (1 when they match).
        alpha: weight of the heatmap (``(1 − alpha)·image + alpha·heat``; the paper uses 0.5).
        fade: weigh each pixel by :func:`fade_opacity` instead (``alpha·√m``): where the map is 0 the image is
            shown as it is, not tinted by the colour map's low end.

    Returns:
        ``uint8`` ``s·h × s·w × 3``.
    """
    img, m = hwc01(image), as_numpy(map2d)
    h, w = m.shape
    if scale is None:
        scale = max(1, img.shape[0] // h)
    if img.shape[:2] == (h, w):
        img = upsample(img, scale)
    if img.shape[:2] != (scale * h, scale * w):
        raise ValueError(f"image {img.shape[:2]} matches neither the map {m.shape} nor the map x{scale}")
    heat = upsample(heatmap_rgba(m, cmap, 1.0)[..., :3].astype(np.float64) / 255.0, scale)
    weight = upsample(fade_opacity(m, alpha)[..., None], scale) if fade else alpha
    return (((1.0 - weight) * img + weight * heat) * 255).round().astype(np.uint8)


__all__ = ["PALETTE", "label_colors", "to_hwc", "as_numpy", "hwc01", "colormap", "fade_opacity", "heatmap_rgba",
           "upsample", "blend"]
