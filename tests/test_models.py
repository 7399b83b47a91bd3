"""FSRCNN / EDSR / MSRResNet / RCAN: published key names, checkpoint round trips (every wrapper), conversion of the
official EDSR-PyTorch and RCAN namings, bad checkpoints, and ``check`` / ``infer_scale``.

(RRDBNet and SwinIR are covered in test_models_rrdb_swinir.py.)
"""
import os

import pytest
import torch
from torch import nn

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.errors import InputError
from srwidgets.models import edsr, rcan
from srwidgets.engine.probes import size_multiple
from srwidgets.models.checkpoints import _scale_from_name as scale_from_name  # the rule itself, tested directly

torch.set_num_threads(1)

FSRCNN_TINY = dict(d=8, s=4, m=1)
CASES = [
    ("FSRCNN", dict(upscale=2, **FSRCNN_TINY)),
    ("FSRCNN", dict(upscale=3, **FSRCNN_TINY)),
    ("EDSR", dict(num_feat=8, num_block=2, upscale=2)),
    ("EDSR", dict(num_feat=8, num_block=2, upscale=3)),
    ("EDSR", dict(num_feat=8, num_block=2, upscale=4)),
    ("MSRResNet", dict(num_feat=8, num_block=2, upscale=2)),
    ("MSRResNet", dict(num_feat=8, num_block=2, upscale=4)),
    ("RCAN", dict(num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=2)),
]
IDS = [f"{a}-x{c['upscale']}" for a, c in CASES]


def _build(arch, cfg, seed=0):
    return randomized(arch, cfg, seed)


def _out(model, h=7, w=6):
    return output(model, h, w)


def _conv(name, out_ch, in_ch, k=3):
    return {f"{name}.weight": (out_ch, in_ch, k, k), f"{name}.bias": (out_ch,)}


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


# --- round trips -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch,cfg", CASES, ids=IDS)
def test_save_load_file_round_trip(tmp_path, arch, cfg):
    model = _build(arch, cfg)
    ref = _out(model)
    assert ref.shape == (1, 3, 7 * cfg["upscale"], 6 * cfg["upscale"])
    path = tmp_path / "model.pth"  # no scale in the name: the srwidgets record carries it (FSRCNN too)
    M.save(model, str(path))
    loaded = M.load(str(path))
    assert loaded.arch == arch and loaded.config == model.config and loaded.scale == cfg["upscale"]
    assert not loaded.training
    assert torch.equal(_out(loaded), ref)
    assert M.load(path).config == model.config  # a pathlib.Path works too


def _wrappers(sd):
    return {
        "bare": dict(sd),
        "params": {"params": dict(sd)},
        "params_ema": {"params_ema": dict(sd)},
        "state_dict": {"state_dict": dict(sd)},
        "module-prefix": {f"module.{k}": v for k, v in sd.items()},
        "params-module-prefix": {"params": {f"module.{k}": v for k, v in sd.items()}},
    }


@pytest.mark.parametrize("wrapper", list(_wrappers({})))
@pytest.mark.parametrize("arch,cfg", CASES, ids=IDS)
def test_detection_from_state_dict(arch, cfg, wrapper):
    """No srwidgets record: the architecture and its config come from key names and shapes alone."""
    model = _build(arch, cfg)
    ref = _out(model)
    obj = _wrappers(model.state_dict())[wrapper]
    kw = {"scale": cfg["upscale"]} if arch == "FSRCNN" else {}  # FSRCNN weights do not record the stride
    loaded = M.load(obj, **kw)
    assert loaded.arch == arch and loaded.config == model.config
    assert torch.equal(_out(loaded), ref)


@pytest.mark.parametrize("arch,cfg", CASES, ids=IDS)
def test_detect_returns_config(arch, cfg):
    model = _build(arch, cfg)
    got_arch, got_cfg, sd = M.detect(model.state_dict())
    assert got_arch == arch
    assert M.build(got_arch, **({**got_cfg, "upscale": cfg["upscale"]} if arch == "FSRCNN" else got_cfg)).config == model.config
    assert set(sd) == set(model.state_dict())


def test_params_ema_preferred_over_params():
    a, b = _build("EDSR", CASES[2][1], seed=0), _build("EDSR", CASES[2][1], seed=1)
    loaded = M.load({"params": b.state_dict(), "params_ema": a.state_dict()})
    assert torch.equal(_out(loaded), _out(a)) and not torch.equal(_out(loaded), _out(b))


def test_fsrcnn_scale_from_file_name(tmp_path):
    model = _build("FSRCNN", dict(upscale=3, **FSRCNN_TINY))
    for name in ("fsrcnn_x3.pth", "FSRCNN-X3-tiny.pth", "x3.pth"):
        path = tmp_path / name
        torch.save(model.state_dict(), path)  # bare state dict: nothing records the scale but the name
        loaded = M.load(str(path))
        assert loaded.scale == 3 and loaded.config == model.config
        assert torch.equal(_out(loaded), _out(model))


def test_fsrcnn_scale_argument(tmp_path):
    model = _build("FSRCNN", dict(upscale=3, **FSRCNN_TINY))
    path = tmp_path / "fsrcnn.pth"
    torch.save(model.state_dict(), path)
    loaded = M.load(str(path), scale=3)
    assert loaded.scale == 3 and torch.equal(_out(loaded), _out(model))
    assert M.load(model.state_dict(), scale=3).scale == 3


def test_fsrcnn_without_scale_is_an_input_error(tmp_path):
    model = _build("FSRCNN", dict(upscale=3, **FSRCNN_TINY))
    path = tmp_path / "fsrcnn.pth"
    torch.save(model.state_dict(), path)
    for src in (str(path), model.state_dict()):
        with pytest.raises(InputError, match=r"FSRCNN weights do not record the scale.*scale="):
            M.load(src)


def test_scale_from_name_parsing():
    assert scale_from_name("FSRCNN_x2.pth") == 2
    assert scale_from_name("/some/dir_x4/fsrcnn_x3.pth") == 3  # the file name only, not the folder
    assert scale_from_name("fsrcnn.pth") is None


# --- published key names -------------------------------------------------------------------------------------------
def test_edsr_basicsr_keys_and_shapes():
    """BasicSR EDSR (e.g. EDSR_Mx4_f64b16): conv_first, body.i.conv{1,2}, conv_after_body, upsample.{0,2}, conv_last."""
    f = 8
    want = {}
    want.update(_conv("conv_first", f, 3))
    for i in range(2):
        want.update(_conv(f"body.{i}.conv1", f, f))
        want.update(_conv(f"body.{i}.conv2", f, f))
    want.update(_conv("conv_after_body", f, f))
    want.update(_conv("upsample.0", 4 * f, f))
    want.update(_conv("upsample.2", 4 * f, f))
    want.update(_conv("conv_last", 3, f))
    assert len(want) == 18
    sd = M.build("EDSR", num_feat=f, num_block=2, upscale=4).state_dict()
    assert _shapes(sd) == want
    # x3: a single conv to 9C channels and PixelShuffle(3)
    sd3 = M.build("EDSR", num_feat=f, num_block=2, upscale=3).state_dict()
    assert [k for k in sd3 if k.startswith("upsample.")] == ["upsample.0.weight", "upsample.0.bias"]
    assert sd3["upsample.0.weight"].shape == (9 * f, f, 3, 3)


def test_rcan_basicsr_keys_and_shapes():
    f, sq = 16, 4
    want = {}
    want.update(_conv("conv_first", f, 3))
    want.update(_conv("body.0.residual_group.0.rcab.0", f, f))
    want.update(_conv("body.0.residual_group.0.rcab.2", f, f))
    want.update(_conv("body.0.residual_group.0.rcab.3.attention.1", f // sq, f, 1))
    want.update(_conv("body.0.residual_group.0.rcab.3.attention.3", f, f // sq, 1))
    want.update(_conv("body.0.conv", f, f))
    want.update(_conv("conv_after_body", f, f))
    want.update(_conv("upsample.0", 4 * f, f))
    want.update(_conv("conv_last", 3, f))
    assert len(want) == 18
    sd = M.build("RCAN", num_feat=f, num_group=1, num_block=1, squeeze_factor=sq, upscale=2).state_dict()
    assert _shapes(sd) == want


def test_msrresnet_basicsr_keys_and_shapes():
    f = 8
    want = {}
    want.update(_conv("conv_first", f, 3))
    want.update(_conv("body.0.conv1", f, f))
    want.update(_conv("body.0.conv2", f, f))
    want.update(_conv("upconv1", 4 * f, f))
    want.update(_conv("upconv2", 4 * f, f))
    want.update(_conv("conv_hr", f, f))
    want.update(_conv("conv_last", 3, f))
    assert _shapes(M.build("MSRResNet", num_feat=f, num_block=1, upscale=4).state_dict()) == want
    x2 = {k: v for k, v in want.items() if not k.startswith("upconv2")}
    assert _shapes(M.build("MSRResNet", num_feat=f, num_block=1, upscale=2).state_dict()) == x2
    x3 = dict(x2, **_conv("upconv1", 9 * f, f))
    assert _shapes(M.build("MSRResNet", num_feat=f, num_block=1, upscale=3).state_dict()) == x3


def test_fsrcnn_keys_and_shapes():
    # first_part = [conv5 3->d, PReLU(d)], mid_part = [conv1 d->s, PReLU, m x (conv3 s->s, PReLU), conv1 s->d, PReLU]
    d, s = 8, 4
    want = {"first_part.0.weight": (d, 3, 5, 5), "first_part.0.bias": (d,), "first_part.1.weight": (d,),
            "mid_part.0.weight": (s, d, 1, 1), "mid_part.0.bias": (s,), "mid_part.1.weight": (s,),
            "mid_part.2.weight": (s, s, 3, 3), "mid_part.2.bias": (s,), "mid_part.3.weight": (s,),
            "mid_part.4.weight": (d, s, 1, 1), "mid_part.4.bias": (d,), "mid_part.5.weight": (d,),
            "last_part.weight": (d, 3, 9, 9), "last_part.bias": (3,)}
    assert _shapes(M.build("FSRCNN", upscale=2, d=d, s=s, m=1).state_dict()) == want


# --- official namings ----------------------------------------------------------------------------------------------
def _mean_shift(rgb_range=255.0, mean=(0.4488, 0.4371, 0.4040)):
    """EDSR-PyTorch's fixed mean-shift layers (rgb_std 1): ``bias = ∓rgb_range · mean``."""
    b = rgb_range * torch.tensor(mean)
    return {"sub_mean.weight": torch.eye(3).view(3, 3, 1, 1), "sub_mean.bias": -b,
            "add_mean.weight": torch.eye(3).view(3, 3, 1, 1), "add_mean.bias": b.clone()}


def _to_official_edsr(sd, num_block, **shift):
    out = _mean_shift(**shift)
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "conv_first":
            nk = "head.0." + parts[-1]
        elif parts[0] == "body":
            nk = f"body.{parts[1]}.body.{ {'conv1': 0, 'conv2': 2}[parts[2]] }.{parts[3]}"
        elif parts[0] == "conv_after_body":
            nk = f"body.{num_block}.{parts[-1]}"
        elif parts[0] == "upsample":
            nk = f"tail.0.{parts[1]}.{parts[2]}"
        elif parts[0] == "conv_last":
            nk = "tail.1." + parts[-1]
        else:
            raise AssertionError(k)
        out[nk] = v
    return out


@pytest.mark.parametrize("num_block,upscale", [(2, 4), (1, 2), (11, 3)])
def test_edsr_official_naming(num_block, upscale):
    model = _build("EDSR", dict(num_feat=4, num_block=num_block, upscale=upscale))
    official = _to_official_edsr(model.state_dict(), num_block)
    assert f"body.{num_block}.weight" in official and "body.0.body.2.bias" in official and "tail.1.weight" in official
    assert "tail.0.0.weight" in official and ("tail.0.2.weight" in official) == (upscale == 4)
    assert edsr.convert(official).keys() == model.state_dict().keys()
    loaded = M.load(official)
    assert loaded.arch == "EDSR" and loaded.config == model.config
    assert torch.equal(_out(loaded), _out(model))
    assert M.load({"state_dict": {f"module.{k}": v for k, v in official.items()}}).config == model.config


def _to_official_rcan(sd, num_group, num_block, **shift):
    out = _mean_shift(**shift)
    for k, v in sd.items():
        parts = k.split(".")
        p = parts[-1]
        if parts[0] == "conv_first":
            nk = f"head.0.{p}"
        elif parts[0] == "conv_after_body":
            nk = f"body.{num_group}.{p}"
        elif parts[0] == "body" and parts[2] == "conv":
            nk = f"body.{parts[1]}.body.{num_block}.{p}"
        elif parts[0] == "body":  # body.g.residual_group.b.rcab.k[.attention.j].p
            g, b, kk = parts[1], parts[3], parts[5]
            if kk == "3":
                nk = f"body.{g}.body.{b}.body.3.conv_du.{ {'1': 0, '3': 2}[parts[7]] }.{p}"
            else:
                nk = f"body.{g}.body.{b}.body.{kk}.{p}"
        elif parts[0] == "upsample":
            nk = f"tail.0.{parts[1]}.{p}"
        elif parts[0] == "conv_last":
            nk = f"tail.1.{p}"
        else:
            raise AssertionError(k)
        out[nk] = v
    return out


@pytest.mark.parametrize("num_group,num_block,upscale", [(1, 1, 2), (2, 3, 4)])
def test_rcan_official_naming(num_group, num_block, upscale):
    model = _build("RCAN", dict(num_feat=16, num_group=num_group, num_block=num_block, squeeze_factor=4, upscale=upscale))
    official = _to_official_rcan(model.state_dict(), num_group, num_block)
    assert "body.0.body.0.body.3.conv_du.0.weight" in official and "body.0.body.0.body.3.conv_du.2.bias" in official
    assert f"body.0.body.{num_block}.weight" in official and f"body.{num_group}.weight" in official
    assert rcan.convert(official).keys() == model.state_dict().keys()
    loaded = M.load(official)
    assert loaded.arch == "RCAN" and loaded.config == model.config
    assert torch.equal(_out(loaded), _out(model))


def test_convert_leaves_basicsr_naming_alone():
    sd = M.build("EDSR", num_feat=4, num_block=1, upscale=2).state_dict()
    assert edsr.convert(sd) is sd
    sd = M.build("RCAN", num_feat=8, num_group=1, num_block=1, squeeze_factor=4, upscale=2).state_dict()
    assert rcan.convert(sd) is sd


# --- bad checkpoints -----------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="checkpoint file not found.*nope.pth"):
        M.load(str(tmp_path / "nope.pth"))


def test_random_bytes_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match="could not read .*junk.pth.* as a PyTorch checkpoint"):
        M.load(str(path))


def test_truncated_file(tmp_path):
    model = _build("EDSR", CASES[2][1])
    path = tmp_path / "edsr_x2.pth"
    M.save(model, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="could not read.*Is the file complete"):
        M.load(str(path))


def test_text_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    with pytest.raises(InputError, match="could not read"):
        M.load(str(path))


def test_unknown_keys_are_listed():
    sd = {f"encoder.layer{i}.weight": torch.zeros(2, 2) for i in range(10)}
    with pytest.raises(InputError, match=r"unknown architecture.*encoder\.layer0\.weight, encoder\.layer1\.weight.*\(10 keys\)") as e:
        M.load(sd)
    assert "encoder.layer9.weight" not in str(e.value)  # only the first few are listed
    assert "EDSR" in str(e.value) and "nn.Module" in str(e.value)


def test_no_tensors_and_not_a_dict(tmp_path):
    with pytest.raises(InputError, match="holds no tensors"):
        M.load({"params": {"epoch": 3}})
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(InputError, match="must hold a state dict.*list"):
        M.load(str(path))


def test_scale_mismatch(tmp_path):
    model = _build("EDSR", CASES[4][1])  # x4
    path = tmp_path / "edsr.pth"
    M.save(model, str(path))
    with pytest.raises(InputError, match="you asked for scale 2 but the EDSR checkpoint is x4"):
        M.load(str(path), scale=2)
    with pytest.raises(InputError, match="scale 3 but the EDSR checkpoint is x4"):
        M.load(model.state_dict(), scale=3)
    assert M.load(str(path), scale=4).scale == 4


def test_shape_mismatch_is_an_input_error():
    sd = dict(_build("EDSR", CASES[2][1]).state_dict())
    sd["conv_after_body.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(InputError, match="(?s)looks like EDSR.*does not fit.*size mismatch for conv_after_body"):
        M.load(sd)


def test_unknown_architecture_name():
    with pytest.raises(InputError, match="unknown architecture 'Foo'.*EDSR"):
        M.build("Foo")
    assert set(M.architectures()) == {"FSRCNN", "EDSR", "MSRResNet", "RCAN", "RRDBNet", "SwinIR", "RFDN", "IMDN", "PAN", "HAT",
                                      "CARN", "CARN-M"}


# --- check / infer_scale -------------------------------------------------------------------------------------------
def test_check_accepts_a_good_model():
    assert M.check(_build("EDSR", CASES[3][1]), 3) == 3
    assert M.check(nn.Upsample(scale_factor=2, mode="nearest"), 2) == 2  # parameter-free modules too


def test_check_wrong_scale():
    with pytest.raises(InputError, match="upscales x4, not x2.*scale=4"):
        M.check(_build("EDSR", CASES[4][1]), 2)


def test_check_wrong_channel_count():
    out1 = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 1, 1))
    with pytest.raises(InputError, match="returns 1 channels, expected 3"):
        M.check(out1, 2)
    with pytest.raises(InputError, match=r"failed on a \[1, 3, 12, 12\] RGB input.*3-channel"):
        M.check(nn.Conv2d(1, 1, 3, padding=1), 1)  # a single-channel (Y) model


def test_check_nan_output():
    model = _build("FSRCNN", dict(upscale=2, **FSRCNN_TINY))
    with torch.no_grad():
        model.last_part.bias.fill_(float("nan"))
    with pytest.raises(InputError, match="NaN or Inf"):
        M.check(model, 2)


def test_check_not_a_module_and_bad_scale():
    with pytest.raises(InputError, match="expected a torch.nn.Module, got function"):
        M.check(lambda x: x, 1)
    with pytest.raises(InputError, match="expected a torch.nn.Module, got str"):
        M.check("x4-edsr-lite", 4)
    with pytest.raises(InputError, match="scale must be a positive int"):
        M.check(nn.Identity(), 0)


class _Tuple(nn.Module):
    def forward(self, x):
        return x, x


def test_check_non_tensor_output():
    with pytest.raises(InputError, match="returned tuple, not a tensor"):
        M.check(_Tuple(), 1)


def test_infer_scale():
    assert M.infer_scale(_build("MSRResNet", CASES[6][1])) == 4  # .scale attribute
    assert M.infer_scale(nn.Upsample(scale_factor=3)) == 3  # measured
    with pytest.raises(InputError, match="cannot tell the model's scale"):
        M.infer_scale(nn.Flatten())


def test_fsrcnn_bicubic_residual_round_trip(tmp_path):
    # Our variant adds the bicubic upsampling of the input; the flag is not in the weights, so it must travel in
    # srwidgets' metadata, and a zero network must then output exactly bicubic.
    m = M.build("FSRCNN", upscale=4, d=8, s=4, m=1, bicubic_residual=True)
    for p in m.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 6, 7)
    bic = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(m(x), bic, atol=1e-6)
    path = tmp_path / "fsrcnn_x4.pth"
    M.save(m, str(path))
    m2 = M.load(str(path))
    assert m2.config["bicubic_residual"] is True
    assert torch.allclose(m2(x), bic, atol=1e-6)


def test_load_rejects_bad_device_and_scale(tmp_path):
    m = M.build("FSRCNN", upscale=2, d=8, s=4, m=1)
    path = tmp_path / "f.pth"
    torch.save(m.state_dict(), path)
    with pytest.raises(InputError, match="scale must be a positive integer"):
        M.load(str(path), scale=0)
    with pytest.raises(InputError, match="device"):
        M.load(str(path), scale=2, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            M.load(str(path), scale=2, device="cuda")


@pytest.mark.parametrize("arch, cfg", [("EDSR", dict(num_feat=8, num_block=4, upscale=4)),
                                       ("MSRResNet", dict(num_feat=8, num_block=4, upscale=2))])
def test_features_region_equals_the_crop_of_the_full_features(arch, cfg):
    # The cone computation of the residual blocks must reproduce the full computation on the region, at interior
    # regions and at every image border (where zero padding is the real one).
    torch.manual_seed(0)
    m = M.build(arch, **cfg).eval()
    x = torch.rand(2, 3, 23, 19)
    full = m.features(x)
    for r0, r1, c0, c1 in [(5, 9, 4, 8), (0, 3, 0, 2), (20, 23, 15, 19), (0, 23, 0, 19), (11, 12, 0, 19)]:
        assert torch.allclose(m.features_region(x, (r0, r1, c0, c1)), full[..., r0:r1, c0:c1], atol=1e-6)
    assert torch.allclose(m.tail(full, x), m(x))


# --- scale from the file name, and where the scale came from ------------------------------------------------------
@pytest.mark.parametrize("name,scale", [
    ("fsrcnn_x4.pth", 4), ("FSRCNN-x3.pth", 3), ("x2.pth", 2), ("EDSR_Mx4_f64b16.pth", 4), ("RCAN_BIX4.pt", 4),
    ("4x_model.pth", 4), ("model_4x.pth", 4), ("RealESRGAN_x4plus.pth", 4), ("PANx3_DF2K.pth", 3),
])
def test_scale_from_name_reads_whole_words(name, scale):
    assert scale_from_name(name) == scale


@pytest.mark.parametrize("name", ["pix2pix_fsrcnn.pth", "mix2.pth", "max4pool.pth", "fsrcnn_s64w8.pth",
                                  "fsrcnn_x2_to_x4.pth"])
def test_scale_from_name_ignores_x_inside_words(name):
    assert scale_from_name(name) is None  # the last one names two scales: no guess


@pytest.mark.parametrize("name", ["pix2pix_fsrcnn.pth", "mix2.pth"])
def test_fsrcnn_named_with_x_inside_a_word_still_needs_scale(tmp_path, name):
    path = tmp_path / name
    torch.save(_build("FSRCNN", dict(upscale=3, **FSRCNN_TINY)).state_dict(), path)
    with pytest.raises(InputError, match=r"FSRCNN weights do not record the scale; pass it: .*scale=4"):
        M.load(str(path))


def test_fsrcnn_name_with_two_scales_says_so(tmp_path):
    path = tmp_path / "fsrcnn_x2_x4.pth"
    torch.save(_build("FSRCNN", dict(upscale=2, **FSRCNN_TINY)).state_dict(), path)
    with pytest.raises(InputError, match=r"do not record the scale \(the file name 'fsrcnn_x2_x4.pth' names several: x2, x4\)"):
        M.load(str(path))


def test_scale_source_file_name(tmp_path):
    path = tmp_path / "fsrcnn_x4.pth"
    torch.save(_build("FSRCNN", dict(upscale=4, **FSRCNN_TINY)).state_dict(), path)
    model = M.load(str(path))
    assert model.scale == 4 and model.scale_source == "file name 'fsrcnn_x4.pth'"


def test_scale_source_argument_beats_file_name(tmp_path):
    path = tmp_path / "fsrcnn_x4.pth"
    torch.save(_build("FSRCNN", dict(upscale=2, **FSRCNN_TINY)).state_dict(), path)
    model = M.load(str(path), scale=2)
    assert model.scale == 2 and model.scale_source == "scale= argument"


def test_scale_source_checkpoint_weights():
    model = M.load(_build("EDSR", CASES[4][1]).state_dict(), scale=4)  # scale= only confirms what the weights say
    assert model.scale == 4 and model.scale_source == "checkpoint weights"


def test_scale_source_srwidgets_metadata(tmp_path):
    path = tmp_path / "fsrcnn_x2.pth"  # the record wins over the name
    M.save(_build("FSRCNN", dict(upscale=3, **FSRCNN_TINY)), str(path))
    model = M.load(str(path))
    assert model.scale == 3 and model.scale_source == "srwidgets metadata"


# --- unsupported scales and bad srwidgets records ------------------------------------------------------------------
def _edsr_with_upsampler(convs, f=8):
    """An EDSR x2 state dict whose upsampler convs map ``f`` to ``r*r*f`` channels for each ``r`` in ``convs``."""
    sd = {k: v for k, v in _build("EDSR", dict(num_feat=f, num_block=1, upscale=2)).state_dict().items()
          if not k.startswith("upsample.")}
    for i, r in enumerate(convs):
        sd[f"upsample.{2 * i}.weight"] = torch.zeros(r * r * f, f, 3, 3)
        sd[f"upsample.{2 * i}.bias"] = torch.zeros(r * r * f)
    return sd


@pytest.mark.parametrize("convs,scale", [([5], 5), ([2, 3], 6), ([6], 6)])
def test_edsr_checkpoint_with_unsupported_scale(convs, scale):
    with pytest.raises(InputError, match=rf"would make the model x{scale}; .*supports x3 or a power of 2") as e:
        M.load(_edsr_with_upsampler(convs))
    assert type(e.value) is InputError


def test_upsample_scale_reads_supported_layouts():
    from srwidgets.models._common import upsample_scale
    assert upsample_scale(_edsr_with_upsampler([3]), "upsample.", 8) == 3
    assert upsample_scale(_edsr_with_upsampler([2, 2]), "upsample.", 8) == 4


def test_upsampler_conv_with_non_square_channels():
    sd = _edsr_with_upsampler([2])
    sd["upsample.0.weight"], sd["upsample.0.bias"] = torch.zeros(24, 8, 3, 3), torch.zeros(24)  # 3 x 8: no r*r
    with pytest.raises(InputError, match=r"'upsample.0' maps 8 to 24 channels.*PixelShuffle"):
        M.load(sd)


@pytest.mark.parametrize("scale", [5, 6])
def test_build_unsupported_scale_is_an_input_error(scale):
    with pytest.raises(InputError, match=rf"cannot build EDSR.*scale {scale} is not supported.*x3 or a power of 2") as e:
        M.build("EDSR", num_feat=8, num_block=1, upscale=scale)
    assert type(e.value) is InputError


def test_build_unknown_config_key():
    with pytest.raises(InputError, match=r"unknown config key 'num_feats' for EDSR; EDSR takes num_feat, num_block"):
        M.build("EDSR", num_feats=8)


def _with_record(arch, config):
    sd = _build("EDSR", dict(num_feat=8, num_block=1, upscale=2)).state_dict()
    return {"params": sd, "srwidgets": {"arch": arch, "config": config}}


def test_srwidgets_record_with_unsupported_scale():
    cfg = dict(num_feat=8, num_block=1, upscale=5)
    with pytest.raises(InputError, match=r"scale 5 is not supported.*x3 or a power of 2.*srwidgets record") as e:
        M.load(_with_record("EDSR", cfg))
    assert type(e.value) is InputError


def test_srwidgets_record_with_unknown_key():
    cfg = dict(num_feat=8, num_block=1, upscale=2, depth=3)
    with pytest.raises(InputError, match=r"unknown config key 'depth' for EDSR; EDSR takes num_feat.*srwidgets record"):
        M.load(_with_record("EDSR", cfg))


def test_srwidgets_record_malformed():
    with pytest.raises(InputError, match=r"srwidgets record is malformed"):
        M.load(_with_record("EDSR", [("num_feat", 8)]))


# --- check / _probe: the model is left alone, size requirements, in-place inputs ------------------------------------
def _bn_model():
    m = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Upsample(scale_factor=2)).train()
    with torch.no_grad():
        m[0].bias.fill_(1.0)  # the batch mean is far from the running mean 0: an update would show
    return m


def test_check_leaves_batchnorm_statistics_and_train_mode_alone():
    m = _bn_model()
    assert M.check(m, 2) == 2
    assert torch.equal(m[1].running_mean, torch.zeros(3)) and torch.equal(m[1].running_var, torch.ones(3))
    assert int(m[1].num_batches_tracked) == 0
    assert m.training and m[1].training


def test_infer_scale_leaves_batchnorm_statistics_alone():
    m = _bn_model()
    assert M.infer_scale(m) == 2
    assert torch.equal(m[1].running_mean, torch.zeros(3)) and m.training


class _Unshuffle8(nn.Module):
    """Works on multiples of 8 only (like a U-Net or pixel-unshuffle model)."""

    def forward(self, x):
        y = torch.nn.functional.pixel_shuffle(torch.nn.functional.pixel_unshuffle(x, 8), 8)
        return torch.nn.functional.interpolate(y, scale_factor=2)


class _Assert16(nn.Module):
    def forward(self, x):
        assert x.shape[-2] % 16 == 0 and x.shape[-1] % 16 == 0, "size must be a multiple of 16"
        return torch.nn.functional.interpolate(x, scale_factor=2)


@pytest.mark.parametrize("model,n", [(_Unshuffle8(), 8), (_Assert16(), 16)])
def test_check_names_the_size_multiple(model, n):
    with pytest.raises(InputError, match=rf"needs input sizes that are multiples of {n}\b.*pad") as e:
        M.check(model, 2)
    assert "single-channel" not in str(e.value)


def test_check_size_multiple_at_a_working_size_passes():
    assert M.check(_Unshuffle8(), 2, size=16) == 2


def test_size_multiple_from_working_and_failing_sizes():
    assert size_multiple([16, 24, 32], [12]) == 8
    assert size_multiple([16, 24, 32], [10]) == 4  # 10 is not a multiple of 4, so 4 explains it
    assert size_multiple([24, 36, 48], [10, 16]) == 3
    assert size_multiple([16, 20], [12]) is None  # 12 is a multiple of gcd 4: no size multiple explains it


class _MinSize(nn.Module):
    def forward(self, x):  # reflect padding by 14 needs sides > 14
        y = torch.nn.functional.pad(x, (14, 14, 14, 14), mode="reflect")
        return torch.nn.functional.interpolate(y, scale_factor=2)[..., 28:-28, 28:-28]


def test_check_model_that_needs_larger_inputs():
    with pytest.raises(InputError, match=r"runs on 16x16.*but not on 12x12.*pads") as e:
        M.check(_MinSize(), 2)
    assert "multiples of" not in str(e.value) and "single-channel" not in str(e.value)


class _InPlace(nn.Module):
    def forward(self, x):
        x.mul_(255)
        return torch.nn.functional.interpolate(x, scale_factor=2) / 255


def test_check_model_that_modifies_its_input():
    with pytest.raises(InputError, match=r"modifies its input in place.*x = x \* 255"):
        M.check(_InPlace(), 2)
    with pytest.raises(InputError, match=r"modifies its input in place"):
        M.infer_scale(_InPlace())


# --- x8 upsamplers and EDSR-L --------------------------------------------------------------------------------------
def test_upsample_x8_has_three_stages():
    from srwidgets.models._common import Upsample
    up = Upsample(8, 5)
    assert len(up) == 6
    assert [type(m) for m in up] == [nn.Conv2d, nn.PixelShuffle] * 3
    assert [up[i].out_channels for i in (0, 2, 4)] == [20, 20, 20]
    assert [up[i].upscale_factor for i in (1, 3, 5)] == [2, 2, 2]


def test_edsr_x8_maps_6_to_48():
    model = M.build("EDSR", num_feat=4, num_block=1, upscale=8).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 6, 6)).shape == (1, 3, 48, 48)


def test_edsr_x8_scale_is_read_back():
    from srwidgets.models._common import upsample_scale
    model = _build("EDSR", dict(num_feat=4, num_block=1, upscale=8))
    sd = model.state_dict()
    assert upsample_scale(sd, "upsample.", 4) == 8
    arch, cfg, _ = M.detect(sd)
    assert arch == "EDSR" and cfg["upscale"] == 8
    loaded = M.load(sd)
    assert loaded.scale == 8 and torch.equal(_out(loaded, 3, 2), _out(model, 3, 2))


@pytest.mark.parametrize("num_feat,res_scale", [(256, 0.1), (64, 1.0)])
def test_edsr_res_scale_follows_width(num_feat, res_scale):
    sd = M.build("EDSR", num_feat=num_feat, num_block=1, upscale=2).state_dict()
    arch, cfg, _ = M.detect(sd)
    assert arch == "EDSR" and cfg["num_feat"] == num_feat and cfg["res_scale"] == res_scale
    assert M.load(sd).body[0].res_scale == res_scale


class _Min16(nn.Module):
    """x2 nearest; refuses inputs smaller than 16 px (as a network with a large reflect padding would)."""

    def forward(self, x):
        if min(x.shape[-2:]) < 16:
            raise RuntimeError(f"input too small: {tuple(x.shape)}")
        return torch.nn.functional.interpolate(x, scale_factor=2)


def test_check_tries_the_users_image_size_first():
    with pytest.raises(InputError, match="12x12"):
        M.check(_Min16(), 2)  # the tiny probe alone refuses it
    assert M.check(_Min16(), 2, torch.rand(3, 32, 32)) == 2  # an image
    assert M.check(_Min16(), 2, (32, 40)) == 2  # its size
    assert M.check(_Min16(), 2, image=32) == 2
    with pytest.raises(InputError, match="not x3"):
        M.check(_Min16(), 3, (32, 32))  # the user's size still checks the scale
    # too small for the model: the probes explain it, or the message names the user's size
    with pytest.raises(InputError, match="16x16|8x8"):
        M.check(_Min16(), 2, (8, 8))
