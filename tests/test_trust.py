"""srwidgets.trust: deletion / insertion curves, controls, randomisation checks, agreement, report, table, CLI."""
import argparse
import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from srwidgets import trust
from srwidgets.errors import InputError
from srwidgets.trust.ranking import as_map, unit_scores

WINDOW = (4, 4, 8, 8)  # SR pixels of a x2 model on 8x8 LR: LR rows 2..5, columns 2..5


def linear_model(seed=0):
    """``F(x) = PixelShuffle(2)(W x)``, a 1x1 convolution: the window intensity is ``Σ_{p in window} Σ_c u_c x_c(p)``
    with ``u_c = Σ_o W[o, c]`` (every SR pixel of LR pixel p, over the 3 SR channels, sums all 12 outputs)."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(3, 12, 1, bias=False)
    with torch.no_grad():
        conv.weight.uniform_(0.1, 1.0)
    return nn.Sequential(conv, nn.PixelShuffle(2)).double()


def conv_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))


def image(seed=1, side=8):
    return torch.rand(3, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.8 + 0.1


def contributions(model, x):
    """The exact per-pixel contribution to the window intensity: ``[h, w]``, zero outside the window's LR pixels."""
    u = model[0].weight.detach().double().sum(0).flatten()  # [3]
    c = torch.zeros(x.shape[1:], dtype=torch.float64)
    c[2:6, 2:6] = (u[:, None, None] * x[:, 2:6, 2:6]).sum(0)
    return c


def curve(model, x, attribution, **kw):
    kw = {"steps": 16, "baseline": "black", "objective": "intensity", "region": "image", "scale": 2,
          "device": "cpu", **kw}
    return trust.deletion(model, x, WINDOW, attribution, **kw)


def test_deletion_curve_of_true_weights_matches_closed_form():
    model, x = linear_model(), image()
    c = contributions(model, x)
    got = curve(model, x, c)
    top = torch.sort(c.flatten(), descending=True).values
    expected = [float(c.sum() - top[:4 * k].sum()) for k in range(17)]  # 64 pixels, 16 steps: 4 pixels a step
    np.testing.assert_allclose(got["scores"], expected, rtol=1e-5, atol=1e-5)
    assert got["fractions"] == [k / 16 for k in range(17)]


def test_insertion_curve_of_true_weights_matches_closed_form():
    model, x = linear_model(), image()
    c = contributions(model, x)
    got = curve(model, x, c, mode="insertion")
    top = torch.sort(c.flatten(), descending=True).values
    np.testing.assert_allclose(got["scores"], [float(top[:4 * k].sum()) for k in range(17)], rtol=1e-5, atol=1e-5)


def test_auc_is_trapezoid_on_raw_scores_and_normalised_by_the_input_score():
    model, x = linear_model(), image()
    got = curve(model, x, contributions(model, x))
    s = np.array(got["scores"])
    assert got["auc"] == pytest.approx(((s[1:] + s[:-1]) / 2).sum() / 16, rel=1e-9)
    assert got["auc_normalised"] == pytest.approx(got["auc"] / got["objective"], rel=1e-9)


def test_trapezoid_hand_case():
    assert trust.trapezoid([0, 0.5, 1], [2, 1, 0]) == pytest.approx(1.0)


def test_tied_map_ranks_in_raster_order():
    # the gradient of the linear model is u_c on every window pixel: one tie, broken top row first, left first
    model, x = linear_model(), image()
    c = contributions(model, x)
    got = curve(model, x, "gradient", knobs={"objective": "intensity"})
    raster = c[2:6, 2:6].flatten()
    expected = [float(c.sum() - raster[:4 * k].sum()) for k in range(17)]
    np.testing.assert_allclose(got["scores"], expected, rtol=1e-5, atol=1e-5)


def test_rank_units_constant_map_is_raster_order():
    assert trust.rank_units(torch.ones(3, 4)).tolist() == list(range(12))


def test_random_control_is_seeded():
    model, x = linear_model(), image()
    a, b = curve(model, x, "random", seed=3), curve(model, x, "random", seed=3)
    other = curve(model, x, "random", seed=4)
    assert a["scores"] == b["scores"]
    assert a["scores"] != other["scores"]


def test_random_control_leaves_global_rng_alone():
    model, x = linear_model(), image()
    state = torch.random.get_rng_state()
    curve(model, x, "random", seed=3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_edge_map_hand_case():
    x = torch.zeros(3, 3, 3)
    x[:, :, 2] = 1.0  # a vertical edge between columns 1 and 2, in every channel
    e = trust.edge_map(x)
    assert e[:, 1].tolist() == pytest.approx([3 ** 0.5] * 3)
    assert e[:, 0].tolist() == [0.0] * 3 and e[:, 2].tolist() == [0.0] * 3


def test_block_scores_sum_and_partial_blocks():
    m = torch.ones(3, 3)
    assert unit_scores(m, 2).tolist() == [[4.0, 2.0], [2.0, 1.0]]


def test_block_deletion_removes_whole_blocks():
    model, x = linear_model(), image()
    c = contributions(model, x)
    got = curve(model, x, c, block=2, steps=16)  # 16 blocks of 2x2: one block a step
    blocks = c.reshape(4, 2, 4, 2).sum((1, 3)).flatten()
    top = torch.sort(blocks, descending=True, stable=True).values
    np.testing.assert_allclose(got["scores"], [float(c.sum() - top[:k].sum()) for k in range(17)], atol=1e-5)
    assert got["units"] == 16


def test_a_block_larger_than_the_ranked_region_is_refused_not_padded():
    model, x = linear_model(), image()
    with pytest.raises(InputError, match="larger than the ranked region"):
        curve(model, x, contributions(model, x), block=10 ** 6, steps=4)


def test_batched_curve_equals_one_input_at_a_time():
    model, x = conv_model(), image(side=16)
    window = (8, 8, 8, 8)
    one = trust.deletion(model, x, window, "edge", steps=10, scale=2, device="cpu", chunk_size=1)
    many = trust.deletion(model, x, window, "edge", steps=10, scale=2, device="cpu", chunk_size=11)
    assert one["batches"] == 11 and many["batches"] == 1
    np.testing.assert_allclose(one["scores"], many["scores"], rtol=1e-5)


def test_deletion_starts_at_the_objective_and_psnr_is_capped():
    model, x = conv_model(), image(side=16)
    got = trust.deletion(model, x, (8, 8, 8, 8), "edge", steps=4, scale=2, device="cpu")
    assert got["scores"][0] == pytest.approx(got["objective"], rel=1e-5)
    assert got["psnr"][0] == trust.PSNR_CAP


def test_map_of_three_channels_is_reduced_by_abs_sum():
    a = torch.tensor([[[1.0, -2.0]], [[-1.0, 0.0]], [[0.5, 0.0]]])
    assert as_map(a, (1, 2)).tolist() == [[0.5, 2.0]]


def test_wrong_map_shape_says_what_to_do():
    model, x = linear_model(), image()
    with pytest.raises(InputError, match="same LR image"):
        curve(model, x, torch.zeros(4, 4))


@pytest.mark.parametrize("kw,match", [({"steps": 0}, "steps"), ({"mode": "both"}, "mode"),
                                      ({"baseline": "grey"}, "baseline"), ({"block": 0}, "block")])
def test_bad_arguments_raise_input_error(kw, match):
    model, x = linear_model(), image()
    with pytest.raises(InputError, match=match):
        curve(model, x, "random", **kw)


def test_unknown_attribution_name_lists_methods_and_controls():
    model, x = linear_model(), image()
    with pytest.raises(InputError, match="random"):
        curve(model, x, "lamm")


def test_randomisation_leaves_users_model_bit_identical():
    model, x = conv_model().train(), image(side=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    rng = torch.random.get_rng_state()
    trust.randomisation(model, x, (8, 8, 8, 8), "gradient", scale=2, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    assert torch.equal(rng, torch.random.get_rng_state())


def test_randomisation_goes_from_the_output_layer_back():
    model, x = conv_model(), image(side=16)
    names = [n for n, _ in trust.randomisation(model, x, (8, 8, 8, 8), "gradient", scale=2, device="cpu",
                                               test="spearman")]
    assert names == ["2", "0"]


def test_randomisation_is_seeded_and_output_layer_matches_in_both_modes():
    model, x = conv_model(), image(side=16)
    kw = dict(scale=2, device="cpu", test="spearman")
    a = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", cascade=True, seed=5, **kw)
    b = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", cascade=True, seed=5, **kw)
    ind = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", cascade=False, seed=5, **kw)
    assert a == b
    assert a[0] == ind[0]  # the first step randomises the output layer alone either way


def test_randomising_weights_changes_the_gradient_map():
    model, x = conv_model(), image(side=16)
    rows = trust.randomisation_rows(model, x, (8, 8, 8, 8), "gradient", scale=2, device="cpu")
    assert rows[-1]["spearman"] < 0.999
    assert rows[-1]["gini_trained"] == rows[0]["gini_trained"]


def test_randomise_layer_normal_keeps_mean_and_scale_roughly():
    conv = nn.Conv2d(16, 16, 3)
    w = conv.weight.detach().clone()
    trust.randomise_layer(conv, 0)
    assert not torch.equal(w, conv.weight)
    assert float(conv.weight.detach().std()) == pytest.approx(float(w.std()), rel=0.1)


def test_randomise_layer_shuffle_keeps_values():
    conv = nn.Conv2d(4, 4, 3)
    w = conv.weight.detach().clone()
    trust.randomise_layer(conv, 0, "shuffle")
    assert torch.equal(torch.sort(w.flatten()).values, torch.sort(conv.weight.detach().flatten()).values)


def test_unknown_layer_lists_the_layers():
    model, x = conv_model(), image(side=16)
    with pytest.raises(InputError, match="choose from: 2, 0"):
        trust.randomisation(model, x, (8, 8, 8, 8), "gradient", layers=["9"], scale=2, device="cpu",
                            test="spearman")


def test_agreement_identical_and_reversed_maps():
    m = torch.arange(16.0).reshape(4, 4)
    df = trust.agreement({"a": m, "b": m.clone(), "c": -m}, top=0.25).set_index(["a", "b"])
    assert df.loc[("a", "b"), "spearman"] == pytest.approx(1.0)
    assert df.loc[("a", "b"), "top_overlap"] == 1.0
    assert df.loc[("a", "c"), "spearman"] == pytest.approx(-1.0)
    assert df.loc[("a", "c"), "top_overlap"] == 0.0


def test_spearman_of_constant_map_is_nan():
    assert np.isnan(trust.spearman(torch.ones(4), torch.arange(4.0)))


def test_report_is_a_verdict_table_with_every_check_in_words():
    model, x = conv_model(), image(side=48)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    df = trust.report(model, x, (40, 40, 8, 8), ["gradient", "ig"], seeds=2, knobs={"ig": {"steps": 4}}, scale=2,
                      device="cpu")
    assert list(df.index) == ["gradient", "ig"]
    for check in ("stratified", "randomisation", "planted", "invariant"):
        assert set(df[check]) <= {"pass", "fail"}, check
    assert df["verdict"].str.match(r"^(trust \(passes|do not trust: fails)").all()
    assert np.isnan(df.loc["gradient", "completeness_gap"]) and df.loc["ig", "completeness_gap"] >= 0
    strat = df.attrs["stratified"]["gradient"]
    assert {"gradient", "ig", "gradient|randomised", "edge", "distance", "random:0", "random:1"} <= set(strat["curves"])
    assert df.loc["gradient", "score"] == pytest.approx(strat["curves"]["gradient"]["score"])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_report_says_why_the_planted_check_did_not_run_on_a_small_image():
    model, x = conv_model(), image(side=16)
    df = trust.report(model, x, (8, 8, 8, 8), ["gradient"], seeds=2, checks=("stratified", "planted"), scale=2,
                      device="cpu")
    assert "planted" not in df.columns and "no 8x8 patch fits" in df.attrs["notes"]["planted"]
    assert df.loc["gradient", "stratified"] in ("pass", "fail")


def test_table_resumes_from_its_csv(tmp_path):
    model, x = conv_model(), image(side=16)
    path, seen = str(tmp_path / "t.csv"), []
    kw = dict(methods=["gradient", "erf"], path=path, checks=("stratified",), seeds=2, scale=2, device="cpu",
              callback=lambda *a: seen.append(a))
    first = trust.table({"tiny": model}, {"img": x}, [(8, 8, 8, 8)], **kw)
    again = trust.table({"tiny": model}, {"img": x}, [(8, 8, 8, 8)], **kw)
    assert len(seen) == 1 and len(first) == len(again) == 2  # gradient, erf
    assert list(again["method"]) == ["gradient", "erf"] and set(again["stratified"]) <= {"pass", "fail"}


def test_table_refuses_bad_paths_and_backends(tmp_path):
    model, x = conv_model(), image(side=16)
    kw = dict(methods=["gradient"], checks=("stratified",), seeds=2, scale=2, device="cpu")
    for bad, match in [(dict(path=str(tmp_path)), "is a folder"), (dict(path=str(tmp_path / "t.txt")), ".csv"),
                       (dict(backend="spark"), "backend"), (dict(address="auto"), "address= is for backend='ray'")]:
        with pytest.raises(InputError, match=match):
            trust.table({"tiny": model}, {"img": x}, [(8, 8, 8, 8)], **bad, **kw)
    torn = tmp_path / "torn.csv"
    torn.write_text('model,image,window\n"tiny,img\n')
    with pytest.raises(InputError, match="not a trust table"):
        trust.table({"tiny": model}, {"img": x}, [(8, 8, 8, 8)], path=str(torn), **kw)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'srwidgets[ray]')")
def test_table_on_ray_gives_the_local_numbers_and_resumes(tmp_path):
    model, x = conv_model(), image(side=16)
    kw = dict(methods=["gradient", "ig"], checks=("stratified", "randomisation"), seeds=2,
              knobs={"ig": {"steps": 3}}, scale=2, device="cpu")
    windows = [(8, 8, 8, 8), (16, 8, 8, 8), (0, 0, 8, 8)]
    local = trust.table({"tiny": model}, {"img": x}, windows, **kw)
    path = str(tmp_path / "t.csv")
    first = trust.table({"tiny": model}, {"img": x}, windows[:1], path=path, **kw)  # an interrupted run
    seen = []
    remote = trust.table({"tiny": model}, {"img": x}, windows, path=path, backend="ray", workers=2,
                         callback=lambda *a: seen.append(a), **kw)
    assert len(first) == 2 and len(seen) == 2  # the window already in the file was not computed again
    cols = ["score", "null_mean", "null_sd", "edge", "rand_difference"]
    key = ["window", "method"]
    a = local.sort_values(key).reset_index(drop=True)
    b = remote.sort_values(key).reset_index(drop=True)
    assert a[key].equals(b[key])
    # float32 convolutions on 1 thread (a Ray worker) vs 2 (here) sum in another order: rounding only
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-5, atol=1e-7)


def test_cem_is_supported_when_registered():
    from srwidgets.attribution import method_class, methods

    if "cem" not in methods():
        pytest.skip("the cem member is not registered yet")
    assert getattr(method_class("cem"), "needs_hr", False)
    assert "cem" not in trust.default_methods(None) and "cem" in trust.default_methods(torch.zeros(3, 4, 4))


def test_cli_writes_table(tmp_path, capsys):
    from srwidgets.cli import trust as cli

    ap = argparse.ArgumentParser()
    cli.add_parser(ap.add_subparsers())
    out = tmp_path / "trust.csv"
    args = ap.parse_args(["trust", "astronaut", "--model", "x4-fsrcnn", "--window", "98,84,16", "--methods",
                          "gradient", "--checks", "stratified", "--seeds", "2", "--out", str(out), "--no-progress"])
    assert args.func(args) == 0
    assert out.exists() and "gradient" in capsys.readouterr().out
    import pandas as pd

    table = pd.read_csv(out)  # one window: the same columns as trust.table's
    assert list(table.columns[:5]) == ["model", "image", "window", "method", "verdict"]
    assert table[["model", "image", "window", "method"]].values.tolist() == [
        ["x4-fsrcnn", "astronaut", "98,84,16,16", "gradient"]]


def test_geometric_spacing_starts_with_one_unit_and_ends_at_one():
    model, x = linear_model(), image()
    got = curve(model, x, "random", steps=7, spacing="geometric")  # 64 units: 1, 2, 4, ..., 64
    assert got["counts"] == [0, 1, 2, 4, 8, 16, 32, 64]
    assert got["fractions"][0] == 0.0 and got["fractions"][-1] == 1.0


# -- found by an outside review: every bad argument is an InputError ---------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    ({"baseline": "blur", "kernel_size": 4}, "kernel_size must be an odd integer"),
    ({"baseline": "blur", "kernel_size": 0}, "kernel_size must be an odd integer"),
    ({"baseline": "blur", "kernel_size": "9"}, "kernel_size must be an odd integer"),
    ({"knobs": 5}, "knobs must be a dict"),
    ({"callback": 5}, "callback must be a function"),
    ({"cancel": 5}, "cancel must be a CancelToken"),
])
def test_more_bad_deletion_arguments_raise_input_error(kw, match):
    model, x = linear_model(), image()
    with pytest.raises(InputError, match=match):
        curve(model, x, "random", **kw)


@pytest.mark.parametrize("kw,match", [
    ({"cascade": "no"}, "cascade must be True or False"),
    ({"knobs": [1]}, "knobs must be a dict"),
    ({"layers": []}, "layers must be a non-empty list"),
    ({"layers": "nope"}, r"layers \['nope'\]"),
    ({"callback": 5}, "callback must be a function"),
])
def test_bad_randomisation_arguments_raise_input_error(kw, match):
    model, x = conv_model(), image(side=16)
    with pytest.raises(InputError, match=match):
        trust.randomisation(model, x, (8, 8, 8, 8), "gradient", scale=2, device="cpu", test="spearman", **kw)


def test_randomisation_takes_one_layer_name_as_a_string():
    model, x = conv_model(), image(side=16)
    out = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", scale=2, device="cpu", layers="2",
                              test="spearman")
    assert [n for n, _ in out] == ["2"]


def test_randomisation_of_a_model_without_parameters_says_so():
    class Nearest(nn.Module):
        scale = 2

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    with pytest.raises(InputError, match="no parameters"):
        trust.randomisation(Nearest(), image(side=16), (8, 8, 8, 8), "gradient", device="cpu")


def test_input_randomisation_refuses_unknown_options():
    model, x = conv_model(), image(side=16)
    with pytest.raises(InputError, match="unknown options"):
        trust.input_randomisation(model, x, (8, 8, 8, 8), "gradient", stepz=3)
    with pytest.raises(InputError, match="knobs must be a dict"):
        trust.input_randomisation(model, x, (8, 8, 8, 8), "gradient", knobs=3)
