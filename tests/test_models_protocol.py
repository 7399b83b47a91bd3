"""The model protocol (srwidgets.models.protocol): which architectures declare SplitTail / RegionFeatures /
FeatureLayers, that what they declare holds, and the ``feature_layers`` fallback for any other module."""
import pytest
import torch
from torch import nn

from _helpers import randomized
from srwidgets.models.protocol import FeatureLayers, RegionFeatures, SplitTail, feature_layers

torch.set_num_threads(1)

TINY = {
    "FSRCNN": dict(upscale=2, d=8, s=4, m=2),
    "EDSR": dict(num_feat=8, num_block=3, upscale=2),
    "MSRResNet": dict(num_feat=8, num_block=3, upscale=4),
    "RCAN": dict(num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=2),
    "RRDBNet": dict(num_feat=8, num_block=2, num_grow_ch=4, upscale=4),
    "SwinIR": dict(embed_dim=8, depths=(2, 1), num_heads=(2, 2), window_size=4, mlp_ratio=2.0, upscale=2,
                   upsampler="pixelshuffle"),
}


def _model(arch):
    return randomized(arch, TINY[arch])


def _image(h=11, w=9):
    return torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(3))


# --- who declares what ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["EDSR", "RCAN", "MSRResNet"])
def test_split_tail_architectures(arch):
    assert isinstance(_model(arch), SplitTail)


@pytest.mark.parametrize("arch", ["FSRCNN", "RRDBNet", "SwinIR"])
def test_architectures_without_split_tail(arch):
    m = _model(arch)
    assert not isinstance(m, SplitTail) and not isinstance(m, RegionFeatures)


@pytest.mark.parametrize("arch", ["EDSR", "MSRResNet"])
def test_region_features_architectures(arch):
    assert isinstance(_model(arch), RegionFeatures)


def test_rcan_is_not_region_features():
    # Channel attention pools over the whole image: RCAN's features of a region cannot be computed alone.
    assert not isinstance(_model("RCAN"), RegionFeatures)


@pytest.mark.parametrize("arch", list(TINY))
def test_every_architecture_declares_feature_layers(arch):
    assert isinstance(_model(arch), FeatureLayers)


def test_plain_modules_declare_nothing():
    m = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Upsample(scale_factor=2))
    assert not isinstance(m, SplitTail) and not isinstance(m, RegionFeatures) and not isinstance(m, FeatureLayers)


# --- what they declare holds ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["EDSR", "RCAN", "MSRResNet"])
def test_forward_is_tail_of_features(arch):
    m, x = _model(arch), _image()
    with torch.no_grad():
        f = m.features(x)
        assert f.shape[-2:] == x.shape[-2:]  # features are at LR resolution
        assert torch.allclose(m.tail(f, x), m(x), atol=1e-6)


@pytest.mark.parametrize("arch", ["EDSR", "RCAN", "MSRResNet"])
def test_tail_margin_is_a_positive_int(arch):
    margin = _model(arch).tail_margin
    assert isinstance(margin, int) and margin >= 1


@pytest.mark.parametrize("arch", ["EDSR", "MSRResNet"])
@pytest.mark.parametrize("region", [(3, 7, 2, 5), (0, 2, 0, 9), (9, 11, 6, 9), (0, 11, 0, 9)])
def test_features_region_is_the_crop_of_features(arch, region):
    m, x = _model(arch), _image()
    r0, r1, c0, c1 = region
    with torch.no_grad():
        got = m.features_region(x, region)
        assert got.shape[-2:] == (r1 - r0, c1 - c0)
        assert torch.allclose(got, m.features(x)[..., r0:r1, c0:c1], atol=1e-5)


# --- feature_layers ------------------------------------------------------------------------------------------------
def _depth_order(m):
    return {name: i for i, (name, _) in enumerate(m.named_modules())}


@pytest.mark.parametrize("arch", list(TINY))
def test_feature_layers_name_real_modules_shallow_to_deep(arch):
    m = _model(arch)
    layers = feature_layers(m)
    assert len(layers) >= 2
    modules = dict(m.named_modules())
    for name, module in layers:
        assert modules.get(name) is module, name
    order = _depth_order(m)
    positions = [order[name] for name, _ in layers]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_feature_layers_of_edsr_are_blocks_then_conv_after_body():
    names = [n for n, _ in feature_layers(_model("EDSR"))]
    assert names == ["body.0", "body.1", "body.2", "conv_after_body"]


def test_feature_layers_outputs_are_lr_feature_maps():
    # The hooked outputs of a conv model are [N, C, h, w] at the input's resolution.
    m, x = _model("EDSR"), _image()
    shapes = []
    hooks = [mod.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
             for _, mod in feature_layers(m)]
    try:
        with torch.no_grad():
            m(x)
    finally:
        for h in hooks:
            h.remove()
    assert shapes == [(2, 8, 11, 9)] * 4


def test_feature_layers_fallback_is_top_level_children():
    conv, act, up = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 12, 1), nn.PixelShuffle(2))
    m = nn.Sequential(conv, act, up)
    layers = feature_layers(m)
    assert [n for n, _ in layers] == ["0", "1", "2"]
    assert [mod for _, mod in layers] == [conv, act, up]
