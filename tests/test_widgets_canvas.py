"""Canvas views on their own (srwidgets.widgets.canvas): conversion to RGBA, zoom, image layers, coordinates, and
the window selector driven by the messages a browser sends."""
import numpy as np
import pytest
import torch

from srwidgets.widgets.canvas import ImageView, WindowSelector, as_rgba, display_zoom, resample


def mouse(view, event, x, y):
    view.canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


def test_as_rgba_converts_tensors_arrays_and_grey():
    t = torch.tensor([[[0.0, 1.0]], [[0.5, 0.25]], [[1.0, 2.0]]])  # [3, 1, 2], a value above 1 is clipped
    out = as_rgba(t)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 4)
    assert out[0, 0].tolist() == [0, 128, 255, 255] and out[0, 1].tolist() == [255, 64, 255, 255]
    grey = as_rgba(np.full((2, 3), 0.5, np.float32))
    assert grey.shape == (2, 3, 4) and (grey[..., :3] == 128).all()
    assert as_rgba(np.zeros((2, 2, 3), np.uint8))[..., 3].min() == 255


@pytest.mark.parametrize("size, zoom", [((16, 16), 16.0), ((64, 64), 4.0), ((256, 100), 1.0), ((1024, 512), 0.5)])
def test_display_zoom(size, zoom):
    assert display_zoom(*size) == zoom


def test_resample_repeats_pixels_exactly_for_integer_zooms():
    a = np.arange(4 * 4, dtype=np.uint8).reshape(2, 2, 4)
    b = resample(a, 6, 6)
    assert (b[:3, :3] == a[0, 0]).all() and (b[3:, 3:] == a[1, 1]).all()
    assert resample(a, 2, 2) is a


def test_show_and_clear_track_what_was_sent():
    view = ImageView(8, 8, zoom=4)
    arr = view.show("overlay", torch.ones(3, 8, 8))
    assert arr.shape == (32, 32, 4) and view.sent["overlay"] is arr
    view.clear("overlay")
    assert view.sent["overlay"] is None


def test_image_view_fits_a_large_image_without_converting_all_of_it():
    view = ImageView(2000, 100)
    img = torch.zeros(3, 2000, 100)
    img[0, 1000:] = 1.0
    sent_arr = view.show("image", img)
    assert sent_arr.shape == (512, round(100 * 512 / 2000), 4)
    assert sent_arr[:256, :, 0].max() == 0 and sent_arr[256:, :, 0].min() == 255
    assert view.to_image(0, 511) == (1996, 0)


def test_to_image_clamps_to_the_image():
    view = ImageView(10, 20, zoom=4)
    assert view.to_image(-5, -5) == (0, 0) and view.to_image(1000, 1000) == (9, 19) and view.to_image(9, 5) == (1, 2)


def test_selector_click_selects_a_square_centred_and_kept_inside():
    view, chosen = ImageView(32, 32, zoom=4), []
    WindowSelector(view, chosen.append, size=8)
    mouse(view, "mouse_down", 64, 64)
    mouse(view, "mouse_up", 64, 64)
    mouse(view, "mouse_down", 0, 0)
    mouse(view, "mouse_up", 0, 0)  # at the corner: shifted inside
    assert chosen == [(12, 12, 8, 8), (0, 0, 8, 8)]


def test_selector_select_from_code_is_what_a_finished_drag_sends():
    view, chosen = ImageView(32, 32, zoom=4), []
    selector = WindowSelector(view, chosen.append, size=8)
    mouse(view, "mouse_down", 64, 64)  # a drag in progress is dropped by select()
    selector.select((2, 3, 8))
    selector.select((1, 2, 4, 6))
    mouse(view, "mouse_up", 100, 100)  # its release no longer selects
    assert chosen == [(2, 3, 8, 8), (1, 2, 4, 6)]


def test_selector_select_at_is_a_click_at_that_image_pixel():
    view, chosen = ImageView(32, 32, zoom=4), []
    selector = WindowSelector(view, chosen.append, size=8)
    selector.select_at(16, 16)
    selector.select_at(0, 31)  # at the edge: shifted inside, as a click is
    assert chosen == [(12, 12, 8, 8), (0, 24, 8, 8)]


def test_selector_free_drag_spans_press_and_release_inclusive():
    view, chosen = ImageView(32, 32, zoom=4), []
    WindowSelector(view, chosen.append, free=True)
    mouse(view, "mouse_down", 40, 8)   # row 2, col 10
    mouse(view, "mouse_move", 20, 30)
    mouse(view, "mouse_up", 20, 60)    # row 15, col 5
    assert chosen == [(2, 5, 14, 6)]


def test_selector_mouse_out_abandons_the_drag():
    view, chosen = ImageView(32, 32, zoom=4), []
    WindowSelector(view, chosen.append, size=8)
    mouse(view, "mouse_down", 64, 64)
    mouse(view, "mouse_out", 200, 200)
    mouse(view, "mouse_up", 64, 64)  # a release elsewhere after leaving: no selection
    assert chosen == []


def test_scatter_colours_by_label_and_picks_the_nearest_point():
    from srwidgets.widgets.canvas import PALETTE, ScatterView

    hovered, clicked = [], []
    view = ScatterView(200, 200, on_hover=hovered.append, on_click=clicked.append)
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    view.set_points(xy, ["clean", "blur", "clean"])
    assert view.colors == {"clean": PALETTE[0], "blur": PALETTE[1]}
    # fitted with a margin, y up: point 0 bottom-left, point 1 top-right
    (x0, y0), (x1, y1) = view.display[0], view.display[1]
    assert x0 < x1 and y0 > y1 and 0 < x0 and x1 < 200
    mouse(view, "mouse_move", x1 + 1, y1 + 1)
    mouse(view, "mouse_move", 100, 100)  # empty space
    mouse(view, "mouse_down", *view.display[2])
    assert hovered == [1, None] and clicked == [2]
    with pytest.raises(ValueError):
        view.set_points(xy, ["a"])


def test_scatter_handles_thousands_of_points_in_one_call_per_label():
    from srwidgets.widgets.canvas import ScatterView

    view = ScatterView()
    xy = np.random.default_rng(0).normal(size=(3000, 2))
    view.set_points(xy, ["abc"[i % 3] for i in range(3000)])
    assert view.display.shape == (3000, 2) and len(view.colors) == 3
    assert view.point_at(*view.display[1234]) == 1234


def test_curve_view_click_selects_the_nearest_step():
    from srwidgets.widgets.canvas import CurveView

    chosen = []
    view = CurveView(300, 200, on_select=chosen.append)
    view.set_curves({"by degradation": [1.0, 10.0, 100.0], "by image": [5.0, 4.0, float("nan")]}, ["a", "b", "c"])
    mouse(view, "mouse_down", view.xs[2] + 2, 50)
    mouse(view, "mouse_down", 0, 50)
    assert chosen == [2, 0] and view.selected == 0


def test_scatter_names_its_axes_and_keeps_them_until_told_otherwise():
    from srwidgets.widgets.canvas import ScatterView

    view = ScatterView(200, 200)
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    view.set_points(xy, ["a", "b", "a"], axes=("t-SNE 1", "t-SNE 2"))
    assert view.axis_labels == ("t-SNE 1", "t-SNE 2")
    view.set_points(xy, ["a", "b", "a"])
    assert view.axis_labels == ("t-SNE 1", "t-SNE 2")
    view.set_points(xy, ["a", "b", "a"], axes=("PC 1", "PC 2"))
    assert view.axis_labels == ("PC 1", "PC 2")


def test_scatter_colours_are_the_figures_label_colours():
    from srwidgets import viz
    from srwidgets.widgets.canvas import ScatterView

    view = ScatterView(100, 100)
    labels = ["noise", "clean", "blur", "noise"]
    view.set_points(np.random.default_rng(0).random((4, 2)), labels)
    assert view.colors == viz.label_colors(labels) and view.colors["clean"] == viz.PALETTE[1]


def _texts(monkeypatch):
    """``[(text, font)]`` of every fillText sent to the frontend (ipycanvas' command channel)."""
    from ipycanvas import canvas as ipc

    log, fonts = [], []
    manager = ipc._CANVAS_MANAGER
    original = manager.send_draw_command

    def spy(canvas, name, args=[], buffers=[]):
        if name == ipc.COMMANDS["fillText"]:
            log.append(str(args[0]))
        return original(canvas, name, args, buffers)

    monkeypatch.setattr(manager, "send_draw_command", spy)
    return log


FAIG_LAYERS = ["conv_first"] + [f"body.{i}.conv{j}" for i in range(6) for j in (1, 2)] + ["upconv1", "conv_hr",
                                                                                          "conv_last"]


def test_bars_are_named_by_their_layers_and_charts_use_a_legible_font(monkeypatch):
    """FAIG's per-layer strip (issue 26: its bars were labelled 0-15): every bar carries its layer's name, turned
    a quarter when the names are wider than the bars, with room for them under the axis; the charts' text is
    12 px (was 10)."""
    from srwidgets.widgets.canvas import CHART_FONT_PX, BarView, CurveView, step_label_room

    texts = _texts(monkeypatch)
    bars = BarView(384, 230)
    bars.set_bars(np.arange(16.0) + 0.5, FAIG_LAYERS)  # axis labels "15.5" and "0": no index shows
    assert all(name in texts for name in FAIG_LAYERS) and not any(t in texts for t in ("3", "15"))
    upright, room = step_label_room(FAIG_LAYERS, (384 - 40) / 16)
    assert not upright and room >= 0.6 * CHART_FONT_PX * len("body.0.conv1") and CHART_FONT_PX >= 12
    assert bars.canvas[0].font == "12px sans-serif"
    texts.clear()
    curves = CurveView(320, 200)  # the DDR widget's: six blocks, named upright
    curves.set_curves({"by degradation": [1, 2, 3, 4, 5, 6], "by image": [6, 5, 4, 3, 2, 1]},
                      [f"body.{i}" for i in range(6)])
    assert [t for t in texts if t.startswith("body.")] == [f"body.{i}" for i in range(6)]
    assert step_label_room([f"body.{i}" for i in range(6)], (320 - 54) / 6)[0]  # fits its column
