"""Model preparation, the one way every engine takes a user's model: device, scale, dtype, the shape check, the
model's errors in plain words, and the guarded super-resolve forward.

:func:`prepare_model` returns a :class:`PreparedModel`: the model on its device (a copy when it had to move, never
the user's object moved), its scale (given, ``model.scale`` or measured) checked on a probe, and the dtype of its
parameters. :func:`model_errors` turns the faults PyTorch reports in its own terms (a forward that writes into its
input, one that takes gradients of its own weights) into an :class:`~srwidgets.errors.InputError`;
:meth:`PreparedModel.super_resolve` runs ``F(x)`` under :func:`~srwidgets.engine.guard.guarded` and
``torch.inference_mode`` and checks its shape.

Example:
    >>> import torch
    >>> from torch import nn
    >>> pm = prepare_model(nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)), scale=2, device="cpu")
    >>> pm.scale, tuple(pm.super_resolve(torch.rand(3, 8, 8)).shape)
    (2, (3, 16, 16))
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..errors import InputError
from .devices import resolve_device
from .guard import explain_model_error, guarded
from .inputs import check_int, image_tensor
from .probes import check_model, infer_scale

__all__ = ["PreparedModel", "prepare_model", "model_errors", "model_dtype"]


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype inputs are cast to: the first floating parameter's, else float32."""
    p = next(iter(model.parameters()), None)
    return p.dtype if p is not None and p.is_floating_point() else torch.float32


@contextmanager
def model_errors():
    """Re-raise a model fault PyTorch words in its own terms as an :class:`InputError` in plain words (others pass)."""
    try:
        yield
    except RuntimeError as exc:
        reason = explain_model_error(exc)
        if reason is None:
            raise
        raise InputError(reason) from None


@dataclass
class PreparedModel:
    """A model ready for an engine: ``model`` on ``device``, its ``scale`` and parameter ``dtype``."""

    model: nn.Module
    device: torch.device
    scale: int
    dtype: torch.dtype

    def image(self, image, what: str = "the image") -> torch.Tensor:
        """An LR image checked and placed: ``[3, h, w]`` float64 on the device (:func:`image_tensor`)."""
        return image_tensor(image, self.device, what)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``F(x)`` of a batch ``[N, 3, h, w]`` in the model's dtype, no gradients, model errors in plain words;
        returns float64. Call it under :func:`guarded` (``super_resolve`` does)."""
        with model_errors(), torch.inference_mode():
            return self.model(x.to(self.dtype)).double()

    def super_resolve(self, image) -> torch.Tensor:
        """``F(x)`` of one LR image ``[3, h, w]`` in [0, 1] -> ``[3, s·h, s·w]`` float64 on the device (not
        clamped), guarded; refuses an output that is not ``scale`` times the input."""
        x = image if isinstance(image, torch.Tensor) and image.dtype == torch.float64 and image.dim() == 3 \
            else self.image(image)
        self.ensure_fits(*x.shape[-2:])
        with guarded(self.model):
            sr = self.forward(x[None])[0]
        self.check_output_shape(sr, x)
        return sr

    def ensure_fits(self, height: int, width: int) -> None:
        """Refuse, before allocating, an LR image whose forward pass needs more memory than the device has:
        "LR image too large (W×H, needs ~N GB ...); crop or downsample it"
        (:func:`~srwidgets.engine.memory.inference_bytes`, measured on a small probe; only for images over 256×256 LR
        pixels, where it can matter)."""
        if height * width <= 256 * 256:
            return
        from .memory import ensure_fits, inference_bytes

        ensure_fits(inference_bytes(self.model, height, width, self.scale, self.device), width, height, self.device,
                    "LR image")

    def check_output_shape(self, sr: torch.Tensor, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        expected = (3, self.scale * h, self.scale * w)
        if tuple(sr.shape[-3:]) != expected:
            raise InputError(f"the model maps a {h}x{w} image to {tuple(sr.shape[-3:])}, expected {expected} "
                             f"(scale {self.scale}); does it need sizes that are a multiple of something (a window "
                             "size, a down-sampling factor)? Wrap it: srwidgets.models.PadToMultiple(model, n) pads "
                             "to a multiple of n and crops back (srwidgets.models.check(model, scale) finds n), or "
                             "pass the right scale=")


def prepare_model(model, scale: Optional[int] = None, device=None) -> PreparedModel:
    """Check and place a model for an engine.

    Args:
        model: an ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]`` (never changed).
        scale: its scale ``s`` (default: ``model.scale`` or measured on a probe).
        device: where to run (default: CUDA when available, else the model's device).

    Raises:
        InputError: not a module, a bad scale, or a model whose probe output is not ``scale`` times its input.
    """
    if not isinstance(model, nn.Module):
        check_model(model, 1)  # raises the shared "expected a torch.nn.Module" InputError
    device, placed = resolve_device(model, device)
    with guarded(placed):
        s = check_int("scale", scale, 1) if scale is not None else infer_scale(placed)
        check_model(placed, s, device=device)
    return PreparedModel(placed, device, s, model_dtype(placed))
