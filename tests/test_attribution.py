"""The window-attribution family: one entry point, one result type, members on a thin base."""
import pytest
import torch
from torch import nn

import srwidgets
from srwidgets import attribution
from srwidgets.attribution import WindowAttribution, WindowMethod, register
from srwidgets.errors import InputError
from srwidgets.lam import LAM


def conv_sr(scale=2, seed=0, padding_mode="zeros"):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, padding_mode=padding_mode), nn.ReLU(),
                        nn.Conv2d(8, 3 * scale * scale, 3, padding=1, padding_mode=padding_mode),
                        nn.PixelShuffle(scale))
    net.scale = scale
    return net.eval()


@pytest.fixture(scope="module")
def model():
    return conv_sr()


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 13, 17, generator=torch.Generator().manual_seed(3))


WINDOW = (6, 8, 6)


def test_every_member_returns_the_common_result_with_an_lr_map(model, image):
    for name in ["lam", "ig", "gradient", "erf", "smoothgrad"]:
        r = srwidgets.attribute(model, image, WINDOW, name, **({"samples": 2} if name == "smoothgrad" else {}))
        assert isinstance(r, WindowAttribution), name
        assert tuple(r.map.shape) == (13, 17) and tuple(r.attribution.shape) == (3, 13, 17), name
        assert float(r.map.max()) == pytest.approx(1.0) and float(r.map.min()) >= 0, name
        assert 0 < r.diffusion_index < 100 and r.gini == pytest.approx(1 - r.diffusion_index / 100), name


def test_lam_member_equals_the_lam_engine_exactly(model, image):
    a = LAM(model).attribute(image, WINDOW, steps=12)
    b = srwidgets.attribute(model, image, WINDOW, "lam", steps=12)
    assert torch.equal(a.attribution, b.attribution) and a.diffusion_index == b.diffusion_index


def test_ig_from_black_equals_lams_straight_line_path(model, image):
    a = LAM(model).attribute(image, WINDOW, steps=10, path="black")
    b = srwidgets.attribute(model, image, WINDOW, "ig", baseline="black", steps=10)
    assert torch.allclose(a.attribution, b.attribution, atol=1e-5 * float(a.attribution.abs().max()))


def test_ig_random_baselines_match_lams_paths_for_the_same_seed(model, image):
    for baseline, path in [("uniform", "uniform"), ("gaussian", "gaussian"), ("blurred", "blurred"),
                           ("expected", "multi")]:
        a = LAM(model).attribute(image, WINDOW, steps=4, path=path, seed=5, sigma=1.0, kernel_size=5)
        b = srwidgets.attribute(model, image, WINDOW, "ig", baseline=baseline, steps=4, seed=5, sigma=1.0,
                                kernel_size=5)
        assert torch.allclose(a.attribution, b.attribution, atol=1e-5 * float(a.attribution.abs().max())), baseline


def test_ig_is_complete_up_to_the_riemann_error(model, image):
    coarse = srwidgets.attribute(model, image, WINDOW, "ig", baseline="max_distance", steps=5)
    fine = srwidgets.attribute(model, image, WINDOW, "ig", baseline="max_distance", steps=400)
    assert fine.completeness["gap"] < 0.05 and fine.completeness["gap"] < coarse.completeness["gap"]


def test_max_distance_baseline_is_the_farthest_image():
    x = torch.tensor([0.0, 0.2, 0.5, 0.9]).view(1, 1, 4).expand(3, 1, 4)
    base = attribution.ig.make_baselines(x.double(), "max_distance")[0]
    assert base[0, 0].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_ig_accepts_a_baseline_tensor_and_refuses_a_wrong_shape(model, image):
    r = srwidgets.attribute(model, image, WINDOW, "ig", baseline=torch.full_like(image, 0.5), steps=4)
    assert r.settings["baseline"] == "tensor"
    with pytest.raises(InputError, match="baseline tensor has shape"):
        srwidgets.attribute(model, image, WINDOW, "ig", baseline=torch.zeros(3, 4, 4))


def test_gradient_and_erf_share_the_gradient_and_differ_in_the_map_rule(model, image):
    g = srwidgets.attribute(model, image, WINDOW, "gradient")
    e = srwidgets.attribute(model, image, WINDOW, "erf")
    assert torch.equal(g.attribution, e.attribution)
    expect = e.attribution.double().abs().sum(0)
    assert torch.allclose(e.map.double(), expect / expect.max(), atol=1e-6)


def test_erf_member_equals_the_erf_function(model, image):
    from srwidgets.lam import effective_receptive_field

    a = effective_receptive_field(model, image, WINDOW)
    b = srwidgets.attribute(model, image, WINDOW, "erf")
    assert torch.allclose(a.map, b.map, atol=1e-6)


def test_gradient_on_the_crop_equals_the_whole_image(model, image):
    a = srwidgets.attribute(model, image, WINDOW, "gradient", crop=False)
    b = srwidgets.attribute(model, image, WINDOW, "gradient", crop=True)
    assert b.crop is not None and a.crop is None
    assert torch.allclose(a.attribution, b.attribution, atol=1e-6)


def test_smoothgrad_is_seeded_and_wraps_any_member(model, image):
    a = srwidgets.attribute(model, image, WINDOW, "smoothgrad", samples=3, seed=1)
    b = srwidgets.attribute(model, image, WINDOW, "smoothgrad", samples=3, seed=1)
    c = srwidgets.attribute(model, image, WINDOW, "smoothgrad", samples=3, seed=2)
    assert torch.equal(a.map, b.map) and not torch.equal(a.map, c.map)
    ig = srwidgets.attribute(model, image, WINDOW, "smoothgrad", inner="ig", samples=2, steps=3)
    assert ig.settings["inner"] == "ig" and ig.settings["steps"] == 3


def test_smoothgrad_with_no_noise_equals_its_inner_method(model, image):
    a = srwidgets.attribute(model, image, WINDOW, "smoothgrad", inner="gradient", samples=2, noise=0.0)
    b = srwidgets.attribute(model, image, WINDOW, "gradient")
    assert torch.allclose(a.attribution, b.attribution, atol=1e-7)


def test_smoothgrad_refuses_itself_as_inner(model, image):
    with pytest.raises(InputError, match="unknown inner 'smoothgrad'; choose one of: lam, ig, gradient"):
        srwidgets.attribute(model, image, WINDOW, "smoothgrad", inner="smoothgrad")
    with pytest.raises(InputError, match="wraps another method"):  # called directly, past the knob check
        attribution.engine(model, "smoothgrad").attribute(image, WINDOW, inner="smoothgrad")


def test_unknown_method_lists_the_members(model, image):
    with pytest.raises(InputError, match="choose one of: lam, ig, gradient"):
        srwidgets.attribute(model, image, WINDOW, "nope")


def test_bad_inputs_get_clear_errors(model, image):
    with pytest.raises(InputError, match="outside the SR image"):
        srwidgets.attribute(model, image, (30, 0, 8), "gradient")
    with pytest.raises(InputError, match="grey"):
        srwidgets.attribute(model, image[:1], WINDOW, "ig")
    with pytest.raises(InputError, match="steps must be an integer >= 1"):
        srwidgets.attribute(model, image, WINDOW, "ig", steps=0)
    with pytest.raises(InputError, match="ceiling"):
        srwidgets.attribute(model, image, WINDOW, "ig", steps=10 ** 9)
    with pytest.raises(InputError, match="NaN"):
        srwidgets.attribute(model, image * float("nan"), WINDOW, "erf")
    with pytest.raises(InputError, match="unknown objective"):
        srwidgets.attribute(model, image, WINDOW, "gradient", objective="psnr?")


def test_the_model_is_unchanged_by_every_member(model, image):
    net = conv_sr(seed=4).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for name in ["lam", "ig", "gradient", "erf", "smoothgrad"]:
        srwidgets.attribute(net, image, WINDOW, name, **({"samples": 1} if name == "smoothgrad" else {"steps": 2}
                                                         if name in ("lam", "ig") else {}))
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_cancel_stops_a_long_integration(model, image):
    from srwidgets.errors import Cancelled
    from srwidgets.progress import CancelToken

    token, seen = CancelToken(), []

    def callback(p):
        seen.append(p.done)
        token.cancel()

    with pytest.raises(Cancelled):
        srwidgets.attribute(model, image, WINDOW, "ig", steps=100_000, callback=callback, cancel=token)
    assert len(seen) == 1


def test_the_intensity_objective_attributes_brightness(model, image):
    r = srwidgets.attribute(model, image, WINDOW, "ig", objective="intensity", steps=50)
    assert r.settings["objective"] == "intensity" and r.completeness["gap"] < 0.05


class Occlusion(WindowMethod):
    """A new member written only with public names: the window objective's drop when one LR pixel is greyed."""

    name = "occlusion-test"
    map_rule = "sum_abs"

    def attribute(self, image, window, *, objective="gradient", callback=None, cancel=None):
        import time

        from srwidgets.engine import objectives, windows

        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        h, w = x.shape[1:]
        base = self.objective_value(x, window, objective)
        points = x[None].repeat(h * w, 1, 1, 1)
        idx = torch.arange(h * w)
        points[idx, :, idx // w, idx % w] = 0.5
        sr = torch.cat([self.prepared.forward(points[i:i + 32]) for i in range(0, h * w, 32)])
        win = windows.clip_window(window, self.scale, *sr.shape[-2:])
        drop = base - objectives.get_objective(objective)(sr.float(), win).double()
        a = (drop.view(h, w) / 3).to(x.device).expand(3, h, w)
        return self.result(x, window, a, t0=t0, settings={}, objective=objective)


def test_a_new_member_is_one_class_and_one_registration(model, image):
    register("occlusion-test", Occlusion)
    try:
        r = srwidgets.attribute(model, image, WINDOW, "occlusion-test")
        assert r.method == "occlusion-test" and tuple(r.map.shape) == (13, 17)
        assert "occlusion-test" in attribution.methods()
        # pixels far outside the two 3x3 convolutions' reach cannot change the window
        assert float(r.map[0, 0]) < 1e-5 and float(r.map.max()) == 1.0
    finally:
        attribution.unregister("occlusion-test")


def test_register_refuses_what_is_not_a_method():
    with pytest.raises(InputError, match="subclass of srwidgets.attribution.WindowMethod"):
        register("bad", object)


# -- found by an outside review: members with their own state, engine options, hooks, sloppy members -----------------
def test_smoothgrad_wraps_members_that_set_state_in_init(model, image):
    lam = srwidgets.attribute(model, image, WINDOW, "lam", steps=4)
    sg = srwidgets.attribute(model, image, WINDOW, "smoothgrad", inner="lam", samples=2, noise=0.0, steps=4)
    assert torch.allclose(sg.attribution.double(), lam.attribution.double(), atol=1e-6)
    hr = torch.rand(3, 26, 34, generator=torch.Generator().manual_seed(0))
    r = srwidgets.attribute(model, image, (4, 8, 4), "smoothgrad", inner="cem", samples=2, hr=hr, block=2, coarse=1,
                            fine=1)
    assert tuple(r.map.shape) == (13, 17) and r.settings["inner"] == "cem"


def test_engine_options_a_member_does_not_take_are_refused(model, image):
    with pytest.raises(InputError, match="autocast"):
        srwidgets.attribute(model, image, WINDOW, "gradient", autocast=True)
    with pytest.raises(InputError, match="channels_last"):
        srwidgets.attribute(model, image, WINDOW, "ig", channels_last=True, steps=2)
    srwidgets.attribute(model, image, WINDOW, "lam", autocast=False, steps=2)  # LAM's own options still work


@pytest.mark.parametrize("method", ["lam", "gradient", "ig", "smoothgrad"])
@pytest.mark.parametrize("hook", [{"callback": 5}, {"cancel": 5}, {"cancel": "yes"}])
def test_a_bad_callback_or_cancel_is_refused_before_any_work(model, image, method, hook):
    with pytest.raises(InputError, match="callback must be|cancel must be"):
        srwidgets.attribute(model, image, WINDOW, method, **hook)


def test_an_objective_that_returns_no_tensor_is_refused(model, image):
    with pytest.raises(InputError, match="objective must return"):
        srwidgets.attribute(model, image, WINDOW, "gradient", objective=lambda sr, win: "not a tensor")
    with pytest.raises(InputError, match="objective must return"):
        srwidgets.attribute(model, image, WINDOW, "gradient", objective=lambda sr, win: sr[:, 0, :2, :2].flatten(1))


def test_attribute_leaves_the_model_unchanged_even_when_a_member_forgets_the_guard(image):
    class Unguarded(WindowMethod):
        name, map_rule = "unguarded-test", "sum_abs"

        def attribute(self, image, window, *, callback=None, cancel=None):
            x, window = self.inputs(image, window)
            self.model.train()  # a careless member: train mode, a forward that updates BatchNorm statistics
            self.model(x[None].float())
            return self.result(x, window, x.clone(), t0=0.0, settings={})

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.BatchNorm2d(12), nn.PixelShuffle(2)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    register("unguarded-test", Unguarded)
    try:
        srwidgets.attribute(net, image, WINDOW, "unguarded-test")
    finally:
        attribution.unregister("unguarded-test")
    assert not net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    Unguarded(net, scale=2).attribute(image, WINDOW)  # called directly (the widget, di_table): guarded too
    assert not net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert attribution.accepted_arguments(Unguarded) == {"callback", "cancel"}  # the guard keeps the signature the family reads


def test_lam_called_directly_refuses_a_bad_callback_before_any_work(model, image):
    from srwidgets.lam import LAM

    with pytest.raises(InputError, match="callback must be"):
        LAM(model).attribute(image, WINDOW, steps=2, callback=5)
