"""srwidgets.trust.planted: the planted models depend on what they claim, methods are scored on it, bad input."""
import pytest
import torch

from srwidgets import data, trust, zoo
from srwidgets.engine.objectives import gradient_detector
from srwidgets.errors import InputError

WINDOW = (98, 84, 16, 16)  # LR footprint rows 24..28, columns 21..24


@pytest.fixture(scope="module")
def case():
    return zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4).double()


def window_value(model, x):
    with torch.no_grad():
        y = model(x[None].float())
    t, l, h, w = WINDOW
    return float(gradient_detector(y, (t, l, h, w))[0])


def replaced(x, box, value=0.5):
    t, l, h, w = box
    out = x.clone()
    out[:, t:t + h, l:l + w] = value
    return out


@pytest.mark.parametrize("kind", ["gate", "brightness"])
def test_gates_depend_on_the_patch_and_nothing_else_far_away(case, kind):
    model, x = case
    r = trust.planted(model, x, WINDOW, "gradient", kind=kind)
    planted = r["model"]
    t, l, s = r["patch"]
    base = window_value(planted, x)
    assert window_value(planted, replaced(x, (t, l, s, s), 0.0)) < 0.05 * base  # removing the patch closes the gate
    # a far box of the same size, outside fsrcnn's receptive field of the window and away from the patch
    far = (0, 0, 8, 8) if t > 20 else (56, 0, 8, 8)
    assert window_value(planted, replaced(x, far)) == pytest.approx(base, rel=1e-6)
    assert window_value(planted, x) == pytest.approx(r["gate"] * window_value(model, x), rel=1e-5)


def test_copy_window_reads_only_the_shifted_box(case):
    model, x = case
    r = trust.planted(model, x, WINDOW, "gradient", kind="copy")
    planted = r["model"]
    base = window_value(planted, x)
    assert window_value(planted, replaced(x, (22, 19, 9, 8))) == pytest.approx(base, rel=1e-6)  # the footprint
    t, l, s = r["patch"]
    assert abs(window_value(planted, replaced(x, (t + 2, l + 2, 4, 4))) - base) > 0.05 * base
    assert r["passed"] and r["hit"] and r["share"] > 0.9  # the control every method must pass


def test_the_gradient_misses_a_saturated_gate(case):
    model, x = case
    r = trust.planted(model, x, WINDOW, "gradient", kind="gate")
    assert r["gate"] > 0.999 and r["share"] < 0.5 and not r["passed"]


@pytest.mark.slow
def test_a_blur_path_finds_the_gate(case):
    model, x = case
    r = trust.planted(model, x, WINDOW, "ig", kind="gate", baseline="blurred", steps=10)
    assert r["share"] > 0.5 and r["hit"] and r["passed"]


def test_users_model_is_unchanged(case):
    model, x = case
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        trust.planted(model, x, WINDOW, "gradient", kind="gate")
        assert model.training and all(p.requires_grad for p in model.parameters())
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    finally:
        model.eval()


@pytest.mark.parametrize("kw,match", [
    ({"kind": "shadow"}, "kind='shadow'"),
    ({"patch": (60, 60)}, r"patch=\(60, 60\).*does not fit"),
    ({"patch": (24, 20)}, r"patch=\(24, 20\).*overlaps the window"),
    ({"distance": 200}, "no 8x8 patch fits 200"),
    ({"size": 1}, "size=1"),
    ({"gain": 0}, "gain"),
])
def test_bad_arguments_name_the_argument(case, kw, match):
    model, x = case
    with pytest.raises(InputError, match=match):
        trust.planted(model, x, WINDOW, "gradient", **kw)


def test_unknown_method_lists_the_members(case):
    model, x = case
    with pytest.raises(InputError, match="unknown method"):
        trust.planted(model, x, WINDOW, "nope")
