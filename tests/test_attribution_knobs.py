"""Knobs as data (srwidgets.attribution.knobs) and the registry: register / unregister, entry-point plugins."""
from __future__ import annotations

import sys
import textwrap

import pytest
import torch

import srwidgets
from srwidgets import attribution
from srwidgets.attribution import Knob, WindowMethod, check_knobs, knobs_of
from srwidgets.errors import InputError


def test_a_knob_checks_and_parses_by_kind():
    steps = Knob("steps", "int", 50, "path steps", low=1, high=100)
    assert steps.check(20) == 20 and steps.parse("30") == 30 and type(steps.check(torch.tensor(3).item())) is int
    for bad in (0, 101, 2.5, True, "7"):
        with pytest.raises(InputError, match="steps"):
            steps.check(bad)
    with pytest.raises(InputError, match="steps must be an integer"):
        steps.parse("many")
    fill = Knob("fill", "float", 0.0, low=0, high=1)
    assert fill.check(1) == 1.0 and isinstance(fill.check(1), float) and fill.parse("0.25") == 0.25
    with pytest.raises(InputError, match="fill"):
        fill.check(float("nan"))
    flag = Knob("flip", "bool", False)
    assert flag.parse("yes") is True and flag.parse("0") is False and flag.check(True) is True
    with pytest.raises(InputError, match="flip must be True or False"):
        flag.check("no")
    pick = Knob("kind", "choice", "a", choices=lambda: ("a", "b"))
    assert pick.check("b") == "b" and pick.options() == ("a", "b")
    with pytest.raises(InputError, match="unknown kind 'c'; choose one of: a, b"):
        pick.check("c")
    layer = Knob("layer", "layer", None)
    assert layer.parse("-2") == -2 and layer.parse("body.3") == "body.3" and layer.parse("none") is None
    with pytest.raises(InputError, match="layer must be a layer"):
        layer.check(1.5)


def test_a_malformed_knob_is_refused_when_declared():
    with pytest.raises(InputError, match="kind must be one of"):
        Knob("x", "tensor", None)
    with pytest.raises(InputError, match="not knobs"):
        Knob("objective", "str", "gradient")
    with pytest.raises(InputError, match="needs choices"):
        Knob("c", "choice", "a")


def test_every_member_declares_its_knobs_and_capabilities():
    for name, cls in attribution.members().items():
        assert isinstance(cls.knobs, tuple), name
        assert cls.kind in ("gradient", "forward", "layer", "wrapper"), name
        for k in knobs_of(cls):
            if k.default is not None and not k.other:
                assert k.check(k.default) == k.default, (name, k.name)
    assert attribution.method_class("cem").needs_hr and attribution.method_class("cem").block_grid == 8
    assert attribution.method_class("cem").many_windows and attribution.method_class("occlusion").kind == "forward"


def test_undeclared_knobs_are_inferred_from_the_signature():
    class Plain(WindowMethod):
        def attribute(self, image, window, *, radius: int = 3, gain: float = 1.0, mode: str = "a", flip=False,
                      mask=None, objective="gradient", callback=None, cancel=None):
            raise NotImplementedError

    assert [(k.name, k.kind, k.default) for k in knobs_of(Plain)] == [
        ("radius", "int", 3), ("gain", "float", 1.0), ("mode", "str", "a"), ("flip", "bool", False)]
    assert check_knobs(Plain, {"radius": 5, "mask": "anything"}) == {"radius": 5, "mask": "anything"}
    with pytest.raises(InputError, match="does not take radiu; its options are: flip, gain, mode, objective, radius"):
        check_knobs(Plain, {"radiu": 5})
    with pytest.raises(InputError, match="radius must be an integer"):
        check_knobs(Plain, {"radius": "5"})


def test_attribute_refuses_a_typo_and_a_bad_value_before_running():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2))
    x = torch.rand(3, 12, 12)
    with pytest.raises(InputError, match="does not take patchh"):
        srwidgets.attribute(model, x, (4, 4, 8), method="occlusion", patchh=2)
    with pytest.raises(InputError, match="fill must be a finite number >= 0 and <= 1"):
        srwidgets.attribute(model, x, (4, 4, 8), method="occlusion", fill=2.0)


class _Tiny(WindowMethod):
    description = "test member"
    knobs = (Knob("gain", "float", 1.0, low=0),)

    def attribute(self, image, window, *, gain=1.0, objective="gradient", callback=None, cancel=None):
        x, window = self.inputs(image, window)
        g = self.gradients(x[None], window, objective)[0]
        return self.result(x, window, gain * g, t0=0.0, settings=dict(gain=gain), objective=objective)


def test_register_and_unregister():
    attribution.register("tiny-test", _Tiny)
    try:
        assert attribution.methods()["tiny-test"] == "test member" and attribution.method_class("tiny-test") is _Tiny
    finally:
        assert attribution.unregister("tiny-test") is _Tiny
    assert "tiny-test" not in attribution.methods()
    with pytest.raises(InputError, match="no such method"):
        attribution.unregister("tiny-test")
    with pytest.raises(InputError, match="letters, digits"):
        attribution.register("a b", _Tiny)


def _plugin(tmp_path, name, target, module_source):
    (tmp_path / "plugmod_srw.py").write_text(textwrap.dedent(module_source))
    dist = tmp_path / "plugdist_srw-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugdist-srw\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[srwidgets.methods]\n{name} = {target}\n")


def test_an_installed_plugin_is_found_by_name_and_a_broken_one_is_reported(tmp_path, monkeypatch):
    _plugin(tmp_path, "plug-test", "plugmod_srw:Doubled", """
        from srwidgets.attribution import WindowMethod

        class Doubled(WindowMethod):
            description = "a plugin member"

            def attribute(self, image, window, *, factor: int = 2, objective="gradient", callback=None, cancel=None):
                x, window = self.inputs(image, window)
                g = self.gradients(x[None], window, objective)[0]
                return self.result(x, window, factor * g, t0=0.0, settings={}, objective=objective)
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cls = attribution.method_class("plug-test")  # an unknown name reads the entry points again
        assert cls.__name__ == "Doubled" and "plug-test" in attribution.methods()
        assert [k.name for k in knobs_of(cls)] == ["factor"]
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2))
        r = srwidgets.attribute(model, torch.rand(3, 10, 10), (4, 4, 8), method="plug-test", factor=3)
        assert r.method == "plug-test" and r.map.shape == (10, 10)
    finally:
        attribution.unregister("plug-test")
        sys.modules.pop("plugmod_srw", None)
    (tmp_path / "plugdist_srw-0.1.dist-info" / "entry_points.txt").write_text(
        "[srwidgets.methods]\nbroken-test = plugmod_srw:Missing\n")
    with pytest.warns(UserWarning, match="broken-test"):
        listing = attribution.plugins(refresh=True)
    assert "broken-test" not in listing and "lam" in attribution.methods()
    assert "Missing" in attribution.plugin_errors()["broken-test"]
    sys.modules.pop("plugmod_srw", None)
