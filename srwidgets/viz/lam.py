"""LAM figures: the result figure, the paper's kernel-density view, two models' difference (the figure and its
overlay colours, :func:`difference_rgba`, which the LAM widget's difference view shows) and the effective
receptive field (ERF) beside LAM. Pictures only: the maps come from :mod:`srwidgets.lam` (``LAMResult``) and
:mod:`srwidgets.lam.erf` (``ERFResult``).

Coordinates: maps are ``[h, w]`` on the LR grid, windows ``(top, left, height, width)`` in SR pixels; the map
panels show the LR image upsampled ×s, so they are drawn in SR pixel coordinates (pixel ``(i, j)`` centred at
``(j, i)``).

How the window is drawn (the attribution of a small network sits on the few LR pixels under the window, so a box
drawn over them hides the result): on the SR panel as an outline with a gap of one LR pixel around the window; on
the map panels as four corner brackets outside that gap, plus a zoomed inset of the raw map around the window, put
in the corner of the panel farthest from it.

Example:
    >>> import numpy as np
    >>> m = np.zeros((9, 9)); m[2, 6] = 1.0
    >>> k = kde_map(m, bandwidth=1.0)
    >>> tuple(int(i) for i in np.unravel_index(k.argmax(), k.shape)), float(k.max())
    ((2, 6), 1.0)
"""
from __future__ import annotations

import math
import textwrap
import warnings
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from .images import as_numpy, blend, fade_opacity, heatmap_rgba, hwc01, upsample

__all__ = ["kde_map", "lam_figure", "difference_figure", "difference_rgba", "erf_figure", "completeness", "VIEWS",
           "figure_class", "di_scale_note", "view_colormap"]

VIEWS = {"kde": "kernel-density estimate of the map (the LAM paper's and demo's view)",
         "map": "the raw map |Σ_c A_c| / max, one colour per LR pixel"}
"""View names -> descriptions, for :func:`lam_figure` and :func:`difference_figure`."""


# ------------------------------------------------------------------------------------------------ notebook figures
from .figures import figure_class  # noqa: E402  (kept importable from here)


# ------------------------------------------------------------------------------------------------ the KDE view
def _scott_sigma(m: np.ndarray) -> float:
    """An isotropic bandwidth (LR pixels) from Scott's rule on the map-weighted pixel positions:
    ``n_eff^(−1/6) · sqrt(mean of the two weighted variances)``, at least 1 pixel."""
    h, w = m.shape
    total = m.sum()
    rows, cols = np.mgrid[0:h, 0:w]
    var = [float((m * (a - (m * a).sum() / total) ** 2).sum() / total) for a in (rows, cols)]
    n_eff = total ** 2 / float((m ** 2).sum())
    return max(1.0, n_eff ** (-1.0 / 6.0) * math.sqrt(sum(var) / 2.0))


def _gaussian_smooth(m: np.ndarray, sigma: float) -> np.ndarray:
    """``Σ_p m_p · exp(−|q − p|² / 2σ²)`` at every LR pixel ``q`` (a fixed-bandwidth Gaussian KDE evaluated on the
    grid, unnormalised): a separable correlation with zero borders (mass leaving the image is lost, as in a KDE)."""
    import torch
    import torch.nn.functional as F

    from ..filters import gaussian_kernel1d, separable_correlate

    r = max(1, int(math.ceil(4.0 * sigma)))
    g = gaussian_kernel1d(float(sigma), 2 * r + 1, eps=0.0)
    x = F.pad(torch.from_numpy(m)[None, None], (r, r, r, r))
    return separable_correlate(x, g)[0, 0].numpy()


def kde_map(map2d, bandwidth: Union[str, float] = "scott") -> np.ndarray:
    """The kernel-density view of an attribution map (the LAM paper's figure style).

    A 2-D Gaussian kernel-density estimate of the LR pixel positions, each weighted by its attribution, evaluated
    at every LR pixel centre and normalised to max 1.

    * ``bandwidth="scott"`` (default): exactly the LAM demo's ``vis_saliency_kde``,
      ``scipy.stats.gaussian_kde(positions, weights=map)`` (bandwidth from Scott's rule on the weighted covariance
      of the positions, so it follows the map's spread). When scipy is missing, or the weighted covariance is
      singular (a map on a single pixel, row or column, where the demo fails), it falls back to the fixed
      bandwidth below with an isotropic Scott's-rule σ (at least 1 LR pixel).
    * ``bandwidth=σ`` (float > 0, LR pixels): an isotropic Gaussian kernel of standard deviation σ, computed as a
      separable Gaussian smoothing of the map with zero borders (:mod:`srwidgets.filters`; no scipy needed).

    Args:
        map2d: ``[h, w]`` non-negative attribution map (LR grid; e.g. ``LAMResult.map``), numpy or torch.
        bandwidth: ``"scott"`` or a positive float in LR pixels.

    Returns:
        float64 ``[h, w]`` in ``[0, 1]`` with max 1 (all zeros when the map is all zero).
    """
    m = np.nan_to_num(as_numpy(map2d).astype(np.float64), nan=0.0)
    if m.ndim != 2:
        raise InputError(f"kde_map needs a 2-D map [h, w], got shape {m.shape}")
    if (m < 0).any():
        raise InputError("kde_map needs non-negative weights (an attribution map |Σ_c A_c|); take np.abs(map) first")
    if m.sum() <= 0:
        return np.zeros_like(m)
    if isinstance(bandwidth, str):
        if bandwidth != "scott":
            raise InputError(f"bandwidth must be 'scott' or a positive number of LR pixels, got {bandwidth!r}")
        z = None
        h, w = m.shape
        rows, cols = np.mgrid[0:h, 0:w]
        positions = np.vstack([cols.ravel(), rows.ravel()]).astype(np.float64)
        weights = m.ravel() / m.sum()
        centred = positions - positions @ weights[:, None]
        covariance = (centred * weights) @ centred.T
        if np.linalg.det(covariance) > 1e-9 and 1.0 / float((weights ** 2).sum()) > 1.5:  # else: singular
            try:
                from scipy import stats
            except ImportError:
                stats = None
            if stats is not None:
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore", RuntimeWarning)
                        z = stats.gaussian_kde(positions, weights=weights)(positions).reshape(h, w)
                except (np.linalg.LinAlgError, ValueError):  # numerically singular after all
                    z = None
                if z is not None and (not np.isfinite(z).all() or z.max() <= 0):
                    z = None
        if z is None:
            z = _gaussian_smooth(m, _scott_sigma(m))
    else:
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0:
            raise InputError(f"bandwidth must be 'scott' or a positive number of LR pixels, got {bandwidth!r}")
        z = _gaussian_smooth(m, float(bandwidth))
    z = np.clip(z, 0.0, None)
    return z / z.max()


# ------------------------------------------------------------------------------------------------ the difference
def _signed_difference(map_a, map_b):
    """``(d, limit)``: ``d = map_a − map_b`` (float64, NaN -> 0) and its symmetric colour limit ``max|d|`` (at least
    1e-12, so an all-zero difference is white, not a division by zero)."""
    a, b = (as_numpy(m).astype(np.float64) for m in (map_a, map_b))
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"the difference needs two maps [h, w] of one shape, got {a.shape} and {b.shape}")
    d = np.nan_to_num(a - b, nan=0.0)
    return d, max(float(np.abs(d).max()), 1e-12)


def difference_rgba(map_a, map_b, cmap: str = "RdBu_r", alpha: float = 0.5) -> np.ndarray:
    """The signed difference ``map_a − map_b`` of two maps ``[h, w]`` (numpy or torch, same shape) coloured with
    the diverging ``cmap`` at symmetric limits ``±max|a − b|``: value ``0.5 + 0.5·(a − b)/max|a − b|`` (NaN -> 0),
    so white means equal and, with ``RdBu_r``, red ``a`` larger, blue ``b``. ``uint8 h × w × 4`` with opacity
    ``alpha`` (:func:`srwidgets.viz.heatmap_rgba`); :func:`difference_figure` draws exactly these colours.

    Example:
        >>> import numpy as np
        >>> rgba = difference_rgba(np.eye(2), np.zeros((2, 2)), alpha=1.0)
        >>> rgba.shape, rgba.dtype, bool(rgba[0, 0, 0] > rgba[0, 0, 2]), int(rgba[0, 0, 3])   # red where a > b
        ((2, 2, 4), dtype('uint8'), True, 255)
    """
    d, limit = _signed_difference(map_a, map_b)
    return heatmap_rgba(0.5 + 0.5 * d / limit, cmap, alpha)


# ------------------------------------------------------------------------------------------------ drawing helpers
def _check_view(view: str) -> str:
    if view not in VIEWS:
        raise InputError(f"view must be one of {', '.join(map(repr, VIEWS))}, got {view!r}")
    return view


def _kde_colormap():
    """The demo's KDE colours: the upper half of ``seismic`` (0 -> white, 1 -> dark red)."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    return ListedColormap(matplotlib.colormaps["seismic"](np.linspace(0.5, 1.0, 256)), name="seismic_upper")


def _smooth_upsample(z: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic ×``scale`` of a float map ``[h, w]`` in [0, 1] (the demo resizes its KDE so), clipped to [0, 1]."""
    if scale <= 1:
        return z
    from PIL import Image

    h, w = z.shape
    big = Image.fromarray(z.astype(np.float32), mode="F").resize((w * scale, h * scale), Image.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float64), 0.0, 1.0)


def view_colormap(view: str, cmap=None):
    """The colour map a panel of ``view`` uses: ``cmap``, else ``"jet"`` for the raw map and the demo's
    white-to-red for the KDE."""
    import matplotlib

    colours = cmap if cmap is not None else ("jet" if view == "map" else _kde_colormap())
    return matplotlib.colormaps[colours] if isinstance(colours, str) else colours


def _view_rgb(image, map2d, scale: int, view: str, cmap, alpha: float) -> np.ndarray:
    """The panel picture ``uint8 s·h × s·w × 3``: the raw map (nearest ×s) or its KDE (bicubic ×s) over the LR
    image, faded (:func:`srwidgets.viz.images.fade_opacity`: opacity ``alpha·√value``, so the image shows
    untinted where the map is 0)."""
    if view == "map":
        return blend(image, map2d, scale, alpha, view_colormap(view, cmap), fade=True)
    z = _smooth_upsample(kde_map(map2d), scale)
    img = hwc01(image)
    img = upsample(img, scale) if img.shape[:2] != z.shape else img
    heat = view_colormap(view, cmap)(z)[..., :3]
    weight = fade_opacity(z, alpha)[..., None]
    return (((1.0 - weight) * img + weight * heat) * 255).round().astype(np.uint8)


def _box(ax, window, color: str = "lime", scale: float = 1.0, gap: float = 0.0, linewidth: float = 1.2):
    """Outline the window (SR pixels; drawn in SR coordinates divided by ``scale``) ``gap`` pixels outside it."""
    from matplotlib.patches import Rectangle

    top, left, height, width = (v / scale for v in window)
    ax.add_patch(Rectangle((left - 0.5 - gap, top - 0.5 - gap), width + 2 * gap, height + 2 * gap,
                           fill=False, edgecolor=color, linewidth=linewidth))


def _brackets(ax, window, gap: float, color: str = "lime", linewidth: float = 1.2):
    """Mark the window (SR pixels) by four corner brackets ``gap`` pixels outside it: the pixels in and next to
    the window stay visible."""
    top, left, height, width = window
    y0, x0 = top - 0.5 - gap, left - 0.5 - gap
    y1, x1 = top + height - 0.5 + gap, left + width - 0.5 + gap
    arm = max(1.0, 0.35 * min(height, width))
    limits = ax.get_xlim(), ax.get_ylim()
    for x, y, dx, dy in ((x0, y0, 1, 1), (x1, y0, -1, 1), (x0, y1, 1, -1), (x1, y1, -1, -1)):
        ax.plot([x + dx * arm, x, x], [y, y, y + dy * arm], color=color, linewidth=linewidth, solid_capstyle="butt")
    ax.set_xlim(*limits[0])  # a bracket past the image's edge is cut there, never widens the panel
    ax.set_ylim(*limits[1])


def _clean(ax):
    """No ticks, no spines — but the axis stays on, so the title and x-label are part of the layout."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _inset(ax, picture: np.ndarray, window, scale: int, gap: float, label: str):
    """A zoomed inset of ``picture`` (SR pixels) around the window, in the panel's corner farthest from it."""
    sh, sw = picture.shape[:2]
    top, left, height, width = window
    half = max(height, width) * 1.5
    cy, cx = top + height / 2.0, left + width / 2.0
    r0, r1 = int(max(0, math.floor(cy - half))), int(min(sh, math.ceil(cy + half)))
    c0, c1 = int(max(0, math.floor(cx - half))), int(min(sw, math.ceil(cx + half)))
    # axes fractions: x from the left, y from the bottom; the window's quadrant decides the opposite corner
    x = 0.02 if cx > sw / 2.0 else 0.58
    y = 0.58 if cy > sh / 2.0 else 0.02
    ins = ax.inset_axes([x, y, 0.40, 0.40])
    ins.imshow(picture[r0:r1, c0:c1], interpolation="nearest", extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5))
    _brackets(ins, window, gap / 2.0, linewidth=1.0)
    ins.set_xlim(c0 - 0.5, c1 - 0.5)
    ins.set_ylim(r1 - 0.5, r0 - 0.5)
    ins.set_xticks([])
    ins.set_yticks([])
    for spine in ins.spines.values():
        spine.set_edgecolor("lime")
        spine.set_linewidth(1.2)
    ins.text(0.03, 0.97, label, transform=ins.transAxes, va="top", ha="left", fontsize=8,
             bbox=dict(facecolor="white", alpha=0.7, pad=1, linewidth=0))
    return ins


def map_panel(ax, image, map2d, window, scale: int, view: str, cmap, alpha: float, inset: bool = True):
    """One map panel: the view over the image, corner brackets around the window, and (with ``inset``) a
    zoomed inset of the raw map around the window."""
    ax.imshow(_view_rgb(image, map2d, scale, view, cmap, alpha), interpolation="nearest")
    gap = max(2.0, float(scale))  # one LR pixel
    _brackets(ax, window, gap)
    if inset:
        # the raw map in the view's colours: one colour bar reads both
        _inset(ax, blend(image, map2d, scale, alpha, view_colormap(view, cmap), fade=True), window, scale, gap,
               "raw map, zoomed")
    _clean(ax)


def sr_panel(ax, sr, window, scale: int):
    """The SR image panel: the window boxed, its coordinates (SR px) in the title."""
    ax.imshow(hwc01(sr), interpolation="nearest")
    _box(ax, window, gap=max(2.0, float(scale)))
    t, l, h, w = window
    ax.set_title(f"SR x{scale} output\nwindow top={t}, left={l}, {h}x{w} (SR px)")
    _clean(ax)


def completeness(result) -> Optional[str]:
    """The completeness line of a LAM result: ``ΣA`` against ``D(F(x)) − D(F(x′))`` (equal up to the Riemann-sum
    error; a large gap means too few steps or a broken setup), or ``None`` without those fields."""
    try:
        total = float(as_numpy(result.attribution).sum())
        delta = float(result.objective) - float(result.objective_baseline)
    except (AttributeError, TypeError):
        return None
    return f"completeness: ΣA = {total:.4g}  vs  D(F(x)) − D(F(x′)) = {delta:.4g}"


def di_scale_note(result) -> str:
    """What a DI means on its own image, in words: DI = (1 − Gini)·100 runs from 0 (everything on one pixel) to
    100 (evenly over the whole LR image), and the window's own LR pixels, evenly, would give ``100·k / N`` (``k``
    LR pixels under the window, ``N`` in the image): DI depends on the image's size, so compare DIs on images of
    one size.

    >>> from types import SimpleNamespace
    >>> import torch
    >>> r = SimpleNamespace(diffusion_index=0.52, window=(98, 84, 16, 16), image=torch.zeros(3, 64, 64),
    ...                     sr=torch.zeros(3, 256, 256))
    >>> print(di_scale_note(r))
    DI 0.52 on 0-100 (0: one pixel, 100: the whole
    64x64 LR image evenly; the window's own 4x4 LR px: 0.39)
    """
    _, h, w = as_numpy(result.image).shape[-3:]
    s = scale_of(result)
    top, left, wh, ww = (tuple(result.window) + tuple(result.window[2:]))[:4]
    own = 100.0 * max(1.0, wh / s) * max(1.0, ww / s) / (h * w)
    return (f"DI {result.diffusion_index:.2f} on 0-100 (0: one pixel, 100: the whole\n{h}x{w} LR image evenly; "
            f"the window's own {wh / s:g}x{ww / s:g} LR px: {own:.2f})")


CAPTION_WIDTH = 46
"""Characters per line of a map panel's caption: at 9 pt it fits the narrowest panel of :func:`lam_figure` (about
3.3 in, with four models and the colour bar), so the captions of neighbouring panels never run into each other."""


def _caption(result) -> str:
    """The map panel's caption: the DI's scale, what Gini is and the completeness check, in words, each wrapped to
    :data:`CAPTION_WIDTH` characters."""
    parts = [di_scale_note(result), f"Gini {result.gini:.3f}: how unequal the map is (1: all on one pixel)"]
    line = completeness(result)
    if line:
        parts.append(line.replace("completeness: ", "check: ").replace("  vs  ", " ≈ ") + " (the attributions add "
                     "up to the change of the window's detail D)")
    return "\n".join(textwrap.fill(" ".join(part.split()), CAPTION_WIDTH, break_long_words=False) for part in parts)


def _fit(fig, pad: float = 0.05, tries: int = 4):
    """Grow the figure until everything drawn (titles, labels) lies inside it: constrained layout alone can leave a
    multi-line title a few pixels above the top edge when image panels are almost square."""
    for _ in range(tries):
        renderer = fig._get_renderer()
        fig.draw_without_rendering()
        tight = fig.get_tightbbox(renderer)
        w, h = fig.get_size_inches()
        over_y = max(0.0, tight.y1 - h) + max(0.0, -tight.y0)
        over_x = max(0.0, tight.x1 - w) + max(0.0, -tight.x0)
        if over_x <= 0 and over_y <= 0:
            return fig
        fig.set_size_inches(w + (over_x + pad if over_x > 0 else 0), h + (over_y + pad if over_y > 0 else 0))
    return fig


def scale_of(result) -> int:
    """A result's scale: its SR image's width over its LR image's."""
    return max(1, as_numpy(result.sr).shape[-1] // as_numpy(result.image).shape[-1])


def finish_figure(fig, path):
    """``fig`` grown to hold everything drawn, saved as PNG to ``path`` unless ``None``; returns ``fig``."""
    _fit(fig)
    if path is not None:
        fig.savefig(path, dpi=100, format="png")
    return fig


# ------------------------------------------------------------------------------------------------ figures
def lam_figure(result, path: Optional[str] = None, titles: Optional[Sequence[str]] = None, cmap: Optional[str] = None,
               alpha: float = 0.8, view: str = "kde", inset: bool = True):
    """A figure of one LAM result (or a list of results for the same image and window, e.g. several models).

    Panels: the SR image with the window outlined (a gap of one LR pixel around it; the title gives the window as
    top, left and size in SR pixels), then for each result its view over the LR image (×s, faded: the image shows
    where the map is 0) with the window marked by corner brackets outside it, a zoomed inset of the raw map around
    the window, the title ``LAM KDE (smoothed map), path: <path>`` with DI and Gini, and a caption in words: the
    DI's scale on this image (0 to 100, and the DI the window's own pixels would have), what Gini measures, and the
    completeness check (``ΣA`` ≈ ``D(F(x)) − D(F(x′))``). A colour bar names the heat's values. DI and Gini are
    always those of the raw map.

    Args:
        result: a :class:`srwidgets.lam.LAMResult` (or anything with ``sr``, ``image``, ``map``, ``window``,
            ``gini``, ``diffusion_index``), or a list of them.
        path: if given, the figure is also saved there as PNG.
        titles: one title per result (e.g. model names).
        cmap: the heatmap colours; default ``"jet"`` for the map view and the demo's white-to-red for the KDE.
        alpha: opacity of the heat at the map's maximum (fading to transparent at 0).
        view: ``"kde"`` (the paper's kernel-density view, :func:`kde_map`) or ``"map"`` (the raw map).
        inset: draw the zoomed inset.

    Returns:
        ``matplotlib.figure.Figure`` whose ``axes`` are the ``1 + len(results)`` panels, then the colour bar
        (insets are children of their panel, ``ax.child_axes``).
    """
    Figure = figure_class()

    _check_view(view)
    results = list(result) if isinstance(result, (list, tuple)) else [result]
    titles = list(titles) if titles is not None else [None] * len(results)
    first = results[0]
    scale = scale_of(first)
    fig = Figure(figsize=(4.0 * (1 + len(results)) + 0.8, 5.4), layout="constrained")
    axes = fig.subplots(1, 1 + len(results), squeeze=False)[0]
    sr_panel(axes[0], first.sr, first.window, scale)
    label = "KDE (smoothed map)" if view == "kde" else "map (raw)"
    for ax, r, name in zip(axes[1:], results, titles):
        map_panel(ax, r.image, r.map, r.window, scale, view, cmap, alpha, inset)
        head = f"{name}\n" if name else ""
        path_name = getattr(r, "settings", {}).get("path", "")
        ax.set_title(f"{head}LAM {label}, path: {path_name}\nDI {r.diffusion_index:.2f}  Gini {r.gini:.3f}")
        ax.set_xlabel(_caption(r), fontsize=9)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), view_colormap(view, cmap)), ax=list(axes[1:]), shrink=0.6,
                 label="attribution density (max 1)" if view == "kde" else "attribution (max 1)")
    return finish_figure(fig, path)


def difference_figure(result_a, result_b, path: Optional[str] = None, titles: Sequence[str] = ("A", "B"),
                      view: str = "map", cmap: str = "RdBu_r", alpha: float = 0.8):
    """Compare two models' LAM on the same image and window: their maps, and the signed difference ``A − B``.

    Panels: A's view over the image, B's view over the image, and ``map_A − map_B`` (each map normalised to max 1,
    so the difference lies in ``[−1, 1]``; with ``view="kde"`` the KDEs are subtracted) on the LR grid, drawn ×s
    in SR coordinates with a diverging colour map and symmetric limits ``±max|A − B|`` (red: A uses the pixel
    more, blue: B), with its colour bar: the colours of :func:`difference_rgba`, opaque.

    Args:
        result_a, result_b: :class:`srwidgets.lam.LAMResult` of the same LR image and window.
        titles: the two models' names.
        view: ``"map"`` (default: the raw maps, pixel exact) or ``"kde"``.
        cmap: the diverging colour map of the difference.

    Returns:
        ``matplotlib.figure.Figure`` with ``axes`` = the three panels and the two colour bars (the maps', the
        difference's).
    """
    Figure = figure_class()

    _check_view(view)
    ma, mb = (np.nan_to_num(as_numpy(r.map).astype(np.float64)) for r in (result_a, result_b))
    if ma.shape != mb.shape:
        raise InputError(f"the two results are on different LR images ({ma.shape} vs {mb.shape}); compare results "
                         "of the same image")
    if tuple(result_a.window) != tuple(result_b.window):
        raise InputError(f"the two results are for different windows ({tuple(result_a.window)} vs "
                         f"{tuple(result_b.window)}); attribute both models on the same window")
    if view == "kde":
        ma, mb = kde_map(ma), kde_map(mb)
    _, limit = _signed_difference(ma, mb)
    scale = scale_of(result_a)
    names = list(titles)
    fig = Figure(figsize=(13.6, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    label = "KDE" if view == "kde" else "map"
    for ax, r, name in zip(axes[:2], (result_a, result_b), names):
        map_panel(ax, r.image, r.map, r.window, scale, view, None, alpha, inset=False)
        ax.set_title(f"{name}\nLAM {label}  DI {r.diffusion_index:.2f}  Gini {r.gini:.3f}")
    h, w = ma.shape
    # the colours of difference_rgba (the widget's difference view), opaque; the colour bar names their values
    axes[2].imshow(difference_rgba(ma, mb, cmap, alpha=1.0), interpolation="nearest",
                   extent=(-0.5, scale * w - 0.5, scale * h - 0.5, -0.5))
    _brackets(axes[2], result_a.window, max(2.0, float(scale)), color="black")
    _clean(axes[2])
    axes[2].set_title(f"{names[0]} − {names[1]} ({label})\nred: {names[0]} uses it more, blue: {names[1]}")
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), view_colormap(view)), ax=axes[1], shrink=0.8,
                 label="attribution (max 1)")
    fig.colorbar(ScalarMappable(Normalize(-limit, limit), cmap), ax=axes[2], shrink=0.8,
                 label=f"{names[0]} − {names[1]}")
    return finish_figure(fig, path)


def erf_figure(erf_result, lam_result=None, path: Optional[str] = None, title: Optional[str] = None,
               cmap: Optional[str] = None, alpha: float = 0.8):
    """The effective receptive field of a window (:func:`srwidgets.lam.erf.erf`) beside its LAM.

    Panels: the SR image with the window, the ERF map (``Σ_c |∇_x D|`` at the input, normalised to max 1) over the
    LR image (×s), and — with ``lam_result`` (same image and window) — the LAM map beside it, both raw maps with
    their DI. The ERF is where a change of the input would change the window now; LAM, what the path from the
    baseline actually used. ``title`` (e.g. the model's name) is the figure's title, once; a colour bar names the
    maps' values.

    Returns:
        ``matplotlib.figure.Figure`` with ``axes`` = the 2 or 3 panels, then the colour bar.
    """
    Figure = figure_class()

    scale = scale_of(erf_result)
    n = 3 if lam_result is not None else 2
    fig = Figure(figsize=(4.0 * n + 0.8, 4.8), layout="constrained")
    axes = fig.subplots(1, n)
    sr_panel(axes[0], erf_result.sr, erf_result.window, scale)
    if title:
        fig.suptitle(title, fontsize=12)
    map_panel(axes[1], erf_result.image, erf_result.map, erf_result.window, scale, "map", cmap, alpha)
    axes[1].set_title(f"ERF (gradient at x)\nDI {erf_result.diffusion_index:.2f}")
    if lam_result is not None:
        if tuple(lam_result.window) != tuple(erf_result.window):
            raise InputError(f"the LAM result is for window {tuple(lam_result.window)}, the ERF for "
                             f"{tuple(erf_result.window)}: pass results of the same window")
        map_panel(axes[2], lam_result.image, lam_result.map, lam_result.window, scale, "map", cmap, alpha)
        path_name = getattr(lam_result, "settings", {}).get("path", "")
        axes[2].set_title(f"LAM map, path: {path_name}\nDI {lam_result.diffusion_index:.2f}")
        line = completeness(lam_result)
        if line:
            axes[2].set_xlabel(line.replace("  vs  ", " ≈\n"), fontsize=9)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), view_colormap("map", cmap)), ax=list(axes[1:]), shrink=0.7,
                 label="attribution (max 1)")
    return finish_figure(fig, path)
