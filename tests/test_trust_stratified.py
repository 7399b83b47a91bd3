"""srwidgets.trust.stratified_deletion and the ROAD imputation: closed-form curves, a hand-checkable solve, the
null band, ties, batching, bad input, the user's model untouched."""
import numpy as np
import pytest
import torch
from torch import nn

from srwidgets import data, trust, zoo
from srwidgets.errors import InputError
from srwidgets.trust.curves import make_baseline
from srwidgets.trust.road import impute, road_solve

WINDOW = (4, 4, 8, 8)  # SR pixels of a x2 model on 8x8 LR: footprint LR rows 2..5, columns 2..5


def linear3x3(seed=0):
    """A linear x2 model with a 3x3 receptive field (no bias): D = window intensity is linear in x."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(3, 12, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.uniform_(0.0, 1.0)
    return nn.Sequential(conv, nn.PixelShuffle(2)).double()


def image(seed=1, side=8):
    return torch.rand(3, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.8 + 0.1


def rings_by_hand(side=8):
    """Ring of each LR pixel: rounded Euclidean distance to the footprint rows/cols 2..5."""
    r = torch.zeros(side, side, dtype=torch.long)
    for i in range(side):
        for j in range(side):
            dy, dx = max(2 - i, 0, i - 5), max(2 - j, 0, j - 5)
            r[i, j] = int(np.floor(np.hypot(dy, dx) + 0.5))
    return r


FAST = dict(objective="intensity", scale=2, device="cpu")


def test_linear_model_stratified_curves_match_the_closed_form():
    model, x = linear3x3(), image()
    xr = x.clone().requires_grad_(True)
    sr = model(xr[None])[0]
    sr[:, 4:12, 4:12].sum().backward()
    g = xr.grad.detach()  # D is linear: D(x_f) = D(x) − Σ_removed g·(x − x_blur)
    xb = make_baseline(x, "blur")
    c = (g * (x - xb)).sum(0)  # [8, 8] exact contribution of removing each pixel
    rings = rings_by_hand()
    got = trust.stratified_deletion(model, x, WINDOW, c, imputation="blur", noise=0.0, seeds=2, **FAST)
    t, l, bh, bw = got["box"]  # the receptive-field box the runtime verified (or the whole image)
    crop = lambda m: m[t:t + bh, l:l + bw]  # noqa: E731
    assert got["rings"] == torch.bincount(crop(rings).flatten()).tolist()
    total = float(crop(c).sum())
    cc, rr = crop(c).flatten(), crop(rings).flatten()
    for order in ("morf", "lerf"):
        expected = []
        for f in got[order]["fractions"]:
            removed = 0.0
            for k in range(int(rr.max()) + 1):
                vals = torch.sort(cc[rr == k], descending=(order == "morf")).values
                removed += float(vals[:int(np.floor(f * vals.numel() + 0.5))].sum())
            expected.append((total - removed) / total)
        np.testing.assert_allclose(got[order]["s"], expected, rtol=1e-4, atol=1e-4)  # float32 objective
    f = np.array(got["morf"]["fractions"])
    auc = lambda s: float(((f[1:] - f[:-1]) * (np.array(s)[1:] + np.array(s)[:-1]) / 2).sum())  # noqa: E731
    assert got["score"] == pytest.approx(auc(got["lerf"]["s"]) - auc(got["morf"]["s"]))
    assert got["score"] > 0  # the true contributions: removing the largest first hurts most


def test_road_solve_hand_checkable_mask():
    # a 3x3 region: the centre and its right neighbour removed. Kept values 0 except the left column = 1.
    values = np.zeros((3, 3, 3))
    values[:, :, 0] = 1.0
    mask = np.zeros((1, 3, 3), dtype=bool)
    mask[0, 1, 1] = mask[0, 1, 2] = True
    out = road_solve(values, mask, np.zeros(3))
    # centre a: 8 neighbours, weights sum 1: a = (1/6)·1 + 2·(1/12)·1 + (1/6)·b  (left edge col = 1, right = b)
    # right b (col 2, no right neighbours): weights 1/6 (left=a) + 1/6 + 1/6 (up/down) + 2/12 (diag-left) = 2/3
    #   (2/3) b = (1/6) a  ->  b = a / 4;  a = 1/3 + a/24  ->  a = 8/23
    a = 8 / 23
    np.testing.assert_allclose(out[0, :, 1, 1], a, atol=1e-6)
    np.testing.assert_allclose(out[0, :, 1, 2], a / 4, atol=1e-6)
    assert (out[0, :, 0, :] == values[:, 0, :]).all()  # kept pixels untouched


def test_road_impute_adds_the_same_seeded_noise_and_keeps_kept_pixels():
    x = image(side=6)
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, 1, 1] = masks[1, 1, 1] = masks[1, 2, 2] = True
    a = impute(x, masks, (1, 1, 4, 4), noise=0.05, seed=3)
    b = impute(x, masks, (1, 1, 4, 4), noise=0.05, seed=3)
    assert torch.equal(a, b) and a.shape == (2, 3, 4, 4)
    assert torch.equal(a[:, :, 0, 0], x[None, :, 1, 1].expand(2, 3))  # kept
    quiet = impute(x, masks, (1, 1, 4, 4), noise=0.0)
    assert not torch.equal(a[0, :, 1, 1], quiet[0, :, 1, 1])


def test_a_whole_image_removed_is_its_mean_colour_not_a_singular_solve():
    x = image(side=4)
    out = impute(x, torch.ones(1, 4, 4, dtype=torch.bool), (0, 0, 4, 4), noise=0.0)
    np.testing.assert_allclose(out[0].mean((1, 2)), x.mean((1, 2)), atol=1e-6)


@pytest.fixture(scope="module")
def fsrcnn_case():
    return zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4)


def test_distance_only_ranking_scores_within_the_null_band(fsrcnn_case):
    model, lr = fsrcnn_case
    r = trust.stratified_deletion(model, lr, (98, 84, 16), "distance", seeds=6)
    assert abs(r["distance"] - r["null_mean"]) < 3 * r["null_sd"]
    assert not r["passed"]
    assert r["score"] == r["distance"]


def test_curves_start_at_one_end_at_zero_and_model_is_unchanged(fsrcnn_case):
    model, lr = fsrcnn_case
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    gm = srw_gradient(model, lr)
    r = trust.stratified_deletion(model, lr, (98, 84, 16), gm, seeds=2)
    for order in ("morf", "lerf"):
        assert r[order]["s"][0] == 1.0 and r[order]["s"][-1] == 0.0
    assert set(r["controls"]) == {"random:0", "random:1", "edge", "distance"}
    assert r["favours"] is None and r["imputation"] == "road"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training


def srw_gradient(model, lr):
    import srwidgets

    return srwidgets.attribute(model, lr, (98, 84, 16), "gradient").map


def test_one_input_at_a_time_gives_the_batched_scores(fsrcnn_case):
    model, lr = fsrcnn_case
    gm = srw_gradient(model, lr)
    a = trust.stratified_deletion(model, lr, (98, 84, 16), gm, seeds=2)
    b = trust.stratified_deletion(model, lr, (98, 84, 16), gm, seeds=2, chunk_size=1)
    np.testing.assert_allclose(a["morf"]["s"], b["morf"]["s"], rtol=1e-4, atol=1e-5)
    assert a["score"] == pytest.approx(b["score"], abs=1e-4)


def test_blur_imputation_says_whom_it_favours():
    model, x = linear3x3(), image()
    r = trust.stratified_deletion(model, x, WINDOW, "edge", imputation="blur", seeds=2, **FAST)
    assert "lam" in r["favours"] and r["imputation"] == "blur"


def test_ties_are_broken_by_a_seeded_random_order_not_raster_order():
    model, x = linear3x3(), image()
    flat = torch.ones(8, 8)
    a = trust.stratified_deletion(model, x, WINDOW, flat, seeds=2, seed=0, **FAST)
    b = trust.stratified_deletion(model, x, WINDOW, flat, seeds=2, seed=0, **FAST)
    c = trust.stratified_deletion(model, x, WINDOW, flat, seeds=2, seed=1, **FAST)
    assert a["morf"]["s"] == b["morf"]["s"] and a["morf"]["s"] != c["morf"]["s"]
    # raster order would remove the footprint's top-left pixels first; the seeded order is another one
    raster = -torch.arange(64.0).reshape(8, 8)
    d = trust.stratified_deletion(model, x, WINDOW, raster, seeds=2, seed=0, **FAST)
    assert a["morf"]["s"] != d["morf"]["s"]


@pytest.mark.parametrize("kw,match", [
    ({"fractions": [0, 0.5, 1.5]}, "fractions must lie in"),
    ({"fractions": [0, 0.5, 0.2, 1]}, "strictly increasing"),
    ({"fractions": [0.1, 0.5, 1]}, "start at 0"),
    ({"noise": -0.1}, "noise"),
    ({"seeds": 0}, "seeds=0"),
    ({"imputation": "zeros"}, "imputation='zeros'"),
    ({"knobs": 3}, "knobs must be a dict"),
])
def test_bad_arguments_name_the_argument(kw, match):
    model, x = linear3x3(), image()
    with pytest.raises(InputError, match=match):
        trust.stratified_deletion(model, x, WINDOW, "edge", **{**FAST, **kw})


def test_a_window_whose_footprint_covers_the_box_is_refused():
    model, x = linear3x3(), image(side=4)
    with pytest.raises(InputError, match="window=.*no rings"):
        trust.stratified_deletion(model, x, (0, 0, 8, 8), "edge", **FAST)


def test_bad_maps_and_cem_without_hr_name_the_argument():
    model, x = linear3x3(), image()
    with pytest.raises(InputError, match="attribution has shape"):
        trust.stratified_deletion(model, x, WINDOW, torch.ones(5, 5), **FAST)
    bad = torch.ones(8, 8)
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="attribution contains NaN"):
        trust.stratified_deletion(model, x, WINDOW, bad, **FAST)
    with pytest.raises(InputError, match="hr="):
        trust.stratified_deletion(model, x, WINDOW, "cem", scale=2, device="cpu")


def test_cem_is_scored_on_window_psnr_against_hr(fsrcnn_case):
    model, lr = fsrcnn_case
    hr = data.image("astronaut", modcrop=4)
    m = torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    r = trust.stratified_deletion(model, lr, (96, 80, 16), m, objective="psnr", hr=hr, seeds=2)
    assert r["objective"] == "psnr" and np.isfinite(r["score"])
    assert r["objective_input"] > r["objective_removed"]  # removing the whole box lowers the window's PSNR
