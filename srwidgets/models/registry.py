"""The family registry: which checkpoint families ``load`` recognises (the built-ins and the ones added with
:func:`register`), how each is detected from a state dict and how it is built (:func:`build`)."""
from __future__ import annotations

import importlib
import inspect
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from ..errors import InputError

StateDictT = Dict[str, torch.Tensor]


class Family:
    """One checkpoint family: how to recognise its state dict and how to build its network.

    Attributes:
        name: the architecture name (``model.arch``, ``build(name, ...)``).
        detect: ``detect(state_dict) -> config | None``: the keyword arguments that rebuild the network from the
            (converted) state dict's key names and shapes, or ``None`` when the keys are not this family's.
        build: ``build(**config) -> nn.Module``; it receives ``upscale=`` (int) when the weights do not record the
            scale (it then comes from ``load(scale=...)`` or the file name).
        convert: ``convert(state_dict) -> state_dict``: renames other public key namings to the one ``build``'s
            network uses (default: unchanged).
    """

    def __init__(self, name: str, detect: Optional[Callable] = None, build: Optional[Callable] = None,
                 convert: Optional[Callable] = None, module: Optional[str] = None):
        self.name, self.module = name, module
        self._detect, self._build, self._convert = detect, build, convert

    def _mod(self):
        return importlib.import_module(self.module)

    @property
    def builder(self) -> Callable:
        """The callable ``build(**config)`` runs (a built-in's model class, imported on first use)."""
        return self._build if self._build is not None else self._mod().MODEL

    def detect(self, sd: StateDictT) -> Optional[dict]:
        return (self._detect or self._mod().detect)(sd)

    def convert(self, sd: StateDictT) -> StateDictT:
        if self._convert is None and self.module is None:
            return sd
        return (self._convert or self._mod().convert)(sd)

    def value_range(self, sd: StateDictT, img_range: Optional[float] = None) -> Optional[dict]:
        """Config entries (``img_range``, ``rgb_mean``) that the *unconverted* state dict states about the value
        range the network was trained on (e.g. EDSR-PyTorch's mean-shift biases), or ``None``. A built-in module
        may define ``value_range(sd, img_range)``; it raises :class:`InputError` when the range is ambiguous."""
        if self.module is None:
            return None
        fn = getattr(self._mod(), "value_range", None)
        return fn(sd, img_range) if fn is not None else None

    def __repr__(self):
        return f"Family({self.name!r}{', built in' if self.module else ''})"


# Detection order: families registered by the user first (most recent first), then the built-ins with the more
# specific key patterns first. Each built-in module defines ``ARCH``, a model class ``MODEL``, ``detect(sd)`` and
# ``convert(sd)``, imported only when needed.
_FAMILIES: Dict[str, Family] = {}
_BUILTIN_MODULES = {
    "HAT": "srwidgets.models.hat",  # before SwinIR: a HAT state dict also has SwinIR's keys
    "SwinIR": "srwidgets.models.swinir",
    "PAN": "srwidgets.models.pan",
    "RRDBNet": "srwidgets.models.rrdbnet",
    "RCAN": "srwidgets.models.rcan",
    "MSRResNet": "srwidgets.models.srresnet",
    "EDSR": "srwidgets.models.edsr",
    "FSRCNN": "srwidgets.models.fsrcnn",
    "RFDN": "srwidgets.models.rfdn",
    "IMDN": "srwidgets.models.imdn",
}
for _name, _path in _BUILTIN_MODULES.items():
    _FAMILIES[_name] = Family(_name, module=_path)
# the order ``architectures()`` has always listed them in
_LISTING = ["FSRCNN", "EDSR", "MSRResNet", "RCAN", "RRDBNet", "SwinIR", "HAT", "RFDN", "IMDN", "PAN"]


def register(name: str, detect: Callable[[StateDictT], Optional[dict]], build: Callable[..., nn.Module],
             convert: Optional[Callable[[StateDictT], StateDictT]] = None, *, first: bool = True,
             replace: bool = False) -> Family:
    """Teach ``load`` / ``build`` a new checkpoint family (as BasicSR's ``ARCH_REGISTRY`` does, plus detection).

    Args:
        name: the architecture name; it becomes ``model.arch`` and the name of ``build(name, ...)``.
        detect: ``detect(state_dict) -> dict | None``: from the key names and tensor shapes, the config that
            ``build`` needs (include ``upscale`` when the weights tell it), or ``None`` when the state dict is not
            this family's. It must be cheap and never raise for other families' state dicts.
        build: ``build(**config) -> nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]`` in
            [0, 1]; it must accept ``upscale=`` when ``detect`` leaves the scale out.
        convert: optional renaming of the checkpoint's keys to those of ``build``'s network (applied before
            ``detect``).
        first: try this family before the others (the default; a user's family is usually the more specific), or
            after every known one.
        replace: allow replacing a family of the same name (a built-in too).

    Returns:
        the :class:`Family`; :func:`unregister` removes it.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from srwidgets import models
        >>> class Bicubic(nn.Module):
        ...     def __init__(self, upscale):
        ...         super().__init__()
        ...         self.gain = nn.Parameter(torch.ones(1))
        ...     def forward(self, x):
        ...         return nn.functional.interpolate(x, scale_factor=self.scale, mode="bicubic") * self.gain
        >>> fam = models.register("Bicubic", detect=lambda sd: {} if list(sd) == ["gain"] else None, build=Bicubic)
        >>> m = models.load({"gain": torch.ones(1)}, scale=2)
        >>> m.arch, m.scale, tuple(m(torch.rand(1, 3, 4, 4)).shape)
        ('Bicubic', 2, (1, 3, 8, 8))
        >>> models.unregister("Bicubic")
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"a family name must be a non-empty string, got {name!r}")
    for what, f in (("detect", detect), ("build", build), ("convert", convert)):
        if f is not None and not callable(f):
            raise InputError(f"register({name!r}): {what} must be callable, got {type(f).__name__}")
    if detect is None or build is None:
        raise InputError(f"register({name!r}) needs detect= (state dict -> config or None) and build= (config -> "
                         "nn.Module)")
    if name in _FAMILIES and not replace:
        raise InputError(f"a family named {name!r} is already registered; pass replace=True to replace it, or "
                         "pick another name")
    family = Family(name, detect=detect, build=build, convert=convert)
    _FAMILIES.pop(name, None)
    items = list(_FAMILIES.items())
    items = [(name, family)] + items if first else items + [(name, family)]
    _FAMILIES.clear()
    _FAMILIES.update(items)
    return family


def unregister(name: str) -> None:
    """Forget a family registered with :func:`register` (a built-in cannot be removed)."""
    if name in _BUILTIN_MODULES and _FAMILIES.get(name) is not None and _FAMILIES[name].module is not None:
        raise InputError(f"{name!r} is built in and cannot be unregistered; register(..., replace=True) overrides it")
    if _FAMILIES.pop(name, None) is None:
        raise InputError(f"no family named {name!r} is registered; known: {', '.join(_FAMILIES)}")
    if name in _BUILTIN_MODULES:  # a replaced built-in comes back
        _FAMILIES[name] = Family(name, module=_BUILTIN_MODULES[name])


def _family(arch: str) -> Family:
    try:
        return _FAMILIES[arch]
    except (KeyError, TypeError):
        raise InputError(f"unknown architecture {arch!r}; known: {', '.join(architectures())}. Add a family with "
                         "srwidgets.models.register(name, detect=..., build=...)") from None


def architectures() -> list:
    """Names of the architectures ``build`` and ``load`` know: the built-ins, then the registered ones."""
    return [n for n in _LISTING if n in _FAMILIES] + [n for n in _FAMILIES if n not in _LISTING]


def _takes(builder: Callable, key: str) -> bool:
    """Does ``builder(**config)`` accept the keyword ``key``? (True when it cannot tell: no signature, or **kwargs.)"""
    try:
        params = inspect.signature(builder.__init__ if inspect.isclass(builder) else builder).parameters
    except (TypeError, ValueError):
        return True
    return key in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build(arch: str, **config) -> nn.Module:
    """Build an architecture by name with its config (e.g. ``build("EDSR", num_feat=64, num_block=16, upscale=4)``).
    The model has ``.scale`` (int), ``.arch`` and ``.config`` (the keyword arguments that rebuild it).

    An unknown config key, or a scale the architecture cannot build, raises :class:`InputError` naming it and
    the supported ones."""
    family = _family(arch)
    builder = family.builder
    try:
        params = inspect.signature(builder.__init__ if inspect.isclass(builder) else builder).parameters
    except (TypeError, ValueError):  # a builtin without a signature: let it check its own arguments
        params = {}
    if params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        known = [k for k, p in params.items() if k != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
        unknown = [k for k in config if k not in known]
        if unknown:
            raise InputError(f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                             f"for {arch}; {arch} takes {', '.join(known)}. Remove or rename "
                             f"{'them' if len(unknown) > 1 else 'it'}")
    up = config.get("upscale")
    if up is not None and (isinstance(up, bool) or not isinstance(up, int) or up < 1):
        raise InputError(f"{arch}: upscale must be a positive integer (2, 3, 4, ...), got {up!r}")
    try:
        model = builder(**config)
    except (ValueError, TypeError) as e:  # the constructors' own checks (InputError is a ValueError)
        raise InputError(f"cannot build {arch} with {config}: {e}") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"the {arch} family's build returned {type(model).__name__}, not an nn.Module")
    if family.module is None:  # a registered family: give it what srwidgets' own models carry
        if not hasattr(model, "arch"):
            model.arch = arch
        if not hasattr(model, "config"):
            model.config = dict(config)
        if not isinstance(getattr(model, "scale", None), int) and up is not None:
            model.scale = up
    return model


def detect(state_dict: Dict[str, torch.Tensor]) -> Tuple[str, dict, Dict[str, torch.Tensor]]:
    """Detect ``(arch, config, converted_state_dict)`` from parameter names and shapes (and, for official
    EDSR-PyTorch / RCAN checkpoints, the value range from their mean-shift biases).

    Raises :class:`InputError` naming some of the keys seen when no known architecture matches, or saying which
    ``load`` option sets a value range the weights leave ambiguous.
    """
    return _detect(state_dict)


def _detect(state_dict: Dict[str, torch.Tensor], img_range: Optional[float] = None):
    for family in list(_FAMILIES.values()):
        sd = family.convert(state_dict)
        cfg = family.detect(sd)
        if cfg is not None:
            cfg = dict(cfg)
            cfg.update(family.value_range(state_dict, img_range) or {})
            return family.name, cfg, sd
    keys = list(state_dict)
    shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} keys)" if len(keys) > 8 else "")
    raise InputError(
        f"unknown architecture: no known SR family matches the keys {shown}. "
        f"Known families: {', '.join(architectures())}. For another network, register its family in a few lines "
        "with srwidgets.models.register(name, detect=..., build=...) (see help(srwidgets.models.register)), or "
        "build it yourself, call model.load_state_dict(...) and pass the nn.Module directly."
    )


# One word of a file name (words are split at anything but letters and digits) that states a scale: ``x4``,
# ``4x``, ``x4plus`` (Real-ESRGAN), ``Mx4`` / ``Lx4`` (BasicSR's EDSR_Mx4_f64b16), ``BIX4`` / ``BDX3`` / ``DNX3``
