"""Gaussian kernels, reflect-101 padding and separable blurs (srwidgets.filters)."""
import numpy as np
import pytest
import torch
from srwidgets.errors import InputError
from srwidgets.filters import (check_kernel, gaussian_blur2d, gaussian_kernel1d, gaussian_kernel2d, kernel_axis,
                               reflect101_pad, separable_correlate)

from _helpers import explicit_filter


def test_kernel_axis_follows_python_floor_division():
    assert kernel_axis(9).tolist() == list(range(-4, 5))
    assert kernel_axis(1).tolist() == [0]

def test_kernel_is_separable_normalised_and_identity_at_zero():
    k2 = gaussian_kernel2d(1.2, 9)
    g = gaussian_kernel1d(1.2, 9)[0]
    assert torch.allclose(torch.outer(g, g), k2, atol=1e-15) and float(k2.sum()) == pytest.approx(1.0)
    a = np.arange(-4, 5)
    manual = np.exp(-(a[:, None] ** 2 + a[None, :] ** 2) / (2 * (1.2 + 1e-5) ** 2))
    assert np.allclose(k2.numpy(), manual / manual.sum())
    assert gaussian_kernel2d(0.0, 5)[2, 2] == 1.0 and gaussian_kernel2d(0.0, 5).sum() == 1.0

def test_reflect_101_convention():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).expand(1, 1, 3, 4)
    assert reflect101_pad(x, 2)[0, 0, 2].tolist() == [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]

def test_gaussian_blur_matches_explicit_2d_correlation():
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sig = torch.tensor([0.7, 2.0], dtype=torch.float64)
    y = gaussian_blur2d(x, sig, 5)
    for b in range(2):
        ref = explicit_filter(x[b].numpy(), gaussian_kernel2d(float(sig[b]), 5).numpy())
        assert np.allclose(y[b].numpy(), ref, atol=1e-12)

def test_check_kernel():
    assert check_kernel(9, 5, 5) == 4
    for bad in (0, 4, -3, 2.0, True):
        with pytest.raises(InputError, match="odd"):
            check_kernel(bad, 20, 20)
    with pytest.raises(InputError, match="too small"):
        check_kernel(9, 4, 20)


def _valid_correlate(x, k):
    """Explicit 2-D correlation of ``[C, H, W]`` with a ``[l, l]`` kernel, "valid" region only (numpy)."""
    l = k.shape[0]
    h, w = x.shape[1] - l + 1, x.shape[2] - l + 1
    out = np.zeros((x.shape[0], h, w))
    for i in range(l):
        for j in range(l):
            out += k[i, j] * x[:, i:i + h, j:j + w]
    return out

def test_separable_correlate_equals_explicit_valid_correlation():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 12, 15, dtype=torch.float64, generator=gen)
    g = torch.rand(5, dtype=torch.float64, generator=gen)  # not symmetric: correlation, not convolution
    y = separable_correlate(x, g)
    assert y.shape == (2, 3, 8, 11)
    k = torch.outer(g, g).numpy()
    for b in range(2):
        assert np.allclose(y[b].numpy(), _valid_correlate(x[b].numpy(), k), atol=1e-12)

def test_separable_correlate_is_correlation_not_convolution():
    # an impulse at (0, 0) of a 3x3 image, kernel [1, 2, 3]: the one valid output is k[0, 0] * 1 = 1 (a
    # convolution would flip the kernel and give 9)
    x = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0
    assert separable_correlate(x, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).item() == 1.0

@pytest.mark.parametrize("sigma,k", [(0.8, 5), (1.5, None), (2.0, 7)])
def test_gaussian_blur2d_eps0_equals_degrade_gaussian_blur(sigma, k):
    from srwidgets import degrade

    x = torch.rand(2, 3, 16, 13, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    size = k or 2 * int(np.ceil(3 * sigma)) + 1
    assert torch.allclose(gaussian_blur2d(x, sigma, size, eps=0), degrade.gaussian_blur(x, sigma, k), atol=1e-14)
    # LAM's eps = 1e-5 is a (slightly) different kernel: the comparison above can tell them apart
    assert not torch.equal(gaussian_blur2d(x, sigma, size), degrade.gaussian_blur(x, sigma, k))
