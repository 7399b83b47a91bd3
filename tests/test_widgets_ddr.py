"""DDRWidget driven like a browser would: mouse messages on the scatter and the curve chart, traitlets from code.
Tiny models (EDSR 8 features, 2 blocks, x2) on three 32 px HR images: 9 points."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from srwidgets.errors import InputError
from srwidgets.models import build
from srwidgets.widgets.ddr import DDRWidget


def tiny(seed=0, arch="EDSR"):
    torch.manual_seed(seed)
    if arch == "EDSR":
        return build("EDSR", num_feat=8, num_block=2, upscale=2).eval()
    return build("MSRResNet", num_feat=8, num_block=3, upscale=2, global_residual=False).eval()


IMAGES = [np.random.default_rng(i).random((32, 32, 3)) for i in range(3)]


def mouse(canvas, event, x, y):
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


@pytest.fixture
def make():
    made = []

    def _make(models=None, images=IMAGES, **kw):
        w = DDRWidget(tiny() if models is None else models, images, **kw)
        made.append(w)
        assert w.wait(60), "the features did not finish"
        return w

    yield _make
    for w in made:
        w.close()


def test_features_scores_and_the_deepest_layer_are_shown(make):
    w = make()
    res = w.result
    assert w.layer == "conv_after_body" and res.layers == ["body.0", "body.1", "conv_after_body"]
    scatter = w.scatters[w.names[0]]
    assert scatter.display.shape == (9, 2) and list(scatter.colors) == ["clean", "blur", "noise"]
    np.testing.assert_allclose(scatter.display, scatter._fit(res.embed("conv_after_body", "pca")))
    assert "CHI by degradation" in w.chi_labels[w.names[0]].value
    assert "clean" in w.legends[w.names[0]].value and not w.error and w.progress == 1.0


def test_clicking_a_layer_on_the_curve_shows_it(make):
    w = make()
    curve = w.curves[w.names[0]]
    mouse(curve.canvas, "mouse_down", curve.xs[0], 50)
    assert w.layer == "body.0" and w.wait(30)
    xy = w.result.embed("body.0", "pca")
    np.testing.assert_allclose(w.scatters[w.names[0]].display, w.scatters[w.names[0]]._fit(xy))
    assert curve.selected == 0


def test_hover_shows_the_degraded_input_and_click_the_sr_output(make):
    w = make()
    scatter = w.scatters[w.names[0]]
    x, y = scatter.display[4]
    mouse(scatter.canvas, "mouse_move", x, y)
    assert "point 4" in w.point_label.value and w.result.labels[4] in w.point_label.value
    assert w.lr_view.sent["image"] is not None and w.sr_view.sent["image"] is None
    mouse(scatter.canvas, "mouse_down", x, y)
    assert w.selected == 4 and w.sr_view.sent["image"] is not None
    assert (w.sr_view.height, w.sr_view.width) == (32, 32)  # the x2 output of a 16 px input


def test_tsne_toggle_re_embeds_without_recomputing_features(make):
    w = make()
    calls = []
    handle = w.engines[w.names[0]].model.conv_first.register_forward_hook(lambda *a: calls.append(1))
    w.perplexity = 3.0
    w.method = "tsne"
    assert w.wait(60)
    handle.remove()
    assert calls == [] and w.status.startswith("done") and "tsne" in w.status
    expected = w.result.embed(w.layer, "tsne", 3.0, 0)
    np.testing.assert_allclose(w.scatters[w.names[0]].display, w.scatters[w.names[0]]._fit(expected))


def test_two_models_side_by_side(make):
    w = make({"with GR": tiny(0), "without GR": tiny(1, "MSRResNet")})
    assert list(w.results) == ["with GR", "without GR"]
    assert w.results["without GR"].layers == ["body.0", "body.1", "body.2"]
    table = w.table()
    assert set(table["model"]) == {"with GR", "without GR"} and len(table) == 6


def test_bad_layer_and_method_are_reported_not_raised(make):
    w = make()
    w.layer = "nope"
    assert "valid layers" in w.error and w.layer == "conv_after_body"
    w.method = "mds"
    assert "unknown embedding" in w.error and w.method == "pca"


def test_engine_errors_are_shown_in_the_widget_and_it_keeps_working(make):
    w = make(images=IMAGES[:1])  # a single image: CHI by image (and per degradation point counts) impossible
    assert "CHI needs at least 2 groups" in w.error and w.result is None
    w.images = IMAGES
    w.rerun()
    assert w.wait(60) and not w.error and w.result is not None


def test_exports(make, tmp_path):
    w = make()
    csv = w.save_table(str(tmp_path / "ddr.csv"))
    lines = open(csv).read().splitlines()
    assert lines[0].split(",")[:2] == ["layer", "depth"] and len(lines) == 4
    png = w.save_figure(str(tmp_path / "ddr.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_models_are_refused_at_construction():
    with pytest.raises(InputError):
        DDRWidget({"a": tiny(), "b": build("EDSR", num_feat=8, num_block=1, upscale=4)}, IMAGES)
