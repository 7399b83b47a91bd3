"""LAMWidget's views (map / kde / erf / difference) and the completeness line, checked on what reaches the canvas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import srwidgets
from srwidgets.lam import effective_receptive_field
from srwidgets.widgets.canvas import resample as _resample
from srwidgets.widgets.lam import VIEWS, LAMWidget

from test_widgets_lam import LR, image, make, puts_on, sent, shown_text, tiny  # noqa: F401  (fixtures)


def overlay_of(w, name, rgba):
    view = w.lr_views[name]
    return _resample(np.asarray(rgba), view.display_height, view.display_width)


def test_default_view_is_map_and_controls_list_the_views(make):
    w = make()
    assert w.view == "map"
    assert list(w.view_buttons.options) == ["map", "kde", "erf"]  # no difference with one model
    w.view_buttons.value = "kde"
    assert w.view == "kde"


def test_kde_view_paints_the_kde_of_the_map_and_switching_back_restores_the_map(make, sent):
    w = make(window=(20, 20, 16))
    assert w.wait(30) and w.error == ""
    name = w.names[0]
    overlay = w.lr_views[name].layer("overlay")
    raw = puts_on(sent, overlay)[-1]
    w.view = "kde"
    kde = puts_on(sent, overlay)[-1]
    expected = overlay_of(w, name, srwidgets.viz.heatmap_rgba(srwidgets.viz.kde_map(w.result.map), w.colormap,
                                                              w.alpha, fade=True))
    np.testing.assert_array_equal(kde, expected)
    assert not np.array_equal(kde, raw)
    w.view = "map"
    np.testing.assert_array_equal(puts_on(sent, overlay)[-1], raw)


def test_erf_view_computes_the_erf_of_the_window_on_the_worker(make, sent, image):
    model = tiny()
    w = make(model=model, window=(20, 24, 16))
    assert w.wait(30)
    name = w.names[0]
    overlay = w.lr_views[name].layer("overlay")
    raw = puts_on(sent, overlay)[-1]
    w.view = "erf"
    assert w.wait(30) and w.error == ""
    ref = effective_receptive_field(model, image, (20, 24, 16), scale=4, device="cpu")
    res = w.erf_results[name]
    assert tuple(res.window) == (20, 24, 16, 16)
    torch.testing.assert_close(res.map, ref.map)
    drawn = puts_on(sent, overlay)[-1]
    np.testing.assert_array_equal(drawn, overlay_of(w, name, srwidgets.viz.heatmap_rgba(res.map, w.colormap,
                                                                                        w.alpha, fade=True)))
    assert not np.array_equal(drawn, raw)
    # a new window in the erf view: its ERF is computed with the LAM; going back is cached (no job)
    w.window = (0, 0, 16)
    assert w.wait(30) and tuple(w.erf_results[name].window) == (0, 0, 16, 16)
    w.window = (20, 24, 16)
    assert not w.busy and tuple(w.erf_results[name].window) == (20, 24, 16, 16)


def test_completeness_label_shows_sum_of_attribution_against_objective_gap(make):
    w = make(window=(20, 20, 16))
    assert w.wait(30)
    name = w.names[0]
    text = shown_text(w.completeness_labels[name].value)
    assert text == " ".join(srwidgets.viz.completeness(w.result).split())
    r = w.result
    assert f"ΣA = {float(r.attribution.sum()):.4g}" in text
    assert f"D(F(x)) − D(F(x′)) = {float(r.objective) - float(r.objective_baseline):.4g}" in text


def test_difference_view_only_in_compare_mode(make):
    w = make()
    w.view = "difference"
    assert w.view == "map" and "compare" in w.error
    w.view = "nope"
    assert w.view == "map" and "unknown view" in w.error
    assert set(VIEWS) == {"map", "kde", "erf", "difference"}


def test_difference_view_draws_first_minus_second_on_the_first_panel(make, sent):
    w = make(model={"a": tiny(0), "b": tiny(3)}, window=(20, 20, 16))
    assert w.wait(30)
    assert "difference" in w.view_buttons.options
    a, b = w.names
    w.view = "difference"
    drawn = puts_on(sent, w.lr_views[a].layer("overlay"))[-1]
    expected = overlay_of(w, a, srwidgets.viz.difference_rgba(w.results[a].map, w.results[b].map, alpha=w.alpha))
    np.testing.assert_array_equal(drawn, expected)
    # the second panel keeps its raw map
    np.testing.assert_array_equal(puts_on(sent, w.lr_views[b].layer("overlay"))[-1], overlay_of(
        w, b, srwidgets.viz.heatmap_rgba(w.results[b].map, w.colormap, w.alpha, fade=True)))
    # signed: the coloured value is 0.5 where the maps agree, above where a is larger
    d = (w.results[a].map - w.results[b].map).numpy()
    assert np.abs(d).max() > 0
