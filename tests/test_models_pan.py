"""PAN (pixel attention network): the official key names and shapes, a hand-written forward pass on those keys,
checkpoint round trips, the scale of x2 / x3 checkpoints, bad checkpoints, and the LAM split."""
import pytest
import torch
import torch.nn.functional as F

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.errors import InputError
from srwidgets.lam import LAM
from srwidgets.models.protocol import SplitTail

torch.set_num_threads(1)
TINY = dict(nf=8, unf=4, nb=2)


def official_shapes(nf, unf, nb, scale, in_nc=3, out_nc=3):
    """The parameter shapes of the official ``PAN_arch.PAN(in_nc, out_nc, nf, unf, nb, scale)``, written out."""
    g = nf // 2
    want = {"conv_first.weight": (nf, in_nc, 3, 3), "conv_first.bias": (nf,)}
    for i in range(nb):
        p = f"SCPA_trunk.{i}."
        want.update({p + "conv1_a.weight": (g, nf, 1, 1), p + "conv1_b.weight": (g, nf, 1, 1),
                     p + "k1.0.weight": (g, g, 3, 3), p + "PAConv.k2.weight": (g, g, 1, 1),
                     p + "PAConv.k2.bias": (g,), p + "PAConv.k3.weight": (g, g, 3, 3),
                     p + "PAConv.k4.weight": (g, g, 3, 3), p + "conv3.weight": (nf, nf, 1, 1)})
    want.update({"trunk_conv.weight": (nf, nf, 3, 3), "trunk_conv.bias": (nf,),
                 "upconv1.weight": (unf, nf, 3, 3), "upconv1.bias": (unf,),
                 "att1.conv.weight": (unf, unf, 1, 1), "att1.conv.bias": (unf,),
                 "HRconv1.weight": (unf, unf, 3, 3), "HRconv1.bias": (unf,)})
    if scale == 4:
        want.update({"upconv2.weight": (unf, unf, 3, 3), "upconv2.bias": (unf,),
                     "att2.conv.weight": (unf, unf, 1, 1), "att2.conv.bias": (unf,),
                     "HRconv2.weight": (unf, unf, 3, 3), "HRconv2.bias": (unf,)})
    want.update({"conv_last.weight": (out_nc, unf, 3, 3), "conv_last.bias": (out_nc,)})
    return want


def _c(sd, name, t):
    w = sd[f"{name}.weight"]
    return F.conv2d(t, w, sd.get(f"{name}.bias"), padding=w.shape[-1] // 2)


def official_forward(sd, x, scale, nb):
    """The official PAN forward pass, written from the paper on the official key names."""
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    fea = _c(sd, "conv_first", x)
    h = fea
    for i in range(nb):
        p = f"SCPA_trunk.{i}."
        a = lrelu(_c(sd, p + "k1.0", lrelu(_c(sd, p + "conv1_a", h))))
        b = lrelu(_c(sd, p + "conv1_b", h))
        b = lrelu(_c(sd, p + "PAConv.k4", _c(sd, p + "PAConv.k3", b) * torch.sigmoid(_c(sd, p + "PAConv.k2", b))))
        h = h + _c(sd, p + "conv3", torch.cat([a, b], 1))
    fea = fea + _c(sd, "trunk_conv", h)
    for k, f in ([(1, 2), (2, 2)] if scale == 4 else [(1, scale)]):
        fea = _c(sd, f"upconv{k}", F.interpolate(fea, scale_factor=f, mode="nearest"))
        fea = lrelu(fea * torch.sigmoid(_c(sd, f"att{k}.conv", fea)))
        fea = lrelu(_c(sd, f"HRconv{k}", fea))
    return _c(sd, "conv_last", fea) + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_key_names_and_shapes(scale):
    sd = M.build("PAN", upscale=scale, **TINY).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == official_shapes(8, 4, 2, scale)
    paper = M.build("PAN", upscale=4).state_dict()  # the official x4: nf 40, unf 24, 16 blocks, 272K parameters
    assert sum(v.numel() for v in paper.values()) == pytest.approx(272_419, rel=0.01)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_synthetic_official_checkpoint_round_trip(tmp_path, scale):
    torch.manual_seed(scale)
    sd = {k: 0.2 * torch.randn(s) for k, s in official_shapes(8, 4, 3, scale).items()}  # keys written by hand
    path = tmp_path / f"PANx{scale}_DF2K.pth"
    torch.save(sd, path)
    model = M.load(str(path))
    assert model.arch == "PAN" and model.scale == scale and not model.training
    assert model.config == dict(nf=8, unf=4, nb=3, upscale=scale, reduction=2, img_range=1.0, in_nc=3, out_nc=3)
    assert model.scale_source == ("checkpoint weights" if scale == 4 else f"file name 'PANx{scale}_DF2K.pth'")
    x = torch.rand(1, 3, 7, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), official_forward(sd, x, scale, 3), atol=1e-5)
    M.save(model, str(tmp_path / "again.pth"))
    again = M.load(str(tmp_path / "again.pth"))
    assert again.config == model.config and torch.equal(output(again), output(model))
    assert M.detect(sd)[0] == "PAN" and M.check(model, scale) == scale


def test_x2_and_x3_need_the_scale():
    sd = randomized("PAN", dict(upscale=2, **TINY)).state_dict()
    # issue 17: the advice is the scales that share these parameters, never scale=4 (x4 has a second stage)
    with pytest.raises(InputError, match=r"PAN weights do not record the scale.*cannot be read.*scale=2 or scale=3") \
            as err:
        M.load(sd)
    assert "scale=4" not in str(err.value)
    assert M.load(sd, scale=3).scale == 3  # x2 and x3 share their parameters
    with pytest.raises(InputError, match="does not fit"):
        M.load(sd, scale=4)  # x4 has a second upsampling stage
    with pytest.raises(InputError, match="scale 2 but the PAN checkpoint is x4"):
        M.load(randomized("PAN", dict(upscale=4, **TINY)).state_dict(), scale=2)
    with pytest.raises(InputError, match="x2, x3 and x4 only"):
        M.build("PAN", upscale=8, **TINY)


def test_missing_block_and_incomplete_stage_are_named():
    sd = randomized("PAN", dict(upscale=4, nf=8, unf=4, nb=3)).state_dict()
    gap = {k: v for k, v in sd.items() if not k.startswith("SCPA_trunk.1.")}
    with pytest.raises(InputError, match=r"lacks block SCPA_trunk\.1\b"):
        M.load(gap)
    part = {k: v for k, v in sd.items() if not k.startswith("SCPA_trunk.2.PAConv.k3")}
    with pytest.raises(InputError, match=r"SCPA_trunk\.2 lacks PAConv\.k3"):
        M.load(part)
    stage = {k: v for k, v in sd.items() if not k.startswith("att2.")}
    with pytest.raises(InputError, match=r"second upsampling stage lacks att2\.conv"):
        M.load(stage)


def test_img_range_and_the_old_esrgan_naming_are_not_confused():
    pan = randomized("PAN", dict(upscale=4, **TINY))
    scaled = M.load(pan.state_dict(), img_range=255)
    assert scaled.config["img_range"] == 255.0 and not torch.allclose(output(scaled), output(pan))
    esrgan = {k: v for k, v in M.build("RRDBNet", num_feat=8, num_block=1, num_grow_ch=4).state_dict().items()}
    assert M.detect(esrgan)[0] == "RRDBNet"


def test_split_for_lam_is_exact():
    pan = randomized("PAN", dict(upscale=4, **TINY))
    assert isinstance(pan, SplitTail)
    assert [n for n, _ in pan.feature_layers()] == ["SCPA_trunk.0", "SCPA_trunk.1", "trunk_conv"]
    x = torch.rand(3, 14, 13, generator=torch.Generator().manual_seed(5))
    window = (24, 20, 8)
    split = LAM(pan, crop=False).attribute(x, window, steps=4)
    whole = LAM(pan, crop=False, split_tail=False).attribute(x, window, steps=4)
    assert torch.allclose(torch.as_tensor(split.map), torch.as_tensor(whole.map), rtol=1e-4, atol=1e-8)
