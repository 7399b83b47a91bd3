"""Input checks every engine shares, worded for any engine: images, integers, numbers, choices, seeds.

One value tolerance everywhere: pixel values may leave ``[0, 1]`` by at most :data:`VALUE_TOLERANCE` (rounding
after resampling); :func:`srwidgets.data.load_image` uses the same.

Example:
    >>> import numpy as np, torch
    >>> from srwidgets.engine.inputs import check_int, image_tensor
    >>> check_int("steps", np.int64(5), minimum=1)
    5
    >>> image_tensor(torch.rand(1, 3, 8, 8), "cpu").shape
    torch.Size([3, 8, 8])
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Optional

import numpy as np
import torch

from ..errors import InputError

__all__ = ["VALUE_TOLERANCE", "MAX_STEPS", "NUMPY_SEED_MAX", "image_tensor", "check_int", "check_number", "check_choice", "check_seed",
           "check_steps", "check_memory_budget", "check_flag", "check_value_range"]

VALUE_TOLERANCE = 1e-3
"""How far pixel values may leave [0, 1] (rounding after resampling) before an image is refused."""


def check_value_range(image: torch.Tensor, what: str = "the image") -> None:
    """Refuse NaN/Inf and values outside ``[0, 1]`` by more than :data:`VALUE_TOLERANCE`."""
    if not bool(torch.isfinite(image).all()):
        raise InputError(f"{what} contains NaN or Inf values; replace them (torch.nan_to_num) or reload the image")
    lo, hi = float(image.min()), float(image.max())
    if lo < -VALUE_TOLERANCE or hi > 1 + VALUE_TOLERANCE:
        hint = "divide 8-bit values by 255" if hi > 1.5 else "clamp it with image.clamp(0, 1)"
        raise InputError(f"{what} has values in [{lo:.4g}, {hi:.4g}]; expected [0, 1] (up to {VALUE_TOLERANCE:g} of "
                         f"rounding): {hint}")


def image_tensor(image, device, what: str = "the image") -> torch.Tensor:
    """Validate an RGB image (tensor or array ``[3, h, w]`` / ``[1, 3, h, w]``, float in [0, 1]) and return it as a
    float64 ``[3, h, w]`` tensor on ``device`` (values clamped to [0, 1] after the tolerance check)."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{what} must be a torch tensor [3, h, w] in [0, 1], got {type(image).__name__}; "
                         "read files with srwidgets.data.load_image(path)")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() == 2 or (image.dim() == 3 and image.shape[0] == 1):
        raise InputError(f"{what} is grey (shape {tuple(image.shape)}); the SR models here need RGB [3, h, w]: "
                         "repeat the channel (image.expand(3, -1, -1)) or load it with load_image(x, convert=True)")
    if image.dim() != 3 or image.shape[0] != 3:
        hint = " (channels last? use image.permute(2, 0, 1))" if image.dim() == 3 and image.shape[-1] == 3 else ""
        raise InputError(f"{what} must have shape [3, h, w] (or [1, 3, h, w]), got {tuple(image.shape)}{hint}")
    if not image.is_floating_point():
        raise InputError(f"{what} must be float in [0, 1], got dtype {image.dtype}; use image.float() / 255")
    if image.numel() == 0:
        raise InputError(f"{what} is empty (shape {tuple(image.shape)}); pass a [3, h, w] image with h, w >= 1")
    image = image.detach()
    check_value_range(image, what)
    return image.to(device=device, dtype=torch.float64).clamp(0, 1)


def check_int(name: str, value, minimum: Optional[int] = None, hint: str = "") -> int:
    """``value`` as a Python int (numpy integers accepted, bools and floats refused), at least ``minimum``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not ok or (minimum is not None and value < minimum):
        at_least = f" >= {minimum}" if minimum is not None else ""
        shown = int(value) if ok else repr(value)
        raise InputError(f"{name} must be an integer{at_least}{hint}, got {shown}")
    return int(value)


MAX_STEPS = 100_000
"""The most integration steps (path points, Riemann steps, samples) one call accepts. Far past where any
attribution changes (the papers use 50-100; the Riemann error of a smooth path falls as 1/steps, below float32
rounding long before 10^5), and small enough that one call ends in hours, not years. Engines build their plans
lazily, so memory does not grow with ``steps``; this ceiling bounds the time."""


def check_steps(value, name: str = "steps", hint: str = "", ceiling: int = MAX_STEPS) -> int:
    """An integration step count: an integer in ``[1, ceiling]`` (numpy integers accepted).

    Example:
        >>> check_steps(50)
        50
    """
    steps = check_int(name, value, 1, hint)
    if steps > ceiling:
        raise InputError(f"{name}={steps} is above the ceiling of {ceiling:,} steps: attributions stop changing long "
                         f"before (the Riemann error falls as 1/{name}; the papers use 50-100), and the call would "
                         f"run for days; use at most {ceiling:,}{hint}")
    return steps


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def check_memory_budget(value, name: str = "memory_budget") -> Optional[int]:
    """A memory budget in bytes: ``None`` (the engine's default), a positive number, or a string with a unit
    (``"1GB"``, ``"512 MiB"``; binary units: 1 GB = 2^30 bytes, as the defaults are stated). Returns int bytes.

    Example:
        >>> check_memory_budget("1GB"), check_memory_budget(4096), check_memory_budget(None)
        (1073741824, 4096, None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits):]
        try:
            number = float(digits)
        except ValueError:
            number = None
        if number is None or unit not in _UNITS or not math.isfinite(number) or number * _UNITS[unit] < 1:
            raise InputError(f"{name}={value!r} is not a memory size; give bytes (e.g. {1 << 30}) or a string with a "
                             "unit such as '512MB' or '2GB' (or None for the default)")
        return int(number * _UNITS[unit])
    return int(check_number(name, value, 1, " (bytes, e.g. 2**30, or a string like '1GB'; None for the default)"))


def check_number(name: str, value, minimum: Optional[float] = None, hint: str = "") -> float:
    """``value`` as a finite float (numpy numbers accepted; NaN, Inf, bools and strings refused), >= ``minimum``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value))
    if not ok or (minimum is not None and float(value) < minimum):
        at_least = f" >= {minimum:g}" if minimum is not None else ""
        raise InputError(f"{name} must be a finite number{at_least}{hint}, got {value!r}")
    return float(value)


def check_flag(name: str, value) -> bool:
    """A yes/no argument: ``True``/``False`` (numpy bools and 0/1 accepted); a string such as ``"no"`` would be
    truthy, so anything else is refused instead of silently meaning yes."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise InputError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` must be one of ``choices`` (strings); lists and other unhashable values get the same message."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return value


NUMPY_SEED_MAX = 2 ** 32 - 1
"""The largest seed numpy's and scikit-learn's random states take (their range is [0, 2**32 - 1])."""


def check_seed(value, numpy: bool = False) -> int:
    """A random seed: an integer in torch.Generator's range [-2**63, 2**64 - 1] (numpy integers accepted); with
    ``numpy=True`` (the seed reaches numpy or scikit-learn, e.g. t-SNE, or has offsets added) in [0, 2**32 - 1]."""
    seed = check_int("seed", value, hint=" (e.g. seed=0)")
    low, high, who = (0, NUMPY_SEED_MAX, "[0, 2**32 - 1] (what numpy's and scikit-learn's random states take)") \
        if numpy else (-(1 << 63), (1 << 64) - 1, "[-2**63, 2**64 - 1] (what torch.Generator takes)")
    if not low <= seed <= high:
        raise InputError(f"seed must be an integer in {who}, got {seed}; e.g. seed=0")
    return seed
