"""Scalar measures shared by the engines and the zoo: PSNR/SSIM on the Y channel, Gini index, Diffusion Index.

Images are ``[3, H, W]`` or ``[N, 3, H, W]`` float tensors in ``[0, 1]`` (RGB).
"""
from __future__ import annotations

import math

import torch

from .filters import gaussian_kernel1d, separable_correlate


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma as used by the SR literature (MATLAB ``rgb2ycbcr``), ``[..., 3, H, W]`` in [0, 1] ->
    ``[..., 1, H, W]`` in [16/255, 235/255]."""
    r, g, b = img[..., 0:1, :, :], img[..., 1:2, :, :], img[..., 2:3, :, :]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _prepare(a: torch.Tensor, b: torch.Tensor, shave: int, y_channel: bool):
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.double(), b.double()
    if a.dim() == 3:
        a, b = a[None], b[None]
    # Quantise to 8 bits as published PSNR figures do.
    a = (a.clamp(0, 1) * 255).round() / 255
    b = (b.clamp(0, 1) * 255).round() / 255
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    if shave:
        a = a[..., shave:-shave, shave:-shave]
        b = b[..., shave:-shave, shave:-shave]
    return a, b


def psnr(a: torch.Tensor, b: torch.Tensor, shave: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB between two images in [0, 1], on the Y channel by default, ``shave`` border pixels removed
    (the SR convention shaves ``scale`` pixels)."""
    a, b = _prepare(a, b, shave, y_channel)
    mse = ((a - b) ** 2).mean().item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor, shave: int = 0, y_channel: bool = True) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03) on the 0-255 scale."""
    a, b = _prepare(a, b, shave, y_channel)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels (after shaving), got {tuple(a.shape[-2:])}")
    a, b = a * 255, b * 255
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = gaussian_kernel1d(1.5, 11, eps=0.0)[0]  # the Gaussian of the reference implementation

    def conv(t):  # separable 11x11 Gaussian, valid region only, as the reference implementation
        return separable_correlate(t, g)

    mu_a, mu_b = conv(a), conv(b)
    saa = conv(a * a) - mu_a**2
    sbb = conv(b * b) - mu_b**2
    sab = conv(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return m.mean().item()


def gini(values: torch.Tensor) -> float:
    """Gini index of a non-negative map (LAM's convention): flatten, shift so the minimum is >= 0 if any entry is
    negative, add 1e-7, sort ascending, ``G = sum_i (2i - n - 1) m_i / (n sum_i m_i)`` with ``i = 1..n``.

    0 means every pixel contributes equally, 1 means a single pixel carries everything.
    """
    m = values.detach().flatten().double()
    if m.numel() == 0:
        raise ValueError("gini of an empty map")
    if torch.isnan(m).any():
        raise ValueError("gini of a map that contains NaN")
    if (m < 0).any():
        m = m - m.min()
    m = torch.sort(m + 1e-7).values
    n = m.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64, device=m.device)
    return float(((2 * i - n - 1) * m).sum() / (n * m.sum()))


def diffusion_index(values: torch.Tensor) -> float:
    """LAM's Diffusion Index ``(1 - Gini) * 100``: larger means the network draws on a wider area."""
    return (1.0 - gini(values)) * 100.0


def spearman(a, b) -> float:
    """Spearman's rank correlation of two maps or vectors (flattened; ties get average ranks; scipy's
    ``spearmanr``), ``nan`` when either is constant or has fewer than 2 values (no ranking to compare).

    Example:
        >>> round(spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 30.0, 20.0])), 3)
        0.5
    """
    import warnings

    import numpy as np
    from scipy.stats import spearmanr

    from .errors import InputError

    a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64).ravel()
    b = np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=np.float64).ravel()
    if a.size != b.size:
        raise InputError(f"spearman: {a.size} and {b.size} values; compare maps of the same shape")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a, b)[0])
