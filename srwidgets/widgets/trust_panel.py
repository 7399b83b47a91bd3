"""The Trust panel: a button that runs a callable (the LAM widget's :meth:`~srwidgets.widgets.lam.LAMWidget.run_trust`,
:func:`srwidgets.trust.report` on the current window) and an HTML area that shows the resulting tables, one
``pandas.DataFrame`` per model (:data:`TRUST_COLUMNS` of them, the skipped methods and why under the title).

    >>> import pandas as pd
    >>> pressed = []
    >>> panel = TrustPanel(lambda: pressed.append(True))
    >>> panel.button.click(); pressed
    [True]
    >>> panel.show((8, 8, 16, 16), {"edsr": pd.DataFrame({"verdict": ["trust"], "score": [0.5]}, index=["lam"])})
    >>> "<table" in panel.html.value and "Trust of edsr on (8, 8, 16, 16)" in panel.html.value
    True
"""
from __future__ import annotations

import html
from typing import Any, Callable, Mapping

import ipywidgets as widgets

__all__ = ["TrustPanel", "TRUST_COLUMNS", "trust_html"]

TRUST_COLUMNS = ("verdict", "score", "null_mean", "null_sd", "edge", "stratified", "rand_difference", "randomisation",
                 "planted_share", "planted", "completeness_gap", "invariant")
"""The columns of :func:`srwidgets.trust.report` the Trust panel shows (the whole table is the widget's
``trust_results``)."""


def trust_html(window: tuple, tables: Mapping[str, Any]) -> str:
    """The HTML of ``{model name: srwidgets.trust.report DataFrame}`` for ``window``: per model a title, the
    skipped methods (``df.attrs["skipped"]``, ``{method: why}``), checks that did not run (``df.attrs["notes"]``)
    and the :data:`TRUST_COLUMNS` it has."""
    parts = []
    for name, df in tables.items():
        cols = [c for c in TRUST_COLUMNS if c in df.columns]
        skipped = dict(df.attrs.get("skipped") or {}, **(df.attrs.get("notes") or {}))
        note = "".join(f"<br><i>{html.escape(m)}: {html.escape(why)}</i>" for m, why in skipped.items())
        parts.append(f"<b>Trust of {html.escape(name)} on {window}</b> (stratified: ROAD deletion score vs the "
                     f"null of random orders within rings and the edge control; randomisation: trained map vs the "
                     f"randomised model's; planted: a known far dependence found){note}"
                     + df[cols].to_html(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    return "".join(parts)


class TrustPanel:
    """The Trust button (``button``: runs ``on_press()``) over the tables' HTML (``html``, CSS class
    ``srw-trust``); ``box`` holds both."""

    def __init__(self, on_press: Callable[[], Any]):
        self.button = widgets.Button(description="Trust", icon="check", tooltip=(
            "the verdict table of the shown methods on this window: stratified ROAD deletion, randomisation, "
            "planted self-test (srwidgets.trust.report)"))
        self.button.on_click(lambda _: on_press())
        self.html = widgets.HTML("")
        self.html.add_class("srw-trust")
        self.box = widgets.VBox([self.button, self.html])

    def clear(self) -> None:
        self.html.value = ""

    def show(self, window: tuple, tables: Mapping[str, Any]) -> None:
        """Show the tables of ``window`` (:func:`trust_html`), replacing what was shown."""
        self.html.value = trust_html(window, tables)
