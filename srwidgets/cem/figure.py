"""The CEM figure: the SR image with the window, the signed causal effect map over the LR input in the seismic
colour map (red: the block helps the window, blue: it hurts; clipped at ±2.5 dB for SR and ±1 dB at scale 1, the
authors' bounds), and — given a LAM result of the same window — the LAM map beside it with their rank agreement.
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

    Args:
        result: the CEM result.
        lr: the LR input ``[3, h, w]`` to draw the map over (faint); ``sr``: the SR image ``[3, sH, sW]``.
        lam: a LAM (or any family) result of the same window: its map is drawn beside, with the Spearman agreement.
        bound: the colour-map clip in dB (default: 2.5 for scale > 1, 1 at scale 1).
        title: a prefix for the CEM panel's title (e.g. the model's name).
        zoom: show the maps only around the window, ``zoom`` LR pixels on each side (default: the whole image).
    """
    from ..viz.figures import new_figure
    from matplotlib.colors import TwoSlopeNorm

    bound = bound or (BOUNDS["sr"] if result.scale > 1 else BOUNDS["denoise"])
    panels = 1 + (sr is not None) + (lam is not None)
    fig = new_figure(figsize=(3.4 * panels, 3.6))  # no pyplot: safe on a widget's worker thread
    axes = fig.subplots(1, panels, squeeze=False)
    axes = list(axes[0])
    b = result.lr_block
    rows, cols = result.map.shape
    h, w = (lr.shape[1], lr.shape[2]) if lr is not None else (rows * b, cols * b)
    if sr is not None:
        ax = axes.pop(0)
        ax.imshow(np.clip(sr.detach().cpu().permute(1, 2, 0).numpy(), 0, 1))
        _rect(ax, result.window, 1.0, "lime")
        ax.set_title(f"SR, window PSNR {result.psnr:.2f} dB", fontsize=9)
        ax.axis("off")
    ax = axes.pop(0)
    if lr is not None:
        ax.imshow(np.clip(lr.detach().cpu().permute(1, 2, 0).numpy(), 0, 1), alpha=0.35)
    emap = spread(result.map.clamp(-bound, bound), b, h, w).numpy()
    im = ax.imshow(emap, cmap="seismic", norm=TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound),
                   alpha=0.85 if lr is not None else 1.0)
    _rect(ax, result.window, result.scale, "lime")
    _zoom(ax, result, zoom, h, w)
    c, (lo, hi) = result.counts, result.effect_range
    ax.set_title(f"CEM {title}+{c['positive']} / −{c['negative']} / 0:{c['zero']}\nrange {lo:.2f} .. {hi:.2f} dB",
                 fontsize=9)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="dB")
    if lam is not None:
        ax = axes.pop(0)
        ax.imshow(lam.map.detach().cpu().numpy(), cmap="magma")
        _rect(ax, result.window, result.scale, "lime")
        _zoom(ax, result, zoom, h, w)
        rho = rank_agreement(result, lam)
        ax.set_title(f"{getattr(lam, 'method', 'LAM').upper()} map\nSpearman with CEM {rho:.2f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
