"""The patch bank of CEM: the LR patches an intervention puts in place of a block, and the seeded draws.

A bank is a ``[P, 3, b, b]`` float tensor in [0, 1] of LR patches, ``b = block / scale`` LR pixels. The authors
cut 8 × 8 patches from DIV2K and resize them bicubically to the LR block (OpenCV ``INTER_CUBIC``, no
antialiasing); :func:`patch_bank` cuts ``block × block`` SR-pixel crops from HR images (the bundled ones by
default) and down-samples them by ``scale`` with the antialiased bicubic of :func:`srwidgets.degrade.bicubic_down`
(PIL's), the same resize the LR inputs here are made with. At scale 1 the crops are used as they are.

:func:`draws` fixes which patch every intervention uses, independent of the window, the crop and the thresholds,
so that an explicit bank and a seed give the same interventions in any implementation (the benchmark's
per-block loop uses it too).

Example:
    >>> bank = patch_bank(block=8, scale=4, size=16, seed=0)
    >>> tuple(bank.shape), bool(torch.equal(bank, patch_bank(block=8, scale=4, size=16, seed=0)))
    ((16, 3, 2, 2), True)
    >>> coarse, fine = draws(seed=0, blocks=4, coarse=3, fine=5, bank_size=16)
    >>> tuple(coarse.shape), tuple(fine.shape)
    ((4, 3), (4, 5))
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch

from ..engine.inputs import check_int, check_seed, check_value_range
from ..errors import InputError

__all__ = ["DEFAULT_BANK_SIZE", "MAX_BANK_SIZE", "patch_bank", "check_block", "check_bank", "draws"]

DEFAULT_BANK_SIZE = 1024
"""Patches in the default bank. Each block draws ``coarse + fine`` = 53 of them with replacement, so 1024 keeps
repeats within a block rare (about 1.3 expected pairs) while the bank is cut in a few milliseconds."""
MAX_BANK_SIZE = 100_000
"""The most patches a bank may hold (``size=``, ``--bank-size``): the bank is cut patch by patch (about 25,000 a
second), and far fewer already sample the image statistics (the authors use 1,024)."""


def patch_bank(block: int = 8, scale: int = 4, *, images: Optional[Sequence[torch.Tensor]] = None,
               size: int = DEFAULT_BANK_SIZE, seed: int = 0) -> torch.Tensor:
    """A seeded bank of ``size`` LR patches ``[size, 3, block/scale, block/scale]`` float64 CPU, in [0, 1].

    Patch ``i`` is the ``block × block`` crop of HR image ``images[k_i]`` at ``(top_i, left_i)`` (SR pixels),
    bicubic-down-sampled by ``scale`` (antialiased) and clamped to [0, 1]; ``k_i, top_i, left_i`` are drawn in
    that order, patch by patch, from ``torch.Generator().manual_seed(seed)`` with ``torch.randint``.

    Args:
        block: the block side in SR pixels, a multiple of ``scale``.
        scale: the model's scale (1 for denoising: the crops are used unresized).
        images: HR images ``[3, H, W]`` in [0, 1], each at least ``block`` on a side (default: the bundled images
            of :mod:`srwidgets.data`).
        size: patches in the bank.
        seed: the seed of the draws.
    """
    scale = check_int("scale", scale, 1)
    block, b = check_block(block, scale)
    size, seed = check_int("size", size, 1, " (patches in the bank)"), check_seed(seed)
    if size > MAX_BANK_SIZE:
        raise InputError(f"size={size} patches is more than a bank needs (at most {MAX_BANK_SIZE}: "
                         f"far fewer already sample the images' statistics; the authors use 1,024)")
    if images is None:
        from .. import data

        images = [data.image(name, modcrop=1) for name in data.images()]
    if isinstance(images, torch.Tensor) and images.dim() == 3:
        images = [images]
    if len(images) == 0:
        raise InputError("patch_bank(images=[]) has no images to cut patches from; pass HR images [3, H, W] in "
                         "[0, 1] or images=None for the bundled ones")
    pics = []
    for k, im in enumerate(images):
        if not isinstance(im, torch.Tensor) or im.dim() != 3 or im.shape[0] != 3 or not im.is_floating_point():
            raise InputError(f"patch_bank: image {k} must be a float tensor [3, H, W] in [0, 1], got "
                             f"{getattr(im, 'shape', type(im).__name__)}")
        if min(im.shape[1:]) < block:
            raise InputError(f"patch_bank: image {k} ({im.shape[1]}x{im.shape[2]}) is smaller than one block "
                             f"({block}x{block} SR pixels); use larger images or a smaller block")
        check_value_range(im, f"patch_bank image {k}")
        pics.append(im.detach().double().cpu())
    gen = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(size):
        k = int(torch.randint(len(pics), (1,), generator=gen))
        h, w = pics[k].shape[1:]
        top = int(torch.randint(h - block + 1, (1,), generator=gen))
        left = int(torch.randint(w - block + 1, (1,), generator=gen))
        crops.append(pics[k][:, top:top + block, left:left + block])
    crops = torch.stack(crops)
    if scale == 1:
        return crops.contiguous()
    from ..degrade import bicubic_down

    return bicubic_down(crops, scale).clamp(0, 1)


def check_block(block, scale: int) -> Tuple[int, int]:
    """``(block, block // scale)``: the block in SR pixels must be a positive multiple of the scale."""
    block = check_int("block", block, 1, " (SR pixels; the authors use 8)")
    if block % scale:
        raise InputError(f"block={block} SR pixels is not a multiple of the scale {scale}: a block must cover whole "
                         f"LR pixels; use block={max(scale, block // scale * scale)} or {(block // scale + 1) * scale}")
    return block, block // scale


def check_bank(patches, b: int) -> torch.Tensor:
    """An explicit bank checked: ``[P, 3, b, b]`` float in [0, 1] with ``P >= 1``; returned float64 CPU."""
    if not isinstance(patches, torch.Tensor):
        raise InputError(f"patches must be a float tensor [P, 3, {b}, {b}] of LR patches in [0, 1] (or None for the "
                         f"seeded default bank), got {type(patches).__name__}")
    if patches.dim() != 4 or patches.shape[1] != 3 or tuple(patches.shape[2:]) != (b, b):
        raise InputError(f"patches has shape {tuple(patches.shape)}; expected [P, 3, {b}, {b}]: one LR block "
                         f"({b}x{b} LR pixels = block / scale) per patch, RGB (build one with "
                         "srwidgets.cem.patch_bank(block, scale, images=...))")
    if patches.shape[0] == 0:
        raise InputError(f"the patch bank is empty (shape {tuple(patches.shape)}); give at least one patch, or "
                         "patches=None for the seeded default bank")
    if not patches.is_floating_point():
        raise InputError(f"patches must be float in [0, 1], got dtype {patches.dtype}; use patches.float() / 255")
    check_value_range(patches, "the patch bank")
    return patches.detach().double().cpu().clamp(0, 1)


def draws(seed: int, blocks: int, coarse: int, fine: int, bank_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Which bank patch every intervention uses: ``(coarse_idx [blocks, coarse], fine_idx [blocks, fine])`` int64.

    One ``torch.Generator().manual_seed(seed)``: first ``torch.randint(bank_size, (blocks, coarse))``, then
    ``torch.randint(bank_size, (blocks, fine))``, blocks in row-major order of the whole image's block grid. Every
    block gets its fine draws whether or not it reaches the fine stage, so a block's interventions never depend on
    the window, the crop, the threshold or the other blocks.
    """
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(bank_size, (blocks, coarse), generator=gen),
            torch.randint(bank_size, (blocks, fine), generator=gen))
