"""The members of the window-attribution family by name, and :func:`attribute`, the one entry point.

``register("name", MyMethod)`` adds a member (a :class:`~srwidgets.attribution.base.WindowMethod` subclass),
``unregister("name")`` removes it; ``methods()`` lists them with their one-line descriptions, ``members()`` with
their classes. :func:`attribute` builds (and keeps, per model and options, while the model lives) the member's
engine, so repeated calls reuse its caches and receptive field.

**Plugins**: another installed package adds members through the entry-point group ``srwidgets.methods``, e.g. in
its ``pyproject.toml``::

    [project.entry-points."srwidgets.methods"]
    occlusion2 = "mypackage.occlusion2:Occlusion2"

They are loaded lazily, the first time the members are listed or a name is looked up (:func:`plugins`), so the CLI,
the widget and Ray workers (which import srwidgets afresh) all find them. A plugin that fails to load is reported in
words (:func:`plugin_errors`, and a warning), never breaks the listing.
"""
from __future__ import annotations

import threading
import warnings
import weakref
from typing import Dict, Type

from ..errors import InputError
from .base import WindowMethod, check_hooks
from .knobs import check_knobs, knobs_of

__all__ = ["register", "unregister", "methods", "members", "method_class", "attribute", "engine", "plugins",
           "plugin_errors", "check_knobs", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "srwidgets.methods"
_METHODS: Dict[str, Type[WindowMethod]] = {}
_ENGINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()
_ENGINE_OPTIONS = {"scale", "device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail"}
_PLUGINS = {"scanned": False, "loaded": {}, "errors": {}}


def register(name: str, cls: Type[WindowMethod]) -> Type[WindowMethod]:
    """Add ``cls`` to the family under ``name`` (then ``attribute(..., method=name)``, the widget's Method control,
    ``lam --method`` and ``di_table(method=name)`` know it). Returns ``cls``. Registering a name again replaces it."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"register(name, cls): name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, WindowMethod)):
        raise InputError(f"register({name!r}, cls): cls must be a subclass of srwidgets.attribution.WindowMethod, "
                         f"got {cls!r}")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"register({name!r}, cls): a method name is letters, digits, '_' and '-' (it is a CLI value "
                         "and a column of tables)")
    knobs_of(cls)  # a malformed declaration is refused here, not at the first call
    cls.name = cls.name or name
    with _LOCK:
        _METHODS[name] = cls
    return cls


def unregister(name: str) -> Type[WindowMethod]:
    """Remove the member ``name`` (returns its class); an unknown name gets the list of members."""
    with _LOCK:
        if name not in _METHODS:
            raise InputError(f"unregister({name!r}): no such method; registered: {', '.join(_METHODS)}")
        return _METHODS.pop(name)


def plugins(refresh: bool = False) -> Dict[str, Type[WindowMethod]]:
    """Members from other installed packages (entry-point group ``srwidgets.methods``), loaded on first use; with
    ``refresh`` the entry points are read again (a package installed since). A name already registered is kept
    (built-in members win); a plugin that fails to load is skipped and reported (:func:`plugin_errors`)."""
    with _LOCK:
        if _PLUGINS["scanned"] and not refresh:
            return dict(_PLUGINS["loaded"])
        _PLUGINS["scanned"] = True
        from importlib.metadata import entry_points

        try:
            found = list(entry_points(group=ENTRY_POINT_GROUP))
        except Exception as exc:  # noqa: BLE001  (a broken installation must not break the listing)
            _PLUGINS["errors"]["*"] = f"reading the entry points failed: {exc}"
            found = []
        for ep in found:
            if ep.name in _PLUGINS["loaded"] or (ep.name in _METHODS and ep.name not in _PLUGINS["errors"]):
                continue
            try:
                cls = ep.load()
                register(ep.name, cls)
            except Exception as exc:  # noqa: BLE001
                why = f"the plugin method {ep.name!r} ({ep.value}) could not be loaded: {type(exc).__name__}: {exc}"
                if _PLUGINS["errors"].get(ep.name) != why:
                    warnings.warn(why, stacklevel=2)
                _PLUGINS["errors"][ep.name] = why
                continue
            _PLUGINS["errors"].pop(ep.name, None)
            _PLUGINS["loaded"][ep.name] = cls
        return dict(_PLUGINS["loaded"])


def plugin_errors() -> Dict[str, str]:
    """Plugins that failed to load: name -> what went wrong, in words."""
    plugins()
    return dict(_PLUGINS["errors"])


def members() -> Dict[str, Type[WindowMethod]]:
    """Member names -> classes, in registration order (plugins included)."""
    plugins()
    return dict(_METHODS)


def methods() -> Dict[str, str]:
    """Member names -> one-line descriptions, in registration order (plugins included)."""
    return {name: cls.description for name, cls in members().items()}


def method_class(method) -> Type[WindowMethod]:
    """A member name (or a member class) -> its class; an unknown name gets the list of members."""
    if isinstance(method, type) and issubclass(method, WindowMethod):
        return method
    if isinstance(method, str):
        known = members()
        if method not in known:
            known = (plugins(refresh=True), members())[1]  # installed since the first look?
        if method in known:
            return known[method]
    raise InputError(f"unknown method {method!r}; choose one of: {', '.join(_METHODS)} "
                     "(or register your own with srwidgets.attribution.register)")


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return id(value)


def engine_options(cls) -> set:
    """The engine options ``cls(model, **options)`` takes: its ``__init__``'s keywords, and the base's where it
    passes ``**options`` on (``scale``, ``device``, ``chunk_size``, ``memory_budget``, ``crop``, ``split_tail``)."""
    import inspect

    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[2:]  # self, model
        names |= {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params) or klass is WindowMethod:
            break
    return names


def engine(model, method="lam", **options) -> WindowMethod:
    """The member's engine on ``model`` with engine ``options`` (``scale``, ``device``, ``chunk_size``,
    ``memory_budget``, ``crop``; LAM also ``autocast``, ``channels_last``, ``split_tail``), kept per model."""
    cls = method_class(method)
    unknown = sorted(set(options) - engine_options(cls))
    if unknown:
        raise InputError(f"method={cls.name!r} does not take the engine option{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)}; its engine options are: {', '.join(sorted(engine_options(cls)))} "
                         "(autocast and channels_last are for method='lam' only)")
    key = (cls, tuple(sorted((k, _hashable(v)) for k, v in options.items())))
    try:
        with _LOCK:
            per_model = _ENGINES.setdefault(model, {})
            hit = per_model.get(key)
    except TypeError:  # not weak-referenceable (not an nn.Module): let the member's checks say what is wrong
        return cls(model, **options)
    if hit is None:
        hit = cls(model, **options)
        with _LOCK:
            per_model[key] = hit
    return hit


def attribute(model, image, window, method: str = "lam", **knobs):
    """Attribute an SR window to the LR pixels with any member of the family.

    Args:
        model: an SR ``nn.Module`` (``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s·h, s·w]``), never changed.
        image: the LR image ``[3, h, w]`` in [0, 1].
        window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels.
        method: a member name (:func:`methods`): ``"lam"`` (default), ``"ig"``, ``"gradient"``, ``"erf"``,
            ``"smoothgrad"``, ``"cem"``, ... or a :class:`WindowMethod` subclass.
        **knobs: the member's ``attribute`` options (``steps``, ``baseline``, ``inner``, ``seed``, ``hr``, ...), and
            engine options (``scale``, ``device``, ``chunk_size``, ``memory_budget``, ``crop``, ...).

    Returns:
        The member's result: ``.map`` ``[h, w]`` LR in [0, 1], ``.gini``, ``.diffusion_index``, ``.attribution``
        ``[3, h, w]``, ``.completeness`` where defined. ``method="lam"`` returns exactly
        ``LAM(model).attribute(image, window, **knobs)``.

    Example:
        >>> import srwidgets
        >>> from srwidgets import data, zoo
        >>> r = srwidgets.attribute(zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4), (98, 84, 16), "gradient")
        >>> tuple(r.map.shape), r.method
        ((64, 64), 'gradient')
    """
    options = {k: knobs.pop(k) for k in list(knobs) if k in _ENGINE_OPTIONS}
    cls = method_class(method)
    knobs = check_knobs(cls, knobs)
    check_hooks(knobs.get("callback"), knobs.get("cancel"))
    return engine(model, cls, **options).attribute(image, window, **knobs)  # guarded: WindowMethod wraps it
