"""FAIG engine: closed forms and a naive per-image, per-step reference; eq. 7 per image; completeness; chunking;
masking / modulation; rankings; the presets it runs on; the model guard; every bad input; progress and cancel."""
import copy
import threading
import time
import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn

from srwidgets import degrade, faig, zoo
from srwidgets.errors import Cancelled, InputError
from srwidgets.faig import FAIG, conv_filters, mask, modulate, rank

from _helpers import randomized

torch.set_num_threads(1)


# --- fixtures and references ---------------------------------------------------------------------------------------
def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _perturbed(model, scale=0.05, seed=1, only=None):
    """A copy of ``model`` with noise added to its parameters (those whose name contains ``only``, if given)."""
    out = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in out.named_parameters():
            if only is None or only in name:
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return out


@pytest.fixture(scope="module")
def pair():
    """A tiny MSRResNet x2 pair in float64: (baseline, target fine-tuned = perturbed)."""
    base = randomized("MSRResNet", dict(num_feat=4, num_block=1, upscale=2)).double()
    return base, _perturbed(base)


@pytest.fixture(scope="module")
def images():
    """Two LR images [2, 3, 6, 6], the same images under another degradation, and their HR [2, 3, 12, 12]."""
    return _rand(2, 3, 6, 6, seed=1), _rand(2, 3, 6, 6, seed=2), _rand(2, 3, 12, 12, seed=3)


def naive_terms(baseline, target, x, y, steps):
    """The authors' loop for ONE image: one deep copy, ``load_state_dict`` per step, summed squared error,
    ``backward``; returns the per-parameter terms ``(θ̄ − θ) · mean_k ∇L(θ_k)``, ``k = 1..M``."""
    net = copy.deepcopy(target)
    sb, st = baseline.state_dict(), target.state_dict()
    total = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for k in range(1, steps + 1):
        net.load_state_dict({n: sb[n] + (k / steps) * (st[n] - sb[n]) for n in sb})
        net.zero_grad()
        ((net(x[None]) - y[None]) ** 2).sum().backward()
        for n, p in net.named_parameters():
            total[n] += p.grad
    return {n: (sb[n] - st[n]) * total[n] / steps for n in total}


def naive_filter_scores(model, terms):
    """|terms| summed over each (out, in) kernel of every conv weight, in conv_filters order."""
    return np.concatenate([terms[f"{name}.weight"].abs().flatten(2).sum(2).flatten().numpy()
                           for name, m in model.named_modules() if isinstance(m, nn.Conv2d)])


def pointwise(weight):
    """A 1×1 conv model without bias (scale 1) with the given [3, 3] weight: F(x) = W x per pixel."""
    m = nn.Conv2d(3, 3, 1, bias=False).double()
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(weight, dtype=torch.float64)[:, :, None, None])
    return m


# --- 2.-3. the algorithm in closed form -----------------------------------------------------------------------------
def closed_form(w_bar, w, x, y, steps):
    """Per-filter scores of the pointwise model: L(W) = Σ_p ||y_p − W x_p||², ∇L(W) = −2 (Y − W X) Xᵀ, linear in W,
    so the right Riemann mean over W_k = W̄ + (k/M)Δ is ∇L(W̄) + ((M + 1) / 2M) · 2 Δ X Xᵀ."""
    X, Y = x.reshape(3, -1).numpy(), y.reshape(3, -1).numpy()
    delta = w - w_bar
    mean_grad = -2 * (Y - w_bar @ X) @ X.T + (steps + 1) / steps * delta @ X @ X.T
    return np.abs(-delta * mean_grad).flatten()


@pytest.mark.parametrize("steps", [1, 3, 100])
def test_pointwise_model_matches_the_closed_form(steps):
    g = np.random.default_rng(0)
    w_bar, w = g.normal(size=(3, 3)), g.normal(size=(3, 3))
    x, y = _rand(3, 5, 4, seed=4), _rand(3, 5, 4, seed=5)
    result = FAIG(pointwise(w_bar), pointwise(w)).attribute(x, y, steps=steps)
    assert result.filters == [("", o, i) for o in range(3) for i in range(3)]
    np.testing.assert_allclose(result.scores, closed_form(w_bar, w, x, y, steps), rtol=1e-10)


def test_right_riemann_sum_evaluates_the_target_not_the_baseline():
    """steps=1 evaluates θ only: scores = |(θ̄ − θ) · ∇L(θ)|, with the loss SUMMED over pixels and channels."""
    g = np.random.default_rng(1)
    w_bar, w = g.normal(size=(3, 3)), g.normal(size=(3, 3))
    x, y = _rand(3, 4, 4, seed=6), _rand(3, 4, 4, seed=7)
    X, Y = x.reshape(3, -1).numpy(), y.reshape(3, -1).numpy()
    at_target = np.abs((w_bar - w) * (-2 * (Y - w @ X) @ X.T)).flatten()
    at_baseline = np.abs((w_bar - w) * (-2 * (Y - w_bar @ X) @ X.T)).flatten()
    scores = FAIG(pointwise(w_bar), pointwise(w)).attribute(x, y, steps=1).scores
    np.testing.assert_allclose(scores, at_target, rtol=1e-12)
    assert not np.allclose(scores, at_baseline)
    assert not np.allclose(scores, at_target / x[0].numel() / 3)  # a mean-reduced loss would be this


def test_matches_the_authors_loop_per_image(pair, images):
    base, targ = pair
    lr, _, hr = images
    result = FAIG(base, targ).attribute(lr, hr, steps=5)
    for i in range(2):
        ref = naive_filter_scores(targ, naive_terms(base, targ, lr[i], hr[i], 5))
        np.testing.assert_allclose(result.per_image_scores[i], ref, rtol=1e-9, atol=1e-14)


def test_biases_are_not_filters_but_count_for_completeness(pair, images):
    base, _ = pair
    lr, _, hr = images
    only_biases = _perturbed(base, 0.05, seed=3, only="bias")
    result = FAIG(base, only_biases).attribute(lr, hr, steps=200)
    assert len(result.filters) == sum(m.weight.shape[0] * m.weight.shape[1] for m in base.modules()
                                      if isinstance(m, nn.Conv2d))
    assert np.all(result.scores == 0)  # no weight changed: every filter term is 0
    assert np.all(np.abs(result.term_sums) > 0)  # ... but the bias terms carry the loss change
    assert result.completeness < 0.02


# --- 4. eq. 7 per image, then averaged ------------------------------------------------------------------------------
def test_eq7_is_per_image_difference_then_mean(pair, images):
    base, targ = pair
    lr, other, hr = images
    result = FAIG(base, targ).attribute(lr, hr, lr_other=other, steps=4)
    s_deg = np.stack([naive_filter_scores(targ, naive_terms(base, targ, lr[i], hr[i], 4)) for i in range(2)])
    s_oth = np.stack([naive_filter_scores(targ, naive_terms(base, targ, other[i], hr[i], 4)) for i in range(2)])
    np.testing.assert_allclose(result.per_image_degraded, s_deg, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(result.per_image_other, s_oth, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(result.per_image_scores, s_deg - s_oth, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(result.scores, (s_deg - s_oth).mean(0), rtol=1e-9, atol=1e-14)
    # the sign: swapping the roles negates every score
    swapped = FAIG(base, targ).attribute(other, hr, lr_other=lr, steps=4)
    np.testing.assert_allclose(swapped.scores, -result.scores, rtol=1e-12, atol=1e-15)


def test_absolute_value_is_taken_per_image_not_on_the_batch_loss(pair, images):
    """Summing the batch's losses before the abs (one backward for the batch) gives different scores: the engine
    must match the per-image mean instead."""
    base, targ = pair
    lr, _, hr = images
    result = FAIG(base, targ).attribute(lr, hr, steps=3)
    terms = [naive_terms(base, targ, lr[i], hr[i], 3) for i in range(2)]
    per_image = [naive_filter_scores(targ, t) for t in terms]
    batch = naive_filter_scores(targ, {n: (terms[0][n] + terms[1][n]) / 2 for n in terms[0]})
    np.testing.assert_allclose(result.scores, np.mean(per_image, 0), rtol=1e-9, atol=1e-14)
    assert not np.allclose(result.scores, batch, rtol=1e-3)


def test_completeness_converges_with_steps(pair, images):
    base, targ = pair
    lr, _, hr = images
    engine = FAIG(base, targ)
    errors = [engine.attribute(lr, hr, steps=m).completeness for m in (5, 50, 500)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01 and errors[1] < errors[0] / 5  # right Riemann sum: error ~ 1/M
    r = engine.attribute(lr, hr, steps=500)
    np.testing.assert_allclose(r.term_sums, r.loss_gaps, rtol=0.01)  # Σ terms ≈ L(θ̄) − L(θ)


# --- speed never changes the numbers --------------------------------------------------------------------------------
def test_chunking_and_vmap_do_not_change_the_numbers(pair, images):
    base, targ = pair
    lr, other, hr = images
    ref = FAIG(base, targ, chunk_size=1, vmap=False).attribute(lr, hr, lr_other=other, steps=7)
    for kw in (dict(), dict(chunk_size=5), dict(chunk_size=3, vmap=True), dict(vmap=True), dict(memory_budget=1)):
        engine = FAIG(base, targ, **kw)
        r = engine.attribute(lr, hr, lr_other=other, steps=7)
        assert engine.vmap == kw.get("vmap", False)  # vmap really ran (no silent fallback)
        np.testing.assert_allclose(r.per_image_scores, ref.per_image_scores, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(r.term_sums, ref.term_sums, rtol=1e-10)


def test_float32_chunking_within_1e5():
    base = randomized("MSRResNet", dict(num_feat=4, num_block=1, upscale=2))
    targ = _perturbed(base)
    lr, hr = _rand(2, 3, 6, 6, seed=1).float(), _rand(2, 3, 12, 12, seed=3).float()
    a = FAIG(base, targ, chunk_size=1).attribute(lr, hr, steps=4).scores
    engine = FAIG(base, targ, chunk_size=8, vmap=True)
    b = engine.attribute(lr, hr, steps=4).scores
    assert engine.vmap
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_images_of_different_sizes_in_a_list(pair):
    base, targ = pair
    lrs = [_rand(3, 6, 6, seed=1), _rand(3, 4, 8, seed=2)]
    hrs = [_rand(3, 12, 12, seed=3), _rand(3, 8, 16, seed=4)]
    together = FAIG(base, targ).attribute(lrs, hrs, steps=3)
    alone = [FAIG(base, targ).attribute(x, y, steps=3).scores for x, y in zip(lrs, hrs)]
    np.testing.assert_allclose(together.per_image_scores, np.stack(alone), rtol=1e-12)


def test_cached_inputs_cost_nothing_and_weight_edits_are_seen(pair, images):
    base, targ = pair
    targ = copy.deepcopy(targ)
    lr, other, hr = images
    engine = FAIG(base, targ)
    first = engine.attribute(lr, hr, lr_other=other, steps=3)
    calls = []
    again = engine.attribute(other, hr, lr_other=lr, steps=3, callback=calls.append)  # same four inputs
    assert calls == [] and np.array_equal(again.scores, -first.scores)
    with torch.no_grad():
        next(targ.parameters()).mul_(1.5)
    changed = engine.attribute(lr, hr, lr_other=other, steps=3)
    fresh = FAIG(base, targ).attribute(lr, hr, lr_other=other, steps=3)
    assert not np.allclose(changed.scores, first.scores)
    np.testing.assert_allclose(changed.scores, fresh.scores, rtol=1e-12)


# --- the user's models are never changed ----------------------------------------------------------------------------
def test_models_unchanged_after_attribute(pair, images):
    base, targ = (copy.deepcopy(m) for m in pair)
    lr, other, hr = images
    targ.train()
    next(targ.parameters()).requires_grad_(False)
    marker = torch.ones_like(next(base.parameters()))
    next(base.parameters()).grad = marker
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (base, targ)]
    flags = [[p.requires_grad for p in m.parameters()] for m in (base, targ)]
    FAIG(base, targ).attribute(lr, hr, lr_other=other, steps=3)
    for m, sd, fl in zip((base, targ), before, flags):
        assert all(torch.equal(v, m.state_dict()[k]) for k, v in sd.items())
        assert [p.requires_grad for p in m.parameters()] == fl
    assert next(base.parameters()).grad is marker
    assert all(p.grad is None for p in list(base.parameters())[1:]) and all(p.grad is None for p in targ.parameters())
    assert targ.training and not base.training


# --- 6. masking and modulation --------------------------------------------------------------------------------------
def test_mask_copies_the_chosen_kernels_only(pair):
    base, targ = pair
    before = {k: v.clone() for k, v in targ.state_dict().items()}
    chosen = [("conv_first", 1, 2), ("body.0.conv2", 3, 0)]
    masked = mask(targ, base, chosen)
    sd, sb, st = masked.state_dict(), base.state_dict(), targ.state_dict()
    for name, o, i in chosen:
        assert torch.equal(sd[f"{name}.weight"][o, i], sb[f"{name}.weight"][o, i])
    for k in sd:  # everything else is the target's
        keep = torch.ones_like(sd[k], dtype=torch.bool)
        for name, o, i in chosen:
            if k == f"{name}.weight":
                keep[o, i] = False
        assert torch.equal(sd[k][keep], st[k][keep])
    assert all(torch.equal(v, targ.state_dict()[k]) for k, v in before.items())  # the target is untouched
    assert masked is not targ


def test_mask_accepts_indices_and_zero_or_all_filters(pair):
    base, targ = pair
    x = _rand(1, 3, 6, 6, seed=9)
    filters = conv_filters(targ)
    by_index = mask(targ, base, [0, 5]).state_dict()
    by_tuple = mask(targ, base, [filters[0], filters[5]]).state_dict()
    assert all(torch.equal(by_index[k], by_tuple[k]) for k in by_index)
    with torch.no_grad():
        assert torch.equal(mask(targ, base, [])(x), targ(x))  # 0 %: the target
        everything = mask(targ, base, np.arange(len(filters)), biases=True)
        assert torch.equal(everything(x), base(x))  # 100 % of the filters and biases: the baseline


def test_modulate_interpolates_the_chosen_filters(pair):
    base, targ = pair
    chosen = [("conv_last", 2, 1)]
    key = "conv_last.weight"
    w, wb = targ.state_dict()[key][2, 1], base.state_dict()[key][2, 1]
    for lam in (0.0, 0.5, 1.0, 1.5):
        got = modulate(targ, base, chosen, lam).state_dict()[key][2, 1]
        torch.testing.assert_close(got, wb + lam * (w - wb), rtol=1e-12, atol=1e-15)
    zero, masked = modulate(targ, base, chosen, 0).state_dict(), mask(targ, base, chosen).state_dict()
    assert all(torch.equal(zero[k], masked[k]) for k in zero)
    one = modulate(targ, base, chosen, 1).state_dict()
    assert all(torch.equal(one[k], targ.state_dict()[k]) for k in one)


def test_float32_modulate_at_one_is_the_target_exactly():
    base = randomized("MSRResNet", dict(num_feat=4, num_block=1, upscale=2))
    targ = _perturbed(base)
    one = modulate(targ, base, range(len(conv_filters(targ))), 1.0).state_dict()
    assert all(torch.equal(one[k], v) for k, v in targ.state_dict().items())


# --- rankings ------------------------------------------------------------------------------------------------------
def test_rankings(pair, images):
    base, targ = pair
    n = len(conv_filters(targ))
    r1, r2 = rank("random", base, targ, seed=3), rank("random", base, targ, seed=np.int64(3))
    assert np.array_equal(r1, r2) and sorted(r1) == list(range(n))
    assert not np.array_equal(r1, rank("random", base, targ, seed=4))
    scores = faig.weight_change(base, targ)
    w, wb = targ.conv_first.weight.detach()[0, 1], base.conv_first.weight.detach()[0, 1]
    assert scores[1] == pytest.approx(float((w - wb).abs().sum() / wb.abs().sum()), rel=1e-12)
    order = rank("weight_diff", base, targ)
    assert np.array_equal(order, rank("weight_change", base, targ))
    assert np.all(np.diff(scores[order]) <= 0)
    result = FAIG(base, targ).attribute(images[0], images[2], steps=2)
    assert np.array_equal(rank("faig", base, targ, scores=result), result.ranking)
    assert np.all(np.diff(result.scores[result.ranking]) <= 0)
    assert result.top(0.1) == [result.filters[j] for j in result.ranking[:int(n * 0.1)]]
    summary = result.layer_summary(0.1)
    assert list(summary)[0] == "conv_first" and sum(v["top"] for v in summary.values()) == int(n * 0.1)
    assert sum(v["filters"] for v in summary.values()) == n


# --- the measures of the masking experiment -------------------------------------------------------------------------
def test_gradient_map_and_output_difference():
    ramp = torch.arange(8, dtype=torch.float64).repeat(8, 1)[None, None].expand(1, 3, 8, 8) * 10 / 255
    g = faig.gradient_map(ramp)
    # interior: horizontal central difference of 10/255 per pixel -> 20/255; no vertical change
    torch.testing.assert_close(g[0, 0, 3, 3], torch.tensor((20 / 255) ** 2 + 1e-6, dtype=torch.float64).sqrt())
    assert faig.output_difference(ramp[0], ramp[0]) == 0
    assert faig.output_difference(ramp, ramp.flip(-1)) > 0


def test_faig_degradation_presets():
    hr = _rand(2, 3, 32, 32, seed=0).float()
    for name in degrade.FAIG_PRESETS:
        lr = degrade.faig_degradation(name, 2)(hr, seed=0)
        assert lr.shape == (2, 3, 16, 16) and torch.equal(lr, (lr * 255).round() / 255)
        assert torch.equal(lr, degrade.faig_degradation(name, 2)(hr, seed=0))
    blur = degrade.faig_degradation("blur", 2)(hr)
    assert torch.equal(blur, degrade.quantize(degrade.bilinear_down(degrade.gaussian_blur(hr, 2.0, 21), 2)))
    clean = degrade.quantize(degrade.bilinear_down(torch.full((1, 3, 64, 64), 0.5), 2))
    noisy = degrade.faig_degradation("noise", 2)(torch.full((1, 3, 64, 64), 0.5), seed=1)
    assert float((noisy - clean).std()) == pytest.approx(0.1, rel=0.05)
    assert degrade.faig_degradation("clean", 3)(hr).shape == (2, 3, 10, 10)
    with pytest.raises(InputError, match="unknown degradation"):
        degrade.faig_degradation("jpeg", 2)
    with pytest.raises(InputError, match="scale"):
        degrade.faig_degradation("blur", 0)


# --- progress and cancel --------------------------------------------------------------------------------------------
def test_progress_and_cancel(pair, images):
    base, targ = pair
    lr, other, hr = images
    reports = []
    FAIG(base, targ, chunk_size=3).attribute(lr, hr, lr_other=other, steps=5, callback=reports.append)
    assert [r.done for r in reports] == list(range(3, 20, 3)) + [20]
    assert all(r.total == 20 and r.stage == "faig" for r in reports)
    engine = FAIG(base, targ, chunk_size=2)
    token = threading.Event()
    seen = []

    def stop_after_two(p):
        seen.append(p.done)
        if len(seen) == 2:
            token.set()

    with pytest.raises(Cancelled):
        engine.attribute(lr, hr, steps=50, callback=stop_after_two, cancel=token)
    assert seen == [2, 4]
    token.clear()
    fresh = engine.attribute(lr, hr, steps=50)  # nothing half-done was cached
    np.testing.assert_allclose(fresh.scores, FAIG(base, targ).attribute(lr, hr, steps=50).scores, rtol=1e-12)


# --- bad input ------------------------------------------------------------------------------------------------------
def test_different_architectures_are_refused(pair):
    other = randomized("MSRResNet", dict(num_feat=8, num_block=1, upscale=2)).double()
    with pytest.raises(InputError, match=r"conv_first.weight: \[4, 3, 3, 3\] vs \[8, 3, 3, 3\]"):
        FAIG(pair[0], other)
    with pytest.raises(InputError, match="architecture"):
        mask(other, pair[0], [])


def test_target_equal_to_baseline_and_models_without_convs(pair):
    with pytest.raises(InputError, match="equal the baseline"):
        FAIG(pair[0], copy.deepcopy(pair[0]))

    class NoConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.gain

    with pytest.raises(InputError, match="no conv layer"):
        FAIG(NoConv(), _perturbed(NoConv()))


def test_bad_inputs(pair, images):
    base, targ = pair
    lr, other, hr = images
    engine = FAIG(base, targ)
    bad = [
        (dict(lr=lr[:, :2]), "shape"),
        (dict(lr=lr.permute(0, 2, 3, 1)), "shape"),
        (dict(hr=hr[..., :10]), r"hr\[0\] is 12×10 but lr\[0\] is 6×6.*12×12"),
        (dict(hr=hr[:1]), "lr has 2 images but hr has 1"),
        (dict(lr=torch.where(lr > 0.9, float("nan"), lr)), "NaN"),
        (dict(lr=lr * 255), r"\[0, 1\]"),
        (dict(hr=hr + 1), r"\[0, 1\]"),
        (dict(lr_other=other[:1]), "lr_other must be the same images"),
        (dict(lr_other=_rand(2, 3, 5, 6)), "lr_other must be the same images"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(steps=2.5), "steps must be an integer"),
        (dict(lr=lr[:0], hr=hr[:0]), "empty"),
        (dict(lr="image.png"), "torch tensor"),
    ]
    for change, message in bad:
        kw = dict(lr=lr, hr=hr, lr_other=None, steps=2)
        kw.update(change)
        with pytest.raises(InputError, match=message):
            engine.attribute(**kw)
    assert engine.attribute(lr, hr, steps=np.int32(2)).steps == 2  # numpy integers are fine
    assert engine.attribute(lr.numpy(), hr.numpy(), steps=2).scores.shape == (len(engine.filters),)
    for call, message in [
        (lambda: FAIG(base, targ, chunk_size=0), "chunk_size"),
        (lambda: modulate(targ, base, [], 1.6), r"lam must be in \[0, 1.5\]"),
        (lambda: modulate(targ, base, [], -0.1), "lam"),
        (lambda: mask(targ, base, [("nope", 0, 0)]), "conv layer name"),
        (lambda: mask(targ, base, [("conv_first", 4, 0)]), "outside conv_first"),
        (lambda: mask(targ, base, [10 ** 6]), "out of range"),
        (lambda: rank("gradient", base, targ), "unknown method"),
        (lambda: rank("faig", base, targ), "needs scores"),
        (lambda: rank("faig", base, targ, scores=np.zeros(3)), "one per filter"),
        (lambda: engine.attribute(lr, hr, steps=2).top(1.5), r"fraction must be in \[0, 1\]"),
        (lambda: faig.masking_table(base, targ, [np.zeros((16, 16, 3))], fraction=-0.1), "fraction"),
        (lambda: faig.masking_table(base, targ, [np.zeros((16, 16, 3))], measure="ssim"), "unknown measure"),
        (lambda: faig.masking_table(base, targ, [np.zeros((16, 16, 3))], degradation="jpeg"), "unknown degradation"),
        (lambda: faig.masking_table(base, targ, []), "non-empty list"),
    ]:
        with pytest.raises(InputError, match=message):
            call()


# --- the zoo pair and the masking experiment ------------------------------------------------------------------------
def test_zoo_pair_small_run():
    baseline, target = zoo.faig_pair()
    hr = _rand(1, 3, 24, 24, seed=0).float()
    noisy, blurry = (degrade.faig_degradation(d, 2)(hr, seed=0) for d in ("noise", "blur"))
    result = FAIG(baseline, target).attribute(noisy, hr, lr_other=blurry, steps=3)
    n = len(conv_filters(target))
    assert n == 17600 and result.scores.shape == (n,) and result.per_image_scores.shape == (1, n)
    assert result.filters[0] == ("conv_first", 0, 0) and result.filters[-1] == ("conv_last", 2, 31)
    assert np.isfinite(result.scores).all() and result.term_sums.shape == (2,)
    assert set(result.layer_summary()) == {name for name, _, _ in result.filters}


def test_masking_table_and_experiment():
    baseline, target = zoo.faig_pair()
    hrs = [np.random.default_rng(j).random((24, 20, 3)) for j in range(2)]
    table = faig.masking_table(baseline, target, hrs, degradation="noise", fraction=0.05, steps=2)
    assert set(table) == {"faig", "random", "weight_diff"} and all(np.isfinite(v) for v in table.values())
    diff = faig.masking_table(baseline, target, hrs, degradation="noise", fraction=0.0, measure="output_diff", steps=2)
    assert diff == {"faig": 0.0, "random": 0.0, "weight_diff": 0.0}  # masking nothing changes nothing
    pd = pytest.importorskip("pandas")
    frame = faig.masking_experiment(baseline, target, hrs, fractions=(0.01, 0.1), steps=2)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2 * 3 * 2 * 2
    assert {"filters_for", "method", "fraction", "n_filters", "input", "psnr_drop", "output_diff"} <= set(frame)
    row = frame[(frame.method == "faig") & (frame.filters_for == "noise") & (frame.input == "noise")
                & (frame.fraction == 0.01)]
    assert int(row.n_filters.iloc[0]) == 176


# --- issue 17: hostile input -----------------------------------------------------------------------------------------
def test_steps_above_the_ceiling_are_refused_with_the_reason(pair, images):
    lr, _, hr = images
    with pytest.raises(InputError, match="above the ceiling of 100,000 steps"):
        FAIG(*pair).attribute(lr, hr, steps=10 ** 9)


def test_a_huge_step_count_is_planned_lazily_and_cancels_after_the_first_chunk(pair, images):
    lr, _, hr = images
    engine = FAIG(*pair, chunk_size=2)
    token, seen = threading.Event(), []

    def stop(p):
        seen.append((p.done, p.total))
        token.set()

    t0 = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(Cancelled):
            engine.attribute(lr, hr, steps=10 ** 5, callback=stop, cancel=token)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == [(2, 2 * 10 ** 5)]  # one chunk ran, then the cancel stopped it
    # a plan listing the 200000 (step, input) items up front would hold > 10 MB of Python objects
    assert peak < 4 << 20 and time.perf_counter() - t0 < 2.0


def test_lazy_plan_matches_a_step_by_step_run_across_chunk_and_group_edges(pair, images):
    lr, other, hr = images
    base, targ = pair
    reference = FAIG(base, targ, chunk_size=1).attribute(lr, hr, lr_other=other, steps=3)
    # chunks of 5 straddle steps and memory groups of one input (the budget holds one accumulator)
    per = 8 * sum(p.numel() for p in targ.parameters())
    grouped = FAIG(base, targ, chunk_size=5, memory_budget=per).attribute(lr, hr, lr_other=other, steps=3)
    np.testing.assert_allclose(grouped.per_image_degraded, reference.per_image_degraded, rtol=1e-12)
    np.testing.assert_allclose(grouped.per_image_other, reference.per_image_other, rtol=1e-12)


def test_memory_budget_accepts_unit_strings_and_refuses_nonsense(pair):
    assert FAIG(*pair, memory_budget="1GB").memory_budget == 1 << 30
    for bad in ("lots", -5, float("nan"), [1]):
        with pytest.raises(InputError, match="memory_budget"):
            FAIG(*pair, memory_budget=bad)


def test_other_constructor_arguments_are_checked(pair):
    for kw, words in ((dict(vmap="no"), "vmap must be True, False or None"),
                      (dict(scale=2.0), "scale must be an integer"), (dict(chunk_size="4"), "chunk_size")):
        with pytest.raises(InputError, match=words):
            FAIG(*pair, **kw)


def test_pairs_of_another_scale_are_refused_naming_both():
    from srwidgets.models import build

    torch.manual_seed(0)
    x2, x4 = build("FSRCNN", upscale=2), build("FSRCNN", upscale=4)  # the same parameter shapes
    with pytest.raises(InputError, match="baseline is x2, target is x4: FAIG needs the same architecture, scale"):
        FAIG(x2, x4)
    with pytest.raises(InputError, match="baseline is x4, target is x2"):
        mask(x2, x4, [])


def test_pairs_of_another_value_range_are_refused_naming_both(pair):
    base, targ = copy.deepcopy(pair[0]), copy.deepcopy(pair[1])
    base.img_range, targ.img_range = 1.0, 255.0
    with pytest.raises(InputError, match=r"baseline is x2 \(img_range 1\), target is x2 \(img_range 255\)"):
        FAIG(base, targ)
    with pytest.raises(InputError, match="value range"):
        modulate(targ, base, [], 0.5)
    targ.img_range = 1
    assert FAIG(base, targ).scale == 2  # the same range, stated as int and float


def test_bad_hooks_are_refused_before_any_work(pair, images):
    lr, _, hr = images
    engine = FAIG(*pair)
    with pytest.raises(InputError, match="callback must be a function"):
        engine.attribute(lr, hr, steps=2, callback=3)
    with pytest.raises(InputError, match="cancel must be a CancelToken"):
        engine.attribute(lr, hr, steps=2, cancel="yes")


def test_fractions_string_is_refused_not_read_character_by_character():
    with pytest.raises(InputError, match=r"fractions must be numbers in \(0, 1\], e.g. \[0.01, 0.05\]"):
        faig.check_fractions("0.01")


@pytest.mark.parametrize("bad", [[], [0.0], [0.1, float("nan")], [0.1, "0.2"], [True], [1.5], [0.1] * 1000, {}])
def test_bad_fractions_are_refused(bad):
    with pytest.raises(InputError, match="fractions must be numbers"):
        faig.check_fractions(bad)


def test_fractions_accept_one_number_numpy_and_lists():
    assert faig.check_fractions(0.05) == [0.05] and faig.check_fractions(1) == [1.0]
    assert faig.check_fractions(np.array([0.01, 0.1])) == [0.01, 0.1]
    assert faig.check_fractions((np.float32(0.5), 0.25)) == [0.5, 0.25]


def test_masking_experiment_checks_its_arguments_before_any_work(pair, monkeypatch):
    pytest.importorskip("pandas")
    base, targ = pair
    monkeypatch.setattr(faig.masking, "engine_for", lambda *a, **k: pytest.fail("an engine was built for a bad argument"))
    hrs = [np.zeros((16, 16, 3))]
    for kw, words in ((dict(fractions="0.01"), "fractions must be numbers"),
                      (dict(methods=["faig", "x"]), "unknown method 'x'"), (dict(methods=[]), "methods is empty"),
                      (dict(degradations=["jpeg"]), "unknown degradation 'jpeg'"),
                      (dict(rank_for=3), "rank_for must be a name or a list"),
                      (dict(steps=10 ** 9), "ceiling"), (dict(steps="5"), "steps must be an integer"),
                      (dict(seed=0.5), "seed must be an integer"), (dict(callback="x"), "callback must be")):
        with pytest.raises(InputError, match=words):
            faig.masking_experiment(base, targ, hrs, **kw)


def test_masking_experiment_takes_single_names_and_one_fraction():
    pytest.importorskip("pandas")
    baseline, target = zoo.faig_pair()
    hrs = [np.random.default_rng(0).random((16, 16, 3))]
    frame = faig.masking_experiment(baseline, target, hrs, fractions=0.05, methods="random", degradations="noise",
                                    steps=1)
    assert len(frame) == 1 and frame.method.iloc[0] == "random" and frame.fraction.iloc[0] == 0.05


def test_masking_table_takes_one_image_and_images_of_different_sizes(pair):
    base, targ = pair
    rng = np.random.default_rng(0)
    one = faig.masking_table(base, targ, rng.random((16, 16, 3)), fraction=0.05, steps=1)
    mixed = faig.masking_table(base, targ, [rng.random((16, 16, 3)), rng.random((20, 18, 3))], fraction=0.05,
                               steps=1)
    assert set(one) == set(mixed) == set(faig.METHODS) and all(np.isfinite(v) for v in mixed.values())


def test_masking_table_refuses_a_string_fraction(pair):
    with pytest.raises(InputError, match="fraction must be a finite number"):
        faig.masking_table(*pair, [np.zeros((16, 16, 3))], fraction="0.01")


@pytest.mark.parametrize("filters, words", [
    ("conv_first", "got 'conv_first'"), (None, "filters must be a list"), ([1.5], "got 1.5"),
    ([("conv_first", 1.5, 0)], "out and in are integers"), ([-1], "out of range")])
def test_mask_refuses_bad_filters(pair, filters, words):
    with pytest.raises(InputError, match=words):
        mask(pair[1], pair[0], filters)


def test_mask_takes_one_filter_tuple_and_refuses_a_result(pair, images):
    base, targ = pair
    one = mask(targ, base, ("conv_first", 0, 0))
    assert torch.equal(one.conv_first.weight[0, 0], base.conv_first.weight[0, 0])
    assert torch.equal(one.conv_first.weight[1], targ.conv_first.weight[1])
    lr, _, hr = images
    with pytest.raises(InputError, match="not a FAIGResult"):
        mask(targ, base, FAIG(base, targ).attribute(lr, hr, steps=1))


def test_mask_and_modulate_check_biases_and_lam(pair):
    base, targ = pair
    with pytest.raises(InputError, match="biases must be True or False"):
        mask(targ, base, [], biases="no")
    for lam in (float("nan"), "0.5"):
        with pytest.raises(InputError, match="lam must be a finite number"):
            modulate(targ, base, [], lam)


def test_rank_checks_seed_and_scores(pair):
    base, targ = pair
    n = len(conv_filters(targ))
    with pytest.raises(InputError, match="seed must be an integer"):
        rank("random", base, targ, seed=1.0)
    with pytest.raises(InputError, match=f"{n} are NaN or Inf"):
        rank("faig", base, targ, scores=np.full(n, np.nan))
    with pytest.raises(InputError, match="scores must be a FAIGResult"):
        rank("faig", base, targ, scores="abc")


def test_measures_refuse_bad_images():
    with pytest.raises(InputError, match="sr must be a float tensor"):
        faig.gradient_map([1, 2])
    with pytest.raises(InputError, match="must have one shape"):
        faig.output_difference(torch.zeros(3, 8, 8), torch.zeros(3, 8, 9))
    with pytest.raises(InputError, match="NaN"):
        faig.output_difference(torch.full((3, 8, 8), float("nan")), torch.zeros(3, 8, 8))


def test_degraded_inputs_take_one_name_and_check_the_seed():
    hr = _rand(3, 16, 16).float()
    assert list(faig.degraded_inputs([hr], "noise", 2)) == ["noise"]
    with pytest.raises(InputError, match="seed must be an integer"):
        faig.degraded_inputs([hr], ["noise"], 2, seed=0.5)
    with pytest.raises(InputError, match="unknown degradation"):
        faig.degraded_inputs([hr], ["jpeg"], 2)


def test_ranks_invert_the_ranking_and_layer_counts_count_chosen_filters():
    import numpy as np

    from srwidgets.faig import FAIGResult, layer_counts

    filters = [("a", 0, 0), ("a", 0, 1), ("b", 0, 0)]
    r = FAIGResult(scores=np.array([0.1, 0.9, 0.5]), filters=filters, per_image_scores=np.zeros((1, 3)),
                   per_image_degraded=np.zeros((1, 3)), per_image_other=None, term_sums=np.zeros(1),
                   loss_gaps=np.ones(1), steps=1)
    assert r.ranks.tolist() == [3, 1, 2]
    assert layer_counts(filters, [1, 2]) == {"a": 1, "b": 1}
    assert layer_counts(filters, []) == {"a": 0, "b": 0}


# -- issue 17: hostile use ---------------------------------------------------------------------------------------
def test_layer_counts_refuses_indices_out_of_range(pair):
    filters = faig.conv_filters(pair[1])
    assert sum(faig.layer_counts(filters, [0, len(filters) - 1]).values()) == 2
    for bad in ([len(filters)], [-1], [10 ** 7]):
        with pytest.raises(InputError, match="out of range"):
            faig.layer_counts(filters, bad)
    with pytest.raises(InputError, match="filter indices"):
        faig.layer_counts(filters, ["a"])
