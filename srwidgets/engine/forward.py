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

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import InputError
from .chunks import run_chunks
from .memory import saved_bytes
from .prepare import model_errors
from .windows import tail_region

__all__ = ["window_forward", "splits_tail", "forward_values", "forward_chunk"]


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
