"""``degrade.pil_bicubic``: Pillow's 8-bit bicubic ``resize`` to the grey level, checked against real Pillow; the
places that make LR images from HR files (``data.lr_image``, ``--downsample``) use it."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import data, zoo
from srwidgets import degrade as D
from srwidgets.errors import InputError

torch.set_num_threads(1)


def _levels(*shape, seed=0):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _pil(hr: torch.Tensor, size) -> np.ndarray:
    """Pillow's bicubic resize of the 8-bit image ``hr`` ([3, H, W] float levels / 255 or uint8) to ``size``
    (W, H): ``[3, H', W']`` uint8 levels."""
    u8 = hr if hr.dtype == torch.uint8 else (hr * 255).round().byte()
    img = Image.fromarray(u8.permute(1, 2, 0).numpy()) if u8.shape[0] == 3 else Image.fromarray(u8[0].numpy(), "L")
    out = np.asarray(img.resize(size, Image.BICUBIC))
    return (out.transpose(2, 0, 1) if out.ndim == 3 else out[None]).copy()


def _as_levels(lr: torch.Tensor) -> np.ndarray:
    levels = (lr.double() * 255).round()
    assert torch.equal(lr, (levels / 255).to(lr.dtype)), "pil_bicubic returns 8-bit levels / 255, as load_image"
    return levels.to(torch.uint8).numpy()


# --- equal to Pillow ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w,s", [(64, 48, 4), (48, 64, 2), (39, 27, 3), (30, 30, 3), (37, 53, 4), (17, 9, 2),
                                   (8, 4, 4), (5, 30, 2), (90, 25, 3), (101, 12, 4)])
def test_equals_pillow_on_random_8_bit_images_batched(h, w, s):
    """White noise is the hardest case (every tap matters, intermediate values clip); sizes that are not multiples
    of the scale and images taller than twice their width (Pillow 13 resizes those vertically first) included."""
    hr = _levels(4, 3, h, w, seed=h * w).float() / 255
    lr = D.pil_bicubic(hr, s)
    assert lr.shape == (4, 3, h // s, w // s) and lr.dtype == torch.float32
    for i in range(4):
        np.testing.assert_array_equal(_as_levels(lr[i]), _pil(hr[i], (w // s, h // s)))


@pytest.mark.parametrize("name", data.images())
def test_equals_pillow_on_the_bundled_photographs(name):
    for s in (2, 3, 4):
        hr = data.image(name, s)
        np.testing.assert_array_equal(_as_levels(D.pil_bicubic(hr, s)), _pil(hr, (hr.shape[2] // s, hr.shape[1] // s)))


def test_checkerboards_where_the_float_resize_is_far_from_pillow():
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = (((yy // 2) + (xx // 2)) % 2).float().expand(3, 64, 64)  # 2-px squares
    # 8-px squares every 12 px: Pillow's horizontal pass overshoots and clips to 0..255 before the vertical one
    blocks = (((xx + 2) % 12 < 8) & (yy % 12 < 8)).float().expand(3, 64, 64)
    for pattern in (checker, blocks):
        want = _pil(pattern, (16, 16))
        np.testing.assert_array_equal(_as_levels(D.pil_bicubic(pattern, 4)), want)
    float_path = D.bicubic_down(blocks, 4).clamp(0, 1) * 255
    assert float((float_path - torch.from_numpy(_pil(blocks, (16, 16))).float()).abs().max()) > 15


def test_uint8_levels_in_uint8_levels_out_and_float64_stays_float64():
    u8 = _levels(3, 40, 36, seed=1)
    out = D.pil_bicubic(u8, 4)
    assert out.dtype == torch.uint8 and out.shape == (3, 10, 9)
    np.testing.assert_array_equal(out.numpy(), _pil(u8, (9, 10)))
    x64 = u8.double() / 255
    y64 = D.pil_bicubic(x64, 4)
    assert y64.dtype == torch.float64 and torch.equal(y64, out.double() / 255)


def test_grey_is_pillows_mode_L():
    grey = _levels(1, 33, 26, seed=2)
    np.testing.assert_array_equal(D.pil_bicubic(grey, 3).numpy(), _pil(grey, (8, 11)))


def test_float_input_is_rounded_to_8_bits_first_and_never_modified():
    x = torch.rand(3, 24, 20, generator=torch.Generator().manual_seed(3))  # not 8-bit levels
    before = x.clone()
    out = D.pil_bicubic(x, 2)
    assert torch.equal(x, before)
    assert torch.equal(out, D.pil_bicubic((x * 255).round() / 255, 2))
    # a hair outside [0, 1] (float noise after resampling, within VALUE_TOLERANCE) is clipped, as saving would
    clean = _levels(3, 24, 20, seed=7).float() / 255
    noisy = clean + torch.where(clean == 1, 5e-4, 0.0) - torch.where(clean == 0, 5e-4, 0.0)
    assert (noisy > 1).any() and (noisy < 0).any()
    assert torch.equal(D.pil_bicubic(noisy, 2), D.pil_bicubic(clean, 2))


def test_tall_images_follow_pillow_13_and_horizontal_first_gives_pillow_12():
    """Pillow 13 resizes vertically first when the height loses more than twice as many pixels as the width; the
    older order (always horizontal first) is Pillow's horizontal-only resize followed by its vertical-only one
    (Pillow skips a pass whose size does not change)."""
    hr = _levels(3, 90, 20, seed=4)
    h_only = Image.fromarray(hr.permute(1, 2, 0).numpy()).resize((5, 90), Image.BICUBIC)
    pillow12 = np.asarray(h_only.resize((5, 22), Image.BICUBIC)).transpose(2, 0, 1)
    legacy = D.pil_bicubic(hr, 4, horizontal_first=True).numpy()
    np.testing.assert_array_equal(legacy, pillow12)
    np.testing.assert_array_equal(D.pil_bicubic(hr, 4).numpy(), _pil(hr, (5, 22)))
    assert not np.array_equal(legacy, D.pil_bicubic(hr, 4).numpy())  # the order matters on this image
    # a square image is the same either way
    sq = _levels(3, 40, 40, seed=5)
    assert torch.equal(D.pil_bicubic(sq, 4, horizontal_first=True), D.pil_bicubic(sq, 4))


def test_scale_one_is_the_8_bit_copy():
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(6))
    assert torch.equal(D.pil_bicubic(x, 1), (x * 255).round() / 255)
    assert torch.equal(D.pil_bicubic(x, 2.0), D.pil_bicubic(x, 2))


# --- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x,scale,match", [
    (torch.rand(3, 1, 1), 2, r"image 1x1 is smaller than the scale 2.*at least 2x2"),
    (torch.rand(3, 40, 3), 4, r"image 40x3 is smaller than the scale 4"),
    (torch.full((3, 8, 8), 1.5), 2, r"values in \[1\.5, 1\.5\].*expected \[0, 1\]"),
    (torch.full((3, 8, 8), 200.0), 2, r"divide 8-bit values by 255"),
    (torch.full((3, 8, 8), -0.01), 2, r"values in \[-0\.01, -0\.01\]"),
    (torch.full((3, 8, 8), float("nan")), 2, r"NaN or Inf"),
    (torch.rand(3, 8, 8, dtype=torch.float64).masked_fill(torch.eye(8, dtype=torch.bool), float("inf")), 2,
     r"NaN or Inf"),
    (torch.rand(4, 8, 8), 2, r"RGB images \[3, H, W\].*got shape \(1, 4, 8, 8\).*alpha.*x\[:, :3\]"),
    (torch.rand(8, 8, 3), 2, r"got shape \(1, 8, 8, 3\) \(channels last\?"),
    (torch.rand(8, 8), 2, r"expected \[C, H, W\] or \[N, C, H, W\]"),
    (torch.zeros(3, 8, 8, dtype=torch.int16), 2, r"float images in \[0, 1\] or uint8 levels, got dtype torch.int16"),
    (np.zeros((3, 8, 8)), 2, r"take torch tensors"),
    (torch.rand(3, 8, 8), 0, r"scale must be a positive integer, got 0"),
    (torch.rand(3, 8, 8), 1.5, r"scale must be a positive integer, got 1.5"),
    (torch.rand(3, 8, 8), True, r"scale must be a positive integer, got True"),
    (torch.rand(3, 8, 8), "4", r"scale must be a positive integer, got '4'"),
], ids=["1px", "narrow", "above-1", "0-255", "negative", "nan", "inf", "rgba", "channels-last", "2d", "int16",
        "numpy", "scale-0", "scale-1.5", "scale-bool", "scale-str"])
def test_bad_input_is_refused_in_words(x, scale, match):
    with pytest.raises(InputError, match=match):
        D.pil_bicubic(x, scale)


def test_horizontal_first_must_be_a_yes_or_no():
    with pytest.raises(InputError, match=r"horizontal_first must be True or False, got 'no'"):
        D.pil_bicubic(torch.rand(3, 8, 8), 2, horizontal_first="no")


# --- the LR images users analyse -----------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [2, 3, 4])
def test_lr_image_is_pillows_lr_of_the_bundled_file(s):
    """Read with Pillow, cropped to multiples of the scale, resized by Pillow: the LAM demo's prepare_images."""
    with Image.open(data.image_path("astronaut")) as im:
        im = im.convert("RGB")
        w, h = im.size[0] // s * s, im.size[1] // s * s
        want = np.asarray(im.crop((0, 0, w, h)).resize((w // s, h // s), Image.BICUBIC))
    lr = data.lr_image("astronaut", s)
    assert lr.dtype == torch.float32
    assert torch.equal(lr, torch.from_numpy(want.copy()).permute(2, 0, 1).float() / 255)


def test_cli_lam_downsample_reports_the_di_of_pillows_lr(tmp_path):
    from srwidgets.lam import LAM

    hr = data.image("astronaut")[:, 64:192, 96:224]  # [3, 128, 128]: LR 32 x 32
    path = tmp_path / "hr.png"
    Image.fromarray((hr * 255).round().byte().permute(1, 2, 0).numpy()).save(path)
    window = (64, 48, 16)
    model = zoo.load("x4-fsrcnn")
    pil_lr = torch.from_numpy(_pil(hr, (32, 32))).float() / 255
    want = LAM(model).attribute(pil_lr, window, steps=10).diffusion_index
    old = LAM(model).attribute(D.bicubic_down(hr, 4).clamp(0, 1), window, steps=10).diffusion_index
    assert f"{want:.2f}" != f"{old:.2f}"  # the window tells the two LR images apart at the printed precision
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "srwidgets", "lam", str(path), "--downsample", "--model", "x4-fsrcnn",
                        "--window", ",".join(map(str, window)), "--steps", "10", "--out", str(tmp_path / "lam.png"),
                        "--no-progress"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"DI (\S+)", r.stdout).group(1) == f"{want:.2f}"
