"""srwidgets: look inside image super-resolution networks from a Jupyter notebook.

Engines (plain PyTorch) on the shared runtime :mod:`srwidgets.engine`: the window-attribution family
(:func:`attribute`, :mod:`srwidgets.attribution`: LAM, integrated gradients, gradient, ERF, SmoothGrad, ...),
:mod:`srwidgets.lam`, :mod:`srwidgets.ddr`, :mod:`srwidgets.faig`. Widgets (ipywidgets + ipycanvas):
:class:`LAMWidget`, :class:`DDRWidget`, :class:`FAIGWidget`. Models: :mod:`srwidgets.models`, :mod:`srwidgets.zoo`.

Submodules load lazily so that ``import srwidgets`` stays light and engines never pull in ipywidgets.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# the public submodules and widgets, imported on first use (importing srwidgets stays fast)
_SUBMODULES = {"lam", "ddr", "faig", "batch", "zoo", "models", "data", "degrade", "metrics", "filters", "engine",
               "progress", "viz", "errors", "attribution", "cem", "trust"}
_WIDGETS = {"LAMWidget": "srwidgets.widgets.lam", "DDRWidget": "srwidgets.widgets.ddr",
            "FAIGWidget": "srwidgets.widgets.faig"}

__all__ = ["attribute", "attribution", "LAMWidget", "DDRWidget", "FAIGWidget", "lam", "ddr", "faig", "batch", "zoo", "models", "data", "degrade",
           "metrics"]


def __getattr__(name):
    if name == "attribute":
        return importlib.import_module("srwidgets.attribution").attribute
    if name in _SUBMODULES:
        return importlib.import_module(f"srwidgets.{name}")
    if name in _WIDGETS:
        return getattr(importlib.import_module(_WIDGETS[name]), name)
    raise AttributeError(f"module 'srwidgets' has no attribute {name!r}")
