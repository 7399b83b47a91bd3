"""Memory: what a chunk of work costs, how many items fit in a budget, and whether a job fits at all.

* :func:`saved_bytes` meters the bytes autograd keeps for backward inside a block (device agnostic);
* :func:`estimate_chunk` turns "bytes per pixel per item" into items per chunk for a device and budget;
* :func:`ensure_fits` refuses, before allocating, a job that needs more memory than the device has;
* :func:`inference_bytes` estimates the peak memory of one forward pass of a model on an image of a given size
  (from a small probe run), so that a command can refuse an image too large for the model before running it.

Example:
    >>> import torch
    >>> from srwidgets.engine.memory import saved_bytes
    >>> x = torch.rand(4, 4, requires_grad=True)
    >>> with saved_bytes() as meter:
    ...     y = (x * x).sum()
    >>> meter.bytes
    64
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Optional

import torch

from ..errors import InputError

__all__ = ["saved_bytes", "estimate_chunk", "available_bytes", "ensure_fits", "format_bytes", "inference_bytes"]


class _Meter:
    bytes = 0


@contextmanager
def saved_bytes():
    """Count the bytes autograd saves for backward inside the block (``meter.bytes``): the activation memory of
    one chunk, from which the next chunks are sized (no CUDA allocator statistics needed)."""
    meter, seen = _Meter(), set()

    def pack(t):
        try:
            s = t.untyped_storage()
            if s.data_ptr() not in seen:
                seen.add(s.data_ptr())
                meter.bytes += s.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, wrapper subclasses)
            meter.bytes += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield meter


def estimate_chunk(bytes_per_pixel: Optional[float], pixels: int, device: torch.device,
                   chunk_size: Optional[int] = None, memory_budget: Optional[int] = None, *,
                   cap: Optional[int] = None, safety: float = 1.5, cpu_budget: int = 1 << 30) -> int:
    """Items (path evaluations, images, ...) per chunk.

    The contract: ``bytes_per_pixel`` is the bytes of saved activations per input pixel per item, measured with
    :func:`saved_bytes` on the first chunk (``None`` or 0 before it has run); ``pixels`` the input pixels of one
    item. One item costs ``safety · bytes_per_pixel · pixels`` (1.5: workspace and gradients the meter does not
    see). A forward-only caller (no autograd, so nothing saved) passes its own peak estimate in the same unit with
    ``safety=1``.

    An explicit ``chunk_size`` wins; the first chunk (memory not yet measured) is 1. Otherwise as many items as fit
    in ``memory_budget`` (default: 60 % of free memory on CUDA, ``cpu_budget`` bytes on CPU), at most ``cap``. The
    default cap is tuned for LAM's backward passes: 65536 on CUDA; on CPU one at a time for inputs of 64x64 pixels
    and more (batching measured no faster there), a few together for small inputs, where per-call overhead
    dominates (up to 10, about 6000 pixels per chunk: 2.8x faster on a 23x23 LAM crop)."""
    if chunk_size:
        return chunk_size
    if not bytes_per_pixel:
        return 1
    per = safety * bytes_per_pixel * pixels
    if device.type == "cuda":
        budget = memory_budget or 0.6 * torch.cuda.mem_get_info(device)[0]
        cap = cap or 1 << 16
    else:
        budget, cap = memory_budget or cpu_budget, cap or max(1, min(10, 6000 // max(pixels, 1)))
    return int(max(1, min(cap, budget // max(per, 1))))


def available_bytes(device=None) -> int:
    """Memory free for a job on ``device``: CUDA free memory, or the host's available RAM."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def format_bytes(n: float) -> str:
    """``1.5 GB``, ``340 MB``: decimal units, as people read memory sizes."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def ensure_fits(nbytes: float, width: int, height: int, device=None, what: str = "image") -> None:
    """Raise ``InputError("image too large (W×H, needs ~N GB); crop or downsample")`` when a job on a
    ``width × height`` image needs more than the memory available on ``device``.

    ``nbytes`` that is not a finite number (NaN, Inf: an estimate that overflowed) is treated as too large."""
    free = available_bytes(device)
    try:
        nbytes = float(nbytes)
    except (TypeError, ValueError):
        raise InputError(f"ensure_fits: nbytes must be a number of bytes, got {nbytes!r}") from None
    if not nbytes <= free:  # NaN and Inf refuse too
        where = "GPU" if torch.device(device or "cpu").type == "cuda" else "this machine"
        raise InputError(f"{what} too large ({width}×{height}, needs ~{format_bytes(nbytes)}; {where} has "
                         f"{format_bytes(free)} free); crop or downsample it")


# A forward pass keeps a few feature maps alive at once (the block's input, its output, a long skip connection):
# the largest module output times this factor, measured against EDSR / RCAN / SwinIR-style residual networks.
_LIVE_MAPS = 3
_PROBE = 32  # LR pixels of the probe's side: small enough to be instant, a multiple of every window size here


def inference_bytes(model: torch.nn.Module, height: int, width: int, scale: Optional[int] = None,
                    device=None) -> int:
    """Estimated peak bytes of ``model(x)`` under ``torch.inference_mode`` for ``x`` of shape ``[1, 3, height,
    width]`` (LR pixels), plus the float32 output ``[1, 3, s·height, s·width]``.

    Measured, not guessed: the model runs once on a ``[1, 3, 32, 32]`` probe with a forward hook on every module;
    the largest module output per LR pixel times a few live maps (residual skips) is scaled to ``height × width``.
    Every architecture here is convolutional or windowed, so activation memory grows linearly with the pixels. When
    the probe cannot run (a model that refuses 32×32), a floor of eight SR-sized float32 maps is used instead.
    The model is not modified: the probe runs in eval mode under :func:`~srwidgets.engine.guard.guarded`, hooks removed.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 3, 3, padding=1))
        >>> inference_bytes(net, 100, 100, scale=1) >= 3 * 16 * 4 * 100 * 100
        True
    """
    from .guard import guarded
    from .inputs import check_int

    height, width = check_int("height", height, 1), check_int("width", width, 1)
    s = check_int("scale", scale, 1) if scale is not None else int(getattr(model, "scale", 1) or 1)
    pixels = height * width
    output = 3 * 4 * s * s * pixels
    biggest = [0]

    def hook(module, inputs, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                biggest[0] = max(biggest[0], t.numel() * t.element_size())

    try:
        param = next(model.parameters(), None)
        dev = param.device if param is not None else torch.device(device or "cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        handles = [m.register_forward_hook(hook) for m in model.modules()]
        try:
            with guarded(model), torch.inference_mode():  # eval mode; modes and buffers restored
                model(torch.zeros(1, 3, _PROBE, _PROBE, device=dev, dtype=dtype))
        finally:
            for h in handles:
                h.remove()
        per_pixel = _LIVE_MAPS * biggest[0] / (_PROBE * _PROBE)
    except Exception:  # noqa: BLE001  (any model error: fall back to the floor; running it reports the error)
        per_pixel = 0.0
    if not per_pixel:
        per_pixel = 8 * 3 * 4 * s * s
    return int(per_pixel * pixels + output)
