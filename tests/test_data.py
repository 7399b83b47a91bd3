"""load_image: every accepted source and every refused one; the bundled images."""
import struct
import time
import zlib
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
    la_arr = np.stack([ARR[..., 0], np.full((H, W), 255, np.uint8)], axis=2)
    la_arr[2, 1, 1] = 128  # one half-transparent pixel: a real alpha channel
    la = Image.fromarray(la_arr)
    assert la.mode == "LA"
    with pytest.raises(InputError, match=r"grayscale with an alpha channel.*convert=True.*drops the alpha channel"):
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


# --- names are names, not paths --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "../images/astronaut", "astronaut.png", data.image_path("astronaut"),
                                  Path("astronaut"), None])
def test_bundled_image_names_are_not_paths(name):
    # '../images/astronaut' and the absolute path name existing files: only the listed names may pass
    with pytest.raises(InputError, match=r"no bundled image .*astronaut.*chelsea.*coffee"):
        data.image_path(name)
    with pytest.raises(InputError, match="no bundled image"):
        data.image(name)


def test_bundled_name_still_loads_through_load_image():
    assert torch.equal(data.load_image("astronaut"), data.load_image(data.image_path("astronaut")))


# --- alpha -----------------------------------------------------------------------------------------------------------
def test_opaque_alpha_loads_as_rgb_without_convert(tmp_path):
    rgba = np.concatenate([ARR, np.full((H, W, 1), 255, np.uint8)], axis=2)
    p = tmp_path / "opaque.png"
    Image.fromarray(rgba).save(p)
    with Image.open(p) as im:
        assert im.mode == "RGBA"  # the file really has an alpha channel
    _check(data.load_image(p))
    _check(data.load_image(Image.fromarray(rgba)))
    _check(data.load_image(rgba))
    _check(data.load_image(rgba.astype(np.float32) / 255))  # float alpha all 1.0
    _check(data.load_image(torch.cat([WANT, torch.ones(1, H, W)])))
    _check(data.load_image(torch.from_numpy(rgba).permute(2, 0, 1)))  # uint8 tensor, alpha 255
    _check(data.load_image(torch.cat([WANT, torch.ones(1, H, W)])[None]))  # [1, 4, H, W]


def test_opaque_grey_alpha_is_grey():
    la = Image.fromarray(ARR[..., 0]).convert("LA")  # alpha 255 everywhere
    with pytest.raises(data.NeedsConvert, match=r"grayscale.*repeats the grey channel") as info:
        data.load_image(la)
    assert "alpha channel that is not fully opaque" not in str(info.value)
    want_grey = torch.from_numpy(ARR[..., 0].astype(np.float32) / 255)[None].expand(3, -1, -1)
    _check(data.load_image(la, convert=True), want_grey)


def test_one_transparent_pixel_is_a_real_alpha():
    rgba = np.concatenate([ARR, np.full((H, W, 1), 255, np.uint8)], axis=2)
    rgba[4, 3, 3] = 254
    for src in (rgba, Image.fromarray(rgba), rgba.astype(np.float32) / 255):
        with pytest.raises(data.NeedsConvert, match=r"RGBA.*not fully opaque.*convert=True.*drops the alpha "
                                                     r"channel and keeps the stored colour values"):
            data.load_image(src)
    alpha = torch.ones(1, H, W)
    alpha[0, 0, 0] = 0.5
    with pytest.raises(data.NeedsConvert, match=r"4 channels.*drops the alpha channel"):
        data.load_image(torch.cat([WANT, alpha]))
    _check(data.load_image(rgba, convert=True))  # convert keeps the stored RGB, ignoring the alpha


def test_needs_convert_words_the_fix_for_another_front_end():
    with pytest.raises(data.NeedsConvert) as info:
        data.load_image(ARR[..., 0])
    assert isinstance(info.value, InputError)
    advice = info.value.advice("--convert")
    assert "--convert" in advice and "repeats the grey channel" in advice and "convert=True" not in advice


# --- images too large ------------------------------------------------------------------------------------------------
def _png_header(path, width, height):
    """A PNG with a real header (W x H, 8-bit RGB) but no pixel data: decoding it fails, reading its size does not."""
    def chunk(tag, payload):
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    p = _png_header(tmp_path / "bomb.png", 100000, 100000)
    limit = Image.MAX_IMAGE_PIXELS
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"image too large \(100000×100000, needs ~\d+\.\d GB.*crop or downsample"):
        data.load_image(p)
    assert time.perf_counter() - t0 < 2  # 10^10 pixels: only the header was read
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's protection is back in place


def test_image_larger_than_free_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    import srwidgets.engine.memory as memory

    p = tmp_path / "big.png"
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(p)
    header_only = _png_header(tmp_path / "header_only.png", 300, 200)
    assert data.load_image(p).shape == (3, 200, 300)
    with pytest.raises(InputError, match="could not read"):  # enough memory: decoding is tried, and fails
        data.load_image(header_only)
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 100_000)
    for src in (p, header_only):  # refused from the header: the missing pixel data is never reached
        with pytest.raises(InputError, match=r"image too large \(300×200, needs ~.*crop or downsample"):
            data.load_image(src)
    with Image.open(p) as im:  # a lazily opened PIL image too
        with pytest.raises(InputError, match=r"too large \(300×200"):
            data.load_image(im)


# --- scale and tolerance ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0, -2, 2.5, True, "4"])
def test_lr_image_bad_scale(scale):
    with pytest.raises(InputError, match=r"scale must be an integer >= 1 \(the down-sampling factor"):
        data.lr_image("astronaut", scale)


def test_image_bad_modcrop():
    with pytest.raises(InputError, match="modcrop must be an integer >= 1"):
        data.image("astronaut", 0)


def test_value_tolerance_is_the_engines():
    from srwidgets.engine.inputs import VALUE_TOLERANCE

    x = WANT.clone()
    x[0, 0, 0] = 1 + 0.9 * VALUE_TOLERANCE
    assert float(data.load_image(x).max()) == 1.0
    x[0, 0, 0] = 1 + 1.1 * VALUE_TOLERANCE
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        data.load_image(x)
    x[0, 0, 0] = -1.1 * VALUE_TOLERANCE
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        data.load_image(x)


def test_image_just_over_pillows_warning_threshold_is_refused(tmp_path):
    # 9500x9500 = 90.25 M pixels: over MAX_IMAGE_PIXELS (89.5 M), where Pillow itself only warns
    p = _png_header(tmp_path / "big.png", 9500, 9500)
    assert 9500 * 9500 > Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputError, match=r"image too large \(9500×9500, needs ~\d+\.\d GB.*crop or downsample"):
        data.load_image(p)
    small = _png_header(tmp_path / "ok.png", 9000, 9000)  # under the threshold: decoding is tried (and fails here)
    with pytest.raises(InputError, match="could not read"):
        data.load_image(small)


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="is a folder, not an image file"):
        data.load_image(tmp_path)


def test_load_images_keeps_needs_convert_for_front_ends(tmp_path):
    p = tmp_path / "grey.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(p)
    with pytest.raises(data.NeedsConvert) as e:
        data.load_images([p])
    assert e.value.advice("--convert").startswith("image 'grey': the image is grayscale")
    assert data.load_images([p], convert=True)[0][0].shape == (3, 8, 8)
    assert data.NeedsConvert.reword(f"image 0: {e.value}", "--convert").endswith(
        "SR models here take RGB. Pass --convert, which repeats the grey channel into R, G and B.")


# --- issue 17: sources that used to raise raw exceptions or allocate without a check --------------------------------
@pytest.mark.parametrize("src, words", [
    (lambda: torch.zeros(3, 4, 4, device="meta"), "holds no pixel data (a meta tensor"),
    (lambda: torch.zeros(3, 4, 4, dtype=torch.complex64), "the tensor is complex"),
    (lambda: torch.zeros(3, 1, 1).expand(3, 200000, 200000), "image too large (200000×200000"),
    (lambda: np.zeros((3, 16, 16), np.float32), "use arr.transpose(1, 2, 0)"),
])
def test_hostile_sources_are_input_errors(src, words):
    with pytest.raises(InputError) as e:
        data.load_image(src())
    assert words in str(e.value) and len(str(e.value)) < 300


def test_a_closed_pil_image_is_an_input_error(tmp_path):
    p = tmp_path / "x.png"
    Image.fromarray(ARR).save(p)
    im = Image.open(p)
    im.close()
    with pytest.raises(InputError, match="closed image"):
        data.load_image(im)


def test_convert_must_be_a_bool():
    with pytest.raises(InputError, match="convert must be True or False"):
        data.load_image(ARR[..., 0], convert="no")
    assert data.load_image(ARR[..., 0], convert=np.bool_(True)).shape == (3, H, W)
