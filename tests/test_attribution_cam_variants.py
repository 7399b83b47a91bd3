"""A CAM variant is one override of GradCAM.cam_weights, its own knobs declared and passed to it; and the CLI says
when a map is all zero (LAM's Gini of a flat map is 0, so DI 100 would read as a wide map)."""
import pytest
import torch

import srwidgets
from srwidgets import attribution, data, zoo
from srwidgets.attribution import GradCAM, Knob
from srwidgets.__main__ import main as cli_main
from srwidgets.errors import InputError

from _helpers import zero_cam


class PowerCAM(GradCAM):
    name, description = "power_cam_test", "|∂D/∂A|^power ⊙ A"
    knobs = GradCAM.knobs + (Knob("power", "float", 1.0, "exponent of |∂D/∂A|", low=0.5, high=3.0, step=0.5),)

    def cam_weights(self, activation, gradient, power=1.0):
        return gradient.abs() ** power


@pytest.fixture
def registered():
    attribution.register(PowerCAM.name, PowerCAM)
    yield PowerCAM.name
    attribution.unregister(PowerCAM.name)


def test_a_variants_own_knob_reaches_cam_weights_and_is_recorded(registered):
    model, lr = zoo.load("x4-fsrcnn"), data.lr_image("chelsea", 4)
    one = srwidgets.attribute(model, lr, (64, 128, 16), method=registered, layer=-1)
    two = srwidgets.attribute(model, lr, (64, 128, 16), method=registered, layer=-1, power=2.0)
    assert two.settings["power"] == 2.0 and one.settings.get("power", 1.0) == 1.0
    assert not torch.allclose(one.map, two.map)
    # by hand: ReLU(Σ_k |∂D/∂A_k|² A_k) at the same layer
    eng = attribution.engine(model, registered)
    x, win = eng.inputs(lr, (64, 128, 16))
    act, grad, _ = eng.layer_gradients(x, win, -1)
    expect = torch.relu((grad.abs() ** 2 * act).sum(0))[: x.shape[1], : x.shape[2]]
    got = two.map.to(expect)
    assert torch.allclose(got / got.max(), expect / expect.max(), atol=1e-6)


def test_a_variants_knob_is_checked_and_an_unknown_option_refused(registered):
    model, lr = zoo.load("x4-fsrcnn"), data.lr_image("chelsea", 4)
    with pytest.raises(InputError, match="power"):
        srwidgets.attribute(model, lr, (64, 128, 16), method=registered, power=9.0)
    with pytest.raises(InputError, match="powr"):
        srwidgets.attribute(model, lr, (64, 128, 16), method=registered, powr=2.0)
    with pytest.raises(InputError, match="powr"):  # called directly, past srwidgets.attribute's check
        PowerCAM(model).attribute(lr, (64, 128, 16), powr=2.0)


def test_the_cli_says_when_the_map_is_all_zero(tmp_path, capsys):
    ZeroCAM = zero_cam("zero_cam_test")
    attribution.register(ZeroCAM.name, ZeroCAM)
    try:
        lr_path = tmp_path / "lr.png"
        from PIL import Image
        Image.fromarray((data.lr_image("coffee", 4).permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(lr_path)
        assert cli_main(["lam", str(lr_path), "--model", "x4-fsrcnn", "--window", "0,0,16", "--method", ZeroCAM.name,
                         "--out", str(tmp_path / "o.png"), "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert "all zero" in err
        assert cli_main(["lam", str(lr_path), "--model", "x4-fsrcnn", "--window", "0,0,16", "--method", "hirescam",
                         "--out", str(tmp_path / "p.png"), "--no-progress"]) == 0
        assert "all zero" not in capsys.readouterr().err
    finally:
        attribution.unregister(ZeroCAM.name)
