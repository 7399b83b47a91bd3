"""DDR figures: an embedding scatter coloured by degradation and the CHI-by-layer curves (matplotlib only; never
computes features — it reads a :class:`srwidgets.ddr.DDRResult`, whose :meth:`~srwidgets.ddr.DDRResult.embed` gives
the 2-D points). Figures are built without pyplot (safe on worker threads and headless machines).

Example:
    >>> import numpy as np
    >>> from srwidgets import ddr, models
    >>> images = [np.random.default_rng(i).random((32, 32, 3)) for i in range(3)]
    >>> result = ddr.analyse(models.build("EDSR", num_feat=8, num_block=2, upscale=2), images)
    >>> fig = ddr_figure(result)            # embedding of the deepest layer | CHI by layer
    >>> len(fig.axes)
    2
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

__all__ = ["ddr_figure", "embedding_axes", "chi_axes", "METHOD_NAMES", "CURVE_NAMES", "axis_labels"]

METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
"""How each embedding method is written (titles, axis labels, the widget's toggle)."""
CURVE_NAMES = ("by degradation", "by image")
"""The two CHI curves, in the order they take :data:`srwidgets.viz.PALETTE` colours (figure and widget alike)."""


def axis_labels(method: str):
    """The axis names of a 2-D embedding: ``("PC 1", "PC 2")`` for PCA, ``("t-SNE 1", "t-SNE 2")``, ...

    Example:
        >>> axis_labels("tsne")
        ('t-SNE 1', 't-SNE 2')
    """
    if method == "pca":
        return "PC 1", "PC 2"
    name = METHOD_NAMES.get(method, str(method))
    return f"{name} 1", f"{name} 2"


def embedding_axes(ax, result, layer: str, method: str = "pca", perplexity: float = 30.0, seed: int = 0) -> None:
    """Scatter of ``result.embed(layer, method)`` on ``ax``, one colour per degradation label (the widget's
    colours: :func:`srwidgets.viz.label_colors`), with a legend and the axis names (``PC 1`` / ``PC 2``...)."""
    from .images import label_colors

    points = result.embed(layer, method, perplexity, seed)
    labels = np.asarray([str(label) for label in result.labels])
    for label, colour in label_colors(result.labels).items():
        sel = labels == label
        ax.scatter(points[sel, 0], points[sel, 1], s=18, color=colour, label=label, alpha=0.8, linewidths=0)
    ax.legend(title="degradation", fontsize="small", loc="best")
    chi = result.chi_degradation[layer]
    name = METHOD_NAMES.get(method, method)
    ax.set_title(f"{layer}: {name} of pooled features\nCHI by degradation {chi:.3g} (pooled, not 2-D)")
    ax.set_xticks([])
    ax.set_yticks([])
    x_name, y_name = axis_labels(method)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)


def chi_axes(ax, result, layer: Optional[str] = None) -> None:
    """CHI by degradation and by image against layer depth on ``ax`` (log scale when all values are positive);
    ``layer`` is marked."""
    x = np.arange(len(result.layers))
    by_deg = [result.chi_degradation[n] for n in result.layers]
    by_img = [result.chi_image[n] for n in result.layers]
    from .images import PALETTE

    ax.plot(x, by_deg, "o-", color=PALETTE[0], label=CURVE_NAMES[0])
    ax.plot(x, by_img, "s--", color=PALETTE[1], label=CURVE_NAMES[1])
    values = [v for v in by_deg + by_img if math.isfinite(v)]
    if values and min(values) > 0:
        ax.set_yscale("log")
    if layer is not None and layer in result.layers:
        ax.axvline(result.layers.index(layer), color="grey", lw=1, ls=":")
    ax.set_xticks(x, result.layers, rotation=45, ha="right", fontsize="small")
    ax.set_xlabel("layer (shallow to deep)")
    ax.set_ylabel("Calinski-Harabasz index (pooled features)")
    ax.set_title("CHI by layer")
    ax.legend(fontsize="small")


def ddr_figure(result, layer: Optional[str] = None, method: str = "pca", perplexity: float = 30.0, seed: int = 0,
               title: Optional[str] = None, path: Optional[str] = None, titles: Optional[Sequence[str]] = None):
    """The DDR figure: for each result (one model), the 2-D embedding of ``layer`` (default: the deepest)
    coloured by degradation and the CHI-by-layer curves beside it; several results give one row each.

    Args:
        result: a :class:`srwidgets.ddr.DDRResult`, or a list of them (e.g. with and without global residual).
        layer: the layer whose embedding is shown (default: each result's deepest layer).
        method, perplexity, seed: the embedding (``"pca"``, ``"tsne"``, ``"umap"``).
        title: a figure title; ``titles``: one per result (e.g. model names).
        path: if given, the figure is also saved there (format from the extension).

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from .figures import new_figure as Figure

    results = list(result) if isinstance(result, (list, tuple)) else [result]
    titles = list(titles) if titles is not None else [None] * len(results)
    fig = Figure(figsize=(10.5, 4.6 * len(results)), layout="constrained")
    rows = fig.subplots(len(results), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.15]})
    for (left, right), res, name in zip(rows, results, titles):
        shown = layer if layer is not None and layer in res.layers else res.layers[-1]
        embedding_axes(left, res, shown, method, perplexity, seed)
        chi_axes(right, res, shown)
        if name:
            left.set_title(f"{name}\n{left.get_title()}")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
