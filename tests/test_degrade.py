"""Degradations: blur kernel and blur, noise level, seeded Compose, JPEG, bicubic (PIL convention), bilinear."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srwidgets import degrade as D
from srwidgets.errors import InputError
from srwidgets.metrics import psnr

torch.set_num_threads(1)


def _rand(*shape, seed=0, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _smooth(n=1, h=48, w=40, seed=0):
    """A smooth-ish image (JPEG behaves like on photos, not like on white noise)."""
    x = _rand(n, 3, h // 8, w // 8, seed=seed)
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


# --- blur ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k,sigma", [(3, 0.5), (7, 1.2), (21, 2.0)])
def test_kernel_sums_to_one_and_is_symmetric(k, sigma):
    kern = D.gaussian_kernel2d(k, sigma, dtype=torch.float64)
    assert kern.shape == (k, k)
    assert abs(float(kern.sum()) - 1.0) < 1e-12
    assert torch.equal(kern, kern.T) and torch.equal(kern, kern.flip(0)) and torch.equal(kern, kern.flip(1))
    assert kern.argmax() == (k // 2) * k + k // 2  # the peak is the centre tap


def test_kernel_values_by_hand():
    # sigma 1, 3 taps: 1-D weights e^-0.5, 1, e^-0.5 normalised
    e = np.exp(-0.5)
    g = np.array([e, 1, e]) / (1 + 2 * e)
    np.testing.assert_allclose(D.gaussian_kernel2d(3, 1.0, dtype=torch.float64).numpy(), np.outer(g, g), rtol=1e-12)


def test_kernel_sigma_zero_is_a_delta():
    kern = D.gaussian_kernel2d(5, 0.0)
    want = torch.zeros(5, 5)
    want[2, 2] = 1
    assert torch.equal(kern, want)


def test_blur_of_constant_image_is_unchanged():
    x = torch.full((2, 3, 20, 17), 0.3)
    y = D.gaussian_blur(x, 2.0)
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-6)


def test_blur_sigma_zero_is_identity():
    x = _rand(1, 3, 9, 8)
    y = D.gaussian_blur(x, 0)
    assert torch.equal(y, x) and y is not x


def test_blur_smooths_and_keeps_mean_of_impulse():
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    y = D.gaussian_blur(x, 1.5)
    assert y[0, 0, 10, 10] < 0.1 and abs(float(y.sum()) - 1.0) < 1e-5  # far from the border: mass preserved
    # the response to an impulse is the kernel itself
    k = 2 * 5 + 1  # 2 * ceil(3 * 1.5) + 1
    assert torch.allclose(y[0, 0, 5:16, 5:16], D.gaussian_kernel2d(k, 1.5), atol=1e-7)


def test_blur_kernel_size_argument():
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    y = D.gaussian_blur(x, 3.0, kernel_size=5)
    assert torch.count_nonzero(y) == 25  # support 5x5, not the default 19x19


# --- noise ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [5.0, 15.0, 25.5])
def test_noise_sigma_on_the_255_scale(sigma):
    x = torch.full((1, 3, 256, 256), 0.5)
    y = D.add_noise(x, sigma, torch.Generator().manual_seed(0), clip=False)
    std = float((y - x).std())
    assert abs(std - sigma / 255) < 0.03 * sigma / 255
    assert abs(float((y - x).mean())) < 0.1 * sigma / 255  # zero-mean


def test_noise_clips_by_default():
    x = torch.full((1, 3, 32, 32), 0.99)
    y = D.add_noise(x, 50.0, torch.Generator().manual_seed(0))
    assert float(y.max()) == 1.0 and float(y.min()) >= 0.0
    assert float(D.add_noise(x, 50.0, torch.Generator().manual_seed(0), clip=False).max()) > 1.0


def test_noise_sigma_zero_is_identity():
    x = _rand(1, 3, 8, 8)
    assert torch.equal(D.add_noise(x, 0.0), x)


# --- Compose -------------------------------------------------------------------------------------------------------
def test_compose_seeded_is_reproducible_and_seeds_differ():
    x = _rand(2, 3, 32, 32)
    deg = D.Compose([D.Blur(1.0), D.BicubicDown(2), D.Noise(10.0)])
    a, b = deg(x, seed=0), deg(x, seed=0)
    assert a.shape == (2, 3, 16, 16)
    assert torch.equal(a, b)
    assert not torch.equal(a, deg(x, seed=1))
    assert float((a - deg(x, seed=1)).abs().max()) > 1e-3


def test_compose_applies_steps_in_order():
    x = _rand(1, 3, 16, 16)
    deg = D.Compose([D.Blur(1.0), D.BilinearDown(2), D.Quantize()])
    assert torch.equal(deg(x), D.quantize(D.bilinear_down(D.gaussian_blur(x, 1.0), 2)))
    assert "Blur(sigma=1.0" in repr(deg) and "BilinearDown(scale=2)" in repr(deg)


def test_quantize_rounds_to_8_bits():
    x = torch.tensor([-0.2, 0.0, 0.5, 1 / 255 * 0.4, 1 / 255 * 0.6, 1.3])
    assert torch.allclose(D.quantize(x), torch.tensor([0.0, 0.0, 128 / 255, 0.0, 1 / 255, 1.0]))


# --- JPEG ----------------------------------------------------------------------------------------------------------
def test_jpeg_changes_the_image_and_quality_orders_psnr():
    x = D.quantize(_smooth(1, 64, 64))
    y95, y50, y10 = D.jpeg(x, 95), D.jpeg(x, 50), D.jpeg(x, 10)
    assert y95.shape == x.shape and y95.dtype == x.dtype
    assert not torch.equal(y95, x)
    p95, p50, p10 = (psnr(y, x, y_channel=False) for y in (y95, y50, y10))
    assert p95 > p50 > p10
    assert torch.equal(D.jpeg(x, 50), y50)  # deterministic


def test_jpeg_step_and_greyscale_channel():
    x = _smooth(1, 32, 32)
    assert torch.equal(D.JPEG(40)(x), D.jpeg(x, 40))
    g = x[:, :1]
    yg = D.jpeg(g, 40)
    assert yg.shape == (1, 1, 32, 32) and not torch.equal(yg, g)


@pytest.mark.parametrize("level,want", [(100.6, 101), (100.4, 100), (254.7, 255), (0.3, 0)])
def test_jpeg_rounds_its_8_bit_input(level, want):
    # a constant grey image survives JPEG at quality 100 exactly, so the output shows the 8-bit input:
    # rounding gives round(level), truncation would give floor(level) (100.6 -> 100, 254.7 -> 254)
    x = torch.full((1, 3, 16, 16), level / 255)
    y = D.jpeg(x, 100)
    assert torch.equal(y * 255, torch.full_like(y, float(want)))


def test_jpeg_rounds_its_8_bit_input_greyscale():
    x = torch.full((1, 1, 16, 16), 100.6 / 255)
    assert torch.equal(D.jpeg(x, 100) * 255, torch.full_like(x, 101.0))


def test_quantize_rounds_not_truncates():
    x = torch.tensor([100.6, 100.4, 254.7, 0.3, 37.5001]) / 255
    assert torch.allclose(D.quantize(x) * 255, torch.tensor([101.0, 100.0, 255.0, 0.0, 38.0]), atol=1e-4)


# --- resampling ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w,s", [(48, 40, 4), (37, 29, 3), (20, 22, 2)])
def test_bicubic_down_matches_pil(h, w, s):
    x = _rand(3, h, w, seed=h)
    y = D.bicubic_down(x, s)
    assert y.shape == (3, h // s, w // s)
    crop = x[:, : h // s * s, : w // s * s].numpy()
    for c in range(3):
        ref = np.asarray(Image.fromarray(crop[c], "F").resize((w // s, h // s), Image.BICUBIC))
        np.testing.assert_allclose(y[c].numpy(), ref, atol=1e-3)


def test_integral_float_scale_is_accepted():
    x = _rand(1, 3, 8, 8)
    assert torch.equal(D.bicubic_down(x, 2.0), D.bicubic_down(x, 2))
    assert torch.equal(D.bilinear_down(x, 2.0), D.bilinear_down(x, 2))


def test_bicubic_down_of_constant_and_scale_one():
    x = torch.full((1, 3, 12, 12), 0.25)
    assert torch.allclose(D.bicubic_down(x, 3), torch.full((1, 3, 4, 4), 0.25), atol=1e-6)
    y = _rand(1, 3, 5, 7)
    assert torch.allclose(D.bicubic_down(y, 1), y, atol=1e-6)


def test_bilinear_down_x2_is_the_2x2_block_mean():
    x = _rand(2, 3, 10, 14)
    y = D.bilinear_down(x, 2)
    assert y.shape == (2, 3, 5, 7)
    want = x.reshape(2, 3, 5, 2, 7, 2).mean(dim=(3, 5))
    assert torch.allclose(y, want, atol=1e-6)
    # odd sizes: the last row/column is cropped first
    assert torch.allclose(D.bilinear_down(_rand(1, 3, 11, 9), 2), F.avg_pool2d(_rand(1, 3, 11, 9)[..., :10, :8], 2), atol=1e-6)


@pytest.mark.parametrize("fn", [lambda x: D.bicubic_down(x, 2), lambda x: D.bilinear_down(x, 2),
                                lambda x: D.gaussian_blur(x, 1.3), D.quantize],
                         ids=["bicubic", "bilinear", "blur", "quantize"])
def test_batched_equals_per_image(fn):
    x = _rand(3, 3, 16, 12)
    batched = fn(x)
    for i in range(3):
        assert torch.allclose(batched[i], fn(x[i]), atol=1e-6)
        assert fn(x[i]).dim() == 3  # [C, H, W] in, [C, H, W] out


def test_noise_batched_equals_per_image_with_same_stream():
    x = _rand(2, 3, 8, 8)
    batched = D.add_noise(x, 10.0, torch.Generator().manual_seed(3), clip=False)
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(x.shape, generator=g) * (10.0 / 255)
    assert torch.allclose(batched, x + noise, atol=1e-7)


def test_float64_in_float64_out():
    x = _rand(1, 3, 16, 16, dtype=torch.float64)
    deg = D.Compose([D.Blur(1.0), D.BicubicDown(2), D.Noise(5.0), D.JPEG(80), D.Quantize()])
    y = deg(x, seed=0)
    assert y.dtype == torch.float64 and y.shape == (1, 3, 8, 8)
    assert D.bilinear_down(x, 2).dtype == torch.float64
    x32 = x.float()
    assert torch.allclose(D.gaussian_blur(x, 1.0).float(), D.gaussian_blur(x32, 1.0), atol=1e-6)


# --- bad input -----------------------------------------------------------------------------------------------------
def test_bad_inputs():
    x = _rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="take torch tensors.*ndarray"):
        D.bicubic_down(np.zeros((3, 8, 8)), 2)
    with pytest.raises(InputError, match=r"expected \[C, H, W\] or \[N, C, H, W\], got shape \(8, 8\)"):
        D.gaussian_blur(torch.zeros(8, 8), 1.0)
    with pytest.raises(InputError, match="scale must be a positive integer"):
        D.bicubic_down(x, 0)
    with pytest.raises(InputError, match="scale must be a positive integer"):
        D.bicubic_down(x, 1.5)
    with pytest.raises(InputError, match="smaller than the scale"):
        D.bicubic_down(x, 9)
    with pytest.raises(InputError, match="kernel_size must be odd"):
        D.gaussian_kernel2d(4, 1.0)
    with pytest.raises(InputError, match="sigma must be >= 0"):
        D.gaussian_kernel2d(5, -1.0)
    with pytest.raises(InputError, match="too small for a 19x19 blur"):
        D.gaussian_blur(x, 3.0)
    with pytest.raises(InputError, match="blur sigma must be >= 0"):
        D.gaussian_blur(x, -1.0)
    with pytest.raises(InputError, match="scale must be a positive integer"):
        D.bilinear_down(x, 0)
    with pytest.raises(InputError, match="smaller than the scale"):
        D.bilinear_down(x, 9)
    with pytest.raises(InputError, match="noise sigma must be >= 0"):
        D.add_noise(x, -1.0)
    with pytest.raises(InputError, match="JPEG quality must be in 1..100"):
        D.jpeg(x, 0)
