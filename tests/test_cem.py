"""CEM (issue 19): the engine in closed form, reproducibility, the explicit bank against a per-block loop, skipped
blocks, several windows per batch, scale 1, the family member, the rank agreement with LAM and every bad input."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srwidgets
from srwidgets import metrics
from srwidgets.attribution import methods, register
from srwidgets.attribution.cem import CEMMethod
from srwidgets.cem import CEM, block_sums, draws, patch_bank, rank_agreement, spearman, spread, window_psnr
from srwidgets.errors import Cancelled, InputError

if "cem" not in methods():  # the lead registers it in srwidgets/attribution/__init__.py
    register("cem", CEMMethod)


class Nearest(nn.Module):
    """Nearest-neighbour upsampling: SR pixel (i, j) is LR pixel (i // s, j // s), so a block's effect on a window
    is known in closed form and blocks outside the window have none."""

    def __init__(self, scale=2):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


def conv_model(scale=2, seed=0):
    """A float64 3x3 convolution (+ pixel shuffle): receptive field ±1 LR pixel, exact arithmetic across crops."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 3 * scale * scale, 3, padding=1)] + ([nn.PixelShuffle(scale)] if scale > 1 else [])
    m = nn.Sequential(*layers).double().eval()
    m.scale = scale
    return m


def eight_bit(t):
    """Values on the 8-bit grid, so quantising the SR output changes nothing in the hand computations."""
    return (t * 255).round() / 255


def images(h=16, w=16, scale=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    lr = eight_bit(torch.rand(3, h, w, generator=g, dtype=torch.float64))
    hr = eight_bit(torch.rand(3, scale * h, scale * w, generator=g, dtype=torch.float64))
    return lr, hr


def naive_cem(model, lr, hr, window, block, coarse, fine, threshold, bank, seed):
    """The authors' scheme, one intervention at a time on the whole image, with the documented draws."""
    s = model.scale
    b = block // s
    rows, cols = -(-lr.shape[1] // b), -(-lr.shape[2] // b)
    ci, fi = draws(seed, rows * cols, coarse, fine, bank.shape[0])
    t, l, h, w = window
    gt = hr[:, t:t + h, l:l + w]

    def psnr(x):
        with torch.no_grad():
            return metrics.psnr(model(x[None].to(torch.float64))[0, :, t:t + h, l:l + w], gt, y_channel=False)

    o = psnr(lr)
    out = torch.zeros(rows, cols, dtype=torch.float64)
    for n in range(rows * cols):
        i, j = divmod(n, cols)

        def intervene(k):
            x = lr.clone()
            region = x[:, i * b:(i + 1) * b, j * b:(j + 1) * b]
            region.copy_(bank[k][:, :region.shape[1], :region.shape[2]])
            return psnr(x)

        pc = [intervene(int(k)) for k in ci[n]]
        vals = [intervene(int(k)) for k in fi[n]] if max(abs(o - p) for p in pc) >= threshold else pc
        e = o - sum(vals) / len(vals)
        out[i, j] = e if abs(e) >= threshold else 0.0
    return out


# -- PSNR convention --------------------------------------------------------------------------------------------
def test_window_psnr_is_rgb_8bit_psnr_of_metrics():
    g = torch.Generator().manual_seed(0)
    sr, hr = torch.rand(2, 3, 8, 8, generator=g), torch.rand(3, 8, 8, generator=g)
    got = window_psnr(sr, hr)
    assert got.tolist() == pytest.approx([metrics.psnr(sr[i], hr, y_channel=False) for i in range(2)], abs=1e-9)


# -- closed form ------------------------------------------------------------------------------------------------
def test_nearest_model_effect_of_the_window_block_in_closed_form():
    lr, hr = images()
    v = 40 / 255
    bank = torch.full((1, 3, 2, 2), v, dtype=torch.float64)
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=3, fine=5, patches=bank)
    win = hr[:, 4:8, 4:8]
    original = metrics.psnr(lr[:, 2:4, 2:4].repeat_interleave(2, 1).repeat_interleave(2, 2), win, y_channel=False)
    replaced = metrics.psnr(torch.full_like(win, v), win, y_channel=False)
    assert float(r.map[1, 1]) == pytest.approx(original - replaced, abs=1e-9)


def test_nearest_model_blocks_outside_the_window_have_no_effect():
    lr, hr = images()
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=3, fine=5)
    others = r.map.clone()
    others[1, 1] = 0
    assert torch.count_nonzero(others) == 0 and r.counts == {"positive": 0, "negative": 0, "zero": 63}


def test_effect_is_negative_when_the_patch_matches_hr_better():
    lr, hr = images()
    hr[:, 4:8, 4:8] = 40 / 255  # the HR window is the patch's colour: replacing the block improves the window
    bank = torch.full((1, 3, 2, 2), 40 / 255, dtype=torch.float64)
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=1, fine=1, patches=bank)
    assert float(r.map[1, 1]) < 0


def test_threshold_above_every_effect_gives_an_all_zero_map():
    lr, hr = images()
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=1, fine=1, threshold=1000.0)
    assert torch.count_nonzero(r.map) == 0 and not r.fine_blocks.any()


def test_fine_stage_runs_only_for_selected_blocks():
    lr, hr = images()
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=3, fine=7)
    evaluated = int(r.evaluated.sum())
    assert r.fine_blocks.nonzero().tolist() == [[1, 1]] and r.passes == evaluated * 3 + 1 * 7


def test_window_blocks_are_left_out_of_the_counts():
    lr, hr = images()
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 8), block=4, coarse=1, fine=1)
    assert int(r.window_blocks.sum()) == 4 and sum(r.counts.values()) == 64 - 4


# -- reproducibility and the explicit bank ------------------------------------------------------------------------
def test_same_seed_gives_the_same_map():
    lr, hr = images()
    cem = CEM(conv_model())
    a = cem.attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=3, seed=5)
    b = cem.attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=3, seed=5)
    assert torch.equal(a.map, b.map)


def test_another_seed_gives_another_map():
    lr, hr = images()
    cem = CEM(conv_model())
    a = cem.attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=3, seed=5)
    b = cem.attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=3, seed=6)
    assert not torch.equal(a.map, b.map)


def test_explicit_bank_equals_a_per_block_loop_on_the_whole_image():
    model, (lr, hr) = conv_model(), images(12, 10)  # 10 columns: a partial last column of blocks (b = 4)
    bank = patch_bank(8, 2, images=[hr], size=7, seed=3)
    got = CEM(model).attribute(lr, hr, (8, 8, 8), block=8, coarse=2, fine=4, threshold=0.01, patches=bank, seed=9)
    want = naive_cem(model, lr, hr, (8, 8, 8, 8), 8, 2, 4, 0.01, bank, 9)
    assert torch.allclose(got.map, want, atol=1e-9)


def test_default_bank_is_seeded_and_shaped_as_lr_blocks():
    a, b = patch_bank(8, 4, size=5, seed=1), patch_bank(8, 4, size=5, seed=1)
    assert tuple(a.shape) == (5, 3, 2, 2) and torch.equal(a, b) and not torch.equal(a, patch_bank(8, 4, size=5, seed=2))


def test_scale_one_bank_is_unresized_crops_of_the_images():
    img = torch.rand(3, 4, 4, dtype=torch.float64)
    bank = patch_bank(4, 1, images=[img], size=2, seed=0)
    assert torch.equal(bank[0], img) and torch.equal(bank[1], img)  # a 4x4 image has one 4x4 crop


# -- crop, skipped blocks, several windows -------------------------------------------------------------------------
def test_skipped_blocks_have_exactly_zero_effect():
    lr, hr = images()
    r = CEM(conv_model()).attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=2)
    assert r.skipped > 0 and r.skipped == int((~r.evaluated).sum()) and torch.count_nonzero(r.map[~r.evaluated]) == 0


def test_crop_gives_the_uncropped_map():
    model, (lr, hr) = conv_model(), images()
    cropped = CEM(model).attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=3)
    whole = CEM(model, crop=False).attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=3)
    assert whole.skipped == 0 and whole.crop is None and torch.allclose(cropped.map, whole.map, atol=1e-9)


def test_a_model_without_a_verified_field_skips_nothing():
    class Global(nn.Module):  # the image mean reaches every SR pixel: no crop can be proved
        scale = 2

        def forward(self, x):
            return F.interpolate(x, scale_factor=2, mode="nearest") * 0.5 + 0.5 * x.mean((2, 3), keepdim=True)

    lr, hr = images()
    r = CEM(Global()).attribute(lr, hr, (4, 4, 4), block=4, coarse=1, fine=1)
    assert r.skipped == 0 and r.crop is None


def test_several_windows_from_one_batch_equal_separate_calls():
    model, (lr, hr) = conv_model(), images()
    windows = [(4, 4, 4), (20, 16, 8)]
    cem = CEM(model)
    many = cem.attribute_many(lr, hr, windows, block=4, coarse=2, fine=3)
    for r, win in zip(many, windows):
        assert torch.allclose(r.map, cem.attribute(lr, hr, win, block=4, coarse=2, fine=3).map, atol=1e-9)


def test_several_windows_cost_one_batch_of_interventions():
    model, (lr, hr) = conv_model(), images()
    cem = CEM(model, crop=False)
    many = cem.attribute_many(lr, hr, [(4, 4, 4), (20, 16, 8)], block=4, coarse=2, fine=3)
    one = cem.attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=3)
    assert many[0].passes < 2 * one.passes and many[0].passes == many[1].passes


def test_chunking_does_not_change_the_map():
    model, (lr, hr) = conv_model(), images()
    a = CEM(model, chunk_size=1).attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=3)
    b = CEM(model, chunk_size=13).attribute(lr, hr, (4, 4, 4), block=4, coarse=2, fine=3)
    assert torch.allclose(a.map, b.map, atol=1e-12)


# -- scale 1 ------------------------------------------------------------------------------------------------------
def test_scale_one_model_reaches_only_neighbouring_blocks():
    model, (lr, hr) = conv_model(scale=1), images(12, 12, scale=1)
    r = CEM(model).attribute(lr, hr, (4, 4, 4), block=2, coarse=2, fine=2)
    far = torch.ones(6, 6, dtype=torch.bool)
    far[1:5, 1:5] = False  # the window's 2x2 blocks and the ring of blocks within the ±1 px receptive field
    assert tuple(r.map.shape) == (6, 6) and torch.count_nonzero(r.map[far]) == 0 and r.map[2:4, 2:4].abs().min() > 0


# -- progress and cancel --------------------------------------------------------------------------------------------
def test_progress_reports_both_stages():
    lr, hr = images()
    seen = []
    CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=1, fine=2, callback=lambda p: seen.append(p))
    assert seen[-1].stage == "fine" and seen[-1].done == seen[-1].total == 2 and seen[0].stage == "coarse"


def test_cancel_stops_the_call():
    lr, hr = images()
    with pytest.raises(Cancelled):
        CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, cancel=lambda: True)


# -- the family member -----------------------------------------------------------------------------------------------
def test_member_map_is_the_normalised_abs_effect_on_lr_pixels():
    model, (lr, hr) = conv_model(), images()
    r = srwidgets.attribute(model, lr, (8, 8, 8), method="cem", hr=hr, block=4, coarse=2, fine=2)
    effects = r.extras["effects"]
    want = spread(effects.abs() / effects.abs().max(), 2, 16, 16)
    assert tuple(r.map.shape) == (16, 16) and torch.allclose(r.map.double(), want, atol=1e-6)


def test_member_attribution_sums_to_the_effect_per_block():
    model, (lr, hr) = conv_model(), images(16, 15)  # a partial last column of blocks
    r = srwidgets.attribute(model, lr, (8, 8, 8), method="cem", hr=hr, block=4, coarse=2, fine=2)
    assert torch.allclose(block_sums(r.attribution.double().sum(0), 2), r.extras["effects"], atol=1e-5)


def test_member_equals_the_engine():
    model, (lr, hr) = conv_model(), images()
    r = srwidgets.attribute(model, lr, (8, 8, 8), method="cem", hr=hr, block=4, coarse=2, fine=2, seed=4)
    e = CEM(model).attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=2, seed=4)
    assert torch.equal(r.extras["effects"], e.map) and r.objective == pytest.approx(e.psnr) and r.method == "cem"


def test_member_attribute_many_equals_single_calls():
    model, (lr, hr) = conv_model(), images()
    member = srwidgets.attribution.engine(model, "cem")
    many = member.attribute_many(lr, [(4, 4, 4), (16, 16, 8)], hr=hr, block=4, coarse=2, fine=2)
    one = member.attribute(lr, (16, 16, 8), hr=hr, block=4, coarse=2, fine=2)
    assert torch.allclose(many[1].extras["effects"], one.extras["effects"], atol=1e-9)


# -- rank agreement -------------------------------------------------------------------------------------------------
def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 4, (30,), generator=g).double(), torch.rand(30, generator=g).double()
    assert spearman(a, b) == pytest.approx(float(stats.spearmanr(a.numpy(), b.numpy())[0]), abs=1e-12)


def test_rank_agreement_is_one_when_lam_ranks_blocks_as_cem():
    effects = torch.tensor([[0.0, -3.0], [1.0, 2.0]], dtype=torch.float64)
    lam = spread(torch.tensor([[0.0, 0.9], [0.1, 0.5]]), 2, 4, 4)  # |effect| order: 0 < 1 < 2 < 3
    assert rank_agreement(effects, lam, b=2) == pytest.approx(1.0)


def test_rank_agreement_leaves_out_the_window_blocks():
    lr, hr = images()
    r = CEM(Nearest(2)).attribute(lr, hr, (4, 4, 4), block=4, coarse=1, fine=1)
    lam = torch.rand(16, 16, generator=torch.Generator().manual_seed(0))
    context = ~r.window_blocks
    want = spearman(r.map.abs()[context], block_sums(lam, 2)[context])
    assert rank_agreement(r, lam) == pytest.approx(want, nan_ok=True)


# -- bad input ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    (dict(hr=None), "pass hr="),
    (dict(hr=torch.rand(3, 30, 32)), "must be 32x32"),
    (dict(window=(4, 4, 6)), "not on the block grid"),
    (dict(window=(2, 4, 4)), "not on the block grid"),
    (dict(block=64), "larger than the image"),
    (dict(block=3), "not a multiple of the scale"),
    (dict(patches=torch.rand(0, 3, 2, 2)), "empty"),
    (dict(patches=torch.rand(4, 3, 3, 3)), "expected [P, 3, 2, 2]"),
    (dict(patches=torch.rand(4, 2, 2)), "expected [P, 3, 2, 2]"),
    (dict(threshold=-0.1), "threshold must be a finite number >= 0"),
    (dict(coarse=0), "coarse must be an integer >= 1"),
    (dict(fine=0), "fine must be an integer >= 1"),
    (dict(fine=10 ** 9), "fine=1000000000 interventions is above the ceiling"),
    (dict(coarse=2.5), "coarse must be an integer >= 1"),
    (dict(callback=5), "callback must be a function"),
    (dict(cancel=5), "cancel must be a CancelToken"),
    (dict(patches=torch.zeros(4, 3, 2, 2, dtype=torch.uint8)), "must be float"),
    (dict(patches=torch.full((4, 3, 2, 2), 255.0)), "expected [0, 1]"),
    (dict(hr=torch.rand(3, 32, 32) * 255), "expected [0, 1]"),
    (dict(window=(4, 4, 1)), "not on the block grid"),
])
def test_bad_input_is_refused_with_a_fix(kwargs, words):
    lr, hr = images()
    args = dict(lr=lr, hr=hr, window=(4, 4, 4), block=4, coarse=1, fine=1)
    args.update(kwargs)
    with pytest.raises(InputError, match=None) as err:
        CEM(Nearest(2)).attribute(**args)
    assert words in str(err.value)


def test_scale_one_with_one_pixel_blocks_takes_a_one_pixel_window():
    lr, hr = images(h=8, w=8, scale=1)
    r = CEM(conv_model(scale=1)).attribute(lr, hr, (3, 4, 1), block=1, coarse=1, fine=2)
    assert tuple(r.map.shape) == (8, 8) and r.window == (3, 4, 1, 1) and r.window_blocks.sum() == 1
    with pytest.raises(InputError, match="outside the SR image"):
        CEM(conv_model(scale=1)).attribute(lr, hr, (8, 4, 1), block=1)


def test_member_refuses_another_objective():
    lr, hr = images()
    with pytest.raises(InputError, match="PSNR"):
        srwidgets.attribute(Nearest(2), lr, (4, 4, 4), method="cem", hr=hr, objective="gradient", block=4)


# -- the command ----------------------------------------------------------------------------------------------------
def run_cli(argv):
    """``python -m srwidgets cem ...`` through the command's own parser (``__main__`` registers it)."""
    import argparse

    from srwidgets.cli import cem

    ap = argparse.ArgumentParser()
    cem.add_parser(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["cem", *argv])
    return args.func(args)


def test_cli_writes_the_figure_and_the_block_map(tmp_path, capsys):
    import json

    out, js = tmp_path / "cem.png", tmp_path / "cem.json"
    hr = tmp_path / "hr.png"
    from srwidgets.cli._common import save_image

    save_image(srwidgets.data.image("astronaut")[:, 64:128, 64:128], str(hr))
    assert run_cli([str(hr), "--window", "24,24,16", "--coarse", "1", "--fine", "1", "--out", str(out),
                    "--json", str(js), "--no-progress"]) == 0
    saved = json.loads(js.read_text())
    assert out.read_bytes()[:4] == b"\x89PNG" and len(saved["effects"]) == 8 and "blocks +" in capsys.readouterr().out


def test_cli_refuses_a_window_off_the_block_grid(tmp_path):
    with pytest.raises(InputError, match="block grid"):
        run_cli(["astronaut", "--window", "25,24,16", "--coarse", "1", "--fine", "1", "--out",
                 str(tmp_path / "c.png"), "--no-progress"])


def test_a_bank_larger_than_the_ceiling_is_refused_before_cutting():
    from srwidgets.cem.bank import MAX_BANK_SIZE, patch_bank

    with pytest.raises(InputError, match=f"at most {MAX_BANK_SIZE}"):
        patch_bank(8, 4, size=10 ** 9)


def test_the_figure_names_its_counts_in_words_and_its_bar_spans_the_map():
    """cem_figure (issue 26): the counts said in words (not "+11 / −14 / 0:995"), the colour bar over the map's own
    effect range (not ±2.5 dB), the LR image under both maps, a bar for the LAM map too."""
    from srwidgets.cem import cem_figure
    from srwidgets.lam import LAM

    model = conv_model()
    lr, hr = images()
    r = CEM(model).attribute(lr, hr, (8, 8, 8), block=4, coarse=2, fine=3, seed=5)
    lam = LAM(model).attribute(lr, (8, 8, 8), steps=2, kernel_size=3)
    fig = cem_figure(r, lr=lr, sr=model(lr[None])[0].clamp(0, 1).detach(), lam=lam, title="tiny ")
    c, (lo, hi) = r.counts, r.effect_range
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 3 and len(bars) == 2
    title = panels[1].get_title()
    assert title.startswith("tiny: CEM map\n") and f"{c['positive']} blocks help, {c['negative']} hurt, {c['zero']} do " \
                                                  "nothing" in title
    assert bars[0].get_ylim() == pytest.approx((lo, hi))
    assert len(panels[1].get_images()) == 2  # the LR image, then the map over it (faded where the effect is 0)
    assert torch.as_tensor(panels[1].get_images()[1].get_alpha()).min() < 0.05
    image = panels[2].get_images()[0].get_array()
    assert image.shape[:2] == tuple(lr.shape[1:])  # the LAM map blended over the LR image
