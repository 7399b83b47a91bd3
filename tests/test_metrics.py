"""PSNR / SSIM / Gini / Diffusion Index on hand-computable inputs."""
import math

import numpy as np
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


# --- PSNR shave: all four borders ---------------------------------------------------------------------------------
def _with_diff(rows, cols, h=12, w=10):
    """A grey image and a copy differing (by 40 grey levels) only at pixels ``rows × cols``."""
    a = torch.full((3, h, w), 100 / 255)
    b = a.clone()
    b[:, rows, cols] = 140 / 255
    return a, b


@pytest.mark.parametrize("rows,cols", [(slice(-2, None), slice(None)), (slice(None), slice(-2, None)),
                                       (slice(-1, None), slice(-1, None))],
                         ids=["bottom-rows", "right-cols", "bottom-right-corner"])
def test_psnr_shave_removes_bottom_and_right_borders(rows, cols):
    a, b = _with_diff(rows, cols)
    assert metrics.psnr(a, b) < 40  # the difference counts without shaving
    assert metrics.psnr(a, b, shave=2) == math.inf


@pytest.mark.parametrize("rows,cols", [(slice(0, 2), slice(None)), (slice(None), slice(0, 2)),
                                       (slice(0, 1), slice(0, 1))],
                         ids=["top-rows", "left-cols", "top-left-corner"])
def test_psnr_shave_removes_top_and_left_borders(rows, cols):
    a, b = _with_diff(rows, cols)
    assert metrics.psnr(a, b) < 40
    assert metrics.psnr(a, b, shave=2) == math.inf


def test_psnr_shave_keeps_the_inside():
    # one pixel just inside the shaved border (row/col 2 and h-3/w-3 stay with shave=2): finite, and by hand
    a, b = _with_diff([2, 9], [2, 7])  # pixels (2, 2) and (9, 7) of a 12x10 image
    d = 40 * 219 / 255 / 255  # Y-channel difference of a grey step of 40 levels
    want = 10 * math.log10(1 / (2 * d**2 / (8 * 6)))  # 2 of the 8x6 kept pixels differ
    assert metrics.psnr(a, b, shave=2) == pytest.approx(want, abs=1e-9)


# --- against scikit-image ------------------------------------------------------------------------------------------
def _astronaut_pair():
    """A natural image crop and a blurred, noisy copy of it (seeded)."""
    from srwidgets import data
    from srwidgets import degrade as D

    a = data.image("astronaut")[:, 64:160, 48:176]  # 96 x 128
    noise = torch.randn(a.shape, generator=torch.Generator().manual_seed(0))
    b = (D.gaussian_blur(a, 1.0) + 0.03 * noise).clamp(0, 1)
    return a, b


def test_rgb_to_y_matches_skimage_rgb2ycbcr():
    color = pytest.importorskip("skimage.color")
    a, _ = _astronaut_pair()
    ours = metrics.rgb_to_y(a.double())[0].numpy() * 255
    ref = color.rgb2ycbcr(a.double().permute(1, 2, 0).numpy())[..., 0]  # float input in [0, 1] -> Y in [16, 235]
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_ssim_matches_skimage_structural_similarity():
    skm = pytest.importorskip("skimage.metrics")
    a, b = _astronaut_pair()
    # the reference input: our ssim quantises each RGB image to 8 bits first, then takes Y on the 0-255 scale
    q = lambda x: (x.double().clamp(0, 1) * 255).round() / 255  # noqa: E731
    ya, yb = (metrics.rgb_to_y(q(x))[0].numpy() * 255 for x in (a, b))
    # sigma=1.5 with skimage's truncate=3.5 gives the 11x11 window. skimage filters the whole image (reflect
    # borders) but averages the SSIM map only after cropping (win_size - 1) // 2 = 5 pixels per side, which is
    # exactly our "valid" region: no extra crop needed.
    ref = skm.structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255)
    ours = metrics.ssim(a, b)
    assert 0.5 < ref < 0.95  # a non-trivial case
    assert ours == pytest.approx(ref, abs=1e-4)


def test_ssim_kernel_is_the_textbook_11_tap_gaussian():
    from srwidgets.filters import gaussian_kernel1d

    g = gaussian_kernel1d(1.5, 11, eps=0)[0]
    x = np.arange(-5, 6)
    want = np.exp(-x**2 / (2 * 1.5**2))
    assert g.shape == (11,) and g.dtype == torch.float64
    np.testing.assert_allclose(g.numpy(), want / want.sum(), rtol=1e-13)
    assert float(g[5]) == pytest.approx(0.2660, abs=5e-5)  # centre tap 1 / Σ exp(−a²/4.5) = 1 / 3.7592


def test_ssim_uses_the_separable_valid_correlation():
    # SSIM's windowed mean of a single bright pixel: 11x11 image, so exactly one valid window, centred on it.
    # a = impulse of v at the centre, b = 0: SSIM = (C1 (2 s_ab + C2)) / ((mu_a^2 + C1)(s_aa + C2))
    from srwidgets.filters import gaussian_kernel1d

    v = 200.0
    a = torch.zeros(3, 11, 11)
    a[:, 5, 5] = v / 255
    b = torch.zeros(3, 11, 11)
    w = float(gaussian_kernel1d(1.5, 11, eps=0)[0, 5]) ** 2  # the centre weight of g ⊗ g
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a = w * v
    s_aa = w * v**2 - mu_a**2
    want = (c1 * c2) / ((mu_a**2 + c1) * (s_aa + c2))
    assert metrics.ssim(a, b, y_channel=False) == pytest.approx(want, rel=1e-12)
