"""The three widgets driven as a hostile user would (traitlets from code, buttons pressed, mouse messages): no case
loses data (a default output name never replaces a file, an export never writes over an input, PIL's included), no
case hangs or leaves a stale message (a refused value, then a good one, clears the error; a late cancel leaves no
"cancelling..."), nothing escapes into the kernel, and the user's model and image leave as they came.

Real zoo weights: x4-fsrcnn on a 16×16 LR crop for LAM (SR 64×64), the x2 MSRResNet FAIG pair on two 32×32 HR
crops for DDR and FAIG.
"""
from __future__ import annotations

import logging
import time

import PIL.Image
import pytest
import torch

from srwidgets import zoo
from srwidgets.data import image, lr_image
from srwidgets.errors import InputError
from srwidgets.widgets.ddr import DDRWidget
from srwidgets.widgets.faig import FAIGWidget
from srwidgets.widgets.lam import LAMWidget

CROPS = [image("astronaut")[:, 64:96, 64:96].clone(), image("chelsea")[:, 100:132, 100:132].clone()]


def mouse(canvas, event, x, y):
    """The message the browser sends for a mouse event on a canvas (display pixels)."""
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


@pytest.fixture(scope="module")
def fsrcnn():
    return zoo.load("x4-fsrcnn")


@pytest.fixture
def lr():
    return lr_image("astronaut", 4)[:, 24:40, 24:40].clone()


@pytest.fixture
def make_lam(fsrcnn, lr):
    made = []

    def _make(img=None, **kw):
        kw.setdefault("steps", 2)
        w = LAMWidget(fsrcnn, lr if img is None else img, **kw)
        made.append(w)
        assert w.wait(60), "the SR preview did not finish"
        return w

    yield _make
    for w in made:
        w.close()


@pytest.fixture(scope="module")
def pair():
    return zoo.faig_pair()


@pytest.fixture
def swallowed():
    """Messages of exceptions that ipywidgets / ipycanvas caught in a callback (they never reach the user)."""
    log = []

    class Handler(logging.Handler):
        def emit(self, record):
            log.append(record.getMessage())

    handler = Handler()
    logger = logging.getLogger()
    logger.addHandler(handler)
    yield log
    logger.removeHandler(handler)


# ------------------------------------------------------------------------------------------------ losing data
def test_the_default_figure_name_never_replaces_a_users_file(make_lam, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lam.png").write_bytes(b"the user's own figure")
    w = make_lam(window=(16, 16, 16))
    assert w.wait(60) and w.result is not None
    assert w.export_path.value == "lam.png"
    w.export_button.click()
    assert (tmp_path / "lam.png").read_bytes() == b"the user's own figure"
    assert (tmp_path / "lam-1.png").stat().st_size > 0 and w.error == ""
    assert w.status.startswith("saved lam-1.png") and "lam.png exists" in w.status
    w.export_path.value = "  "  # an emptied box is the default name too: the next free one
    w.export_button.click()
    assert (tmp_path / "lam-2.png").exists() and (tmp_path / "lam.png").read_bytes() == b"the user's own figure"
    w.export_path.value = "mine.png"  # a name typed is the user's: written there
    w.export_button.click()
    assert (tmp_path / "mine.png").exists() and w.status == "saved mine.png"


def test_an_export_never_writes_over_the_file_a_pil_image_was_read_from(make_lam, lr, tmp_path):
    src = tmp_path / "in.png"
    PIL.Image.fromarray((lr.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(src)
    before = src.read_bytes()
    w = make_lam(img=PIL.Image.open(src), window=(16, 16, 16))
    assert w.wait(60) and w.result is not None
    for path in (str(src), str(tmp_path / "." / "in.png")):
        w.export_path.value = path
        w.export_button.click()
        assert "is the input" in w.error and w.status == "failed"
    assert src.read_bytes() == before
    w.export_path.value = str(tmp_path / "out.png")
    w.export_button.click()
    assert w.error == "" and (tmp_path / "out.png").exists()


def test_ddr_default_figure_and_table_names_never_replace_files(pair, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("ddr.png", "ddr.csv"):
        (tmp_path / name).write_bytes(b"mine")
    w = DDRWidget(pair[0], CROPS)
    try:
        assert w.wait(120) and not w.error
        w.export_button.click()
        w.csv_button.click()
        assert w.error == "" and "ddr.csv exists" in w.status
        assert (tmp_path / "ddr.png").read_bytes() == b"mine" and (tmp_path / "ddr.csv").read_bytes() == b"mine"
        assert (tmp_path / "ddr-1.png").stat().st_size > 0
        assert (tmp_path / "ddr-1.csv").read_text().startswith("layer") or "chi" in (tmp_path / "ddr-1.csv").read_text()
        # a PIL image's file is an input: never the table's path
        src = tmp_path / "hr.png"
        PIL.Image.fromarray((CROPS[0].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(src)
        w.images = [PIL.Image.open(src), CROPS[1]]
        w.csv_path.value = str(src.with_suffix(".csv"))
        w.csv_button.click()
        assert w.error == ""
    finally:
        w.close()


def test_faig_default_names_never_replace_files_and_the_scores_button_writes(pair, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("faig.png", "faig_scores.json"):
        (tmp_path / name).write_bytes(b"mine")
    w = FAIGWidget(*pair, CROPS, steps=2)
    try:
        assert w.wait(120) and not w.error
        w.export_button.click()
        path_box, button = w.scores_row.children
        button.click()
        assert w.error == "" and "faig_scores.json exists" in w.status
        assert (tmp_path / "faig.png").read_bytes() == b"mine"
        assert (tmp_path / "faig_scores.json").read_bytes() == b"mine"
        assert (tmp_path / "faig-1.png").stat().st_size > 0
        assert (tmp_path / "faig_scores-1.json").read_text().startswith("{")
        path_box.value = "scores.txt"  # refused, then a good name clears the message
        button.click()
        assert ".json or .csv" in w.error
        path_box.value = "scores.csv"
        button.click()
        assert w.error == "" and (tmp_path / "scores.csv").exists()
    finally:
        w.close()


# ------------------------------------------------------------------------------------------------ stale messages
def test_unticking_the_last_method_then_ticking_another_clears_the_message_without_a_window(make_lam):
    w = make_lam()
    w.method_boxes["lam"].value = False
    assert w.method_boxes["lam"].value and "at least one method" in w.error
    w.method_boxes["gradient"].value = True
    assert w.wait(30) and w.methods == ("lam", "gradient") and w.error == ""


def test_an_emptied_knob_box_goes_back_to_the_default_and_clears_its_error(make_lam):
    w = make_lam(methods=["lam", "gradcam", "smoothgrad"])
    samples = w.knob_controls["smoothgrad", "samples"]
    samples.value = 0  # below the knob's range: refused by its declaration, knobs unchanged
    assert "samples" in w.error and w.knobs == {}
    samples.value = 16  # the default again: nothing to set, and the message is stale
    assert w.error == "" and w.knobs == {}
    samples.value = -3
    assert "samples" in w.error
    w.methods = ["lam", "gradcam"]  # the refused control is gone with its member: its message too
    assert w.error == ""
    w.methods = ["lam", "gradcam", "smoothgrad"]
    samples = w.knob_controls["smoothgrad", "samples"]
    samples.value = 4
    assert w.error == "" and w.knobs == {"smoothgrad": {"samples": 4}}
    w.methods = ["lam", "gradcam"]
    box = w.knob_controls["gradcam", "layer"]
    box.value = "mid_part"
    box.value = ""  # emptied: back to the default (no layer given), not "layer must be a layer, got ''"
    assert w.error == "" and w.knobs == {"smoothgrad": {"samples": 4}}
    w.window = (16, 16, 16)
    assert w.wait(60) and w.error == ""
    box.value = "no_such_layer"  # accepted by the box, refused by the run: the job's message
    assert w.wait(60) and "no_such_layer" in w.error and w.knobs["gradcam"] == {"layer": "no_such_layer"}
    box.value = ""
    assert w.wait(60) and w.error == "" and "gradcam" not in w.knobs and ("x4-fsrcnn", "gradcam") in w.panel_results


@pytest.mark.parametrize("name, bad, good", [
    ("steps", 0, 3), ("steps", 10 ** 12, 3), ("sigma", float("nan"), 1.0), ("kernel_size", 10 ** 9 + 1, 5),
    ("path", "nope", "black"), ("methods", [], ["gradient"]), ("methods", ["lam", "nope"], ["lam"]),
    ("knobs", {"ig": {"nope": 1}}, {"ig": {"baseline": "blurred"}}), ("alpha", 1.5, 0.5),
    ("colormap", "nope", "magma"), ("window_size", 10 ** 9, 8), ("free_size", "yes", True), ("atlas", "no", False),
    ("atlas_stride", 0, 4), ("view", "difference", "kde"), ("window", (10 ** 9, 0, 16), (0, 0, 16)),
    ("window", "abc", (8, 8, 8))])
def test_every_lam_setting_refused_then_good_clears_the_error_and_nothing_raises(make_lam, name, bad, good):
    w = make_lam()
    setattr(w, name, bad)  # never raises once the widget is built
    assert w.error and "Error:" in w.error_html.value
    setattr(w, name, good)
    assert w.wait(60)
    assert w.error == "" and w.error_html.value == ""
    assert getattr(w, name) == (tuple(good) if name == "methods" else good) or name == "window"


def test_a_cancel_that_arrives_after_the_job_ended_leaves_no_cancelling_status(make_lam):
    w = make_lam()
    w.start(lambda job: time.sleep(0.3), label="a job that never looks at its token")
    assert w.cancel() and w.status == "cancelling..."
    assert w.wait(10) and not w.busy
    assert w.status != "cancelling..." and "ended before the cancel" in w.status


def test_the_atlas_switched_off_mid_way_without_a_window_says_so(make_lam):
    w = make_lam(atlas_stride=2)
    w.atlas = True
    deadline = time.monotonic() + 30
    while w.progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    w.atlas = False
    assert w.wait(30) and not w.busy and w.error == ""
    assert "atlas off" in w.status and "press Run" not in w.status


def test_cem_errors_clear_when_the_user_fixes_the_setting(fsrcnn, lr):
    hr = image("astronaut")[:, 96:160, 96:160].clone()  # 64×64 HR of the 16×16 LR grid's size
    w = LAMWidget(fsrcnn, lr, steps=2, window=(16, 16, 16), knobs={"cem": {"coarse": 1, "fine": 2}})
    try:
        assert w.wait(60)
        w.methods = ["cem"]  # no hr: the panel and status say so, nothing raises
        assert w.wait(30) and "needs the HR image" in w.status and w.error == ""
        w.methods = ["lam"]
        assert w.wait(30) and w.error == "" and w.status.startswith(("cached", "done"))
    finally:
        w.close()
    w = LAMWidget(fsrcnn, lr, steps=2, hr=hr, window=(3, 5, 16), knobs={"cem": {"coarse": 1, "fine": 2}})
    try:
        assert w.wait(60)
        w.methods = ["cem"]  # the window is off CEM's block grid: the job's message
        assert w.wait(60) and "block grid" in w.error
        w.methods = ["lam"]
        assert w.wait(60) and w.error == ""
        w.methods = ["cem"]
        assert w.wait(60) and "block grid" in w.error
        w.window = (16, 16, 16)
        assert w.wait(120) and w.error == "" and ("x4-fsrcnn", "cem") in w.panel_results
    finally:
        w.close()


# ------------------------------------------------------------------------------------------------ the kernel
def test_mouse_events_without_a_position_are_ignored(make_lam, swallowed):
    w = make_lam()
    canvas = w.sr_view.canvas
    for x, y in ((float("nan"), 4.0), (float("inf"), 3.0), (4.0, -float("inf"))):
        for event in ("mouse_down", "mouse_move", "mouse_up", "mouse_out"):
            mouse(canvas, event, x, y)
    assert w.wait(30) and w.window == () and w.error == ""
    assert not [m for m in swallowed if "callback" in m.lower()], swallowed
    mouse(canvas, "mouse_down", 40, 40)  # a real click still selects
    mouse(canvas, "mouse_up", 40, 40)
    assert w.wait(60) and w.window and w.result is not None


def test_a_bad_image_is_an_input_error_naming_the_argument(fsrcnn):
    with pytest.raises(InputError, match=r"^image: .*\[0, 1\]"):
        LAMWidget(fsrcnn, torch.rand(3, 8, 8) * 5)


def test_model_and_image_leave_every_operation_as_they_came(lr):
    model = zoo.load("x4-fsrcnn").train()
    model.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    image_before = lr.clone()
    w = LAMWidget(model, lr, steps=2, window=(16, 16, 16))
    try:
        assert w.wait(60)
        w.methods = ["lam", "ig", "gradient"]
        w.view = "erf"
        w.steps = 3
        assert w.wait(120) and w.error == ""
    finally:
        w.close()
    assert model.training and not any(p.requires_grad for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(lr, image_before)


@pytest.mark.parametrize("seed", [-1, 2 ** 32, 2 ** 64 - 1])
def test_ddr_and_faig_refuse_a_seed_that_tsne_numpy_or_the_noise_would_refuse_mid_job(pair, seed):
    # torch takes [-2**63, 2**64 - 1]; t-SNE and numpy's rankings refuse negative seeds and seeds >= 2**32, and
    # 2**64 - 1 + image index overflowed the noise's generator (a ValueError from the constructor)
    with pytest.raises(InputError, match=r"^seed must be an integer in \[0, "):
        DDRWidget(pair[0], CROPS, seed=seed)
    with pytest.raises(InputError, match=r"^seed must be an integer in \[0, "):
        FAIGWidget(*pair, CROPS, seed=seed)


class Breakable(torch.nn.Module):
    """A zoo model that raises in forward while ``broken`` (a model failing after the widget was built)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.scale, self.broken = inner, inner.scale, False

    def forward(self, x):
        if self.broken:
            raise RuntimeError("the model broke")
        return self.inner(x)


def test_ddr_a_click_on_another_models_layer_and_a_failing_sr_output_are_shown_never_raised(pair):
    from srwidgets.models import build

    torch.manual_seed(0)
    other = build("MSRResNet", num_feat=8, num_block=20, upscale=2).eval()  # deeper: layers the zoo's lacks
    model = Breakable(pair[0])
    w = DDRWidget({"zoo": model, "deeper": other}, CROPS)
    try:
        assert w.wait(120) and not w.error
        extra = [n for n in w.layers["deeper"] if n not in w.layers["zoo"]]
        assert extra, w.layers
        k = w.layers["deeper"].index(extra[-1])
        w._layer_clicked("deeper", k)  # what a click on that point of the second model's CHI curve calls
        assert w.wait(60) and w.layer == extra[-1] and w.error == "", w.error
        assert "not a layer of this model" in w.chi_labels["zoo"].value
        assert w.layer_dropdown.value == extra[-1]
        model.broken = True
        w.selected = 1  # the SR output runs the model on the kernel thread: shown, not raised
        assert "the model broke" in w.error
        model.broken = False
        w.selected = 2
        assert w.error == ""
    finally:
        w.close()


def test_a_canvas_wider_than_any_screen_is_refused_at_construction(fsrcnn, lr, pair):
    # a large image is drawn at up to this size: 10**6 px would be a terabyte-sized RGBA canvas
    with pytest.raises(InputError, match=r"^max_display must be an integer >= 64 and <= 4096"):
        LAMWidget(fsrcnn, lr, max_display=10 ** 6)
    with pytest.raises(InputError, match=r"^size must be an integer >= 32 and <= 4096"):
        FAIGWidget(*pair, CROPS, size=10 ** 6)


def test_a_method_that_cannot_run_leaves_no_stale_result_to_export(make_lam, tmp_path):
    w = make_lam(window=(16, 16, 16))
    assert w.wait(60) and w.result.method == "lam"
    w.methods = ["cem"]  # no hr: nothing is shown, so nothing of LAM's may be exported as if it were
    assert w.wait(30) and "needs the HR image" in w.status
    assert w.result is None and w.results == {} and w.panel_results == {}
    w.export_path.value = str(tmp_path / "cem.png")
    w.export_button.click()
    assert "nothing to save" in w.error and not (tmp_path / "cem.png").exists()
    w.methods = ["lam"]  # cached: shown at once, the message is stale
    assert w.wait(30) and w.error == "" and w.result.method == "lam"


def test_an_export_never_writes_over_a_bundled_image_the_widget_read(fsrcnn):
    from srwidgets.data import image_path

    w = LAMWidget(fsrcnn, "astronaut", steps=2, window=(16, 16, 16))  # the bundled file, read by name
    try:
        assert w.wait(120) and w.result is not None
        before = open(image_path("astronaut"), "rb").read()
        w.export_path.value = image_path("astronaut")
        w.export_button.click()
        assert "is the input" in w.error
        assert open(image_path("astronaut"), "rb").read() == before
    finally:
        w.close()


def test_faig_bad_images_are_input_errors_naming_images(pair):
    with pytest.raises(InputError, match=r"^images: .*expected \[0, 1\]"):
        FAIGWidget(*pair, [CROPS[0] * 3])
    with pytest.raises(InputError, match=r"^images\[0\] is 4×4"):  # the engine's hr_images, as the argument is called
        FAIGWidget(*pair, [torch.rand(3, 4, 4)])


def test_lam_many_rapid_changes_end_on_the_last_window_and_settings(make_lam):
    w = make_lam(steps=20)
    for i in range(40):  # each change supersedes the running job: the last one's result is the one shown
        w.window = (i % 6 * 8, i % 5 * 8, 16)
        w.steps = 2 + i % 3
        w.methods = ["lam", "gradient"] if i % 2 else ["lam"]
        w.view = ["map", "kde", "erf"][i % 3]
        w.alpha = (i % 10) / 10
    assert w.wait(120) and w.error == "" and not w.busy
    assert w.result.window == tuple(w.window) and w.result.settings["steps"] == w.steps
    assert set(w.panel_results) == {("x4-fsrcnn", m) for m in w.methods}
    assert all(r.window == tuple(w.window) for r in w.panel_results.values())


def test_faig_many_rapid_changes_end_on_the_last_settings(pair):
    w = FAIGWidget(*pair, CROPS, steps=2)
    try:
        assert w.wait(120)
        for i in range(30):
            w.lam = (i % 10) / 10
            w.fraction = (1 + i % 5) / 100
            w.method = ["faig", "random", "weight_diff"][i % 3]
            w.image_index = i % 2
            if i % 7 == 0:
                w.steps = 2 + i % 3
        assert w.wait(120) and w.error == "" and not w.busy
        v = w.view
        assert (v["lam"], v["fraction"], v["method"], v["image"], v["steps"]) == (
            w.lam, w.fraction, w.method, w.image_index, w.steps)
    finally:
        w.close()


def test_a_rejected_window_then_the_kept_one_leaves_no_rejected_status(make_lam):
    w = make_lam(window=(16, 16, 16))
    assert w.wait(60)
    shown = w.status
    w.window = (10 ** 6, 0, 16)
    assert w.status == "window rejected" and w.error and w.window == (16, 16, 16, 16)
    w.window = (16, 16, 16)  # the kept window again: no job starts, the message and the status are stale
    assert w.wait(30) and w.error == "" and w.status == shown


def test_an_all_zero_map_is_said_in_the_status(lr):
    """A CAM whose ReLU removes everything (the weights of zero here) gives Gini 0 / DI 100: the status says the map
    is all zero instead of showing DI 100 as a wide map; a map that is not zero gets no such note."""
    from srwidgets import attribution
    from _helpers import zero_cam

    ZeroCAM = zero_cam("zero_cam_widget_test")
    attribution.register(ZeroCAM.name, ZeroCAM)
    try:
        w = LAMWidget(zoo.load("x4-fsrcnn"), lr, methods=[ZeroCAM.name, "gradient"], window=(16, 16, 16))
        try:
            assert w.wait(120) and not w.error
            assert "all zero" in w.status and ZeroCAM.name in w.status and "gradient" not in w.status.split("all zero")[1]
        finally:
            w.close()
    finally:
        attribution.unregister(ZeroCAM.name)


def _box(widget, description):
    """The control of the widget's tree whose description is ``description``."""
    stack = [widget]
    while stack:
        node = stack.pop()
        if getattr(node, "description", None) == description and hasattr(node, "value"):
            return node
        stack.extend(getattr(node, "children", ()))
    raise AssertionError(f"no control {description!r}")


@pytest.mark.parametrize("description, trait, bad, good", [
    ("Stride:", "atlas_stride", 0, 4), ("Stride:", "atlas_stride", -3, 16),
    ("Window:", "window_size", 0, 8), ("Window:", "window_size", 10 ** 9, 24)])
def test_a_refused_number_typed_into_a_box_goes_back_to_the_value_in_effect(make_lam, description, trait, bad, good):
    w = make_lam()
    box = _box(w, description)
    kept = getattr(w, trait)
    assert box.value == kept
    box.value = bad  # what the frontend sends when the user types it
    assert getattr(w, trait) == kept and box.value == kept  # the box shows what is in effect, not the refused number
    assert trait in w.error and "Error:" in w.error_html.value  # and the message stays, saying what was wrong
    box.value = good
    assert w.wait(60)
    assert getattr(w, trait) == good and box.value == good and w.error == ""
    setattr(w, trait, kept)  # from code: the box follows
    assert box.value == kept


def test_snapshot_is_the_saved_figure_and_refuses_before_a_window(make_lam, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a snapshot writes no file where the user works
    w = make_lam()
    with pytest.raises(InputError, match="select a window"):
        w.snapshot()
    w.window = (8, 8, 16)
    picture = w.snapshot()  # waits for the attribution
    assert w.result is not None and picture.format == "png" and picture.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.data == open(w.save_figure(str(tmp_path / "lam.png")), "rb").read()
    assert [p.name for p in tmp_path.iterdir()] == ["lam.png"]  # only save_figure wrote here
