"""Figures of the DI table and the DI atlas (:mod:`srwidgets.batch`): matplotlib only, built without pyplot; they
read a table or an atlas and never compute an attribution.

* :func:`atlas_figure` — the DI of every window on a stride, drawn over the image (SR pixels);
* :func:`atlas_rgba` — the same map as an RGBA layer of the SR image's size (for a canvas, e.g. the LAM widget);
* :func:`di_distribution_figure` — DI per model, box or violin;
* :func:`di_vs_psnr_figure` — mean DI against mean PSNR per model (the LAM paper's summary figure).

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"model": ["a", "a", "b", "b"], "image": [0, 1, 0, 1], "di": [10.0, 12, 20, 22],
    ...                       "psnr": [28.0, 29, 30, 31]})
    >>> len(di_distribution_figure(table).axes), di_vs_psnr_figure(table).axes[0].get_xlabel()
    (1, 'mean Diffusion Index')
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InputError
from .images import hwc01, upsample

__all__ = ["atlas_figure", "atlas_rgba", "di_distribution_figure", "di_vs_psnr_figure"]


def atlas_figure(atlas, cmap: str = "magma", alpha: float = 0.65, title: Optional[str] = None):
    """The DI atlas beside the image it maps: left, the LR image upsampled ×``scale`` (nearest) as it is; right, the
    same image with cell ``(i, j)`` drawn as the ``stride × stride`` square (SR px) at the centre of its window
    ``(tops[i], lefts[j], size)``, coloured by DI.

    The DI is computed over the whole image, so an atlas of a small crop has larger DIs than the same windows in
    the full image: compare atlases (and tables) of images of one size.

    Args:
        atlas: a :class:`srwidgets.batch.DIAtlas`.
        cmap, alpha: colours of the map and its opacity over the image.

    Returns:
        ``matplotlib.figure.Figure`` (the image, the atlas axes and a colour bar).
    """
    from .figures import figure_class

    Figure = figure_class()

    image = upsample(hwc01(atlas.image), atlas.scale)
    half = atlas.stride / 2
    centre_t, centre_l = atlas.tops + atlas.size / 2, atlas.lefts + atlas.size / 2
    extent = (centre_l[0] - half - 0.5, centre_l[-1] + half - 0.5, centre_t[-1] + half - 0.5, centre_t[0] - half - 0.5)
    fig = Figure(figsize=(8.6, 4.6), layout="constrained")
    plain, ax = fig.subplots(1, 2)
    plain.imshow(image, interpolation="nearest")
    plain.set_title(f"the image (x{atlas.scale} of the LR input)")
    plain.set_axis_off()
    ax.imshow(image, interpolation="nearest")
    shown = ax.imshow(atlas.di, cmap=cmap, alpha=alpha, extent=extent, interpolation="nearest")
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    fig.colorbar(shown, ax=ax, label="Diffusion Index")
    ax.set_title(title or f"{atlas.model}: DI atlas\n{atlas.size} px windows, stride {atlas.stride} (SR px)\n"
                          f"median {np.median(atlas.di):.2f}, range {atlas.di.min():.2f}-{atlas.di.max():.2f}")
    ax.set_axis_off()
    return fig


def atlas_rgba(atlas, cmap: str = "magma", alpha: float = 0.65) -> np.ndarray:
    """The DI atlas as a ``uint8`` ``sH × sW × 4`` layer over the SR image: cell ``(i, j)`` is the ``stride × stride``
    square (SR px) at the centre of its window, as in :func:`atlas_figure`, coloured by DI scaled from the atlas'
    smallest (0) to its largest (1) DI, with opacity ``alpha``; pixels outside every cell are transparent.

    Example:
        >>> import torch
        >>> from srwidgets.batch import DIAtlas
        >>> a = DIAtlas(di=np.array([[1.0, 3.0]]), gini=np.zeros((1, 2)), tops=np.array([0]), lefts=np.array([0, 4]),
        ...             size=8, stride=4, scale=2, image=torch.zeros(3, 4, 6), model="m", table=None)
        >>> layer = atlas_rgba(a)
        >>> layer.shape, layer[..., 3].tolist()[4]          # cells: rows 2-5; columns 2-5 and 6-9
        ((8, 12, 4), [0, 0, 166, 166, 166, 166, 166, 166, 166, 166, 0, 0])
    """
    from .images import heatmap_rgba

    di = np.asarray(atlas.di, dtype=np.float64)
    sh, sw = atlas.scale * atlas.image.shape[-2], atlas.scale * atlas.image.shape[-1]
    lo, hi = float(np.nanmin(di)), float(np.nanmax(di))
    values = np.full((sh, sw), np.nan)
    half = atlas.stride / 2
    for i, top in enumerate(atlas.tops):
        r0, r1 = (int(np.clip(np.floor(top + atlas.size / 2 + d), 0, sh)) for d in (-half, half))
        for j, left in enumerate(atlas.lefts):
            c0, c1 = (int(np.clip(np.floor(left + atlas.size / 2 + d), 0, sw)) for d in (-half, half))
            values[r0:r1, c0:c1] = (di[i, j] - lo) / (hi - lo) if hi > lo else 0.5
    rgba = heatmap_rgba(values, cmap, alpha)
    rgba[np.isnan(values), 3] = 0
    return rgba


def _models(table):
    if "model" not in table or "di" not in table or not len(table):
        raise InputError("expected a di_table DataFrame with 'model' and 'di' columns and at least one row")
    return list(dict.fromkeys(table["model"]))


def di_distribution_figure(table, kind: str = "box"):
    """DI per model (one box or violin each, models in table order, the mean marked), over all images and windows.

    Args:
        table: a :func:`srwidgets.batch.di_table` DataFrame.
        kind: ``"box"`` or ``"violin"``.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from .figures import figure_class

    Figure = figure_class()

    if kind not in ("box", "violin"):
        raise InputError(f"kind must be 'box' or 'violin', got {kind!r}")
    names = _models(table)
    values = [table.loc[table["model"] == n, "di"].to_numpy(dtype=float) for n in names]
    fig = Figure(figsize=(1.6 + 1.3 * len(names), 4.0), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(1, len(names) + 1)
    if kind == "box":
        ax.boxplot(values, positions=pos)
    else:
        ax.violinplot(values, positions=pos, showmedians=True)
    ax.plot(pos, [v.mean() for v in values], "D", color="C3", label="mean")
    ax.set_xticks(pos, names)
    ax.set_ylabel("Diffusion Index (larger: wider reach)")
    ax.set_title(f"DI per model ({len(values[0])} windows each)" if len({len(v) for v in values}) == 1
                 else "DI per model")
    ax.legend(fontsize="small")
    return fig


MARKERS = ("o", "s", "^", "D")
"""One marker per model (with its colour) in :func:`di_vs_psnr_figure`."""


def di_vs_psnr_figure(table):
    """Mean DI (x) against mean PSNR (y) per model, the per-image means as faint dots, each model labelled.

    Needs PSNR, i.e. HR references (``di_table(..., downsample=True)``).

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from .figures import figure_class

    Figure = figure_class()

    names = _models(table)
    if "psnr" not in table or table["psnr"].isna().all():
        raise InputError("the table has no PSNR: compute it from HR images with di_table(..., downsample=True)")
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    for k, name in enumerate(names):
        rows = table[table["model"] == name]
        per_image = rows.groupby("image")[["di", "psnr"]].mean()
        ax.scatter(per_image["di"], per_image["psnr"], s=45, color=f"C{k % 10}", alpha=0.85, marker=MARKERS[k % 4],
                   edgecolors="white", linewidths=0.6)
        if len(per_image) <= 6:  # few images: each dot says which
            for image, (d, p) in per_image[["di", "psnr"]].iterrows():
                ax.annotate(str(image), (d, p), textcoords="offset points", xytext=(4, -10), fontsize=9,
                            color=f"C{k % 10}")
        di, ps = rows["di"].mean(), per_image["psnr"].mean()
        ax.scatter([di], [ps], s=160, color=f"C{k % 10}", marker=MARKERS[k % 4], edgecolors="black", zorder=3)
        ax.annotate(name, (di, ps), textcoords="offset points", xytext=(8, 6), fontsize=10, fontweight="bold")
    ax.set_xlabel("mean Diffusion Index")
    ax.set_ylabel("PSNR (dB, Y channel)")
    ax.set_title("DI vs PSNR per model\n(large: the model's mean; small: one image each, labelled)")
    return fig
