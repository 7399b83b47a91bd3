"""LAMWidget's Method control: one panel per model x method (through srwidgets.attribute), the path / baseline
names, CEM's HR image and the Trust panel. Tiny x4 EDSR, 16 px LR images, few steps."""
from __future__ import annotations

import warnings

import pytest
import torch

import srwidgets
from srwidgets import attribution
from srwidgets.errors import InputError
from srwidgets.widgets.lam import LAMWidget

from test_widgets_lam import image, make, tiny  # noqa: F401  (fixtures)


def test_default_is_lam_alone_and_the_control_lists_every_registered_method(make):
    w = make()
    assert w.methods == ("lam",) and w.method == "lam"
    assert list(w.method_boxes) == list(attribution.methods())
    assert [n for n, box in w.method_boxes.items() if box.value] == ["lam"]
    assert len(w._panels_box.children) == 1


def test_two_methods_give_two_panels_titled_model_method_with_the_family_results(make, image):
    model = tiny()
    w = make(model=model, methods=["lam", "gradient"], window=(16, 16, 16))
    assert w.wait(30) and w.error == ""
    name = w.names[0]
    assert [p.box for p in (w.panel(name, "lam"), w.panel(name, "gradient"))] == list(w._panels_box.children)
    assert f"{name}: gradient" in w.panel(name, "gradient").title.value
    grad = w.panel_results[(name, "gradient")]
    ref = srwidgets.attribute(model, image, (16, 16, 16), "gradient", device="cpu")
    torch.testing.assert_close(grad.map, ref.map)
    assert w.result is w.panel_results[(name, "lam")] and w.results == {name: w.result}
    assert w.panel(name, "gradient").di.value == f"DI {grad.diffusion_index:.2f}"


def test_ticking_a_second_method_adds_its_panel_and_computes_it(make):
    w = make(window=(16, 16, 16))
    assert w.wait(30)
    lam = w.result
    w.method_boxes["erf"].value = True
    assert w.methods == ("lam", "erf") and len(w._panels_box.children) == 2
    assert w.wait(30) and w.error == ""
    assert (w.names[0], "erf") in w.panel_results and w.result is lam  # lam came from the cache
    w.method_boxes["erf"].value = False
    assert w.methods == ("lam",) and len(w._panels_box.children) == 1


def test_the_last_method_cannot_be_unticked(make):
    w = make()
    w.method_boxes["lam"].value = False
    assert w.methods == ("lam",) and w.method_boxes["lam"].value and "at least one method" in w.error


def test_setting_method_shows_it_alone(make):
    w = make(methods=["lam", "gradient"])
    w.method = "erf"
    assert w.methods == ("erf",) and [b for b, box in w.method_boxes.items() if box.value] == ["erf"]


def test_compare_mode_times_methods_is_one_panel_each(make):
    w = make(model={"a": tiny(0), "b": tiny(1)}, methods=("lam", "gradient"), window=(8, 8, 16))
    assert w.wait(30) and w.error == ""
    assert set(w.panel_results) == {("a", "lam"), ("a", "gradient"), ("b", "lam"), ("b", "gradient")}
    assert len(w._panels_box.children) == 4


@pytest.mark.parametrize("kwargs, match", [(dict(methods=["lam", "nope"]), "unknown methods 'nope'"),
                                           (dict(methods=[]), "non-empty"), (dict(method="x"), "unknown method 'x'"),
                                           (dict(knobs={"ig": 3}), "knobs must be a dict"),
                                           (dict(hr=torch.rand(3, 10, 10)), "hr must be the HR image")])
def test_bad_method_arguments_are_input_errors(image, kwargs, match):
    with pytest.raises(InputError, match=match):
        LAMWidget(tiny(), image, **kwargs)


def test_knobs_reach_the_member(make):
    w = make(methods=["smoothgrad"], knobs={"smoothgrad": {"samples": 2, "seed": 3}}, window=(8, 8, 16))
    assert w.wait(30) and w.error == ""
    assert w.result.method == "smoothgrad" and w.result.settings["samples"] == 2


def test_cem_without_hr_says_so_in_its_panel(make):
    w = make(methods=["lam", "cem"], window=(16, 16, 16))
    assert w.wait(30) and w.error == ""
    name = w.names[0]
    assert "needs the HR image" in w.panel(name, "cem").completeness.value
    assert (name, "cem") not in w.panel_results and w.result.method == "lam"


def test_cem_with_hr_attributes_the_window(make, image):
    hr = torch.rand(3, 4 * image.shape[1], 4 * image.shape[2], generator=torch.Generator().manual_seed(2))
    w = make(methods="cem", hr=hr, knobs={"cem": {"fine": 2, "coarse": 1}}, window=(16, 16, 16))
    assert w.wait(60) and w.error == "", w.error
    assert w.result.method == "cem" and tuple(w.result.map.shape) == tuple(image.shape[1:])


def test_path_is_the_engine_name_and_baseline_follows_it(make):
    w = make(window=(16, 16, 16))
    assert w.wait(30)
    w.path = "black"
    assert w.baseline == "black" and w.baseline_dropdown.value == "black"
    assert w.wait(30) and w.result.settings["path"] == "black"


def test_baseline_still_works_and_warns_that_it_is_deprecated(make):
    w = make()
    with pytest.warns(DeprecationWarning, match="path"):
        w.baseline = "uniform"
    assert w.path == "uniform"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w.path = "blur"  # the new name: no warning


def test_trust_button_reports_the_window_for_the_shown_methods(make):
    w = make(methods=["lam", "gradient"], steps=2, window=(16, 16, 16))
    assert w.wait(30)
    w.trust_button.click()
    assert w.wait(120) and w.error == "", w.error
    df = w.trust_results[w.names[0]]
    assert set(df.index) == {"lam", "gradient"}  # one verdict row per shown method; the controls are columns
    assert df["verdict"].str.match(r"^(trust|do not trust)").all()
    assert "<table" in w.trust_html.value and "verdict" in w.trust_html.value and "null_sd" in w.trust_html.value


def test_trust_without_a_window_says_what_to_do(make):
    w = make()
    assert w.run_trust() is None and "select a window" in w.error


# -- knobs as data: one control per knob of the ticked members, from their declarations ---------------------------
def test_each_ticked_member_gets_a_control_per_knob_generated_from_its_declaration(make):
    w = make(methods=["lam", "ig", "smoothgrad"])
    for method in w.methods:
        declared = [k.name for k in attribution.knobs_of(attribution.method_class(method))]
        shown = [name for m, name in w.knob_controls if m == method]
        assert shown == [n for n in declared if n not in ("steps", "sigma", "kernel_size", "path")], method
    assert type(w.knob_controls["ig", "baseline"]).__name__ == "Dropdown"
    assert type(w.knob_controls["smoothgrad", "noise"]).__name__ == "FloatSlider"  # bounded: a slider
    assert type(w.knob_controls["smoothgrad", "samples"]).__name__ == "IntText"  # up to MAX_STEPS: a box
    assert w.knob_controls["smoothgrad", "inner"].options[:3] == ("lam", "ig", "gradient")
    w.methods = ("gradient",)  # no knobs: no row
    assert w.knob_controls == {} and w.knob_box.children == ()


def test_moving_a_control_sets_the_knob_and_code_moves_the_control(make):
    w = make(methods=["lam", "ig"], window=(16, 16, 16))
    assert w.wait(30)
    w.knob_controls["ig", "baseline"].value = "blurred"
    assert w.knobs == {"ig": {"baseline": "blurred"}} and w.wait(30) and w.error == ""
    assert w.panel_results[(w.names[0], "ig")].settings["baseline"] == "blurred"
    w.knobs = {"ig": {"num_baselines": 3}}
    assert w.knob_controls["ig", "num_baselines"].value == 3 and w.knobs == {"ig": {"num_baselines": 3}}
    w.knobs = {"ig": {"num_baselines": 0}}  # the knob's own check, shown as the widget's error
    assert "num_baselines must be an integer >= 1" in w.error and w.knobs == {"ig": {"num_baselines": 3}}


def test_a_registered_members_knobs_become_controls_with_no_widget_edit(make):
    import time

    class Scaled(attribution.WindowMethod):
        name, description, map_rule = "scaled", "gain * gradient", "abs_sum"
        knobs = (attribution.Knob("gain", "float", 1.0, "scale", low=0.0, high=4.0, step=0.5),
                 attribution.Knob("layer", "layer", None, "a layer"))

        def attribute(self, image, window, *, gain=1.0, layer=None, objective="gradient", callback=None,
                      cancel=None):
            t0 = time.perf_counter()
            x, window = self.inputs(image, window)
            g = self.gradients(x[None], window, objective, callback=callback, cancel=cancel)[0]
            return self.result(x, window, gain * g, t0=t0, settings=dict(gain=gain, layer=layer), objective=objective)

    attribution.register("scaled", Scaled)
    try:
        w = make(methods=["scaled"], window=(16, 16, 16))
        assert type(w.knob_controls["scaled", "gain"]).__name__ == "FloatSlider"
        assert w.knob_controls["scaled", "gain"].step == 0.5
        w.knob_controls["scaled", "layer"].value = "-1"  # a layer: index or name, read by the knob
        w.knob_controls["scaled", "gain"].value = 2.0
        assert w.knobs == {"scaled": {"layer": -1, "gain": 2.0}}
        assert w.wait(30) and w.error == ""
        assert w.result.settings["gain"] == 2.0 and w.result.settings["layer"] == -1
    finally:
        attribution.unregister("scaled")


def test_no_lam_engine_is_built_until_lam_is_ticked(make, image):
    """Engines are built for the methods chosen only: with gradient alone the widget keeps no LAM engine (the SR
    preview runs on the model's runtime); ticking LAM later builds one per model and attributes the window."""
    from srwidgets.lam import LAM

    model = tiny()
    w = make(model=model, methods=["gradient"], window=(16, 16, 16))
    assert w.wait(30) and w.error == ""
    name = w.names[0]
    assert w.engines == {} and not any(isinstance(e, LAM) for e in vars(w).values())
    assert w.window_panel.sr_shown and (name, "gradient") in w.panel_results
    w.method_boxes["lam"].value = True
    assert isinstance(w.engines[name], LAM)
    assert w.wait(30) and w.error == ""
    ref = srwidgets.attribute(model, image, (16, 16, 16), "lam", steps=4, device="cpu")
    torch.testing.assert_close(w.panel_results[(name, "lam")].map, ref.map)


def test_a_bad_lam_option_is_refused_when_lam_is_ticked(make):
    w = make(methods=["gradient"], lam_options={"autocast": True, "device": "cpu"})
    assert w.engines == {}
    w.methods = ["gradient", "lam"]
    assert w.methods == ("gradient",) and "autocast" in w.error and w.engines == {}
