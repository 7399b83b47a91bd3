"""The verdict over several windows: :func:`summary` pools the per-window checks of a :func:`~srwidgets.trust.table`.

One window rarely decides: the null of the stratified test (random orders within rings) has a standard deviation of
0.08–0.15 on the zoo's models, so a method must beat its null by 3 sd on that one window. Over ``n`` windows the
evidence adds up. For each window ``w`` the stratified margin ``d_w = score_w − null_mean_w`` is, for a ranking that
carries no information within rings, a draw with standard deviation ``null_sd_w``; the pooled statistic

    ``z = Σ_w d_w / sqrt(Σ_w null_sd_w²)``

(Stouffer's weighted combination) is then about N(0, 1), and the pooled check asks ``z > 3`` — the per-window rule
with the windows' evidence combined — and a mean score above the mean edge control. Randomisation pools the same
way (``Σ rand_difference / sqrt(Σ null_sd²)`` against 2, the per-window threshold); the planted self-test passes
when it passes on more than half the windows it ran on. Windows whose stratified curves were not informative
(``stratified`` "-": a flat window) do not count.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..errors import InputError
from .report import DECIDING, _verdict

__all__ = ["summary", "POOLED_Z"]

POOLED_Z = {"stratified": 3.0, "randomisation": 2.0}
"""The pooled z a method must exceed, per check: the per-window thresholds of :data:`~srwidgets.trust.CHECKS`."""

_NEEDED = ("score", "null_mean", "null_sd", "edge", "stratified")


def _judged(value) -> bool:
    return isinstance(value, str) and value in ("pass", "fail")


def summary(table, by: Sequence[str] = ("model", "method")):
    """The verdict over windows: one row per ``by`` group (default model and method) of a trust table.

    Args:
        table: a DataFrame of :func:`~srwidgets.trust.table` (or several :func:`~srwidgets.trust.report`
            tables concatenated with the ``by`` columns), or the path of the CSV ``table(path=...)`` wrote. It
            needs ``score``, ``null_mean``, ``null_sd``, ``edge`` and ``stratified``; ``rand_difference`` and
            ``planted`` are used when present.
        by: the columns that name a group; every other row of the group is one window (of any image).

    Returns:
        ``pandas.DataFrame`` indexed by ``by``, columns: ``windows`` (judged windows), ``score_mean`` /
        ``score_sd`` (the stratified score over them), ``null_mean``, ``edge_mean``, ``stratified_z`` and
        ``stratified`` (pass when ``stratified_z`` > 3 and ``score_mean`` > ``edge_mean``), ``passed_windows``
        (windows where the per-window stratified check passed), ``rand_z`` and ``randomisation`` (> 2), ``planted``
        ("pass" on more than half its windows; ``planted_windows`` says "k/n"), and ``verdict`` in the words of
        :func:`~srwidgets.trust.report`. Sorted by ``stratified_z``, best first, within the first ``by`` column.

    Raises:
        InputError: a table without the needed columns, or one without a judged window.

    Example:
        >>> import pandas as pd
        >>> rows = [dict(model="m", method="lam", score=0.30, null_mean=0.0, null_sd=0.1, edge=0.05,
        ...              stratified="fail", rand_difference=0.15)] * 4
        >>> s = summary(pd.DataFrame(rows))
        >>> row = s.loc[("m", "lam")]   # one window: z = 0.30 / 0.1 = 3.0, not above 3; four: 1.2 / 0.2 = 6
        >>> int(row.windows), float(round(row.stratified_z, 3)), row.stratified, int(row.passed_windows), row.verdict
        (4, 6.0, 'pass', 0, 'trust (passes stratified, randomisation)')
    """
    import pandas as pd

    if isinstance(table, (str, bytes)) or hasattr(table, "__fspath__"):
        table = pd.read_csv(table)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a DataFrame of trust.table() or the path of its CSV, got "
                         f"{type(table).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in (*by, *_NEEDED) if c not in table.columns]
    if missing:
        raise InputError(f"the table has no column {', '.join(missing)}: pass a table of trust.table() (or trust.report "
                         f"tables with {', '.join(by)} columns added), with the stratified check run")
    rows = table[table["stratified"].map(_judged)]
    if rows.empty:
        raise InputError("no window of the table has a judged stratified check (all '-': flat windows, or the check "
                         "was not run); nothing to pool")
    out = {}
    for key, g in rows.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        sd2 = float((g["null_sd"].astype(float) ** 2).sum())
        margin = float((g["score"].astype(float) - g["null_mean"].astype(float)).sum())
        z = margin / math.sqrt(sd2) if sd2 > 0 else math.nan
        score_mean, edge_mean = float(g["score"].mean()), float(g["edge"].mean())
        row = {"windows": len(g), "score_mean": score_mean,
               "score_sd": float(g["score"].std(ddof=1)) if len(g) > 1 else math.nan,
               "null_mean": float(g["null_mean"].mean()), "edge_mean": edge_mean, "stratified_z": z,
               "stratified": "pass" if z > POOLED_Z["stratified"] and score_mean > edge_mean else "fail",
               "passed_windows": int((g["stratified"] == "pass").sum())}
        if "rand_difference" in g.columns and g["rand_difference"].notna().any():
            r = g[g["rand_difference"].notna()]
            rsd = math.sqrt(float((r["null_sd"].astype(float) ** 2).sum()))
            rz = float(r["rand_difference"].astype(float).sum()) / rsd if rsd > 0 else math.nan
            row.update(rand_z=rz, randomisation="pass" if rz > POOLED_Z["randomisation"] else "fail")
        if "planted" in g.columns:
            ran = g["planted"][g["planted"].map(_judged)]
            if len(ran):
                hits = int((ran == "pass").sum())
                row.update(planted_windows=f"{hits}/{len(ran)}", planted="pass" if hits > len(ran) / 2 else "fail")
        row["verdict"] = _verdict(row, DECIDING)
        out[key] = row
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index = pd.MultiIndex.from_tuples(df.index, names=by) if len(by) > 1 else pd.Index(
        [k[0] for k in df.index], name=by[0])
    order = ["verdict", "windows", "score_mean", "score_sd", "null_mean", "edge_mean", "stratified_z", "stratified",
             "passed_windows", "rand_z", "randomisation", "planted_windows", "planted"]
    df = df[[c for c in order if c in df.columns]]
    first = df.index.get_level_values(0) if len(by) > 1 else df.index
    df = df.assign(_first=list(first)).sort_values(["_first", "stratified_z"], ascending=[True, False],
                                                   kind="stable").drop(columns="_first")
    return df
