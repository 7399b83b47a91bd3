"""RFDN: the official key names, build / save / load round trips on synthetic weights, detection of width, depth and
scale from the keys, missing and extra blocks, small inputs, the LAM split; and the real public checkpoint
(``../shared/checkpoints/RFDN_AIM.pth``, MIT): it loads, beats bicubic on every bundled image and runs LAM."""
import hashlib
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets import data, degrade, metrics
from srwidgets.errors import InputError
from srwidgets.models import rfdn
from srwidgets.models.protocol import FeatureLayers, SplitTail, feature_layers

torch.set_num_threads(1)

CHECKPOINT = Path(__file__).resolve().parents[1].parent / "shared" / "checkpoints" / "RFDN_AIM.pth"
SHA256 = "11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c"
TINY = [dict(num_feat=8, num_block=2, upscale=2), dict(num_feat=8, num_block=3, upscale=3),
        dict(num_feat=12, num_block=1, upscale=4)]
IDS = [f"f{c['num_feat']}b{c['num_block']}x{c['upscale']}" for c in TINY]


def _out(model, h=17, w=16):
    return output(model, h, w)


def _official_keys(num_feat=50, num_block=4, scale=4):
    """The official RFDN parameter names and shapes (github.com/njulj/RFDN), written out independently of our
    module: what a checkpoint of that configuration holds."""
    c, d, f = num_feat, num_feat // 2, num_feat // 4
    shapes = {"fea_conv": (c, 3, 3, 3)}
    for b in range(1, num_block + 1):
        for i in (1, 2, 3):
            shapes[f"B{b}.c{i}_d"] = (d, c, 1, 1)
            shapes[f"B{b}.c{i}_r"] = (c, c, 3, 3)
        shapes[f"B{b}.c4"] = (d, c, 3, 3)
        shapes[f"B{b}.c5"] = (c, 4 * d, 1, 1)
        shapes.update({f"B{b}.esa.conv1": (f, c, 1, 1), f"B{b}.esa.conv_f": (f, f, 1, 1),
                       f"B{b}.esa.conv_max": (f, f, 3, 3), f"B{b}.esa.conv2": (f, f, 3, 3),
                       f"B{b}.esa.conv3": (f, f, 3, 3), f"B{b}.esa.conv3_": (f, f, 3, 3),
                       f"B{b}.esa.conv4": (c, f, 1, 1)})
    shapes.update({"c.0": (c, c * num_block, 1, 1), "LR_conv": (c, c, 3, 3), "upsampler.0": (3 * scale * scale, c, 3, 3)})
    out = {}
    for k, s in shapes.items():
        out[f"{k}.weight"], out[f"{k}.bias"] = s, (s[0],)
    return out


# --- structure ---------------------------------------------------------------------------------------------------
def test_default_model_has_the_official_keys_and_shapes():
    model = M.build("RFDN")
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == _official_keys()
    assert len(got) == 128 and sum(p.numel() for p in model.parameters()) == 433448  # the AIM model's size
    assert model.scale == 4 and model.arch == "RFDN" and model.config["img_range"] == 255.0


@pytest.mark.parametrize("cfg", TINY, ids=IDS)
def test_save_load_file_round_trip(tmp_path, cfg):
    model = randomized("RFDN", cfg)
    ref = _out(model)
    assert ref.shape == (1, 3, 17 * cfg["upscale"], 16 * cfg["upscale"])
    M.save(model, str(tmp_path / "model.pth"))
    loaded = M.load(str(tmp_path / "model.pth"))
    assert loaded.arch == "RFDN" and loaded.config == model.config and loaded.scale == cfg["upscale"]
    assert not loaded.training and loaded.scale_source == "srwidgets metadata"
    assert torch.equal(_out(loaded), ref)


@pytest.mark.parametrize("wrapper", ["bare", "params", "params_ema", "module-prefix"])
@pytest.mark.parametrize("cfg", TINY, ids=IDS)
def test_detection_from_official_keys(cfg, wrapper):
    """No srwidgets record: width, depth and scale come from the key names and shapes alone."""
    model = randomized("RFDN", cfg)
    sd = model.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == _official_keys(cfg["num_feat"], cfg["num_block"], cfg["upscale"])
    obj = {"bare": dict(sd), "params": {"params": dict(sd)}, "params_ema": {"params_ema": dict(sd)},
           "module-prefix": {f"module.{k}": v for k, v in sd.items()}}[wrapper]
    loaded = M.load(obj)
    assert loaded.arch == "RFDN" and loaded.scale == cfg["upscale"] and loaded.scale_source == "checkpoint weights"
    assert loaded.config == dict(cfg, img_range=255.0, num_in_ch=3, num_out_ch=3)
    assert torch.equal(_out(loaded), _out(model))


def test_detect_returns_none_for_other_families():
    for arch, cfg in [("EDSR", dict(num_feat=8, num_block=2, upscale=2)), ("FSRCNN", dict(upscale=2, d=8, s=4, m=1)),
                      ("MSRResNet", dict(num_feat=8, num_block=2, upscale=2))]:
        assert rfdn.detect(M.build(arch, **cfg).state_dict()) is None
    # IMDN shares fea_conv / c / LR_conv / upsampler but names its blocks IMDB1...: not RFDN.
    sd = {k.replace("B1.", "IMDB1.").replace("B2.", "IMDB2."): v
          for k, v in M.build("RFDN", num_feat=8, num_block=2, upscale=2).state_dict().items()}
    assert rfdn.detect(sd) is None


def _tiny_sd():
    return dict(randomized("RFDN", dict(num_feat=8, num_block=3, upscale=2)).state_dict())


def test_missing_block_is_named():
    sd = {k: v for k, v in _tiny_sd().items() if not k.startswith("B2.")}
    with pytest.raises(InputError, match=r"RFDN checkpoint with 3 blocks.*missing block B2"):
        M.load(sd)


def test_extra_block_is_named():
    sd = _tiny_sd()
    sd.update({k.replace("B3.", "B4.", 1): v.clone() for k, v in sd.items() if k.startswith("B3.")})
    with pytest.raises(InputError, match=r"RFDN checkpoint with 3 blocks.*extra block B4"):
        M.load(sd)


def test_incomplete_block_is_named():
    sd = {k: v for k, v in _tiny_sd().items() if not k.startswith("B1.esa.conv4.")}
    with pytest.raises(InputError, match=r"block B1 lacks esa\.conv4"):
        M.load(sd)


def test_unknown_extra_key_is_refused_by_the_strict_load():
    sd = _tiny_sd()
    sd["B1.extra.weight"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"(?s)does not fit.*B1\.extra\.weight"):
        M.load(sd)


def test_bad_config_is_refused():
    with pytest.raises(InputError, match="img_range must be a positive number"):
        M.build("RFDN", img_range=0)
    with pytest.raises(InputError, match="num_feat must be an even number"):
        M.build("RFDN", num_feat=7)


# --- behaviour -----------------------------------------------------------------------------------------------------
def test_img_range_scales_the_network_input_and_output():
    m255 = randomized("RFDN", dict(num_feat=8, num_block=2, upscale=2))
    m1 = M.build("RFDN", num_feat=8, num_block=2, upscale=2, img_range=1.0).eval()
    m1.load_state_dict(m255.state_dict())
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(m255(x), m1(x * 255) / 255, atol=1e-5)


def test_small_inputs_run_and_large_ones_match_the_official_esa():
    model = randomized("RFDN", dict(num_feat=8, num_block=1, upscale=2))
    for h, w in [(1, 1), (5, 7), (12, 12), (14, 30)]:
        assert _out(model, h, w).shape == (1, 3, 2 * h, 2 * w)
    assert M.check(model, 2) == 2 and M.infer_scale(model) == 2

    # From 15 pixels up, ESA is the official formula (no padding anywhere).
    esa = model.B1.esa
    x = torch.randn(1, 8, 15, 19, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        c1_ = esa.conv1(x)
        c3 = esa.conv3_(F.relu(esa.conv3(F.relu(esa.conv_max(F.max_pool2d(esa.conv2(c1_), 7, 3))))))
        c3 = F.interpolate(c3, (15, 19), mode="bilinear", align_corners=False)
        ref = x * torch.sigmoid(esa.conv4(c3 + esa.conv_f(c1_)))
        assert torch.equal(esa(x), ref)


def test_split_tail_and_feature_layers():
    model = randomized("RFDN", dict(num_feat=8, num_block=2, upscale=3))
    assert isinstance(model, SplitTail) and isinstance(model, FeatureLayers)
    x = torch.rand(1, 3, 16, 18, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (1, 8, 16, 18)
        assert torch.equal(model.tail(feats, x), model(x))
        # The tail reaches tail_margin LR pixels: on a crop of the features it gives the full output's interior.
        t = model.tail_margin
        part = model.tail(feats[..., 4 - t:10 + t, 5 - t:11 + t], None)
        assert torch.allclose(part[..., 3 * t:-3 * t, 3 * t:-3 * t], model(x)[..., 12:30, 15:33], atol=1e-6)
    assert [n for n, _ in feature_layers(model)] == ["B1", "B2", "LR_conv"]
    assert M.check(model, 3) == 3


# --- the real public checkpoint ------------------------------------------------------------------------------------
needs_checkpoint = pytest.mark.skipif(
    not CHECKPOINT.is_file(), reason=f"the public RFDN checkpoint is not here ({CHECKPOINT}); it lives in the "
                                     "workspace's shared/checkpoints next to the repository")


@pytest.fixture(scope="module")
def official():
    return M.load(str(CHECKPOINT))


@needs_checkpoint
def test_checkpoint_loads_with_detected_config(official):
    assert hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest() == SHA256
    assert isinstance(official, torch.nn.Module) and not official.training
    assert official.arch == "RFDN" and official.scale == 4 and official.scale_source == "checkpoint weights"
    assert official.config == dict(num_feat=50, num_block=4, upscale=4, img_range=255.0, num_in_ch=3, num_out_ch=3)
    assert M.check(official, 4) == 4


# Measured (x4, Y-PSNR, 4-pixel border shaved, LR = bicubic_down(HR) unquantised): RFDN 29.25 / 32.47 / 29.59 dB
# against bicubic 27.13 / 31.61 / 27.38 dB on astronaut / chelsea / coffee. Fed [0, 1] instead of 0..255 it is
# worse than bicubic on all three (25.2 / 28.7 / 26.0 dB).
@needs_checkpoint
@pytest.mark.parametrize("name", data.images())
def test_checkpoint_beats_bicubic(official, name):
    hr = data.image(name, 4)[None]
    lr = degrade.bicubic_down(hr, 4)
    with torch.inference_mode():
        sr = official(lr)
    assert sr.shape == hr.shape
    # Returns [0, 1] values (with the usual small overshoot at edges), not 0..255.
    assert -0.5 < float(sr.min()) and float(sr.max()) < 1.5 and abs(float(sr.mean() - hr.mean())) < 0.02
    bic = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
    p_sr, p_bic = metrics.psnr(sr.clamp(0, 1), hr, shave=4), metrics.psnr(bic, hr, shave=4)
    assert p_sr - p_bic > 0.5, f"{name}: RFDN {p_sr:.2f} dB vs bicubic {p_bic:.2f} dB"


@needs_checkpoint
def test_checkpoint_runs_lam(official):
    from srwidgets.lam import LAM

    lr = data.lr_image("astronaut", 4)
    r = LAM(official).attribute(lr, (98, 84, 16), steps=10)
    assert r.map.shape == (64, 64) and math.isfinite(r.diffusion_index) and 0 < r.diffusion_index < 100
    assert torch.isfinite(r.attribution).all() and r.attribution.abs().sum() > 0


@needs_checkpoint
def test_zoo_ships_the_checkpoint_tensors(official):
    from srwidgets import zoo

    shipped = zoo.load("x4-rfdn")
    assert shipped.arch == "RFDN" and shipped.config == official.config
    a, b = shipped.state_dict(), official.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert zoo.info("x4-rfdn")["source_sha256"] == SHA256
