"""CARN and CARN-M: the official key names, a forward pass equal to one written out from the official code's
structure, detection of CARN vs CARN-M, width, groups and scales from the keys, multi-scale files (the upsampler
picked by ``scale=``, a scale without an upsampler refused), single-scale files, incomplete state dicts, the LAM
split; and the real public checkpoint (``../shared/checkpoints/carn_m.pth``, MIT): it loads at x2, x3 and x4, beats
bicubic on every bundled image with the authors' LR (Pillow bicubic on 8-bit images), passes ``check`` and runs LAM."""
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import srwidgets.models as M
from _helpers import output
from srwidgets import data, metrics
from srwidgets.errors import InputError
from srwidgets.models import carn
from srwidgets.models.protocol import FeatureLayers, SplitTail, feature_layers

torch.set_num_threads(1)

CHECKPOINT = Path(__file__).resolve().parents[1].parent / "shared" / "checkpoints" / "carn_m.pth"
SHA256 = "d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff"
MEAN = (0.4488, 0.4371, 0.4040)


def _official_shapes(num_feat=64, mobile=False, group=None, scales=(2, 3, 4), scale=None):
    """The official CARN / CARN-M parameter names and shapes (github.com/nmhkahn/CARN-pytorch: carn.py, carn_m.py,
    ops.py), written out independently of our module: what a checkpoint of that configuration holds."""
    c = num_feat
    g = group if group is not None else (4 if mobile else 1)
    shapes = {"sub_mean.shifter": (3, 3, 1, 1), "add_mean.shifter": (3, 3, 1, 1), "entry": (c, 3, 3, 3)}
    for b in (1, 2, 3):
        if mobile:
            shapes.update({f"b{b}.b1.body.0": (c, c // g, 3, 3), f"b{b}.b1.body.2": (c, c // g, 3, 3),
                           f"b{b}.b1.body.4": (c, c, 1, 1)})
        else:
            for r in (1, 2, 3):
                shapes.update({f"b{b}.b{r}.body.0": (c, c, 3, 3), f"b{b}.b{r}.body.2": (c, c, 3, 3)})
        for k in (1, 2, 3):
            shapes[f"b{b}.c{k}.body.0"] = (c, (k + 1) * c, 1, 1)
    for k in (1, 2, 3):
        shapes[f"c{k}.body.0"] = (c, (k + 1) * c, 1, 1)
    ups = {f"up{s}": s for s in scales} if scale is None else {"up": scale}
    for name, s in ups.items():
        factors = [3] if s == 3 else [2] * int(math.log2(s))
        for i, r in enumerate(factors):
            shapes[f"upsample.{name}.body.{3 * i}"] = (r * r * c, c // g, 3, 3)
    shapes["exit"] = (3, c, 3, 3)
    out = {}
    for k, s in shapes.items():
        out[f"{k}.weight"], out[f"{k}.bias"] = s, (s[0],)
    return out


def _random_official(num_feat=8, mobile=False, group=None, scales=(2, 3, 4), scale=None, seed=0):
    """A random state dict in the official naming (the mean shifts as the official code sets them)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, s in _official_shapes(num_feat, mobile, group, scales, scale).items():
        fan_in = math.prod(s[1:]) if len(s) > 1 else 1
        sd[k] = torch.randn(s, generator=g) / math.sqrt(fan_in) if len(s) > 1 else 0.05 * torch.randn(s, generator=g)
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        sd[f"{name}.shifter.weight"] = torch.eye(3).view(3, 3, 1, 1)
        sd[f"{name}.shifter.bias"] = sign * torch.tensor(MEAN)
    return sd


def _reference(sd, x, scale, mobile, group):
    """The official forward pass written out with functional ops from a state dict: what ``Net(x, scale)`` of
    carn.py / carn_m.py computes (MeanShift, entry, three cascading blocks in a global cascade, upsampler, exit)."""
    conv = lambda t, k, groups=1: F.conv2d(t, sd[k + ".weight"], sd[k + ".bias"],  # noqa: E731
                                           padding=sd[k + ".weight"].shape[-1] // 2, groups=groups)

    def cascade(x0, unit, fuse):
        c, o = x0, x0
        for i in (1, 2, 3):
            c = torch.cat([c, unit(i, o)], dim=1)
            o = F.relu(conv(c, fuse(i)))
        return o

    def residual(p):
        if mobile:  # EResidualBlock: grouped 3x3, ReLU, grouped 3x3, ReLU, 1x1, + x, ReLU
            return lambda i, t: F.relu(conv(F.relu(conv(F.relu(conv(t, f"{p}.b1.body.0", group)),
                                                         f"{p}.b1.body.2", group)), f"{p}.b1.body.4") + t)
        return lambda i, t: F.relu(conv(F.relu(conv(t, f"{p}.b{i}.body.0")), f"{p}.b{i}.body.2") + t)

    h = conv(conv(x, "sub_mean.shifter"), "entry")
    h = cascade(h, lambda i, t: cascade(t, residual(f"b{i}"), lambda k: f"b{i}.c{k}.body.0"), lambda k: f"c{k}.body.0")
    name = f"upsample.up{scale}" if f"upsample.up{scale}.body.0.weight" in sd else "upsample.up"
    for i, r in enumerate([3] if scale == 3 else [2] * int(math.log2(scale))):
        h = F.pixel_shuffle(F.relu(conv(h, f"{name}.body.{3 * i}", group)), r)
    return conv(conv(h, "exit"), "add_mean.shifter")


# --- structure ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, mobile", [("CARN", False), ("CARN-M", True)])
def test_the_official_keys_and_shapes(arch, mobile):
    multi = M.build(arch, scales=(2, 3, 4))
    assert {k: tuple(v.shape) for k, v in multi.state_dict().items()} == _official_shapes(mobile=mobile)
    single = M.build(arch, upscale=3)
    assert {k: tuple(v.shape) for k, v in single.state_dict().items()} == _official_shapes(mobile=mobile, scale=3)
    # the mean shifts are state (they load from the file) but nothing trains them
    names = dict(multi.named_parameters())
    assert "sub_mean.shifter.bias" not in names and "entry.weight" in names
    # the multi-scale networks' sizes: CARN 1,592K as in the paper's table; CARN-M 414,787, the official
    # carn_m.pth's (58 tensors, less the 24 mean-shift values; the paper rounds it to 412K)
    assert sum(p.numel() for p in names.values()) == (414_787 if mobile else 1_591_939)


@pytest.mark.parametrize("arch, mobile, scale", [("CARN", False, 2), ("CARN", False, 3), ("CARN-M", True, 4),
                                                  ("CARN-M", True, 3)])
def test_forward_equals_the_official_structure(arch, mobile, scale):
    sd = _random_official(mobile=mobile, seed=scale)
    model = M.load(sd, scale=scale)
    assert model.arch == arch and model.scale == scale
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = model(x), _reference(sd, x, scale, mobile, 4 if mobile else 1)
    assert got.shape == (2, 3, 9 * scale, 11 * scale)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_carn_m_reuses_one_residual_block_three_times():
    model = M.build("CARN-M", num_feat=8, upscale=2).eval()
    calls = []
    handle = model.b2.b1.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, 6, 6))
    finally:
        handle.remove()
    assert len(calls) == 3 and not hasattr(model.b2, "b2")


# --- detection and loading ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mobile", [False, True])
def test_round_trip_in_the_official_naming_at_each_scale(tmp_path, mobile):
    """A randomly initialised multi-scale network built from our module, saved as a bare state dict in the official
    naming, is detected again (CARN vs CARN-M, width, groups, scales) and runs each scale's upsampler."""
    arch = "CARN-M" if mobile else "CARN"
    torch.manual_seed(0)
    ours = M.build(arch, num_feat=8, upscale=4, scales=(2, 3, 4), group=2 if mobile else 1).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "carn.pth"
    torch.save(ours.state_dict(), path)
    assert M.detect(torch.load(path))[:2] == (arch, dict(num_feat=8, group=2 if mobile else 1, scales=(2, 3, 4),
                                                         img_range=1.0))
    sd = ours.state_dict()
    for s in (2, 3, 4):
        model = M.load(str(path), scale=s)
        assert model.arch == arch and model.scale == s and model.scale_source == "scale= argument"
        assert model.config == dict(num_feat=8, upscale=s, scales=(2, 3, 4), group=2 if mobile else 1, img_range=1.0)
        x = torch.rand(1, 3, 7, 8, generator=torch.Generator().manual_seed(s))
        with torch.no_grad():
            torch.testing.assert_close(model(x), _reference(sd, x, s, mobile, 2 if mobile else 1), rtol=1e-5,
                                       atol=1e-5)
        if s == 4:
            assert torch.equal(output(model), output(ours))


def test_multi_scale_file_refuses_a_scale_it_has_no_upsampler_for(tmp_path):
    path = tmp_path / "carn.pth"
    torch.save(_random_official(), path)
    with pytest.raises(InputError, match=r"you asked for x8, but this CARN checkpoint has upsamplers for x2, x3 and "
                                         r"x4 only; pass one of them: scale=2, scale=3, scale=4"):
        M.load(str(path), scale=8)
    with pytest.raises(InputError, match=r"one network for several scales \(upsamplers for x2, x3 and x4\).*"
                                         r"load\(path, scale=4\).*'carn_x4.pth'"):
        M.load(str(path))
    with pytest.raises(InputError, match="several scales"):  # a state dict: no file name to mention
        M.load(_random_official())
    # a file name stating a scale picks it (the command line has no scale=); one stating another is refused
    named = tmp_path / "carn_x3.pth"
    torch.save(_random_official(), named)
    model = M.load(str(named))
    assert model.scale == 3 and model.scale_source == "file name 'carn_x3.pth'"
    bad = tmp_path / "carn_x8.pth"
    torch.save(_random_official(), bad)
    with pytest.raises(InputError, match="the file name 'carn_x8.pth' states x8, but this CARN checkpoint has "
                                         "upsamplers for x2, x3 and x4 only"):
        M.load(str(bad))


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_single_scale_files_state_their_scale(scale):
    sd = _random_official(mobile=scale % 2 == 0, scale=scale)
    model = M.load(sd)
    assert model.scale == scale and model.config["scales"] is None and model.scale_source == "checkpoint weights"
    assert output(model, 5, 6).shape == (1, 3, 5 * scale, 6 * scale)
    other = 3 if scale != 3 else 2
    with pytest.raises(InputError, match=f"you asked for scale {other} but the CARN.* checkpoint is x{scale}"):
        M.load(sd, scale=other)


def test_saved_multi_scale_model_keeps_every_upsampler(tmp_path):
    ours = M.load(_random_official(mobile=True), scale=4)
    path = tmp_path / "carn_m_saved.pth"
    M.save(ours, str(path))
    again = M.load(str(path))
    assert again.scale == 4 and again.scale_source == "srwidgets metadata" and torch.equal(output(again), output(ours))
    x2 = M.load(str(path), scale=2)  # the record says x4; the file holds x2's upsampler too
    assert x2.scale == 2 and torch.equal(output(x2), output(M.load(_random_official(mobile=True), scale=2)))
    with pytest.raises(InputError, match="upsamplers for x2, x3 and x4 only"):
        M.load(str(path), scale=8)
    # a damaged record's scales are refused in words, whatever scale= says
    record = torch.load(path)
    for bad in (5, "234", [2, "x"]):
        record["srwidgets"]["config"]["scales"] = bad
        with pytest.raises(InputError, match="scales must be None .* or distinct scales"):
            M.load(record)
        with pytest.raises(InputError):
            M.load(record, scale=2)


@pytest.mark.parametrize("key, match", [
    ("b2.c1.body.0.weight", r"looks like CARN .*does not fit.*lacks 1 key \(b2\.c1\.body\.0\.weight\)"),
    ("entry.weight", r"looks like a CARN checkpoint, but it lacks entry\.weight"),
    ("b3.b2.body.2.bias", r"lacks 1 key \(b3\.b2\.body\.2\.bias\)"),
    ("upsample.up4.body.3.weight", r"upsampler 'upsample.up4' makes the image x2 larger, not x4"),
    ("sub_mean.shifter.bias", r"lacks sub_mean\.shifter\.bias"),
])
def test_incomplete_state_dicts_are_refused_naming_what_is_missing(key, match):
    sd = _random_official()
    del sd[key]
    with pytest.raises(InputError, match=match):
        M.load(sd, scale=4)


def test_inconsistent_state_dicts_are_refused():
    sd = _random_official(mobile=True)
    sd.update({k.replace("up2", "up"): v for k, v in sd.items() if k.startswith("upsample.up2.")})
    with pytest.raises(InputError, match="both a single-scale upsampler 'upsample.up' and per-scale ones"):
        M.load(sd, scale=2)
    sd = _random_official(mobile=True)
    sd["upsample.up2.body.0.weight"] = torch.zeros(8 * 4, 8, 3, 3)  # 1 group where the blocks use 4
    with pytest.raises(InputError, match="one group count for both"):
        M.load(sd, scale=2)
    sd = _random_official(mobile=True)
    sd["upsample.up3.body.0.weight"] = torch.zeros(8 * 9, 8, 3, 3)
    with pytest.raises(InputError, match=r"size mismatch for upsample.up3.body.0.weight: \(72, 8, 3, 3\) in the "
                                         r"checkpoint, \(72, 2, 3, 3\) in the network"):
        M.load(sd, scale=3)
    sd = _random_official()
    sd["extra.weight"] = torch.zeros(3)
    with pytest.raises(InputError, match=r"has 1 key the network does not \(extra\.weight\)"):
        M.load(sd, scale=2)


def test_detection_tells_carn_from_carn_m_and_from_other_families():
    assert carn.detect(_random_official(mobile=True)) is None and carn.detect_mobile(_random_official()) is None
    assert M.detect(_random_official())[0] == "CARN" and M.detect(_random_official(mobile=True))[0] == "CARN-M"
    for arch in ("EDSR", "RFDN", "IMDN", "PAN", "RCAN"):
        sd = M.build(arch, upscale=2).state_dict() if arch != "PAN" else M.build(arch).state_dict()
        assert carn.detect(sd) is None and carn.detect_mobile(sd) is None
        assert M.detect(sd)[0] == arch


def test_value_range_from_the_mean_shifts():
    sd = _random_official()
    assert M.detect(sd)[1]["img_range"] == 1.0
    for name in ("sub_mean", "add_mean"):
        sd[f"{name}.shifter.bias"] = sd[f"{name}.shifter.bias"] * 255  # trained on 0..255 values
    model = M.load(sd, scale=2)
    assert model.config["img_range"] == 255.0
    x = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(sd, x * 255, 2, False, 1) / 255, rtol=1e-5, atol=1e-5)


def test_bad_config_is_refused():
    for cfg, match in [(dict(upscale=5), "upscale must be x3 or a power of 2"),
                       (dict(scales=(2, 5)), "distinct scales"),
                       (dict(upscale=8, scales=(2, 3, 4)), "upsamplers for x2, x3, x4 only, not x8"),
                       (dict(num_feat=10, group=4), "group must be a positive integer dividing num_feat=10"),
                       (dict(img_range=0), "img_range")]:
        with pytest.raises(InputError, match=match):
            M.build("CARN-M", **cfg)


def test_split_tail_feature_layers_and_check():
    model = M.load(_random_official(mobile=True), scale=3)
    assert isinstance(model, SplitTail) and isinstance(model, FeatureLayers)
    x = torch.rand(1, 3, 16, 18, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        feats = model.features(x)
        assert feats.shape == (1, 8, 16, 18) and torch.equal(model.tail(feats, x), model(x))
        t = model.tail_margin  # on a crop of the features the tail gives the full output's interior
        part = model.tail(feats[..., 4 - t:10 + t, 5 - t:11 + t], None)
        torch.testing.assert_close(part[..., 3 * t:-3 * t, 3 * t:-3 * t], model(x)[..., 12:30, 15:33], rtol=0,
                                   atol=1e-6)
    assert [n for n, _ in feature_layers(model)] == ["b1", "b2", "b3", "c3"]
    assert M.check(model, 3) == 3
    # gradients reach the input; the input is left as it came
    x.requires_grad_(True)
    before = x.detach().clone()
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.equal(x.detach(), before)


# --- the real public checkpoint ------------------------------------------------------------------------------------
needs_checkpoint = pytest.mark.skipif(
    not CHECKPOINT.is_file(), reason=f"the public CARN-M checkpoint is not here ({CHECKPOINT}); it lives in the "
                                     "workspace's shared/checkpoints next to the repository")


@pytest.fixture(scope="module")
def official():
    return {s: M.load(str(CHECKPOINT), scale=s) for s in (2, 3, 4)}


def _pil_lr(hr, scale):
    """The authors' LR image: Pillow's bicubic resize of the 8-bit HR image, ``[3, H/s, W/s]`` in [0, 1]."""
    levels = (hr * 255).round().byte().permute(1, 2, 0).numpy()
    lr = Image.fromarray(levels).resize((levels.shape[1] // scale, levels.shape[0] // scale), Image.BICUBIC)
    return torch.from_numpy(np.array(lr)).permute(2, 0, 1).float() / 255


@needs_checkpoint
def test_checkpoint_loads_at_each_scale(official):
    assert hashlib.sha256(CHECKPOINT.read_bytes()).hexdigest() == SHA256
    for s, model in official.items():
        assert model.arch == "CARN-M" and model.scale == s and not model.training
        assert model.config == dict(num_feat=64, upscale=s, scales=(2, 3, 4), group=4, img_range=1.0)
        assert M.check(model, s) == s
    with pytest.raises(InputError, match="upsamplers for x2, x3 and x4 only"):
        M.load(str(CHECKPOINT), scale=8)
    with pytest.raises(InputError, match=r"several scales.*'carn_m_x4.pth'"):
        M.load(str(CHECKPOINT))


# Measured (Y-PSNR, border shaved by the scale, LR = Pillow bicubic of the 8-bit HR, SR rounded to 8 bits; bicubic =
# torch bicubic upsampling) on astronaut / chelsea / coffee:
#   x2: CARN-M 36.28 / 37.10 / 34.12 dB, bicubic 32.08 / 35.41 / 30.78 dB (mean gain 3.07 dB)
#   x3: CARN-M 32.16 / 33.97 / 30.74 dB, bicubic 29.02 / 33.01 / 28.52 dB (mean gain 2.11 dB)
#   x4: CARN-M 29.91 / 32.41 / 29.39 dB, bicubic 27.12 / 31.61 / 27.38 dB (mean gain 1.87 dB)
@needs_checkpoint
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_checkpoint_beats_bicubic(official, scale):
    gains = []
    for name in data.images():
        hr = data.image(name, modcrop=scale)
        lr = _pil_lr(hr, scale)[None]
        with torch.inference_mode():
            sr = official[scale](lr)
        assert sr.shape == hr[None].shape
        # [0, 1] values (a small overshoot at edges: the output is not clamped), not 0..255
        assert -0.2 < float(sr.min()) < 0.05 and 0.8 < float(sr.max()) < 1.2 and abs(float(sr.mean() - hr.mean())) < 0.01
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        p_sr = metrics.psnr((sr.clamp(0, 1) * 255).round() / 255, hr[None], shave=scale)
        p_bic = metrics.psnr(bic, hr[None], shave=scale)
        assert p_sr - p_bic > 0.6, f"x{scale} {name}: CARN-M {p_sr:.2f} dB vs bicubic {p_bic:.2f} dB"
        gains.append(p_sr - p_bic)
    assert sum(gains) / len(gains) > 1.5


@needs_checkpoint
def test_checkpoint_runs_lam(official):
    from srwidgets.lam import LAM

    model = official[4]
    lr = _pil_lr(data.image("astronaut", 4), 4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = LAM(model).attribute(lr, (98, 84, 16), steps=10)
    assert r.map.shape == (64, 64) and math.isfinite(r.diffusion_index) and 0 < r.diffusion_index < 100
    assert torch.isfinite(r.attribution).all() and r.attribution.abs().sum() > 0
    assert not model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@needs_checkpoint
def test_zoo_ships_the_checkpoint_tensors_with_every_upsampler(official, tmp_path):
    from srwidgets import zoo

    shipped = zoo.load("x4-carn-m")
    assert shipped.arch == "CARN-M" and shipped.scale == 4 and shipped.config == official[4].config
    a, b = shipped.state_dict(), official[4].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert zoo.info("x4-carn-m")["source_sha256"] == SHA256
    # the shipped file is still the multi-scale network: its x2 is the official x2
    path = Path(zoo.__file__).parent / zoo.info("x4-carn-m")["file"]
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(M.load(str(path), scale=2)(x), official[2](x))
