"""Value ranges the weights cannot reveal (issue 14): official EDSR-PyTorch / RCAN checkpoints trained with another
``rgb_range`` or mean (read from the mean-shift biases), ranges that cannot be determined (the error names
``img_range=``), single-channel (Y) checkpoints (warning, ``YChannelWrapper``), and the exact pad-and-crop wrapper
``PadToMultiple`` that ``check`` offers for models needing multiples of N."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.errors import InputError
from srwidgets.lam import LAM
from srwidgets.models.swinir import SwinIR
from test_models import _to_official_edsr, _to_official_rcan

torch.set_num_threads(1)
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


# --- a hand-written forward pass of the official EDSR-PyTorch network, on the official key names -------------------
def _conv(sd, name, t):
    w = sd[f"{name}.weight"]
    return F.conv2d(t.double(), w.double(), sd[f"{name}.bias"].double(), padding=w.shape[-1] // 2)


def _official_tail(sd, h):
    i = 0
    while f"tail.0.{i}.weight" in sd:
        w = sd[f"tail.0.{i}.weight"]
        h = F.pixel_shuffle(_conv(sd, f"tail.0.{i}", h), int(round((w.shape[0] / w.shape[1]) ** 0.5)))
        i += 2
    return _conv(sd, "add_mean", _conv(sd, "tail.1", h))


def official_edsr(sd, x, rgb_range, num_block):
    """EDSR-PyTorch's ``model(x * rgb_range) / rgb_range``: sub_mean, head, body (res_scale 1), tail, add_mean."""
    h = _conv(sd, "head.0", _conv(sd, "sub_mean", x.double() * rgb_range))
    r = h
    for i in range(num_block):
        r = r + _conv(sd, f"body.{i}.body.2", F.relu(_conv(sd, f"body.{i}.body.0", r)))
    return _official_tail(sd, _conv(sd, f"body.{num_block}", r) + h) / rgb_range


def official_rcan(sd, x, rgb_range, num_group, num_block):
    """RCAN's official forward pass (channel attention ``conv_du``), fed ``x * rgb_range``, divided back."""
    h = _conv(sd, "head.0", _conv(sd, "sub_mean", x.double() * rgb_range))
    g = h
    for gi in range(num_group):
        r = g
        for b in range(num_block):
            p = f"body.{gi}.body.{b}.body"
            y = _conv(sd, f"{p}.2", F.relu(_conv(sd, f"{p}.0", r)))
            a = torch.sigmoid(_conv(sd, f"{p}.3.conv_du.2", F.relu(_conv(sd, f"{p}.3.conv_du.0",
                                                                            y.mean((2, 3), keepdim=True)))))
            r = r + y * a
        g = g + _conv(sd, f"body.{gi}.body.{num_block}", r)
    return _official_tail(sd, _conv(sd, f"body.{num_group}", g) + h) / rgb_range


X = torch.rand(1, 3, 7, 6, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("rgb_range,mean", [(255.0, DIV2K_MEAN), (1.0, DIV2K_MEAN), (255.0, (0.5, 0.45, 0.4)),
                                            (1.0, (0.3, 0.6, 0.2))])
def test_official_edsr_trained_with_another_range_is_read_from_the_mean_shift(rgb_range, mean):
    edsr = randomized("EDSR", dict(num_feat=8, num_block=2, upscale=2))
    official = _to_official_edsr(edsr.state_dict(), 2, rgb_range=rgb_range, mean=mean)
    model = M.load(official)
    assert model.config["img_range"] == rgb_range
    assert model.config["rgb_mean"] == pytest.approx(mean, abs=1e-6)
    want = official_edsr(official, X, rgb_range, 2)
    with torch.no_grad():
        got = model(X).double()
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
    # the other range gives a clearly different result: the test can tell them apart
    wrong = official_edsr(official, X, 256.0 - rgb_range, 2)
    assert (wrong - want).abs().max() > 1e-2


@pytest.mark.parametrize("rgb_range", [1.0, 255.0])
def test_official_rcan_trained_with_another_range(rgb_range):
    rcan = randomized("RCAN", dict(num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=2))
    official = _to_official_rcan(rcan.state_dict(), 2, 2, rgb_range=rgb_range)
    model = M.load(official)
    assert model.arch == "RCAN" and model.config["img_range"] == rgb_range
    with torch.no_grad():
        got = model(X).double()
    assert torch.allclose(got, official_rcan(official, X, rgb_range, 2, 2), atol=1e-5, rtol=1e-5)


def _official_with(**shift):
    edsr = randomized("EDSR", dict(num_feat=8, num_block=1, upscale=2))
    return _to_official_edsr(edsr.state_dict(), 1, **shift)


def test_a_range_that_cannot_be_determined_names_the_option():
    official = _official_with(mean=(0.0, 0.0, 0.0))  # zero biases: rgb_range x 0 says nothing
    with pytest.raises(InputError, match=r"cannot be determined.*img_range=255.*img_range=1"):
        M.load(official)
    with pytest.raises(InputError, match=r"cannot be determined.*img_range="):
        M.detect(official)
    for kw in (dict(img_range=1), dict(rgb_range=1)):
        model = M.load(official, **kw)
        assert model.config["img_range"] == 1.0 and model.config["rgb_mean"] == (0.0, 0.0, 0.0)
        with torch.no_grad():
            assert torch.allclose(model(X).double(), official_edsr(official, X, 1.0, 1), atol=1e-5)


def test_img_range_splits_an_ambiguous_mean_shift():
    official = _official_with(rgb_range=1.0, mean=(0.04, 0.03, 0.02))  # implausible at rgb_range 1 and at 255
    with pytest.raises(InputError, match="img_range"):
        M.load(official)
    model = M.load(official, img_range=1)
    assert model.config["rgb_mean"] == pytest.approx((0.04, 0.03, 0.02))
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        M.load(_official_with(rgb_range=255.0), img_range=1)  # 114 / 1 is no mean


def test_inconsistent_or_std_scaled_mean_shifts_are_refused():
    bad = _official_with()
    bad["add_mean.bias"] = bad["add_mean.bias"] * 0.5
    with pytest.raises(InputError, match="disagree.*img_range="):
        M.load(bad)
    std = _official_with()
    std["sub_mean.weight"] = std["sub_mean.weight"] / 0.5
    with pytest.raises(InputError, match="rgb_std"):
        M.load(std)
    partial = _official_with()
    del partial["add_mean.bias"]
    with pytest.raises(InputError, match="lacks add_mean.bias.*img_range="):
        M.load(partial)


def test_img_range_overrides_basicsr_named_checkpoints_and_is_refused_where_it_means_nothing():
    edsr = randomized("EDSR", dict(num_feat=8, num_block=1, upscale=2))
    assert M.load(edsr.state_dict()).config["img_range"] == 255.0  # BasicSR's EDSR: 255 assumed
    one = M.load(edsr.state_dict(), img_range=1)
    assert one.config["img_range"] == 1.0 and not torch.allclose(output(one), output(edsr))
    srres = randomized("MSRResNet", dict(num_feat=8, num_block=1, upscale=2))
    with pytest.raises(InputError, match="img_range= does not apply to MSRResNet"):
        M.load(srres.state_dict(), img_range=255)
    with pytest.raises(InputError, match="positive number"):
        M.load(edsr.state_dict(), img_range=0)
    with pytest.raises(InputError, match="same option"):
        M.load(edsr.state_dict(), img_range=1, rgb_range=255)


# --- single-channel (Y) checkpoints ----------------------------------------------------------------------------------
def _y_fsrcnn():
    return randomized("FSRCNN", dict(upscale=2, d=8, s=4, m=1, num_channels=1))


def test_a_y_checkpoint_warns_and_offers_the_wrapper():
    y_net = _y_fsrcnn()
    with pytest.warns(UserWarning, match=r"single-channel.*y_only='wrap'.*YChannelWrapper"):
        raw = M.load(y_net.state_dict(), scale=2)
    assert raw.config["num_channels"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.load(y_net.state_dict(), scale=2, y_only="keep").config["num_channels"] == 1
        wrapped = M.load(y_net.state_dict(), scale=2, y_only="wrap")
        M.load(randomized("FSRCNN", dict(upscale=2, d=8, s=4, m=1)).state_dict(), scale=2)  # RGB: no warning
    assert isinstance(wrapped, M.YChannelWrapper) and wrapped.scale == 2 and not wrapped.training
    assert wrapped.arch == "FSRCNN" and wrapped.scale_source == "scale= argument"
    with pytest.raises(InputError, match="y_only"):
        M.load(y_net.state_dict(), scale=2, y_only="yes")
    with pytest.raises(InputError, match=r"YChannelWrapper.*y_only='wrap'"):
        M.check(raw, 2)


def test_y_wrapper_shapes_and_a_grey_image_is_the_network_on_y():
    y_net = _y_fsrcnn()
    model = M.YChannelWrapper(y_net)
    g = torch.rand(2, 1, 6, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(g.expand(2, 3, 6, 5))
        y_out = y_net((16 + 219 * g) / 255)  # the luma of a grey image
    assert out.shape == (2, 3, 12, 10)
    want = (y_out - 16 / 255) * 255 / 219  # a grey output: full-range Y in every channel
    assert torch.allclose(out, want.expand_as(out), atol=1e-5)
    assert M.check(model, 2) == 2


def test_y_wrapper_runs_the_network_on_y_and_keeps_the_chroma_bicubic():
    y_net = _y_fsrcnn()
    x = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ycc = M.rgb_to_ycbcr(M.YChannelWrapper(y_net)(x))
        want_y = y_net(M.rgb_to_ycbcr(x)[:, :1])
    assert torch.allclose(ycc[:, :1], want_y, atol=1e-5)
    chroma = F.interpolate(M.rgb_to_ycbcr(x)[:, 1:], scale_factor=2, mode="bicubic", align_corners=False)
    assert torch.allclose(ycc[:, 1:], chroma, atol=1e-5)
    assert torch.allclose(M.ycbcr_to_rgb(M.rgb_to_ycbcr(x)), x, atol=1e-6)
    # BT.601 studio swing: white has Y 235, black 16, neutral chroma 128
    ends = M.rgb_to_ycbcr(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 1, 1)).flatten(1) * 255
    assert torch.allclose(ends, torch.tensor([[16.0, 128, 128], [235, 128, 128]]), atol=1e-4)


def test_lam_runs_on_a_wrapped_y_model_and_wrappers_are_not_saved(tmp_path):
    model = M.YChannelWrapper(_y_fsrcnn())
    x = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(2))
    result = LAM(model).attribute(x, (8, 8, 6), steps=4)
    assert tuple(result.map.shape) == (12, 12) and torch.isfinite(torch.as_tensor(result.map)).all()
    with pytest.raises(InputError, match=r"save\(model.model, path\)"):
        M.save(model, str(tmp_path / "w.pth"))


# --- PadToMultiple ---------------------------------------------------------------------------------------------------
SWIN = dict(embed_dim=8, depths=(2,), num_heads=(2,), window_size=8, mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle")


class _UnpaddedSwinIR(SwinIR):
    """SwinIR without its own ``check_image_size`` padding: like the official network called directly, it fails on
    sizes that are not multiples of the window."""

    def pad(self, x):
        return x


def _swin_pair():
    swin = randomized("SwinIR", SWIN)
    raw = _UnpaddedSwinIR(**SWIN).eval()
    raw.load_state_dict(swin.state_dict())
    return swin, raw


def test_check_offers_the_pad_and_crop_wrapper():
    _, raw = _swin_pair()
    with pytest.raises(InputError, match=r"multiples of 8.*srwidgets\.models\.PadToMultiple\(model, 8\)"):
        M.check(raw, 2)
    assert M.check(M.PadToMultiple(raw, 8), 2) == 2


def test_pad_to_multiple_reproduces_swinirs_own_padding_exactly():
    swin, raw = _swin_pair()
    wrapped = M.PadToMultiple(raw, 8)
    assert wrapped.scale == 2 and wrapped.arch == "SwinIR"
    for h, w in [(13, 11), (8, 16), (5, 9)]:  # 5 rows cannot be reflected by 3: replicate, as SwinIR does
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            got = wrapped(x)
            assert got.shape == (1, 3, 2 * h, 2 * w)
            assert torch.equal(got, swin(x))


class _Local4(nn.Module):
    """A local network (one 3x3 conv, nearest x2) that refuses sizes not multiples of 4."""

    scale = 2

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise RuntimeError("input size must be a multiple of 4")
        return F.interpolate(self.conv(x), scale_factor=2)


def test_pad_to_multiple_is_exact_where_the_padding_cannot_reach():
    net = _Local4()
    x = torch.rand(1, 3, 10, 11, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = M.PadToMultiple(net, 4)(x)
        inner = net(x[..., :8, :8])  # an already-multiple crop
    assert got.shape == (1, 3, 20, 22)
    # the conv reaches 1 LR pixel: away from the crop's bottom/right edge both are the network on the same pixels
    assert torch.equal(got[..., :14, :14], inner[..., :14, :14])
    # and the padded rows are the mirror image: row 10 of the padded input is row 8
    padded = F.pad(x, (0, 1, 0, 2), mode="reflect")
    with torch.no_grad():
        assert torch.equal(got, net(padded)[..., :20, :22])


def test_pad_to_multiple_rejects_bad_arguments():
    with pytest.raises(InputError, match="multiple must be a positive integer"):
        M.PadToMultiple(_Local4(), 0)
    with pytest.raises(InputError, match="nn.Module"):
        M.PadToMultiple(lambda x: x, 4)


def test_lam_runs_on_a_wrapped_swinir_with_an_odd_size_input():
    _, raw = _swin_pair()
    x = torch.rand(3, 13, 11, generator=torch.Generator().manual_seed(4))
    with pytest.raises(InputError, match="PadToMultiple"):
        LAM(raw)
    result = LAM(M.PadToMultiple(raw, 8)).attribute(x, (10, 8, 6), steps=4)
    assert tuple(result.map.shape) == (13, 11)
    assert torch.isfinite(torch.as_tensor(result.map)).all() and float(torch.as_tensor(result.map).sum()) > 0
