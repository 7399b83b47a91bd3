"""The LAM widget's session: its state, jobs and cache, without a view. :class:`LAMSession` holds the models, one
runtime each (:class:`srwidgets.engine.base.Engine`) and LAM's engines (made only when ``"lam"`` is among the
methods), the LR image and the optional HR image, the settings (checked by ``check_<name>``), the finished results
(an LRU cache) and the jobs a script calls as the widget's worker does: every panel's attribution of a window, the
ERF, the DI atlas, the SR preview and the trust report. It imports no ipywidgets.

    >>> from srwidgets.data import lr_image
    >>> from srwidgets.widgets.lam_session import LAMSession
    >>> s = LAMSession("x4-fsrcnn", lr_image("astronaut", 4))     # LR 64x64, SR 256x256
    >>> s.set(steps=8, methods=["lam", "gradient"])
    >>> results = s.run((120, 96, 16))       # {(model, method): result}, window in SR pixels
    >>> sorted(results)
    [('x4-fsrcnn', 'gradient'), ('x4-fsrcnn', 'lam')]
    >>> s.run((120, 96, 16))[("x4-fsrcnn", "lam")] is results[("x4-fsrcnn", "lam")]   # the cache's
    True

:class:`~srwidgets.widgets.lam.LAMWidget` is the view: its traitlets are the settings, its worker runs
:meth:`LAMSession.panels`, :meth:`LAMSession.iter_erf`, :meth:`LAMSession.atlas` and :meth:`LAMSession.trust`, and it
shows what they return.
"""
from __future__ import annotations

import threading
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

from .. import attribution
from ..attribution.registry import engine_options
from ..data import load_image
from ..engine import check_choice, check_int, check_number, check_steps
from ..engine.base import Engine
from ..engine.cache import LRUCache, image_digest, model_key
from ..engine.windows import validate_window
from ..errors import InputError
from ..lam import LAM, PATHS
from ..progress import Progress
from ..zoo.lookup import named_models
from .session import Session

__all__ = ["LAMSession", "WindowPlan", "SETTINGS", "COLORMAPS", "VIEWS", "ATLAS_WINDOWS_PER_TASK", "LAM_OPTIONS",
           "RUNTIME_OPTIONS", "TRAIT_KNOBS", "check_lam_options", "check_knobs", "load_hr"]

COLORMAPS = ["jet", "seismic", "viridis", "magma", "inferno", "hot", "coolwarm", "RdBu_r", "gray"]
"""The Colormap dropdown's names (any matplotlib colormap may be set from code; it is then added)."""
ATLAS_WINDOWS_PER_TASK = 8  # atlas windows per engine call: the progress bar moves (and a cancel lands) between them
LAM_OPTIONS = ("device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail")
"""The keys ``lam_options`` may have (:class:`srwidgets.lam.LAM`'s keyword arguments besides model and scale)."""
RUNTIME_OPTIONS = ("device", "chunk_size", "memory_budget", "crop")
"""The keys of ``lam_options`` every model's runtime (:class:`srwidgets.engine.base.Engine`) takes."""
WIDGET_OWN = {"callback", "cancel", "hr"}  # keyword arguments the session gives every engine call itself
SLIDER_KNOBS = ("steps", "sigma", "kernel_size")  # LAM's sliders, given to every member that declares these knobs
TRAIT_KNOBS = SLIDER_KNOBS + ("path",)
"""The knobs held by settings of their own (the sliders and the Path dropdown); a member's others are in ``knobs``."""
DEFAULT_METHOD = "lam"  # the default method, whose engine the session keeps per model (``engines``) when shown
VIEWS = {"map": "the raw map of each panel's method",
         "kde": "kernel-density view of the map (srwidgets.viz.kde_map, the LAM paper's style)",
         "erf": "effective receptive field of the window: Σ_c |∇_x D(F(x))| at the input (srwidgets.attribute "
                "method 'erf'), one per model",
         "difference": "compare mode: the first model's map minus the second's (same method), on the first "
                       "model's panels"}
"""The LR panels' views (the widget's ``view`` traitlet)."""
SETTINGS = {"window": (), "steps": 50, "sigma": 1.2, "kernel_size": 9, "path": "blur", "methods": ("lam",),
            "knobs": {}, "window_size": 16, "atlas_stride": 8}
"""The settings and their defaults (the widget's traitlets of the same names)."""


def check_lam_options(lam_options) -> dict:
    """``lam_options`` (``None`` or a dict of :data:`LAM_OPTIONS` keys) as a new dict; anything else is an
    InputError."""
    if lam_options is not None and not isinstance(lam_options, dict):
        raise InputError(f"lam_options must be a dict of srwidgets.lam.LAM keyword arguments (device, chunk_size, "
                         f"memory_budget, ...), got {type(lam_options).__name__}")
    bad = sorted(set(lam_options or {}) - set(LAM_OPTIONS))
    if bad:
        raise InputError(f"lam_options: unknown {', '.join(map(repr, bad))}; choose from: {', '.join(LAM_OPTIONS)}")
    return dict(lam_options or {})


def check_knobs(value) -> dict:
    """The ``knobs`` setting, ``{method: {knob: value}}``: each member's knobs checked by its declaration
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
                raise InputError(f"knobs[{name!r}]: unknown option {option!r}{why}; {_takes(name)}")
        out[name] = attribution.check_knobs(cls, dict(options), f"knobs[{name!r}]")  # each value checked
    return out


def _takes(name: str) -> str:
    taken = attribution.accepted_arguments(attribution.method_class(name))
    if taken is None:
        return f"{name}'s other options are checked when it runs"
    return f"{name} takes: {', '.join(sorted(set(taken) - WIDGET_OWN)) or 'no options'}"


def load_hr(hr, image, scale: int):
    """``hr`` (anything :func:`~srwidgets.data.load_image` takes, or ``None``) as the HR image of the LR ``image``:
    ``[3, scale·h, scale·w]`` in [0, 1]; any other size is an InputError."""
    if hr is None:
        return None
    try:
        hr = load_image(hr)
    except InputError as exc:
        raise InputError(f"hr: {exc}") from None
    _, h, w = image.shape
    if tuple(hr.shape[-2:]) != (scale * h, scale * w):
        raise InputError(f"hr must be the HR image of the input, {scale * h}x{scale * w} (x{scale} "
                         f"the LR {h}x{w}), got {hr.shape[-2]}x{hr.shape[-1]}")
    return hr


def _declared(name: str, value):
    """``value`` checked by the bounds LAM declares for its knob ``name`` (:func:`srwidgets.attribution.knobs_of`):
    a slider's setting is refused when it is set, not when a window runs (``kernel_size`` 10**9 + 1, ``sigma`` 1e308
    are above LAM's ceilings of 99 and 20)."""
    knob = next(k for k in attribution.knobs_of(attribution.method_class(DEFAULT_METHOD)) if k.name == name)
    return knob.check(value)


class WindowPlan(NamedTuple):
    """What a window needs: ``keys`` the panels shown, ``knobs`` per method, ``cache_keys`` per panel, ``cached``
    the finished results at hand, ``missing_hr`` the panels whose method needs the HR image the session lacks,
    ``todo`` the panels to attribute."""

    keys: List[Tuple[str, str]]
    knobs: Dict[str, dict]
    cache_keys: Dict[Tuple[str, str], tuple]
    cached: dict
    missing_hr: List[Tuple[str, str]]
    todo: List[Tuple[str, str]]


class LAMSession(Session):
    """Window attribution for one SR network or several of one scale, by one method or several: state, jobs and
    cache (no view). One panel per (model, method).

    Args:
        model_or_models, image, scale, hr, lam_options: as :class:`~srwidgets.widgets.lam.LAMWidget` takes them.
        cache_size: finished results kept (attributions, ERFs, atlases), least recently used dropped.

    The state (a script may read it; the settings are changed by :meth:`~srwidgets.widgets.session.Session.set`):
    ``models``, ``names``, ``compare`` (several models), ``image`` (LR ``[3, h, w]`` in [0, 1]), ``hr`` (``[3, s·h,
    s·w]`` in [0, 1], or ``None``), ``scale``, ``options`` (``lam_options``), ``runtimes`` (``{name: Engine}``),
    ``engines`` (``{name: LAM}``, made when ``"lam"`` is set among the methods or first run), ``cache``, the
    settings (:data:`SETTINGS`: ``window`` in **SR** pixels ``(top, left, height, width)``, ``steps``, ``sigma``,
    ``kernel_size``, ``path``, ``methods``, ``knobs`` ``{method: {option: value}}``, and the atlas'
    ``window_size`` and ``atlas_stride``, SR pixels) and ``panel_results`` (``{(model, method): result}`` of the
    last window run or shown).
    """

    SETTINGS = tuple(SETTINGS)

    def __init__(self, model_or_models, image, scale: Optional[int] = None, hr=None, lam_options=None,
                 cache_size: int = 64):
        self.options = check_lam_options(lam_options)
        self.models = named_models(model_or_models)
        self.names = list(self.models)
        self.compare = len(self.names) > 1
        try:
            self.image = load_image(image)
        except InputError as exc:  # named: the message is about the argument ``image``
            raise InputError(f"image: {exc}") from None
        runtime_options = {k: v for k, v in self.options.items() if k in RUNTIME_OPTIONS}
        self.runtimes = {n: Engine(m, scale=scale, **runtime_options) for n, m in self.models.items()}  # checks each
        self.engines: Dict[str, LAM] = {}  # model name -> LAM engine, made when LAM is among the methods
        self._engines_lock = threading.Lock()
        scales = {n: e.scale for n, e in self.runtimes.items()}
        if len(set(scales.values())) > 1:
            raise InputError(f"compare mode needs models of one scale; got {scales}")
        self.scale = next(iter(scales.values()))
        self.hr = load_hr(hr, self.image, self.scale)
        self._hr_key = None if self.hr is None else image_digest(self.hr)
        self._image_key = image_digest(self.image)
        self.cache = LRUCache(cache_size)
        for name, value in SETTINGS.items():
            setattr(self, name, dict(value) if isinstance(value, dict) else value)
        self.panel_results: dict = {}

    # ------------------------------------------------------------------------------------------------ settings
    def check_window(self, value) -> tuple:
        if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
            return ()
        # The engine's own check, run here synchronously so a bad window never reaches a job.
        if isinstance(value, (str, bytes)):
            value = (value,)  # a string is not a window; let the engine's message say so
        _, h, w = self.image.shape
        return tuple(validate_window(value, h * self.scale, w * self.scale))

    def check_steps(self, value) -> int:
        return _declared("steps", check_steps(value, hint=" (the paper uses 50)"))

    def check_sigma(self, value) -> float:
        return _declared("sigma", check_number("sigma", value, 0.0, " (the paper uses 1.2)"))

    def check_kernel_size(self, value) -> int:
        value = check_int("kernel_size", value, 1, " (odd; the paper uses 9)")
        if value % 2 == 0:
            raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {value}")
        return _declared("kernel_size", value)

    def check_path(self, value) -> str:
        return check_choice("path", value, PATHS)

    def check_methods(self, value) -> tuple:
        """A method name or a non-empty list of them, once each in the order given; with ``"lam"`` among them
        LAM's engines are made now (a bad ``lam_options`` is this InputError)."""
        names = [value] if isinstance(value, str) else value
        known = attribution.methods()
        if not isinstance(names, (list, tuple)) or not names:
            raise InputError(f"methods must be a method name or a non-empty list of them ({', '.join(known)}), "
                             f"got {value!r}")
        for name in names:
            check_choice("methods", name, known)
        names = tuple(dict.fromkeys(names))
        self.build_method_engines(names)
        return names

    def check_knobs(self, value) -> dict:
        return check_knobs(value)

    def check_window_size(self, value) -> int:
        value = check_int("window_size", value, 2, " (SR pixels; the paper uses 16)")
        side = min(self.image.shape[-2:]) * self.scale  # a click's window must fit the SR image
        if value > side:
            raise InputError(f"window_size must be an integer >= 2 and <= {side} (the SR image is "
                             f"{self.image.shape[-2] * self.scale}x{self.image.shape[-1] * self.scale} SR pixels; the "
                             f"paper uses 16), got {value}")
        return value

    def check_atlas_stride(self, value) -> int:
        return check_int("atlas_stride", value, 1, " (SR pixels)")

    # ------------------------------------------------------------------------------------------------ engines
    def settings(self) -> dict:
        """LAM's keyword arguments of the current settings: ``steps``, ``sigma``, ``kernel_size``, ``path``."""
        return dict(steps=int(self.steps), sigma=float(self.sigma), kernel_size=int(self.kernel_size),
                    path=str(self.path))

    def method_knobs(self, method: str, settings: Optional[dict] = None) -> dict:
        """The keyword arguments ``srwidgets.attribute(..., method=method)`` gets: the knobs of ``settings``
        (default: :meth:`settings`) the member declares, ``hr`` where it needs it (``needs_hr``), then
        ``knobs[method]``."""
        cls = attribution.method_class(method)
        s = self.settings() if settings is None else settings
        named = {k.name for k in attribution.knobs_of(cls)}  # the knobs the member declares
        out = {k: s[k] for k in TRAIT_KNOBS if k in named}
        if getattr(cls, "needs_hr", False):
            out["hr"] = self.hr
        out.update(self.knobs.get(method, {}))
        return out

    def build_method_engines(self, methods) -> None:
        """Build the engines kept for ``methods``: LAM's per model (``engines``) when ``"lam"`` is among them;
        nothing else (the other members' are kept by :func:`srwidgets.attribution.engine`)."""
        if DEFAULT_METHOD in methods:
            for name in self.names:
                self.lam_engine(name)

    def lam_engine(self, name: str) -> LAM:
        """LAM's engine on model ``name`` (:class:`srwidgets.lam.LAM` with ``lam_options``), made on first use and
        kept in ``engines`` (its caches make a dragged window fast)."""
        with self._engines_lock:
            engine = self.engines.get(name)
            if engine is None:
                engine = LAM(self.models[name], scale=self.scale, **self.options)  # checks autocast, ...
                self.engines[name] = engine
        return engine

    def engine(self, name: str, method: str):
        """The member's engine on model ``name`` (``attribute(image, window, callback=, cancel=, **knobs)``):
        LAM's kept per model (:meth:`lam_engine`), else the member's kept by :func:`srwidgets.attribution.engine`,
        with the ``lam_options`` it takes."""
        if method == DEFAULT_METHOD:
            return self.lam_engine(name)
        takes = engine_options(attribution.method_class(method))
        opts = {k: v for k, v in self.options.items() if k in takes}
        opts["device"] = self.runtimes[name].device
        return attribution.engine(self.models[name], method, scale=self.scale, **opts)

    def missing_hr(self, method: str) -> bool:
        """Whether ``method`` needs the HR image (``needs_hr``: CEM) and the session has none."""
        return self.hr is None and getattr(attribution.method_class(method), "needs_hr", False)

    # ------------------------------------------------------------------------------------------------ cache keys
    def key(self, name: str, method: str, window: tuple, knobs: dict) -> tuple:
        """The cache key of one panel's result. The weights' and buffers' identity and version counters are part
        of it: a model edited in place (fine-tuning, load_state_dict) never brings back its old results."""
        shown = tuple(sorted((k, self._hr_key if k == "hr" else repr(v)) for k, v in knobs.items()))
        return (name, method, tuple(window), model_key(self.runtimes[name].model)) + shown

    def atlas_key(self, settings: dict) -> tuple:
        """The cache key of the first model's atlas computed with ``settings`` (:meth:`atlas_settings`)."""
        name = self.names[0]
        return ("atlas", name, model_key(self.runtimes[name].model), self._image_key) + tuple(
            (k, str(v)) for k, v in sorted(settings.items()))

    def erf_key(self, name: str, window: tuple) -> tuple:
        return ("erf", name, tuple(window), model_key(self.runtimes[name].model))

    # ------------------------------------------------------------------------------------------------ the window
    def _window(self, window) -> tuple:
        """``window`` checked, or the setting when ``None``; none at all is an InputError."""
        window = self.window if window is None else self.check_window(window)
        if not window:
            raise InputError("no window: pass one, (top, left, size) or (top, left, height, width) in SR pixels")
        return window

    def keys(self, methods=None) -> List[Tuple[str, str]]:
        """The panels of ``methods`` (default: the setting), in order: models × methods."""
        return [(n, m) for n in self.names for m in (self.methods if methods is None else methods)]

    def plan(self, window: tuple, methods=None, knobs: Optional[Dict[str, dict]] = None) -> WindowPlan:
        """What ``window`` (SR pixels, checked) needs for ``methods`` (default: the setting) with ``knobs``
        (``{method: keyword arguments}``, default: :meth:`method_knobs` of each)."""
        window, methods = self.check_window(window), self.methods if methods is None else methods
        knobs = {m: self.method_knobs(m) for m in methods} if knobs is None else knobs
        keys = self.keys(methods)
        cache_keys = {k: self.key(k[0], k[1], window, knobs[k[1]]) for k in keys}
        cached = {k: self.cache.get(cache_keys[k]) for k in keys}
        cached = {k: r for k, r in cached.items() if r is not None}
        missing_hr = [k for k in keys if self.missing_hr(k[1])]
        todo = [k for k in keys if k not in cached and k not in missing_hr]
        return WindowPlan(keys, knobs, cache_keys, cached, missing_hr, todo)

    def panels(self, window: tuple, plan: WindowPlan, callback=None, cancel=None) -> Iterator[tuple]:
        """Attribute the panels ``plan.todo`` of ``window`` in order, each kept in the cache: yields ``(key,
        result)``. ``callback(Progress)`` counts over all of them (``stage`` ``"model: method"``, ``partial`` the
        member's refining attribution, ``info["key"]`` the panel)."""
        n = len(plan.todo)
        for i, key in enumerate(plan.todo):
            def report(p, i=i, key=key):
                if callback is not None:
                    callback(Progress(i * p.total + p.done, n * p.total, f"{key[0]}: {key[1]}", p.partial,
                                      {"key": key}))

            res = self.engine(*key).attribute(self.image, window, callback=report, cancel=cancel,
                                              **plan.knobs[key[1]])
            self.cache.put(plan.cache_keys[key], res)
            yield key, res

    def run(self, window=None, callback=None, cancel=None) -> dict:
        """Every panel's attribution of ``window`` (SR pixels; default: the ``window`` setting), cached ones
        reused: ``{(model, method): result}``, without the panels whose method needs the HR image the session
        lacks. Recorded in ``panel_results``."""
        window = self._window(window)
        plan = self.plan(window)
        results = dict(plan.cached)
        results.update(self.panels(window, plan, callback, cancel))
        self.panel_results = {k: results[k] for k in plan.keys if k in results}
        return self.panel_results

    # ------------------------------------------------------------------------------------------------ ERF, atlas
    def cached_erf(self, window: tuple) -> dict:
        """``{name: ERF result}`` of ``window`` in the cache."""
        window = self.check_window(window)
        found = {n: self.cache.get(self.erf_key(n, window)) for n in self.names}
        return {n: r for n, r in found.items() if r is not None}

    def iter_erf(self, window: tuple, names=None, cancel=None) -> Iterator[tuple]:
        """The effective receptive field (the family's ``"erf"``) of ``window`` (SR pixels) for the models
        ``names`` (default: all), each cached: yields ``(name, result)`` as each is ready."""
        window = self.check_window(window)
        for name in self.names if names is None else names:
            res = self.cache.get(self.erf_key(name, window))
            if res is None:
                res = self.engine(name, "erf").attribute(self.image, window, cancel=cancel)
                self.cache.put(self.erf_key(name, window), res)
            yield name, res

    def erf(self, window=None, names=None, cancel=None) -> dict:
        """:meth:`iter_erf` of ``window`` (default: the setting) as ``{name: result}``."""
        window = self._window(window)
        return dict(self.iter_erf(window, names, cancel))

    def atlas_settings(self) -> dict:
        """The keyword arguments of :func:`srwidgets.batch.di_atlas` the atlas is computed with (besides the
        model, ``{first name: first model}``, and the image): ``atlas_stride``, ``window_size`` and LAM's knobs."""
        s = self.settings()
        return dict(stride=int(self.atlas_stride), size=int(self.window_size), steps=s["steps"], sigma=s["sigma"],
                    kernel_size=s["kernel_size"], path=s["path"], device=self.runtimes[self.names[0]].device,
                    windows_per_task=ATLAS_WINDOWS_PER_TASK, progress=False)

    def cached_atlas(self, settings: Optional[dict] = None):
        """The atlas of ``settings`` (default: :meth:`atlas_settings`) in the cache, else ``None``."""
        return self.cache.get(self.atlas_key(self.atlas_settings() if settings is None else settings))

    def atlas(self, callback=None, cancel=None, settings: Optional[dict] = None):
        """The first model's DI atlas (:func:`srwidgets.batch.di_atlas`, ``settings`` default
        :meth:`atlas_settings`), cached; a cancelled one keeps nothing."""
        from ..batch import di_atlas

        settings = self.atlas_settings() if settings is None else settings
        key = self.atlas_key(settings)
        atlas = self.cache.get(key)
        if atlas is None:
            name = self.names[0]
            atlas = di_atlas({name: self.runtimes[name].model}, self.image, callback=callback, cancel=cancel,
                             **settings)
            self.cache.put(key, atlas)
        return atlas

    # ------------------------------------------------------------------------------------------------ preview, trust
    def preview(self, name: Optional[str] = None):
        """The SR output of model ``name`` (default: the first), its runtime's forward pass: ``[3, s·h, s·w]``
        float32 on the CPU, in [0, 1]."""
        return self.runtimes[name or self.names[0]].super_resolve(self.image).clamp(0, 1).float().cpu()

    def trust_methods(self, methods=None) -> list:
        """The methods a trust report covers: ``methods`` (default: the setting), less any that needs the HR
        image the session lacks."""
        return [m for m in (self.methods if methods is None else methods) if not self.missing_hr(m)]

    def trust(self, window=None, methods=None, callback=None, cancel=None) -> dict:
        """:func:`srwidgets.trust.report` of ``window`` (default: the setting) for every model, by
        :meth:`trust_methods` with their knobs: ``{name: DataFrame}``. ``callback(Progress)`` counts models."""
        from ..trust import report

        window, methods = self._window(window), self.trust_methods(methods)
        if not methods:
            raise InputError("no method to check: the methods need the HR image (pass hr=)")
        knobs = {m: {k: v for k, v in self.method_knobs(m).items() if k != "hr"} for m in methods}
        tables = {}
        for i, name in enumerate(self.names):
            tables[name] = report(self.models[name], self.image, window, methods=methods, hr=self.hr, knobs=knobs,
                                  device=self.runtimes[name].device, cancel=cancel,
                                  callback=None if callback is None else (
                                      lambda p, i=i, name=name: callback(Progress(i, len(self.names), name))))
        return tables
