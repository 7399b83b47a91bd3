"""Trust figures: the stratified MoRF / LeRF curves of one window with their null band, the methods × checks
grid of the verdict table, a column per method (and model) as bars, the Spearman randomisation cascade. Pictures
only: the numbers come from :mod:`srwidgets.trust`. Matplotlib Figures built without pyplot; text at least 9 pt
(12 px at 100 dpi).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": ["a", "a", "b"], "method": ["lam", "random", "lam"],
    ...                    "score": [0.2, 0.6, 0.3]})
    >>> len(auc_figure(df).axes[0].patches)   # one bar per (model, method) present
    3
"""
from __future__ import annotations

from typing import Optional

from ..errors import InputError
from .images import label_colors

__all__ = ["curves_figure", "checks_figure", "auc_figure", "randomisation_figure"]


def _figure(width, height):
    from .figures import new_figure as Figure

    return Figure(figsize=(width, height), layout="constrained")


def _stratified_source(source):
    """``(score_rankings dict, method names)`` from a report DataFrame or a stratified_deletion dict."""
    attrs = getattr(source, "attrs", None)
    if attrs and attrs.get("stratified"):
        groups = attrs["stratified"]
        objective = "gradient" if "gradient" in groups else next(iter(groups))
        r = groups[objective]
        names = [n for n in r["curves"]
                 if "|" not in n and not n.startswith("random:") and n not in ("edge", "distance")]
        return r, names
    if isinstance(source, dict) and "morf" in source and "controls" in source:
        curves = dict(source["controls"])
        curves[source["ranking"]] = {"morf": source["morf"]["s"], "lerf": source["lerf"]["s"]}
        return {"curves": curves, "fractions": source["morf"]["fractions"]}, [source["ranking"]]
    raise InputError("curves_figure needs the DataFrame of srwidgets.trust.report (its attrs hold the curves) or the "
                     "dict of srwidgets.trust.stratified_deletion; a table read back from CSV has no curves")


def curves_figure(source, title: Optional[str] = None):
    """Stratified MoRF and LeRF curves (``s(f)`` against the fraction of every ring removed) of a
    :func:`srwidgets.trust.report` DataFrame or a :func:`srwidgets.trust.stratified_deletion` dict: methods solid,
    the edge and distance controls dashed, the null (random orders within rings) as its mean ± one standard
    deviation band. A faithful map: its MoRF curve low (below the band), its LeRF curve high (above it)."""
    import numpy as np

    r, names = _stratified_source(source)
    f = np.asarray(r["fractions"])
    curves = r["curves"]
    colors = label_colors(list(names) + ["edge", "distance"])
    fig = _figure(9.0, 3.8)
    axes = fig.subplots(1, 2)
    for ax, order in zip(axes, ("morf", "lerf")):
        null = np.array([c[order] for k, c in curves.items() if k.startswith("random:")])
        if len(null):
            mean, sd = null.mean(0), null.std(0, ddof=1) if len(null) > 1 else np.zeros(len(f))
            ax.fill_between(f, mean - sd, mean + sd, color="0.8", label="null ± sd")
            ax.plot(f, mean, color="0.5", lw=1)
        for name in ("edge", "distance"):
            if name in curves:
                ax.plot(f, curves[name][order], ls="--", color=colors[name], label=name)
        for name in names:
            c = curves[name]
            score = np.trapezoid(c["lerf"], f) - np.trapezoid(c["morf"], f) if hasattr(np, "trapezoid") else \
                np.trapz(c["lerf"], f) - np.trapz(c["morf"], f)
            ax.plot(f, c[order], color=colors[name], lw=2, label=f"{name} ({score:+.2f})")
        ax.set_xlabel("fraction of every ring removed", fontsize=10)
        ax.set_ylabel("s(f) = (D(x_f) − D(x_B)) / (D(x) − D(x_B))", fontsize=9)
        ax.set_title("MoRF: most relevant first (low = faithful)" if order == "morf"
                     else "LeRF: least relevant first (high = faithful)", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.set_xlim(0, 1)
    axes[1].legend(fontsize=9, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


CHECK_COLUMNS = (("stratified", "score"), ("randomisation", "rand_difference"), ("planted", "planted_share"),
                 ("completeness", "completeness_gap"), ("invariant", "invariance"))


def checks_figure(table, title: Optional[str] = None):
    """The methods × checks grid of a :func:`srwidgets.trust.report` (one window) or :func:`srwidgets.trust.table`
    frame: green = pass, red = fail, grey = not run; each cell shows the check's number (score, difference,
    share, completeness gap, overlap) or, over several windows, the pass rate. Rows: methods (``model: method``
    for a table)."""
    import numpy as np

    df = table.reset_index() if "method" not in getattr(table, "columns", ()) else table
    if "method" not in df.columns:
        raise InputError("checks_figure needs the frame of srwidgets.trust.report or srwidgets.trust.table")
    checks = [(c, v) for c, v in CHECK_COLUMNS if c in df.columns or v in df.columns]
    if not checks:
        raise InputError("the frame has no check columns (stratified, randomisation, planted, ...): make it with "
                         "srwidgets.trust.report or srwidgets.trust.table")
    keys = ["model", "method"] if "model" in df.columns else ["method"]
    groups = list(df.groupby(keys, sort=False))
    fig = _figure(1.7 * len(checks) + 2.2, 0.45 * len(groups) + 1.2)
    ax = fig.subplots()
    colours = {"pass": (0.55, 0.8, 0.55), "fail": (0.93, 0.55, 0.5), "yes": (0.55, 0.8, 0.55)}
    for i, (key, sub) in enumerate(groups):
        for j, (check, value) in enumerate(checks):
            words = sub[check].astype(str).tolist() if check in sub else []
            if check == "completeness":
                gap = sub[value].astype(float) if value in sub else None
                ok = None if gap is None or gap.isna().all() else bool((gap.fillna(0) <= 0.1).all())
                words = [] if ok is None else ["pass" if ok else "fail"]
            words = [w for w in words if w in ("pass", "fail")]  # "-": not judged or not run (grey, not a fail)
            rate = np.mean([w == "pass" for w in words]) if words else None
            colour = (0.85, 0.85, 0.85) if rate is None else tuple(np.array(colours["fail"]) * (1 - rate)
                                                                  + np.array(colours["pass"]) * rate)
            ax.add_patch(_rect(j, i, colour))
            if len(sub) == 1:
                v = sub[value].iloc[0] if value in sub else None
                text = "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.2f}"
            else:
                text = "-" if rate is None else f"{rate:.0%}"
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=10)
    ax.set_xlim(0, len(checks))
    ax.set_ylim(len(groups), 0)
    ax.set_xticks([j + 0.5 for j in range(len(checks))], [c for c, _ in checks], fontsize=10)
    ax.set_yticks([i + 0.5 for i in range(len(groups))],
                  [": ".join(k) if isinstance(k, tuple) else str(k) for k, _ in groups], fontsize=10)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=11, pad=24)
    return fig


def _rect(j, i, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((j + 0.03, i + 0.05), 0.94, 0.9, color=colour)


def auc_figure(table, column: str = "score", title: Optional[str] = None):
    """Bars of ``column`` per method, grouped by model, from a :func:`srwidgets.trust.table` (or report) frame;
    several windows / images of a (model, method) are averaged, their spread drawn as the standard deviation."""
    df = table.reset_index() if "method" not in table.columns else table
    if column not in df.columns:
        raise InputError(f"the table has no column {column!r}; choose one of: "
                         f"{', '.join(c for c in df.columns if df[c].dtype.kind == 'f')}")
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
