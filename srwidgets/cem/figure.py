"""The CEM figure: the SR image with the window, the signed causal effect map over the LR input in the seismic
colour map (red: the block helps the window, blue: it hurts; its colour bar spans the map's range, clipped at
±2.5 dB for SR and ±1 dB at scale 1, the authors' bounds), and — given a LAM result of the same window — the LAM
map over the image beside it with their rank agreement.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .compare import rank_agreement, spread
from .engine import BOUNDS

__all__ = ["cem_figure"]


def _rect(ax, window, scale: float, color: str):
    from matplotlib.patches import Rectangle

    t, l, h, w = window
    ax.add_patch(Rectangle((l / scale - 0.5, t / scale - 0.5), w / scale, h / scale, fill=False, ec=color, lw=1.5))


def _zoom(ax, result, zoom: Optional[int], h: int, w: int):
    """Show only the window plus ``zoom`` LR pixels around it (None: the whole image)."""
    if zoom is None:
        return
    t, l, wh, ww = (v / result.scale for v in result.window)
    ax.set_xlim(max(-0.5, l - zoom - 0.5), min(w - 0.5, l + ww + zoom - 0.5))
    ax.set_ylim(min(h - 0.5, t + wh + zoom - 0.5), max(-0.5, t - zoom - 0.5))


def cem_figure(result, lr=None, sr=None, lam=None, bound: Optional[float] = None, title: str = "",
               zoom: Optional[int] = None):
    """A matplotlib figure of one CEM result (:class:`~srwidgets.cem.engine.CEMResult`).

    Panels: the SR image with the window; the signed effect map (dB: how much the window's PSNR drops when a block
    is replaced; red helps, blue hurts) over the LR image, titled in words with the counts of blocks outside the
    window that help, hurt or do nothing, its colour bar spanning the map's own range (colours symmetric about
    0, so equal colours are equal effects); with ``lam``, its map faded over the LR image with the Spearman
    agreement and a colour bar.

    Args:
        result: the CEM result.
        lr: the LR input ``[3, h, w]`` to draw the map over; ``sr``: the SR image ``[3, sH, sW]``.
        lam: a LAM (or any family) result of the same window: its map is drawn beside, with the Spearman agreement.
        bound: the colour-map clip in dB (default: the map's largest ``|effect|``, at most the authors' bounds,
            2.5 for SR and 1 at scale 1).
        title: the model's name (or any label), said once, in the CEM panel's title.
        zoom: show the maps only around the window, ``zoom`` LR pixels on each side (default: the whole image).
    """
    from ..viz.figures import new_figure
    from ..viz.images import blend
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, TwoSlopeNorm

    c, (lo, hi) = result.counts, result.effect_range
    authors = BOUNDS["sr"] if result.scale > 1 else BOUNDS["denoise"]
    bound = bound or min(authors, max(abs(lo), abs(hi), 1e-3))
    panels = 1 + (sr is not None) + (lam is not None)
    fig = new_figure(figsize=(3.8 * panels + 0.6, 4.3), layout="constrained")  # no pyplot: safe on a worker
    axes = fig.subplots(1, panels, squeeze=False)
    axes = list(axes[0])
    b = result.lr_block
    rows, cols = result.map.shape
    h, w = (lr.shape[1], lr.shape[2]) if lr is not None else (rows * b, cols * b)
    name = f"{title.strip()}: " if title.strip() else ""  # on a line of its own: a long name never widens the title
    if sr is not None:
        ax = axes.pop(0)
        ax.imshow(np.clip(sr.detach().cpu().permute(1, 2, 0).numpy(), 0, 1))
        _rect(ax, result.window, 1.0, "lime")
        t, l, wh, ww = result.window
        ax.set_title(f"SR, window top={t}, left={l}, {wh}x{ww}\nwindow PSNR {result.psnr:.2f} dB", fontsize=10)
        ax.axis("off")
    ax = axes.pop(0)
    emap = spread(result.map.clamp(-bound, bound), b, h, w).numpy()
    norm = TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)
    if lr is not None:  # the image under the map: each block as opaque as its effect is large (0: the image)
        ax.imshow(np.clip(lr.detach().cpu().permute(1, 2, 0).numpy(), 0, 1))
        im = ax.imshow(emap, cmap="seismic", norm=norm, alpha=np.sqrt(np.abs(emap) / bound) * 0.9)
    else:
        im = ax.imshow(emap, cmap="seismic", norm=norm)
    _rect(ax, result.window, result.scale, "lime")
    _zoom(ax, result, zoom, h, w)
    ax.set_title(f"{name}CEM map\n(PSNR drop when a block is replaced)\n{c['positive']} blocks help, "
                 f"{c['negative']} hurt, {c['zero']} do nothing\n(outside the window)", fontsize=10)
    ax.axis("off")
    bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, label="PSNR drop, dB (red: helps)")
    bar.ax.set_ylim(max(lo, -bound), min(hi, bound))  # the map's own range; colours stay symmetric about 0
    if lam is not None:
        ax = axes.pop(0)
        m = lam.map.detach().cpu().numpy()
        if lr is not None:  # the image under the heat, faded where the map is 0
            ax.imshow(blend(lr, m, 1, alpha=0.9, cmap="YlOrRd", fade=True))
        else:
            ax.imshow(m, cmap="YlOrRd")
        _rect(ax, result.window, result.scale, "lime")
        _zoom(ax, result, zoom, h, w)
        rho = rank_agreement(result, lam)
        ax.set_title(f"{getattr(lam, 'method', 'LAM').upper()} map\nSpearman with CEM {rho:.2f}", fontsize=10)
        ax.axis("off")
        fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), "YlOrRd"), ax=ax, shrink=0.8, pad=0.02,
                     label="attribution (max 1)")
    return fig
