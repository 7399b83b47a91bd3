"""FAIG figures: the masking experiment on one image (degraded input | target output | masked output, each with its
PSNR against the clean HR image) above a bar chart of where the top filters sit (count per conv layer). matplotlib
only, built without pyplot (safe on worker threads and headless machines); it never computes scores or outputs —
:class:`srwidgets.widgets.faig.FAIGWidget` (or your own code with :mod:`srwidgets.faig`) does.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = {"noisy input": rng.random((32, 32, 3)), "target": rng.random((32, 32, 3)),
    ...           "masked (top 1 %)": rng.random((32, 32, 3))}          # H × W × 3 in [0, 1]
    >>> fig = faig_figure(images, {"conv_first": 1, "body.0.conv1": 3, "conv_last": 0},
    ...                   psnrs={"noisy input": 20.1, "target": 27.5, "masked (top 1 %)": 22.4}, layer="body.0.conv1")
    >>> len(fig.axes), fig.axes[1].get_title()
    (4, 'target\\n27.50 dB')
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np

__all__ = ["faig_figure", "layer_axes", "format_psnr"]


def format_psnr(db: Optional[float]) -> str:
    """``"27.50 dB"``; ``"∞ dB"`` for identical images; ``""`` for ``None``."""
    if db is None:
        return ""
    return "∞ dB" if math.isinf(db) else f"{db:.2f} dB"


def layer_axes(ax, layer_counts: Mapping[str, float], layer: Optional[str] = None,
               ylabel: str = "top filters") -> None:
    """Bars of ``layer_counts`` (``{conv layer: count}``, shallow to deep) on ``ax``; ``layer`` is highlighted."""
    names = list(layer_counts)
    values = [layer_counts[n] for n in names]
    x = np.arange(len(names))
    colours = ["C3" if n == layer else "C0" for n in names]
    ax.bar(x, values, color=colours, width=0.8)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize="small")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("conv layer (shallow to deep)")
    ax.set_ylabel(ylabel)
    total = sum(values)
    ax.set_title(f"where the {total:g} top filters sit" + (f" (selected: {layer})" if layer in names else ""))


def faig_figure(images: Mapping[str, object], layer_counts, psnrs: Optional[Mapping[str, float]] = None,
                layer: Optional[str] = None, fraction: float = 0.01, title: Optional[str] = None,
                path: Optional[str] = None):
    """The FAIG figure: a row of images (e.g. degraded input, target output, masked output) titled with their PSNR,
    above the count of top filters per conv layer.

    Args:
        images: ``{title: image}``, each ``[3, H, W]`` (tensor or array) or ``H × W × 3`` (float in [0, 1] or
            uint8), shown in order at their own size (an LR input shown as it is, or upscaled beforehand).
        layer_counts: ``{conv layer: number of top filters in it}`` in network order, or a
            :class:`srwidgets.faig.FAIGResult` (its :meth:`~srwidgets.faig.FAIGResult.layer_summary` at
            ``fraction``).
        psnrs: ``{title: PSNR in dB}`` against the clean HR image, added under the matching titles.
        layer: a conv layer to highlight in the bar chart.
        fraction: the share of filters counted when ``layer_counts`` is a result.
        title: a figure title; path: if given, the figure is also saved there (format from the extension).

    Returns:
        ``matplotlib.figure.Figure`` (``len(images)`` image axes, then the bar chart).
    """
    from .figures import new_figure as Figure

    from .images import hwc01

    if hasattr(layer_counts, "layer_summary"):
        layer_counts = {name: row["top"] for name, row in layer_counts.layer_summary(fraction).items()}
    from ..errors import InputError

    images = dict(images)
    if not images:  # InputError is a ValueError: callers catching ValueError still do
        raise InputError("faig_figure needs at least one image: images={title: [3, H, W] or H × W × 3 image}")
    psnrs = dict(psnrs or {})
    n = len(images)
    fig = Figure(figsize=(max(3.2 * n, 6.0), 3.4 + 2.8), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[1.25, 1.0])
    for k, (name, image) in enumerate(images.items()):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(hwc01(image), interpolation="nearest")
        ax.set_title(f"{name}\n{format_psnr(psnrs[name])}" if name in psnrs else name, fontsize="medium")
        ax.set_axis_off()
    layer_axes(fig.add_subplot(grid[1, :]), dict(layer_counts), layer)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
