"""Wrappers that make a network srwidgets cannot run as it is take and return ``[N, 3, h, w]`` RGB in [0, 1].

* :class:`PadToMultiple` — for networks that need input sides that are multiples of ``n`` (a transformer's window,
  a U-Net's down-sampling factor): reflect-pads the LR image at the bottom / right to a multiple of ``n``, runs the
  network and crops the SR image back to ``[s·h, s·w]``, as SwinIR's and HAT's official test code do. Exact: every
  output pixel whose receptive field does not reach the padding is the network's own value on the image.
* :class:`YChannelWrapper` — for single-channel networks trained on the luma (Y) of ITU-R BT.601 YCbCr (MATLAB's
  ``rgb2ycbcr``, Y in [16/255, 235/255]), e.g. the usual FSRCNN / SRCNN / ESPCN checkpoints: runs the network on Y
  and upsamples the chroma (Cb, Cr) bicubically, then converts back to RGB.

Both are plain ``nn.Module`` s with ``.scale`` (when known) and ``.model`` (the wrapped network); gradients flow
through them, so LAM, DDR and FAIG work on the wrapped model.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

__all__ = ["PadToMultiple", "YChannelWrapper", "rgb_to_ycbcr", "ycbcr_to_rgb"]

# ITU-R BT.601 "studio swing" (MATLAB rgb2ycbcr on [0, 1] RGB): ycc = M @ rgb + offset, Y in [16, 235] / 255.
_YCC = torch.tensor([[65.481, 128.553, 24.966],
                     [-37.797, -74.203, 112.0],
                     [112.0, -93.786, -18.214]], dtype=torch.float64) / 255.0
_YCC_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255.0
_YCC_INV = torch.linalg.inv(_YCC)


def _mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(x.device, x.dtype), x)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, h, w]`` RGB in [0, 1] -> YCbCr (BT.601, MATLAB ``rgb2ycbcr`` scaled to [0, 1]; Y in [16, 235]/255).

    >>> round(float(rgb_to_ycbcr(torch.ones(1, 3, 1, 1))[0, 0]) * 255, 3)
    235.0
    """
    return _mix(x, _YCC) + _YCC_OFFSET.to(x.device, x.dtype).view(1, 3, 1, 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """The exact inverse of :func:`rgb_to_ycbcr`."""
    return _mix(x - _YCC_OFFSET.to(x.device, x.dtype).view(1, 3, 1, 1), _YCC_INV)


def _check_module(model, who: str) -> None:
    if not isinstance(model, nn.Module):
        raise InputError(f"{who} wraps a torch.nn.Module, got {type(model).__name__}")


def _known_scale(model: nn.Module, scale: Optional[int], who: str) -> Optional[int]:
    s = scale if scale is not None else getattr(model, "scale", None)
    if s is None:
        return None
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise InputError(f"{who}: scale must be a positive integer, got {s!r}")
    return s


class PadToMultiple(nn.Module):
    """Run ``model`` on its input padded to multiples of ``multiple`` and crop the output back (exact).

    ``forward(x)``: reflect-pads ``x [N, C, h, w]`` at the bottom and right by ``(-h) % multiple`` rows and
    ``(-w) % multiple`` columns (replicate padding when the image is too small to reflect), runs the model and
    returns the top-left ``[s·h, s·w]`` of its output. Output pixels whose receptive field lies inside the image are
    exactly the network's; only those near the bottom / right edge see the mirrored pixels, as with the official
    test scripts of window-based models.

    Args:
        model: the network (``[N, 3, H, W] -> [N, 3, s·H, s·W]`` for ``H, W`` multiples of ``multiple``).
        multiple: the size multiple it needs (e.g. the window size, or what ``check`` reports).
        scale: its scale (default: ``model.scale``, else read from the output size).

    >>> from torch import nn
    >>> class Window8(nn.Module):
    ...     scale = 2
    ...     def forward(self, x):
    ...         assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, "sizes must be multiples of 8"
    ...         return nn.functional.interpolate(x, scale_factor=2)
    >>> tuple(PadToMultiple(Window8(), 8)(torch.rand(1, 3, 13, 10)).shape)
    (1, 3, 26, 20)
    """

    def __init__(self, model: nn.Module, multiple: int, scale: Optional[int] = None):
        super().__init__()
        _check_module(model, "PadToMultiple")
        if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
            raise InputError(f"PadToMultiple: multiple must be a positive integer (e.g. the window size), "
                             f"got {multiple!r}")
        self.model = model
        self.multiple = int(multiple)
        s = _known_scale(model, scale, "PadToMultiple")
        if s is not None:
            self.scale = s
        for attr in ("arch", "config"):  # what srwidgets shows about a model; the weights are the wrapped ones
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x):
        h, w = x.shape[-2:]
        n = self.multiple
        ph, pw = (-h) % n, (-w) % n
        padded = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate") if ph or pw else x
        y = self.model(padded)
        if not (ph or pw) or not isinstance(y, torch.Tensor) or y.dim() < 2:
            return y
        s = getattr(self, "scale", None) or max(1, y.shape[-2] // padded.shape[-2])
        return y[..., : s * h, : s * w]

    def extra_repr(self) -> str:
        return f"multiple={self.multiple}"

    def feature_layers(self):
        from .protocol import feature_layers

        return [(f"model.{name}", m) for name, m in feature_layers(self.model)]

    def explain_probe_failure(self, device=None) -> Optional[str]:
        """Why the wrapped model fails on every probe, when it knows (asked by :mod:`srwidgets.engine.probes`)."""
        explain = getattr(self.model, "explain_probe_failure", None)
        return explain(device, outer=False) if isinstance(self.model, YChannelWrapper) else (
            explain(device) if callable(explain) else None)


_ALREADY_RGB = ("YChannelWrapper is for single-channel (Y) networks, but this network already takes RGB: its first "
                "conv {!r} takes 3 channels. Do not wrap it: use the network as it is (srwidgets runs RGB models "
                "directly)")


def _rgb_input_conv(model: nn.Module) -> Optional[str]:
    """The name of ``model``'s first conv when it takes 3 channels (an RGB network), else ``None``."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return (name or "the model") if m.in_channels == 3 else None
    return None


class YChannelWrapper(nn.Module):
    """Make a single-channel luma (Y) network take and return RGB ``[N, 3, h, w]`` in [0, 1].

    ``forward(x)``: converts ``x`` to YCbCr (:func:`rgb_to_ycbcr`, BT.601 as the SR literature uses), runs
    ``model`` on Y (``[N, 1, h, w]``, values in [16, 235] / 255), upsamples Cb and Cr bicubically by the scale
    and converts back to RGB. A grey image has neutral chroma, so its output is grey with each channel
    ``(Y_out - 16/255) · 255/219``: exactly the network's Y output, back in full range.

    Args:
        model: the Y network (``[N, 1, h, w] -> [N, 1, s·h, s·w]``).
        scale: its scale (default: ``model.scale``).

    >>> from srwidgets import models
    >>> y_net = models.build("FSRCNN", upscale=2, d=8, s=4, m=1, num_channels=1).eval()
    >>> tuple(YChannelWrapper(y_net)(torch.rand(1, 3, 5, 6)).shape)
    (1, 3, 10, 12)
    """

    def __init__(self, model: nn.Module, scale: Optional[int] = None):
        super().__init__()
        _check_module(model, "YChannelWrapper")
        rgb = _rgb_input_conv(model)
        if rgb is not None:
            raise InputError(_ALREADY_RGB.format(rgb))
        s = _known_scale(model, scale, "YChannelWrapper")
        if s is None:
            raise InputError("YChannelWrapper needs the model's scale: pass scale= (the model has no .scale)")
        self.model = model
        self.scale = s
        for attr in ("arch", "config"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 3:
            raise InputError(f"YChannelWrapper takes RGB batches [N, 3, h, w], got {tuple(x.shape)}")
        ycc = rgb_to_ycbcr(x)
        y = self.model(ycc[:, :1])
        chroma = F.interpolate(ycc[:, 1:], scale_factor=self.scale, mode="bicubic", align_corners=False)
        if tuple(y.shape[-2:]) != tuple(chroma.shape[-2:]) or y.shape[1] != 1:
            raise InputError(f"the wrapped Y network maps {tuple(ycc[:, :1].shape)} to {tuple(y.shape)}; expected "
                             f"[N, 1, {self.scale}h, {self.scale}w] (one luma channel, x{self.scale})")
        return ycbcr_to_rgb(torch.cat([y, chroma], dim=1))

    def feature_layers(self):
        from .protocol import feature_layers

        return [(f"model.{name}", m) for name, m in feature_layers(self.model)]

    def explain_probe_failure(self, device=None, outer: bool = True) -> Optional[str]:
        """When the wrapped network already takes and returns RGB (3 channels), the message that says so (wrapping
        it is the mistake); else ``None``. Asked by :mod:`srwidgets.engine.probes` when every probe fails."""
        from ..engine.probes import forward_guarded, probe_input

        try:
            y = forward_guarded(self.model, probe_input(self.model, 12, device))
        except Exception:
            return None
        if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[1] != 3:
            return None
        where = "model.model" if outer else "the YChannelWrapper's .model"
        return ("the model is a YChannelWrapper around a network that already takes and returns RGB (3 channels): "
                f"YChannelWrapper is for single-channel (Y) networks only. Do not wrap it; pass {where}, the RGB "
                "network, as it is")
