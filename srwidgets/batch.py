"""LAM at dataset scale: the Diffusion Index of many windows × images × models as one table, and the DI atlas.

* :func:`di_table` — one row per model × image × window (DI, Gini, window, crop, seconds, and the model's
  PSNR/SSIM on the image when an HR reference exists), written to a CSV / Parquet file **as it goes**, so an
  interrupted run resumes where it stopped. Backends: ``"local"`` (in this process) or ``"ray"`` (Ray tasks on a
  local Ray instance or an existing cluster); both run the same function on the same inputs, so they give the
  same numbers.
* :func:`di_atlas` — the DI of every window of one image on a stride: where the network reaches far and where it
  stays local.
* :func:`pick_windows` — the windows ``"grid:N"`` and ``"edges:N"`` stand for.

Coordinates: windows are ``(top, left, size)`` squares in **SR pixels** (the model's output grid; with
``downsample=True`` that is the HR image's grid); ``crop`` is the LR box ``"top,left,height,width"`` the network ran
on (``""``: the whole image). Every number comes from :meth:`srwidgets.lam.LAM.attribute_many` (the windows of one
image in one call, so nearby windows share their forward passes): a row equals ``LAM(model).attribute(image,
window, ...)``.

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
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .engine import (check_choice, check_int, check_number, check_output, check_steps, image_digest, image_tensor,
                     run_chunks)
from .errors import InputError
from .lam.engine import gradient_magnitude
from .lam.geometry import validate_window
from .progress import CancelLike, Progress, ProgressCallback, check_cancel

__all__ = ["di_table", "di_atlas", "DIAtlas", "pick_windows", "COLUMNS", "BACKENDS"]

COLUMNS = ["model", "image", "file", "scale", "top", "left", "size", "di", "gini", "crop", "seconds", "psnr", "ssim"]
"""The table's columns, in order (``psnr``/``ssim``: NaN without an HR reference; ``file``: ``""`` for tensors)."""
_TYPES = {"model": str, "image": int, "file": str, "scale": int, "top": int, "left": int, "size": int, "di": float,
          "gini": float, "crop": str, "seconds": float, "psnr": float, "ssim": float}
_KEY = ["model", "image", "top", "left", "size"]
BACKENDS = {"local": "in this process, one (model, image) after the other",
            "ray": "Ray tasks, one per (model, image): a local Ray instance, or address= for an existing cluster"}
_FORMAT_VERSION = 1  # of the settings sidecar; a change in how rows are computed bumps it
_CONNECT_TIMEOUT = 5.0  # seconds to wait for a Ray cluster address to answer


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


# -- images and models -------------------------------------------------------------------------------------------
@dataclass
class _Image:
    index: int
    file: str  # "" for tensors
    pixels: Optional[torch.Tensor]  # float64 [3, H, W] when given in memory; files are read again when needed


def _image_sources(images) -> List[Tuple[int, str, Any]]:
    """``(index, file, source)`` for a folder (image files in name order), one path, a tensor or a list."""
    from .data import image_files

    if isinstance(images, (str, os.PathLike)) and os.path.isdir(images):
        return [(i, f, f) for i, f in enumerate(image_files(os.fspath(images)))]
    if isinstance(images, (str, os.PathLike, torch.Tensor, np.ndarray)):
        images = [images]
    if not isinstance(images, Sequence) or not len(images):
        raise InputError("images must be a folder, a list of [3, h, w] tensors in [0, 1] or a list of image files")
    return [(i, os.fspath(s) if isinstance(s, (str, os.PathLike)) else "", s) for i, s in enumerate(images)]


def _read(index: int, file: str, source) -> torch.Tensor:
    from .data import load_image

    what = f"image {index}" + (f" ({file})" if file else "")
    if isinstance(source, (torch.Tensor, np.ndarray)) and not (isinstance(source, np.ndarray) and source.ndim == 3
                                                                and source.shape[-1] == 3):
        return image_tensor(source, "cpu", what)  # as LAM reads it: float64, checked
    return image_tensor(load_image(source), "cpu", what)


def _load_images(images, on_error: str) -> Tuple[List[_Image], Dict[int, torch.Tensor]]:
    """The readable images (files are not kept in memory) and their pixels for this first pass."""
    kept, pixels, bad = [], {}, []
    for index, file, source in _image_sources(images):
        try:
            x = _read(index, file, source)
        except InputError as e:
            if not file:  # a tensor: the message already names "image <index>"
                raise
            if on_error == "stop":
                said = str(e) if str(e).startswith(f"image {index}") else f"image {index} ({file}): {e}"
                raise InputError(f"{said}; fix or remove it, or pass on_error='skip'") from None
            bad.append(f"{file} ({e})")
            continue
        kept.append(_Image(index, file, None if file else x))
        pixels[index] = x
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s): " + "; ".join(bad), stacklevel=3)
    if not kept:
        raise InputError("none of the images could be read")
    return kept, pixels


def _inputs(x: torch.Tensor, scale: int, downsample: bool, crop_to: int):
    """``(lr, hr or None, reference)``: the LR input, the HR reference (with ``downsample``) and the SR-grid image
    the windows are picked on (HR, else the LR upsampled bicubically)."""
    if not downsample:
        ref = F.interpolate(x[None], scale_factor=scale, mode="bicubic", align_corners=False)[0].clamp(0, 1)
        return x, None, ref
    from .degrade import bicubic_down

    h, w = x.shape[1] // crop_to * crop_to, x.shape[2] // crop_to * crop_to
    if h == 0 or w == 0:
        raise InputError(f"an HR image of {x.shape[1]}x{x.shape[2]} is smaller than the scale {crop_to}")
    hr = x[:, :h, :w].float()  # float32 like srwidgets.data.image, so the LR equals data.lr_image's
    return bicubic_down(hr, scale).clamp(0, 1), hr, hr


def _model_digest(model) -> str:
    """A digest of the weights and buffers (names, shapes, bytes), stable across processes."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(f"{name}{image_digest(t)}".encode())
    return h.hexdigest()


# -- one task: one model, one image, its windows ------------------------------------------------------------------
def _rows(model, lr, hr, windows, settings: dict, meta: dict, device=None, cancel: CancelLike = None) -> List[dict]:
    """Table rows for ``windows`` (SR px) of one LR image ``[3, h, w]``; the same function on both backends.

    A fresh engine per task: its chunk sizes (which round float32 differently) then depend on the task alone, so a
    row is the same whichever backend, worker or resumed run computes it."""
    from .lam import LAM
    from .metrics import psnr, ssim

    lam = LAM(model, scale=meta["scale"], device=device, chunk_size=settings["chunk_size"])
    results = lam.attribute_many(lr, windows, settings["steps"], settings["sigma"], settings["kernel_size"],
                                 settings["path"], cancel=cancel)
    quality = dict(psnr=math.nan, ssim=math.nan)
    if hr is not None:
        sr, s = lam.super_resolve(lr), lam.scale
        quality["psnr"] = psnr(sr, hr, shave=s)
        try:
            quality["ssim"] = ssim(sr, hr, shave=s)
        except ValueError:  # smaller than SSIM's 11x11 window
            pass
    return [dict(meta, top=win[0], left=win[1], size=win[2], di=r.diffusion_index, gini=r.gini,
                 crop=",".join(map(str, r.crop)) if r.crop else "", seconds=r.seconds, **quality)
            for win, r in zip(windows, results)]


# -- the output file ----------------------------------------------------------------------------------------------
def _frame(records: List[dict]) -> "Any":
    import pandas as pd

    return pd.DataFrame(records, columns=COLUMNS).astype(_TYPES)


def _fix(out: str, sidecar: str) -> str:
    """How to get past a damaged table or settings file (the end of every resume error)."""
    return (f"delete {out!r} and {sidecar!r} to start again (the rows are recomputed), or pass another out= to keep "
            "them")


class _Sink:
    """The output file (CSV appended row group by row group; Parquet rewritten whole, atomically) and its settings
    sidecar ``<out>.json`` (written atomically: a temporary file, then ``os.replace``). A CSV line is complete when
    it ends with a newline: a torn last line (a crash while writing) is dropped when the run resumes. A table or
    sidecar that cannot be read (torn, hand-edited, not a di_table file) is refused with a message naming the file,
    what is wrong and how to go on; it is never modified or deleted."""

    def __init__(self, out, state: dict):
        self.out, self.rows = (os.fspath(out) if out is not None else None), {}
        self.old_models, self.old_images = {}, {}
        if self.out is None:
            return
        self.kind = Path(self.out).suffix.lower()
        self.sidecar = self.out + ".json"
        if os.path.exists(self.out) and os.path.getsize(self.out) > 0:
            self._resume(state)
        state = dict(state, models=dict(self.old_models, **state["models"]),
                     images=dict(self.old_images, **state["images"]))
        _write_atomic(self.sidecar, json.dumps(state, indent=1))
        if not self.rows and os.path.exists(self.out):
            os.remove(self.out)

    def _resume(self, state: dict) -> None:
        if not os.path.exists(self.sidecar):
            raise InputError(f"{self.out!r} exists but its settings file {self.sidecar!r} does not, so a resumed run "
                             "cannot be checked against it; delete the table or pick another out")
        old = self._settings()
        diff = [f"{k}: {old['settings'].get(k)!r} in {self.out} vs {v!r} now"
                for k, v in state["settings"].items() if old.get("settings", {}).get(k) != v]
        for part, what in (("models", "model"), ("images", "image")):
            diff += [f"{what} {k!r} differs from the one in {self.out} ({'weights' if what == 'model' else 'pixels'})"
                     for k, v in state[part].items() if k in old.get(part, {}) and old[part][k] != v]
        if diff:
            raise InputError(f"{self.out!r} was computed with other settings; refusing to mix them in one table ("
                             + "; ".join(diff) + "). Use another out, or delete the file to start again")
        self.old_models, self.old_images = old["models"], old["images"]
        for rec in self._read().to_dict("records"):
            self.rows[tuple(rec[k] for k in _KEY)] = rec

    def _settings(self) -> dict:
        """The sidecar's content, checked for form."""
        try:
            with open(self.sidecar, encoding="utf-8") as f:
                old = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise InputError(f"the settings file {self.sidecar!r} of the table {self.out!r} is damaged (not valid "
                             f"JSON: {e}; torn by a crash while it was written?), so the table cannot be resumed; "
                             + _fix(self.out, self.sidecar)) from None
        except OSError as e:
            raise InputError(f"cannot read the settings file {self.sidecar!r} of {self.out!r}: {e}") from None
        parts = ("settings", "models", "images")
        if not isinstance(old, dict) or not all(isinstance(old.get(k), dict) for k in parts):
            raise InputError(f"the settings file {self.sidecar!r} of the table {self.out!r} is not a di_table "
                             f"settings file (it needs the objects {', '.join(parts)}), so the table cannot be "
                             "resumed; " + _fix(self.out, self.sidecar))
        return old

    def _read(self):
        import pandas as pd

        if self.kind == ".parquet":
            try:
                table = pd.read_parquet(self.out)
            except Exception as e:  # pyarrow / fastparquet raise their own types for a torn or foreign file
                raise InputError(f"the table {self.out!r} cannot be read as Parquet ({type(e).__name__}: "
                                 f"{str(e)[:200]}); " + _fix(self.out, self.sidecar)) from None
            self._check_columns(list(table.columns))
            return self._typed(table)
        with open(self.out, "rb") as f:
            data = f.read()
        header = ",".join(COLUMNS).encode()
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        if first != header:
            if b"\n" not in data and header.startswith(first):
                raise InputError(f"the header of the table {self.out!r} is torn (a crash while it was written?) and "
                                 "the file holds no rows; " + _fix(self.out, self.sidecar))
            self._check_columns(first.decode("utf-8", "replace").split(","))
        complete = data[:data.rfind(b"\n") + 1]  # a torn last line is dropped (its rows are recomputed)
        floats = [c for c, t in _TYPES.items() if t is float]
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else dict(float_precision="round_trip")  # 3: default
        try:
            table = pd.read_csv(io.BytesIO(complete), keep_default_na=False,
                                na_values={c: ["", "nan", "NaN"] for c in floats},
                                dtype={c: t for c, t in _TYPES.items() if t is str}, **exact)
        except (ValueError, UnicodeDecodeError) as e:  # pandas' ParserError is a ValueError
            raise InputError(f"the table {self.out!r} cannot be read as CSV ({str(e)[:200]}); "
                             + _fix(self.out, self.sidecar)) from None
        table = self._typed(table)
        if len(complete) < len(data):  # only once the rest is known to be a good table
            with open(self.out, "rb+") as f:
                f.truncate(len(complete))
        return table

    def _check_columns(self, columns) -> None:
        if list(columns) != COLUMNS:
            shown = ", ".join(map(str, list(columns)[:len(COLUMNS) + 1]))
            raise InputError(f"the table {self.out!r} does not have di_table's columns (found: {shown[:300]}; "
                             f"expected: {', '.join(COLUMNS)}): it was edited or is another file; "
                             + _fix(self.out, self.sidecar))

    def _typed(self, table):
        """``table`` with :data:`_TYPES`; a cell that is no number (a hand edit) is named by row and column."""
        import pandas as pd

        try:
            return table.astype(_TYPES)
        except (ValueError, TypeError):
            pass
        for column, kind in _TYPES.items():
            if kind is str:
                continue
            values = table[column]
            parsed = pd.to_numeric(values, errors="coerce")
            bad = parsed.isna() & values.notna() & (values.astype(str).str.strip().str.lower() != "nan")
            if kind is int:
                bad |= parsed.notna() & (parsed != parsed.round())
                bad |= parsed.isna() & values.notna()
            if bad.any():
                rows = list(bad[bad].index)
                more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
                line = rows[0] + 2  # 1-based, after the header
                raise InputError(f"the table {self.out!r} has {values[rows[0]]!r} in column {column!r} on line "
                                 f"{line}{more}, where {'an integer' if kind is int else 'a number'} belongs (a "
                                 "hand edit?); restore it, or " + _fix(self.out, self.sidecar))
        raise InputError(f"the table {self.out!r} has cells that are not of their column's type; "
                         + _fix(self.out, self.sidecar))

    def drop(self, keys) -> None:
        """Forget the rows of ``keys`` (in the file too)."""
        if not keys:
            return
        for k in keys:
            del self.rows[k]
        if self.out is not None:
            self._rewrite()

    def _rewrite(self) -> None:
        tmp = self.out + ".tmp"
        table = _frame(list(self.rows.values()))
        if self.kind == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, self.out)

    def write(self, records: List[dict]) -> None:
        for rec in records:
            self.rows[tuple(rec[k] for k in _KEY)] = rec
        if self.out is None:
            return
        if self.kind == ".parquet":
            self._rewrite()
            return
        new = not os.path.exists(self.out) or os.path.getsize(self.out) == 0
        text = _frame(records).to_csv(index=False, header=new, lineterminator="\n")
        with open(self.out, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old file or the new one, never half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_out(out, images) -> Optional[str]:
    """``out=`` checked before anything is read or computed: a .csv / .parquet file in a writable folder, neither
    an input image (or a file in an input folder) nor a folder; Parquet needs a Parquet engine."""
    if out is None:
        return None
    inputs = [images] if isinstance(images, (str, os.PathLike)) else \
        list(images) if isinstance(images, (list, tuple)) else []
    try:
        name = os.fspath(out)
    except TypeError:
        name = None  # check_output says what a path must be
    if isinstance(name, str) and not os.path.isdir(name) and Path(name).suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"out={name!r}: di_table writes .csv or .parquet files; change the extension")
    out = check_output(out, inputs=inputs, extensions=(".csv", ".parquet"), flag="out=", what="the table")
    check_output(out + ".json", inputs=inputs, flag="out=", what="the table's settings file")
    if Path(out).suffix.lower() == ".parquet" and not any(_has(m) for m in ("pyarrow", "fastparquet")):
        raise InputError("writing Parquet needs pyarrow (pip install pyarrow); or write a .csv")
    return out


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- the table ----------------------------------------------------------------------------------------------------
def di_table(models, images, windows="edges:8", steps: int = 50, sigma: float = 1.2, kernel_size: int = 9,
             path: str = "blur", backend: str = "local", address: Optional[str] = None, out=None, *,
             downsample: bool = False, window_size: int = 16, on_error: str = "stop", workers: int = 2,
             device=None, chunk_size: Optional[int] = None, windows_per_task: Optional[int] = None,
             progress: bool = True, callback: ProgressCallback = None, cancel: CancelLike = None):
    """The Diffusion Index of windows × images × models, as a pandas DataFrame (and a file, written as it goes).

    Args:
        models: a dict name -> ``nn.Module`` or zoo name (or a list / one model: named as
            :func:`srwidgets.models.lookup.named_models` does). Models of different scales need HR images and
            ``downsample=True`` (then every model works on the same HR grid); with LR images, call once per scale.
        images: LR images ``[3, h, w]`` float in [0, 1] (tensors, ``H × W × 3`` arrays, files or bundled names) in a
            list, or a folder of image files (name order). With ``downsample=True`` they are HR images: each is
            cropped to a multiple of the scales and bicubic-down-sampled by the model's scale (as
            :func:`srwidgets.data.lr_image`, the paper's setting), and it is the reference for PSNR/SSIM.
        windows: ``(top, left, size)`` squares in SR pixels applied to every image (each must fit every image),
            ``"grid:N"`` or ``"edges:N"`` (:func:`pick_windows`, on the HR image or, without one, the LR image
            upsampled bicubically: the same windows for every model).
        steps, sigma, kernel_size, path: LAM's settings (:meth:`srwidgets.lam.LAM.attribute`).
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
        :data:`COLUMNS`: ``model``, ``image`` (index in the list / folder), ``file``, ``scale``, ``top``, ``left``,
        ``size`` (SR px), ``di``, ``gini``, ``crop`` (LR box the network ran on, ``""`` = whole image),
        ``seconds`` (per window), ``psnr``, ``ssim`` (Y channel, ``scale`` px shaved; NaN without HR).
    """
    from .lam import PATHS
    from .models import infer_scale
    from .models.lookup import named_models

    steps = check_steps(steps, hint=" (the paper uses 50)")
    sigma = check_number("sigma", sigma, 0.0, " (the paper uses 1.2)")
    kernel_size = check_int("kernel_size", kernel_size, 1, " (odd; the paper uses 9)")
    path = check_choice("path", path, PATHS)
    if path in ("blur", "blurred") and kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {kernel_size}")
    backend = check_choice("backend", backend, BACKENDS)
    downsample = _flag("downsample", downsample)
    out = _check_out(out, images)
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
    settings = dict(steps=steps, sigma=sigma, kernel_size=kernel_size, path=path, downsample=bool(downsample),
                    windows=spec if spec is not None else [list(w) for w in fixed],
                    window_size=window_size if spec is not None else None, chunk_size=chunk_size,
                    version=_FORMAT_VERSION)

    # Everything is checked before anything is computed: images, windows, the output file, the cluster.
    imgs, pixels = _load_images(images, on_error)
    window_lists: Dict[Tuple[int, int], list] = {}
    for img in imgs:
        for s in sorted(set(scales.values())):
            _, _, ref = _inputs(pixels[img.index], s, downsample, crop_to)
            if fixed is None:
                window_lists[img.index, s] = pick_windows(ref, spec, window_size)
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
                 images={str(i.index): image_digest(pixels[i.index])[2] for i in imgs})
    del pixels
    sink = _Sink(out, state)

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
            _run_local(tasks, named, scales, settings, crop_to, device, finished, cancel)
        elif tasks:
            _run_ray(tasks, named, scales, settings, crop_to, address, workers, finished, cancel)
    finally:
        bar.close()
    return _frame([sink.rows[(name, img.index, *w)] for name, img, wins in plan for w in wins])


def _flag(name: str, value) -> bool:
    """A yes/no argument (numpy bools and 0/1 accepted); a string such as ``"no"`` would silently mean yes."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise InputError(f"{name} must be True or False, got {value!r}")


def _bar(total: int, progress: bool, backend: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"DI table ({backend})", unit="window", disable=not progress or total == 0)


def _task_inputs(img: _Image, scale: int, downsample: bool, crop_to: int):
    x = img.pixels if img.pixels is not None else _read(img.index, img.file, img.file)
    lr, hr, _ = _inputs(x, scale, downsample, crop_to)
    return lr, hr


def _run_local(tasks, named, scales, settings, crop_to, device, finished, cancel) -> None:
    def run(start, stop):
        for name, img, wins in tasks[start:stop]:
            lr, hr = _task_inputs(img, scales[name], settings["downsample"], crop_to)
            finished(_rows(named[name], lr, hr, wins, settings,
                           dict(model=name, image=img.index, file=img.file, scale=scales[name]), device, cancel))

    run_chunks(len(tasks), run, cancel=cancel)


# -- Ray ------------------------------------------------------------------------------------------------------------
def _ray_task(model, lr, hr, windows, settings, meta):
    """One Ray task: :func:`_rows` on the worker's device (a GPU when Ray gave it one)."""
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    return _rows(model, lr, hr, windows, settings, meta)


def _ray_connect(address: Optional[str], workers: int):
    """``(ray, started)``: Ray initialised on a new local instance (``started``) or on the cluster at ``address``."""
    try:
        import ray
    except ImportError:
        raise InputError("backend='ray' needs Ray: pip install \"srwidgets[ray]\" (or pip install ray)") from None
    if ray.is_initialized():
        return ray, False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if address is None:
        workers = check_int("workers", workers, 1)
        ray.init(num_cpus=workers, **quiet)
        return ray, True
    if not isinstance(address, str) or not address:
        raise InputError(f"address must be 'auto', 'host:port' or 'ray://host:port', got {address!r}")
    if address != "auto":
        client = address.startswith("ray://")
        hostport = address[len("ray://"):] if client else address
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        port = port or ("10001" if client else "6379")
        try:
            with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT):
                pass
        except (OSError, ValueError) as e:
            raise InputError(f"no Ray cluster answers at {address!r} ({e}; waited at most {_CONNECT_TIMEOUT:g} s); "
                             "start one with `ray start --head`, or check the address (ray://host:10001 for Ray "
                             "Client, host:6379 for the head node). Nothing was computed") from None
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as e:
        raise InputError(f"could not join the Ray cluster at {address!r}: {e}. Nothing was computed") from None
    return ray, False


def _run_ray(tasks, named, scales, settings, crop_to, address, workers, finished, cancel) -> None:
    ray, started = _ray_connect(address, workers)
    try:
        remote = ray.remote(_ray_task)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        refs = {name: ray.put(named[name]) for name in dict.fromkeys(t[0] for t in tasks)}  # each model once
        pending = {}
        for name, img, wins in tasks:
            lr, hr = _task_inputs(img, scales[name], settings["downsample"], crop_to)
            meta = dict(model=name, image=img.index, file=img.file, scale=scales[name])
            ref = remote.options(num_cpus=1, num_gpus=gpus).remote(refs[name], lr, hr, wins, settings, meta)
            pending[ref] = name
        try:
            while pending:
                check_cancel(cancel)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    del pending[ref]
                    try:
                        finished(ray.get(ref))
                    except ray.exceptions.RayTaskError as e:
                        raise e.as_instanceof_cause() from None
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


# -- the atlas ------------------------------------------------------------------------------------------------------
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
             progress: bool = True, callback: ProgressCallback = None, cancel: CancelLike = None) -> DIAtlas:
    """The DI of every ``size × size`` window with top-left corners on a ``stride`` grid (SR pixels) of one image.

    Windows start at 0 and step by ``stride`` while they fit (``R = (sH − size) // stride + 1`` rows, likewise
    columns). Computed with :func:`di_table` (so on Ray too: there the windows are split into a few tasks per
    worker). ``model``: an ``nn.Module`` or a zoo name; ``image``: LR ``[3, h, w]`` in [0, 1] (HR with
    ``downsample=True``). ``windows_per_task``: windows per task (and so per progress report); default: all in one
    task locally, a few tasks per worker on Ray. Other arguments as :func:`di_table`.

    Example:
        >>> import torch
        >>> from srwidgets.models import build
        >>> _ = torch.manual_seed(0)
        >>> m = build("EDSR", num_feat=8, num_block=1, upscale=2)
        >>> atlas = di_atlas(m, torch.rand(3, 12, 12), stride=16, size=8, steps=2, progress=False)
        >>> atlas.di.shape, atlas.window(1, 0)          # SR grid 24x24: window corners 0 and 16
        ((2, 2), (16, 0, 8))
    """
    from .models import infer_scale
    from .models.lookup import named_models

    stride = check_int("stride", stride, 1, " (SR pixels)")
    size = check_int("size", size, 2, " (SR pixels; the paper uses 16)")
    steps = check_steps(steps, hint=" (the paper uses 50)")
    downsample = _flag("downsample", downsample)
    named = named_models(model if isinstance(model, dict) else [model])
    if len(named) != 1:
        raise InputError(f"di_atlas maps one model, got {len(named)}; call it once per model")
    (name, net), = named.items()
    scale = infer_scale(net)
    x = _read(0, os.fspath(image) if isinstance(image, (str, os.PathLike)) else "", image)
    lr, _, ref = _inputs(x, scale, downsample, scale)
    sh, sw = ref.shape[-2:]
    if size > min(sh, sw):
        raise InputError(f"atlas windows of {size} SR pixels do not fit the SR grid {sh}x{sw}")
    tops, lefts = np.arange(0, sh - size + 1, stride), np.arange(0, sw - size + 1, stride)
    windows = [(int(t), int(l), size) for t in tops for l in lefts]
    per_task = windows_per_task
    if per_task is None and backend == "ray":
        per_task = -(-len(windows) // (4 * max(1, workers)))
    table = di_table({name: net}, [x], windows, steps, sigma, kernel_size, path, backend, address,
                     downsample=downsample, workers=workers, device=device, windows_per_task=per_task,
                     progress=progress, callback=callback, cancel=cancel)
    shape = (len(tops), len(lefts))
    return DIAtlas(di=table["di"].to_numpy().reshape(shape), gini=table["gini"].to_numpy().reshape(shape),
                   tops=tops, lefts=lefts, size=size, stride=stride, scale=scale, image=lr.float(), model=name,
                   table=table)
