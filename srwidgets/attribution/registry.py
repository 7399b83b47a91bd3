"""The members of the window-attribution family by name, and :func:`attribute`, the one entry point.

``register("name", MyMethod)`` adds a member (a :class:`~srwidgets.attribution.base.WindowMethod` subclass);
``methods()`` lists them with their one-line descriptions. :func:`attribute` builds (and keeps, per model and
options, while the model lives) the member's engine, so repeated calls reuse its caches and receptive field.
"""
from __future__ import annotations

import threading
import weakref
from typing import Dict, Optional, Type

from ..errors import InputError
from .base import WindowMethod, check_hooks

__all__ = ["register", "methods", "method_class", "attribute", "engine"]

_METHODS: Dict[str, Type[WindowMethod]] = {}
_ENGINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_ENGINE_OPTIONS = {"scale", "device", "chunk_size", "memory_budget", "crop", "autocast", "channels_last", "split_tail"}


def register(name: str, cls: Type[WindowMethod]) -> Type[WindowMethod]:
    """Add ``cls`` to the family under ``name`` (then ``attribute(..., method=name)``, the widget's Method control
    and ``di_table(method=name)`` know it). Returns ``cls``, so it also works as ``register("x", X)`` after a class."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"register(name, cls): name must be a non-empty string, got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, WindowMethod)):
        raise InputError(f"register({name!r}, cls): cls must be a subclass of srwidgets.attribution.WindowMethod, "
                         f"got {cls!r}")
    cls.name = cls.name or name
    _METHODS[name] = cls
    return cls


def methods() -> Dict[str, str]:
    """Member names -> one-line descriptions, in registration order."""
    return {name: cls.description for name, cls in _METHODS.items()}


def method_class(method) -> Type[WindowMethod]:
    """A member name (or a member class) -> its class; an unknown name gets the list of members."""
    if isinstance(method, type) and issubclass(method, WindowMethod):
        return method
    if isinstance(method, str) and method in _METHODS:
        return _METHODS[method]
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


def check_knobs(cls, knobs: dict, what: Optional[str] = None) -> None:
    """Refuse options a member does not take, naming the ones it does (a typo must not be silently ignored)."""
    accepted = cls.knobs()
    if accepted is None:
        return
    unknown = sorted(set(knobs) - set(accepted))
    if unknown:
        raise InputError(f"{what or f'method={cls.name!r}'} does not take {', '.join(unknown)}; its options are: "
                         f"{', '.join(sorted(accepted)) or 'none'} (engine options: {', '.join(sorted(_ENGINE_OPTIONS))})")


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
    check_knobs(cls, knobs)
    check_hooks(knobs.get("callback"), knobs.get("cancel"))
    return engine(model, cls, **options).attribute(image, window, **knobs)  # guarded: WindowMethod wraps it
