"""Window objectives: the scalar ``D(F(x))`` a window-attribution method explains, one value per image.

An objective is a function ``objective(sr, window) -> [N]`` of an SR batch ``[N, 3, sH, sW]`` and a window
``(top, left, height, width)`` in SR pixels of ``sr`` (already clipped with
:func:`srwidgets.engine.windows.clip_window`). :data:`OBJECTIVES` names them; :func:`register_objective` adds one.

``"gradient"`` is LAM's local-gradient detector (Gu & Dong, CVPR 2021), the default of every method: what the
window's edges and textures depend on. ``"intensity"`` (the summed window values) asks instead what its
brightness depends on.

Example:
    >>> import torch
    >>> y = torch.zeros(1, 3, 8, 8); y[..., 4:, :] = 1.0        # one horizontal edge between rows 3 and 4
    >>> float(gradient_detector(y, (2, 0, 4, 4)))              # 3 channels x 4 columns of |1 - 0|
    12.0
    >>> float(OBJECTIVES["intensity"](y, (2, 0, 4, 4)))       # rows 4, 5 of 3 channels x 4 columns
    24.0
"""
from __future__ import annotations

from typing import Callable, Dict

import torch

from ..errors import InputError

__all__ = ["gradient_detector", "gradient_magnitude", "window_intensity", "OBJECTIVES", "register_objective",
           "get_objective"]

Objective = Callable[[torch.Tensor, tuple], torch.Tensor]


def gradient_magnitude(sr: torch.Tensor) -> torch.Tensor:
    """The local-gradient map ``G = sqrt(dv + dh)`` of an SR batch: ``[N, 3, sH, sW] -> [N, 3, sH − 1, sW − 1]``
    with ``dv = (Y[i] − Y[i+1])²`` (rows), ``dh = (Y[j] − Y[j+1])²`` (columns), forward differences."""
    dv = (sr[:, :, :-1, :] - sr[:, :, 1:, :]) ** 2
    dh = (sr[:, :, :, :-1] - sr[:, :, :, 1:]) ** 2
    return torch.sqrt(dv[:, :, :, :-1] + dh[:, :, :-1, :])


def gradient_detector(sr: torch.Tensor, window) -> torch.Tensor:
    """LAM's objective ``D``: :func:`gradient_magnitude` summed over channels and the window, one value per image.

    ``sr``: ``[N, 3, sH, sW]``; ``window`` ``(top, left, height, width)`` in SR pixels of ``sr``. Returns ``[N]``.
    (sqrt has an infinite derivative at 0: methods zero NaN gradients, as the LAM authors do.)
    """
    top, left, height, width = window
    return gradient_magnitude(sr)[:, :, top:top + height, left:left + width].sum(dim=(1, 2, 3))


def window_intensity(sr: torch.Tensor, window) -> torch.Tensor:
    """The window's summed values over channels: ``[N, 3, sH, sW] -> [N]`` (what its brightness depends on)."""
    top, left, height, width = window
    return sr[:, :, top:top + height, left:left + width].sum(dim=(1, 2, 3))


OBJECTIVES: Dict[str, Objective] = {"gradient": gradient_detector, "intensity": window_intensity}
"""Objective names -> functions ``(sr [N, 3, sH, sW], window) -> [N]``; ``"gradient"`` is LAM's and the default."""


def register_objective(name: str, objective: Objective) -> Objective:
    """Add ``objective(sr, window) -> [N]`` under ``name`` (then ``objective=name`` works for every method)."""
    if not isinstance(name, str) or not name or not callable(objective):
        raise InputError("register_objective(name, objective) needs a non-empty name and a callable "
                         "objective(sr [N, 3, sH, sW], window) -> [N]")
    OBJECTIVES[name] = objective
    return objective


def get_objective(objective) -> Objective:
    """A name of :data:`OBJECTIVES` or a callable -> the callable."""
    if callable(objective):
        return objective
    if isinstance(objective, str) and objective in OBJECTIVES:
        return OBJECTIVES[objective]
    raise InputError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)} (or pass a callable "
                     "objective(sr, window) -> [N])")
