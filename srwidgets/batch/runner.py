"""The DI table's runner: :func:`di_table` (checks, window lists, the task plan, the local task loop) and the
window specs ``"grid:N"`` / ``"edges:N"`` (:func:`pick_windows`).

Coordinates: windows are ``(top, left, size)`` squares in **SR pixels** (the model's output grid; with
``downsample=True`` that is the HR image's grid); ``crop`` is the LR box ``"top,left,height,width"`` the network ran
on (``""``: the whole image). A task is one model × one image × its windows; :func:`srwidgets.batch.task.rows`
computes it (locally here, or on Ray by :mod:`srwidgets.batch.ray_backend`), :mod:`srwidgets.batch.sink` writes it.

Example:
    >>> import torch
    >>> from srwidgets.batch import di_table
    >>> from srwidgets.models import build
    >>> _ = torch.manual_seed(0)
    >>> model = build("EDSR", num_feat=8, num_block=1, upscale=2)
    >>> image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> table = di_table({"edsr": model}, [image], windows=[(0, 0, 8), (16, 16, 8)], steps=4, progress=False)
    >>> table[["model", "method", "image", "top", "left", "size"]].values.tolist()
    [['edsr', 'lam', 0, 0, 0, 8], ['edsr', 'lam', 0, 16, 16, 8]]
    >>> g = di_table({"edsr": model}, [image], windows=[(0, 0, 8)], method="gradient", progress=False)
    >>> g.method.tolist(), bool(g.di[0] > 0)
    (['gradient'], True)
"""
from __future__ import annotations

import hashlib
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..engine import check_choice, check_int, check_number, check_steps, image_digest, run_chunks
from ..engine.inputs import check_flag
from ..errors import InputError
from ..engine.objectives import gradient_magnitude
from ..engine.windows import validate_window
from ..progress import CancelLike, Progress, ProgressCallback
from .inputs import image_sources, load_hr, load_images, lr_and_reference, task_inputs
from .ray_backend import run_tasks
from .sink import COLUMNS, Sink, check_out, frame
from ..attribution.knobs import window_grid
from .task import canonical_settings, resolve_method, rows as task_rows

__all__ = ["di_table", "pick_windows", "BACKENDS", "COLUMNS"]

BACKENDS = {"local": "in this process, one (model, image) after the other",
            "ray": "Ray tasks, one per (model, image): a local Ray instance, or address= for an existing cluster"}
_FORMAT_VERSION = 1  # of the settings sidecar; a change in how rows are computed bumps it (LAM's rows: unchanged)


# -- windows ----------------------------------------------------------------------------------------------------
def pick_windows(reference: torch.Tensor, spec: str, size: int = 16) -> List[Tuple[int, int, int]]:
    """The ``(top, left, size)`` windows (SR pixels) that ``spec`` stands for on an SR-grid image.

    * ``"grid:N"``: ``N`` windows on a regular ``r × c`` grid (``r·c = N``, the factor pair closest to the image's
      aspect ratio), centred in equal cells;
    * ``"edges:N"``: the ``N`` windows with the most local-gradient energy (the sum of LAM's objective map
      ``G = sqrt(dv + dh)`` over the window, :func:`srwidgets.lam.engine.gradient_magnitude`) among candidates on
      a ``size // 4`` stride, greedily, non-overlapping while the image has room (then the next best, overlapping).
      Ties go to the top-left-most window, so the choice is deterministic.

    Args:
        reference: ``[3, sH, sW]`` in [0, 1] on the SR grid (the HR image, or the LR image upsampled; the same for
            every model, so their rows compare window by window).
        spec: ``"grid:N"`` or ``"edges:N"``.
        size: window side in SR pixels (the paper uses 16).

    Example:
        >>> img = torch.zeros(3, 32, 32); img[:, 20:, 20:] = 1.0     # a bright corner: G > 0 on row 19 and column 19
        >>> pick_windows(img, "edges:1", 8)
        [(18, 18, 8)]
        >>> pick_windows(img, "grid:4", 8)
        [(4, 4, 8), (4, 20, 8), (20, 4, 8), (20, 20, 8)]
    """
    kind, n = _parse_spec(spec)
    size = check_int("window_size", size, 2, " (SR pixels; the paper uses 16)")
    if not isinstance(reference, torch.Tensor) or reference.dim() not in (3, 4) or reference.shape[-3] != 3:
        raise InputError("pick_windows needs the SR-grid image as a [3, sH, sW] tensor, got "
                         + (f"shape {tuple(reference.shape)}" if isinstance(reference, torch.Tensor)
                            else type(reference).__name__))
    sh, sw = reference.shape[-2:]
    if size > min(sh, sw):
        raise InputError(f"windows of {size} SR pixels do not fit an SR grid of {sh}x{sw}; use window_size <= "
                         f"{min(sh, sw)}")
    if kind == "grid":
        tops, lefts = _grid(n, sh, sw, size)
        return [(t, l, size) for t in tops for l in lefts]
    # edges: the window sums of G (cut to (sH − 1) × (sW − 1) exactly as LAM's objective reads it)
    g = gradient_magnitude(reference.detach().double().cpu()[None])[0].sum(0)
    g = F.pad(g, (0, 1, 0, 1))
    energy = F.avg_pool2d(g[None, None], size, stride=1)[0, 0] * (size * size)
    stride = max(1, size // 4)
    tops = sorted(set(range(0, sh - size + 1, stride)) | {sh - size})
    lefts = sorted(set(range(0, sw - size + 1, stride)) | {sw - size})
    cand = np.array([(t, l) for t in tops for l in lefts])
    e = energy.numpy()[cand[:, 0], cand[:, 1]]
    order = np.lexsort((cand[:, 1], cand[:, 0], -e))  # most energy first, then top-left-most
    if n > len(order):
        raise InputError(f"{spec!r}: an SR grid of {sh}x{sw} has only {len(order)} candidate windows of {size} px "
                         f"(stride {stride}); ask for fewer")
    picked: List[int] = []
    for k in order:  # non-overlapping first
        if all(abs(cand[k, 0] - cand[p, 0]) >= size or abs(cand[k, 1] - cand[p, 1]) >= size for p in picked):
            picked.append(k)
            if len(picked) == n:
                break
    picked += [k for k in order if k not in set(picked)][:n - len(picked)]
    return [(int(cand[k, 0]), int(cand[k, 1]), size) for k in picked]


def _grid_shape(n: int, sh: int, sw: int) -> Tuple[int, int]:
    """``(rows, cols)`` of ``"grid:n"``: the factor pair of ``n`` closest to the aspect ratio ``sH / sW``."""
    pairs = [p for r in range(1, math.isqrt(n) + 1) if n % r == 0 for p in ((r, n // r), (n // r, r))]
    return min(pairs, key=lambda p: (abs(math.log(p[0] / p[1]) - math.log(sh / sw)), p[0]))


def _grid_axes(n: int, sh: int, sw: int, size: int) -> Tuple[List[int], List[int]]:
    """The window tops and lefts of ``"grid:n"``: the ``r × c = n`` factor pair closest to the aspect ratio, each
    window centred in its cell and moved inside the image near the borders (so two cells may share a window)."""
    rows, cols = _grid_shape(n, sh, sw)
    tops = [min(sh - size, max(0, round((i + 0.5) * sh / rows - size / 2))) for i in range(rows)]
    lefts = [min(sw - size, max(0, round((j + 0.5) * sw / cols - size / 2))) for j in range(cols)]
    return tops, lefts


_GRID_SEARCH = 5000  # how many smaller N are tried to suggest a grid without repeated windows


def _grid(n: int, sh: int, sw: int, size: int) -> Tuple[List[int], List[int]]:
    """:func:`_grid_axes`, refused (with the largest ``N`` that works) when two cells would share a window: the
    table never holds the same window twice for one image."""
    fit = (sh - size + 1) * (sw - size + 1)  # every position a window of this size can take
    distinct = None
    if n <= fit:
        tops, lefts = _grid_axes(n, sh, sw, size)
        distinct = len(set(tops)) * len(set(lefts))
        if distinct == n:
            return tops, lefts
    # A grid's rows are distinct only while the first two cells' windows are not both moved to the top, i.e. for
    # fewer than about 3·sH / size rows (columns likewise): larger shapes are skipped without building them.
    most_rows, most_cols = int(3 * sh / (size + 1) + 2), int(3 * sw / (size + 1) + 2)

    def distinct_grid(m):
        rows, cols = _grid_shape(m, sh, sw)
        if rows > most_rows or cols > most_cols:
            return False
        tops, lefts = _grid_axes(m, sh, sw, size)
        return len(set(tops)) * len(set(lefts)) == m

    first = min(n - 1, fit, most_rows * most_cols)
    best = next((m for m in range(first, max(0, first - _GRID_SEARCH), -1) if distinct_grid(m)), None)
    found = (f"only {distinct:,} of its {n:,} windows are distinct (cells near the border share the window moved "
             "inside the image)" if distinct is not None else f"only {fit:,} windows of that size fit at all")
    fewer = f"ask for at most 'grid:{best}'" if best is not None else "ask for fewer"
    raise InputError(f"'grid:{n}' on an SR grid of {sh}x{sw} with {size} px windows: {found}, and a table never "
                     f"repeats a window; {fewer}, or use a smaller window_size")


def _parse_spec(spec: str) -> Tuple[str, int]:
    if not isinstance(spec, str):
        raise InputError(f"windows must be 'grid:N', 'edges:N' or a list of (top, left, size) in SR pixels, got "
                         f"{spec!r}")
    kind, _, count = spec.partition(":")
    if kind not in ("grid", "edges") or not count.strip().isdigit() or int(count) < 1:
        raise InputError(f"windows {spec!r} not understood: use 'grid:N' or 'edges:N' (N >= 1), or a list of "
                         "(top, left, size) in SR pixels")
    return kind, int(count)


def _explicit_windows(windows) -> List[Tuple[int, int, int]]:
    """A list of ``(top, left, size)`` (or square ``(top, left, h, w)``) checked for form, not yet for fit."""
    if isinstance(windows, np.ndarray) and windows.ndim == 2 and windows.shape[1] in (3, 4):
        windows = windows.tolist()  # an [N, 3] array of windows: its rows, as Python ints
    if isinstance(windows, (str, bytes)) or not isinstance(windows, Sequence) or not len(windows):
        raise InputError(f"windows must be 'grid:N', 'edges:N' or a non-empty list of (top, left, size) in SR pixels, "
                         f"got {windows!r}")
    out = []
    for win in windows:
        top, left, height, width = validate_window(win, 1 << 30, 1 << 30)  # the form only; the fit per image below
        if height != width:
            raise InputError(f"window {tuple(win)} is not square: di_table windows are (top, left, size) squares")
        out.append((top, left, height))
    return list(dict.fromkeys(out))


def _snap(windows, block: int) -> List[Tuple[int, int, int]]:
    """``(top, left, size)`` windows (SR px) moved onto a member's block grid (CEM's): corners down to multiples of ``block``,
    sides down to a multiple (at least ``block``); the snapped windows stay inside the image, duplicates dropped."""
    return list(dict.fromkeys((t // block * block, l // block * block, max(block, s // block * block))
                              for t, l, s in windows))


def _on_block_grid(windows, block: int, method: str) -> List[Tuple[int, int, int]]:
    """Explicit windows for a block-grid member (``block_grid``: CEM), refused (with the snapped window to use)
    unless on its grid."""
    for win in windows:
        if any(v % block for v in win):
            raise InputError(f"window {win} (top, left, size in SR pixels) is not on the block grid of "
                             f"method={method!r}: it works on whole blocks of block={block} SR px, so top, left and "
                             f"size must be multiples of it; e.g. {_snap([win], block)[0]} (windows='edges:N' / "
                             "'grid:N' are snapped to it)")
    return windows


# -- models ------------------------------------------------------------------------------------------------------
def _model_digest(model) -> str:
    """A digest of the weights and buffers (names, shapes, bytes), stable across processes."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(f"{name}{image_digest(t)}".encode())
    return h.hexdigest()


# -- the table ----------------------------------------------------------------------------------------------------
def di_table(models, images, windows="edges:8", steps: int = 50, sigma: float = 1.2, kernel_size: int = 9,
             path: str = "blur", backend: str = "local", address: Optional[str] = None, out=None, *,
             downsample: bool = False, window_size: int = 16, on_error: str = "stop", workers: int = 2,
             device=None, chunk_size: Optional[int] = None, windows_per_task: Optional[int] = None,
             progress: bool = True, callback: ProgressCallback = None, cancel: CancelLike = None,
             method: str = "lam", hr=None, **method_knobs):
    """The Diffusion Index of windows × images × models, as a pandas DataFrame (and a file, written as it goes).

    Any window-attribution method (``method=``, :func:`srwidgets.attribution.methods`): every row is that member's
    map of one window (``srwidgets.attribute(model, lr, window, method, **method_knobs)``). ``"lam"`` (the default)
    runs :meth:`srwidgets.lam.LAM.attribute_many` on the windows of an image together, exactly as before other
    methods existed; ``"cem"`` runs :meth:`srwidgets.cem.CEM.attribute_many` (every window of an image scored from
    one batch of interventions) and needs HR images (``downsample=True``, or ``hr=``).

    Args:
        models: a dict name -> ``nn.Module`` or zoo name (or a list / one model: named as
            :func:`srwidgets.zoo.lookup.named_models` does). Models of different scales need HR images and
            ``downsample=True`` (then every model works on the same HR grid); with LR images, call once per scale.
        images: LR images ``[3, h, w]`` float in [0, 1] (tensors, ``H × W × 3`` arrays, files or bundled names) in a
            list, or a folder of image files (name order). With ``downsample=True`` they are HR images: each is
            cropped to a multiple of the scales and down-sampled by the model's scale with Pillow's 8-bit bicubic
            resize (:func:`srwidgets.degrade.pil_bicubic`, as :func:`srwidgets.data.lr_image`: the papers'
            setting; a float image is rounded to 8 bits first), and it is the reference for PSNR/SSIM.
        windows: ``(top, left, size)`` squares in SR pixels applied to every image (each must fit every image),
            ``"grid:N"`` or ``"edges:N"`` (:func:`pick_windows`, on the HR image or, without one, the LR image
            upsampled bicubically: the same windows for every model).
            For ``method="cem"``, ``"grid:N"`` / ``"edges:N"`` windows are **snapped to CEM's block grid** (``block``
            SR px, 8 by default): corners down to multiples of ``block``, the size down to one (at least ``block``);
            explicit windows must already lie on it.
        steps, sigma, kernel_size, path: LAM's settings (:meth:`srwidgets.lam.LAM.attribute`); ``steps``, ``sigma``
            and ``kernel_size`` also go to any member whose ``attribute`` takes them (``"ig"``); ``path`` is LAM's.
        method: a member name (``"lam"``, ``"ig"``, ``"gradient"``, ``"erf"``, ``"smoothgrad"``, ``"cem"``, or one
            registered with :func:`srwidgets.attribution.register`). Unknown names, and knobs the member does not
            take, are an :class:`InputError` before anything runs.
        **method_knobs: the member's options (``baseline="blurred"`` for ig, ``inner=``/``samples=``/``seed=`` for
            smoothgrad, ``block=``/``coarse=``/``fine=``/``seed=`` for cem; for lam ``seed``, ``noise_std``,
            ``num_baselines`` of its random paths). They and the method are part of the settings a resumed table
            is checked against.
        hr: the HR references of LR ``images`` (a list or folder in the same order, each ``scale`` times its LR
            image): PSNR/SSIM in the table, CEM's ground truth, and the image ``"edges:N"`` / ``"grid:N"`` pick
            windows on. Not with ``downsample=True`` (the images are the HR references then).
        backend: ``"local"`` or ``"ray"`` (:data:`BACKENDS`; ``pip install "srwidgets[ray]"``).
        address: Ray only: ``None`` starts a local Ray instance with ``workers`` CPUs (and stops it afterwards);
            ``"auto"``, ``"host:6379"`` or ``"ray://host:10001"`` joins a running cluster (an address that does not
            answer within 5 s is an :class:`InputError`, before anything is computed). Nodes need srwidgets
            installed; tasks get one GPU each when the cluster has GPUs.
        out: ``.csv`` or ``.parquet`` file. Rows are written as each (model, image) finishes, with the settings in
            ``<out>.json``; running again with the same ``out`` skips the rows already there (a different setting,
            or other weights / pixels under a name / index already in the table, is refused).
        window_size: side in SR pixels of ``"grid:N"`` / ``"edges:N"`` windows.
        on_error: an unreadable image file: ``"stop"`` (raise) or ``"skip"`` (warn, listing the files skipped).
        workers: CPUs of a local Ray instance.
        device: where the local backend runs (default: CUDA when available).
        chunk_size: path evaluations per batch (:class:`srwidgets.lam.LAM`); the default adapts to the device
            (on CUDA to its free memory, so the last float32 bits may differ between runs: fix it for bit-equal
            tables across machines).
        windows_per_task: split the windows of one image into tasks of at most this many (default: one task per
            model and image, so all its windows share forward passes).
        progress: show a tqdm progress bar (notebook-aware).
        callback: called after each (model, image) task with ``Progress(done, total, "di_table", partial=rows)``:
            windows done / to do in this run, ``rows`` the new rows (dicts).
        cancel: token, event or callable; checked between tasks (and, locally, within LAM's chunks): raises
            :class:`~srwidgets.errors.Cancelled`, the rows finished so far already written.

    Returns:
        DataFrame, one row per model × image × window (model order, image order, window order), columns
        :data:`COLUMNS`: ``model``, ``method``, ``image`` (index in the list / folder), ``file``, ``scale``, ``top``,
        ``left``,
        ``size`` (SR px), ``di``, ``gini``, ``crop`` (LR box the network ran on, ``""`` = whole image),
        ``seconds`` (per window), ``psnr``, ``ssim`` (Y channel, ``scale`` px shaved; NaN without HR).
    """
    from ..lam import PATHS
    from ..models import infer_scale
    from ..zoo.lookup import named_models

    steps = check_steps(steps, hint=" (the paper uses 50)")
    sigma = check_number("sigma", sigma, 0.0, " (the paper uses 1.2)")
    kernel_size = check_int("kernel_size", kernel_size, 1, " (odd; the paper uses 9)")
    path = check_choice("path", path, PATHS)
    if path in ("blur", "blurred") and kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {kernel_size}")
    backend = check_choice("backend", backend, BACKENDS)
    downsample = check_flag("downsample", downsample)
    out = check_out(out, images)
    on_error = check_choice("on_error", on_error, ["stop", "skip"])
    if windows_per_task is not None:
        windows_per_task = check_int("windows_per_task", windows_per_task, 1, " or None")
    if address is not None and backend != "ray":
        raise InputError("address= is for backend='ray'")
    named = named_models(models)
    scales = {name: infer_scale(m) for name, m in named.items()}
    if len(set(scales.values())) > 1 and not downsample:
        by = "; ".join(f"x{s}: {', '.join(n for n in named if scales[n] == s)}" for s in sorted(set(scales.values())))
        raise InputError(f"the models have different scales ({by}): on LR images their SR grids differ, so the same "
                         "window means different things and their DIs do not compare. Call di_table once per scale, "
                         "or pass HR images with downsample=True (each model then sees the HR image reduced by its "
                         "own scale, and windows are on the HR grid)")
    crop_to = math.lcm(*scales.values())
    spec = windows if isinstance(windows, str) else None
    fixed = None if spec is not None else _explicit_windows(windows)
    if spec is not None:
        _parse_spec(spec)
    window_size = check_int("window_size", window_size, 2, " (SR pixels; the paper uses 16)")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, 1, " or None")
    method, cls, knobs, record = resolve_method(method, method_knobs, steps, sigma, kernel_size, path)
    if hr is not None and downsample:
        raise InputError("hr= is for LR images; with downsample=True the images are the HR references: drop hr=")
    if getattr(cls, "needs_hr", False) and hr is None and not downsample:
        raise InputError(f"method={method!r} compares each window with the HR image: pass HR images with "
                         "downsample=True, or hr= (one HR reference per LR image, scale times its size)")
    block = window_grid(cls, knobs, scales.values()) or None  # a block_grid member (CEM): windows on its grid
    fixed = fixed if fixed is None or block is None else _on_block_grid(fixed, block, method)
    settings = dict(method=method, knobs=record, downsample=bool(downsample),
                    windows=spec if spec is not None else [list(w) for w in fixed],
                    window_size=window_size if spec is not None else None, chunk_size=chunk_size,
                    version=_FORMAT_VERSION)

    # Everything is checked before anything is computed: images, windows, the output file, the cluster.
    imgs, pixels = load_images(images, on_error)
    hr_pixels = {} if hr is None else load_hr(hr, imgs, len(image_sources(images)), crop_to, pixels)
    window_lists: Dict[Tuple[int, int], list] = {}
    for img in imgs:
        for s in sorted(set(scales.values())):
            _, _, ref = lr_and_reference(pixels[img.index], s, downsample, crop_to, hr_pixels.get(img.index))
            if fixed is None:
                picked = pick_windows(ref, spec, window_size)
                window_lists[img.index, s] = picked if block is None else _snap(picked, block)
                continue
            for win in fixed:
                try:
                    validate_window(win, *ref.shape[-2:])
                except InputError as e:
                    raise InputError(f"window {win} does not fit image {img.index}"
                                     f"{f' ({img.file})' if img.file else ''}: {e}") from None
            window_lists[img.index, s] = fixed
    plan = [(name, img, window_lists[img.index, scales[name]]) for name in named for img in imgs]
    state = dict(settings=settings, models={n: _model_digest(m) for n, m in named.items()},
                 images={str(i.index): image_digest(pixels[i.index])[2]
                         + (f" hr {image_digest(hr_pixels[i.index])[2]}" if i.index in hr_pixels else "")
                         for i in imgs})
    del pixels, hr_pixels
    sink = Sink(out, state, canonical=canonical_settings)

    # A (model, image) with a window missing is computed again whole (its rows found are dropped): rows then
    # always come from the same attribute_many calls, whether the run was interrupted or not.
    tasks, stale = [], []
    for name, img, wins in plan:
        keys = [(name, img.index, *w) for w in wins]
        if all(k in sink.rows for k in keys):
            continue
        stale += [k for k in keys if k in sink.rows]
        step = windows_per_task or len(wins)
        tasks += [(name, img, wins[k:k + step]) for k in range(0, len(wins), step)]
    sink.drop(stale)
    total = sum(len(t[2]) for t in tasks)
    bar = _bar(total, progress, backend)
    done = 0

    def finished(records):
        nonlocal done
        sink.write(records)
        done += len(records)
        bar.update(len(records))
        if callback is not None:
            callback(Progress(done, total, "di_table", partial=records,
                              info={"model": records[0]["model"], "image": records[0]["image"]}))

    try:
        if tasks and backend == "local":
            _run_local(tasks, named, scales, settings, crop_to, device, finished, cancel, cls, knobs)
        elif tasks:
            run_tasks(tasks, named, scales, settings, crop_to, address, workers, finished, cancel, cls, knobs)
    finally:
        bar.close()
    return frame([sink.rows[(name, img.index, *w)] for name, img, wins in plan for w in wins])


def _bar(total: int, progress: bool, backend: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"DI table ({backend})", unit="window", disable=not progress or total == 0)


def _run_local(tasks, named, scales, settings, crop_to, device, finished, cancel, cls=None, knobs=None) -> None:
    def run(start, stop):
        for name, img, wins in tasks[start:stop]:
            lr, hr = task_inputs(img, scales[name], settings["downsample"], crop_to)
            finished(task_rows(named[name], lr, hr, wins, settings,
                               dict(model=name, image=img.index, file=img.file, scale=scales[name]), device, cancel,
                               cls, knobs))

    run_chunks(len(tasks), run, cancel=cancel)
