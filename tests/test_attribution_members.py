"""The members added in issue 24 (occlusion, input_x_gradient, gradcam, hirescam, captum), with Captum as an
independent oracle: our ig and gradient equal Captum's IntegratedGradients / Saliency on the window objective;
occlusion equals Captum's Occlusion. x4-fsrcnn on 32x32 LR crops; windows at image edges; several images."""
from __future__ import annotations

import pytest
import torch

import srwidgets
from srwidgets import attribution, data, degrade, zoo
from srwidgets.testing import check_member
from srwidgets.engine import clip_window, gradient_detector
from srwidgets.errors import InputError

captum_attr = pytest.importorskip("captum.attr")

NEW = {"occlusion": dict(patch=2, stride=2), "input_x_gradient": {}, "gradcam": {}, "hirescam": {},
       "captum": dict(algorithm="DeepLift")}


@pytest.fixture(scope="module")
def model():
    return zoo.load("x4-fsrcnn")


def lr_of(name: str, side: int = 32) -> torch.Tensor:
    hr = data.image(name, modcrop=4)[:, 40:40 + 4 * side, 60:60 + 4 * side]
    return degrade.bicubic_down(hr, 4).clamp(0, 1)


def objective(model, window, sr_side):
    """D(F(p)) on the whole image, as Captum sees it: the oracle's own forward (no crop, no split tail)."""
    local = clip_window(window, 4, sr_side, sr_side)
    return lambda p: gradient_detector(model(p), local)


WINDOW = (48, 52, 16, 16)


def test_ig_equals_captum_integrated_gradients_right_riemann(model):
    x = lr_of("astronaut")
    ours = srwidgets.attribute(model, x, WINDOW, method="ig", baseline="black", steps=16).attribution.double()
    ref = captum_attr.IntegratedGradients(objective(model, WINDOW, 128)).attribute(
        x[None].float(), baselines=0.0, n_steps=16, method="riemann_right")[0].detach().double()
    err = float((ours - ref).abs().max() / ref.abs().max())
    assert err < 1e-5, err


def test_gradient_equals_captum_saliency(model):
    x = lr_of("coffee")
    ours = srwidgets.attribute(model, x, WINDOW, method="gradient").attribution.double()
    ref = captum_attr.Saliency(objective(model, WINDOW, 128)).attribute(x[None].float(), abs=False)[0].detach().double()
    err = float((ours - ref).abs().max() / ref.abs().max())
    assert err < 1e-5, err


def test_input_x_gradient_equals_captum(model):
    x = lr_of("chelsea")
    ours = srwidgets.attribute(model, x, WINDOW, method="input_x_gradient").attribution.double()
    ref = captum_attr.InputXGradient(objective(model, WINDOW, 128)).attribute(x[None].float())[0].detach().double()
    assert float((ours - ref).abs().max() / ref.abs().max()) < 1e-5


@pytest.mark.parametrize("patch,stride,fill", [(2, 2, 0.0), (4, 2, 0.5), (3, 3, 1.0)])
def test_occlusion_equals_captum_occlusion(model, patch, stride, fill):
    x = lr_of("astronaut", 24)
    window = (40, 36, 16, 16)
    ours = srwidgets.attribute(model, x, window, method="occlusion", patch=patch, stride=stride, fill=fill)
    ref = captum_attr.Occlusion(objective(model, window, 96)).attribute(
        x[None].float(), sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride), baselines=fill)[0]
    ref = torch.nan_to_num(ref.detach().double())  # pixels no square covers (an unaligned last row): 0 here, 0/0 there
    err = float((ours.attribution.double() - ref).abs().max() / ref.abs().max())
    assert err < 1e-4, err
    assert ours.extras == {} and ours.settings["patch"] == patch


def test_captum_adapter_runs_any_algorithm_with_our_window_crop_and_result(model):
    x = lr_of("astronaut")
    ig = srwidgets.attribute(model, x, WINDOW, method="ig", baseline="black", steps=16)
    r = srwidgets.attribute(model, x, WINDOW, method="captum", algorithm="IntegratedGradients", n_steps=16)
    assert r.method == "captum" and r.crop == ig.crop and r.map.shape == (32, 32)  # Gauss-Legendre: close, not equal
    assert float((r.map - ig.map).abs().max()) < 0.05
    for algorithm, kw in [("DeepLift", {}), ("GradientShap", dict(n_samples=4)), ("LayerGradCam", dict(layer=-1)),
                          ("Occlusion", dict(sliding_window_shapes=(3, 2, 2)))]:
        r = srwidgets.attribute(model, x, WINDOW, method="captum", algorithm=algorithm, **kw)
        assert r.map.shape == (32, 32) and float(r.map.max()) == 1.0, algorithm
    with pytest.raises(InputError, match="not a Captum attribution class; choose one of: .*DeepLift"):
        srwidgets.attribute(model, x, WINDOW, method="captum", algorithm="DeepLiftt")
    with pytest.raises(InputError, match="does not take n_stepz"):
        srwidgets.attribute(model, x, WINDOW, method="captum", algorithm="IntegratedGradients", n_stepz=3)


def test_captum_missing_says_how_to_install(model, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_captum(name, *args, **kwargs):
        if name.startswith("captum"):
            raise ImportError("No module named 'captum'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_captum)
    with pytest.raises(InputError, match=r'pip install "srwidgets\[captum\]"'):
        srwidgets.attribute(model, lr_of("astronaut"), WINDOW, method="captum")


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_every_new_member_on_windows_at_the_image_edges(model, name):
    x = lr_of(name, 24)
    for window in [(0, 0, 16), (80, 80, 16), (0, 78, 16, 18), (88, 0, 8, 16)]:
        for method, knobs in NEW.items():
            r = srwidgets.attribute(model, x, window, method=method, **knobs)
            assert r.map.shape == (24, 24) and bool(torch.isfinite(r.map).all()), (method, window)
            assert float(r.map.max()) == 1.0, (method, window)  # something is attributed
            t, l = window[0] // 4, window[1] // 4
            if method != "gradcam":  # the local members put mass next to the window
                near = r.map[max(0, t - 6):t + 10, max(0, l - 6):l + 10].sum() / r.map.sum()
                assert float(near) > 0.5, (method, window, float(near))


def test_cam_variants_layer_by_name_or_index(model):
    x = lr_of("astronaut")
    eng = attribution.engine(model, "hirescam")
    layers = eng.layers(eng.inputs(x, WINDOW)[0])
    a = srwidgets.attribute(model, x, WINDOW, method="hirescam", layer=layers[-2])
    b = srwidgets.attribute(model, x, WINDOW, method="hirescam", layer=-2)
    assert a.settings["layer"] == b.settings["layer"] == layers[-2] and torch.equal(a.map, b.map)
    with pytest.raises(InputError, match="out of range"):
        srwidgets.attribute(model, x, WINDOW, method="gradcam", layer=len(layers))
    with pytest.raises(InputError, match="unknown layer 'nope'"):
        srwidgets.attribute(model, x, WINDOW, method="gradcam", layer="nope")


def locality(amap: torch.Tensor, window, scale: int = 4, margin: int = 10) -> float:
    """Share of the map's mass within ±margin LR px of the window's LR footprint."""
    t, l, h, w = window
    m = amap.double()
    return float(m[max(0, t // scale - margin):(t + h - 1) // scale + margin + 1,
                   max(0, l // scale - margin):(l + w - 1) // scale + margin + 1].sum() / m.sum())


@pytest.mark.slow
def test_hirescam_is_local_and_gradcam_is_not_on_edsr_lite():
    model = zoo.load("x4-edsr-lite")
    for name in ["astronaut", "coffee"]:
        x = degrade.bicubic_down(data.image(name, modcrop=4), 4).clamp(0, 1)[:, :64, :64]
        for window in [(98, 84, 16, 16), (32, 160, 16, 16)]:
            hires = locality(srwidgets.attribute(model, x, window, method="hirescam").map, window)
            grad = locality(srwidgets.attribute(model, x, window, method="gradcam").map, window)
            assert hires > 0.99 and grad < 0.3, (name, window, hires, grad)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(NEW))
def test_each_new_member_through_every_surface(method):
    cls = attribution.method_class(method)
    knobs = {k: v for k, v in NEW[method].items()}
    check_member(cls, knobs=knobs)
