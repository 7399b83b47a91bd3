"""The CEM engine: intervene on each block of the LR input and measure the window's PSNR against the HR image.

The method (Hu, Gu, ..., Dong, "Interpreting Low-level Vision Models with Causal Effect Maps", TPAMI 2025), in the
authors' conventions unless said otherwise:

1. the **window** ``(top, left, height, width)`` in SR pixels, compared with the HR ground truth; the LR input is
   split into **blocks** of ``block`` SR pixels (``b = block / scale`` LR pixels; theirs: 8 SR px = 2 LR px at ×4),
   row-major, the last row / column partial where the image is not a multiple of ``b``;
2. the window's **PSNR**: RGB, 8-bit — SR and HR both quantised ``round(255·clamp(x, 0, 1)) / 255``, ``10 log10(1 /
   MSE)`` over the window's three channels (:func:`srwidgets.metrics.psnr` with ``y_channel=False``; the authors'
   ``calculate_psnr`` on uint8). One difference: the MSE is floored at :data:`MSE_FLOOR` (a perfect window reads
   100 dB instead of infinity), so that effects stay finite;
3. **coarse stage**: every block replaced ``coarse`` times by a bank patch; **fine stage**: ``fine`` more
   interventions for every block whose largest coarse ``|PSNR(original) − PSNR(intervened)|`` is at least
   ``threshold`` (the authors' test), and the fine mean then replaces the coarse mean (theirs too);
4. the **effect** ``PSNR(original) − mean PSNR(intervened)`` per block, signed (positive: the block's real content
   helps the window), 0 where ``|effect| < threshold``;
5. the **summary**, over the blocks outside the window (the authors blank the window's own blocks before taking the
   range): counts of positive / negative / zero blocks and the effect range. Unlike the authors, the window's own
   blocks keep their measured effect in ``map`` (they count the window as "positive" by writing 999 there);
   ``window_blocks`` marks them.

Beyond the authors: the draws are seeded (:func:`srwidgets.cem.bank.draws`), interventions run batched without
gradients on any device, in chunks sized by the memory budget, with progress and cancel; blocks outside the
receptive-field crop the runtime verified for this model (:func:`srwidgets.engine.windows.crop_box`) cannot reach
the window and are skipped (effect exactly 0, counted in ``skipped``); and the intervened outputs do not depend on
the window, so :meth:`CEM.attribute_many` scores every window from one batch of interventions.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch

from ..engine import MAX_STEPS, check_int, check_number, check_seed, guarded, image_tensor
from ..engine.base import Engine
from ..engine.forward import forward_values
from ..engine.windows import crop_box, measure_receptive_field, validate_window
from ..errors import InputError
from ..progress import CancelLike, Progress, ProgressCallback, check_hooks
from .bank import check_bank, check_block, draws, patch_bank

__all__ = ["CEM", "CEMResult", "MSE_FLOOR", "BOUNDS", "window_psnr", "block_grid"]

MSE_FLOOR = 1e-10
"""The smallest MSE a PSNR is computed from (100 dB): a perfect window would otherwise read infinity."""

BOUNDS = {"sr": 2.5, "denoise": 1.0}
"""The authors' colour-map clip in dB: ±2.5 for super-resolution, ±1 for denoising (scale 1)."""


def window_psnr(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """RGB 8-bit PSNR in dB of SR windows ``[N, 3, H, W]`` against one HR window ``[3, H, W]``: ``[N]`` float64.

    Both are quantised to 8 bits (``round(255·clamp(x, 0, 1)) / 255``) first, as :func:`srwidgets.metrics.psnr`
    does; the MSE is floored at :data:`MSE_FLOOR`."""
    q = (sr.double().clamp(0, 1) * 255).round() / 255
    t = (hr.double().clamp(0, 1) * 255).round() / 255
    mse = ((q - t) ** 2).mean(dim=(1, 2, 3)).clamp_min(MSE_FLOOR)
    return -10.0 * torch.log10(mse)


def block_grid(height: int, width: int, b: int) -> Tuple[int, int]:
    """Rows and columns of the block grid of an ``height × width`` LR image with ``b``-pixel blocks (ceil)."""
    return -(-height // b), -(-width // b)


@dataclass
class CEMResult:
    """One causal effect map. Tensors are on the CPU; blocks are indexed ``[row, column]`` of the block grid.

    ``map[i, j]`` is the signed effect in dB of block ``(i, j)`` (LR rows ``i·b .. (i+1)·b − 1``, columns likewise,
    ``b = block / scale``): ``psnr − mean PSNR with the block replaced``, 0 below ``threshold`` and for skipped
    blocks. ``counts`` and ``effect_range`` cover the blocks outside the window.
    """

    map: torch.Tensor  # [rows, cols] float64, signed effect in dB
    counts: dict  # {"positive", "negative", "zero"}: blocks outside the window
    skipped: int  # blocks outside the verified receptive-field crop (effect exactly 0, never run)
    window: Tuple[int, int, int, int]  # (top, left, height, width), SR pixels
    block: int  # SR pixels
    scale: int
    psnr: float  # the window's PSNR without intervention, dB
    effect_range: Tuple[float, float]  # (min, max) effect over the blocks outside the window, dB
    window_blocks: torch.Tensor  # [rows, cols] bool: the blocks the window covers
    evaluated: torch.Tensor  # [rows, cols] bool: blocks intervened on (not skipped)
    fine_blocks: torch.Tensor  # [rows, cols] bool: blocks that reached the fine stage
    passes: int  # forward passes (interventions) this call ran, shared by all its windows
    seconds: float
    crop: Optional[Tuple[int, int, int, int]]  # LR box the interventions ran on (None: the whole image)
    settings: dict = field(default_factory=dict)

    @property
    def lr_block(self) -> int:
        """The block side in LR pixels."""
        return self.block // self.scale


class CEM(Engine):
    """Causal Effect Maps on one model (any ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h,
    s·w]``; scale 1 works too). The model is never changed (:func:`srwidgets.engine.guarded`).

    Args:
        model: the network.
        scale: its scale (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device).
        chunk_size: interventions per forward pass (default: sized by ``memory_budget``).
        memory_budget: bytes of activations per chunk (default 1 GiB on CPU, 60 % of free memory on CUDA).
        crop: run the interventions on the receptive-field crop around the window(s) where the runtime verified
            it for this model (exact; blocks outside are skipped).

    Example:
        >>> from srwidgets import data, degrade, zoo
        >>> hr = data.image("astronaut")[:, 64:192, 64:192]                 # [3, 128, 128] HR
        >>> lr = degrade.pil_bicubic(hr, 4)                                  # [3, 32, 32] LR, Pillow's
        >>> r = CEM(zoo.load("x4-fsrcnn")).attribute(lr, hr, (48, 48, 16), coarse=1, fine=2)
        >>> tuple(r.map.shape), r.skipped > 0, sum(r.counts.values())      # 16 x 16 blocks, 4 in the window
        ((16, 16), True, 252)
    """

    # -- public API ---------------------------------------------------------------------------------------------
    def attribute(self, lr, hr, window, block: int = 8, coarse: int = 3, fine: int = 50, threshold: float = 0.01,
                  patches: Optional[torch.Tensor] = None, seed: int = 0, *, callback: ProgressCallback = None,
                  cancel: CancelLike = None) -> CEMResult:
        """The causal effect map of one SR window.

        Args:
            lr: LR input ``[3, h, w]`` in [0, 1].
            hr: the HR ground truth ``[3, s·h, s·w]`` in [0, 1].
            window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels; its sides and its corner
                must be multiples of ``block`` (the window lies on the block grid, as in the authors' code).
            block: block side in SR pixels, a multiple of the scale (default 8: 2 LR px at ×4, the authors').
            coarse, fine: interventions per block in the coarse stage, and per selected block in the fine stage.
            threshold: dB; a block reaches the fine stage when a coarse ``|ΔPSNR| >= threshold``, and effects
                below it are 0 (the authors': 0.01).
            patches: the bank ``[P, 3, b, b]`` of LR patches, used as given; ``None``: :func:`patch_bank` of the
                bundled images, ``DEFAULT_BANK_SIZE`` patches, seeded with ``seed``.
            seed: seeds the default bank and the draws (:func:`srwidgets.cem.bank.draws`): same seed, same map.
            callback: ``Progress(done, total, "coarse" | "fine")`` after each chunk; ``cancel`` is checked before.

        Returns:
            :class:`CEMResult` (``map`` ``[ceil(h/b), ceil(w/b)]``, signed dB).
        """
        return self.attribute_many(lr, hr, [window], block, coarse, fine, threshold, patches, seed,
                                   callback=callback, cancel=cancel)[0]

    def attribute_many(self, lr, hr, windows: Sequence, block: int = 8, coarse: int = 3, fine: int = 50,
                       threshold: float = 0.01, patches: Optional[torch.Tensor] = None, seed: int = 0, *,
                       callback: ProgressCallback = None, cancel: CancelLike = None) -> List[CEMResult]:
        """:meth:`attribute` for several windows of one image from one batch of interventions: each window's
        result equals its own :meth:`attribute` call (same draws; the crop is the union of the windows' crops)."""
        t0 = time.perf_counter()
        s = self.scale
        x = self.prepared.image(lr, "the LR image")
        h, w = x.shape[1:]
        if hr is None:
            raise InputError("CEM measures the window's PSNR against the ground truth: pass hr=, the HR image "
                             f"[3, {s * h}, {s * w}] in [0, 1] (scale {s} times the LR input); for a bundled image, "
                             "hr = srwidgets.data.image(name) and lr = srwidgets.data.lr_image(name, scale)")
        y = image_tensor(hr, self.device, "the HR image")
        if tuple(y.shape[1:]) != (s * h, s * w):
            raise InputError(f"the HR image is {y.shape[1]}x{y.shape[2]}, but the LR input is {h}x{w} at scale {s}: "
                             f"the HR image must be {s * h}x{s * w} (scale times the LR); crop it with hr[:, :{s * h}, "
                             f":{s * w}] or down-sample it to make the LR input")
        block, b = check_block(block, s)
        if block > min(s * h, s * w):
            raise InputError(f"block={block} SR pixels is larger than the image ({s * h}x{s * w} SR pixels); use a "
                             f"block of at most {min(s * h, s * w) // s * s} (the authors use 8)")
        coarse = _interventions("coarse", coarse, "per block; the authors use 3")
        fine = _interventions("fine", fine, "per selected block; the authors use 50")
        check_hooks(callback, cancel)
        threshold = check_number("threshold", threshold, 0.0, " (dB; the authors use 0.01)")
        seed = check_seed(seed)
        if isinstance(windows, (str, bytes)) or not hasattr(windows, "__len__") or len(windows) == 0:
            raise InputError(f"windows must be a non-empty list of (top, left, size) windows in SR pixels, "
                             f"got {windows!r}")
        wins = [self._window(win, block, s * h, s * w) for win in windows]
        bank = patch_bank(block, s, seed=seed) if patches is None else check_bank(patches, b)
        rows, cols = block_grid(h, w, b)
        coarse_idx, fine_idx = draws(seed, rows * cols, coarse, fine, bank.shape[0])
        bank = bank.to(self.device)

        boxes = self._boxes(x, wins)
        masks = torch.stack([self._in_box(box, rows, cols, b, h, w) for box in boxes])  # [W, rows, cols]
        run_box = self._union(boxes, h, w)
        r0, c0, bh, bw = run_box or (0, 0, h, w)
        base = x[:, r0:r0 + bh, c0:c0 + bw]
        local = [(t - s * r0, l - s * c0, wh, ww) for t, l, wh, ww in wins]
        targets = [y[:, t:t + wh, l:l + ww] for t, l, wh, ww in wins]

        with guarded(self.model):
            objectives = [functools.partial(_window_psnr, target=tgt) for tgt in targets]
            psnr0 = forward_values(self, base[None], local, objectives, 1, nonfinite="the LR input")[:, 0]  # [W]
            flat = masks.flatten(1)  # [W, n]
            run_blocks = flat.any(0).nonzero().flatten()
            psnr_c = self._stage(base, run_box, cols, run_blocks, coarse_idx, bank, b, local, objectives, "coarse",
                                 callback, cancel)  # [W, n, coarse]
            delta_c = (psnr0[:, None, None] - psnr_c).abs().amax(-1)  # [W, n]
            selected = flat & (delta_c >= threshold)
            fine_blocks = selected.any(0).nonzero().flatten()
            psnr_f = self._stage(base, run_box, cols, fine_blocks, fine_idx, bank, b, local, objectives, "fine",
                                 callback, cancel)  # [W, n, fine]
        mean = torch.where(selected, psnr_f.mean(-1), psnr_c.mean(-1))
        effect = psnr0[:, None] - mean
        effect = torch.where((effect.abs() < threshold) | ~flat, torch.zeros_like(effect), effect)
        passes = int(run_blocks.numel() * coarse + fine_blocks.numel() * fine)
        seconds = time.perf_counter() - t0
        settings = dict(block=block, coarse=coarse, fine=fine, threshold=threshold, seed=seed,
                        bank="default" if patches is None else "explicit", bank_size=int(bank.shape[0]),
                        device=str(self.device), windows=len(wins))
        results = []
        for i, win in enumerate(wins):
            emap = effect[i].view(rows, cols).cpu()
            inside = self._window_blocks(win, block, rows, cols)
            ctx = emap[~inside]
            results.append(CEMResult(
                map=emap, counts={"positive": int((ctx > 0).sum()), "negative": int((ctx < 0).sum()),
                                  "zero": int((ctx == 0).sum())},
                skipped=int((~masks[i]).sum()), window=win, block=block, scale=s, psnr=float(psnr0[i]),
                effect_range=(float(ctx.min()), float(ctx.max())) if ctx.numel() else (0.0, 0.0),
                window_blocks=inside, evaluated=masks[i].cpu(), fine_blocks=selected[i].view(rows, cols).cpu(),
                passes=passes, seconds=seconds, crop=run_box, settings=dict(settings)))
        return results

    # -- the intervention loop ---------------------------------------------------------------------------------
    def _stage(self, base, box, cols, blocks, idx, bank, b, local, objectives, stage, callback, cancel
               ) -> torch.Tensor:
        """PSNR of every window for ``idx.shape[1]`` interventions on each of ``blocks``: ``[W, n, k]`` float64
        (NaN where not run), through the runtime's forward-only loop (:func:`srwidgets.engine.forward_values`)."""
        n, k = idx.shape
        out = torch.full((len(local), n, k), float("nan"), dtype=torch.float64, device=self.device)
        total = int(blocks.numel()) * k
        if total == 0:
            return out
        r0, c0 = (box[0], box[1]) if box else (0, 0)

        def interventions(start, stop):
            j = torch.arange(start, stop)
            blk, rep = blocks[j // k], j % k
            batch = base[None].repeat(stop - start, 1, 1, 1)
            for m in range(stop - start):  # paste each patch where its block meets the crop
                bi, bj = divmod(int(blk[m]), cols)
                patch = bank[int(idx[blk[m], rep[m]])]
                _paste(batch[m], patch, bi * b - r0, bj * b - c0)
            return batch

        def report(done, total_):
            if callback is not None:
                callback(Progress(done, total_, stage))

        values = forward_values(self, interventions, local, objectives, total, pixels=base.shape[1] * base.shape[2],
                                cancel=cancel, on_chunk=report, nonfinite="intervened inputs (the patch bank's "
                                "values?)")
        j = torch.arange(total)
        out[:, blocks[j // k].to(self.device), (j % k).to(self.device)] = values
        return out

    # -- geometry -----------------------------------------------------------------------------------------------
    def _window(self, window, block, sh, sw):
        win = validate_window(window, sh, sw, min_size=1)  # PSNR takes no differences
        t, l, wh, ww = win
        if wh % block or ww % block or t % block or l % block:
            snap = (t // block * block, l // block * block, max(block, wh // block * block),
                    max(block, ww // block * block))
            raise InputError(f"the window {win} (top, left, height, width in SR pixels) is not on the block grid: "
                             f"its sides and its top-left corner must be multiples of block={block} (CEM's "
                             f"interventions are whole blocks, as in the authors' code); e.g. window={snap}")
        return win

    def _boxes(self, x, wins):
        """The verified receptive-field LR box of each window (None: the whole image)."""
        h, w = x.shape[1:]
        if not self.crop:
            return [None] * len(wins)
        with guarded(self.model):
            rf = measure_receptive_field(self.model, self.scale, max(h, w), self.device, self.dtype)
        return [crop_box(win, rf, self.scale, h, w) for win in wins]

    @staticmethod
    def _union(boxes, h, w):
        if any(box is None for box in boxes):
            return None
        r0, c0 = min(bx[0] for bx in boxes), min(bx[1] for bx in boxes)
        r1, c1 = max(bx[0] + bx[2] for bx in boxes), max(bx[1] + bx[3] for bx in boxes)
        box = (r0, c0, r1 - r0, c1 - c0)
        return None if box == (0, 0, h, w) else box

    @staticmethod
    def _in_box(box, rows, cols, b, h, w) -> torch.Tensor:
        """``[rows, cols]`` bool: blocks with at least one LR pixel inside ``box`` (all for None)."""
        if box is None:
            return torch.ones(rows, cols, dtype=torch.bool)
        r0, c0, bh, bw = box
        i, j = torch.arange(rows), torch.arange(cols)
        ri = (i * b < r0 + bh) & ((i + 1) * b > r0)
        cj = (j * b < c0 + bw) & ((j + 1) * b > c0)
        return ri[:, None] & cj[None, :]

    @staticmethod
    def _window_blocks(win, block, rows, cols) -> torch.Tensor:
        t, l, wh, ww = win
        inside = torch.zeros(rows, cols, dtype=torch.bool)
        inside[t // block:(t + wh) // block, l // block:(l + ww) // block] = True
        return inside


def _interventions(name: str, value, hint: str) -> int:
    """An intervention count: an integer in ``[1, MAX_STEPS]``."""
    n = check_int(name, value, 1, f" (interventions {hint})")
    if n > MAX_STEPS:
        raise InputError(f"{name}={n} interventions is above the ceiling of {MAX_STEPS:,}: a block's mean effect "
                         f"settles long before (the authors use 3 coarse and 50 fine); use at most {MAX_STEPS:,}")
    return n


def _cut(sr: torch.Tensor, win) -> torch.Tensor:
    t, l, wh, ww = win
    return sr[:, :, t:t + wh, l:l + ww]


def _window_psnr(sr: torch.Tensor, win, target: torch.Tensor) -> torch.Tensor:
    """The objective CEM measures: the window's PSNR against its HR ``target`` ``[3, wh, ww]``, ``[N]`` dB."""
    return window_psnr(_cut(sr, win), target)


def _paste(img: torch.Tensor, patch: torch.Tensor, top: int, left: int) -> None:
    """Write ``patch`` ``[3, b, b]`` into ``img`` ``[3, H, W]`` at ``(top, left)`` (may be partly outside)."""
    b = patch.shape[-1]
    H, W = img.shape[1:]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + b, H), min(left + b, W)
    if y1 > y0 and x1 > x0:
        img[:, y0:y1, x0:x1] = patch[:, y0 - top:y1 - top, x0 - left:x1 - left]
