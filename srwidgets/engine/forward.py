"""The forward pass a window method needs: ``F(x)``, or for models that split into LR features and an upsampling
tail (:class:`~srwidgets.models.protocol.SplitTail`) only the SR patch the windows read.

A window objective reads a few SR pixels; a split tail can run only on the features around them (and
:class:`~srwidgets.models.protocol.RegionFeatures` bodies only where that region depends on the input), which
changes no SR pixel the objective reads — the tail's zero padding touches only pixels it never reads
(:func:`srwidgets.engine.windows.tail_region`).

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    >>> y, windows = window_forward(net, torch.rand(1, 3, 8, 8), [(2, 2, 4, 4)], scale=2)
    >>> tuple(y.shape), windows
    ((1, 3, 16, 16), [(2, 2, 4, 4)])
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import InputError
from ..progress import Progress, check_hooks
from .chunks import run_chunks
from .guard import guarded
from .memory import saved_bytes
from .objectives import get_objective
from .prepare import model_errors
from .windows import clip_window, paste, tail_region

__all__ = ["window_forward", "splits_tail", "forward_values", "forward_chunk", "input_gradients", "LazyInputs",
           "objective_values"]


def splits_tail(model: nn.Module) -> bool:
    """Whether ``model`` offers ``features`` / ``tail`` / ``tail_margin`` (the SplitTail protocol)."""
    from .protocol import SplitTail

    return isinstance(model, SplitTail)


def window_forward(model: nn.Module, x: torch.Tensor, windows: Sequence, scale: int, split_tail: bool = True
                   ) -> Tuple[torch.Tensor, List[Tuple[int, int, int, int]]]:
    """``(y, windows in y's coordinates)``: ``F(x)`` of a batch ``[N, 3, h, w]`` with the windows unchanged, or,
    with ``split_tail`` on a SplitTail model, only the SR patch around the windows (SR pixels of ``x``)."""
    if not (split_tail and splits_tail(model)):
        return model(x), list(windows)
    from .protocol import RegionFeatures

    s = scale
    r0, r1, c0, c1 = tail_region(windows, s, int(model.tail_margin), *x.shape[-2:])
    if isinstance(model, RegionFeatures):  # the body, too, only where the region depends on it
        features = model.features_region(x, (r0, r1, c0, c1))
    else:
        features = model.features(x)[..., r0:r1, c0:c1]
    y = model.tail(features, x[..., r0:r1, c0:c1])
    return y, [(t - s * r0, l - s * c0, h, w) for t, l, h, w in windows]


def forward_chunk(engine, pixels: int) -> int:
    """Inputs per forward-only chunk (no backward) of ``pixels`` LR pixels each, from the engine's one memory meter
    (:meth:`srwidgets.engine.base.Engine.chunk`). CUDA: as many as the budget allows (60 % of free memory by
    default). CPU: at most 64 and about 16k LR pixels per pass — inference has no backward, so batching pays
    further than a backward pass's 6000 pixels (measured for CEM's interventions)."""
    cap = None if engine.device.type == "cuda" else max(1, min(64, 16384 // max(pixels, 1)))
    return engine.chunk(pixels, cap=cap)


def forward_values(engine, inputs, windows: Sequence, objectives: Sequence, total: int, *, pixels: Optional[int] = None,
                   split_tail: bool = False, cancel=None, on_chunk=None, nonfinite: str = "inputs") -> torch.Tensor:
    """Objective values of a batch of inputs, forward passes only: ``[W, total]`` float64 on the engine's device.

    The loop every forward-only method shares (occlusion, CEM's interventions, trust's curves): chunks sized by the
    engine's one memory meter (:func:`forward_chunk`; while nothing is measured, the first chunk is one input whose
    saved activations are metered under a gradient-enabled forward, then run again without gradients), cancel
    checked before each chunk, ``on_chunk(done, total)`` after it, the model's errors in plain words, NaN / Inf
    refused.

    Args:
        engine: a :class:`srwidgets.engine.base.Engine` (its model, prepared model, dtype, scale and meter).
        inputs: ``[total, 3, h, w]`` in the frame the windows are given in, or a callable ``(start, stop) ->
            [stop − start, 3, h, w]`` (built chunk by chunk: memory does not grow with ``total``; pass ``pixels``,
            ``h · w``, with it).
        windows: ``W`` windows ``(top, left, height, width)`` in SR pixels of the inputs' output (already clipped).
        objectives: ``W`` callables ``(sr [N, 3, sH, sW] float64, window) -> [N]``, one per window.
        split_tail: run a split-tail model's upsampling tail only around the windows (:func:`window_forward`).
        nonfinite: what the inputs are, for the NaN / Inf message.

    Call it under :func:`srwidgets.engine.guard.guarded`.
    """
    windows, objectives = list(windows), list(objectives)
    out = None

    def run(start, stop):
        nonlocal out
        p = (inputs(start, stop) if callable(inputs) else inputs[start:stop]).to(engine.device, engine.dtype)
        with model_errors():
            if engine.measuring:
                q = p.detach().clone().requires_grad_(True)
                with torch.enable_grad(), saved_bytes() as meter:
                    window_forward(engine.model, q, windows, engine.scale, split_tail)
                engine.record_memory(meter.bytes, q.shape[-1] * q.shape[-2], q.shape[0])
            with torch.inference_mode():
                y, local = window_forward(engine.model, p, windows, engine.scale, split_tail)
        if not (split_tail and splits_tail(engine.model)):
            engine.prepared.check_output_shape(y, p)
        if not bool(torch.isfinite(y).all()):
            raise InputError(f"the model returns NaN or Inf for {nonfinite} {start}..{stop - 1}; its weights may be "
                             "broken, or these inputs hold values it was not trained on")
        y = y.double()
        vals = torch.stack([fn(y, win).reshape(-1).double() for fn, win in zip(objectives, local)])
        if vals.shape[1] != stop - start:
            raise InputError(f"the objective must return one value per image of the batch ([N] for N = "
                             f"{stop - start}), got {vals.shape[1]} values")
        if out is None:
            out = torch.zeros(len(windows), total, dtype=torch.float64, device=engine.device)
        out[:, start:stop] = vals

    if pixels is None:
        if callable(inputs):
            raise InputError("forward_values: callable inputs need pixels= (LR pixels of one input) to size chunks")
        pixels = int(inputs.shape[-1] * inputs.shape[-2])
    run_chunks(total, run, cancel=cancel, on_chunk=on_chunk, chunk=lambda: forward_chunk(engine, pixels))
    if out is None:
        out = torch.zeros(len(windows), total, dtype=torch.float64, device=engine.device)
    return out


def objective_values(fn, y: torch.Tensor, window, n: int) -> torch.Tensor:
    """``fn(y, window)`` checked: a tensor of ``n`` values (or one, summed over the batch) -> ``[n]`` or ``[]``."""
    v = fn(y, window)
    if not isinstance(v, torch.Tensor) or v.numel() not in (1, n) or not v.is_floating_point():
        got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise InputError(f"the objective must return a float tensor [N] (one value per image of the batch of {n}), "
                         f"got {got}; write objective(sr [N, 3, sH, sW], window) -> [N]")
    return v


class LazyInputs:
    """``total`` LR inputs of shape ``image_shape`` built on demand: ``make(start, stop) -> [stop − start, 3, h, w]``
    (whole image). Pass one to :func:`input_gradients` / :meth:`srwidgets.attribution.WindowMethod.gradients` so that memory does not grow with ``total``."""

    def __init__(self, total: int, image_shape, make):
        self.total, self.image_shape, self.make = int(total), tuple(image_shape), make

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        return self.make(start, stop)


def input_gradients(engine, points, window, objective="gradient", *, box=None, weights=None, split_tail: bool = False,
                    callback=None, cancel=None, stage: str = "gradients") -> torch.Tensor:
    """Input gradients of the window objective, ``∇_x D(F(p))``, for LR inputs ``points``: the loop every gradient
    method shares (:meth:`srwidgets.attribution.WindowMethod.gradients` documents the arguments). Chunks sized by
    the engine's one memory meter (:func:`saved_bytes` on the first chunk), cancel before each, ``Progress(done, m,
    stage)`` after, the model's errors in plain words, NaN / Inf outputs refused, NaN gradients zeroed (LAM's
    convention), run under the model guard; on the LR ``box`` when given (gradients outside it are zero).

    Returns:
        float64 on the engine's device: ``[m, 3, h, w]``, or ``[3, h, w]`` with ``weights``.
    """
    fn = get_objective(objective)
    check_hooks(callback, cancel)
    lazy = isinstance(points, LazyInputs)
    if lazy:
        total, image_shape = points.total, points.image_shape
    else:
        total, image_shape = points.shape[0], tuple(points.shape[-2:])
    h, w = image_shape
    sh, sw = engine.scale * h, engine.scale * w
    local = clip_window(window, engine.scale, sh, sw, box)
    bh, bw = (box[2], box[3]) if box else (h, w)

    def crop(t):
        return t if box is None else t[..., box[0]:box[0] + box[2], box[1]:box[1] + box[3]]

    keep = weights is None
    out = torch.zeros((total, 3, bh, bw) if keep else (3, bh, bw), dtype=torch.float64, device=engine.device)

    def run(start, stop):
        p = crop(points(start, stop) if lazy else points[start:stop]).to(engine.device, engine.dtype)
        p = p.detach().requires_grad_(True)
        measuring = engine.measuring
        with model_errors(), torch.enable_grad(), (saved_bytes() if measuring else nullcontext()) as meter:
            y, (win,) = window_forward(engine.model, p, [local], engine.scale, split_tail)
            if not split_tail and tuple(y.shape[-2:]) != (engine.scale * p.shape[-2], engine.scale * p.shape[-1]):
                engine.prepared.check_output_shape(y, p)
            if not bool(torch.isfinite(y.detach()).all()):
                raise InputError(f"the model returns NaN or Inf for {stage} inputs {start}..{stop - 1}; its "
                                 "weights or these inputs may be broken (try another model or smaller noise)")
            (g,) = torch.autograd.grad(objective_values(fn, y.float(), win, p.shape[0]).sum(), p)
        if measuring:
            engine.record_memory(meter.bytes, p.shape[-1] * p.shape[-2], p.shape[0])
        g = torch.nan_to_num(g.double(), nan=0.0)  # sqrt's infinite derivative at 0, as LAM's authors do
        if keep:
            out[start:stop] = g
        else:
            wgt = weights(start, stop) if callable(weights) else crop(weights[start:stop])
            out.add_((g * wgt.to(engine.device, torch.float64)).sum(0))

    def report(done, total_):
        if callback is not None:
            callback(Progress(done, total_, stage))

    with guarded(engine.model):
        run_chunks(total, run, cancel=cancel, on_chunk=report,
                   chunk=lambda: engine.chunk(bh * bw))
    if box is None:
        return out
    if keep:
        full = torch.zeros(total, 3, h, w, dtype=torch.float64, device=engine.device)
        full[..., box[0]:box[0] + bh, box[1]:box[1] + bw] = out
        return full
    return paste(out, box, h, w).double().to(engine.device)
