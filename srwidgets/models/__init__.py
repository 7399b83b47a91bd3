"""SR architectures, checkpoint loading and model checks.

``load(path)`` reads a public checkpoint (plain state dict, or wrapped in ``{"params": ...}`` /
``{"params_ema": ...}`` / ``{"state_dict": ...}``), detects the architecture and its width, depth and scale from
the parameter names and shapes, and returns the model in eval mode. Checkpoint families that load:

========== =========================================================================================
FSRCNN     3-channel FSRCNN with the common ``first_part/mid_part/last_part`` naming (scale from the
           file name ``x2/x3/x4`` or ``scale=``, since a transposed conv does not record its stride)
EDSR       BasicSR naming (``conv_first``, ``body.N.conv1``, ``upsample``...), e.g. ``EDSR_Mx4_f64b16``,
           ``EDSR_Lx4_f256b32``; and the official EDSR-PyTorch naming (``head``, ``body.N.body.0``, ``tail``)
MSRResNet  BasicSR ``MSRResNet`` (SRResNet without BN, global bilinear residual), x2/x3/x4
RCAN       BasicSR naming (``residual_group``, ``rcab``) and the official RCAN naming (``body.N.body.M.body``)
RRDBNet    BasicSR / Real-ESRGAN naming (``body.N.rdb1.conv1``), x1/x2/x4, and the old ESRGAN naming
           (``RRDB_trunk``, ``trunk_conv``, ``HRconv``)
SwinIR     official / BasicSR naming (``layers.N.residual_group.blocks.M``), classical (pixelshuffle),
           lightweight (pixelshuffledirect) and real-world (nearest+conv) variants
RFDN       official naming (``fea_conv``, ``B1.c1_d`` ... ``B4.esa.conv4``, ``c.0``, ``LR_conv``,
           ``upsampler.0``), e.g. the AIM 2020 ``RFDN_AIM.pth`` (x4); the network works on 0..255 (measured), the
           model takes [0, 1] and scales inside (``img_range=255``)
IMDN       official naming (``fea_conv``, ``IMDB1.c1`` ... ``IMDB6.cca.conv_du.2``, ``c.0``, ``LR_conv``,
           ``upsampler.0``), x2/x3/x4; [0, 1] RGB as the official test feeds (``img_range=1``)
PAN        official naming (``conv_first``, ``SCPA_trunk.N.PAConv.k2``, ``trunk_conv``, ``upconv1``,
           ``att1``, ``HRconv1``, [``upconv2``, ``att2``, ``HRconv2``,] ``conv_last``); x4 from the weights,
           x2/x3 from the file name (``PANx2_DF2K.pth``) or ``scale=``; [0, 1] RGB (``img_range=1``)
========== =========================================================================================

Value ranges: every loaded model takes and returns RGB in [0, 1]. Official EDSR-PyTorch / RCAN checkpoints state
the range they were trained on (``--rgb_range``) and the data mean in their ``sub_mean`` / ``add_mean`` biases;
``load`` reads them. Otherwise each family's official range is assumed, and ``load(path, img_range=...)`` sets it
(the error says so when the biases leave it ambiguous). Single-channel (Y) checkpoints load with a warning;
``load(path, y_only="wrap")`` or :class:`YChannelWrapper` makes them take and return RGB. A network that needs input
sides that are multiples of N runs on any size in :class:`PadToMultiple` (``check`` offers it).

Any other ``nn.Module`` that maps ``[N, 3, h, w]`` in ``[0, 1]`` to ``[N, 3, s*h, s*w]`` is accepted everywhere;
``check(model, scale)`` tells you clearly when a model does not. To make ``load`` recognise another family's
checkpoints, register it: ``register(name, detect=..., build=...)`` (the built-in families are entries of the
same registry; ``architectures()`` lists them all). ``load`` reads ``.pth`` / ``.pt`` files and, with the
``safetensors`` package, ``.safetensors`` files.
"""
from __future__ import annotations

import importlib
import inspect
import math
import os
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..engine.guard import explain_model_error, guarded
from ..errors import InputError
from .wrappers import PadToMultiple, YChannelWrapper, rgb_to_ycbcr, ycbcr_to_rgb

# ------------------------------------------------------------------------------------------------ the registry
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


def unwrap_state_dict(obj: Any) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Return ``(state_dict, meta)`` from a checkpoint object: a bare state dict or one wrapped in ``params_ema``
    / ``params`` / ``state_dict`` / ``model``; ``meta`` is srwidgets' own ``{"arch", "config"}`` record if any."""
    meta = {}
    if isinstance(obj, nn.Module):
        return obj.state_dict(), meta
    if not isinstance(obj, dict):
        raise InputError(f"a checkpoint must hold a state dict (a dict of tensors); this one holds {type(obj).__name__}")
    if isinstance(obj.get("srwidgets"), dict):
        meta = obj["srwidgets"]
    for key in ("params_ema", "params", "state_dict", "model"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise InputError("the checkpoint holds no tensors: is it a state dict of an SR model?")
    return sd, meta


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
# (RCAN's degradations), ``SRx4`` (ESRGAN_SRx4) and ``PANx2`` (PAN's PANx2_DF2K). Whole words only: ``pix2pix``
# or ``mix2`` state nothing.
_NAME_SCALE = re.compile(r"(?:m|l|bi|bd|dn|sr|pan)?x([1-8])(?:plus)?|([1-8])x")


def _scales_in_name(path: str) -> List[int]:
    """The scales stated by words of the file name (not its folders), in order, without repeats."""
    found: List[int] = []
    for word in re.split(r"[^a-z0-9]+", os.path.basename(os.fspath(path)).lower()):
        m = _NAME_SCALE.fullmatch(word)
        if m:
            s = int(m.group(1) or m.group(2))
            if s not in found:
                found.append(s)
    return found


def _scale_from_name(path: str) -> Optional[int]:
    """The scale the file name states (``fsrcnn_x4.pth``, ``RCAN_BIX4.pt``, ``model_4x.pth``), or ``None`` when
    it states none or several different ones."""
    found = _scales_in_name(path)
    return found[0] if len(found) == 1 else None


def _is_safetensors(path: str) -> bool:
    """A ``.safetensors`` file: by its extension, or by its header (a little-endian 8-byte length, then ``{``) for
    one saved under another name. A PyTorch checkpoint starts with a zip or pickle header instead."""
    if path.lower().endswith(".safetensors"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= os.path.getsize(path) - 8


def _read_safetensors(path: str) -> dict:
    """The tensors of a ``.safetensors`` file (on the CPU), with srwidgets' ``{"arch", "config"}`` record when the
    file's metadata holds one under ``"srwidgets"`` (JSON)."""
    try:
        from safetensors import safe_open
    except ImportError:
        raise InputError(f"{os.path.basename(path)!r} is a .safetensors checkpoint: reading it needs the safetensors "
                         "package; install it with: pip install safetensors") from None
    import json

    try:
        tensors = {}
        with safe_open(path, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as e:  # safetensors' own error type lives in its Rust extension
        raise InputError(f"could not read {path!r} as a .safetensors checkpoint ({type(e).__name__}: "
                         f"{str(e)[:200]}). Is the file complete? Re-download it.") from None
    record = meta.get("srwidgets")
    if record:
        try:
            record = json.loads(record)
        except ValueError:
            raise InputError(f"{path!r}: the 'srwidgets' metadata is not JSON; it should be "
                             '{"arch": ..., "config": {...}}') from None
        return {"params": tensors, "srwidgets": record}
    return tensors


def _read_checkpoint(name: str) -> Any:
    """The object stored in a checkpoint file: ``.safetensors`` (tensors and srwidgets' record) or PyTorch
    (``torch.load`` with ``weights_only``: no code runs)."""
    if _is_safetensors(name):
        return _read_safetensors(name)
    try:
        return torch.load(name, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn download, a text file, a pickle with code in it
        raise InputError(
            f"could not read {name!r} as a PyTorch checkpoint ({type(e).__name__}: {str(e)[:200]}). "
            "Is the file complete? Re-download it, or save it with torch.save(model.state_dict(), path)."
        ) from None


_Y_ONLY = ("warn", "wrap", "keep")


def load(path_or_state: Any, scale: Optional[int] = None, device: Any = "cpu", strict: bool = True, *,
         img_range: Optional[float] = None, rgb_range: Optional[float] = None, y_only: str = "warn") -> nn.Module:
    """Load a checkpoint (file path, state dict or wrapped dict) into the matching architecture, in eval mode.

    Args:
        path_or_state: ``.pth`` / ``.pt`` path, a ``.safetensors`` path (needs ``pip install safetensors``; the
            same detection), or an already loaded dict.
        scale: only needed for families whose weights do not record it (FSRCNN, PAN x2/x3); otherwise checked.
        device: where the model goes.
        strict: passed to ``load_state_dict``.
        img_range: the value range the network was trained on (``255``: it was fed 0..255; ``1``: [0, 1]) for the
            families that have one (EDSR, RCAN, SwinIR, RFDN, IMDN, PAN). Weights rarely record it: official
            EDSR-PyTorch / RCAN checkpoints state it in their mean-shift biases (read automatically, and this
            option splits ``rgb_range * mean`` when that is ambiguous); otherwise each family's official value is
            assumed (see the README's checkpoint table). The loaded model always takes and returns [0, 1].
        rgb_range: EDSR-PyTorch's name for ``img_range`` (the same option).
        y_only: for a single-channel (Y, luma) checkpoint such as the usual FSRCNN ones: ``"warn"`` returns the
            1-channel network with a warning; ``"wrap"`` returns it in :class:`YChannelWrapper` (RGB in and out,
            the network on Y, chroma bicubic); ``"keep"`` returns the 1-channel network silently.

    Returns:
        ``nn.Module`` in eval mode with ``.scale``, ``.arch``, ``.config`` and ``.scale_source``: where the
        scale came from (``"srwidgets metadata"``, ``"checkpoint weights"``, ``"scale= argument"`` or
        ``"file name 'fsrcnn_x4.pth'"``).
    """
    from ..engine.devices import parse_device

    device = parse_device(device)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise InputError(f"scale must be a positive integer (2, 3, 4, ...), got {scale!r}")
    for what, v in (("img_range", img_range), ("rgb_range", rgb_range)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                              or not math.isfinite(v)):
            raise InputError(f"{what} must be a positive number (255 for a network trained on 0..255 values, 1 for "
                             f"[0, 1]), got {v!r}")
    if rgb_range is not None:
        if img_range is not None and float(img_range) != float(rgb_range):
            raise InputError(f"img_range={img_range!r} and rgb_range={rgb_range!r} are the same option; pass one")
        img_range = rgb_range
    if y_only not in _Y_ONLY:
        raise InputError(f"y_only must be one of {', '.join(map(repr, _Y_ONLY))}, got {y_only!r}")
    name = None
    if isinstance(path_or_state, (str, os.PathLike)):
        name = os.fspath(path_or_state)
        if not os.path.exists(name):
            raise InputError(f"checkpoint file not found: {name!r}. Check the path (it is relative to {os.getcwd()!r}).")
        obj = _read_checkpoint(name)
    else:
        obj = path_or_state
    sd, meta = unwrap_state_dict(obj)
    if meta.get("arch"):
        arch, cfg, source = meta["arch"], meta.get("config", {}), "srwidgets metadata"
        if not isinstance(arch, str) or not isinstance(cfg, dict):
            raise InputError("the checkpoint's srwidgets record is malformed: it needs {'arch': str, 'config': dict}; "
                             "re-save the model with srwidgets.models.save(model, path)")
        cfg = dict(cfg)
        sd = _family(arch).convert(sd)
    else:
        arch, cfg, sd = _detect(sd, img_range)
        source = "checkpoint weights"
    if img_range is not None:
        if not _takes(_family(arch).builder, "img_range"):
            raise InputError(f"img_range= does not apply to {arch}: srwidgets' {arch} has no value-range setting and "
                             "feeds the network [0, 1] values, as its official code does. For a network trained on "
                             "another range, build it yourself and scale inside forward (x * 255 ... / 255)")
        cfg["img_range"] = float(img_range)
    if cfg.get("upscale") is None:
        if scale is not None:
            s, source = scale, "scale= argument"
        else:
            s, source = (_scale_from_name(name), f"file name {os.path.basename(name)!r}") if name else (None, None)
        if s is None:
            several = _scales_in_name(name) if name else []
            why = (f" (the file name {os.path.basename(name)!r} names several: "
                   f"{', '.join(f'x{k}' for k in several)})" if len(several) > 1 else "")
            raise InputError(
                f"{arch} weights do not record the scale{why}; pass it: srwidgets.models.load(path, scale=4) "
                "(or put x2/x3/x4 in the file name, e.g. fsrcnn_x4.pth)."
            )
        cfg["upscale"] = int(s)
    elif scale is not None and int(scale) != int(cfg["upscale"]):
        raise InputError(f"you asked for scale {scale} but the {arch} checkpoint is x{cfg['upscale']}; drop scale= or pick the x{scale} checkpoint")
    try:
        model = build(arch, **cfg)
    except InputError as e:
        if not meta.get("arch"):
            raise
        raise InputError(f"{e} (arch and config read from the checkpoint's srwidgets record; fix that record or "
                         "re-save the model with srwidgets.models.save)") from None
    try:
        model.load_state_dict(sd, strict=strict)
    except RuntimeError as e:
        raise InputError(f"the checkpoint looks like {arch} {cfg} but does not fit it: {str(e)[:400]}") from None
    model.scale_source = source
    channels = cfg.get("num_channels", cfg.get("num_in_ch", cfg.get("in_nc")))
    if channels == 1:
        if y_only == "wrap":
            inner = model
            model = YChannelWrapper(inner.to(device))
            model.scale_source = source
        elif y_only == "warn":
            import warnings

            warnings.warn(
                f"this {arch} checkpoint is single-channel: it takes and returns the luma (Y) of YCbCr, not RGB, so "
                "LAM, DDR and FAIG cannot run it as it is. Load it with srwidgets.models.load(path, y_only='wrap') "
                "(or wrap it: srwidgets.models.YChannelWrapper(model)) to get a model that takes and returns RGB "
                "[0, 1]: the network runs on Y, the chroma is upsampled bicubically. y_only='keep' silences this.",
                UserWarning, stacklevel=2)
    return model.to(device).eval()


def save(model: nn.Module, path: str) -> None:
    """Save in BasicSR's ``{"params": state_dict}`` layout plus srwidgets' ``{"arch", "config"}`` record."""
    if isinstance(model, (PadToMultiple, YChannelWrapper)):
        raise InputError(f"save the wrapped network, not the {type(model).__name__}: "
                         "srwidgets.models.save(model.model, path) (wrap it again after loading)")
    torch.save({"params": model.state_dict(), "srwidgets": {"arch": model.arch, "config": dict(model.config)}}, path)


# Sizes tried when the probe fails, to tell "needs multiples of N" (or larger inputs) from "never runs on RGB".
_PROBE_SIZES = (16, 20, 24, 28, 32, 36, 48, 56, 64)


def _probe_input(model: nn.Module, size: int, device: Any = None) -> torch.Tensor:
    """A deterministic ``[1, 3, size, size]`` image in [0, 1] on ``device`` (default: the model's), in its
    parameters' dtype."""
    p = next(iter(model.parameters()), None)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    x = x.to(device if device is not None else (p.device if p is not None else "cpu"))
    if p is not None and p.is_floating_point():
        x = x.to(p.dtype)
    return x


def _forward(model: nn.Module, x: torch.Tensor):
    """``model(x)`` without gradients, in eval mode, leaving the model's modes, flags and buffers as they were."""
    with guarded(model), torch.no_grad():
        return model(x)


def _size_multiple(works: List[int], fails: List[int]) -> Optional[int]:
    """The smallest ``n > 1`` that divides every working size and no failing one, or ``None``."""
    g = 0
    for s in works:
        g = math.gcd(g, s)
    for n in range(2, g + 1):
        if g % n == 0 and not any(f % n == 0 for f in fails):
            return n
    return None


def _probe_failure(model: nn.Module, size: int, device: Any, exc: Exception, hint: str) -> InputError:
    """The :class:`InputError` for a model that failed on the ``size`` probe: a known fault (in-place input
    write, gradients in forward), a size requirement (found by probing a few more sizes), or not RGB."""
    what = f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
    reason = explain_model_error(exc)
    if reason is not None:
        return InputError(f"the model failed on a [1, 3, {size}, {size}] input {what}: {reason}.")
    works, fails = [], [size]
    for s in _PROBE_SIZES:
        if s == size:
            continue
        try:
            _forward(model, _probe_input(model, s, device))
            works.append(s)
        except Exception:
            fails.append(s)
    if not works:
        return InputError(
            f"the model failed on a [1, 3, {size}, {size}] RGB input in [0, 1] {what}, and on every other size tried "
            f"({', '.join(map(str, _PROBE_SIZES))}). srwidgets models take 3-channel RGB batches; wrap "
            "single-channel (Y) models so they take and return RGB (srwidgets.models.YChannelWrapper(model), or "
            "load(path, y_only='wrap'))" + hint + ".")
    ok = ", ".join(f"{s}x{s}" for s in works)
    n = _size_multiple(works, fails)
    if n is not None:
        return InputError(
            f"the model needs input sizes that are multiples of {n}: it failed on a [1, 3, {size}, {size}] input "
            f"{what} but runs on {ok}. srwidgets runs models on images of any size: wrap it, "
            f"srwidgets.models.PadToMultiple(model, {n}), which reflect-pads the input to a multiple of {n} and crops "
            f"the output back to [s*h, s*w] (exact away from the bottom / right edge), or pad the image to a "
            f"multiple of {n} yourself.")
    bad = ", ".join(f"{s}x{s}" for s in sorted(fails))
    return InputError(
        f"the model failed on a [1, 3, {size}, {size}] input {what}; it runs on {ok} but not on {bad}, so it needs "
        "particular (or larger) input sizes. srwidgets runs models on images of any size: wrap the model so it pads "
        "its input to a size it takes and crops the output back.")


def _probe(model: nn.Module, size: int, device: Any = None, hint: str = ""):
    """One forward pass of ``model`` on a deterministic ``[1, 3, size, size]`` image in [0, 1], on ``device``
    (default: the model's) and in its parameters' dtype, under :func:`~srwidgets.engine.guard.guarded` (eval
    mode, nothing of the model changes): ``(x, y)``. A model that fails on it, or writes into its input, raises
    :class:`InputError`."""
    x = _probe_input(model, size, device)
    before = x.clone()
    try:
        y = _forward(model, x)
    except Exception as e:
        raise _probe_failure(model, size, device, e, hint) from None
    if not torch.equal(x, before):
        raise InputError(
            "the model modifies its input in place (an operation such as x.mul_(255), x.sub_(mean) or x[...] = v "
            "on the tensor forward receives): the probe image changed during the forward pass. srwidgets reuses "
            "that tensor (and takes gradients with respect to it); make that first operation out of place "
            "(x = x * 255)")
    return x, y


def _user_probe(model: nn.Module, image: Any, device: Any = None) -> torch.Tensor:
    """``[1, 3, h, w]`` for ``check``'s ``image``: an image (anything :func:`srwidgets.data.load_image` takes) as
    it is, or a size ``(h, w)`` / ``n`` as a deterministic image in [0, 1]; on the model's device and dtype."""
    if isinstance(image, int) and not isinstance(image, bool):
        image = (image, image)
    if isinstance(image, (tuple, list)) and len(image) == 2 and all(isinstance(v, int) for v in image):
        h, w = image
        if h < 1 or w < 1:
            raise InputError(f"image size must be positive (h, w), got {tuple(image)}")
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    else:
        from ..data import load_image

        x = load_image(image)[None].float()
    p = next(iter(model.parameters()), None)
    x = x.to(device if device is not None else (p.device if p is not None else "cpu"))
    if p is not None and p.is_floating_point():
        x = x.to(p.dtype)
    return x


def _check_output(x: torch.Tensor, y: Any, scale: int) -> None:
    if not isinstance(y, torch.Tensor):
        raise InputError(f"the model returned {type(y).__name__}, not a tensor; wrap it so forward returns the SR image [N, 3, s*h, s*w]")
    h, w = x.shape[-2:]
    want = (1, 3, scale * h, scale * w)
    if tuple(y.shape) != want:
        if y.dim() == 4 and y.shape[1] == 3 and y.shape[2] % h == 0 and y.shape[3] % w == 0 \
                and y.shape[2] // h == y.shape[3] // w:
            raise InputError(f"the model upscales x{y.shape[2] // h}, not x{scale}: pass scale={y.shape[2] // h} or use a x{scale} model")
        if y.dim() == 4 and y.shape[1] != 3:
            raise InputError(f"the model returns {y.shape[1]} channels, expected 3 (RGB); output shape {tuple(y.shape)} for input {tuple(x.shape)}")
        raise InputError(f"the model maps {tuple(x.shape)} to {tuple(y.shape)}; expected {want} (x{scale}, RGB)")
    if not torch.isfinite(y).all():
        raise InputError("the model returns NaN or Inf on a plain input in [0, 1]; check its weights (a diverged training run?)")


def check(model: nn.Module, scale: int, image: Any = None, size: int = 12, device: Any = None) -> int:
    """Verify that ``model`` maps ``[1, 3, h, w]`` in [0, 1] to a finite ``[1, 3, scale*h, scale*w]``.

    With ``image`` (the LR image you will use, anything :func:`srwidgets.data.load_image` takes, or just its size
    ``(h, w)`` / ``n``) the model is first run on it: when that works the model is accepted, so a model that only
    fails on small inputs is not refused; when it fails, the small probe below explains why (or the error says that
    the model runs on the probe but not on your image). Otherwise one forward pass on a small deterministic
    ``size x size`` image. Passes run under :func:`~srwidgets.engine.guard.guarded` (a model in train mode keeps its
    mode and its BatchNorm statistics). Returns ``scale``. Raises :class:`InputError` that says what is wrong (not
    a module, wrong channel count, wrong scale, NaN/Inf, input sizes that must be multiples of N, a forward pass
    that writes into its input) and how to fix it.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}; load weights with srwidgets.models.load(path) or srwidgets.zoo.load(name)")
    if not isinstance(scale, int) or scale < 1:
        raise InputError(f"scale must be a positive int, got {scale!r}")
    failure = None
    if image is not None:
        x = _user_probe(model, image, device)
        before = x.clone()
        try:
            y = _forward(model, x)
        except Exception as e:  # explained below by the small probes
            failure = f"({type(e).__name__}: {' '.join(str(e).split())[:200]})"
        else:
            if not torch.equal(x, before):
                _probe(model, size, device)  # raises the in-place message
            _check_output(x, y, scale)
            return scale
    x, y = _probe(model, size, device)
    _check_output(x, y, scale)
    if failure is not None:
        h, w = x.shape[-2:]
        uh, uw = _user_probe(model, image, "cpu").shape[-2:] if not isinstance(image, (int, tuple, list)) else (
            (image, image) if isinstance(image, int) else tuple(image))
        raise InputError(f"the model runs on a [1, 3, {h}, {w}] probe but failed on your {uh}x{uw} image {failure}; "
                         "check the image size the model takes (or crop / pad the image)")
    return scale


def infer_scale(model: nn.Module, size: int = 12) -> int:
    """The model's scale: its ``.scale`` attribute, else measured with one forward pass."""
    s = getattr(model, "scale", None)
    if isinstance(s, int) and s >= 1:
        return s
    x, y = _probe(model, size, hint=", or pass scale= explicitly")
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[2] % size:
        raise InputError(f"cannot tell the model's scale: it maps {tuple(x.shape)} to {getattr(y, 'shape', type(y).__name__)}; pass scale=")
    return y.shape[2] // size


__all__ = ["architectures", "build", "load", "save", "check", "detect", "infer_scale", "unwrap_state_dict",
           "register", "unregister", "Family", "PadToMultiple", "YChannelWrapper", "rgb_to_ycbcr", "ycbcr_to_rgb"]
