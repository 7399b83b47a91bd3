"""SwinIR variants from synthetic state dicts with the official key names: colour JPEG artifact reduction
(``task='color_jpeg_car'``: x1, window 7, no upsampler, trained with img_range 255) and real-world ``nearest+conv``
at x2 (``conv_up1`` only)."""
import pytest
import torch
import torch.nn.functional as F

import srwidgets.models as M

MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)


def _randomized(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def _jpeg_sd(window=7, seed=0):
    m = M.build("SwinIR", embed_dim=8, depths=(2, 2), num_heads=(2, 2), window_size=window, mlp_ratio=2.0,
                upscale=1, upsampler="", img_range=1.0)
    return _randomized(m, seed).state_dict()


def test_color_jpeg_car_keys_are_the_official_ones():
    sd = _jpeg_sd()
    tops = {k.split(".")[0] for k in sd}
    assert tops == {"conv_first", "patch_embed", "layers", "norm", "conv_after_body", "conv_last"}
    assert not any(k.startswith(("upsample", "conv_before_upsample", "conv_up", "conv_hr")) for k in sd)


def test_color_jpeg_car_is_detected_x1_window7_img_range_255():
    arch, cfg, _ = M.detect(_jpeg_sd())
    assert arch == "SwinIR"
    assert cfg["upscale"] == 1 and cfg["upsampler"] == "" and cfg["window_size"] == 7 and cfg["img_range"] == 255.0


def test_colour_denoiser_window8_keeps_img_range_1():
    arch, cfg, _ = M.detect(_jpeg_sd(window=8))
    assert cfg["upsampler"] == "" and cfg["window_size"] == 8 and cfg.get("img_range", 1.0) == 1.0


def test_color_jpeg_car_loads_and_runs_on_0_1_as_the_official_forward():
    sd = _jpeg_sd()
    model = M.load(sd).eval()
    assert model.scale == 1 and model.config["img_range"] == 255.0
    torch.manual_seed(0)
    x = torch.rand(1, 3, 14, 21)  # multiples of the window: no padding
    with torch.no_grad():
        y = model(x)
        # the official network_swinir forward for upsampler '' with img_range 255
        xn = (x - MEAN) * 255.0
        f = model.conv_first(xn)
        res = model.conv_after_body(model.forward_features(f)) + f
        ref = (xn + model.conv_last(res)) / 255.0 + MEAN
    assert y.shape == x.shape
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
    # in [0, 1] space: the residual is small next to the input (a wrong range would scale it by 255)
    assert (y - x).abs().mean() < 0.5
    # any size (padded to multiples of 7 inside), and img_range= still overrides
    with torch.no_grad():
        assert model(torch.rand(1, 3, 10, 9)).shape == (1, 3, 10, 9)
    assert M.load(sd, img_range=1.0).config["img_range"] == 1.0


def _nearest_conv_sd(scale, seed=0):
    m = M.build("SwinIR", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, mlp_ratio=2.0, upscale=scale,
                upsampler="nearest+conv")
    return _randomized(m, seed).state_dict()


def test_nearest_conv_x2_has_conv_up1_only_and_is_detected_x2():
    sd = _nearest_conv_sd(2)
    assert "conv_up1.weight" in sd and "conv_hr.weight" in sd and not any(k.startswith("conv_up2") for k in sd)
    arch, cfg, _ = M.detect(sd)
    assert cfg["upsampler"] == "nearest+conv" and cfg["upscale"] == 2
    assert M.detect(_nearest_conv_sd(4))[1]["upscale"] == 4


def test_nearest_conv_x2_loads_and_upsamples_once():
    sd = _nearest_conv_sd(2)
    model = M.load(sd).eval()
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        y = model(x)
        xn = model.shift.normalize(x)
        f = model.conv_first(xn)
        feat = model.conv_after_body(model.forward_features(f)) + f
        z = model.conv_before_upsample(feat)
        z = model.lrelu(model.conv_up1(F.interpolate(z, scale_factor=2, mode="nearest")))
        ref = model.shift.denormalize(model.conv_last(model.lrelu(model.conv_hr(z))))
    assert y.shape == (1, 3, 16, 24)
    torch.testing.assert_close(y, ref)
    assert M.check(model, 2) == 2


def test_nearest_conv_x3_is_refused():
    with pytest.raises(ValueError, match="x2 or x4"):
        M.build("SwinIR", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, upscale=3, upsampler="nearest+conv")
