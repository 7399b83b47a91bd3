"""The effective receptive field (srwidgets.lam.erf): hand-computable footprints, an independent finite-difference
gradient, the model left untouched, bad input."""
import numpy as np
import pytest
import torch
from torch import nn

from srwidgets.errors import InputError
from srwidgets.lam import LAM, effective_receptive_field
from srwidgets.lam.engine import gradient_detector
from srwidgets.lam.erf import ERFResult, erf


class OneConv(nn.Module):
    """One k x k convolution (zero padding) then a pixel shuffle x s: LR pixel (i, j) reaches the SR pixels of
    LR pixels i ± k//2, j ± k//2."""

    def __init__(self, k=3, scale=2, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, k, padding=k // 2)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv(x))


def footprint(window, scale, radius, h, w):
    """The LR pixels the window objective depends on, by hand. ``G[i, j]`` reads SR pixels ``(i, j)``,
    ``(i + 1, j)`` and ``(i, j + 1)``: so D reads the window, the SR row below it and the SR column right of it, but
    not the pixel diagonally below right. Their LR pixels ``(i // s, j // s)``, widened by the kernel radius."""
    top, left, height, width = window
    sr = np.zeros((h * scale, w * scale), bool)
    sr[top:top + height + 1, left:left + width] = True
    sr[top:top + height, left:left + width + 1] = True
    lr = np.zeros((h, w), bool)
    for i, j in zip(*sr.nonzero()):
        lr[i // scale, j // scale] = True
    mask = np.zeros((h, w), bool)
    for i, j in zip(*lr.nonzero()):
        mask[max(0, i - radius):i + radius + 1, max(0, j - radius):j + radius + 1] = True
    return mask


@pytest.mark.parametrize("k, scale, window", [(3, 2, (6, 8, 4, 6)), (5, 1, (4, 4, 2, 2)), (3, 3, (9, 0, 6, 5)),
                                              (3, 2, (20, 18, 4, 6))])
def test_erf_of_one_conv_is_its_kernels_footprint(k, scale, window):
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    r = erf(OneConv(k, scale), image, window)
    assert isinstance(r, ERFResult) and r.map.shape == (12, 12) and r.gradient.shape == (3, 12, 12)
    np.testing.assert_array_equal(r.map.numpy() > 0, footprint(window, scale, k // 2, 12, 12))
    assert float(r.map.max()) == 1.0 and 0 < r.diffusion_index < 100
    assert r.sr.shape == (3, 12 * scale, 12 * scale) and r.window == window


def test_erf_is_the_gradient_of_the_window_objective():
    model = OneConv(3, 2).double()
    image = torch.rand(3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    window = (4, 6, 6, 4)
    r = erf(model, image, window)

    def objective(x):
        with torch.no_grad():
            return float(gradient_detector(model(x[None]), window))

    assert r.objective == pytest.approx(objective(image), rel=1e-6)
    eps = 1e-6
    for c, i, j in [(0, 3, 4), (2, 5, 3), (1, 2, 2)]:
        step = torch.zeros_like(image)
        step[c, i, j] = eps
        numeric = (objective(image + step) - objective(image - step)) / (2 * eps)
        assert float(r.gradient[c, i, j]) == pytest.approx(numeric, rel=1e-4, abs=1e-6)
    expected = r.gradient.abs().sum(0)
    np.testing.assert_allclose(r.map, expected / expected.max(), rtol=1e-6)


def test_erf_leaves_the_model_as_it_was(edsr, image):
    model = OneConv().train()
    flags = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    erf(model, image, (4, 4, 8))
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_erf_and_lam_share_the_window_objective(edsr, image):
    e = effective_receptive_field(edsr, image, (4, 4, 8))
    lam = LAM(edsr).attribute(image, (4, 4, 8), steps=2, kernel_size=5)
    assert e.objective == pytest.approx(lam.objective, rel=1e-5)
    assert torch.equal(e.sr, lam.sr)


def test_erf_refuses_bad_input(image):
    with pytest.raises(InputError, match="outside the SR image"):
        erf(OneConv(), image, (20, 20, 8))
    with pytest.raises(InputError, match="nn.Module"):
        erf(lambda x: x, image, (0, 0, 4))
    with pytest.raises(InputError, match="upscales x2, not x3"):  # checked once, before any gradient
        erf(OneConv(scale=2), image, (0, 0, 4), scale=3)
    with pytest.raises(InputError, match="shape"):
        erf(OneConv(), torch.rand(4, 12, 12), (0, 0, 4))
