"""srwidgets.trust.randomisation(test="faithfulness"): the twin never touches the user's model, the difference is the
stratified scores', the Spearman cascade is still there; input invariance and completeness flags."""
import math

import pytest
import torch
from torch import nn

from srwidgets import trust
from srwidgets.errors import InputError
from srwidgets.trust.flags import ShiftedInputModel, map_overlap
from srwidgets.trust.randomise import layer_order, randomised_twin


def conv_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2))


def image(seed=1, side=16):
    return torch.rand(3, side, side, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.8 + 0.1


KW = dict(scale=2, device="cpu", seeds=2)


def test_the_randomised_twin_never_touches_the_users_model():
    model, x = conv_model().train(), image()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    rng = torch.random.get_rng_state()
    twin, _ = randomised_twin(model, x, seed=3)
    assert all(not torch.equal(a, b) for a, b in zip(twin.parameters(), model.parameters()))
    r = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", **KW)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    assert torch.equal(rng, torch.random.get_rng_state())
    assert set(r) >= {"difference", "null_sd", "passed", "distance_trained", "distance_randomised"}


def test_difference_is_trained_minus_twin_score_and_passed_follows_the_null():
    model, x = conv_model(), image()
    r = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", seed=2, **KW)
    assert r["difference"] == pytest.approx(r["score_trained"] - r["score_randomised"])
    assert r["passed"] == (r["difference"] > 2 * r["null_sd"])
    # the trained map scored alone by stratified_deletion gives the same score (same seed, same batch rules)
    alone = trust.stratified_deletion(model, x, (8, 8, 8, 8), r["map_trained"], seed=2, scale=2, device="cpu",
                                      seeds=2)
    assert alone["score"] == pytest.approx(r["score_trained"], abs=1e-6)
    again = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", seed=2, **KW)
    assert again["difference"] == r["difference"]


def test_spearman_cascade_kept_and_layers_only_there():
    model, x = conv_model(), image()
    out = trust.randomisation(model, x, (8, 8, 8, 8), "gradient", test="spearman", scale=2, device="cpu")
    assert [n for n, _ in out] == list(reversed(layer_order(model, x)))
    with pytest.raises(InputError, match="test='spearman'"):
        trust.randomisation(model, x, (8, 8, 8, 8), "gradient", layers=["0"], scale=2, device="cpu")
    with pytest.raises(InputError, match="test"):
        trust.randomisation(model, x, (8, 8, 8, 8), "gradient", test="kendall", scale=2, device="cpu")


def test_cem_without_hr_names_hr():
    model, x = conv_model(), image()
    with pytest.raises(InputError, match="hr="):
        trust.randomisation(model, x, (8, 8, 8, 8), "cem", **KW)


def test_shifted_input_model_computes_the_same_function():
    model, x = conv_model(), image()
    shifted = ShiftedInputModel(model)
    with torch.no_grad():
        torch.testing.assert_close(shifted((0.1 + 0.8 * x)[None].float()), model(x[None].float()), rtol=1e-5,
                                   atol=1e-5)


def test_map_overlap_hand_cases():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert map_overlap(a, 3 * a) == pytest.approx(1.0)
    assert map_overlap(a, torch.tensor([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(0.0)
    assert math.isnan(map_overlap(a, torch.zeros(2, 2)))


def test_gradient_is_input_invariant_and_black_baseline_ig_is_not():
    model, x = conv_model(), image()
    g = trust.report(model, x, (8, 8, 8, 8), ["gradient", "ig"], checks=("invariance", "completeness"),
                     knobs={"ig": {"steps": 8, "baseline": "black"}}, scale=2, device="cpu")
    assert g.loc["gradient", "invariance"] > 0.99 and g.loc["gradient", "invariant"] == "pass"
    assert g.loc["ig", "invariance"] < g.loc["gradient", "invariance"]
    assert g.loc["ig", "completeness_gap"] >= 0
