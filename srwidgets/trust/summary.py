"""The verdict over several windows: :func:`summary` pools the per-window checks of a :func:`~srwidgets.trust.table`.

One window rarely decides: the null of the stratified test (random orders within rings) has a standard deviation of
0.08–0.15 on the zoo's models, so a method must beat its null by 3 sd on that one window. Over ``n`` windows the
evidence adds up. For each window ``w`` the stratified margin ``d_w = score_w − null_mean_w`` is, for a ranking that
carries no information within rings, one more draw of the null less the mean of ``seeds`` draws: its variance is
``null_sd_w² (1 + 1/seeds)``. The pooled statistic

    ``z = Σ_w d_w / sqrt((1 + 1/seeds) Σ_w null_sd_w²)``

(Stouffer's weighted combination) is then about N(0, 1) if the windows are independent (windows that overlap, or
share most of their receptive field, are not: keep them apart), and the pooled check asks ``z > 3`` — the
per-window rule with the windows' evidence combined — and a mean score above the mean edge control. It is a test of
whether the method carries information, not of how much: ``effect`` (the mean of ``d_w / null_sd_w``) says how far
above its null a method is on a typical window. Randomisation pools the same way
(``Σ rand_difference / sqrt(Σ null_sd²)`` against 2, the per-window threshold); the planted self-test passes when it
passes on more than half the windows it ran on. Windows whose stratified curves were not informative
(``stratified`` "-": a flat window) do not count.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InputError
from .report import DECIDING, verdict_words

__all__ = ["summary", "POOLED_Z"]

POOLED_Z = {"stratified": 3.0, "randomisation": 2.0}
"""The pooled z a method must exceed, per check: the per-window thresholds of :data:`~srwidgets.trust.CHECKS`."""

_NEEDED = ("score", "null_mean", "null_sd", "edge", "stratified")


def _judged(value) -> bool:
    return isinstance(value, str) and value in ("pass", "fail")


def summary(table, by: Sequence[str] = ("model", "method"), seeds: int = 4):
    """The verdict over windows: one row per ``by`` group (default model and method) of a trust table.

    Args:
        table: a DataFrame of :func:`~srwidgets.trust.table` (or several :func:`~srwidgets.trust.report`
            tables concatenated with the ``by`` columns), or the path of the CSV ``table(path=...)`` wrote. It
            needs ``score``, ``null_mean``, ``null_sd``, ``edge`` and ``stratified``; ``rand_difference`` and
            ``planted`` are used when present.
        by: the columns that name a group; every other row of the group is one window (of any image).
        seeds: the number of random orders behind each window's null (``seeds=`` of the table; 4 by default):
            the null mean's own uncertainty enters the pooled variance.

    Returns:
        ``pandas.DataFrame`` indexed by ``by``, columns: ``windows`` (judged windows), ``score_mean`` /
        ``score_sd`` (the stratified score over them), ``null_mean``, ``edge_mean``, ``effect`` (mean standardised
        margin), ``stratified_z`` and
        ``stratified`` (pass when ``stratified_z`` > 3 and ``score_mean`` > ``edge_mean``), ``passed_windows``
        (windows where the per-window stratified check passed), ``rand_z`` and ``randomisation`` (> 2), ``planted``
        ("pass" on more than half its windows; ``planted_windows`` says "k/n"), and ``verdict`` in the words of
        :func:`~srwidgets.trust.report`. Sorted by ``stratified_z``, best first, within the first ``by`` column.

    Raises:
        InputError: a table without the needed columns, one without a judged window, a judged row with a missing or
            infinite number or a null spread of 0 (``seeds=1``), a window listed twice for one group (it would
            count twice), ``seeds`` < 1.

    Example:
        >>> import pandas as pd
        >>> rows = [dict(model="m", method="lam", window=k, score=0.30, null_mean=0.0, null_sd=0.1, edge=0.05,
        ...              stratified="fail", rand_difference=0.15) for k in range(4)]
        >>> s = summary(pd.DataFrame(rows))
        >>> row = s.loc[("m", "lam")]   # one window: 3 sd, not above the bar; four: 1.2 / sqrt(1.25 · 0.04) = 5.37
        >>> int(row.windows), float(round(row.stratified_z, 2)), row.stratified, int(row.passed_windows), row.verdict
        (4, 5.37, 'pass', 0, 'trust (passes stratified, randomisation)')
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
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise InputError(f"seeds={seeds!r} must be the table's number of null seeds, an integer >= 1 (4 by default)")
    rows = table[table["stratified"].map(_judged)]
    if rows.empty:
        raise InputError("no window of the table has a judged stratified check (all '-': flat windows, or the check "
                         "was not run); nothing to pool")
    numbers = rows[["score", "null_mean", "null_sd", "edge"]].apply(pd.to_numeric, errors="coerce")
    if not np.isfinite(numbers.to_numpy(dtype=float)).all():
        bad = rows[~np.isfinite(numbers.to_numpy(dtype=float)).all(axis=1)].index.tolist()[:5]
        raise InputError(f"rows {bad} have a missing or infinite score, null_mean, null_sd or edge; a table of "
                         "trust.table() has none: drop those rows or compute them again")
    if (numbers["null_sd"] <= 0).any():
        raise InputError("a window's null has no spread (null_sd = 0: the table was computed with seeds=1), so its "
                         "margin cannot be weighed; compute the table with seeds >= 2 (4 by default)")
    place = [c for c in ("image", "window") if c in rows.columns]
    if place:
        twice = rows[rows.duplicated([*by, *place], keep=False)]
        if len(twice):
            first = twice.iloc[0]
            raise InputError(f"{', '.join(f'{c} {first[c]!r}' for c in (*by, *place))} is in the table more than "
                             "once; each window counts once in the pooled verdict: drop the repeated rows")
    out = {}
    for key, g in rows.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        score, null_mean, null_sd = (g[c].astype(float) for c in ("score", "null_mean", "null_sd"))
        z = float((score - null_mean).sum()) / math.sqrt((1 + 1 / seeds) * float((null_sd ** 2).sum()))
        score_mean, edge_mean = float(score.mean()), float(g["edge"].astype(float).mean())
        row = {"windows": len(g), "score_mean": score_mean,
               "score_sd": float(score.std(ddof=1)) if len(g) > 1 else math.nan,
               "null_mean": float(null_mean.mean()), "edge_mean": edge_mean,
               "effect": float(((score - null_mean) / null_sd).mean()), "stratified_z": z,
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
        row["verdict"] = verdict_words(row, DECIDING)
        out[key] = row
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index = pd.MultiIndex.from_tuples(df.index, names=by) if len(by) > 1 else pd.Index(
        [k[0] for k in df.index], name=by[0])
    order = ["verdict", "windows", "score_mean", "score_sd", "null_mean", "edge_mean", "effect", "stratified_z",
             "stratified", "passed_windows", "rand_z", "randomisation", "planted_windows", "planted"]
    df = df[[c for c in order if c in df.columns]]
    first = df.index.get_level_values(0) if len(by) > 1 else df.index
    df = df.assign(_first=list(first)).sort_values(["_first", "stratified_z"], ascending=[True, False],
                                                   kind="stable").drop(columns="_first")
    return df
