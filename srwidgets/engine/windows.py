"""Windows: the SR region a window-attribution method explains, the receptive field of a model, the LR crop a
window needs, which windows share forward passes, and where a split tail runs. Worded for any method (LAM, the
ERF, gradients, integrated gradients, CEM, ...): nothing here knows which one calls it.

Coordinates: a **window** is ``(top, left, height, width)`` in SR pixels; a **box** is ``(top, left, height, width)``
in LR pixels (a crop of the input); a **region** is ``(r0, r1, c0, c1)`` in LR pixels, half-open (rows ``r0:r1``,
columns ``c0:c1``), as the models' ``features_region`` take it.

Example:
    >>> from srwidgets.engine.windows import crop_box, validate_window
    >>> validate_window((8, 8, 16), 64, 64)
    (8, 8, 16, 16)
    >>> crop_box((32, 32, 16, 16), (-6, 9, -6, 9), scale=4, height=32, width=32)   # rf ±2 LR px, margin 2
    (4, 4, 12, 12)
"""
from __future__ import annotations

import weakref
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .inputs import check_int
from ..errors import InputError

__all__ = ["Window", "Box", "Region", "validate_window", "clip_window", "measure_receptive_field", "crop_box",
           "group_windows", "tail_region", "paste", "window_list"]

Window = Tuple[int, int, int, int]  # (top, left, height, width), SR pixels
Box = Tuple[int, int, int, int]  # (top, left, height, width), LR pixels
Region = Tuple[int, int, int, int]  # (r0, r1, c0, c1), LR pixels, half-open


def validate_window(window, sr_height: int, sr_width: int, min_size: int = 2) -> Window:
    """``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels -> ``(top, left, height, width)``,
    checked to lie inside the ``sr_height × sr_width`` SR image and to be at least ``min_size`` on a side (2 for the
    gradient objective, which takes forward differences; 1 for a method such as CEM's PSNR, which takes none)."""
    try:
        ok = not isinstance(window, (str, bytes)) and len(window) in (3, 4)
        vals = [check_int("window", v) for v in window] if ok else []
    except (TypeError, InputError):
        ok = False
    if not ok:
        raise InputError(f"window must be (top, left, size) or (top, left, height, width) in SR pixels (integers), "
                         f"got {window!r}")
    top, left, height, width = vals if len(vals) == 4 else (vals[0], vals[1], vals[2], vals[2])
    if height < min_size or width < min_size:
        raise InputError(f"the window {height}x{width} is too small: a window needs at least {min_size}x{min_size} SR "
                         "pixels (the objective takes forward differences; LAM's paper uses 16)")
    if height > sr_height or width > sr_width:
        raise InputError(f"the window ({height}x{width} SR pixels) is larger than the SR image ({sr_height}x{sr_width} "
                         f"SR pixels); use a window of at most {sr_height}x{sr_width} (the paper uses 16)")
    if top < 0 or left < 0 or top + height > sr_height or left + width > sr_width:
        raise InputError(f"the window (top={top}, left={left}, {height}x{width}) lies outside the SR image "
                         f"({sr_height}x{sr_width} SR pixels): use 0 <= top <= {sr_height - height} and "
                         f"0 <= left <= {sr_width - width} (window coordinates are in SR, not LR, pixels)")
    return top, left, height, width


def window_list(windows) -> list:
    """Several windows as a list (each checked later by :func:`validate_window`): a list / tuple of windows; a
    string, a single window or another type is refused with the form expected."""
    import numpy as np

    if isinstance(windows, (str, bytes)) or not isinstance(windows, (list, tuple)):
        raise InputError(f"windows must be a list of (top, left, size) or (top, left, height, width) windows in SR "
                         f"pixels, got {windows!r}" if isinstance(windows, (str, bytes)) else
                         f"windows must be a list of (top, left, size) or (top, left, height, width) windows in SR "
                         f"pixels, got {type(windows).__name__}")
    if windows and all(isinstance(v, (int, np.integer)) for v in windows):
        raise InputError(f"windows={tuple(windows)!r} is one window; a list of them is expected, e.g. "
                         f"[{tuple(int(v) for v in windows)!r}] (or call attribute)")
    return list(windows)


def clip_window(window: Window, scale: int, sr_height: int, sr_width: int, box: Optional[Box] = None, *,
                cut: bool = True) -> Window:
    """The window in the frame of the SR output of LR ``box`` (or of the whole image).

    Args:
        window: ``(top, left, height, width)`` in SR pixels **of the whole image**.
        scale: the model's scale.
        sr_height, sr_width: the **whole image's** SR size (``scale ×`` the LR image's ``h, w``), never the crop's:
            the window's frame. A window outside it is an error (so the crop's size passed by mistake is refused).
        box: the LR crop ``(top, left, height, width)`` the network runs on; the window must lie inside its SR
            footprint. ``None``: the whole image.
        cut: cut the window to the gradient map ``(sH−1)×(sW−1)`` (the objective's forward differences), exactly as
            slicing the whole image's map would cut it; ``False`` for objectives that take no differences (PSNR).

    Returns:
        ``(top, left, height, width)`` in SR pixels of the box's output, never empty.

    Raises:
        InputError: a window outside the SR image or the box, or one left empty by the cut.

    Example:
        >>> clip_window((96, 80, 16, 16), 4, 256, 256, box=(16, 12, 12, 14))   # box's SR frame starts at (64, 48)
        (32, 32, 16, 16)
    """
    top, left, height, width = validate_window(window, sr_height, sr_width, min_size=1)
    if cut:
        height, width = min(height, sr_height - 1 - top), min(width, sr_width - 1 - left)
        if height < 1 or width < 1:
            raise InputError(f"the window {tuple(window)} lies on the last SR row or column of the {sr_height}x"
                             f"{sr_width} SR image: the gradient objective takes forward differences there, so it "
                             "reads no pixel; move it at least one SR pixel in, or make it larger")
    if box is not None:
        b_top, b_left, b_h, b_w = (check_int("box", v) for v in box)
        if b_top < 0 or b_left < 0 or b_h < 1 or b_w < 1 or scale * (b_top + b_h) > sr_height \
                or scale * (b_left + b_w) > sr_width:
            raise InputError(f"the crop box {tuple(box)} (top, left, height, width in LR pixels) does not lie inside "
                             f"the LR image ({sr_height // scale}x{sr_width // scale} LR pixels at scale {scale})")
        top, left = top - scale * b_top, left - scale * b_left
        if top < 0 or left < 0 or top + height > scale * b_h or left + width > scale * b_w:
            raise InputError(f"the window {tuple(window)} (SR pixels of the whole image) does not lie inside the SR "
                             f"footprint of the crop box {tuple(box)} (LR pixels): pass the box that crop_box gave "
                             "for this window, and the whole image's SR size (not the crop's)")
    return top, left, height, width


_RECEPTIVE_FIELDS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def measure_receptive_field(model: nn.Module, scale: int, max_side: int, device, dtype=torch.float32):
    """Where one LR pixel acts in the SR output, or ``None`` when a crop cannot be trusted for this model.

    NaN put into LR pixel ``p`` spreads through every operation that reads it (convolutions, pixel shuffle,
    interpolation, attention), so the NaN-valued SR rows of a probe image are ``[s·p + lo_r, s·p + hi_r]`` (columns
    likewise). Returns ``(lo_r, hi_r, lo_c, hi_c)`` in SR pixels, or ``None`` when the NaN reaches the probe's
    border on images of side ``max_side`` (global pooling or channel attention spread it everywhere), the
    response is not shift-equivariant (pixel unshuffle, strided layers), the probe fails — or when running the
    model on a crop does not reproduce the whole image's output on a random probe (a model that uses absolute
    pixel positions, e.g. coordinate channels). Cached per model (weights do not matter to NaN propagation).
    Run it under :func:`srwidgets.engine.guard.guarded` (eval mode). A method may skip LR pixels outside the
    returned footprint only because this check proved, for this model, that they cannot reach the window.
    """
    hit = _RECEPTIVE_FIELDS.get(model)
    if hit is not None and (hit[0] != "border" or hit[1] >= max_side + 2):
        return None if hit[0] == "border" else hit[0]
    side = 24
    while True:
        side = min(side, max_side + 2)
        rf = _nan_probe(model, scale, side, device, dtype)
        if rf != "border" or side >= max_side + 2:
            break
        side *= 2
    if rf not in (None, "border") and not _crop_reproduces(model, scale, rf, side, device, dtype):
        rf = None
    _RECEPTIVE_FIELDS[model] = (rf, side)
    return None if rf == "border" else rf


def _nan_probe(model, scale, side, device, dtype):
    c = side // 2 - 1
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[0, :, c, c] = float("nan")
    x[1, :, c + 1, c + 1] = float("nan")
    try:
        with torch.inference_mode():
            y = model(x.to(device, dtype))
    except Exception:
        return None
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, 3, scale * side, scale * side):
        return None
    boxes = []
    for i in range(2):
        nan = torch.isnan(y[i]).any(0)
        rows, cols = nan.any(1).nonzero().flatten(), nan.any(0).nonzero().flatten()
        if rows.numel() == 0:
            return None  # the model hides NaN: no way to see its receptive field
        boxes.append((int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])))
    last = scale * side - 1
    if any(b[0] == 0 or b[2] == 0 or b[1] == last or b[3] == last for b in boxes):
        return "border"
    if tuple(v + scale for v in boxes[0]) != boxes[1]:
        return None  # not shift-equivariant: the footprint depends on where the pixel is
    r0, r1, c0, c1 = boxes[0]
    return r0 - scale * c, r1 - scale * c, c0 - scale * c, c1 - scale * c


def _crop_reproduces(model, scale, rf, side, device, dtype, rtol: float = 1e-4) -> bool:
    """Does the model on the crop of a centred 2x2 window give the whole image's SR pixels there (random probe)?"""
    extent = max(rf[1] - rf[0], rf[3] - rf[2]) // scale + 1
    side = max(2 * side, extent + 16)
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(device, dtype)
    window = (scale * side // 2, scale * side // 2, 2, 2)
    box = crop_box(window, rf, scale, side, side)
    if box is None:
        return True  # the crop is the whole probe: nothing to compare (never smaller at this size either)
    t, l, h, w = box
    try:
        with torch.inference_mode():
            full, part = model(x), model(x[..., t:t + h, l:l + w])
    except Exception:
        return False
    if not isinstance(part, torch.Tensor) or tuple(part.shape[-2:]) != (scale * h, scale * w):
        return False
    top, left = window[0], window[1]
    a = full[..., top:top + 3, left:left + 3]  # the window and the forward differences' extra row / column
    b = part[..., top - scale * t:top - scale * t + 3, left - scale * l:left - scale * l + 3]
    return bool(((a - b).abs().max() <= rtol * (1 + a.abs().max())).item())


def crop_box(window: Window, rf, scale: int, height: int, width: int, margin: int = 2) -> Optional[Box]:
    """The LR box holding every LR pixel the window's objective depends on (SR rows ``top .. top + height`` and
    columns ``left .. left + width``, the forward differences included), plus ``margin`` pixels; ``None`` when
    ``rf`` is ``None`` or the box is the whole image. Every feature the window reads is then computed from real
    pixels only, so the result equals the whole image's."""
    if rf is None:
        return None
    lo_r, hi_r, lo_c, hi_c = rf
    top, left, h, w = window
    y1, x1 = min(top + h, scale * height - 1), min(left + w, scale * width - 1)
    r0 = max(0, -((hi_r - top) // scale) - margin)  # ceil((top - hi_r) / s)
    r1 = min(height - 1, (y1 - lo_r) // scale + margin)
    c0 = max(0, -((hi_c - left) // scale) - margin)
    c1 = min(width - 1, (x1 - lo_c) // scale + margin)
    box = (r0, c0, r1 - r0 + 1, c1 - c0 + 1)
    return None if box == (0, 0, height, width) else box


def group_windows(windows: Sequence[Window], boxes: Sequence, height: int, width: int) -> List[Tuple[List[Window], Any]]:
    """Decide which windows share forward passes: all on the union of their boxes (one forward and one input
    backward per window per chunk, cost ≈ area(union)·(1 + W)) or each on its own box (≈ 2·Σ area)."""
    if len(windows) == 1:
        return [(list(windows), boxes[0])]
    if any(b is None for b in boxes):
        return [(list(windows), None)]
    r0, c0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    r1, c1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    union = (r0, c0, r1 - r0, c1 - c0)
    if union == (0, 0, height, width):
        union = None
    if union is None or union[2] * union[3] * (1 + len(windows)) <= 2 * sum(b[2] * b[3] for b in boxes):
        return [(list(windows), union)]
    return [([w], b) for w, b in zip(windows, boxes)]


def tail_region(windows: Sequence[Window], scale: int, margin: int, height: int, width: int) -> Region:
    """The LR region on which a split tail must run for the SR windows (in the SR coordinates of an ``height ×
    width`` LR input): every window, plus the forward differences' extra SR row and column, plus ``margin`` LR
    pixels of context — so the tail's zero padding only touches SR pixels the objective never reads."""
    r0 = max(0, min(w[0] for w in windows) // scale - margin)
    c0 = max(0, min(w[1] for w in windows) // scale - margin)
    r1 = min(height, -(-max(w[0] + w[2] + 1 for w in windows) // scale) + margin)
    c1 = min(width, -(-max(w[1] + w[3] + 1 for w in windows) // scale) + margin)
    return r0, r1, c0, c1


def paste(a: torch.Tensor, box: Optional[Box], height: int, width: int) -> torch.Tensor:
    """A ``[3, bh, bw]`` attribution of LR ``box`` placed in a zero ``[3, height, width]`` float32 CPU tensor."""
    if box is None:
        return a.float().cpu()
    out = torch.zeros(3, height, width)
    out[:, box[0]:box[0] + box[2], box[1]:box[1] + box[3]] = a.float().cpu()
    return out
