"""The DI atlas: the Diffusion Index of every window of one image on a stride, what the LAM widget's atlas view
draws (:class:`srwidgets.widgets.LAMWidget`, ``atlas=True``) and :func:`srwidgets.viz.atlas_figure` plots.

Windows are ``size × size`` squares with top-left corners on a ``stride`` grid, in SR pixels; the atlas is one
:func:`srwidgets.batch.di_table` call, so it runs on Ray too and with any window-attribution method.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
import torch

from ..engine import check_int, check_steps
from ..engine.inputs import check_flag
from ..errors import InputError
from ..progress import CancelLike, ProgressCallback
from .inputs import lr_and_reference, read_image
from .runner import di_table
from ..attribution.knobs import window_grid


def _atlas_grid(method, knobs: dict, scale: int) -> int:
    """The block grid (SR px) of ``method``'s windows, 0 for any window; a bad method or block is left for
    :func:`di_table` to refuse in its words."""
    from ..attribution import members

    cls = members().get(method) if isinstance(method, str) else None
    try:
        return window_grid(cls, knobs, [scale]) if cls is not None else 0
    except InputError:
        return 0


@dataclass
class DIAtlas:
    """The DI of every ``size × size`` window on a ``stride`` (SR pixels) over one image.

    ``di[i, j]`` (and ``gini``) belongs to the window ``(tops[i], lefts[j], size)``; ``np.asarray(atlas)`` is
    ``di``. ``image`` is the LR input ``[3, h, w]`` in [0, 1], ``scale`` the model's (SR grid ``s·h × s·w``).
    """

    di: np.ndarray  # [R, C]
    gini: np.ndarray  # [R, C]
    tops: np.ndarray  # [R] SR px
    lefts: np.ndarray  # [C] SR px
    size: int
    stride: int
    scale: int
    image: torch.Tensor
    model: str
    table: Any  # the di_table rows it was built from

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.di, dtype=dtype)

    def window(self, row: int, col: int) -> Tuple[int, int, int]:
        """The ``(top, left, size)`` window (SR px) of cell ``(row, col)``."""
        return int(self.tops[row]), int(self.lefts[col]), self.size

    def cell(self, y: float, x: float) -> Tuple[int, int]:
        """The cell whose window is centred nearest to SR pixel ``(y, x)`` (what a click on the map selects)."""
        return (int(np.abs(self.tops + self.size / 2 - y).argmin()),
                int(np.abs(self.lefts + self.size / 2 - x).argmin()))


def di_atlas(model, image, stride: int = 8, size: int = 16, steps: int = 50, sigma: float = 1.2,
             kernel_size: int = 9, path: str = "blur", *, downsample: bool = False, backend: str = "local",
             address: Optional[str] = None, workers: int = 2, device=None, windows_per_task: Optional[int] = None,
             progress: bool = True, callback: ProgressCallback = None, cancel: CancelLike = None,
             method: str = "lam", hr=None, **method_knobs) -> DIAtlas:
    """The DI of every ``size × size`` window with top-left corners on a ``stride`` grid (SR pixels) of one image.

    Windows start at 0 and step by ``stride`` while they fit (``R = (sH − size) // stride + 1`` rows, likewise
    columns). Computed with :func:`di_table` (so on Ray too: there the windows are split into a few tasks per
    worker). ``model``: an ``nn.Module`` or a zoo name; ``image``: LR ``[3, h, w]`` in [0, 1] (HR with
    ``downsample=True``). ``windows_per_task``: windows per task (and so per progress report); default: all in one
    task locally, a few tasks per worker on Ray. ``method`` and ``**method_knobs``: any window-attribution member
    (:func:`srwidgets.attribution.methods`), as :func:`di_table` runs it. ``method="cem"`` needs the HR image
    (``downsample=True``, or ``hr=`` ``[3, s·h, s·w]``) and windows on its block grid: ``stride`` and ``size`` must
    be multiples of ``block`` (8 SR px by default). Other arguments as :func:`di_table`.

    Example:
        >>> import torch
        >>> from srwidgets.models import build
        >>> _ = torch.manual_seed(0)
        >>> m = build("EDSR", num_feat=8, num_block=1, upscale=2)
        >>> atlas = di_atlas(m, torch.rand(3, 12, 12), stride=16, size=8, steps=2, progress=False)
        >>> atlas.di.shape, atlas.window(1, 0)          # SR grid 24x24: window corners 0 and 16
        ((2, 2), (16, 0, 8))
    """
    from ..models import infer_scale
    from ..zoo.lookup import named_models

    stride = check_int("stride", stride, 1, " (SR pixels)")
    size = check_int("size", size, 2, " (SR pixels; the paper uses 16)")
    steps = check_steps(steps, hint=" (the paper uses 50)")
    downsample = check_flag("downsample", downsample)
    named = named_models(model if isinstance(model, dict) else [model])
    if len(named) != 1:
        raise InputError(f"di_atlas maps one model, got {len(named)}; call it once per model")
    (name, net), = named.items()
    scale = infer_scale(net)
    x = read_image(0, os.fspath(image) if isinstance(image, (str, os.PathLike)) else "", image)
    lr, _, ref = lr_and_reference(x, scale, downsample, scale)
    sh, sw = ref.shape[-2:]
    if size > min(sh, sw):
        raise InputError(f"atlas windows of {size} SR pixels do not fit the SR grid {sh}x{sw}")
    block = _atlas_grid(method, method_knobs, scale)
    if block and (stride % block or size % block):  # a block-grid member (CEM): every atlas window on its grid
        near = max(block, stride // block * block), max(block, size // block * block)
        raise InputError(f"method={method!r} needs atlas windows on its block grid: stride={stride} and size={size} "
                         f"must be multiples of block={block} (SR pixels); e.g. stride={near[0]}, size={near[1]}")
    tops, lefts = np.arange(0, sh - size + 1, stride), np.arange(0, sw - size + 1, stride)
    windows = [(int(t), int(l), size) for t in tops for l in lefts]
    per_task = windows_per_task
    if per_task is None and backend == "ray":
        per_task = -(-len(windows) // (4 * max(1, workers)))
    table = di_table({name: net}, [x], windows, steps, sigma, kernel_size, path, backend, address,
                     downsample=downsample, workers=workers, device=device, windows_per_task=per_task,
                     progress=progress, callback=callback, cancel=cancel, method=method,
                     hr=None if hr is None else [hr], **method_knobs)
    shape = (len(tops), len(lefts))
    return DIAtlas(di=table["di"].to_numpy().reshape(shape), gini=table["gini"].to_numpy().reshape(shape),
                   tops=tops, lefts=lefts, size=size, stride=stride, scale=scale, image=lr.float(), model=name,
                   table=table)
