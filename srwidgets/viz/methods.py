"""Figures comparing window-attribution methods (never computes an attribution): the same window's maps side by
side, each titled with its method, DI and Gini, and its completeness line where the method has one."""
from __future__ import annotations

from typing import Optional, Sequence

from .lam import map_panel, finish_figure, scale_of, sr_panel, completeness

__all__ = ["methods_figure", "setting_note", "NAMED_SETTINGS"]


NAMED_SETTINGS = ("baseline", "path", "inner")
"""The settings a map's title names (what the map is relative to): IG's baseline, LAM's path, SmoothGrad's inner
member."""


def setting_note(result) -> str:
    """``" (baseline blurred)"``: the :data:`NAMED_SETTINGS` a result was computed with, for its title (``""`` when
    it has none).

    >>> from types import SimpleNamespace
    >>> setting_note(SimpleNamespace(settings={"baseline": "blurred", "steps": 50}))
    ' (baseline blurred)'
    """
    settings = getattr(result, "settings", None) or {}
    named = [f"{k} {settings[k]}" for k in NAMED_SETTINGS if isinstance(settings.get(k), str)]
    return f" ({', '.join(named)})" if named else ""


def methods_figure(results: Sequence, titles: Optional[Sequence[str]] = None, path: Optional[str] = None,
                   view: str = "map", cmap: Optional[str] = None, alpha: float = 0.5, inset: bool = False):
    """The SR image with the window, then one map panel per result (the same image and window, any methods).

    Args:
        results: :class:`~srwidgets.engine.results.WindowAttribution` objects (``srwidgets.attribute`` results).
        titles: one title per result (default: each result's ``method``).
        path: also save the figure there as PNG.
        view: ``"map"`` (raw map over the LR image ×s) or ``"kde"`` (the LAM paper's kernel-density view).
        cmap, alpha, inset: as :func:`srwidgets.viz.lam_figure`.

    Returns:
        ``matplotlib.figure.Figure`` with ``1 + len(results)`` axes.
    """
    from .figures import new_figure as Figure

    results = list(results)
    if not results:
        from ..errors import InputError

        raise InputError("methods_figure needs at least one result (srwidgets.attribute(...))")
    titles = list(titles) if titles is not None else [getattr(r, "method", "") for r in results]
    first = results[0]
    scale = scale_of(first)
    fig = Figure(figsize=(3.2 * (1 + len(results)), 3.9), layout="constrained")
    axes = fig.subplots(1, 1 + len(results), squeeze=False)[0]
    sr_panel(axes[0], first.sr, first.window, scale)
    for ax, r, name in zip(axes[1:], results, titles):
        map_panel(ax, r.image, r.map, r.window, scale, view, cmap, alpha, inset)
        ax.set_title(f"{name}{setting_note(r)}\nDI {r.diffusion_index:.2f}  Gini {r.gini:.3f}", fontsize=10)
        line = completeness(r) if getattr(r, "objective_baseline", None) is not None else None
        if line:
            ax.set_xlabel(line.replace("completeness: ", "").replace("  vs  ", " ≈\n"), fontsize=9)
    return finish_figure(fig, path)
