"""The LAM widget's settings on the view's side: the constructor's arguments checked, each traitlet's
``check_<name>`` (the convention of :mod:`srwidgets.widgets.base`) and the session's state under the widget's names.

The settings that are state (the window, the engines' knobs, the methods, the atlas' stride and window size) are
checked and kept by the session, ``LAMSession`` of :mod:`srwidgets.widgets.lam_session`: their ``check_<name>``
here forward to it (:func:`~srwidgets.widgets.session.session_check`). The display's (``alpha``, ``colormap``,
``view``, ``free_size``, ``atlas``) and the twins (``method`` of ``methods``, ``baseline`` of ``path``) are checked
here. :class:`LAMSettings` is a mixin of :class:`~srwidgets.widgets.lam.LAMWidget`, which owns ``session``.

    >>> from srwidgets.widgets.lam_settings import LAMSettings
    >>> LAMSettings.check_arguments({}, max_display=512, throttle=-1, lam_options=None)
    Traceback (most recent call last):
    ...
    srwidgets.errors.InputError: throttle must be a finite number >= 0 (seconds between repaints, e.g. 0.25), got -1
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import attribution
from ..engine import check_choice, check_int, check_number
from ..errors import InputError, KeywordError
from ..lam import PATHS
from .lam_session import (ATLAS_WINDOWS_PER_TASK, COLORMAPS, LAM_OPTIONS, RUNTIME_OPTIONS, TRAIT_KNOBS, VIEWS,
                          check_lam_options)
from .session import session_check

__all__ = ["LAMSettings", "COLORMAPS", "VIEWS", "ATLAS_WINDOWS_PER_TASK", "LAM_OPTIONS", "RUNTIME_OPTIONS",
           "TRAIT_KNOBS"]


def _session_attribute(name: str, doc: str):
    return property(lambda self: getattr(self.session, name), doc=doc)


MAX_DISPLAY = 4096
"""The widest SR canvas, screen pixels (``max_display``): a large image is fitted into it."""


class LAMSettings:
    """The LAM widget's checks and the session's state under the widget's names (a mixin)."""

    # the session's state
    models = _session_attribute("models", "{name: model} as given (never modified)")
    names = _session_attribute("names", "the models' names, in order")
    compare = _session_attribute("compare", "several models (compare mode)")
    image = _session_attribute("image", "the LR image [3, h, w] in [0, 1]")
    hr = _session_attribute("hr", "the HR image [3, s·h, s·w] in [0, 1], or None")
    scale = _session_attribute("scale", "the models' scale")
    runtimes = _session_attribute("runtimes", "{name: srwidgets.engine.base.Engine}: each model's runtime")
    engines = _session_attribute("engines", "{name: srwidgets.lam.LAM}, made when LAM is among the methods")

    # ------------------------------------------------------------------------------------------------ arguments
    @classmethod
    def check_arguments(cls, traits: dict, max_display, throttle, lam_options) -> tuple:
        """The constructor's arguments besides the models and images, checked before anything is built: a bad one
        is an InputError naming it and what it may be. Returns ``(max_display, throttle, lam_options dict)``."""
        unknown = [n for n in traits if n not in cls.keywords]
        if unknown:
            raise KeywordError(f"LAMWidget got an unexpected keyword argument {unknown[0]!r}; the keywords are: "
                               f"{', '.join(cls.keywords)}, scale, max_display, throttle, lam_options, hr")
        max_display = check_int("max_display", max_display, 64, f" and <= {MAX_DISPLAY} (screen pixels of the SR "
                                "canvas, e.g. 512)")
        if max_display > MAX_DISPLAY:  # a canvas wider than any screen: a large image would be drawn unshrunk
            raise InputError(f"max_display must be an integer >= 64 and <= {MAX_DISPLAY} (screen pixels of the SR "
                             f"canvas, e.g. 512), got {max_display}")
        throttle = check_number("throttle", throttle, 0.0, " (seconds between repaints, e.g. 0.25)")
        return max_display, throttle, check_lam_options(lam_options)

    # ------------------------------------------------------------------------------------------------ checks
    # check_<name>(value) -> value, raising InputError: at construction it is raised, afterwards it is shown in
    # ``error`` and the traitlet keeps its value (srwidgets.widgets.base). The session's settings are checked by the
    # session and set there (session_check).
    check_steps = session_check("steps", "LAMSession")
    check_sigma = session_check("sigma", "LAMSession")
    check_kernel_size = session_check("kernel_size", "LAMSession")
    check_path = session_check("path", "LAMSession")
    check_methods = session_check("methods", "LAMSession")
    check_knobs = session_check("knobs", "LAMSession")
    check_window_size = session_check("window_size", "LAMSession")
    check_atlas_stride = session_check("atlas_stride", "LAMSession")
    _check_window = session_check("window", "LAMSession")

    def check_window(self, value) -> tuple:
        """Check ``window`` (``LAMSession.check_window``) and set it in the session; refused: the status says so."""
        try:
            value = self._check_window(value)
        except InputError:
            if self.ready:
                if self.status != "window rejected":
                    self._status_kept = self.status  # what the status said: back once a window is accepted
                self.status = "window rejected"
            raise
        if self.ready and self.status == "window rejected":  # a valid window (maybe the kept one: no job starts)
            self.status = getattr(self, "_status_kept", "")
        return value

    def _views(self) -> list:
        return [v for v in VIEWS if v != "difference" or self.compare]

    def check_baseline(self, value) -> str:
        value = check_choice("baseline", value, PATHS)
        if not self._syncing:
            warnings.warn("LAMWidget's baseline is now called path (the engine's name; ig's baseline= is another "
                          "knob): use path=", DeprecationWarning, stacklevel=7)
        return value

    def check_method(self, value) -> str:
        return check_choice("method", value, attribution.methods())

    def check_alpha(self, value) -> float:
        value = check_number("alpha", value, 0.0, " and <= 1 (heatmap opacity)")
        if value > 1:
            raise InputError(f"alpha must be a finite number >= 0 and <= 1 (heatmap opacity), got {value!r}")
        return value

    def check_colormap(self, value) -> str:
        import matplotlib

        if not isinstance(value, str) or value not in matplotlib.colormaps:
            raise InputError(f"unknown colormap {value!r}; a matplotlib colormap name such as {', '.join(COLORMAPS)}")
        if hasattr(self, "colormap_dropdown") and value not in self.colormap_dropdown.options:
            self.colormap_dropdown.options = list(self.colormap_dropdown.options) + [value]
        return value

    def _flag(self, name, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, got {value!r}")
        return bool(value)

    def check_free_size(self, value) -> bool:
        return self._flag("free_size", value)

    def check_atlas(self, value) -> bool:
        return self._flag("atlas", value)

    def check_view(self, value) -> str:
        if value == "difference" and not self.compare:
            raise InputError("view='difference' needs two models (compare mode); with one model choose one of: "
                             + ", ".join(self._views()))
        return check_choice("view", value, self._views())

    # ------------------------------------------------------------------------------------------------ the session's
    def settings(self) -> dict:
        """LAM's keyword arguments of the current settings (``LAMSession.settings``)."""
        return self.session.settings()

    def method_knobs(self, method: str) -> dict:
        """The keyword arguments ``srwidgets.attribute(..., method=method)`` gets (``LAMSession.method_knobs`` of
        :meth:`settings`)."""
        return self.session.method_knobs(method, self.settings())

    def atlas_settings(self) -> dict:
        """The keyword arguments of :func:`srwidgets.batch.di_atlas` the atlas is computed with
        (``LAMSession.atlas_settings``)."""
        return self.session.atlas_settings()

    def _atlas_key(self, settings: dict) -> tuple:
        return self.session.atlas_key(settings)

    def lam_engine(self, name: str):
        """LAM's engine on model ``name``, made on first use (``LAMSession.lam_engine``)."""
        return self.session.lam_engine(name)

    def build_method_engines(self, methods) -> None:
        """Build the engines kept for ``methods`` (``LAMSession.build_method_engines``)."""
        self.session.build_method_engines(methods)
