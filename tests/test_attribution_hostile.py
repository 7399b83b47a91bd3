"""Hostile checks of the window-attribution family (issue 24's acceptance, from outside): a layer after the
upsampling mapped to the LR grid (never its top-left corner), an all-zero map said (never silent), Captum's classes
that do not fit one window refused in words, user baselines of the whole image cut to the crop, a long Captum
run cancelled between its forward passes with the model left as it came. x4-fsrcnn on small crops of a photo."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

import srwidgets
from srwidgets import attribution, data, degrade, zoo
from srwidgets.attribution.base import EMPTY_MAP
from srwidgets.errors import Cancelled, InputError

WINDOW = (40, 28, 12, 20)  # non-square, SR px


@pytest.fixture(scope="module")
def model():
    return zoo.load("x4-fsrcnn")


@pytest.fixture(scope="module")
def lr():
    hr = data.image("coffee", modcrop=4)[:, 100:100 + 4 * 21, 37:37 + 4 * 19]  # odd LR size 21 x 19
    return degrade.bicubic_down(hr, 4).clamp(0, 1).contiguous()


def state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, model.training,
            [p.requires_grad for p in model.parameters()],
            sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()))


def same_state(model, before):
    now = state(model)
    return all(torch.equal(before[0][k], now[0][k]) for k in before[0]) and before[1:] == now[1:]


def test_cam_on_a_layer_after_the_upsampling_is_block_averaged_not_its_top_left_corner(model, lr):
    eng = attribution.engine(model, "hirescam")
    assert "last_part" not in eng.layers(lr)  # SR resolution: not an LR layer, but a module name is accepted
    r = srwidgets.attribute(model, lr, WINDOW, method="hirescam", layer="last_part")
    act, grad, _ = eng.layer_gradients(eng.inputs(lr, WINDOW)[0], WINDOW, "last_part")
    assert act.shape[-2:] == (4 * 21, 4 * 19)
    cam = torch.relu((grad * act).sum(0))
    ref = F.avg_pool2d(cam[None, None], 4)[0, 0]
    assert torch.allclose(r.attribution.double().sum(0), ref, rtol=1e-5, atol=1e-9)
    # the map sits on the window's LR pixels (rows 10..12, cols 7..11), not in the image's top-left corner
    peak = divmod(int(r.map.argmax()), 19)
    assert 9 <= peak[0] <= 13 and 6 <= peak[1] <= 12


def test_an_all_zero_map_is_said_not_silent(model, lr):
    flat = lambda sr, window: sr.sum(dim=(1, 2, 3)) * 0.0  # noqa: E731  (an objective the input cannot change)
    with pytest.warns(UserWarning, match=EMPTY_MAP):
        r = srwidgets.attribute(model, lr, WINDOW, method="input_x_gradient", objective=flat)
    assert float(r.map.max()) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a map with something in it: no warning
        srwidgets.attribute(model, lr, WINDOW, method="input_x_gradient")


@pytest.mark.parametrize("algorithm, says", [("NoiseTunnel", "smoothgrad"), ("FeaturePermutation", "FeatureAblation"),
                                             ("DeepLiftShap", "distribution of baselines")])
def test_captum_classes_that_do_not_fit_one_window_are_refused_in_words(model, lr, algorithm, says):
    pytest.importorskip("captum.attr")
    before = state(model)
    with pytest.raises(InputError, match=says):
        srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm=algorithm)
    assert same_state(model, before)


def test_captum_baselines_of_the_whole_image_are_cut_to_the_crop(model, lr):
    pytest.importorskip("captum.attr")
    two = torch.stack([torch.zeros_like(lr), torch.full_like(lr, 0.5)])
    r = srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm="DeepLiftShap", baselines=two)
    assert r.crop is not None and tuple(r.map.shape) == (21, 19) and float(r.map.max()) == 1.0
    dl = srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm="DeepLift", baselines=torch.zeros_like(lr))
    ref = srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm="DeepLift")  # baseline=0.0
    assert torch.allclose(dl.attribution, ref.attribution)
    with pytest.raises(InputError, match=r"baselines must be \[3, 21, 19\]"):
        srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm="DeepLift", baselines=torch.zeros(3, 5, 5))


def test_a_long_captum_run_is_cancelled_between_forward_passes_and_the_model_left_as_it_came(model, lr):
    pytest.importorskip("captum.attr")
    model.train()
    before, x0, calls = state(model), lr.clone(), []
    try:
        with pytest.raises(Cancelled):
            srwidgets.attribute(model, lr, WINDOW, method="captum", algorithm="FeatureAblation",
                                cancel=lambda: calls.append(1) or len(calls) > 3)
        assert 3 < len(calls) < 20  # stopped inside the ablation (a forward per LR pixel and channel), not after
        assert same_state(model, before) and torch.equal(lr, x0)
    finally:
        model.eval()


def test_captum_arguments_reach_the_algorithm_from_the_cli_as_options(model, lr, tmp_path):
    """Occlusion has a required argument (sliding_window_shapes): on the command line it comes as --options."""
    pytest.importorskip("captum.attr")
    from PIL import Image

    from srwidgets.__main__ import main

    path = tmp_path / "lr.png"
    Image.fromarray((lr * 255).round().byte().permute(1, 2, 0).numpy()).save(path)
    args = ["lam", str(path), "--model", "x4-fsrcnn", "--window", "0,0,8", "--method", "captum", "--algorithm",
            "Occlusion", "--no-progress", "--out", str(tmp_path / "map.png")]
    assert main(args + ["--options", "sliding_window_shapes=(3, 4, 4), strides=(3, 4, 4)"]) in (0, None)
    for bad, says in [("import os", "name=value"), ("x=__import__('os')", "literal"), ("strides=1, strides=2", "twice")]:
        with pytest.raises(InputError, match=says):
            srwidgets.attribute(model, lr, (0, 0, 8), method="captum", algorithm="Occlusion", options=bad)
    with pytest.raises(InputError, match="given twice"):
        srwidgets.attribute(model, lr, (0, 0, 8), method="captum", options="n_steps=2", n_steps=3)
    a = srwidgets.attribute(model, lr, (0, 0, 8), method="captum", options="n_steps=4")
    b = srwidgets.attribute(model, lr, (0, 0, 8), method="captum", n_steps=4)
    assert torch.equal(a.attribution, b.attribution) and a.settings["n_steps"] == 4


def test_occlusion_whose_squares_miss_the_window_is_refused_not_an_empty_map(model, lr):
    with pytest.raises(InputError, match="smaller stride"):
        srwidgets.attribute(model, lr, (70, 60, 8), method="occlusion", patch=1, stride=64)


class _Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        y = self.c(x)
        return y, y


class _Awkward(torch.nn.Module):
    """x2: a module called twice (shared), one returning a tuple, one never called."""

    scale = 2

    def __init__(self):
        super().__init__()
        self.head, self.shared = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)
        self.pair, self.unused = _Pair(), torch.nn.Conv2d(8, 8, 1)
        self.tail = torch.nn.Sequential(torch.nn.Conv2d(8, 12, 3, padding=1), torch.nn.PixelShuffle(2))

    def forward(self, x):
        a, b = self.pair(self.shared(self.shared(torch.relu(self.head(x)))))
        return self.tail(a + b)


@pytest.mark.parametrize("layer, says", [("shared", "runs 2 times"), ("pair", "returns tuple"),
                                         ("unused", "did not run")])
def test_a_layer_captum_cannot_read_one_tensor_of_is_refused_as_cams_refuse_it(lr, layer, says):
    pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    net = _Awkward()
    before = state(net)
    for method, extra in [("gradcam", {}), ("hirescam", {}), ("captum", dict(algorithm="LayerGradCam"))]:
        with pytest.raises(InputError, match=says):
            srwidgets.attribute(net, lr, (4, 6, 8, 10), method=method, layer=layer, **extra)
    assert same_state(net, before)
    r = srwidgets.attribute(net, lr, (4, 6, 8, 10), method="captum", algorithm="LayerGradCam", layer="pair.c")
    assert tuple(r.map.shape) == (21, 19)


class _NoPower(attribution.GradCAM):
    name = "_nopower"
    knobs = attribution.GradCAM.knobs + (attribution.Knob("power", "float", 1.0, "exponent", low=0.1, high=3.0),)

    def cam_weights(self, activation, gradient):  # forgot power
        return gradient


class _Flat(attribution.GradCAM):
    name = "_flat"

    def cam_weights(self, activation, gradient):  # [C]: not [C, 1, 1]
        return gradient.mean(dim=(1, 2))


class _NaN(attribution.GradCAM):
    name = "_nan"

    def cam_weights(self, activation, gradient):
        return gradient * float("nan")


@pytest.mark.parametrize("cls, says", [(_NoPower, "must take its knob power"), (_Flat, r"\[C, 1, 1\]"),
                                       (_NaN, "not finite")])
def test_a_contributors_cam_variant_mistake_is_said_in_words(model, lr, cls, says):
    before = state(model)
    with pytest.raises(InputError, match=says):
        srwidgets.attribute(model, lr, WINDOW, method=cls, **({"power": 2.0} if cls is _NoPower else {}))
    assert same_state(model, before)


@pytest.mark.slow
def test_captum_options_through_every_surface():
    """attribute, the LAM widget's text control, the CLI's --options and di_table with its resume record."""
    pytest.importorskip("captum.attr")
    from srwidgets.testing import check_member

    out = check_member(attribution.CaptumMethod, knobs={"algorithm": "Occlusion",
                                                        "options": "sliding_window_shapes=(3, 4, 4), strides=(3, 4, 4)"})
    assert out["attribute"].settings["sliding_window_shapes"] == (3, 4, 4)
