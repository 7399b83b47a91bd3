"""The LAM widget's settings: the constructor's arguments and every traitlet checked (``check_<name>``, the
convention of :mod:`srwidgets.widgets.base`), and the checked values turned into what the engines take — the
keyword arguments of each method (:meth:`LAMSettings.method_knobs`), of the DI atlas
(:meth:`LAMSettings.atlas_settings`), the engine of a (model, method) panel and the cache keys of finished results.

:class:`LAMSettings` is a mixin of :class:`~srwidgets.widgets.lam.LAMWidget`: it reads the widget's traitlets and
``image``, ``scale``, ``hr``, ``runtimes``, ``engines``, ``models``, ``names``, ``compare`` and ``_options``; it
computes nothing, and builds LAM's engines only when LAM is among the methods (:meth:`LAMSettings.lam_engine`).

    >>> from srwidgets.widgets.lam_settings import LAMSettings
    >>> LAMSettings().check_kernel_size(4)
    Traceback (most recent call last):
    ...
    srwidgets.errors.InputError: kernel_size must be an odd integer >= 1 (the paper uses 9), got 4
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import attribution
from ..data import load_image
from ..engine import check_choice, check_int, check_number, check_steps
from ..engine.cache import model_key
from ..errors import InputError
from ..lam import LAM, PATHS
from ..engine.windows import validate_window
from .base import KeywordError

__all__ = ["LAMSettings", "COLORMAPS", "VIEWS", "ATLAS_WINDOWS_PER_TASK", "LAM_OPTIONS", "RUNTIME_OPTIONS"]

COLORMAPS = ["jet", "seismic", "viridis", "magma", "inferno", "hot", "coolwarm", "RdBu_r", "gray"]
"""The Colormap dropdown's names (any matplotlib colormap may be set from code; it is then added)."""
ATLAS_WINDOWS_PER_TASK = 8  # atlas windows per engine call: the progress bar moves (and a cancel lands) between them
LAM_OPTIONS = ("device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail")
"""The keys ``lam_options`` may have (:class:`srwidgets.lam.LAM`'s keyword arguments besides model and scale)."""
RUNTIME_OPTIONS = ("device", "chunk_size", "memory_budget", "crop")
"""The keys of ``lam_options`` every model's runtime (:class:`srwidgets.engine.base.Engine`) takes."""
WIDGET_OWN = {"callback", "cancel", "hr"}  # keyword arguments the widget gives every engine call itself
SLIDER_KNOBS = ("steps", "sigma", "kernel_size")  # LAM's sliders, given to every member that declares these knobs
TRAIT_KNOBS = SLIDER_KNOBS + ("path",)  # knobs held by traitlets (path: the Path dropdown); the others: ``knobs``
DEFAULT_METHOD = "lam"  # the widget's default method, whose engine it keeps per model (``engines``) when shown
VIEWS = {"map": "the raw map of each panel's method",
         "kde": "kernel-density view of the map (srwidgets.viz.kde_map, the LAM paper's style)",
         "erf": "effective receptive field of the window: Σ_c |∇_x D(F(x))| at the input (srwidgets.attribute "
                "method 'erf'), one per model",
         "difference": "compare mode: the first model's map minus the second's (same method), on the first "
                       "model's panels"}
"""The LR panels' views (the ``view`` traitlet)."""


class LAMSettings:
    """The checks of the LAM widget's settings and the engine arguments and cache keys made of them (a mixin)."""

    # ------------------------------------------------------------------------------------------------ arguments
    @classmethod
    def check_arguments(cls, traits: dict, max_display, throttle, lam_options) -> tuple:
        """The constructor's arguments besides the models and images, checked before anything is built: a bad one
        is an InputError naming it and what it may be. Returns ``(max_display, throttle, lam_options dict)``."""
        unknown = [n for n in traits if n not in cls.keywords]
        if unknown:
            raise KeywordError(f"LAMWidget got an unexpected keyword argument {unknown[0]!r}; the keywords are: "
                             f"{', '.join(cls.keywords)}, scale, max_display, throttle, lam_options, hr")
        max_display = check_int("max_display", max_display, 64, " (screen pixels of the SR canvas, e.g. 512)")
        throttle = check_number("throttle", throttle, 0.0, " (seconds between repaints, e.g. 0.25)")
        if lam_options is not None and not isinstance(lam_options, dict):
            raise InputError(f"lam_options must be a dict of srwidgets.lam.LAM keyword arguments (device, chunk_size, "
                             f"memory_budget, ...), got {type(lam_options).__name__}")
        bad = sorted(set(lam_options or {}) - set(LAM_OPTIONS))
        if bad:
            raise InputError(f"lam_options: unknown {', '.join(map(repr, bad))}; choose from: {', '.join(LAM_OPTIONS)}")
        return max_display, throttle, dict(lam_options or {})

    def _check_hr(self, hr):
        if hr is None:
            return None
        try:
            hr = load_image(hr)
        except InputError as exc:
            raise InputError(f"hr: {exc}") from None
        _, h, w = self.image.shape
        if tuple(hr.shape[-2:]) != (self.scale * h, self.scale * w):
            raise InputError(f"hr must be the HR image of the input, {self.scale * h}x{self.scale * w} (x{self.scale} "
                             f"the LR {h}x{w}), got {hr.shape[-2]}x{hr.shape[-1]}")
        return hr

    # ------------------------------------------------------------------------------------------------ checks
    # check_<name>(value) -> value, raising InputError: at construction it is raised, afterwards it is shown in
    # ``error`` and the traitlet keeps its value (srwidgets.widgets.base).
    def _views(self) -> list:
        return [v for v in VIEWS if v != "difference" or self.compare]

    def check_window(self, value) -> tuple:
        try:
            return self._check_window(value)
        except InputError:
            if self.ready:
                self.status = "window rejected"
            raise

    def _check_window(self, value) -> tuple:
        if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
            return ()
        # The engine's own check, run here synchronously so a bad window never reaches the worker.
        if isinstance(value, (str, bytes)):
            value = (value,)  # a string is not a window; let the engine's message say so
        _, h, w = self.image.shape
        return tuple(validate_window(value, h * self.scale, w * self.scale))

    def check_steps(self, value) -> int:
        return check_steps(value, hint=" (the paper uses 50)")

    def check_sigma(self, value) -> float:
        return check_number("sigma", value, 0.0, " (the paper uses 1.2)")

    def check_kernel_size(self, value) -> int:
        value = check_int("kernel_size", value, 1, " (odd; the paper uses 9)")
        if value % 2 == 0:
            raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {value}")
        return value

    def check_path(self, value) -> str:
        return check_choice("path", value, PATHS)

    def check_baseline(self, value) -> str:
        value = check_choice("baseline", value, PATHS)
        if not self._syncing:
            warnings.warn("LAMWidget's baseline is now called path (the engine's name; ig's baseline= is another "
                          "knob): use path=", DeprecationWarning, stacklevel=7)
        return value

    def check_method(self, value) -> str:
        return check_choice("method", value, attribution.methods())

    def check_methods(self, value) -> tuple:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not names:
            raise InputError(f"methods must be a method name or a non-empty list of them ({', '.join(attribution.methods())}), "
                             f"got {value!r}")
        known = attribution.methods()
        for name in names:
            check_choice("methods", name, known)
        names = tuple(dict.fromkeys(names))  # in the order given, once each
        if hasattr(self, "runtimes"):
            self.build_method_engines(names)  # LAM ticked: its engines now (a bad lam_options is this InputError)
        return names

    def check_knobs(self, value) -> dict:
        """``{method: {knob: value}}``: each member's knobs checked by its declaration
        (:func:`srwidgets.attribution.check_knobs`: unknown names refused with the list, values normalised)."""
        known = attribution.methods()
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise InputError(f"knobs must be a dict {{method: {{option: value}}}}, e.g. {{'ig': {{'baseline': "
                             f"'blurred'}}}}, got {value!r}")
        out = {}
        for name, options in value.items():
            check_choice("knobs", name, known)
            cls = attribution.method_class(name)
            taken = attribution.accepted_arguments(cls)  # None: any (checked when it runs)
            for option in options:
                own = not isinstance(option, str) or option in WIDGET_OWN
                if own or (taken is not None and option not in taken):
                    why = " (the widget passes its own: the progress bar, the Cancel button and hr=)" if own else ""
                    raise InputError(f"knobs[{name!r}]: unknown option {option!r}{why}; {self._takes(name)}")
            out[name] = attribution.check_knobs(cls, dict(options), f"knobs[{name!r}]")  # each value checked
        return out

    @staticmethod
    def _takes(name: str) -> str:
        taken = attribution.accepted_arguments(attribution.method_class(name))
        if taken is None:
            return f"{name}'s other options are checked when it runs"
        return f"{name} takes: {', '.join(sorted(set(taken) - WIDGET_OWN)) or 'no options'}"

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

    def check_window_size(self, value) -> int:
        value = check_int("window_size", value, 2, " (SR pixels; the paper uses 16)")
        image, scale = getattr(self, "image", None), getattr(self, "scale", None)
        if image is not None and scale is not None:
            side = min(image.shape[-2:]) * scale  # a click's window must fit the SR image
            if value > side:
                raise InputError(f"window_size must be an integer >= 2 and <= {side} (the SR image is "
                                 f"{image.shape[-2] * scale}x{image.shape[-1] * scale} SR pixels; the paper uses 16), "
                                 f"got {value}")
        return value

    def check_atlas_stride(self, value) -> int:
        return check_int("atlas_stride", value, 1, " (SR pixels)")

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

    # ------------------------------------------------------------------------------------------------ knobs
    def settings(self) -> dict:
        """LAM's keyword arguments of the current traitlets (SR px windows aside)."""
        return dict(steps=int(self.steps), sigma=float(self.sigma), kernel_size=int(self.kernel_size),
                    path=str(self.path))

    def method_knobs(self, method: str) -> dict:
        """The keyword arguments ``srwidgets.attribute(..., method=method)`` gets: the traitlets' knobs the member
        declares (the sliders ``steps``, ``sigma``, ``kernel_size`` and the Path dropdown's ``path``), ``hr`` where
        it needs it (``needs_hr``), then ``knobs[method]`` (its other knobs: the controls of its row)."""
        cls = attribution.method_class(method)
        s = self.settings()
        named = {k.name for k in attribution.knobs_of(cls)}  # the knobs the member declares
        out = {k: s[k] for k in TRAIT_KNOBS if k in named}
        if getattr(cls, "needs_hr", False):
            out["hr"] = self.hr
        out.update(self.knobs.get(method, {}))
        return out

    def build_method_engines(self, methods) -> None:
        """Build the engines the widget keeps for ``methods``: LAM's per model (``engines``) when ``"lam"`` is among
        them; nothing else (the other members' engines are made by :func:`srwidgets.attribution.engine` when they
        run)."""
        if DEFAULT_METHOD in methods:
            for name in self.names:
                self.lam_engine(name)

    def lam_engine(self, name: str):
        """LAM's engine on model ``name`` (:class:`srwidgets.lam.LAM` with ``lam_options``), made on first use and
        kept in ``engines`` (its caches make a dragged window fast)."""
        with self._engines_lock:
            engine = self.engines.get(name)
            if engine is None:
                engine = LAM(self.models[name], scale=self.scale, **self._options)  # checks autocast, ...
                self.engines[name] = engine
        return engine

    def _engine(self, name: str, method: str):
        """The member's engine on model ``name`` (``attribute(image, window, callback=, cancel=, **knobs)``): for the
        widget's default method (LAM) the engine it keeps per model (:meth:`lam_engine`), else the member's kept by
        :func:`srwidgets.attribution.engine`, with the widget's ``lam_options`` the member takes."""
        from ..attribution.registry import engine_options

        if method == DEFAULT_METHOD:
            return self.lam_engine(name)
        takes = engine_options(attribution.method_class(method))
        opts = {k: v for k, v in self._options.items() if k in takes}
        opts["device"] = self.runtimes[name].device
        return attribution.engine(self.models[name], method, scale=self.scale, **opts)

    def _missing_hr(self, method: str) -> bool:
        return self.hr is None and getattr(attribution.method_class(method), "needs_hr", False)

    def atlas_settings(self) -> dict:
        """The keyword arguments of :func:`srwidgets.batch.di_atlas` the atlas is computed with (besides the model,
        ``{first name: first model}``, and the image): the atlas stride, ``window_size`` and LAM's knobs."""
        s = self.settings()
        return dict(stride=int(self.atlas_stride), size=int(self.window_size), steps=s["steps"], sigma=s["sigma"],
                    kernel_size=s["kernel_size"], path=s["path"], device=self.runtimes[self.names[0]].device,
                    windows_per_task=ATLAS_WINDOWS_PER_TASK, progress=False)

    # ------------------------------------------------------------------------------------------------ cache keys
    def _key(self, name: str, method: str, window: tuple, knobs: dict) -> tuple:
        # The weights' and buffers' identity and version counters are part of the key: editing a model in place
        # (fine-tuning, load_state_dict, a changed mean shift) must not bring back results of the old state.
        shown = tuple(sorted((k, self._hr_key if k == "hr" else repr(v)) for k, v in knobs.items()))
        return (name, method, tuple(window), model_key(self.runtimes[name].model)) + shown

    def _atlas_key(self, settings: dict) -> tuple:
        name = self.names[0]
        return ("atlas", name, model_key(self.runtimes[name].model), self._image_key) + tuple(
            (k, str(v)) for k, v in sorted(settings.items()))

    def _erf_key(self, name: str, window: tuple) -> tuple:
        return ("erf", name, tuple(window), model_key(self.runtimes[name].model))
