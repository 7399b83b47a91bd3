"""Paths and baselines (srwidgets.paths): kernels, reflect-101 blur, path points/derivatives, crops, geometry."""
import numpy as np
import pytest
import torch
from torch import nn

from srwidgets.errors import InputError
from srwidgets.paths import (PATHS, BlurPath, LinearPath, check_kernel, crop_box, estimate_chunk, frozen,
                             gaussian_blur2d, gaussian_kernel1d, gaussian_kernel2d, group_windows, kernel_axis,
                             make_path, measure_receptive_field, reflect101_pad, saved_bytes, validate_window)


def explicit_filter(x, k):
    """cv2.filter2D-style correlation of ``[C, H, W]`` with a 2-D kernel, reflect-101 borders (numpy)."""
    r = k.shape[0] // 2
    p = np.pad(x, ((0, 0), (r, r), (r, r)), mode="reflect")
    out = np.zeros_like(x)
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * p[:, i:i + x.shape[1], j:j + x.shape[2]]
    return out


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


def test_blur_path_points_and_derivatives():
    x = torch.rand(3, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    n, sigma, l = 5, 1.2, 5
    path = BlurPath(x, n, sigma, l)
    p, d = path.points(0, n)
    assert p.shape == (n, 3, 8, 10) and path.total == n
    assert torch.allclose(p[-1], x, atol=1e-15)  # x_n = x
    kernels = [gaussian_kernel2d(s, l).numpy() for s in np.linspace(sigma, 0, n + 1)]
    for k in range(1, n + 1):
        assert np.allclose(p[k - 1].numpy(), explicit_filter(x.numpy(), kernels[k]), atol=1e-12)
        assert np.allclose(d[k - 1].numpy(), explicit_filter(x.numpy(), (kernels[k] - kernels[k - 1]) * n), atol=1e-10)
    assert np.allclose(path.baselines()[0].numpy(), explicit_filter(x.numpy(), kernels[0]), atol=1e-12)
    # chunks and crops are slices of the same path
    p2, d2 = path.points(2, 4, box=(1, 2, 5, 6))
    assert torch.allclose(p2, p[2:4, :, 1:6, 2:8], atol=1e-13) and torch.allclose(d2, d[2:4, :, 1:6, 2:8], atol=1e-12)


@pytest.mark.parametrize("name", ["black", "uniform", "gaussian", "blurred", "multi"])
def test_straight_line_paths(name):
    x = torch.rand(3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    path = make_path(name, x, steps=4, sigma=1.0, kernel_size=3, seed=3, num_baselines=2)
    assert isinstance(path, LinearPath)
    base = path.baselines()
    assert base.shape == ((2 if name == "multi" else 1), 3, 6, 6) and 0 <= float(base.min()) <= float(base.max()) <= 1
    p, d = path.points(0, path.total)
    assert path.total == 4 * base.shape[0]
    for b in range(base.shape[0]):
        for k in range(1, 5):
            j = b * 4 + k - 1
            assert torch.allclose(p[j], base[b] + k / 4 * (x - base[b]))
            assert torch.allclose(d[j], x - base[b])
    assert torch.equal(make_path(name, x, 4, 1.0, 3, seed=3, num_baselines=2).baselines(), base)  # seeded
    if name == "black":
        assert base.abs().max() == 0
    if name == "blurred":
        assert torch.allclose(base[0], gaussian_blur2d(x[None], 1.0, 3)[0])
    if name == "multi":
        assert path.label(5) == "baseline 1, step k=2"


def test_every_path_has_a_description():
    assert set(PATHS) == {"blur", "black", "uniform", "gaussian", "blurred", "multi"}
    assert all(isinstance(v, str) and v for v in PATHS.values())
    with pytest.raises(InputError, match="unknown path"):
        make_path("zigzag", torch.rand(3, 4, 4))


def test_check_kernel():
    assert check_kernel(9, 5, 5) == 4
    for bad in (0, 4, -3, 2.0, True):
        with pytest.raises(InputError, match="odd"):
            check_kernel(bad, 20, 20)
    with pytest.raises(InputError, match="too small"):
        check_kernel(9, 4, 20)


def test_validate_window():
    assert validate_window((1, 2, 3), 10, 10) == (1, 2, 3, 3)
    assert validate_window([0, 0, 4, 10], 10, 10) == (0, 0, 4, 10)
    with pytest.raises(InputError, match="outside"):
        validate_window((8, 0, 4), 10, 10)
    with pytest.raises(InputError, match="too small"):
        validate_window((0, 0, 2, 1), 10, 10)


class Conv(nn.Module):
    """One 3x3 conv then pixel shuffle ×s: an LR pixel reaches conv outputs p−1..p+1, i.e. SR s(p−1)..s(p+2)−1."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.up(self.conv(x))


@pytest.mark.parametrize("scale, rf", [(1, (-1, 1, -1, 1)), (2, (-2, 3, -2, 3)), (3, (-3, 5, -3, 5))])
def test_receptive_field_of_a_known_model(scale, rf):
    assert measure_receptive_field(Conv(scale), scale, 40, "cpu") == rf


def test_receptive_field_of_a_global_model_is_unbounded():
    class Global(nn.Module):
        scale = 1

        def forward(self, x):
            return x - x.mean(dim=(2, 3), keepdim=True)

    assert measure_receptive_field(Global(), 1, 30, "cpu") is None


def test_crop_box_covers_the_dependency_cone():
    rf = (-2, 3, -2, 3)  # Conv(2)
    # SR rows 10..14 (window 4 + difference) come from LR pixels p with 2p-2 <= y <= 2p+3: p = 4..8; margin 2.
    assert crop_box((10, 10, 4, 4), rf, 2, 30, 30) == (2, 2, 9, 9)
    assert crop_box((0, 0, 4, 4), rf, 2, 30, 30) == (0, 0, 6, 6)
    assert crop_box((4, 4, 4, 4), rf, 2, 8, 8) is None  # the whole image
    assert crop_box((10, 10, 4, 4), None, 2, 30, 30) is None


def test_group_windows_prefers_shared_boxes_for_neighbours():
    near = group_windows([(0, 0, 4, 4), (2, 2, 4, 4)], [(0, 0, 10, 10), (1, 1, 10, 10)], 100, 100)
    assert len(near) == 1 and near[0][1] == (0, 0, 11, 11)
    far = group_windows([(0, 0, 4, 4), (80, 80, 4, 4)], [(0, 0, 10, 10), (80, 80, 10, 10)], 100, 100)
    assert len(far) == 2


def test_chunk_size_policy():
    cpu = torch.device("cpu")
    assert estimate_chunk(None, 100, cpu) == 1  # unknown memory: measure on one evaluation first
    assert estimate_chunk(1e3, 100, cpu, chunk_size=7) == 7
    assert estimate_chunk(1e9, 100, cpu) == 1  # over the budget still runs one at a time
    # CPU: small (cropped) inputs batch up to 10 steps (about 6000 LR pixels a chunk), 64x64 and larger one at a time
    assert estimate_chunk(10.0, 100, cpu, memory_budget=1 << 40) == 10
    assert estimate_chunk(10.0, 40 * 40, cpu, memory_budget=1 << 40) == 3
    assert estimate_chunk(10.0, 64 * 64, cpu, memory_budget=1 << 40) == 1
    assert estimate_chunk(10.0, 100, cpu, memory_budget=2500) == 1  # the memory budget still wins


def test_frozen_restores_flags_and_saved_bytes_counts():
    m = nn.Conv2d(3, 4, 3)
    m.bias.requires_grad_(False)
    with frozen(m):
        assert not any(p.requires_grad for p in m.parameters())
        x = torch.rand(1, 3, 8, 8, requires_grad=True)
        with saved_bytes() as meter:
            m(x).relu().sum()
    assert m.weight.requires_grad and not m.bias.requires_grad
    assert meter.bytes >= x.numel() * 4
