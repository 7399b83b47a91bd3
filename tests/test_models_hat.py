"""HAT: the official key names of one block, the official index formula, a synthetic checkpoint round trip through
detection, the official forward pass written out on the official keys, any input size, incomplete checkpoints, and
LAM / DDR on a tiny HAT."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import srwidgets.models as M
from _helpers import output, randomized
from srwidgets.errors import InputError
from srwidgets.models.hat import oca_relative_position_index

torch.set_num_threads(1)
TINY = dict(embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, compress_ratio=3, squeeze_factor=4,
            overlap_ratio=0.5, mlp_ratio=2.0, upscale=2)


def official_block_shapes(dim=12, heads=2, ws=4, cr=3, sf=4, mlp=2.0):
    """Parameter shapes of one official ``hat_arch.HAB`` (``layers.0.residual_group.blocks.0``), written out."""
    h = int(dim * mlp)
    return {"norm1.weight": (dim,), "norm1.bias": (dim,),
            "conv_block.cab.0.weight": (dim // cr, dim, 3, 3), "conv_block.cab.0.bias": (dim // cr,),
            "conv_block.cab.2.weight": (dim, dim // cr, 3, 3), "conv_block.cab.2.bias": (dim,),
            "conv_block.cab.3.attention.1.weight": (dim // sf, dim, 1, 1),
            "conv_block.cab.3.attention.1.bias": (dim // sf,),
            "conv_block.cab.3.attention.3.weight": (dim, dim // sf, 1, 1),
            "conv_block.cab.3.attention.3.bias": (dim,),
            "attn.relative_position_bias_table": ((2 * ws - 1) ** 2, heads),
            "attn.qkv.weight": (3 * dim, dim), "attn.qkv.bias": (3 * dim,),
            "attn.proj.weight": (dim, dim), "attn.proj.bias": (dim,),
            "norm2.weight": (dim,), "norm2.bias": (dim,),
            "mlp.fc1.weight": (h, dim), "mlp.fc1.bias": (h,), "mlp.fc2.weight": (dim, h), "mlp.fc2.bias": (dim,)}


def official_ocab_shapes(dim=12, heads=2, ws=4, wse=6, mlp=2.0):
    h = int(dim * mlp)
    return {"norm1.weight": (dim,), "norm1.bias": (dim,), "qkv.weight": (3 * dim, dim), "qkv.bias": (3 * dim,),
            "relative_position_bias_table": ((ws + wse - 1) ** 2, heads),
            "proj.weight": (dim, dim), "proj.bias": (dim,), "norm2.weight": (dim,), "norm2.bias": (dim,),
            "mlp.fc1.weight": (h, dim), "mlp.fc1.bias": (h,), "mlp.fc2.weight": (dim, h), "mlp.fc2.bias": (dim,)}


def test_official_key_names():
    sd = M.build("HAT", **TINY).state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    p = "layers.0.residual_group.blocks.0."
    assert {k[len(p):]: s for k, s in shapes.items() if k.startswith(p)} == official_block_shapes()
    p = "layers.0.residual_group.overlap_attn."
    assert {k[len(p):]: s for k, s in shapes.items() if k.startswith(p)} == official_ocab_shapes()
    rest = {k for k in shapes if not k.startswith("layers.0.residual_group.")}
    assert rest == {"relative_position_index_SA", "relative_position_index_OCA", "conv_first.weight",
                    "conv_first.bias", "patch_embed.norm.weight", "patch_embed.norm.bias", "layers.0.conv.weight",
                    "layers.0.conv.bias", "norm.weight", "norm.bias", "conv_after_body.weight",
                    "conv_after_body.bias", "conv_before_upsample.0.weight", "conv_before_upsample.0.bias",
                    "upsample.0.weight", "upsample.0.bias", "conv_last.weight", "conv_last.bias"}
    assert shapes["relative_position_index_SA"] == (16, 16) and shapes["relative_position_index_OCA"] == (16, 36)


def test_oca_index_matches_official_formula():
    # calculate_rpi_oca of the official code, step by step (ws 4, overlap 0.5 -> wse 6)
    ws, wse = 4, 6
    co = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing="ij")).flatten(1)
    ce = torch.stack(torch.meshgrid([torch.arange(wse), torch.arange(wse)], indexing="ij")).flatten(1)
    rc = (ce[:, None, :] - co[:, :, None]).permute(1, 2, 0).contiguous()
    rc[:, :, 0] += ws - wse + 1
    rc[:, :, 1] += ws - wse + 1
    rc[:, :, 0] *= ws + wse - 1
    assert torch.equal(oca_relative_position_index(ws, wse), rc.sum(-1))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_synthetic_checkpoint_round_trip(tmp_path, scale):
    cfg = dict(TINY, upscale=scale, depths=(2, 1), num_heads=(2, 3))
    ref = randomized("HAT", cfg, seed=scale)
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    sd["layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(4, 16, 16)  # as some exports store it
    path = tmp_path / f"HAT_SRx{scale}.pth"
    torch.save({"params_ema": sd}, path)
    model = M.load(str(path))
    assert model.arch == "HAT" and model.scale == scale and not model.training
    want = dict(cfg, conv_scale=0.01, img_range=1.0, rgb_mean=(0.4488, 0.4371, 0.4040))
    assert model.config == want
    assert torch.allclose(output(model, 8, 12), output(ref, 8, 12), atol=1e-6)
    # without the index buffers (deterministic) it loads too
    light = {k: v for k, v in sd.items() if "relative_position_index" not in k}
    assert torch.allclose(output(M.load(light), 8, 8), output(ref, 8, 8), atol=1e-6)


def test_official_sizes_and_value_range():
    m = M.build("HAT", upscale=4)  # official HAT: 180, 6x6, window 16, mlp 2; 20.8M parameters
    assert sum(p.numel() for p in m.parameters()) == pytest.approx(20.77e6, rel=0.01)
    assert m.config["img_range"] == 1.0 and m.config["rgb_mean"] == (0.4488, 0.4371, 0.4040)
    assert [n for n, _ in m.feature_layers()] == [f"layers.{i}" for i in range(6)] + ["conv_after_body"]


@pytest.mark.parametrize("hw", [(13, 11), (3, 5), (4, 4)])
def test_any_input_size(hw):
    m = randomized("HAT", TINY)
    y = output(m, *hw)
    assert tuple(y.shape) == (1, 3, 2 * hw[0], 2 * hw[1]) and torch.isfinite(y).all()
    assert M.check(m, 2, size=13) == 2


def test_padding_is_exact_away_from_the_edge():
    # 15x15 is padded to 16x16: output pixels whose receptive field stays clear of the padded row / column are the
    # network's own values on the 16x16 image
    m = randomized("HAT", TINY)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = m(x)
        part = m(x[..., :15, :15])
    assert part.shape[-2:] == (30, 30)
    assert torch.allclose(part[..., :8, :8], full[..., :8, :8], atol=1e-5)
    assert not torch.allclose(part[..., -2:, -2:], full[..., 28:30, 28:30], atol=1e-5)


def test_missing_parts_are_named():
    sd = randomized("HAT", dict(TINY, depths=(3, 2), num_heads=(2, 2))).state_dict()
    gap = {k: v for k, v in sd.items() if not k.startswith("layers.0.residual_group.blocks.1.")}
    with pytest.raises(InputError, match=r"lacks block layers\.0\.residual_group\.blocks\.1\b"):
        M.load(gap)
    part = {k: v for k, v in sd.items() if "blocks.2.conv_block.cab.2" not in k}
    with pytest.raises(InputError, match=r"blocks\.2 lacks conv_block\.cab\.2\.weight"):
        M.load(part)
    oca = {k: v for k, v in sd.items() if not k.startswith("layers.1.residual_group.overlap_attn.qkv")}
    with pytest.raises(InputError, match=r"layers\.1\.residual_group\.overlap_attn lacks qkv\.weight"):
        M.load(oca)
    group = {k: v for k, v in sd.items() if not k.startswith("layers.0.")}
    with pytest.raises(InputError, match=r"lacks group layers\.0\b"):
        M.load(group)


def test_swinir_still_detected_as_swinir():
    sd = M.build("SwinIR", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, mlp_ratio=2.0,
                 upscale=2).state_dict()
    assert M.load(sd).arch == "SwinIR"
    assert "HAT" in M.architectures()


def test_lam_runs_on_tiny_hat():
    from srwidgets.lam import LAM

    m = randomized("HAT", TINY)
    img = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(2))
    res = LAM(m).attribute(img, (8, 8, 8), steps=2)
    assert tuple(res.attribution.shape) == (3, 12, 12) and tuple(res.sr.shape) == (3, 24, 24)
    assert torch.isfinite(res.attribution).all() and res.map.max() > 0


def _ln(sd, p, t):
    return F.layer_norm(t, t.shape[-1:], sd[p + ".weight"], sd[p + ".bias"])


def _lin(sd, p, t):
    return F.linear(t, sd[p + ".weight"], sd[p + ".bias"])


def _conv(sd, p, t):
    w = sd[p + ".weight"]
    return F.conv2d(t, w, sd[p + ".bias"], padding=w.shape[-1] // 2)


def _mlp(sd, p, t):
    return _lin(sd, p + ".fc2", F.gelu(_lin(sd, p + ".fc1", t)))


def _wp(x, ws):  # official window_partition: b, h, w, c -> nw*b, ws, ws, c
    b, h, w, c = x.shape
    return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def _wr(win, ws, h, w):  # official window_reverse
    b = int(win.shape[0] / (h * w / ws / ws))
    return win.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


def official_forward(sd, x, cfg):
    """The official HAT forward pass (``hat_arch.HAT`` with ``upsampler='pixelshuffle'``), written step by step on
    the official key names, for inputs whose sides are multiples of the window size."""
    ws, nh_all, scale = cfg["window_size"], cfg["num_heads"], cfg["upscale"]
    wse = ws + int(cfg["overlap_ratio"] * ws)
    sh = ws // 2
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
    x = (x - mean) * 1.0
    feat = _conv(sd, "conv_first", x)
    b, c, h, w = feat.shape
    # calculate_mask
    img_mask = torch.zeros(1, h, w, 1)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -sh), slice(-sh, None)):
        for wsl in (slice(0, -ws), slice(-ws, -sh), slice(-sh, None)):
            img_mask[:, hs, wsl, :] = cnt
            cnt += 1
    mw = _wp(img_mask, ws).view(-1, ws * ws)
    mask = mw.unsqueeze(1) - mw.unsqueeze(2)
    mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
    rpi_sa, rpi_oca = sd["relative_position_index_SA"], sd["relative_position_index_OCA"]
    t = _ln(sd, "patch_embed.norm", feat.flatten(2).transpose(1, 2))
    for i, depth in enumerate(cfg["depths"]):
        nh, d = nh_all[i], c // nh_all[i]
        group_in = t
        for j in range(depth):
            p = f"layers.{i}.residual_group.blocks.{j}."
            shortcut = t
            y = _ln(sd, p + "norm1", t).view(b, h, w, c)
            cv = y.permute(0, 3, 1, 2)
            cv = _conv(sd, p + "conv_block.cab.2", F.gelu(_conv(sd, p + "conv_block.cab.0", cv)))
            att = torch.sigmoid(_conv(sd, p + "conv_block.cab.3.attention.3", F.relu(
                _conv(sd, p + "conv_block.cab.3.attention.1", F.adaptive_avg_pool2d(cv, 1)))))
            conv_x = (cv * att).permute(0, 2, 3, 1).contiguous().view(b, h * w, c)
            s = sh if j % 2 else 0
            if s:
                y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
            xw = _wp(y, ws).view(-1, ws * ws, c)
            bw, n, _ = xw.shape
            qkv = _lin(sd, p + "attn.qkv", xw).reshape(bw, n, 3, nh, d).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0] * d ** -0.5, qkv[1], qkv[2]
            a = q @ k.transpose(-2, -1)
            bias = sd[p + "attn.relative_position_bias_table"][rpi_sa.view(-1)].view(n, n, -1).permute(2, 0, 1)
            a = a + bias.unsqueeze(0)
            if s:
                nw = mask.shape[0]
                a = (a.view(bw // nw, nw, nh, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, nh, n, n)
            y = _lin(sd, p + "attn.proj", (a.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c))
            y = _wr(y.view(-1, ws, ws, c), ws, h, w)
            if s:
                y = torch.roll(y, shifts=(s, s), dims=(1, 2))
            t = shortcut + y.view(b, h * w, c) + conv_x * 0.01
            t = t + _mlp(sd, p + "mlp", _ln(sd, p + "norm2", t))
        p = f"layers.{i}.residual_group.overlap_attn."
        shortcut = t
        y = _ln(sd, p + "norm1", t).view(b, h, w, c)
        qkv = _lin(sd, p + "qkv", y).reshape(b, h, w, 3, c).permute(3, 0, 4, 1, 2)
        q = qkv[0].permute(0, 2, 3, 1)
        kv = torch.cat((qkv[1], qkv[2]), dim=1)
        qw = _wp(q, ws).view(-1, ws * ws, c)
        kvw = F.unfold(kv, (wse, wse), stride=ws, padding=(wse - ws) // 2)  # b, (2 c wse wse), nw
        nwin = kvw.shape[-1]
        # rearrange 'b (nc ch owh oww) nw -> nc (b nw) (owh oww) ch'
        kvw = kvw.view(b, 2, c, wse, wse, nwin).permute(1, 0, 5, 3, 4, 2).reshape(2, b * nwin, wse * wse, c)
        bw, nq, _ = qw.shape
        qq = qw.reshape(bw, nq, nh, d).permute(0, 2, 1, 3) * d ** -0.5
        kk = kvw[0].reshape(bw, -1, nh, d).permute(0, 2, 1, 3)
        vv = kvw[1].reshape(bw, -1, nh, d).permute(0, 2, 1, 3)
        a = qq @ kk.transpose(-2, -1)
        bias = sd[p + "relative_position_bias_table"][rpi_oca.view(-1)].view(ws * ws, wse * wse, -1)
        a = a + bias.permute(2, 0, 1).unsqueeze(0)
        y = (a.softmax(-1) @ vv).transpose(1, 2).reshape(bw, nq, c)
        y = _wr(y.view(-1, ws, ws, c), ws, h, w).view(b, h * w, c)
        t = _lin(sd, p + "proj", y) + shortcut
        t = t + _mlp(sd, p + "mlp", _ln(sd, p + "norm2", t))
        img = t.transpose(1, 2).view(b, c, h, w)
        t = _conv(sd, f"layers.{i}.conv", img).flatten(2).transpose(1, 2) + group_in
    body = _ln(sd, "norm", t).transpose(1, 2).view(b, c, h, w)
    feat = _conv(sd, "conv_after_body", body) + feat
    y = F.leaky_relu(_conv(sd, "conv_before_upsample.0", feat), 0.01)
    k = 0
    for r in ([3] if scale == 3 else [2] * (scale.bit_length() - 1)):
        y = F.pixel_shuffle(_conv(sd, f"upsample.{k}", y), r)
        k += 2
    return _conv(sd, "conv_last", y) + mean


@pytest.mark.parametrize("scale", [2, 3])
def test_matches_the_official_forward_written_out(scale):
    cfg = dict(TINY, upscale=scale, depths=(2, 3), num_heads=(2, 3))
    m = randomized("HAT", cfg, seed=7)
    sd = m.state_dict()
    x = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.allclose(m(x), official_forward(sd, x, cfg), atol=1e-5)


def test_ddr_hooks_the_residual_groups():
    from srwidgets import ddr

    m = randomized("HAT", TINY)
    hr = [torch.rand(3, 34, 36, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    inputs = ddr.build_inputs(hr, scale=2)
    names = [n for n, _ in m.feature_layers()]
    assert names == ["layers.0", "conv_after_body"]
    feats = ddr.DDR(m).features(inputs, names)
    assert set(feats) == set(names) and all(np.isfinite(np.asarray(f)).all() for f in feats.values())
