"""IMDN: the official key names, build / save / load round trips on synthetic weights, detection of width, depth and
scale from the keys, missing and extra blocks, the contrast-aware channel attention, the LAM split. (No public IMDN
checkpoint is at hand: its [0, 1] value range follows the official test script and is not measured here.)"""
import pytest
import torch

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.errors import InputError
from srwidgets.models import imdn, rfdn
from srwidgets.models.protocol import FeatureLayers, SplitTail, feature_layers

torch.set_num_threads(1)

TINY = [dict(num_feat=8, num_block=2, upscale=2), dict(num_feat=16, num_block=3, upscale=3),
        dict(num_feat=32, num_block=1, upscale=4)]
IDS = [f"f{c['num_feat']}b{c['num_block']}x{c['upscale']}" for c in TINY]


def _official_keys(num_feat=64, num_block=6, scale=4, reduction=16):
    """The official IMDN parameter names and shapes (github.com/Zheng222/IMDN), written out independently of our
    module."""
    c = num_feat
    d, r = c // 4, c - c // 4
    mid = max(1, 4 * d // reduction)
    shapes = {"fea_conv": (c, 3, 3, 3)}
    for b in range(1, num_block + 1):
        shapes.update({f"IMDB{b}.c1": (c, c, 3, 3), f"IMDB{b}.c2": (c, r, 3, 3), f"IMDB{b}.c3": (c, r, 3, 3),
                       f"IMDB{b}.c4": (d, r, 3, 3), f"IMDB{b}.c5": (c, 4 * d, 1, 1),
                       f"IMDB{b}.cca.conv_du.0": (mid, 4 * d, 1, 1), f"IMDB{b}.cca.conv_du.2": (4 * d, mid, 1, 1)})
    shapes.update({"c.0": (c, c * num_block, 1, 1), "LR_conv": (c, c, 3, 3), "upsampler.0": (3 * scale * scale, c, 3, 3)})
    out = {}
    for k, s in shapes.items():
        out[f"{k}.weight"], out[f"{k}.bias"] = s, (s[0],)
    return out


def test_default_model_has_the_official_keys_and_shapes():
    model = M.build("IMDN")
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == _official_keys()
    # The paper's IMDN x4: 715k parameters.
    assert sum(p.numel() for p in model.parameters()) == 715176
    assert model.scale == 4 and model.arch == "IMDN" and model.config["img_range"] == 1.0


@pytest.mark.parametrize("cfg", TINY, ids=IDS)
def test_save_load_file_round_trip(tmp_path, cfg):
    model = randomized("IMDN", cfg)
    ref = output(model, 9, 7)
    assert ref.shape == (1, 3, 9 * cfg["upscale"], 7 * cfg["upscale"])
    M.save(model, str(tmp_path / "model.pth"))
    loaded = M.load(str(tmp_path / "model.pth"))
    assert loaded.arch == "IMDN" and loaded.config == model.config and not loaded.training
    assert torch.equal(output(loaded, 9, 7), ref)


@pytest.mark.parametrize("wrapper", ["bare", "params", "module-prefix"])
@pytest.mark.parametrize("cfg", TINY, ids=IDS)
def test_detection_from_official_keys(cfg, wrapper):
    model = randomized("IMDN", cfg)
    sd = model.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == _official_keys(cfg["num_feat"], cfg["num_block"], cfg["upscale"])
    obj = {"bare": dict(sd), "params": {"params": dict(sd)},
           "module-prefix": {f"module.{k}": v for k, v in sd.items()}}[wrapper]
    loaded = M.load(obj)
    assert loaded.arch == "IMDN" and loaded.scale == cfg["upscale"] and loaded.scale_source == "checkpoint weights"
    assert torch.equal(output(loaded, 9, 7), output(model, 9, 7))


def test_rfdn_and_imdn_do_not_claim_each_other():
    a = M.build("IMDN", num_feat=8, num_block=2, upscale=2).state_dict()
    b = M.build("RFDN", num_feat=8, num_block=2, upscale=2).state_dict()
    assert rfdn.detect(a) is None and imdn.detect(b) is None
    assert M.detect(a)[0] == "IMDN" and M.detect(b)[0] == "RFDN"


def _tiny_sd():
    return dict(randomized("IMDN", dict(num_feat=8, num_block=3, upscale=2)).state_dict())


def test_missing_block_is_named():
    sd = {k: v for k, v in _tiny_sd().items() if not k.startswith("IMDB3.")}
    with pytest.raises(InputError, match=r"IMDN checkpoint with 3 blocks.*missing block IMDB3"):
        M.load(sd)


def test_extra_block_is_named():
    sd = _tiny_sd()
    sd.update({k.replace("IMDB1.", "IMDB4.", 1): v.clone() for k, v in sd.items() if k.startswith("IMDB1.")})
    with pytest.raises(InputError, match=r"extra block IMDB4"):
        M.load(sd)


def test_incomplete_block_is_named():
    sd = {k: v for k, v in _tiny_sd().items() if not k.startswith("IMDB2.cca.")}
    with pytest.raises(InputError, match=r"block IMDB2 lacks cca\.conv_du\.0, cca\.conv_du\.2"):
        M.load(sd)


def test_contrast_aware_channel_attention_formula():
    cca = randomized("IMDN", dict(num_feat=16, num_block=1, upscale=2)).IMDB1.cca
    x = torch.randn(2, 16, 5, 7, generator=torch.Generator().manual_seed(0))
    mean = x.sum((2, 3), keepdim=True) / 35
    std = ((x - mean) ** 2).sum((2, 3), keepdim=True).div(35).sqrt()  # population std, as the official stdv_channels
    du = cca.conv_du
    w = torch.sigmoid(du[2](torch.relu(du[0](std + mean))))
    with torch.no_grad():
        assert torch.allclose(cca(x), x * w, atol=1e-6)


def test_split_tail_feature_layers_and_check():
    model = randomized("IMDN", dict(num_feat=8, num_block=2, upscale=3))
    assert isinstance(model, SplitTail) and isinstance(model, FeatureLayers)
    x = torch.rand(1, 3, 10, 11, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.equal(model.tail(model.features(x), x), model(x))
    assert [n for n, _ in feature_layers(model)] == ["IMDB1", "IMDB2", "LR_conv"]
    assert M.check(model, 3) == 3 and M.infer_scale(model) == 3


def test_img_range_scales_the_network_input_and_output():
    m1 = randomized("IMDN", dict(num_feat=8, num_block=2, upscale=2))
    m255 = M.build("IMDN", num_feat=8, num_block=2, upscale=2, img_range=255.0).eval()
    m255.load_state_dict(m1.state_dict())
    x = torch.rand(1, 3, 9, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(m255(x), m1(x * 255) / 255, atol=1e-4)


def test_bad_config_is_refused():
    with pytest.raises(InputError, match="multiple of 4"):
        M.build("IMDN", num_feat=10)
