"""Trust figures: deletion / insertion curves of one window, AUC per method (and model), randomisation curves.
Pictures only: the numbers come from :mod:`srwidgets.trust`. Matplotlib Figures built without pyplot.

Curves are drawn over the fraction of LR units replaced (x in [0, 1]) against the normalised objective
``D(F(x_k)) / D(F(x))``; controls are dashed, methods solid, colours from :data:`srwidgets.viz.PALETTE` in row order.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": ["a", "a", "b"], "method": ["lam", "random", "lam"],
    ...                    "auc_deletion_norm": [0.2, 0.6, 0.3]})
    >>> len(auc_figure(df).axes[0].patches)   # one bar per (model, method) present
    3
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..errors import InputError
from .images import label_colors

__all__ = ["curves_figure", "auc_figure", "randomisation_figure"]


def _figure(width, height):
    from .figures import new_figure as Figure

    return Figure(figsize=(width, height), layout="constrained")


def curves_figure(report, modes: Sequence[str] = ("deletion", "insertion"), title: Optional[str] = None):
    """The curves of a :func:`srwidgets.trust.report` DataFrame (its ``attrs["curves"]``), one panel per mode,
    each curve labelled with its normalised AUC."""
    curves = getattr(report, "attrs", {}).get("curves")
    if not curves:
        raise InputError("curves_figure(report) needs the DataFrame of srwidgets.trust.report (its attrs hold the "
                         "curves); a table read back from CSV has no curves")
    modes = [m for m in modes if any(k[1] == m for k in curves)]
    names = list(dict.fromkeys(k[0] for k in curves))
    colors = label_colors(names)
    fig = _figure(4.2 * max(1, len(modes)), 3.4)
    axes = fig.subplots(1, max(1, len(modes)), squeeze=False)[0]
    for ax, mode in zip(axes, modes):
        for name in names:
            c = curves.get((name, mode))
            if c is None:
                continue
            control = name in ("random", "edge")
            ax.plot(c["fractions"], c["scores_normalised"], ls="--" if control else "-", color=colors[name],
                    label=f"{name} ({c['auc_normalised']:.3f})")
        ax.set_xlabel("fraction of LR pixels " + ("deleted" if mode == "deletion" else "inserted"))
        ax.set_ylabel("window objective / D(F(x))")
        ax.set_title(f"{mode} ({'lower' if mode == 'deletion' else 'higher'} AUC = more faithful)", fontsize=9)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def auc_figure(table, column: str = "auc_deletion_norm", title: Optional[str] = None):
    """Bars of ``column`` per method, grouped by model, from a :func:`srwidgets.trust.table` (or report) frame;
    several windows / images of a (model, method) are averaged, their spread drawn as the standard deviation."""
    df = table.reset_index() if "method" not in table.columns else table
    if column not in df.columns:
        raise InputError(f"the table has no column {column!r}; choose one of: "
                         f"{', '.join(c for c in df.columns if c.startswith('auc') or c.startswith('rand'))}")
    if "model" not in df.columns:
        df = df.assign(model="model")
    stats = df.groupby(["model", "method"], sort=False)[column].agg(["mean", "std"]).reset_index()
    models = list(dict.fromkeys(stats["model"]))
    methods = list(dict.fromkeys(stats["method"]))
    colors = label_colors(methods)
    fig = _figure(max(4.0, 1.2 * len(models) * max(1, len(methods)) / 3), 3.2)
    ax = fig.subplots()
    width = 0.8 / max(1, len(methods))
    for j, method in enumerate(methods):
        sub = stats[stats["method"] == method]
        xs = [models.index(m) + (j - (len(methods) - 1) / 2) * width for m in sub["model"]]
        ax.bar(xs, sub["mean"], width, yerr=sub["std"].fillna(0), color=colors[method], label=method)
    ax.set_xticks(range(len(models)), models, fontsize=8)
    ax.set_ylabel(column)
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def randomisation_figure(rows: dict, title: Optional[str] = None):
    """Spearman against layers randomised (output layer first), one line per method:
    ``rows`` ``{method: srwidgets.trust.randomisation_rows(...)}`` (or ``report(...).attrs["randomisation"]``)."""
    if not rows:
        raise InputError("randomisation_figure needs {method: rows} with at least one method")
    colors = label_colors(rows)
    fig = _figure(5.0, 3.2)
    ax = fig.subplots()
    for method, rs in rows.items():
        ax.plot(range(1, len(rs) + 1), [r["spearman"] for r in rs], marker="o", ms=3, color=colors[method],
                label=method)
    first = next(iter(rows.values()))
    ax.set_xticks(range(1, len(first) + 1), [r["layer"] for r in first], rotation=90, fontsize=6)
    ax.set_ylabel("Spearman(trained map, randomised map)")
    ax.set_xlabel("layers re-initialised, from the output back")
    ax.set_ylim(-1.05, 1.05)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
