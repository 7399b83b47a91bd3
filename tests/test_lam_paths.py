"""LAM's integration paths and baselines (srwidgets.lam.paths)."""
import numpy as np
import pytest
import torch
from srwidgets.errors import InputError
from srwidgets.filters import gaussian_blur2d, gaussian_kernel2d
from srwidgets.lam.paths import PATHS, BlurPath, LinearPath, make_path

from _helpers import explicit_filter


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
