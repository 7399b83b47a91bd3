"""The Trust panel: a button that runs a callable (the LAM widget's :meth:`~srwidgets.widgets.lam.LAMWidget.run_trust`,
:func:`srwidgets.trust.report` on the current window) and an HTML area that shows the resulting tables, one
``pandas.DataFrame`` per model (:data:`TRUST_COLUMNS` of them, the skipped methods and why under the title).

    >>> import pandas as pd
    >>> pressed = []
    >>> panel = TrustPanel(lambda: pressed.append(True))
    >>> panel.button.click(); pressed
    [True]
    >>> panel.show((8, 8, 16, 16), {"edsr": pd.DataFrame({"kind": ["lam"], "gini": [0.5]})})
    >>> "<table" in panel.html.value and "Trust of edsr on (8, 8, 16, 16)" in panel.html.value
    True
"""
from __future__ import annotations

import html
from typing import Any, Callable, Mapping

import ipywidgets as widgets

__all__ = ["TrustPanel", "TRUST_COLUMNS", "trust_html"]

TRUST_COLUMNS = ("kind", "gini", "diffusion_index", "auc_deletion_norm", "auc_insertion_norm", "del_vs_random",
                 "ins_vs_random", "edge_spearman")
"""The columns of :func:`srwidgets.trust.report` the Trust panel shows (the whole table is the widget's
``trust_results``)."""


def trust_html(window: tuple, tables: Mapping[str, Any]) -> str:
    """The HTML of ``{model name: srwidgets.trust.report DataFrame}`` for ``window``: per model a title, the
    skipped methods (``df.attrs["skipped"]``, ``{method: why}``) and the :data:`TRUST_COLUMNS` it has."""
    parts = []
    for name, df in tables.items():
        cols = [c for c in TRUST_COLUMNS if c in df.columns]
        skipped = df.attrs.get("skipped") or {}
        note = "".join(f"<br><i>{html.escape(m)}: {html.escape(why)}</i>" for m, why in skipped.items())
        parts.append(f"<b>Trust of {html.escape(name)} on {window}</b> (negative del_vs_random / positive "
                     f"ins_vs_random: the map finds the window's detail faster than chance){note}"
                     + df[cols].to_html(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    return "".join(parts)


class TrustPanel:
    """The Trust button (``button``: runs ``on_press()``) over the tables' HTML (``html``, CSS class
    ``srw-trust``); ``box`` holds both."""

    def __init__(self, on_press: Callable[[], Any]):
        self.button = widgets.Button(description="Trust", icon="check", tooltip=(
            "deletion / insertion curves of the shown methods on this window, against random and edge controls "
            "(srwidgets.trust.report)"))
        self.button.on_click(lambda _: on_press())
        self.html = widgets.HTML("")
        self.html.add_class("srw-trust")
        self.box = widgets.VBox([self.button, self.html])

    def clear(self) -> None:
        self.html.value = ""

    def show(self, window: tuple, tables: Mapping[str, Any]) -> None:
        """Show the tables of ``window`` (:func:`trust_html`), replacing what was shown."""
        self.html.value = trust_html(window, tables)
