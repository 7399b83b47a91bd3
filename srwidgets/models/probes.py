"""Model checks: :func:`check` (does a model map ``[1, 3, h, w]`` in [0, 1] to a finite ``[1, 3, s·h, s·w]``, on
a small probe or on your own image?) and :func:`infer_scale`. The probes themselves, and the explanations of a
failure, are the runtime's (:mod:`srwidgets.engine.probes`); this module adds your image.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..engine.probes import (check_module, check_probe_output, check_size, forward_guarded, infer_scale, is_int,
                             probe, short)
from ..errors import InputError

__all__ = ["check", "infer_scale"]


def _user_probe(model: nn.Module, image: Any, device: Any = None) -> torch.Tensor:
    """``[1, 3, h, w]`` for ``check``'s ``image``: an image (anything :func:`srwidgets.data.load_image` takes) as
    it is, or a size ``(h, w)`` / ``n`` as a deterministic image in [0, 1]; on the model's device and dtype."""
    if is_int(image):
        image = (image, image)
    if isinstance(image, (tuple, list)) and len(image) == 2 and all(is_int(v) for v in image):
        h, w = int(image[0]), int(image[1])
        if h < 1 or w < 1:
            raise InputError(f"image size must be positive (h, w), got {(h, w)}")
        from ..engine.memory import ensure_fits

        # the probe image, its SR output and one 64-channel feature map, in float32: a (100000, 100000) size is
        # refused here instead of allocating it
        ensure_fits(4.0 * h * w * (3 + 3 * 16 + 64), w, h, device, what="image")
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    else:
        from ..data import load_image

        x = load_image(image)[None].float()
    p = next(iter(model.parameters()), None)
    x = x.to(device if device is not None else (p.device if p is not None else "cpu"))
    if p is not None and p.is_floating_point():
        x = x.to(p.dtype)
    return x


def check(model: nn.Module, scale: int, image: Any = None, size: int = 12, device: Any = None) -> int:
    """Verify that ``model`` maps ``[1, 3, h, w]`` in [0, 1] to a finite ``[1, 3, scale*h, scale*w]``.

    With ``image`` (the LR image you will use, anything :func:`srwidgets.data.load_image` takes, or just its size
    ``(h, w)`` / ``n``) the model is first run on it: when that works the model is accepted, so a model that only
    fails on small inputs is not refused; when it fails, the small probe below explains why (or the error says that
    the model runs on the probe but not on your image). Otherwise one forward pass on a small deterministic
    ``size x size`` image. Passes run under :func:`~srwidgets.engine.guard.guarded` (a model in train mode keeps its
    mode and its BatchNorm statistics). Returns ``scale``. Raises :class:`InputError` that says what is wrong (not
    a module, wrong channel count, wrong scale, NaN/Inf, input sizes that must be multiples of N, a forward pass
    that writes into its input) and how to fix it.
    """
    check_module(model)
    if not is_int(scale) or scale < 1:
        raise InputError(f"scale must be a positive integer (2, 3, 4, ...), got {short(repr(scale))}")
    scale, size = int(scale), check_size(size)
    failure = None
    if image is not None:
        x = _user_probe(model, image, device)
        before = x.clone()
        try:
            y = forward_guarded(model, x)
        except Exception as e:  # explained below by the small probes
            failure = f"({type(e).__name__}: {' '.join(str(e).split())[:200]})"
        else:
            if not torch.equal(x, before):
                probe(model, size, device)  # raises the in-place message
            check_probe_output(x, y, scale)
            return scale
    x, y = probe(model, size, device)
    check_probe_output(x, y, scale)
    if failure is not None:
        h, w = x.shape[-2:]
        uh, uw = _user_probe(model, image, "cpu").shape[-2:] if not (is_int(image) or isinstance(image, (
            tuple, list))) else ((image, image) if is_int(image) else tuple(image))
        raise InputError(f"the model runs on a [1, 3, {h}, {w}] probe but failed on your {uh}x{uw} image {failure}; "
                         "check the image size the model takes (or crop / pad the image)")
    return scale
