"""The thin engine base: what an engine on one model holds — the prepared model, its chunking options and the one
memory contract — so that LAM, CEM and every window-attribution method state only their own math.

:class:`Engine` prepares the model (:func:`~srwidgets.engine.prepare.prepare_model`: device, scale, dtype, the
probe), checks ``chunk_size``, ``memory_budget`` and ``crop``, caches the SR image per (model state, image) and
sizes chunks from **one contract**: bytes of saved activations per input pixel per item, measured with
:func:`~srwidgets.engine.memory.saved_bytes` on the first chunk (:meth:`Engine.record_memory`) and turned into items
per chunk by :func:`~srwidgets.engine.memory.estimate_chunk` (:meth:`Engine.chunk`).

Example:
    >>> import torch
    >>> from torch import nn
    >>> e = Engine(nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)), scale=2, device="cpu")
    >>> e.chunk(64 * 64), tuple(e.super_resolve(torch.rand(3, 8, 8, dtype=torch.float64)).shape)
    (1, (3, 16, 16))
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .cache import LRUCache, cache_key
from .inputs import check_flag, check_int, check_memory_budget
from .memory import estimate_chunk
from .prepare import prepare_model

__all__ = ["Engine"]


class Engine:
    """Base of the engines on one model.

    Args:
        model: an ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]`` (never changed).
        scale: its scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device).
        chunk_size: items (path points, interventions, ...) per forward pass (default: sized by the budget).
        memory_budget: bytes of activations per chunk, or a string such as ``"2GB"`` (default: 1 GiB on CPU,
            60 % of free memory on CUDA).
        crop: run on the receptive-field crop around the window where the runtime verified it for this model.
    """

    cache_size = 32

    def __init__(self, model: nn.Module, scale: Optional[int] = None, device=None, *,
                 chunk_size: Optional[int] = None, memory_budget=None, crop: bool = True):
        self.prepared = prepare_model(model, scale, device)
        self.model, self.device = self.prepared.model, self.prepared.device
        self.scale, self.dtype = self.prepared.scale, self.prepared.dtype
        self.chunk_size = check_int("chunk_size", chunk_size, 1, " or None") if chunk_size is not None else None
        self.memory_budget = check_memory_budget(memory_budget)
        self.crop = check_flag("crop", crop)
        self._bytes_per_pixel: Optional[float] = None  # the contract: activation bytes per input pixel per item
        self._cache = LRUCache(self.cache_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scale={self.scale}, device={self.device})"

    # -- the memory contract ---------------------------------------------------------------------------------------
    @property
    def measuring(self) -> bool:
        """True until the first chunk has measured the memory per pixel (run it under ``saved_bytes()``)."""
        return self._bytes_per_pixel is None

    def record_memory(self, nbytes: float, pixels: int, items: int) -> None:
        """Record the first chunk's ``saved_bytes()`` for ``items`` inputs of ``pixels`` LR pixels each."""
        self._bytes_per_pixel = float(nbytes) / max(1, pixels) / max(1, items)

    def chunk(self, pixels: int, cap: Optional[int] = None) -> int:
        """Items per chunk for inputs of ``pixels`` LR pixels (:func:`estimate_chunk`; ``cap``: at most)."""
        return estimate_chunk(self._bytes_per_pixel, pixels, self.device, self.chunk_size, self.memory_budget,
                              cap=cap)

    # -- the cached super-resolve forward ----------------------------------------------------------------------------
    def super_resolve(self, x: torch.Tensor) -> torch.Tensor:
        """``F(x)`` of an LR image ``[3, h, w]`` (float64, on the device): ``[3, s·h, s·w]`` float64, not clamped,
        guarded, cached per (model state, image)."""
        return self._cache.get_or_make((cache_key(self.model, x), "sr"), lambda: self.prepared.super_resolve(x))
