"""The one batched forward of the trust checks: the window objective ``D(F(p))`` for a batch of LR crops.

Every perturbed input of a check (all fractions × both orders × every ranking and control of one window) is a crop
of the image on the window's verified receptive-field box; :func:`objective_batch` runs them in as few forwards as
the memory budget allows (the engine's memory contract: activation bytes per LR pixel per input, measured on the
first chunk), with progress and cancel, model errors in plain words, and refuses NaN / Inf outputs.

Objectives: a name of :data:`srwidgets.engine.objectives.OBJECTIVES` (``"gradient"``: LAM's local-gradient
detector, the default), a callable ``(sr [N, 3, sH, sW], window) -> [N]``, or ``"psnr"``: the window's 8-bit RGB
PSNR against the HR image (:func:`srwidgets.cem.window_psnr`, what CEM explains; needs ``hr``).
"""
from __future__ import annotations

from typing import Callable, Optional, Union

import torch

from ..engine import guarded, run_chunks, saved_bytes
from ..engine.forward import window_forward
from ..engine.objectives import get_objective
from ..engine.prepare import model_errors
from ..engine.windows import clip_window
from ..errors import InputError
from ..progress import Progress

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

    Args:
        eng: a :class:`srwidgets.attribution.WindowMethod` on the model (prepared model, scale, memory contract).
        inputs: ``[total, 3, bh, bw]`` crops (``box``'s size; the whole image for ``box=None``), or a function
            ``(start, stop) -> [stop − start, 3, bh, bw]`` that builds them chunk by chunk.
        image_shape: ``(h, w)`` of the whole LR image.
        window: ``(top, left, height, width)`` SR pixels of the whole image.
        box: the LR box ``(top, left, bh, bw)`` the crops were cut from (``None``: whole images).
        objective: see the module docstring; ``hr`` for ``"psnr"``.
        callback, cancel: ``Progress(done, total, stage)`` after each chunk; cancel checked before each.
    """
    fn = objective_function(objective, hr, window)
    pixels = box[2] * box[3] if box else image_shape[0] * image_shape[1]
    local = clip_window(window, eng.scale, eng.scale * image_shape[0], eng.scale * image_shape[1], box)
    split = bool(getattr(eng, "split_tail", False))
    out = torch.zeros(total, dtype=torch.float64)

    def run(start, stop):
        p = inputs(start, stop) if callable(inputs) else inputs[start:stop]
        p = p.to(eng.device, eng.dtype)
        with model_errors():
            if eng.measuring:  # one chunk metered with the gradient engine's contract (an upper bound here)
                with torch.enable_grad(), saved_bytes() as meter:
                    y, (win,) = window_forward(eng.model, p.detach().requires_grad_(True), [local], eng.scale, split)
                    y = y.detach()
                eng.record_memory(meter.bytes, p.shape[-1] * p.shape[-2], p.shape[0])
            else:
                with torch.inference_mode():
                    y, (win,) = window_forward(eng.model, p, [local], eng.scale, split)
        if not split:
            eng.prepared.check_output_shape(y, p)
        if not bool(torch.isfinite(y).all()):
            raise InputError(f"the model returns NaN or Inf on {stage} inputs {start}..{stop - 1}; its weights or "
                             "these inputs may be broken")
        vals = fn(y.float(), win)
        if not isinstance(vals, torch.Tensor) or vals.numel() != p.shape[0]:
            raise InputError("the objective must return one value per input: objective(sr [N, 3, H, W], window) "
                             "-> [N]")
        out[start:stop] = vals.detach().double().cpu().flatten()

    def report(done, total_):
        if callback is not None:
            callback(Progress(done, total_, stage))

    with guarded(eng.model):
        run_chunks(total, run, cancel=cancel, on_chunk=report, chunk=lambda: eng.chunk(pixels))
    return out
