"""The spandrel route of srwidgets.models.load, against the REAL spandrel (no stubs).

Each case builds one of spandrel's own architecture classes with random weights (small widths, so the file runs in
about a minute on a CPU), saves its state dict to a .pth, loads it with ``srwidgets.models.load(path, scale=...)``
and compares with the model spandrel itself loads from the same state dict. Skipped only when spandrel cannot be
imported: the main environment's torch has no matching torchvision; ``.ci/spandrel_env.sh`` builds ``.venv-spandrel``
where it can, and ``tests/test_models_spandrel_env.py`` runs this file there (it fails on any skip).
"""
import importlib
import warnings

import pytest
import torch

spandrel = pytest.importorskip("spandrel", reason="spandrel cannot be imported here (see .ci/spandrel_env.sh)")

import srwidgets  # noqa: E402
from srwidgets import models, trust  # noqa: E402
from srwidgets.ddr import DDR  # noqa: E402
from srwidgets.errors import InputError  # noqa: E402
from srwidgets.lam import LAM  # noqa: E402
from srwidgets.models import SpandrelModel  # noqa: E402


def _arch(module: str, cls: str, **kwargs):
    return lambda: getattr(importlib.import_module(f"spandrel.architectures.{module}"), cls)(**kwargs)


# (id, constructor, scale spandrel reads, LR side the network accepts as it is). Widths are small; the structure
# (and so the detection) is each architecture's own.
CASES = [
    ("Compact", _arch("Compact", "Compact", num_feat=16, num_conv=4, upscale=4), 4, 13),
    ("SPAN", _arch("SPAN", "SPAN", num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=4), 4, 13),
    ("OmniSR", _arch("OmniSR", "OmniSR", num_feat=16, block_num=1, up_scale=2), 2, 16),
    ("SAFMN", _arch("SAFMN", "SAFMN", dim=16, n_blocks=2, upscaling_factor=2), 2, 16),
    ("Swin2SR", _arch("Swin2SR", "Swin2SR", embed_dim=12, depths=[2], num_heads=[2], window_size=4, upscale=2,
                      upsampler="pixelshuffledirect", img_size=16), 2, 16),
    ("PLKSR", _arch("PLKSR", "PLKSR", dim=16, n_blocks=2, upscaling_factor=2, kernel_size=9), 2, 16),
    ("RGT", _arch("RGT", "RGT", embed_dim=12, depth=[2], num_heads=[2], upscale=2, split_size=[4, 4], img_size=16),
     2, 16),
    ("DAT", _arch("DAT", "DAT", embed_dim=16, depth=[2], num_heads=[2], upscale=2, split_size=[2, 4], img_size=16),
     2, 16),
    ("ATD", _arch("ATD", "ATD", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, upscale=2, img_size=16,
                  num_tokens=8, upsampler="pixelshuffledirect"), 2, 16),
    ("DRCT", _arch("DRCT", "DRCT", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, upscale=2, img_size=16,
                   upsampler="pixelshuffle"), 2, 16),
    ("SwiftSRGAN", _arch("SwiftSRGAN", "SwiftSRGAN", num_channels=16, num_blocks=2, upscale_factor=2), 2, 13),
    ("DITN", _arch("DITN", "DITN", dim=12, ITL_blocks=1, SAL_blocks=1, upscale=2), 2, 16),
    ("CRAFT", _arch("CRAFT", "CRAFT", embed_dim=12, depths=[2], num_heads=[2], window_size=8, split_size_0=2,
                    split_size_1=8, upscale=2), 2, 16),
    ("SeemoRe", _arch("SeemoRe", "SeemoRe", scale=2, num_experts=2, num_layers=1, embedding_dim=16), 2, 16),
    ("MoSR", _arch("MoSR", "MoSR", upscale=2, n_block=2, dim=16), 2, 13),
    ("MoESR", _arch("MoESR", "MoESR", scale=2, dim=16, n_blocks=1, n_block=1), 2, 16),
    ("FDAT", _arch("FDAT", "FDAT", scale=2, embed_dim=16, num_groups=1, depth_per_group=1, num_heads=2,
                   window_size=4), 2, 16),
    ("GRL", _arch("GRL", "GRL", embed_dim=16, upscale=2, upsampler="pixelshuffle", depths=[1], num_heads_window=[2],
                  num_heads_stripe=[2], window_size=4, stripe_size=[4, 4], img_size=16), 2, 16),
    ("DCTLSA", _arch("DCTLSA", "DCTLSA", nf=20, num_modules=6, upscale=2, num_head=5), 2, 16),
    ("SAFMNBCIE", _arch("SAFMNBCIE", "SAFMNBCIE", dim=16, n_blocks=1, num_layers=1, upscaling_factor=2), 1, 16),
    # restoration networks (scale 1)
    ("NAFNet", _arch("NAFNet", "NAFNet", width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1]), 1, 16),
    ("DnCNN", _arch("DnCNN", "DnCNN", in_nc=3, out_nc=3, nc=16, nb=17), 1, 13),
    ("RetinexFormer", _arch("RetinexFormer", "RetinexFormer", n_feat=8, stage=1, num_blocks=[1, 1, 1]), 1, 16),
]
# The same architectures under srwidgets' own families (their keys match srwidgets' naming): the native route loads
# them, and must give spandrel's numbers too.
NATIVE = [
    ("RCAN", _arch("RCAN", "RCAN", n_resgroups=1, n_resblocks=2, n_feats=16, scale=2, reduction=4), 2, 16, "RCAN"),
    ("HAT", _arch("HAT", "HAT", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, upscale=2, img_size=16,
                  squeeze_factor=4, compress_ratio=3), 2, 16, "HAT"),
    ("SwinIR", _arch("SwinIR", "SwinIR", embed_dim=12, depths=[2], num_heads=[2], window_size=4, upscale=2,
                     upsampler="pixelshuffledirect", img_size=16), 2, 16, "SwinIR"),
    ("ESRGAN", _arch("ESRGAN", "ESRGAN", num_filters=16, num_blocks=1, scale=4), 4, 13, "RRDBNet"),
]


def _save(tmp_path_factory, name, make):
    torch.manual_seed(0)
    state = make().state_dict()
    path = tmp_path_factory.mktemp(name) / f"{name}.pth"
    torch.save(state, path)
    return path, state


def _spandrel_model(state):
    """What spandrel itself loads from ``state``: its descriptor (call API: pads, clamps) and its network."""
    descriptor = spandrel.ModelLoader().load_from_state_dict(dict(state))
    return descriptor, descriptor.model.eval()


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request, tmp_path_factory):
    name, make, scale, side = request.param
    path, state = _save(tmp_path_factory, name, make)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. Swin2SR: "srwidgets' own loader did not take ..."
        model = models.load(path, scale=scale)
    descriptor, net = _spandrel_model(state)
    return name, model, descriptor, net, scale, side


def _lr(side_h, side_w, seed=1):
    return torch.rand(1, 3, side_h, side_w, generator=torch.Generator().manual_seed(seed))


def test_loads_through_spandrel_with_its_scale_and_a_readable_arch(case):
    name, model, descriptor, _, scale, _ = case
    assert isinstance(model, SpandrelModel) and model.spandrel_id == name
    assert model.scale == scale == descriptor.scale
    assert model.arch.startswith(descriptor.architecture.name) and model.arch.endswith("(spandrel)")
    assert not model.training and not any(m.training for m in model.modules())


def test_output_equals_spandrels_own_model(case):
    _, model, _, net, scale, side = case
    x = _lr(side, side)
    with torch.no_grad():
        want = net(x.clone())
        got = model(x)
    assert got.shape == (1, 3, scale * side, scale * side)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_odd_sizes_are_padded_inside_forward_gradients_flow_input_unchanged(case):
    _, model, descriptor, _, scale, _ = case
    # 11 x 7: below the minimum / not a multiple / not square for every architecture here
    x = _lr(11, 7, seed=2).requires_grad_(True)
    before = x.detach().clone()
    got = model(x)
    assert got.shape == (1, 3, scale * 11, scale * 7)
    assert torch.equal(x.detach(), before)  # RCAN-like networks write into their input: never the caller's
    with torch.no_grad():
        want = descriptor(before.clone())  # spandrel's call API: the same padding, then clamped to [0, 1]
    torch.testing.assert_close(got.detach().clamp(0, 1), want, rtol=1e-5, atol=1e-5)
    got[..., :4, :4].sum().backward()  # through the padding too
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.equal(x.detach(), before)


def test_check_passes_and_lam_runs(case):
    _, model, _, _, scale, _ = case
    assert models.check(model, scale) == scale
    lr = _lr(8, 8, seed=4)[0]
    result = LAM(model).attribute(lr, window=(2 * scale, 2 * scale, 4 * scale), steps=2)
    assert result.map.shape == (8, 8) and torch.isfinite(torch.as_tensor(result.map)).all()
    assert result.diffusion_index >= 0


@pytest.mark.parametrize("name,make,scale,side,family", NATIVE, ids=[c[0] for c in NATIVE])
def test_architectures_srwidgets_has_load_natively_with_spandrels_numbers(tmp_path_factory, name, make, scale, side,
                                                                          family):
    path, state = _save(tmp_path_factory, name, make)
    model = models.load(path, scale=scale)
    assert not isinstance(model, SpandrelModel) and model.arch == family
    _, net = _spandrel_model(state)
    x = _lr(side, side)
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x.clone()), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------ every engine
@pytest.fixture(scope="module")
def safmn(tmp_path_factory):
    """SAFMN x2: its inputs must be multiples of 8 (padded inside forward)."""
    path, _ = _save(tmp_path_factory, "SAFMN", CASES[3][1])
    return models.load(path)


def test_every_family_member_runs(safmn):
    lr = _lr(13, 12, seed=5)[0]
    hr = torch.rand(3, 26, 24, generator=torch.Generator().manual_seed(6))
    window = (8, 8, 8)  # on CEM's 8-px block grid
    for method, knobs in [("lam", dict(steps=3)), ("ig", dict(steps=3)), ("gradient", {}), ("erf", {}),
                          ("smoothgrad", dict(samples=2, seed=0)), ("cem", dict(hr=hr, seed=0))]:
        result = srwidgets.attribute(safmn, lr, window, method=method, **knobs)
        assert result.map.shape == (13, 12), method
        assert torch.isfinite(torch.as_tensor(result.map)).all(), method


def test_trust_deletion_runs(safmn):
    lr = _lr(13, 11, seed=5)[0]
    curve = trust.deletion(safmn, lr, (8, 6, 8), "gradient", steps=4)
    assert len(curve["scores"]) == 5 and all(map(lambda v: v == v, curve["scores"]))


def test_ddr_features_of_traced_layers(safmn):
    engine = DDR(safmn, device="cpu")
    layers = engine.layers()
    assert layers and all(name.startswith("model.") for name in layers)
    feats = engine.features(_lr(16, 16, seed=7).expand(2, -1, -1, -1).contiguous())
    assert list(feats) == layers and all(f.shape[0] == 2 for f in feats.values())


def test_the_user_model_leaves_an_engine_call_as_it_came(safmn):
    before = {k: v.clone() for k, v in safmn.state_dict().items()}
    flags = [p.requires_grad for p in safmn.parameters()]
    srwidgets.attribute(safmn, _lr(12, 12)[0], (8, 8, 8), method="gradient")
    assert not safmn.training and [p.requires_grad for p in safmn.parameters()] == flags
    assert all(torch.equal(v, before[k]) for k, v in safmn.state_dict().items())


def test_save_round_trips_through_spandrel(safmn, tmp_path):
    path = tmp_path / "again.pth"
    models.save(safmn, path)
    again = models.load(path)
    x = _lr(16, 16)
    with torch.no_grad():
        assert isinstance(again, SpandrelModel) and torch.equal(again(x), safmn(x))


def test_families_lists_both_routes():
    listed = models.families()
    assert ("EDSR", "srwidgets") in listed and ("SPAN", "spandrel") in listed
    assert ("RealESRGAN Compact", "spandrel") in listed
    names = [n for n, route in listed if route == "spandrel"]
    assert "LaMa" not in names and "GFPGAN" not in names  # refused at load: not listed as loading


# ------------------------------------------------------------------------------------------------ bad input
def test_an_inpainting_network_is_refused_in_words(tmp_path_factory):
    path, _ = _save(tmp_path_factory, "LaMa", _arch("LaMa", "LaMa"))
    with pytest.raises(InputError, match="LaMa inpainting network: it takes an image and a mask"):
        models.load(path)


def test_a_face_restorer_is_refused_by_purpose(tmp_path_factory):
    path, state = _save(tmp_path_factory, "RestoreFormer", _arch(  # 6 levels at 512 px: spandrel's fixed reading
        "RestoreFormer", "RestoreFormer", n_embed=32, embed_dim=16, ch=32, ch_mult=(1,) * 6, num_res_blocks=1,
        resolution=512, z_channels=16))
    assert _spandrel_model(state)[0].purpose == "FaceSR"  # the case is what it claims to be
    with pytest.raises(InputError, match="face restoration network .purpose 'FaceSR'"):
        models.load(path)


@pytest.mark.parametrize("channels,word", [(1, "grayscale"), (4, "RGBA")])
def test_a_network_that_is_not_rgb_in_and_out_is_refused(tmp_path_factory, channels, word):
    path, _ = _save(tmp_path_factory, f"Compact{channels}", _arch(
        "Compact", "Compact", num_in_ch=channels, num_out_ch=channels, num_feat=16, num_conv=2, upscale=2))
    with pytest.raises(InputError, match=f"takes {channels} channels? .{word}.*3 channels in, 3 out"):
        models.load(path)


def test_a_file_nobody_knows_names_its_keys_and_both_routes(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.stem.weight": torch.zeros(8, 3, 3, 3), "encoder.stem.bias": torch.zeros(8)}, path)
    with pytest.raises(InputError) as info:
        models.load(path)
    text = str(info.value)
    assert "encoder.stem.weight" in text and "srwidgets' families" in text
    assert f"spandrel {spandrel.__version__} does not recognise it either" in text


def test_a_scale_the_weights_disagree_with_is_refused(tmp_path_factory):
    path, _ = _save(tmp_path_factory, "SPANx4", CASES[1][1])
    with pytest.raises(InputError, match="you asked for scale 2 but spandrel reads x4"):
        models.load(path, scale=2)
    with pytest.raises(InputError, match="img_range= does not apply"):
        models.load(path, img_range=255)


def test_a_variant_spandrel_misreads_is_refused_at_load(tmp_path_factory):
    # SCUNet at width 16: spandrel reads it, builds it, and the network it builds cannot run (heads of 32 channels)
    path, _ = _save(tmp_path_factory, "SCUNet", _arch("SCUNet", "SCUNet", config=[1] * 7, dim=16))
    with pytest.raises(InputError, match=r"spandrel built SCUNet.*fails on a \[1, 3, 40, 40\] probe"):
        models.load(path)


def test_a_variant_srwidgets_family_claims_loads_through_spandrel_with_a_warning(tmp_path_factory):
    path, _ = _save(tmp_path_factory, "Swin2SRw", CASES[4][1])  # Swin2SR's keys look like SwinIR's
    with pytest.warns(UserWarning, match="srwidgets' own loader did not take this checkpoint .this looks like a "
                                         "SwinIR checkpoint.*spandrel reads it completely as Swin2SR"):
        model = models.load(path)
    assert isinstance(model, SpandrelModel) and model.spandrel_id == "Swin2SR"
