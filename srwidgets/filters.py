"""Gaussian kernels, reflect-101 padding and separable blurs: the one home of the filters that the degradations
(:mod:`srwidgets.degrade`), the LAM blur path (:mod:`srwidgets.lam.paths`) and SSIM (:mod:`srwidgets.metrics`) use.

In kornia's style: plain functions on ``(B, C, H, W)`` tensors, device and dtype agnostic, kernels built in float64.
Kernel axis (LAM's convention): ``a = arange(−l//2 + 1, l//2 + 1)`` with Python floor division, so an odd size ``l``
gives ``−r .. r``. Borders are reflect-101 (OpenCV's default ``dcb|abcd|cba``).

Example:
    >>> import torch
    >>> from srwidgets.filters import gaussian_blur2d, gaussian_kernel1d
    >>> gaussian_blur2d(torch.rand(2, 3, 16, 16), torch.tensor([0.5, 1.2]), 9).shape
    torch.Size([2, 3, 16, 16])
    >>> float(gaussian_kernel1d(1.5, 11, eps=0.0).sum())
    1.0
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import InputError

__all__ = ["kernel_axis", "gaussian_kernel1d", "gaussian_kernel2d", "check_kernel", "reflect101_pad",
           "separable_blur_valid", "separable_correlate", "gaussian_blur2d"]


def kernel_axis(kernel_size: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The kernel axis ``arange(−l//2 + 1, l//2 + 1)`` (Python floor division), shape ``[l]``."""
    return torch.arange(-kernel_size // 2 + 1, kernel_size // 2 + 1, dtype=dtype, device=device)


def gaussian_kernel1d(sigma, kernel_size: int, dtype=torch.float64, device=None, eps: float = 1e-5) -> torch.Tensor:
    """Normalised 1-D factors ``g_σ(a) ∝ exp(−a² / (2 (σ + eps)²))`` of an isotropic Gaussian kernel; ``eps = 1e-5``
    is LAM's convention, ``eps = 0`` the textbook one (degradations, SSIM).

    Args:
        sigma: float or tensor ``[S]`` of standard deviations (``σ + eps = 0`` gives the identity kernel).
        kernel_size: odd ``l``.
        eps: added to ``σ``.

    Returns:
        ``[S, l]`` (``[1, l]`` for a float); ``g ⊗ g`` equals :func:`gaussian_kernel2d` (the kernel is separable).
    """
    s = torch.as_tensor(sigma, dtype=dtype, device=device).reshape(-1, 1)
    a = kernel_axis(kernel_size, dtype, device)
    width = s + eps
    g = torch.where(width > 0, torch.exp(-(a ** 2) / (2.0 * width ** 2)), (a == 0).to(dtype))
    return g / g.sum(dim=1, keepdim=True)


def gaussian_kernel2d(sigma: float, kernel_size: int, dtype=torch.float64, device=None, eps: float = 1e-5
                      ) -> torch.Tensor:
    """LAM's ``isotropic_gaussian_kernel``: ``K(i, j) ∝ exp(−(a_i² + a_j²) / (2 (σ + eps)²))``, sum 1, ``[l, l]``."""
    a = kernel_axis(kernel_size, dtype, device)
    if sigma + eps == 0:
        return ((a[:, None] == 0) & (a[None, :] == 0)).to(dtype)
    k = torch.exp(-(a[:, None] ** 2 + a[None, :] ** 2) / (2.0 * (sigma + eps) ** 2))
    return k / k.sum()


def check_kernel(kernel_size, height: int, width: int) -> int:
    """Validate an odd kernel size against an ``height × width`` image (reflect-101 needs each side > radius);
    numpy integers are accepted. Returns the radius ``l // 2``."""
    import numbers

    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {kernel_size!r}")
    r = int(kernel_size) // 2
    if min(height, width) <= r:
        raise InputError(
            f"the image ({height}x{width} pixels) is too small for kernel_size={kernel_size}: reflect-101 borders "
            f"need each side > {r} pixels. Use a larger image or a smaller odd kernel_size (<= {2 * min(height, width) - 1})."
        )
    return r


def reflect101_pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Pad ``[B, C, H, W]`` by ``radius`` on each side with reflect-101 (OpenCV's default ``dcb|abcd|cba``)."""
    return F.pad(x, (radius, radius, radius, radius), mode="reflect") if radius else x


def separable_blur_valid(padded: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate one already padded image ``[C, H + 2r, W + 2r]`` with ``S`` separable kernels ``[S, l]`` ("valid").

    Returns ``[S, C, H, W]``: one blurred image per kernel, each channel filtered separately (the LAM blur path
    evaluates many σ of one image at once this way).
    """
    s, l = kernels.shape
    x = padded.unsqueeze(1)  # channels become the batch: [C, 1, H', W']
    x = F.conv2d(x, kernels.view(s, 1, l, 1))  # vertical pass, one output channel per kernel
    x = F.conv2d(x, kernels.view(s, 1, 1, l), groups=s)  # horizontal pass
    return x.transpose(0, 1)


def separable_correlate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``[B, C, H, W]`` with the separable kernel ``g ⊗ g`` (``g``: ``[l]``), "valid"
    region only: ``[B, C, H − l + 1, W − l + 1]`` (SSIM's windowed statistics)."""
    c, l = x.shape[1], g.numel()
    g = g.to(x.dtype).reshape(-1)
    gv, gh = g.view(1, 1, l, 1).repeat(c, 1, 1, 1), g.view(1, 1, 1, l).repeat(c, 1, 1, 1)
    return F.conv2d(F.conv2d(x, gv, groups=c), gh, groups=c)


def gaussian_blur2d(x: torch.Tensor, sigma, kernel_size: int, eps: float = 1e-5) -> torch.Tensor:
    """Blur a batch ``[B, C, H, W]`` with an isotropic Gaussian (reflect-101 borders, separable; kernel weights in
    float64, then cast to ``x``'s dtype). ``eps`` as in :func:`gaussian_kernel1d` (LAM's 1e-5 by default).

    ``sigma`` is a float (same kernel for all) or a tensor ``[B]`` (one per image). Output ``[B, C, H, W]``.
    """
    b = x.shape[0]
    g = gaussian_kernel1d(sigma, kernel_size, torch.float64, x.device, eps).to(x.dtype)
    g = g.expand(b, -1) if g.shape[0] == 1 else g
    r = kernel_size // 2
    xp = reflect101_pad(x, r)
    c, l = x.shape[1], kernel_size
    w = g.repeat_interleave(c, dim=0)
    y = F.conv2d(xp.reshape(1, b * c, *xp.shape[2:]), w.view(b * c, 1, l, 1), groups=b * c)
    y = F.conv2d(y, w.view(b * c, 1, 1, l), groups=b * c)
    return y.view(b, c, *x.shape[2:])
