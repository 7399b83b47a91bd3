"""Which device an engine runs on, and the model placed there.

Example:
    >>> import torch
    >>> from srwidgets.engine.devices import parse_device, resolve_device
    >>> parse_device("cpu")
    device(type='cpu')
    >>> device, model = resolve_device(torch.nn.Conv2d(3, 3, 1), "cpu")
    >>> device.type
    'cpu'
"""
from __future__ import annotations

import copy
from typing import Tuple

import torch
from torch import nn

from ..errors import InputError

__all__ = ["parse_device", "model_device", "resolve_device"]


def parse_device(device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``, checked to exist here (else :class:`InputError`)."""
    if not isinstance(device, (str, torch.device)):
        raise InputError(f"unknown device {device!r} ({type(device).__name__}): a device is a string such as 'cpu', "
                         "'cuda' or 'cuda:0', or a torch.device")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={str(device)!r} was asked for but CUDA is not available here; use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device={str(device)!r}: there are only {torch.cuda.device_count()} CUDA devices")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """Where the model's first parameter (or buffer) lives; CPU for a model without either."""
    t = next(iter(model.parameters()), None)
    t = t if t is not None else next(iter(model.buffers()), None)
    return t.device if t is not None else torch.device("cpu")


def resolve_device(model: nn.Module, device=None) -> Tuple[torch.device, nn.Module]:
    """The device to run on and the model there (a copy if it lives elsewhere, so the user's model never moves).
    Default: CUDA when this machine has it (a CPU model is copied there once), else the model's device."""
    home = model_device(model)
    has_state = next(iter(model.parameters()), None) is not None or next(iter(model.buffers()), None) is not None
    if device is None:
        device = home if home.type == "cuda" or not torch.cuda.is_available() else "cuda"
    dev = parse_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    same = home.type == dev.type and (home.index or 0) == (dev.index or 0)
    return dev, (model if same or not has_state else copy.deepcopy(model).to(dev))
