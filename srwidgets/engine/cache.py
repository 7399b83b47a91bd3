"""One LRU cache and one key function, shared by the engines and the widgets.

A key identifies a model's **weights and buffers** (weights by storage and version counter, bumped by every
in-place edit such as ``load_state_dict`` or an optimiser step; buffers, which are small, by their bytes, so
``model.shift.mean.fill_(…)`` or recalibrated BatchNorm statistics count), its training mode, and an image by a
digest of its bytes: editing either can never bring back a stale result.

Example:
    >>> import torch
    >>> from srwidgets.engine.cache import LRUCache, model_key
    >>> cache = LRUCache(maxsize=2)
    >>> model = torch.nn.Conv2d(3, 3, 1)
    >>> cache.get_or_make((model_key(model), "sr"), lambda: "computed")
    'computed'
    >>> _ = torch.nn.init.zeros_(model.bias)          # an in-place edit changes the key
    >>> (model_key(model), "sr") in cache
    False
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import torch
from torch import nn

__all__ = ["LRUCache", "model_key", "image_digest", "cache_key"]


def model_key(model: nn.Module) -> tuple:
    """Identity of a model's current state: object id, training mode, ``(data_ptr, version)`` of every parameter,
    and the bytes of every **buffer** (buffers are small, and BatchNorm statistics or ``.data`` edits change them
    without a version bump).

    Parameters are tracked by version counter: in-place edits (optimiser steps, ``load_state_dict``,
    ``p.mul_(…)`` under ``torch.no_grad()``) change the key; an edit through ``p.data`` does not (PyTorch gives
    ``.data`` its own counter) — edit weights in place, or build a new engine.
    """
    params = tuple((p.data_ptr(), p._version) for p in model.parameters())
    buffers = tuple(image_digest(b) for b in model.buffers())
    return id(model), model.training, params, buffers


def image_digest(image: torch.Tensor) -> tuple:
    """``(shape, dtype, blake2b digest of the bytes)`` of a tensor."""
    data = image.detach().cpu().contiguous()
    digest = hashlib.blake2b(data.numpy().tobytes() if data.dtype != torch.bfloat16 else
                             data.float().numpy().tobytes(), digest_size=16).hexdigest()
    return tuple(image.shape), str(image.dtype), digest


def cache_key(model: nn.Module, image: torch.Tensor) -> tuple:
    """Key of (model state, image) for caches."""
    return model_key(model), image_digest(image)


class LRUCache:
    """A thread-safe least-recently-used cache of at most ``maxsize`` entries."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = int(maxsize)
        self._data: "OrderedDict[Hashable, Any]" = OrderedDict()
        self._lock = threading.RLock()

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get(self, key, default=None):
        """The entry (now the most recently used) or ``default``."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        """Store ``value``, dropping the least recently used entries beyond ``maxsize``."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def get_or_make(self, key, make: Callable[[], Any]):
        """The entry, computing and storing ``make()`` first when missing (``make`` runs outside the lock)."""
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            value = make()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
