"""One task of a DI table: one model, one LR image, its windows -> table rows; the same function on every backend.

:func:`resolve_method` turns ``di_table``'s ``method=`` and ``**method_knobs`` into the member's class, the knobs
its calls get (checked by the member's declaration, :func:`srwidgets.attribution.check_knobs`) and their JSON
record (every declared knob, defaults filled: what the resume check compares, :func:`canonical_settings`);
:func:`rows` computes the rows, reading only the member's capabilities:

* ``many_windows`` (LAM, CEM): ``attribute_many`` on the windows of one image in one call (LAM's nearby windows
  share forward passes; CEM scores every window from one intervention batch);
* any other member: its ``attribute`` once per window (``srwidgets.attribute(model, lr, window, method, ...)``);
* ``needs_hr``: the HR image is passed as ``hr=``; ``block_grid``: windows lie on that grid (:func:`srwidgets.attribution.knobs.window_grid`).

Windows are ``(top, left, size)`` in SR pixels; ``lr`` is ``[3, h, w]``, ``hr`` ``[3, s·h, s·w]`` (or ``None``).
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..engine import image_digest
from ..errors import InputError
from ..progress import CancelLike, check_cancel

SHARED = ("steps", "sigma", "kernel_size", "path")
"""di_table's own arguments (LAM's settings, the paper's), given to a member whose declared knobs name them."""
DEFAULTS = dict(steps=50, sigma=1.2, kernel_size=9, path="blur")  # di_table's defaults of those
_RESERVED = ("callback", "cancel", "hr", "image", "window", "windows")  # di_table passes these itself


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


def _full_record(cls, call: dict) -> dict:
    """Every declared knob (its default where not given) and the other arguments given, as JSON."""
    from ..attribution import knobs_of

    full = {k.name: k.default for k in knobs_of(cls)}
    full.update(call)
    return _record(dict(sorted(full.items())))


def resolve_method(method, knobs: Dict[str, Any], steps, sigma, kernel_size, path) -> Tuple[str, Any, dict, dict]:
    """``(name, cls, call_knobs, record)`` for ``di_table(method=..., **knobs)``, checked before anything runs.

    ``steps``, ``sigma``, ``kernel_size`` and ``path`` (di_table's own arguments) go to a member whose declared
    knobs name them, unless given as knobs; a ``path`` other than ``"blur"`` for a member without one is refused.
    The knobs are checked by the member's declaration (unknown names refused with the list it takes)."""
    from ..attribution import check_knobs, knobs_of, method_class, methods

    if not isinstance(method, str):
        raise InputError(f"method must be the name of a window-attribution method ({', '.join(methods())}), got "
                         f"{method!r}; register your own class with srwidgets.attribution.register(name, cls)")
    cls = method_class(method)  # an unknown name: the list of members
    reserved = [k for k in knobs if k in _RESERVED]
    if reserved:
        raise InputError(f"di_table passes {', '.join(map(repr, reserved))} itself; drop "
                         + ", ".join(f"{k}=" for k in reserved) + (" (HR images: hr= of di_table, or downsample=True)"
                                                                   if "hr" in reserved else ""))
    declared = {k.name for k in knobs_of(cls)}
    if path != DEFAULTS["path"] and "path" not in declared:
        raise InputError(f"path={path!r} is LAM's integration path; method={method!r} does not take one (integrated "
                         "gradients from another baseline: method='ig', baseline=...)")
    own = {n: v for n, v in zip(SHARED, (steps, sigma, kernel_size, path)) if n in declared and n not in knobs}
    call = check_knobs(cls, dict(own, **knobs), f"method={method!r}")
    return method, cls, call, _full_record(cls, call)


def canonical_settings(settings: dict) -> dict:
    """A table's settings in the form the resume check compares: every declared knob of its method in ``knobs``
    (defaults filled), including LAM's ``steps`` / ``sigma`` / ``kernel_size`` / ``path``, which sidecars written
    before knobs were data kept at the top level. Settings of a method not registered here are left as they are."""
    from ..attribution import knobs_of, members

    out = dict(settings)
    cls = members().get(out.get("method"))
    if cls is None:
        return out
    declared = {k.name for k in knobs_of(cls)}
    knobs = dict(out.get("knobs") or {})
    for name in SHARED:
        if name in out:
            value = out.pop(name)
            if name in declared:
                knobs.setdefault(name, value)
    out["knobs"] = _full_record(cls, knobs)
    return out


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
    """Table rows for ``windows`` (SR px) of one LR image ``[3, h, w]`` (``hr``: ``[3, s·h, s·w]`` or ``None``), by
    the member ``cls`` with ``knobs``.

    A fresh engine per task (not srwidgets.attribution.engine's, kept per model): its chunk sizes (which round
    float32 differently) then depend on the task alone, so a row is the same whichever backend, worker or resumed
    run computes it."""
    from ..attribution import method_class

    cls = cls if cls is not None else method_class(settings.get("method", "lam"))
    meta = dict(meta, method=settings.get("method", cls.name))
    member = cls(model, scale=meta["scale"], device=device, chunk_size=settings["chunk_size"])
    extra = dict(knobs or {})
    if getattr(cls, "needs_hr", False):
        extra["hr"] = hr
    many = getattr(cls, "many_windows", False)
    if _takes(cls.attribute_many if many else cls.attribute, "cancel"):
        extra["cancel"] = cancel
    if many:  # every window from one call
        t0 = time.perf_counter()
        results = member.attribute_many(lr, [tuple(w) for w in windows], **extra)
        per_window = (time.perf_counter() - t0) / len(windows)
    else:
        results = []
        for win in windows:
            check_cancel(cancel)
            results.append(member.attribute(lr, tuple(win), **extra))
        per_window = None
    q = dict(psnr=math.nan, ssim=math.nan)
    if hr is not None:
        x = member.prepared.image(lr)
        q = quality(member.super_resolve(x).clamp(0, 1).float().cpu(), hr, member.scale)
    return _record_rows(meta, windows, results, q, per_window)


def _takes(fn, name: str) -> bool:
    """Does ``fn`` take the keyword ``name`` (named, or through ``**kwargs``)?"""
    import inspect

    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
