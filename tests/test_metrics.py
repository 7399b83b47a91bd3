"""PSNR / SSIM / Gini / Diffusion Index on hand-computable inputs."""
import math

import pytest
import torch

from srwidgets import metrics

torch.set_num_threads(1)


# --- PSNR ----------------------------------------------------------------------------------------------------------
def test_psnr_of_a_known_mse_rgb():
    a = torch.zeros(3, 8, 8)
    b = torch.zeros(3, 8, 8)
    b[:, :4] = 10 / 255  # half the pixels off by 10 grey levels: MSE = 0.5 * (10/255)^2
    want = 10 * math.log10(255**2 / (0.5 * 100))  # 31.14 dB
    assert metrics.psnr(a, b, y_channel=False) == pytest.approx(want, abs=1e-9)
    assert metrics.psnr(a, b, y_channel=False) == pytest.approx(31.1411, abs=1e-4)


def test_psnr_on_y_channel_of_grey_images():
    # for grey pixels Y = (16 + 219 v) / 255, so a difference d becomes 219/255 * d
    a = torch.zeros(3, 8, 8)
    b = torch.full((3, 8, 8), 10 / 255)
    want = 20 * math.log10(255 / 10) - 20 * math.log10(219 / 255)
    assert metrics.psnr(a, b) == pytest.approx(want, abs=1e-6)


def test_psnr_identical_is_inf_and_shave():
    a = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(0))
    assert metrics.psnr(a, a.clone()) == math.inf
    b = a.clone()
    b[:, 0, :] = 1 - b[:, 0, :]  # only the border row differs
    assert metrics.psnr(a, b) < 40
    assert metrics.psnr(a, b, shave=1) == math.inf


def test_psnr_quantises_to_8_bits_and_batches():
    a = torch.full((3, 4, 4), 0.5)
    assert metrics.psnr(a, a + 0.1 / 255) == math.inf  # under half a grey level: same 8-bit value
    a4, b4 = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 10 / 255)
    assert metrics.psnr(a4, b4, y_channel=False) == pytest.approx(20 * math.log10(25.5), abs=1e-9)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))


def test_rgb_to_y_range():
    assert float(metrics.rgb_to_y(torch.zeros(3, 1, 1))) == pytest.approx(16 / 255)
    assert float(metrics.rgb_to_y(torch.ones(3, 1, 1))) == pytest.approx(235 / 255)


# --- SSIM ----------------------------------------------------------------------------------------------------------
def test_ssim_identical_is_one():
    a = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0))
    assert metrics.ssim(a, a.clone()) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(a, a.clone(), y_channel=False) == pytest.approx(1.0, abs=1e-12)


def test_ssim_lower_for_more_noise():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6, generator=g), size=(32, 32), mode="bilinear")[0]
    n = torch.randn(3, 32, 32, generator=g)
    s_small, s_big = metrics.ssim(a, (a + 0.02 * n).clamp(0, 1)), metrics.ssim(a, (a + 0.2 * n).clamp(0, 1))
    assert 1 > s_small > s_big


def test_ssim_of_a_constant_shift():
    # flat images: sigma = 0, SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    a, b = torch.full((3, 16, 16), 100 / 255), torch.full((3, 16, 16), 120 / 255)
    c1 = (0.01 * 255) ** 2
    ya, yb = 16 + 219 * 100 / 255, 16 + 219 * 120 / 255
    assert metrics.ssim(a, b) == pytest.approx((2 * ya * yb + c1) / (ya**2 + yb**2 + c1), abs=1e-9)


# --- Gini / DI -----------------------------------------------------------------------------------------------------
def test_gini_uniform_is_zero():
    assert metrics.gini(torch.full((16, 16), 0.37)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [4, 100, 64 * 64])
def test_gini_one_hot_is_one_minus_one_over_n(n):
    m = torch.zeros(n)
    m[n // 3] = 5.0
    assert metrics.gini(m) == pytest.approx(1 - 1 / n, abs=1e-4)


def test_gini_by_hand():
    # [1, 2, 3]: (-2*1 + 0*2 + 2*3) / (3 * 6) = 2/9
    assert metrics.gini(torch.tensor([3.0, 1.0, 2.0])) == pytest.approx(2 / 9, abs=1e-6)
    # a 2-D map is flattened
    assert metrics.gini(torch.tensor([[3.0, 1.0], [2.0, 2.0]])) == pytest.approx(
        (-3 * 1 - 1 * 2 + 1 * 2 + 3 * 3) / (4 * 8), abs=1e-6)


def test_gini_negative_shift_rule():
    # any negative entry: shift so the minimum is 0 -> [-1, 0, 1] becomes [0, 1, 2]: (0 + 0 + 2*2) / (3*3) = 4/9
    assert metrics.gini(torch.tensor([-1.0, 0.0, 1.0])) == pytest.approx(4 / 9, abs=1e-6)
    assert metrics.gini(torch.tensor([-1.0, 0.0, 1.0])) == pytest.approx(metrics.gini(torch.tensor([0.0, 1.0, 2.0])), abs=1e-6)
    # no negative entry: no shift ([1, 2, 3] is not moved to [0, 1, 2])
    assert metrics.gini(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(2 / 9, abs=1e-6)


def test_gini_errors():
    with pytest.raises(ValueError, match="empty"):
        metrics.gini(torch.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        metrics.gini(torch.tensor([1.0, float("nan")]))


@pytest.mark.parametrize("m", [torch.full((8, 8), 2.0), torch.tensor([3.0, 1.0, 2.0]), torch.tensor([0.0, 0.0, 0.0, 1.0])])
def test_diffusion_index_is_one_minus_gini_times_100(m):
    assert metrics.diffusion_index(m) == pytest.approx((1 - metrics.gini(m)) * 100, abs=1e-12)


def test_diffusion_index_values():
    assert metrics.diffusion_index(torch.ones(10, 10)) == pytest.approx(100.0, abs=1e-9)
    assert metrics.diffusion_index(torch.tensor([0.0, 0.0, 0.0, 1.0])) == pytest.approx(25.0, abs=1e-4)
