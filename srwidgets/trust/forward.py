"""The one batched forward of the trust checks: the window objective ``D(F(p))`` for a batch of LR crops.

Every perturbed input of a check (all fractions × both orders × every ranking and control of one window) is a crop
of the image on the window's verified receptive-field box; :func:`objective_batch` runs them through the family's
forward primitive :meth:`srwidgets.attribution.WindowMethod.values`: as few forwards as the memory budget allows
(the engine's one memory meter, measured on the first chunk), progress and cancel, model errors in plain words,
NaN / Inf refused.

Objectives: a name of :data:`srwidgets.engine.objectives.OBJECTIVES` (``"gradient"``: LAM's local-gradient
detector, the default), a callable ``(sr [N, 3, sH, sW], window) -> [N]``, or ``"psnr"``: the window's 8-bit RGB
PSNR against the HR image (:func:`srwidgets.cem.window_psnr`, what CEM explains; needs ``hr``).
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import torch

from ..attribution import LazyInputs
from ..engine.objectives import get_objective
from ..engine.windows import clip_window
from ..errors import InputError

__all__ = ["objective_batch", "objective_function", "PSNR"]

PSNR = "psnr"
"""The objective name of the window's PSNR against the HR image (CEM's)."""


def objective_function(objective, hr: Optional[torch.Tensor], window, what: str = "objective") -> Callable:
    """``objective`` -> ``fn(sr [N, 3, H, W], local_window) -> [N]``. ``"psnr"`` compares the window with
    ``hr`` ``[3, s·h, s·w]`` (SR pixels of the whole image; ``window`` in the same frame)."""
    if isinstance(objective, str) and objective == PSNR:
        if hr is None:
            raise InputError(f"{what}='psnr' (and method 'cem') scores the window's PSNR against the HR image: pass "
                             "hr= (the [3, s·h, s·w] ground truth)")
        from ..cem import window_psnr

        t, l, h, w = window
        target = hr[:, t:t + h, l:l + w].detach().double().cpu()

        def psnr(sr, win):
            a, b, c, d = win
            return window_psnr(sr[:, :, a:a + c, b:b + d].double().cpu(), target[:, :c, :d])

        return psnr
    return get_objective(objective)


def objective_batch(eng, inputs: Union[torch.Tensor, Callable], total: int, image_shape, window, box, objective,
                    *, hr: Optional[torch.Tensor] = None, callback=None, cancel=None, stage: str = "trust forwards"
                    ) -> torch.Tensor:
    """``D(F(p_i))`` for ``total`` LR inputs on the crop ``box``: ``[total]`` float64 CPU.

    Runs on the family's forward primitive, :meth:`srwidgets.attribution.WindowMethod.values` (the engine's one
    memory meter, progress, cancel, NaN / Inf refused), with the crops as its inputs and the window in the crop's
    frame.

    Args:
        eng: a :class:`srwidgets.attribution.WindowMethod` on the model (prepared model, scale, memory contract).
        inputs: ``[total, 3, bh, bw]`` crops (``box``'s size; the whole image for ``box=None``), or a function
            ``(start, stop) -> [stop − start, 3, bh, bw]`` that builds them chunk by chunk.
        total: how many inputs.
        image_shape: ``(h, w)`` of the whole LR image.
        window: ``(top, left, height, width)`` SR pixels of the whole image.
        box: the LR box ``(top, left, bh, bw)`` the crops were cut from (``None``: whole images).
        objective: see the module docstring; ``hr`` for ``"psnr"``.
        callback, cancel: ``Progress(done, total, stage)`` after each chunk; cancel checked before each.
    """
    fn = objective_function(objective, hr, window)
    s = eng.scale
    local = clip_window(window, s, s * image_shape[0], s * image_shape[1])  # cut as the whole image's map is
    if box is not None:
        local = (local[0] - s * box[0], local[1] - s * box[1], local[2], local[3])
    shape = (box[2], box[3]) if box is not None else tuple(image_shape)
    make = inputs if callable(inputs) else (lambda start, stop: inputs[start:stop])
    values = eng.values(LazyInputs(total, shape, make), local, fn, callback=callback, cancel=cancel, stage=stage)
    return values.detach().double().cpu()
