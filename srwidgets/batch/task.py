"""One task of a DI table: one model, one LR image, its windows -> table rows; the same function on every backend.

:func:`resolve_method` turns ``di_table``'s ``method=`` and ``**method_knobs`` into the member's class, the knobs
its calls get and their JSON record (what the resume check compares); :func:`rows` computes the rows.

* ``method="lam"``: :meth:`srwidgets.lam.LAM.attribute_many` (the windows of one image in one call, so nearby
  windows share forward passes): the code path, and the numbers, of di_table before it had other methods.
* a member with ``attribute_many`` (``"cem"``: :meth:`srwidgets.attribution.CEMMethod.attribute_many`, which runs
  :meth:`srwidgets.cem.CEM.attribute_many`: every window scored from one batch of interventions);
* any other member: its ``attribute`` once per window (``srwidgets.attribute(model, lr, window, method, ...)``).

Windows are ``(top, left, size)`` in SR pixels; ``lr`` is ``[3, h, w]``, ``hr`` ``[3, s·h, s·w]`` (or ``None``).
"""
from __future__ import annotations

import inspect
import math
import time
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..engine import image_digest
from ..errors import InputError
from ..progress import CancelLike, check_cancel

LAM_KNOBS = ("seed", "noise_std", "num_baselines")
"""Keywords of :meth:`srwidgets.lam.LAM.attribute_many` besides steps, sigma, kernel_size, path (random paths)."""
SHARED = ("steps", "sigma", "kernel_size")
"""di_table's own arguments that go to a member whose ``attribute`` names them (LAM, integrated gradients)."""
_RESERVED = ("callback", "cancel", "hr", "image", "window", "windows")  # di_table passes these itself


def _entry(cls):
    """The member's call di_table uses: ``attribute_many`` where it has one, else ``attribute``."""
    return getattr(cls, "attribute_many", None) or cls.attribute


def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _record(value) -> Any:
    """A knob as JSON can hold it and compare it after a round trip (tensors by digest)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_record(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _record(v) for k, v in value.items()}
    if hasattr(value, "__array__") or isinstance(value, torch.Tensor):
        shape, dtype, digest = image_digest(torch.as_tensor(value))
        return f"tensor {list(shape)} {dtype} {digest}"
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def resolve_method(method, knobs: Dict[str, Any], steps, sigma, kernel_size, path) -> Tuple[str, Any, dict, dict]:
    """``(name, cls, call_knobs, record)`` for ``di_table(method=..., **knobs)``, checked before anything runs.

    ``cls`` is ``None`` for ``"lam"`` (LAM's own engine runs). ``steps``, ``sigma``, ``kernel_size`` go to a member
    whose ``attribute`` names them (``"ig"``) unless given as knobs; ``path`` is LAM's alone."""
    from ..attribution import method_class, methods

    if not isinstance(method, str):
        raise InputError(f"method must be the name of a window-attribution method ({', '.join(methods())}), got "
                         f"{method!r}; register your own class with srwidgets.attribution.register(name, cls)")
    cls = method_class(method)  # an unknown name: the list of members
    reserved = [k for k in knobs if k in _RESERVED]
    if reserved:
        raise InputError(f"di_table passes {', '.join(map(repr, reserved))} itself; drop "
                         + ", ".join(f"{k}=" for k in reserved) + (" (HR images: hr= of di_table, or downsample=True)"
                                                                   if "hr" in reserved else ""))
    if method == "lam":
        unknown = [k for k in knobs if k not in LAM_KNOBS]
        if unknown:
            raise InputError(f"method='lam' takes no {', '.join(map(repr, unknown))}; its settings are steps, sigma, "
                             f"kernel_size, path and the knobs {', '.join(LAM_KNOBS)}")
        return "lam", None, dict(knobs), _record(dict(sorted(knobs.items())))
    if path != "blur":
        raise InputError(f"path={path!r} is LAM's integration path; method={method!r} does not take one (integrated "
                         "gradients from another baseline: method='ig', baseline=...)")
    entry = _entry(cls)
    params = inspect.signature(entry).parameters
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY or
             (p.kind is p.POSITIONAL_OR_KEYWORD and n not in ("self", "image", "window", "windows"))]
    unknown = [k for k in knobs if k not in named and not open_ended]
    if unknown:
        takes = ", ".join(n for n in named if n not in _RESERVED) or "no knobs"
        raise InputError(f"method={method!r} takes no {', '.join(map(repr, unknown))}; it takes: {takes}")
    call = dict(knobs)
    for name, value in zip(SHARED, (steps, sigma, kernel_size)):
        if name in named and name not in call:
            call[name] = value
    return method, cls, call, _record(dict(sorted(call.items())))


def quality(sr: torch.Tensor, hr: Optional[torch.Tensor], scale: int) -> dict:
    """PSNR / SSIM (Y channel, ``scale`` px shaved) of the SR image ``[3, sH, sW]`` against ``hr``; NaN without."""
    from ..metrics import psnr, ssim

    out = dict(psnr=math.nan, ssim=math.nan)
    if hr is not None:
        out["psnr"] = psnr(sr, hr, shave=scale)
        try:
            out["ssim"] = ssim(sr, hr, shave=scale)
        except ValueError:  # smaller than SSIM's 11x11 window
            pass
    return out


def _record_rows(meta, windows, results, q, seconds=None) -> List[dict]:
    return [dict(meta, top=win[0], left=win[1], size=win[2], di=r.diffusion_index, gini=r.gini,
                 crop=",".join(map(str, r.crop)) if r.crop else "", seconds=r.seconds if seconds is None else seconds,
                 **q)
            for win, r in zip(windows, results)]


def rows(model, lr, hr, windows, settings: dict, meta: dict, device=None, cancel: CancelLike = None, cls=None,
         knobs: Optional[dict] = None) -> List[dict]:
    """Table rows for ``windows`` (SR px) of one LR image ``[3, h, w]`` (``hr``: ``[3, s·h, s·w]`` or ``None``).

    A fresh engine per task: its chunk sizes (which round float32 differently) then depend on the task alone, so a
    row is the same whichever backend, worker or resumed run computes it."""
    knobs = knobs or {}
    meta = dict(meta, method=settings.get("method", "lam"))
    if cls is None:  # LAM, exactly as before other methods existed
        from ..lam import LAM

        lam = LAM(model, scale=meta["scale"], device=device, chunk_size=settings["chunk_size"])
        results = lam.attribute_many(lr, windows, settings["steps"], settings["sigma"], settings["kernel_size"],
                                     settings["path"], cancel=cancel, **knobs)
        q = quality(lam.super_resolve(lr) if hr is not None else None, hr, lam.scale)
        return _record_rows(meta, windows, results, q)
    # Built directly rather than through srwidgets.attribution.engine (which keeps one per model): a cached engine's
    # measured chunk sizes would depend on what ran before, and so would the last float32 bits.
    member = cls(model, scale=meta["scale"], device=device, chunk_size=settings["chunk_size"])
    extra = dict(knobs, hr=hr) if getattr(cls, "needs_hr", False) else dict(knobs)
    entry = _entry(cls)
    if _accepts(entry, "cancel"):
        extra["cancel"] = cancel
    if getattr(cls, "attribute_many", None) is not None:  # every window from one call (CEM: one intervention batch)
        t0 = time.perf_counter()
        results = member.attribute_many(lr, [tuple(w) for w in windows], **extra)
        per_window = (time.perf_counter() - t0) / len(windows)
    else:
        results, per_window = [], None
        for win in windows:
            check_cancel(cancel)
            results.append(member.attribute(lr, tuple(win), **extra))
    q = dict(psnr=math.nan, ssim=math.nan)
    if hr is not None:
        x = member.prepared.image(lr)
        q = quality(member.super_resolve(x).clamp(0, 1).float().cpu(), hr, member.scale)
    return _record_rows(meta, windows, results, q, per_window)
