"""Checkpoint I/O: reading ``.pth`` / ``.pt`` / ``.safetensors`` files, unwrapping the usual layouts, the scale a
file name states, :func:`load` (detect, check, build, fill) and :func:`save`."""
from __future__ import annotations

import math
import numbers
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..errors import InputError
from ._common import cap_names, short
from . import spandrel_adapter
from .registry import UnknownArchitecture, build_loaded, detect_converted, family_of, run_family, takes_keyword, architectures, check_scale
from .spandrel_adapter import SpandrelModel
from .wrappers import PadToMultiple, YChannelWrapper

def unwrap_state_dict(obj: Any) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Return ``(state_dict, meta)`` from a checkpoint object: a bare state dict or one wrapped in ``params_ema``
    / ``params`` / ``state_dict`` / ``model``; ``meta`` is srwidgets' own ``{"arch", "config"}`` record if any."""
    meta = {}
    if isinstance(obj, nn.Module):
        return obj.state_dict(), meta
    if not isinstance(obj, dict):
        raise InputError(f"a checkpoint must hold a state dict (a dict of tensors); this one holds "
                         f"{short(type(obj).__name__)}. Pass a checkpoint file path, a state dict or an nn.Module")
    if isinstance(obj.get("srwidgets"), dict):
        meta = obj["srwidgets"]
    for key in ("params_ema", "params", "state_dict", "model"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    bad = [k for k, v in obj.items() if isinstance(v, torch.Tensor) and not isinstance(k, str)]
    if bad:
        raise InputError(f"the checkpoint's state dict has keys that are not parameter names (strings): "
                         f"{cap_names(map(repr, bad))}; save it with torch.save(model.state_dict(), path)")
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise InputError("the checkpoint holds no tensors: is it a state dict of an SR model?")
    empty = [k for k, v in sd.items() if v.is_meta or v.layout != torch.strided]
    if empty:
        raise InputError(f"the checkpoint's tensors {cap_names(empty)} hold no dense data (meta or sparse tensors): "
                         "save the real weights with torch.save(model.state_dict(), path)")
    return sd, meta


def _check_finite(sd: Dict[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN / Inf: the model would return NaN for every input (a diverged training run, or a
    damaged file), which no attribution can explain."""
    bad = []
    for k, v in sd.items():
        if v.is_floating_point() or v.is_complex():
            n = int((~torch.isfinite(v)).sum())
            if n:
                bad.append((k, n, v.numel()))
    if bad:
        k, n, total = bad[0]
        others = f" (and {len(bad) - 1} more tensor{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise InputError(f"the checkpoint's weights hold NaN or Inf values: {short(k)!r} has {n} of {total}{others}. "
                         "A diverged training run or a damaged file; use another checkpoint (re-download it)")


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


def _not_a_checkpoint(name: str) -> Optional[str]:
    """What the file is when it plainly is not a checkpoint (empty, text / HTML, a zip without PyTorch's layout),
    from its first bytes; ``None`` when it may be one (a zip or pickle header)."""
    try:
        size = os.path.getsize(name)
        with open(name, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"it cannot be read ({type(e).__name__}: {short(e, 120)})"
    if size == 0:
        return "the file is empty (0 bytes; an interrupted download)"
    if head[:1] == b"\x80":
        return None  # a pickle (protocol 2+): torch's legacy format
    if head[:4] == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(name) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return "it is a damaged zip archive (an interrupted download?)"
        if not any(n.endswith("data.pkl") for n in names):
            return f"it is a zip archive of {cap_names(names, 3)}, without the data.pkl of a torch.save file"
        return None
    text = head.lstrip()
    if text and all(32 <= c < 127 or c in (9, 10, 13) for c in text[:200]):
        kind = "an HTML page (a download error page?)" if text[:1] == b"<" else "a text file"
        return f"it is {kind}, starting {short(text[:60].decode('ascii', 'replace'), 60)!r}"
    return None


def _read_checkpoint(name: str) -> Any:
    """The object stored in a checkpoint file: ``.safetensors`` (tensors and srwidgets' record) or PyTorch
    (``torch.load`` with ``weights_only``: no code runs)."""
    if _is_safetensors(name):
        return _read_safetensors(name)
    what = _not_a_checkpoint(name)
    if what is not None:
        raise InputError(f"could not read {short(name, 200)!r} as a PyTorch checkpoint: {what}. Is the file complete? "
                         "Re-download it, or save one with torch.save(model.state_dict(), path)")
    try:
        return torch.load(name, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn download, a text file, a pickle with code in it
        raise InputError(
            f"could not read {name!r} as a PyTorch checkpoint ({type(e).__name__}: {str(e)[:200]}). "
            "Is the file complete? Re-download it, or save it with torch.save(model.state_dict(), path)."
        ) from None


_Y_ONLY = ("warn", "wrap", "keep")


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _scale_advice(arch: str) -> str:
    """How to give ``load`` the scale of a family whose weights do not record it (a family module may say which
    scales share its parameters in ``UNRECORDED_SCALES``, e.g. PAN's x2 and x3)."""
    family = family_of(arch)
    scales = None
    if family.module is not None:
        scales = getattr(family._mod(), "UNRECORDED_SCALES", None)
    if scales:
        options = " or ".join(f"scale={k}" for k in scales)
        return (f"the {arch} x{' and x'.join(map(str, scales))} networks have the same parameters, so the scale cannot "
                f"be read from the weights. Pass the scale the checkpoint was trained for: "
                f"srwidgets.models.load(path, {options}) (the scale its original file name states, e.g. "
                f"{arch}x{scales[0]}_....pth), or keep that x{scales[0]} / x{scales[-1]} in the file name.")
    return ("pass it: srwidgets.models.load(path, scale=4), with the scale the checkpoint was trained for (or put "
            "x2/x3/x4 in the file name, e.g. fsrcnn_x4.pth).")


def _pick_upsampler(arch: str, scales: Tuple[int, ...], s: Optional[int], source: Optional[str],
                    name: Optional[str]) -> int:
    """The scale ``s`` (from ``scale=`` or the file name) of a multi-scale checkpoint holding one upsampler per
    scale in ``scales``; no scale, or one it has no upsampler for, is refused naming the scales it has."""
    have = ", ".join(f"x{k}" for k in scales[:-1]) + f" and x{scales[-1]}" if len(scales) > 1 else f"x{scales[0]}"
    options = ", ".join(f"scale={k}" for k in scales)
    if s is None:
        example = f"{os.path.splitext(os.path.basename(name))[0]}_x{scales[-1]}.pth" if name else None
        named = f", or put the scale in the file name (e.g. {example!r}) where no scale= can be passed" \
            if example else ""
        raise InputError(f"this {arch} checkpoint is one network for several scales (upsamplers for {have}); pick "
                         f"the one to run: srwidgets.models.load(path, scale={scales[-1]}) ({options}){named}")
    if int(s) not in scales:
        asked = "you asked for" if source == "scale= argument" else f"the {source} states"
        raise InputError(f"{asked} x{s}, but this {arch} checkpoint has upsamplers for {have} only; pass one of "
                         f"them: {options}")
    return int(s)


def _record_differences(sd: Dict[str, torch.Tensor], arch: str, cfg: dict) -> str:
    """When a checkpoint's srwidgets record disagrees with its weights: what detection reads from the weights
    instead (``"the weights say num_block=16, not 10000000. "``), or ``""``."""
    try:
        detected_arch, detected, _ = detect_converted(sd)
    except Exception:  # the weights alone are not recognised: nothing to compare with
        return ""
    if detected_arch != arch:
        return f"The weights look like {detected_arch}, not {arch}. "
    same = lambda a, b: (tuple(a) if isinstance(a, list) else a) == (tuple(b) if isinstance(b, list) else b)
    diff = [f"{k}={short(repr(v), 40)}, not {short(repr(cfg.get(k)), 40)}" for k, v in detected.items()
            if k in cfg and v is not None and not same(cfg.get(k), v) and k != "img_range"]
    return f"The weights say {cap_names(diff, 3)}. " if diff else ""


def load(path_or_state: Any, scale: Optional[int] = None, device: Any = "cpu", strict: bool = True, *,
         img_range: Optional[float] = None, rgb_range: Optional[float] = None, y_only: str = "warn") -> nn.Module:
    """Load a checkpoint (file path, state dict or wrapped dict) into the matching architecture, in eval mode.

    Two routes, in order: srwidgets' families (:func:`families` lists them), then, for a state dict none of them
    recognises (or one a family claims but that does not fit it, with a warning), spandrel's architectures when
    spandrel can be imported (``pip install "srwidgets[spandrel]"``): the result is then a
    :class:`~srwidgets.models.spandrel_adapter.SpandrelModel` (spandrel reads the scale and the value range from the
    weights; ``img_range`` does not apply, ``strict`` is always on). A state dict neither route knows raises
    :class:`InputError` naming some of its keys and what each route said.

    Args:
        path_or_state: ``.pth`` / ``.pt`` path, a ``.safetensors`` path (needs ``pip install safetensors``; the
            same detection), or an already loaded dict.
        scale: only needed for families whose weights do not record it (FSRCNN, PAN x2/x3) and to pick the
            upsampler of a multi-scale file (CARN / CARN-M: one network for x2, x3 and x4, refused without it);
            otherwise checked.
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
    if scale is not None:
        scale = check_scale(scale)
    for what, v in (("img_range", img_range), ("rgb_range", rgb_range)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0
                              or not math.isfinite(v)):
            raise InputError(f"{what} must be a positive number (255 for a network trained on 0..255 values, 1 for "
                             f"[0, 1]), got {short(repr(v))}")
    if not isinstance(strict, bool) and type(strict).__name__ != "bool_":
        raise InputError(f"strict must be True or False, got {short(repr(strict))}")
    if rgb_range is not None:
        if img_range is not None and float(img_range) != float(rgb_range):
            raise InputError(f"img_range={img_range!r} and rgb_range={rgb_range!r} are the same option; pass one")
        img_range = rgb_range
    if not isinstance(y_only, str) or y_only not in _Y_ONLY:
        raise InputError(f"y_only must be one of {', '.join(map(repr, _Y_ONLY))}, got {short(repr(y_only))}")
    name = None
    if isinstance(path_or_state, (str, os.PathLike)):
        name = os.fspath(path_or_state)
        if not isinstance(name, str) or not name:
            raise InputError(f"the checkpoint path must be a non-empty str, got {short(repr(path_or_state))}")
        if not os.path.exists(name):
            raise InputError(f"checkpoint file not found: {short(name, 200)!r}. Check the path (it is relative to "
                             f"{os.getcwd()!r}).")
        if os.path.isdir(name):
            raise InputError(f"{short(name, 200)!r} is a folder, not a checkpoint file: pass the .pth / .pt / "
                             ".safetensors file inside it")
        obj = _read_checkpoint(name)
    elif isinstance(path_or_state, (dict, nn.Module)):
        obj = path_or_state
    else:
        raise InputError(f"load takes a checkpoint file path, a state dict or an nn.Module, got "
                         f"{short(type(path_or_state).__name__)}")
    sd, meta = unwrap_state_dict(obj)
    original = sd
    recorded = bool(meta.get("arch"))
    if recorded:
        arch, cfg, source = meta["arch"], meta.get("config", {}), "srwidgets metadata"
        if not isinstance(arch, str) or not isinstance(cfg, dict) or not all(isinstance(k, str) for k in cfg):
            raise InputError("the checkpoint's srwidgets record is malformed: it needs {'arch': str, 'config': dict}; "
                             "re-save the model with srwidgets.models.save(model, path)")
        cfg = dict(cfg)
        sd = run_family(family_of(arch), "convert", sd)
    else:
        try:
            arch, cfg, sd = detect_converted(sd, img_range)
        except UnknownArchitecture as unknown:  # no srwidgets family: the spandrel route
            return _load_foreign(sd, unknown, scale, img_range, device)
        except InputError as mismatch:  # a family claims the keys but the weights do not fit it
            return _load_foreign_instead(original, mismatch, scale, img_range, device)
        source = "checkpoint weights"
    if img_range is not None:
        if not takes_keyword(family_of(arch).builder, "img_range"):
            raise InputError(f"img_range= does not apply to {arch}: srwidgets' {arch} has no value-range setting and "
                             "feeds the network [0, 1] values, as its official code does. For a network trained on "
                             "another range, build it yourself and scale inside forward (x * 255 ... / 255)")
        cfg["img_range"] = float(img_range)
    upsamplers = cfg.get("scales")  # a multi-scale file (CARN): one upsampler per scale
    upsamplers = tuple(upsamplers) if isinstance(upsamplers, (tuple, list)) and upsamplers and \
        all(_is_int(k) for k in upsamplers) else ()  # else the family's constructor refuses the record's value
    if cfg.get("upscale") is None:
        if scale is not None:
            s, source = scale, "scale= argument"
        else:
            s, source = (_scale_from_name(name), f"file name {os.path.basename(name)!r}") if name else (None, None)
        if upsamplers:
            s = _pick_upsampler(arch, upsamplers, s, source, name)
        if s is None:
            several = _scales_in_name(name) if name else []
            why = (f" (the file name {os.path.basename(name)!r} names several: "
                   f"{', '.join(f'x{k}' for k in several)})" if len(several) > 1 else "")
            raise InputError(f"{arch} weights do not record the scale{why}; {_scale_advice(arch)}")
        cfg["upscale"] = int(s)
    elif upsamplers and scale is not None:  # a saved multi-scale model, asked for another of its scales
        cfg["upscale"] = _pick_upsampler(arch, upsamplers, scale, "scale= argument", name)
    elif scale is not None and _is_int(cfg["upscale"]) and scale != int(cfg["upscale"]):
        raise InputError(f"you asked for scale {scale} but the {arch} checkpoint is x{cfg['upscale']}; drop scale= or pick the x{scale} checkpoint")
    _check_finite(sd)
    if recorded:
        fix = "Fix the checkpoint's srwidgets record or re-save the model with srwidgets.models.save(model, path)."
        fix = _record_differences(sd, arch, cfg) + fix
        where = "arch and config read from the checkpoint's srwidgets record"
    else:
        fix = "The checkpoint is incomplete, has stray keys, or is another variant; use the complete checkpoint."
        where = "detected from the checkpoint's keys and shapes"
    try:
        model = build_loaded(arch, cfg, sd, strict, where, fix)
    except InputError as mismatch:
        if recorded:
            raise
        return _load_foreign_instead(original, mismatch, scale, img_range, device)
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


def _load_foreign(sd: Dict[str, torch.Tensor], unknown: UnknownArchitecture, scale: Optional[int],
                  img_range: Optional[float], device) -> nn.Module:
    """The second route of :func:`load`, for a state dict no srwidgets family recognises: spandrel. When spandrel
    cannot load it either, the error names the keys seen and what each route said."""
    try:
        model = spandrel_adapter.load_state_dict(sd, scale=scale, img_range=img_range)
    except spandrel_adapter.Unrecognised as e:  # a refusal of a model spandrel did read passes as it is
        keys = unknown.keys
        raise InputError(
            f"unknown architecture: no route recognises the keys {cap_names(keys, 6, width=24)} ({len(keys)} keys). "
            f"Tried (1) srwidgets' families ({', '.join(architectures())}): none matches; (2) spandrel: {e}. "
            "Another network: register its family with srwidgets.models.register(name, detect=..., build=...), or "
            "build it, call load_state_dict(...) and pass the nn.Module.") from None
    _check_finite(sd)
    return model.to(device).eval()


def _load_foreign_instead(sd: Dict[str, torch.Tensor], mismatch: InputError, scale: Optional[int],
                          img_range: Optional[float], device) -> nn.Module:
    """An srwidgets family recognised the keys but the weights do not fit it (``mismatch``): a variant the family
    does not build (Swin2SR's keys look like SwinIR's) loads through spandrel when spandrel reads it completely, with
    a warning that names the family's objection; otherwise ``mismatch`` is raised as it is. Not with ``img_range=``
    (an answer to the family's own question, which spandrel does not take)."""
    if img_range is not None or not spandrel_adapter.available():
        raise mismatch
    try:
        model = spandrel_adapter.load_state_dict(sd, scale=scale)
    except InputError:  # spandrel does not read it either, or refuses it: the family's words are the useful ones
        raise mismatch from None
    import warnings

    warnings.warn(f"srwidgets' own loader did not take this checkpoint ({short(mismatch, 300)}); spandrel reads it "
                  f"completely as {model.arch}, so it was loaded through spandrel", UserWarning, stacklevel=3)
    _check_finite(sd)
    return model.to(device).eval()


def families() -> List[Tuple[str, str]]:
    """What :func:`load` recognises, as ``(architecture, route)`` pairs in the order it tries them: srwidgets'
    own families (route ``"srwidgets"``: the built-ins and those added with :func:`register`), then, when spandrel
    can be imported (``pip install "srwidgets[spandrel]"``), spandrel's image-to-image architectures (route
    ``"spandrel"``; a name in both routes loads through srwidgets when its keys match srwidgets' naming).

    >>> ("EDSR", "srwidgets") in families()
    True
    """
    return [(name, "srwidgets") for name in architectures()] + \
        [(name, "spandrel") for name in spandrel_adapter.architectures()]


def save(model: nn.Module, path: str) -> None:
    """Save in BasicSR's ``{"params": state_dict}`` layout plus srwidgets' ``{"arch", "config"}`` record."""
    if isinstance(model, SpandrelModel):  # spandrel's own parameter names: the file loads back through spandrel
        from ..engine.outputs import check_output

        torch.save({"params": model.model.state_dict()}, check_output(path, flag="path=", what="the checkpoint"))
        return
    if isinstance(model, (PadToMultiple, YChannelWrapper)):
        raise InputError(f"save the wrapped network, not the {type(model).__name__}: "
                         "srwidgets.models.save(model.model, path) (wrap it again after loading)")
    if not isinstance(model, nn.Module):
        raise InputError(f"save takes an nn.Module, got {short(type(model).__name__)}")
    if not isinstance(getattr(model, "arch", None), str) or not isinstance(getattr(model, "config", None), dict):
        raise InputError("save records the model's .arch and .config, which this model lacks (it was not built by "
                         "srwidgets.models.build / load); save its weights with torch.save(model.state_dict(), path)")
    from ..engine.outputs import check_output

    # an existing folder, a missing folder or an unwritable one is refused before anything is written
    path = check_output(path, flag="path=", what="the checkpoint")
    torch.save({"params": model.state_dict(), "srwidgets": {"arch": model.arch, "config": dict(model.config)}}, path)
