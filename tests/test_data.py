"""load_image: every accepted source and every refused one; the bundled images."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import data
from srwidgets.errors import InputError

# a 5 x 4 RGB image with hand-checkable values: pixel (i, j) = (10 i + j, 100 + j, 255 - i)
H, W = 5, 4
_I, _J = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
ARR = np.stack([10 * _I + _J, 100 + _J, 255 - _I], axis=2).astype(np.uint8)
WANT = torch.from_numpy(ARR.astype(np.float32) / 255).permute(2, 0, 1)


def _check(t, want=WANT):
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and tuple(t.shape) == (3, H, W)
    assert torch.allclose(t, want, atol=1e-6)


# --- accepted sources ----------------------------------------------------------------------------------------------
def test_from_png_path(tmp_path):
    p = tmp_path / "img.png"
    Image.fromarray(ARR).save(p)
    _check(data.load_image(str(p)))
    _check(data.load_image(p))  # pathlib.Path


def test_from_pil():
    _check(data.load_image(Image.fromarray(ARR)))


def test_from_pil_palette_image():
    pal = Image.fromarray(ARR).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    t = data.load_image(pal)
    assert t.shape == (3, H, W)
    assert torch.allclose(t, torch.from_numpy(np.asarray(pal.convert("RGB")).astype(np.float32) / 255).permute(2, 0, 1))


def test_from_numpy_uint8_and_float():
    _check(data.load_image(ARR))
    _check(data.load_image(ARR.astype(np.float64) / 255))
    _check(data.load_image(ARR.astype(np.float32) / 255))


def test_from_torch_chw_batch_and_uint8():
    _check(data.load_image(WANT.clone()))
    _check(data.load_image(WANT[None].clone()))  # [1, 3, H, W]
    _check(data.load_image(torch.from_numpy(ARR).permute(2, 0, 1)))  # uint8 0-255
    _check(data.load_image(WANT.double()))
    assert data.load_image(WANT.clone().requires_grad_()).requires_grad is False


def test_tiny_overshoot_is_clamped():
    x = WANT.clone()
    x[0, 0, 0] = 1.0005
    x[1, 0, 0] = -0.0005
    t = data.load_image(x)
    assert float(t.max()) == 1.0 and float(t.min()) == 0.0


def test_bundled_name():
    t = data.load_image("astronaut")
    assert t.shape == (3, 256, 256) and 0 <= float(t.min()) and float(t.max()) <= 1


# --- refused sources -----------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="image file not found.*nope.png.*bundled images"):
        data.load_image(str(tmp_path / "nope.png"))


def test_non_image_file(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("not an image")
    with pytest.raises(InputError, match="could not read .*notes.png.* as an image"):
        data.load_image(p)


def test_grey_refused_with_hint(tmp_path):
    grey = ARR[..., 0]
    with pytest.raises(InputError, match=r"grayscale.*convert=True"):
        data.load_image(grey)
    with pytest.raises(InputError, match="grayscale"):
        data.load_image(Image.fromarray(grey))
    p = tmp_path / "grey.png"
    Image.fromarray(grey).save(p)
    with pytest.raises(InputError, match="grayscale"):
        data.load_image(p)
    with pytest.raises(InputError, match="grayscale"):
        data.load_image(torch.rand(1, H, W))
    with pytest.raises(InputError, match="grayscale"):
        data.load_image(torch.rand(H, W))


def test_rgba_refused_with_hint():
    rgba = np.concatenate([ARR, np.full((H, W, 1), 7, np.uint8)], axis=2)
    with pytest.raises(InputError, match=r"RGBA.*convert=True"):
        data.load_image(rgba)
    with pytest.raises(InputError, match="RGBA"):
        data.load_image(Image.fromarray(rgba))
    with pytest.raises(InputError, match="4 channels"):
        data.load_image(torch.rand(4, H, W))


def test_convert_grey_and_rgba():
    grey = ARR[..., 0]
    want_grey = torch.from_numpy(grey.astype(np.float32) / 255)[None].expand(3, -1, -1)
    _check(data.load_image(grey, convert=True), want_grey)
    _check(data.load_image(Image.fromarray(grey), convert=True), want_grey)
    _check(data.load_image(want_grey[:1].clone(), convert=True), want_grey)
    rgba = np.concatenate([ARR, np.full((H, W, 1), 7, np.uint8)], axis=2)
    _check(data.load_image(rgba, convert=True))  # alpha dropped, colours untouched
    _check(data.load_image(Image.fromarray(rgba), convert=True))
    _check(data.load_image(torch.cat([WANT, torch.zeros(1, H, W)]), convert=True))


def test_grey_with_alpha():
    la = Image.fromarray(ARR[..., 0]).convert("LA")
    with pytest.raises(InputError, match=r"grayscale with an alpha channel.*convert=True"):
        data.load_image(la)
    want_grey = torch.from_numpy(ARR[..., 0].astype(np.float32) / 255)[None].expand(3, -1, -1)
    _check(data.load_image(la, convert=True), want_grey)


def test_hwc_tensor_hints_permute():
    with pytest.raises(InputError, match=r"expected a \[3, H, W\] tensor.*permute\(2, 0, 1\)"):
        data.load_image(WANT.permute(1, 2, 0).contiguous())


def test_nan_and_inf():
    for bad in (float("nan"), float("inf")):
        x = WANT.clone()
        x[1, 2, 3] = bad
        with pytest.raises(InputError, match="NaN or Inf"):
            data.load_image(x)
    arr = ARR.astype(np.float32) / 255
    arr[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        data.load_image(arr)


def test_values_above_one():
    with pytest.raises(InputError, match=r"span \[0, 255\], expected \[0, 1\].*divide 0-255 floats by 255"):
        data.load_image(ARR.astype(np.float32) * (255 / float(ARR.max())))
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        data.load_image(WANT * 2)
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        data.load_image(WANT - 0.5)


def test_other_types_and_shapes():
    with pytest.raises(InputError, match="cannot read an image from list"):
        data.load_image([[0.1, 0.2]])
    with pytest.raises(InputError, match="expected 3 colour channels"):
        data.load_image(np.zeros((H, W, 5), np.uint8))
    with pytest.raises(InputError, match="unsupported pixel type int64"):
        data.load_image(ARR.astype(np.int64))


# --- bundled images ------------------------------------------------------------------------------------------------
def test_bundled_images_list():
    names = data.images()
    assert names == sorted(names) and {"astronaut", "chelsea", "coffee"} <= set(names)
    assert set(data.HELD_OUT) <= set(names)
    assert all(Path(data.image_path(n)).is_file() for n in names)
    with pytest.raises(InputError, match="no bundled image 'lena'"):
        data.image_path("lena")


def test_image_modcrop():
    assert data.load_image("chelsea").shape == (3, 300, 451)
    assert data.image("chelsea").shape == (3, 300, 448)  # modcrop 4
    assert data.image("chelsea", modcrop=3).shape == (3, 300, 450)
    assert torch.equal(data.image("chelsea", 3), data.load_image("chelsea")[:, :, :450])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_image_shape(scale):
    hr = data.image("astronaut", scale)
    lr = data.lr_image("astronaut", scale)
    assert lr.shape == (3, hr.shape[1] // scale, hr.shape[2] // scale)
    assert float(lr.min()) >= 0 and float(lr.max()) <= 1
    assert abs(float(lr.mean()) - float(hr.mean())) < 0.01  # the antialiased down-sampling keeps the mean
