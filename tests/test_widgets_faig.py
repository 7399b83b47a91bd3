"""FAIGWidget driven like a browser would: traitlets from code, mouse messages on the per-layer bar chart.

The zoo's x2 MSRResNet pair (baseline trained on clean inputs, target fine-tuned for blur + noise; 17600 filters),
two 32×32 HR crops, 2 integration steps: each score computation is 2 images × 2 inputs × 2 steps.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from srwidgets import zoo
from srwidgets.data import image
from srwidgets.errors import InputError
from srwidgets.faig import FAIG, mask, masked_outputs, masking_table
from srwidgets.models import build
from srwidgets.widgets.faig import MAX_STEPS, FAIGWidget

CROPS = [image("astronaut")[:, 64:96, 64:96].permute(1, 2, 0).numpy(),  # HWC numpy in [0, 1]
         image("chelsea")[:, 100:132, 100:132]]                         # CHW tensor
N_FILTERS = 17600


def mouse(canvas, event, x, y):
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


@pytest.fixture
def pair():
    return zoo.faig_pair()


@pytest.fixture
def calls(monkeypatch):
    """The ``steps`` of every FAIG.attribute call (the expensive part the widget must not repeat)."""
    log = []
    original = FAIG.attribute

    def counted(self, *args, **kwargs):
        log.append(kwargs.get("steps"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FAIG, "attribute", counted)
    return log


@pytest.fixture
def make(pair):
    made = []

    def _make(images=CROPS, wait=True, **kw):
        kw.setdefault("steps", 2)
        w = FAIGWidget(*pair, images, **kw)
        made.append(w)
        if wait:
            assert w.wait(60), "the scores did not finish"
            assert not w.error, w.error
        return w

    yield _make
    for w in made:
        w.close()


def sr(model, x):
    with torch.no_grad():
        return model(x[None])[0]


def test_scores_are_computed_once_and_masking_reuses_them(make, calls):
    w = make()
    first = w.result
    assert calls == [2] and first.scores.shape == (N_FILTERS,) and first.steps == 2
    assert w.cache_get(w._key()) is first
    before = w.outputs["masked"]
    for trait, value in (("fraction", 0.03), ("method", "random"), ("lam", 0.5), ("image_index", 1),
                         ("method", "weight_change")):
        setattr(w, trait, value)
        assert w.wait(30) and not w.error
    assert calls == [2] and w.result is first  # five maskings, no new scores
    assert w.method == "weight_diff" and w.view["image"] == 1 and len(w.masked_filters) == int(N_FILTERS * 0.03)
    assert w.outputs["masked"].shape == (3, 32, 32) and not torch.equal(w.outputs["masked"], before)


def test_a_knob_moved_while_scores_compute_is_used_without_recomputing(make, calls):
    w = make(wait=False)
    w.fraction = 0.005  # likely still computing: the running job masks with it when it gets there
    assert w.wait(60) and not w.error
    assert calls == [2] and w.view["fraction"] == 0.005 and len(w.masked_filters) == 88


def test_switching_degradation_or_steps_recomputes_and_going_back_is_cached(make, calls):
    w = make()
    noise = w.result
    w.degradation = "blur"
    assert w.wait(60) and not w.error and calls == [2, 2]
    blur = w.result
    assert blur is not noise and not np.array_equal(blur.ranking[:176], noise.ranking[:176])
    assert not torch.equal(w.outputs["input"], w.lr["noise"][0])
    w.degradation = "noise"
    assert w.wait(30) and calls == [2, 2] and w.result is noise
    w.steps = 3
    assert w.wait(60) and calls == [2, 2, 3] and w.result.steps == 3


def test_fraction_zero_gives_the_target_output(make, pair):
    w = make()
    assert len(w.masked_filters) == 176 and not torch.equal(w.outputs["masked"], w.outputs["target"])
    w.fraction = 0.0
    assert w.wait(30) and not w.error
    expected = sr(pair[1], w.lr["noise"][0])
    torch.testing.assert_close(w.outputs["target"], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(w.outputs["masked"], expected, rtol=0, atol=1e-6)
    assert w.masked_filters == [] and sum(w.layer_counts.values()) == 0
    assert w.psnrs["masked"] == pytest.approx(w.psnrs["target"], abs=1e-6)


def test_lam_zero_is_the_mask_and_lam_one_the_target(make, pair):
    baseline, target = pair
    w = make(fraction=0.02)
    top = w.result.top(0.02)
    assert w.lam == 0.0 and w.masked_filters == top
    lr = w.lr["noise"][0]
    torch.testing.assert_close(w.outputs["masked"], sr(mask(target, baseline, top), lr), rtol=0, atol=1e-6)
    masked = w.outputs["masked"]
    w.lam = 1.0
    assert w.wait(30)
    torch.testing.assert_close(w.outputs["masked"], w.outputs["target"], rtol=0, atol=1e-6)
    w.lam = 0.5
    assert w.wait(30)
    half = w.outputs["masked"]
    assert not torch.allclose(half, masked, atol=1e-4) and not torch.allclose(half, w.outputs["target"], atol=1e-4)


def test_psnrs_match_the_engines_masking_table(make, pair):
    w = make(images=CROPS[:1], seed=0)
    table = masking_table(*pair, CROPS[:1], "noise", fraction=0.01, seed=0, steps=2)
    for method in ("faig", "random", "weight_diff"):
        w.method = method
        assert w.wait(30) and not w.error
        assert w.psnrs["target"] - w.psnrs["masked"] == pytest.approx(table[method], abs=1e-6), method
    assert w.psnrs["input"] < w.psnrs["target"]  # the blind target denoises better than bicubic


def test_layer_strip_counts_sum_to_the_masked_count(make):
    w = make(fraction=0.05)
    n = int(N_FILTERS * 0.05)
    counts = w.layer_counts
    assert list(counts) == w.layers and len(w.layers) == 16 and sum(counts.values()) == n
    assert counts == {k: v["top"] for k, v in w.result.layer_summary(0.05).items()}
    np.testing.assert_array_equal(w.bars.values, list(counts.values()))
    w.method = "random"
    assert w.wait(30)
    assert sum(w.layer_counts.values()) == n and w.layer_counts != counts


def test_clicking_a_bar_lists_the_layers_masked_filters(make):
    w = make()
    k = int(np.argmax(w.bars.values))
    mouse(w.bars.canvas, "mouse_move", w.bars.xs[k], 60)
    assert w.layers[k] in w.bar_label.value and "masked of" in w.bar_label.value
    mouse(w.bars.canvas, "mouse_down", w.bars.xs[k], 60)
    name = w.layers[k]
    assert w.layer == name and w.bars.selected == k
    listed = w.top_filters()
    assert len(listed) == w.layer_counts[name] > 0 and all(f[0] == name for f in listed)
    assert listed == [f for f in w.result.top(0.01) if f[0] == name]  # best first
    html = w.filter_list.value
    assert f"{len(listed)} of the 176 masked filters" in html and html.count("<tr>") == min(len(listed), 40) + 1
    w.layer = "conv_last"
    assert w.top_filters() == [f for f in w.masked_filters if f[0] == "conv_last"] and w.bars.selected == 15
    w.layer = ""
    assert "click a bar" in w.filter_list.value and w.bars.selected is None


def test_bad_values_show_an_error_keep_the_old_value_and_start_nothing(make, calls):
    w = make()
    shown = w.view
    for trait, value, words in (("fraction", 0.5, "fraction must be in [0, 0.1]"),
                                ("fraction", -0.01, "fraction must be"), ("lam", 2.0, "lam must be in [0, 1.5]"),
                                ("degradation", "jpeg", "unknown degradation 'jpeg'"),
                                ("method", "nope", "unknown ranking"), ("image_index", 2, "image_index must be"),
                                ("steps", 0, "steps must be"), ("steps", MAX_STEPS + 1, "steps must be"),
                                ("layer", "body.9.conv1", "unknown layer")):
        old = getattr(w, trait)
        w.error = ""
        setattr(w, trait, value)  # no exception
        assert words in w.error and getattr(w, trait) == old, trait
        assert not w.busy and w.view is shown
    assert calls == [2] and w.fraction_slider.value == 0.01 and w.degradation_dropdown.value == "noise"
    w.fraction = 0.02  # and it keeps working
    assert w.wait(30) and not w.error and len(w.masked_filters) == 352


def test_bad_construction_raises_input_error(pair):
    baseline, target = pair
    torch.manual_seed(0)
    other = build("MSRResNet", num_feat=8, num_block=2, upscale=2)
    with pytest.raises(InputError, match="differ in architecture"):
        FAIGWidget(other, target, CROPS)
    with pytest.raises(InputError, match="equal the baseline"):
        FAIGWidget(target, target, CROPS)
    with pytest.raises(InputError, match="no images given"):
        FAIGWidget(baseline, target, [])
    with pytest.raises(InputError, match="too small"):
        FAIGWidget(baseline, target, [np.zeros((8, 8, 3))])
    with pytest.raises(InputError, match="unknown degradation"):
        FAIGWidget(baseline, target, CROPS, degradation="clean")
    with pytest.raises(InputError, match="fraction must be"):
        FAIGWidget(baseline, target, CROPS, fraction=0.2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        FAIGWidget(baseline, target, CROPS, window=3)


def test_cancel_stops_the_scores_and_the_widget_keeps_working(make):
    w = make(wait=False, steps=MAX_STEPS)  # 2000 evaluations: seconds
    assert w.cancel()
    assert w.wait(30) and "cancelled" in w.status and w.result is None and w.view is None
    with pytest.raises(InputError, match="nothing to save yet"):
        w.save_figure("never.png")
    w.steps = 2
    assert w.wait(60) and not w.error and w.result.steps == 2 and w.view is not None


def test_close_stops_the_worker(make):
    w = make(wait=False, steps=MAX_STEPS)
    job = w._runner._last
    w.close()
    assert w.closed and w.status == "closed" and not job.thread.is_alive()
    w.fraction = 0.02
    w.rerun()
    assert w._runner._last is job and w.result is None


def test_exports(make, tmp_path):
    w = make()
    w.layer = "conv_first"
    png = w.save_figure(str(tmp_path / "faig.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    picture = w.snapshot()
    assert picture.format == "png" and picture.data == open(png, "rb").read()
    data = json.load(open(w.save_scores(str(tmp_path / "faig.json"))))
    assert len(data["scores"]) == len(data["ranking"]) == N_FILTERS and len(data["masked"]) == 176
    assert data["degradation"] == "noise" and data["contrast"] == "blur" and data["steps"] == 2
    assert data["ranking"][0] == int(np.argmax(w.result.scores)) and data["masked"][0] == list(w.result.top(0.01)[0])
    rows = list(csv.DictReader(open(w.save_scores(str(tmp_path / "faig.csv")))))
    assert len(rows) == N_FILTERS and sum(int(r["masked"]) for r in rows) == 176
    best = min(rows, key=lambda r: int(r["rank"]))
    assert (best["layer"], int(best["out"]), int(best["in"])) == w.result.top(0.01)[0]
    assert float(best["score"]) == w.result.scores.max()
    with pytest.raises(InputError, match=".json or .csv"):
        w.save_scores(str(tmp_path / "faig.txt"))
    path_box, button = w.scores_row.children  # the buttons show errors instead of raising
    path_box.value = str(tmp_path / "faig.txt")
    button.click()
    assert ".json or .csv" in w.error
    w.export_path.value = str(tmp_path / "clicked.png")
    w.export_button.click()
    assert not w.error and (tmp_path / "clicked.png").exists() and w.status.startswith("saved")


def test_repr_and_views(make):
    w = make()
    assert repr(w) == ("FAIGWidget(baseline='x2-srresnet-bicubic', target='x2-srresnet-blind', images=2, x2, "
                       "degradation='noise', steps=2)")
    assert set(w.views) == {"input", "target", "masked"}
    for key, view in w.views.items():
        assert view.sent["image"] is not None and (view.height, view.width) == (32, 32)
        assert "dB" in w._titles[key].value
    assert "176 filters (1.0%, FAIG)" in w._titles["masked"].value
    assert w.image_dropdown.options == (("image 0", 0), ("image 1", 1))


# --- issue 17: hostile input and layout -----------------------------------------------------------------------------
def test_caption_and_filter_list_placeholder_are_two_separate_blocks(make):
    w = make(wait=False, steps=1)
    caption, placeholder = w.bar_label.value, w.filter_list.value
    # two block elements, each one complete sentence, no message repeated in the other
    assert caption.startswith("<div>") and placeholder.startswith("<div>")
    assert "click" not in caption.lower() and "click a bar" in placeholder
    box = next(c for c in w.children if w.filter_list in getattr(c, "children", ()))
    assert type(box).__name__ == "VBox" and list(box.children).index(w.filter_list) > 0  # its own line


@pytest.mark.parametrize("kw, words", [
    (dict(steps="5"), "steps must be an integer in [1, "), (dict(steps=2.5), "steps must be an integer"),
    (dict(steps=True), "steps must be an integer"), (dict(steps=MAX_STEPS + 1), "steps must be an integer in"),
    (dict(fraction="0.01"), "fraction must be in [0, 0.1]"), (dict(fraction=float("nan")), "fraction must be"),
    (dict(lam=None), "lam must be in [0, 1.5]"), (dict(degradation=3), "unknown degradation 3; choose one of"),
    (dict(method=["faig"]), "unknown ranking"), (dict(image_index=1.0), "image_index must be an integer"),
    (dict(layer=5), "unknown layer 5"), (dict(seed=0.5), "seed must be an integer"),
    (dict(size="big"), "size must be an integer"), (dict(throttle=-1), "throttle must be")])
def test_bad_constructor_values_raise_input_error_naming_the_argument(pair, kw, words):
    with pytest.raises(InputError) as info:
        FAIGWidget(*pair, CROPS, **kw)
    assert words in str(info.value)


def test_bad_models_and_images_raise_input_error(pair):
    for args, words in (((None, pair[1], CROPS), "nn.Module or a zoo name"), ((pair[0], pair[1], 5), "images must be"),
                        ((pair[0], pair[1], None), "images must be")):
        with pytest.raises(InputError, match=words):
            FAIGWidget(*args)


def test_values_of_the_wrong_type_set_the_error_instead_of_raising(make, calls):
    w = make()
    shown = w.view
    for trait, value in (("steps", "5"), ("steps", 3.5), ("fraction", "big"), ("lam", None), ("degradation", 1),
                         ("image_index", "0"), ("layer", ["conv_first"])):
        old = getattr(w, trait)
        w.error = ""
        setattr(w, trait, value)  # no TraitError
        assert trait in w.error or "unknown" in w.error, (trait, w.error)
        assert getattr(w, trait) == old and not w.busy and w.view is shown
    assert calls == [2]


def test_numpy_values_are_accepted_as_python_numbers(make):
    w = make(steps=np.int64(2), fraction=np.float32(0.02))
    assert type(w.steps) is int and w.steps == 2 and type(w.fraction) is float
    w.image_index = np.int64(1)
    assert w.wait(30) and not w.error and w.view["image"] == 1 and type(w.image_index) is int


def test_an_error_during_a_job_is_shown_and_the_widget_keeps_working(make, monkeypatch):
    w = make()

    def broken(*args, **kwargs):
        raise RuntimeError("the device fell over")

    monkeypatch.setattr(w.engine, "attribute", broken)
    w.steps = 3  # new scores: the engine fails on the worker thread
    assert w.wait(30) and "RuntimeError: the device fell over" in w.error and "Error" in w.error_html.value
    monkeypatch.undo()
    w.steps = 2  # cached scores again: the widget still works
    assert w.wait(30) and not w.error and w.view["steps"] == 2


def test_the_widget_masks_through_the_engine(make, pair):
    w = make()
    expected, _ = masked_outputs(w.engine, w.view["chosen"], w.lam, w.lr["noise"][0], w.hr[0])
    for key in ("input", "target", "masked"):
        assert torch.equal(w.outputs[key], expected[key])


def test_the_figure_refuses_no_images_with_an_input_error():
    from srwidgets.viz.faig import faig_figure

    with pytest.raises(InputError, match="at least one image"):
        faig_figure({}, {"conv_first": 1})


# ------------------------------------------------------------------------------------------------ issue 17: hostile use
def test_exports_refuse_a_folder_a_missing_folder_a_wrong_extension_and_an_input_image(pair, tmp_path):
    from PIL import Image

    sources = []
    for j, crop in enumerate(CROPS):
        hwc = crop if isinstance(crop, np.ndarray) else crop.permute(1, 2, 0).numpy()
        sources.append(tmp_path / f"in{j}.png")
        Image.fromarray((hwc * 255).round().astype(np.uint8)).save(sources[-1])
    before = sources[0].read_bytes()
    w = FAIGWidget(*pair, [str(p) for p in sources], steps=2)
    try:
        assert w.wait(60) and not w.error
        for save, path, words in ((w.save_figure, tmp_path, "is a folder"),
                                  (w.save_figure, tmp_path / "figure.txt", "change the extension"),
                                  (w.save_figure, tmp_path / "missing" / "figure.png", "does not exist"),
                                  (w.save_figure, sources[0], "would overwrite it"),
                                  (w.save_scores, tmp_path / "missing" / "scores.json", "does not exist")):
            with pytest.raises(InputError, match=words):
                save(str(path))
        assert sources[0].read_bytes() == before and not (tmp_path / ".png").exists()
        w.export_path.value = str(sources[1])  # the button shows the message instead of raising
        w.export_button.click()
        assert "would overwrite it" in w.error
    finally:
        w.close()


def test_an_unknown_keyword_is_refused_before_the_models_are_copied_and_leaves_nothing_running(pair, monkeypatch):
    from srwidgets.widgets.base import KeywordError

    copies = []
    monkeypatch.setattr(FAIG, "__init__", lambda self, *a, **k: copies.append(1))
    with pytest.raises(KeywordError, match="FAIGWidget got an unexpected keyword argument 'layers'; it accepts "
                                           "degradation, steps, fraction"):
        FAIGWidget(*pair, CROPS, layers=["conv_first"])
    assert copies == []
