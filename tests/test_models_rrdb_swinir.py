"""RRDBNet and SwinIR: published key names, checkpoint round trips, conversion of other namings, odd input sizes."""
import pytest
import torch

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.models import rrdbnet, swinir

torch.set_num_threads(1)

RRDB_CFGS = [
    dict(num_feat=8, num_block=1, num_grow_ch=4, upscale=4),
    dict(num_feat=8, num_block=2, num_grow_ch=4, upscale=2),
    dict(num_feat=8, num_block=1, num_grow_ch=4, upscale=1),
]
SWIN_CFGS = [
    dict(embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle"),
    dict(embed_dim=8, depths=(2, 1), num_heads=(2, 4), window_size=4, mlp_ratio=2.0, upscale=4, upsampler="pixelshuffle"),
    dict(embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, mlp_ratio=1.5, upscale=3, upsampler="pixelshuffledirect"),
    dict(embed_dim=8, depths=(2,), num_heads=(1,), window_size=2, mlp_ratio=2.0, upscale=4, upsampler="nearest+conv",
         resi_connection="3conv"),
    dict(embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, mlp_ratio=2.0, upscale=1, upsampler=""),
]


def _build(arch, cfg, seed=0):
    return randomized(arch, cfg, seed)


def _out(model, h=8, w=8):
    return output(model, h, w)


CASES = [("RRDBNet", c) for c in RRDB_CFGS] + [("SwinIR", c) for c in SWIN_CFGS]


@pytest.mark.parametrize("arch,cfg", CASES, ids=[f"{a}-{c.get('upsampler', '')}-x{c['upscale']}" for a, c in CASES])
def test_round_trip(tmp_path, arch, cfg):
    model = _build(arch, cfg)
    assert model.arch == arch and model.scale == cfg["upscale"] and model.config["upscale"] == cfg["upscale"]
    ref = _out(model)
    assert ref.shape == (1, 3, 8 * cfg["upscale"], 8 * cfg["upscale"])
    path = tmp_path / "m.pth"
    M.save(model, str(path))
    sd = model.state_dict()
    for src in (str(path), {"params_ema": sd}, dict(sd)):  # srwidgets record; BasicSR wrapper; bare -> detection
        loaded = M.load(src)
        assert loaded.arch == arch and loaded.config == model.config
        assert torch.equal(_out(loaded), ref)
    assert M.check(model, cfg["upscale"]) == cfg["upscale"]


def _conv(name):
    return [f"{name}.weight", f"{name}.bias"]


def test_rrdbnet_published_keys_and_shapes():
    want = _conv("conv_first")
    for k in (1, 2, 3):
        for j in range(1, 6):
            want += _conv(f"body.0.rdb{k}.conv{j}")
    want += _conv("conv_body") + _conv("conv_up1") + _conv("conv_up2") + _conv("conv_hr") + _conv("conv_last")
    sd = M.build("RRDBNet", num_feat=8, num_block=1, num_grow_ch=4, upscale=4).state_dict()
    assert set(sd) == set(want) and len(sd) == len(want)
    assert sd["body.0.rdb1.conv3.weight"].shape == (4, 8 + 2 * 4, 3, 3)
    assert sd["body.0.rdb2.conv5.weight"].shape == (8, 8 + 4 * 4, 3, 3)
    # x2 / x1: pixel-unshuffled input, 4x / 16x the channels at conv_first
    assert M.build("RRDBNet", num_feat=8, num_block=1, num_grow_ch=4, upscale=2).state_dict()["conv_first.weight"].shape == (8, 12, 3, 3)
    assert M.build("RRDBNet", num_feat=8, num_block=1, num_grow_ch=4, upscale=1).state_dict()["conv_first.weight"].shape == (8, 48, 3, 3)


def test_rrdbnet_old_esrgan_namings():
    model = _build("RRDBNet", dict(num_feat=8, num_block=2, num_grow_ch=4, upscale=4))
    ref = _out(model)
    sd = model.state_dict()
    esrgan = {}  # xinntao/ESRGAN RRDBNet_arch.py
    seq = {}  # the older sequential export (model.N / model.1.sub.N), see ESRGAN's transer_RRDB_models.py
    seq_names = {"conv_first": "model.0", "conv_body": "model.1.sub.2", "conv_up1": "model.3", "conv_up2": "model.6",
                 "conv_hr": "model.8", "conv_last": "model.10"}
    for k, v in sd.items():
        if k.startswith("body."):
            _, i, rdb, conv, p = k.split(".")
            esrgan[f"RRDB_trunk.{i}.RDB{rdb[-1]}.{conv}.{p}"] = v
            seq[f"model.1.sub.{i}.RDB{rdb[-1]}.{conv}.0.{p}"] = v
        else:
            name, p = k.rsplit(".", 1)
            esrgan[{"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}.get(name, name) + "." + p] = v
            seq[f"{seq_names[name]}.{p}"] = v
    assert "trunk_conv.weight" in esrgan and "HRconv.bias" in esrgan and "conv_last.weight" in esrgan
    for other in (esrgan, seq):
        assert set(rrdbnet.convert(other)) == set(sd)
        assert rrdbnet.detect(rrdbnet.convert(other)) == model.config
        assert torch.equal(_out(M.load(other)), ref)
    assert rrdbnet.convert(sd) is sd and rrdbnet.detect({"conv_first.weight": torch.zeros(1)}) is None


def _block_keys(prefix):
    names = ["norm1.weight", "norm1.bias", "attn.relative_position_bias_table", "attn.relative_position_index",
             "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
             "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]
    return [f"{prefix}.{n}" for n in names]


def _swin_trunk_keys(depths):
    keys = _conv("conv_first") + ["patch_embed.norm.weight", "patch_embed.norm.bias"]
    for i, d in enumerate(depths):
        for j in range(d):
            keys += _block_keys(f"layers.{i}.residual_group.blocks.{j}")
        keys += _conv(f"layers.{i}.conv")
    return keys + ["norm.weight", "norm.bias"] + _conv("conv_after_body")


def test_swinir_published_keys_and_shapes():
    # classical (pixelshuffle) x4: two upsample convs at 0 and 2
    sd = M.build("SwinIR", embed_dim=8, depths=(2, 1), num_heads=(2, 4), window_size=4, mlp_ratio=2, upscale=4,
                 upsampler="pixelshuffle").state_dict()
    want = _swin_trunk_keys((2, 1)) + _conv("conv_before_upsample.0") + _conv("upsample.0") + _conv("upsample.2") + _conv("conv_last")
    assert set(sd) == set(want) and len(sd) == len(want)
    assert sd["layers.0.residual_group.blocks.1.attn.relative_position_bias_table"].shape == (49, 2)
    assert sd["layers.1.residual_group.blocks.0.attn.relative_position_bias_table"].shape == (49, 4)
    assert sd["layers.0.residual_group.blocks.0.attn.relative_position_index"].shape == (16, 16)
    assert sd["layers.0.residual_group.blocks.0.attn.qkv.weight"].shape == (24, 8)
    assert sd["layers.0.residual_group.blocks.0.mlp.fc1.weight"].shape == (16, 8)
    assert sd["conv_before_upsample.0.weight"].shape == (64, 8, 3, 3) and sd["upsample.0.weight"].shape == (256, 64, 3, 3)
    # lightweight (pixelshuffledirect) x2: one conv to 3 * s^2 channels
    sd = M.build("SwinIR", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, upscale=2,
                 upsampler="pixelshuffledirect").state_dict()
    assert set(sd) == set(_swin_trunk_keys((2,)) + _conv("upsample.0")) and sd["upsample.0.weight"].shape == (12, 8, 3, 3)
    # real-world (nearest+conv) x4, 3conv residual connections
    sd = M.build("SwinIR", embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, upscale=4, upsampler="nearest+conv",
                 resi_connection="3conv").state_dict()
    trunk = [k for k in _swin_trunk_keys((2,)) if not k.startswith(("layers.0.conv.", "conv_after_body."))]
    three = [f"{p}.{i}.{q}" for p in ("layers.0.conv", "conv_after_body") for i in (0, 2, 4) for q in ("weight", "bias")]
    want = trunk + three + _conv("conv_before_upsample.0") + _conv("conv_up1") + _conv("conv_up2") + _conv("conv_hr") + _conv("conv_last")
    assert set(sd) == set(want)


def test_swinir_official_checkpoint_with_attn_mask():
    cfg = dict(embed_dim=8, depths=(2, 2), num_heads=(2, 2), window_size=4, mlp_ratio=2.0, upscale=2, upsampler="pixelshuffle")
    model = _build("SwinIR", cfg)
    ref = _out(model, 13, 9)
    official = dict(model.state_dict())
    # the official code stores a [nW, ws^2, ws^2] mask for every shifted block (img_size 64 -> 256 windows)
    for i in range(2):
        official[f"layers.{i}.residual_group.blocks.1.attn_mask"] = torch.zeros(256, 16, 16)
    assert M.load({"params": official}).config == model.config
    assert torch.equal(_out(M.load({"params": official}), 13, 9), ref)
    assert "layers.0.residual_group.blocks.1.attn_mask" not in swinir.convert(official)
    again = M.build("SwinIR", **cfg)
    again.load_state_dict(official, strict=True)  # also without convert
    assert torch.equal(_out(again.eval(), 13, 9), ref)
    again.load_state_dict(model.state_dict(), strict=True)
    assert swinir.convert(model.state_dict()).keys() == model.state_dict().keys()
    assert swinir.detect({"conv_first.weight": torch.zeros(8, 3, 3, 3)}) is None


def test_swinir_odd_sizes_and_mask():
    model = _build("SwinIR", SWIN_CFGS[0])
    y = _out(model, 13, 9)  # LR not a multiple of the window (4): padded, then cropped back
    assert y.shape == (1, 3, 26, 18) and torch.isfinite(y).all()
    assert _out(model, 3, 2).shape == (1, 3, 6, 4)  # smaller than the padding: replicate fallback
    m = swinir.shifted_window_mask(8, 8, 4, 2)
    assert m.shape == (4, 16, 16) and torch.count_nonzero(m[0]) == 0 and torch.count_nonzero(m[3]) > 0
    rrdb = _build("RRDBNet", RRDB_CFGS[2])
    assert _out(rrdb, 7, 5).shape == (1, 3, 7, 5)
    assert M.check(model, 2) == 2 and M.check(rrdb, 1) == 1
