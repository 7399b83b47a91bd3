"""Model probes: does a model map ``[1, 3, h, w]`` in [0, 1] to a finite ``[1, 3, s·h, s·w]``
(:func:`check_model`), what is its scale (:func:`infer_scale`), and, when a probe fails, why (sizes that must be
multiples of N, an in-place write into the input, not RGB). Part of the runtime: :func:`srwidgets.engine.prepare_model`
runs them, :func:`srwidgets.models.check` builds on them.

A model (a wrapper, typically) may explain its own failure: a method ``explain_probe_failure(device) -> str or
None`` is asked when the model fails on every probe size (:class:`srwidgets.models.YChannelWrapper` says when it
wraps a network that is RGB already).
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, List, Optional

import torch
from torch import nn

from ..errors import InputError
from .guard import explain_model_error, guarded

__all__ = ["check_model", "infer_scale", "probe", "probe_input", "probe_failure", "forward_guarded",
           "check_module", "check_size", "check_probe_output", "size_multiple", "is_int", "short", "PROBE_SIZES"]


def short(text, width: int = 80) -> str:
    """``str(text)`` cut to ``width`` characters (``...`` at the end): a value in a message."""
    s = str(text)
    return s if len(s) <= width else s[: width - 3] + "..."


# Sizes tried when the probe fails, to tell "needs multiples of N" (or larger inputs) from "never runs on RGB".
PROBE_SIZES = (16, 20, 24, 28, 32, 36, 48, 56, 64)


def probe_input(model: nn.Module, size: int, device: Any = None) -> torch.Tensor:
    """A deterministic ``[1, 3, size, size]`` image in [0, 1] on ``device`` (default: the model's), in its
    parameters' dtype."""
    p = next(iter(model.parameters()), None)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    x = x.to(device if device is not None else (p.device if p is not None else "cpu"))
    if p is not None and p.is_floating_point():
        x = x.to(p.dtype)
    return x


def forward_guarded(model: nn.Module, x: torch.Tensor):
    """``model(x)`` without gradients, in eval mode, leaving the model's modes, flags and buffers as they were."""
    with guarded(model), torch.no_grad():
        return model(x)


def size_multiple(works: List[int], fails: List[int]) -> Optional[int]:
    """The smallest ``n > 1`` that divides every working size and no failing one, or ``None``."""
    g = 0
    for s in works:
        g = math.gcd(g, s)
    for n in range(2, g + 1):
        if g % n == 0 and not any(f % n == 0 for f in fails):
            return n
    return None


def probe_failure(model: nn.Module, size: int, device: Any, exc: Exception, hint: str) -> InputError:
    """The :class:`InputError` for a model that failed on the ``size`` probe: a known fault (in-place input
    write, gradients in forward), a size requirement (found by probing a few more sizes), or not RGB."""
    what = f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
    reason = explain_model_error(exc)
    if reason is not None:
        return InputError(f"the model failed on a [1, 3, {size}, {size}] input {what}: {reason}.")
    works, fails = [], [size]
    for s in PROBE_SIZES:
        if s == size:
            continue
        try:
            forward_guarded(model, probe_input(model, s, device))
            works.append(s)
        except Exception:
            fails.append(s)
    if not works:
        explain = getattr(model, "explain_probe_failure", None)  # a wrapper that knows its own mistakes
        inner = explain(device) if callable(explain) else None
        if isinstance(inner, str):
            return InputError(inner)
        text = str(exc).lower()
        if isinstance(exc, MemoryError) or any(w in text for w in ("out of memory", "can't allocate memory",
                                                                      "not enough memory")):
            return InputError(
                f"the model ran out of memory on a tiny [1, 3, {size}, {size}] input {what}, and on every other size "
                "tried: its forward pass asks for far more memory than its input needs. Check what forward "
                "allocates (an output or a buffer sized by something other than the input)" + hint + ".")
        return InputError(
            f"the model failed on a [1, 3, {size}, {size}] RGB input in [0, 1] {what}, and on every other size tried "
            f"({', '.join(map(str, PROBE_SIZES))}). srwidgets models take 3-channel RGB batches; wrap "
            "single-channel (Y) models so they take and return RGB (srwidgets.models.YChannelWrapper(model), or "
            "load(path, y_only='wrap'))" + hint + ".")
    ok = ", ".join(f"{s}x{s}" for s in works)
    n = size_multiple(works, fails)
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


def probe(model: nn.Module, size: int, device: Any = None, hint: str = ""):
    """One forward pass of ``model`` on a deterministic ``[1, 3, size, size]`` image in [0, 1], on ``device``
    (default: the model's) and in its parameters' dtype, under :func:`~srwidgets.engine.guard.guarded` (eval
    mode, nothing of the model changes): ``(x, y)``. A model that fails on it, or writes into its input, raises
    :class:`InputError`."""
    x = probe_input(model, size, device)
    before = x.clone()
    try:
        y = forward_guarded(model, x)
    except Exception as e:
        raise probe_failure(model, size, device, e, hint) from None
    if not torch.equal(x, before):
        raise InputError(
            "the model modifies its input in place (an operation such as x.mul_(255), x.sub_(mean) or x[...] = v "
            "on the tensor forward receives): the probe image changed during the forward pass. srwidgets reuses "
            "that tensor (and takes gradients with respect to it); make that first operation out of place "
            "(x = x * 255)")
    return x, y


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and type(v).__name__ != "bool_"


def check_module(model: Any) -> None:
    """A module ``check`` / ``infer_scale`` can run: a ``nn.Module`` whose weights hold data (not on the meta
    device)."""
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {short(type(model).__name__)}; load weights with "
                         "srwidgets.models.load(path) or srwidgets.zoo.load(name)")
    if any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        raise InputError("the model's weights are on the meta device (shapes without data): load real weights "
                         "into it first (model.to_empty(device='cpu') then model.load_state_dict(...)), or use "
                         "srwidgets.models.load(path)")


def check_size(size: Any) -> int:
    if not is_int(size) or not 1 <= size <= 512:
        raise InputError(f"size (the side of the probe image, in LR pixels) must be an integer in 1 .. 512, got "
                         f"{short(repr(size))}")
    return int(size)


def check_probe_output(x: torch.Tensor, y: Any, scale: int) -> None:
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


def check_model(model: nn.Module, scale: int, size: int = 12, device: Any = None) -> int:
    """Verify, with one forward pass on a deterministic ``size × size`` image in [0, 1] (under
    :func:`~srwidgets.engine.guard.guarded`: nothing of the model changes), that ``model`` maps ``[1, 3, h, w]`` to
    a finite ``[1, 3, scale·h, scale·w]``; returns ``scale``. Raises :class:`InputError` saying what is wrong (not a
    module, wrong channel count or scale, NaN / Inf, sizes that must be multiples of N, an in-place input write)
    and how to fix it. :func:`srwidgets.models.check` adds a check on your own image."""
    check_module(model)
    if not is_int(scale) or scale < 1:
        raise InputError(f"scale must be a positive integer (2, 3, 4, ...), got {short(repr(scale))}")
    x, y = probe(model, check_size(size), device)
    check_probe_output(x, y, int(scale))
    return int(scale)


def infer_scale(model: nn.Module, size: int = 12) -> int:
    """The model's scale: its ``.scale`` attribute, else measured with one forward pass."""
    check_module(model)
    size = check_size(size)
    s = getattr(model, "scale", None)
    if is_int(s) and s >= 1:
        return int(s)
    x, y = probe(model, size, hint=", or pass scale= explicitly")
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[2] % size:
        raise InputError(f"cannot tell the model's scale: it maps {tuple(x.shape)} to {getattr(y, 'shape', type(y).__name__)}; pass scale=")
    return y.shape[2] // size
