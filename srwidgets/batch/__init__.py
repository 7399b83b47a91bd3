"""Window attribution at dataset scale: the Diffusion Index of many windows × images × models as one table, and
the DI atlas. Any member of the window-attribution family (``method=``; LAM by default).

* :func:`di_table` — one row per model × image × window (method, DI, Gini, window, crop, seconds, and the model's
  PSNR/SSIM on the image when an HR reference exists), written to a CSV / Parquet file **as it goes**, so an
  interrupted run resumes where it stopped. Backends: ``"local"`` (in this process) or ``"ray"`` (Ray tasks on a
  local Ray instance or an existing cluster); both run the same function on the same inputs, so they give the
  same numbers.
* :func:`di_atlas` — the DI of every window of one image on a stride: where the network reaches far and where it
  stays local.
* :func:`pick_windows` — the windows ``"grid:N"`` and ``"edges:N"`` stand for.

Coordinates: windows are ``(top, left, size)`` squares in **SR pixels** (the model's output grid; with
``downsample=True`` that is the HR image's grid); ``crop`` is the LR box ``"top,left,height,width"`` the network ran
on (``""``: the whole image). With ``method="lam"`` every number comes from
:meth:`srwidgets.lam.LAM.attribute_many` (the windows of one image in one call, so nearby windows share their
forward passes): a row equals ``LAM(model).attribute(image, window, ...)``; with another method a row equals
``srwidgets.attribute(model, image, window, method, ...)``.

Modules: :mod:`~srwidgets.batch.runner` (di_table, the window specs, the task plan and the local loop),
:mod:`~srwidgets.batch.inputs` (the images, their HR references, each task's inputs),
:mod:`~srwidgets.batch.task` (one task's rows, for every method), :mod:`~srwidgets.batch.ray_backend`,
:mod:`~srwidgets.batch.sink` (the table file and the resume checks), :mod:`~srwidgets.batch.atlas`.

Example:
    >>> import torch
    >>> from srwidgets.batch import di_table
    >>> from srwidgets.models import build
    >>> _ = torch.manual_seed(0)
    >>> model = build("EDSR", num_feat=8, num_block=1, upscale=2)
    >>> image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> table = di_table({"edsr": model}, [image], windows=[(0, 0, 8), (16, 16, 8)], steps=4, progress=False)
    >>> table[["model", "image", "top", "left", "size"]].values.tolist()
    [['edsr', 0, 0, 0, 8], ['edsr', 0, 16, 16, 8]]
"""
from .atlas import DIAtlas, di_atlas
from .runner import BACKENDS, di_table, pick_windows
from .sink import COLUMNS

__all__ = ["di_table", "di_atlas", "DIAtlas", "pick_windows", "COLUMNS", "BACKENDS"]
