"""The family registry: which checkpoint families ``load`` recognises (the built-ins and the ones added with
:func:`register`), how each is detected from a state dict and how it is built (:func:`build`)."""
from __future__ import annotations

import importlib
import itertools
import inspect
import math
import numbers
import re
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from ..errors import InputError
from ._common import article, cap_names, short

StateDictT = Dict[str, torch.Tensor]


class UnknownArchitecture(InputError):
    """No family recognises a state dict (``keys``: its parameter names); ``load`` then tries spandrel."""

    def __init__(self, keys, message: str):
        super().__init__(message)
        self.keys = list(keys)


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
    "CARN": "srwidgets.models.carn",
    "CARN-M": "srwidgets.models.carn_m",
}
for _name, _path in _BUILTIN_MODULES.items():
    _FAMILIES[_name] = Family(_name, module=_path)
# the order ``architectures()`` has always listed them in
_LISTING = ["FSRCNN", "EDSR", "MSRResNet", "RCAN", "RRDBNet", "SwinIR", "HAT", "RFDN", "IMDN", "PAN", "CARN",
            "CARN-M"]


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
        raise InputError(f"no family named {short(repr(name))} is registered; known: {cap_names(_FAMILIES, 12)}")
    if name in _BUILTIN_MODULES:  # a replaced built-in comes back
        _FAMILIES[name] = Family(name, module=_BUILTIN_MODULES[name])


def family_of(arch: str) -> Family:
    """The registered :class:`Family` named ``arch``; an unknown name gets the list of architectures."""
    try:
        return _FAMILIES[arch]
    except (KeyError, TypeError):
        raise InputError(f"unknown architecture {short(repr(arch))}; known: {cap_names(architectures(), 12)}. Add a "
                         "family with "
                         "srwidgets.models.register(name, detect=..., build=...)") from None


def architectures() -> list:
    """Names of the architectures ``build`` and ``load`` know: the built-ins, then the registered ones."""
    return [n for n in _LISTING if n in _FAMILIES] + [n for n in _FAMILIES if n not in _LISTING]


def takes_keyword(builder: Callable, key: str) -> bool:
    """Does ``builder(**config)`` accept the keyword ``key``? (True when it cannot tell: no signature, or **kwargs.)"""
    try:
        params = inspect.signature(builder.__init__ if inspect.isclass(builder) else builder).parameters
    except (TypeError, ValueError):
        return True
    return key in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# ------------------------------------------------------------------------------------------- config checks
MAX_SCALE = 16
"""The largest upscale ``build`` / ``load`` accept (public SR networks are x1 .. x8; x16 is the odd extreme)."""
MAX_DEPTH = 1000
"""The most blocks / groups / layers one depth entry of a config may ask for (public networks use at most ~30)."""
MAX_TENSORS = 20000
"""The most parameter tensors ``build`` creates (HAT-L, among the largest public SR networks, has under 3,000)."""

# What the built-in families' config keys mean, for the checks ``build`` runs before constructing anything: an
# ``img_range=0`` or ``window_size=0`` would otherwise be accepted and fail deep inside a forward pass.
_WIDTHS = {"num_feat": "a channel count", "embed_dim": "a channel count", "d": "a channel count",
           "s": "a channel count", "nf": "a channel count", "unf": "a channel count",
           "num_grow_ch": "a channel count", "num_channels": "1 (Y) or 3 (RGB)", "num_in_ch": "3 (RGB)",
           "num_out_ch": "3 (RGB)", "in_nc": "3 (RGB)", "out_nc": "3 (RGB)", "in_chans": "3 (RGB)",
           "patch_size": "1", "squeeze_factor": "a channel reduction", "reduction": "a channel reduction",
           "compress_ratio": "a channel reduction", "window_size": "the attention window side, e.g. 8",
           "upscale": "the scale: 2, 3, 4, ..."}
_DEPTHS = {"num_block": "a number of blocks", "num_group": "a number of groups", "nb": "a number of blocks",
           "m": "a number of mapping layers"}
_INT_SEQS = {"depths": "blocks per group", "num_heads": "attention heads per group"}
_NUMBERS = {"img_range": (">", 0.0, "255 for a network trained on 0..255 values, 1 for [0, 1]"),
            "mlp_ratio": (">", 0.0, "the MLP width over embed_dim, e.g. 2"),
            "overlap_ratio": (">=", 0.0, "e.g. 0.5"),
            "res_scale": (None, None, "e.g. 1 or 0.1"), "conv_scale": (None, None, "e.g. 0.01")}
_FLAGS = ("bicubic_residual", "global_residual")


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def check_scale(scale, what: str = "scale") -> int:
    """``scale`` as a Python int in 1 .. :data:`MAX_SCALE` (numpy integers accepted, bools / floats / strings
    refused with an :class:`InputError` that says what to pass)."""
    if not _is_int(scale) or scale < 1:
        raise InputError(f"{what} must be a positive integer (2, 3, 4, ...), got {short(repr(scale))}")
    if scale > MAX_SCALE:
        raise InputError(f"{what}={int(scale)} is too large: srwidgets builds and loads SR networks up to "
                         f"x{MAX_SCALE}; pass the scale the network was trained for (2, 3, 4, ...)")
    return int(scale)


def _check_config(arch: str, config: dict) -> dict:
    """A built-in family's ``config`` with every known entry checked (types, ranges, numpy scalars made Python
    ones), before anything is built. Raises :class:`InputError` naming the entry, its meaning and the value."""
    out = dict(config)
    for k, v in config.items():
        got = short(repr(v))
        if k == "upscale":
            out[k] = check_scale(v, f"{arch}: upscale")
        elif k in _WIDTHS or k in _DEPTHS:
            low = 0 if k == "m" else 1
            if not _is_int(v) or v < low:
                meaning = _WIDTHS.get(k) or _DEPTHS[k]
                raise InputError(f"{arch}: {k} ({meaning}) must be an integer >= {low}, got {got}")
            if k in _DEPTHS and v > MAX_DEPTH:
                raise InputError(f"{arch}: {k}={int(v)} is more than srwidgets builds (at most {MAX_DEPTH}; public "
                                 "networks use under 30)")
            out[k] = int(v)
        elif k in _INT_SEQS:
            seq = list(v) if isinstance(v, (tuple, list)) else None
            if not seq or len(seq) > MAX_DEPTH or not all(_is_int(d) and 1 <= d <= MAX_DEPTH for d in seq):
                raise InputError(f"{arch}: {k} ({_INT_SEQS[k]}) must be a non-empty tuple of integers in 1 .. "
                                 f"{MAX_DEPTH}, e.g. (6, 6, 6, 6), got {got}")
            out[k] = tuple(int(d) for d in seq)
        elif k in _NUMBERS:
            op, low, hint = _NUMBERS[k]
            ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))
            if ok and op is not None:
                ok = float(v) > low if op == ">" else float(v) >= low
            if not ok:
                kind = {">": "a positive", ">=": "a non-negative"}.get(op, "a finite")
                raise InputError(f"{arch}: {k} must be {kind} number ({hint}), got {got}")
            out[k] = float(v)
        elif k in _FLAGS:
            if not isinstance(v, bool) and type(v).__name__ != "bool_":
                raise InputError(f"{arch}: {k} must be True or False, got {got}")
            out[k] = bool(v)
        elif k == "rgb_mean":
            seq = list(v) if isinstance(v, (tuple, list)) else None
            if seq is None or len(seq) != 3 or not all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                                                        and math.isfinite(float(c)) for c in seq):
                raise InputError(f"{arch}: rgb_mean must be 3 finite numbers (the data's RGB mean in [0, 1], e.g. "
                                 f"(0.4488, 0.4371, 0.4040)), got {got}")
            out[k] = tuple(float(c) for c in seq)
    width = out.get("num_feat", out.get("embed_dim"))
    for k in ("squeeze_factor", "compress_ratio"):
        if width is not None and k in out and width // out[k] < 1:
            raise InputError(f"{arch}: {k}={out[k]} is larger than the {width} channels it divides; pick one <= "
                             f"{width}")
    if "embed_dim" in out and "num_heads" in out:
        bad = [h for h in out["num_heads"] if out["embed_dim"] % h]
        if bad:
            raise InputError(f"{arch}: embed_dim={out['embed_dim']} must be divisible by every num_heads entry; "
                             f"{bad[0]} does not divide it")
    return out


# ------------------------------------------------------------------------------------ building within a budget
class _OverBudget(BaseException):
    """Raised from inside a constructor when it asks for more than its budget (a ``BaseException`` so that a
    builder's own ``except Exception`` cannot swallow it)."""


class _Budget:
    """What one build may create: parameter / buffer tensors and modules (counted as they are registered: a
    stray key implying ten million blocks stops after a few), and tensor elements (counted *before* each
    allocation: a record claiming widths of 20000 allocates nothing)."""

    def __init__(self, tensors: int, numel: float, modules: int):
        self.limits = {"tensors": tensors, "numel": numel, "modules": modules}
        self.used = dict.fromkeys(self.limits, 0)
        self.exceeded = None

    def add(self, what: str, n: int = 1) -> None:
        self.used[what] += n
        if self.exceeded is None and self.used[what] > self.limits[what]:
            self.exceeded = what
        if self.exceeded is not None:
            raise _OverBudget(self.exceeded)


_ACTIVE = threading.local()  # the budget of the build running on this thread (other threads are not counted)


def _on_tensor(module, name, value):
    budget = getattr(_ACTIVE, "budget", None)
    if budget is not None and isinstance(value, torch.Tensor):
        budget.add("tensors")


def _on_module(module, name, value):
    budget = getattr(_ACTIVE, "budget", None)
    if budget is not None and value is not None:
        budget.add("modules")


# Global hooks: they cost one attribute lookup per registration and count only inside ``_budgeted``.
nn.modules.module.register_module_parameter_registration_hook(_on_tensor)
nn.modules.module.register_module_buffer_registration_hook(_on_tensor)
nn.modules.module.register_module_module_registration_hook(_on_module)

# The factory functions whose first arguments are a size (where parameters and buffers come from).
_SIZED = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.empty_strided}


def _numel(args) -> int:
    """Elements of a factory call's size: ``f(2, 3)``, ``f((2, 3))`` or ``f(torch.Size([2, 3]))``."""
    size = args[0] if args and isinstance(args[0], (tuple, list, torch.Size)) else \
        [a for a in itertools.takewhile(lambda a: isinstance(a, numbers.Integral), args)]
    try:
        return math.prod(int(d) for d in size)
    except (TypeError, ValueError):
        return 0


class _CountAllocations(torch.overrides.TorchFunctionMode):
    """Counts the elements each sized factory call (``torch.empty(out, in, k, k)`` in a conv's constructor) asks
    for against the active budget, before anything is allocated."""

    def __init__(self, budget: _Budget):
        super().__init__()
        self.budget = budget

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _SIZED:
            self.budget.add("numel", _numel(args if args else (kwargs or {}).get("size", ())))
        return func(*args, **(kwargs or {}))


def _budgeted(builder: Callable, config: dict, budget: _Budget):
    """``builder(**config)`` counted against ``budget``; raises :class:`_OverBudget` as soon as it is exceeded."""
    previous = getattr(_ACTIVE, "budget", None)
    _ACTIVE.budget = budget
    try:
        with _CountAllocations(budget):
            return builder(**config)
    finally:
        _ACTIVE.budget = previous


def _construct(arch: str, family: "Family", config: dict, budget: _Budget, over: Callable[[], str],
               fix: str = "") -> nn.Module:
    """Build within ``budget`` (``over()`` says why a network over it is refused); the constructors' own
    ``ValueError`` / ``TypeError`` become an :class:`InputError`."""
    try:
        model = _budgeted(family.builder, config, budget)
    except _OverBudget:
        raise InputError(over()) from None
    except (ValueError, TypeError) as e:  # the constructors' own checks (InputError is a ValueError)
        raise InputError(f"cannot build {arch} with {short(config, 300)}: {short(e, 400)}{fix}") from None
    return _finish(arch, family, model, config)


def _prepare(arch: str, config: dict) -> Tuple["Family", dict]:
    """The family and its checked config: unknown keys named, built-ins' values checked, a scale made an int."""
    family = family_of(arch)
    builder = family.builder
    try:
        params = inspect.signature(builder.__init__ if inspect.isclass(builder) else builder).parameters
    except (TypeError, ValueError):  # a builtin without a signature: let it check its own arguments
        params = {}
    if params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        known = [k for k, p in params.items() if k != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
        unknown = [k for k in config if k not in known]
        if unknown:
            raise InputError(f"unknown config key{'s' if len(unknown) > 1 else ''} {cap_names(map(repr, unknown))} "
                             f"for {arch}; {arch} takes {', '.join(known)}. Remove or rename "
                             f"{'them' if len(unknown) > 1 else 'it'}")
    if family.module is not None:
        config = _check_config(arch, config)
    elif config.get("upscale") is not None:
        config = dict(config, upscale=check_scale(config["upscale"], f"{arch}: upscale"))
    return family, config


def _finish(arch: str, family: "Family", model: Any, config: dict) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise InputError(f"the {arch} family's build returned {type(model).__name__}, not an nn.Module")
    if family.module is None:  # a registered family: give it what srwidgets' own models carry
        if not hasattr(model, "arch"):
            model.arch = arch
        if not hasattr(model, "config"):
            model.config = dict(config)
        if not _is_int(getattr(model, "scale", None)) and config.get("upscale") is not None:
            model.scale = config["upscale"]
    return model


def build(arch: str, **config) -> nn.Module:
    """Build an architecture by name with its config (e.g. ``build("EDSR", num_feat=64, num_block=16, upscale=4)``).
    The model has ``.scale`` (int), ``.arch`` and ``.config`` (the keyword arguments that rebuild it).

    An unknown config key, a nonsense value (``img_range=0``, ``window_size=0``, a negative width, ``upscale=0``,
    no blocks), a scale the architecture cannot build, or a network too large for this machine's memory raises
    :class:`InputError` naming it, before the memory is allocated. Numpy integers are accepted wherever an integer
    is."""
    from ..engine.memory import available_bytes, format_bytes

    family, config = _prepare(arch, config)
    free = available_bytes("cpu")
    budget = _Budget(tensors=MAX_TENSORS, numel=free / 4, modules=8 * MAX_TENSORS)

    def over():
        if budget.exceeded == "numel":
            return (f"{arch} with {short(config, 300)} needs more than {format_bytes(free)} of weights, this "
                    "machine's free memory; use a smaller config (the widths)")
        return (f"{arch} with {short(config, 300)} has more than {MAX_TENSORS} parameter tensors (or "
                f"{8 * MAX_TENSORS} modules), far more than any public SR network: check the depth entries")
    return _construct(arch, family, config, budget, over)


def _mismatch(model: nn.Module, sd: Dict[str, torch.Tensor], error: Optional[RuntimeError], result) -> str:
    """Why ``sd`` does not load into ``model``, in a few lines: the first shape mismatches (from ``error``, the
    ``load_state_dict`` failure), or the first missing and unexpected keys (``result``)."""
    if error is not None:
        own = model.state_dict()
        shapes = [f"size mismatch for {short(k)}: {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in "
                  "the network" for k, v in sd.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
        return cap_names(shapes, 3, width=200) if shapes else short(" ".join(str(error).split()), 400)
    parts = []
    if result.missing_keys:
        parts.append(f"it lacks {len(result.missing_keys)} key{'s' if len(result.missing_keys) > 1 else ''} "
                     f"({cap_names(result.missing_keys)})")
    if result.unexpected_keys:
        parts.append(f"it has {len(result.unexpected_keys)} key{'s' if len(result.unexpected_keys) > 1 else ''} "
                     f"the network does not ({cap_names(result.unexpected_keys)})")
    return "; ".join(parts)


def build_loaded(arch: str, config: dict, sd: Dict[str, torch.Tensor], strict: bool, source: str,
                  fix: str) -> nn.Module:
    """``arch`` built with ``config`` and ``sd`` loaded into it (``strict`` as in ``load_state_dict``). The build
    runs within a budget set by ``sd``'s own size, so a stray key, or a record claiming widths of 20000, is
    refused in milliseconds instead of building a huge network; a mismatch is named in a few lines. ``source``
    says where the config came from, ``fix`` what to do about a mismatch."""
    try:
        family, config = _prepare(arch, config)
    except InputError as e:
        raise InputError(f"{e} ({source}). {fix}") from None
    n = len(sd)
    total = sum(v.numel() for v in sd.values())
    if strict:  # every parameter must come from sd with its shape: sd bounds the network, up to a few buffers
        budget = _Budget(tensors=2 * n + 64, numel=1.1 * total + (1 << 22), modules=16 * n + 256)
    else:
        budget = _Budget(tensors=4 * n + 64, numel=4 * total + (1 << 24), modules=32 * n + 256)
    what = f"{arch} {short(config, 200)} ({source})"
    over = lambda: (f"the checkpoint looks like {what} but does not fit it: that network has more parameters than "
                    f"the checkpoint's {n} tensors ({total:,} values) could fill, so it was not built. {fix}")
    model = _construct(arch, family, config, budget, over, f" ({source}). {fix}")
    error = result = None
    try:
        result = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        error = e
    if error is not None or (strict and (result.missing_keys or result.unexpected_keys)):
        others = _families_matching(sd, arch) if result is not None and result.unexpected_keys else []
        mixed = (f" Its keys also match {', '.join(others)}: it may mix two networks' weights; save one model's "
                 "state dict per file." if others else "")
        raise InputError(f"the checkpoint looks like {what} but does not fit it: {_mismatch(model, sd, error, result)}."
                         f"{mixed} {fix}")
    return model


def detect(state_dict: Dict[str, torch.Tensor]) -> Tuple[str, dict, Dict[str, torch.Tensor]]:
    """Detect ``(arch, config, converted_state_dict)`` from parameter names and shapes (and, for official
    EDSR-PyTorch / RCAN checkpoints, the value range from their mean-shift biases).

    Raises :class:`InputError` naming some of the keys seen when no known architecture matches, or saying which
    ``load`` option sets a value range the weights leave ambiguous.
    """
    return detect_converted(state_dict)


_REFERENCE_NDIMS: Dict[str, Dict[str, set]] = {}


def _pattern(key: str) -> str:
    """``body.5.conv1.weight`` -> ``body.#.conv1.weight``: the key with its block indices left out."""
    return re.sub(r"(?<![^.])\d+(?![^.])", "#", key)


def _wrong_ndim(family: "Family", sd: Dict[str, torch.Tensor]) -> Optional[str]:
    """For a built-in family, the first tensor of ``sd`` whose number of dimensions differs from that of the
    same parameter in the family's default network (e.g. a 1-D ``conv_first.weight``), as a message; else None."""
    if family.module is None:
        return None
    ref = _REFERENCE_NDIMS.get(family.name)
    if ref is None:
        try:
            with torch.device("meta"):
                model = family.builder()
        except Exception:
            return None
        ref = {}
        for k, v in model.state_dict().items():  # exact keys, and keys with their indices left out
            ref.setdefault(k, set()).add(v.dim())
            ref.setdefault(_pattern(k), set()).add(v.dim())
        _REFERENCE_NDIMS[family.name] = ref
    for k, v in sd.items():
        want = ref.get(k) or ref.get(_pattern(k))
        if want is not None and isinstance(v, torch.Tensor) and v.dim() not in want:
            n = min(want)
            kind = {4: "a conv weight [out, in, kh, kw]", 2: "a linear weight [out, in]",
                    1: "a bias / norm vector"}.get(n, f"a {n}-D tensor")
            return (f"this looks like {article(family.name)} checkpoint, but its {short(k)!r} has shape "
                    f"{tuple(v.shape)}: in {family.name} that tensor is {kind}, {n}-D. The checkpoint is "
                    "damaged or another network's")
    return None


def run_family(family: "Family", what: str, sd: Dict[str, torch.Tensor]):
    """``family.convert(sd)`` / ``family.detect(sd)``, with a registered family's failure (an exception, or a
    result of the wrong type) turned into an :class:`InputError` naming the family; a built-in's unexpected error
    (a tensor of the wrong shape) into one naming the tensor."""
    try:
        out = family.convert(sd) if what == "convert" else family.detect(sd)
    except InputError:
        if family.module is not None and what == "detect":
            reason = _wrong_ndim(family, sd)
            if reason is not None:
                raise InputError(reason) from None
        raise
    except Exception as e:
        why = f"{type(e).__name__}: {short(' '.join(str(e).split()), 200)}"
        if family.module is None:
            raise InputError(f"the {what} function registered for the family {family.name!r} raised {why}. It must "
                             f"{'return None' if what == 'detect' else 'return the state dict unchanged'} for state "
                             f"dicts that are not its own; fix it, or srwidgets.models.unregister({family.name!r})"
                             ) from None
        reason = _wrong_ndim(family, sd)
        if reason is None:
            missing = f"it lacks the key {short(e.args[0])!r}" if isinstance(e, KeyError) and e.args else \
                f"its tensors do not have {family.name}'s shapes ({why})"
            reason = (f"this looks like {article(family.name)} checkpoint, but {missing}: the checkpoint is "
                      "incomplete, damaged or another variant")
        raise InputError(reason) from None
    if what == "convert":
        if not isinstance(out, dict):
            raise InputError(f"the convert function of the family {family.name!r} returned {type(out).__name__}, "
                             "not a state dict (a dict of tensors)")
        return out
    if out is not None and not isinstance(out, dict):
        raise InputError(f"the detect function of the family {family.name!r} returned {short(type(out).__name__)}; "
                         "it must return a dict (the config build takes) or None (not this family's state dict)")
    if out is not None:
        bad = [k for k in out if not isinstance(k, str)]
        if bad:
            raise InputError(f"the detect function of the family {family.name!r} returned a config with non-string "
                             f"keys ({cap_names(map(repr, bad))}); its keys must be build's keyword names")
        if family.module is not None:
            reason = _wrong_ndim(family, sd)
            if reason is not None:
                raise InputError(reason)
    return out


def _families_matching(sd: Dict[str, torch.Tensor], skip: str) -> list:
    """Names of the other families whose detection also claims ``sd`` (a state dict mixing two networks)."""
    names = []
    for family in list(_FAMILIES.values()):
        if family.name == skip:
            continue
        try:
            if family.detect(family.convert(sd)) is not None:
                names.append(family.name)
        except Exception:
            names.append(family.name)  # it recognised its keys, then found them incomplete
    return names


def detect_converted(state_dict: Dict[str, torch.Tensor], img_range: Optional[float] = None):
    """``(arch, config, converted state dict)`` of the first family that recognises ``state_dict`` (converted by
    that family first; the value range read with ``img_range``); :class:`UnknownArchitecture` when none does."""
    for family in list(_FAMILIES.values()):
        sd = run_family(family, "convert", state_dict)
        cfg = run_family(family, "detect", sd)
        if cfg is not None:
            cfg = dict(cfg)
            cfg.update(family.value_range(state_dict, img_range) or {})
            return family.name, cfg, sd
    keys = list(state_dict)
    shown = cap_names(keys, 6, width=40)
    raise UnknownArchitecture(
        keys,
        f"unknown architecture: no known SR family matches the keys {shown} ({len(keys)} keys). "
        f"Known families: {', '.join(architectures())}. For another network, register its family in a few lines "
        "with srwidgets.models.register(name, detect=..., build=...) (see help(srwidgets.models.register)), or "
        "build it yourself, call model.load_state_dict(...) and pass the nn.Module directly."
    )
