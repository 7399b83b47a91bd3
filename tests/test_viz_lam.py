"""LAM figures (srwidgets.viz.lam): the KDE view, the LAM figure (title inside, window never over the map, inset,
completeness), two models' difference and the ERF figure."""
import io

import numpy as np
import pytest
import torch

from srwidgets import viz
from srwidgets.errors import InputError
from srwidgets.lam import LAM
from srwidgets.lam.erf import erf
from srwidgets.models import build


@pytest.fixture(scope="module")
def results(edsr, image):
    """Two LAM results on the same image and window: the tiny EDSR and a second, differently seeded one."""
    torch.manual_seed(3)
    other = build("EDSR", num_feat=8, num_block=1, upscale=2).eval()
    return [LAM(m).attribute(image, (4, 4, 8), steps=4, kernel_size=5) for m in (edsr, other)]


# ------------------------------------------------------------------------------------------------ kde_map
@pytest.mark.parametrize("bandwidth", [0.7, 2.0, "scott"])
def test_kde_of_a_delta_peaks_at_the_delta(bandwidth):
    m = np.zeros((15, 11))
    m[4, 7] = 0.3
    k = viz.kde_map(m, bandwidth=bandwidth)
    assert k.shape == m.shape and k.max() == 1.0 and k.min() >= 0
    assert np.unravel_index(k.argmax(), k.shape) == (4, 7)
    assert k[4, 6] == pytest.approx(k[4, 8]) and k[3, 7] == pytest.approx(k[5, 7])  # isotropic around it
    assert k[4, 6] < 1.0 and k[4, 0] < k[4, 6]  # decays away from it


def test_kde_fixed_bandwidth_is_the_gaussian_at_pixel_distance():
    m = np.zeros((21, 21))
    m[10, 10] = 1.0
    k = viz.kde_map(m, bandwidth=2.0)
    # exp(−d² / 2σ²): d = 2 -> exp(−0.5), d = (3, 4) -> exp(−25 / 8)
    assert k[10, 12] == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert k[13, 14] == pytest.approx(np.exp(-25 / 8), rel=1e-6)


def test_kde_scott_is_the_lam_demos_scipy_kde():
    stats = pytest.importorskip("scipy.stats")
    m = np.random.default_rng(0).random((9, 12)) ** 4
    rows, cols = np.mgrid[0:9, 0:12]
    pos = np.vstack([cols.ravel(), rows.ravel()]).astype(float)
    z = stats.gaussian_kde(pos, weights=m.ravel())(pos).reshape(9, 12)
    np.testing.assert_allclose(viz.kde_map(m), z / z.max(), rtol=1e-10)


def test_kde_of_nothing_is_zero_and_bad_input_is_refused():
    assert not viz.kde_map(np.zeros((4, 5))).any()
    with pytest.raises(InputError, match="non-negative"):
        viz.kde_map(-np.ones((4, 4)))
    with pytest.raises(InputError, match="bandwidth"):
        viz.kde_map(np.ones((4, 4)), bandwidth=0)
    with pytest.raises(InputError, match="bandwidth"):
        viz.kde_map(np.ones((4, 4)), bandwidth="silverman")
    with pytest.raises(InputError, match="2-D"):
        viz.kde_map(np.ones((2, 4, 4)))


# ------------------------------------------------------------------------------------------------ lam_figure
def _inside(fig):
    """Render the figure as PNG (as the CLI saves it) and tell whether everything drawn lies inside it."""
    fig.savefig(io.BytesIO(), dpi=100, format="png")
    tight = fig.get_tightbbox(fig._get_renderer())
    w, h = fig.get_size_inches()
    return tight.x0 >= -1e-6 and tight.y0 >= -1e-6 and tight.x1 <= w + 1e-6 and tight.y1 <= h + 1e-6


def panels(fig):
    """A figure's panels: its axes without the colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_lam_figure_panels_title_view_and_completeness(results, tmp_path):
    r = results[0]
    fig = viz.lam_figure(r, path=tmp_path / "lam.png", titles=["tiny"])
    assert (tmp_path / "lam.png").stat().st_size > 1000
    assert len(panels(fig)) == 2 and "SR x2" in fig.axes[0].get_title()
    top, left, size = r.window[0], r.window[1], r.window[2]
    assert f"window top={top}, left={left}, {size}x{size} (SR px)" in fig.axes[0].get_title()
    title = fig.axes[1].get_title()
    assert "tiny" in title and "LAM KDE" in title and "DI" in title and "Gini" in title
    label = " ".join(fig.axes[1].get_xlabel().split())  # the caption's words (it is wrapped to the panel)
    assert "ΣA" in label and f"{float(r.attribution.sum()):.4g}" in label
    assert f"{r.objective - r.objective_baseline:.4g}" in label
    # the caption says what DI and Gini mean on this image: 0-100, and the window's own LR pixels' DI
    own = 100 * (r.window[2] / 2) * (r.window[3] / 2) / (r.map.shape[0] * r.map.shape[1])
    assert "0-100" in label and f"the window's own 4x4 LR px: {own:.2f}" in label and "Gini" in label
    (bar,) = colorbars(fig)  # colour carries a value: its bar says which
    assert bar.get_ylim() == (0.0, 1.0) and "max 1" in bar.get_ylabel()
    assert len(fig.axes[1].child_axes) == 1  # the zoomed inset
    assert "LAM map" in viz.lam_figure(r, view="map").axes[1].get_title()
    assert len(panels(viz.lam_figure(results, titles=["a", "b"]))) == 3
    assert not viz.lam_figure(r, inset=False).axes[1].child_axes
    with pytest.raises(InputError, match="view"):
        viz.lam_figure(r, view="saliency")


@pytest.mark.parametrize("titles", [None, ["model"], ["a long model name\nwith a second line"]])
def test_lam_figure_title_is_not_clipped(results, titles):
    assert _inside(viz.lam_figure(results[0], titles=titles))
    assert _inside(viz.lam_figure(results, titles=None if titles is None else titles * 2))


def test_the_window_marks_never_cover_the_window_or_its_ring(results):
    r = results[0]
    fig = viz.lam_figure(r)
    top, left, h, w = r.window
    gap = 2.0  # one LR pixel at x2
    ax = fig.axes[1]
    assert not ax.patches  # no box on the map panel: corner brackets only
    x0, x1, y0, y1 = left - 0.5 - gap, left + w - 0.5 + gap, top - 0.5 - gap, top + h - 0.5 + gap
    for line in ax.lines:
        for x, y in zip(*line.get_data()):
            # every vertex sits on the window grown by one LR pixel, never inside it
            assert (x in (x0, x1) and y0 <= y <= y1) or (y in (y0, y1) and x0 <= x <= x1), (x, y)
    assert len(ax.lines) == 4
    # the SR panel's outline lies outside the window, too
    (rect,) = fig.axes[0].patches
    assert rect.get_x() == x0 and rect.get_y() == y0 and rect.get_width() == w + 2 * gap



def test_lam_figure_via_the_package_still_works(results):
    from srwidgets.viz import lam as lam_module

    assert viz.lam_figure is lam_module.lam_figure and viz.kde_map is lam_module.kde_map


# ------------------------------------------------------------------------------------------------ difference_figure
def test_difference_rgba_is_the_signed_difference_at_symmetric_limits():
    import matplotlib

    a = np.array([[1.0, 0.0], [0.25, np.nan]])
    b = np.array([[0.0, 0.5], [0.25, 0.0]])
    rgba = viz.difference_rgba(a, b, alpha=0.25)
    assert rgba.shape == (2, 2, 4) and rgba.dtype == np.uint8
    # d = a − b = [[1, −0.5], [0, 0 (NaN)]], max|d| = 1: colour values 0.5 + 0.5·d = [[1, 0.25], [0.5, 0.5]]
    expected = viz.heatmap_rgba(np.array([[1.0, 0.25], [0.5, 0.5]]), "RdBu_r", 0.25)
    np.testing.assert_array_equal(rgba, expected)
    assert (rgba[..., 3] == round(0.25 * 255)).all()
    red, blue = rgba[0, 0], rgba[0, 1]
    assert red[0] > red[2] and blue[2] > blue[0]  # red: a larger; blue: b larger
    white = (np.asarray(matplotlib.colormaps["RdBu_r"](0.5)[:3]) * 255).round()
    np.testing.assert_array_equal(rgba[1, 0, :3], white)
    np.testing.assert_array_equal(viz.difference_rgba(torch.tensor(a), torch.tensor(b), alpha=0.25), rgba)
    same = viz.difference_rgba(b, b, cmap="seismic", alpha=1.0)  # all zero: the cmap's centre, no division by 0
    np.testing.assert_array_equal(same, viz.heatmap_rgba(np.full((2, 2), 0.5), "seismic", 1.0))
    with pytest.raises(InputError, match="one shape"):
        viz.difference_rgba(a, b[:1])


def test_difference_figure_draws_the_difference_rgba_colours(results):
    a, b = results
    fig = viz.difference_figure(a, b, titles=["EDSR", "other"])
    assert len(panels(fig)) == 3 and len(colorbars(fig)) == 2  # A, B, A − B; the maps' and the difference's bars
    assert "EDSR − other" in fig.axes[2].get_title()
    (im,) = fig.axes[2].get_images()
    np.testing.assert_array_equal(im.get_array(), viz.difference_rgba(a.map, b.map, alpha=1.0))  # by construction
    diff = a.map.numpy().astype(float) - b.map.numpy().astype(float)
    (solids,) = [c for c in colorbars(fig)[1].collections if c.get_cmap().name == "RdBu_r"]  # the bar's colours
    lo, hi = solids.get_clim()
    assert lo == -hi == pytest.approx(-np.abs(diff).max())
    kde = viz.difference_figure(a, b, view="kde").axes[2].get_images()[0].get_array()
    np.testing.assert_array_equal(kde, viz.difference_rgba(viz.kde_map(a.map), viz.kde_map(b.map), alpha=1.0))


def test_difference_of_a_result_with_itself_is_white(results):
    (im,) = viz.difference_figure(results[0], results[0]).axes[2].get_images()
    centre = viz.heatmap_rgba(np.full((1, 1), 0.5), "RdBu_r", 1.0)[0, 0]
    assert (np.asarray(im.get_array()) == centre).all()


def test_difference_figure_refuses_other_windows_and_images(edsr, image, results):
    other = LAM(edsr).attribute(image, (6, 4, 8), steps=2, kernel_size=5)
    with pytest.raises(InputError, match="different windows"):
        viz.difference_figure(results[0], other)
    small = LAM(edsr).attribute(image[:, :10, :10], (4, 4, 8), steps=2, kernel_size=5)
    with pytest.raises(InputError, match="different LR images"):
        viz.difference_figure(results[0], small)


# ------------------------------------------------------------------------------------------------ erf_figure
def test_erf_figure_beside_lam(edsr, image, results, tmp_path):
    e = erf(edsr, image, (4, 4, 8))
    fig = viz.erf_figure(e, path=tmp_path / "erf.png")
    assert len(panels(fig)) == 2 and "ERF" in fig.axes[1].get_title() and (tmp_path / "erf.png").exists()
    fig = viz.erf_figure(e, results[0], title="tiny")
    assert len(panels(fig)) == 3 and "LAM" in fig.axes[2].get_title() and "ΣA" in fig.axes[2].get_xlabel()
    assert fig.get_suptitle() == "tiny" and not any("tiny" in ax.get_title() for ax in fig.axes)  # once
    assert len(colorbars(fig)) == 1
    assert _inside(fig)
    other = erf(edsr, image, (6, 4, 8))
    with pytest.raises(InputError, match="same window"):
        viz.erf_figure(other, results[0])


def test_the_inset_zooms_on_the_window_from_the_far_corner(results):
    r = results[0]  # window (4, 4, 8) on a 24 x 24 SR image: upper left, so the inset goes to the lower right
    fig = viz.lam_figure(r)
    fig.draw_without_rendering()
    panel = fig.axes[1]
    (ins,) = panel.child_axes
    (px0, py0), (px1, py1) = panel.get_position().get_points()
    (ix0, iy0), (ix1, iy1) = ins.get_position().get_points()
    assert (ix0 + ix1) / 2 > (px0 + px1) / 2 and (iy0 + iy1) / 2 < (py0 + py1) / 2  # figure y points up
    top, left, h, w = r.window
    (x0, x1), (y1, y0) = ins.get_xlim(), ins.get_ylim()  # image axes: y downwards
    assert x0 <= left - 0.5 and x1 >= left + w - 0.5 and y0 <= top - 0.5 and y1 >= top + h - 0.5
    assert x1 - x0 < 24 or y1 - y0 < 24  # zoomed: not the whole image
    (picture,) = ins.get_images()
    assert len(ins.lines) == 4  # corner brackets in the inset too


def test_kde_scott_without_scipy_falls_back_to_the_separable_gaussian(monkeypatch):
    import sys

    m = np.zeros((16, 16))
    m[5:8, 9:11] = 1.0
    with_scipy = viz.kde_map(m)
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy now raises ImportError
    k = viz.kde_map(m)
    assert k.max() == 1.0 and np.unravel_index(k.argmax(), k.shape) in [(6, 9), (6, 10)]
    assert not np.allclose(k, with_scipy)  # another (documented) estimate, same place


def test_a_window_at_the_corner_does_not_widen_the_panels(edsr, image):
    r = LAM(edsr).attribute(image, (0, 0, 8), steps=2, kernel_size=5)
    fig = viz.lam_figure(r)
    fig.draw_without_rendering()
    for ax in panels(fig):
        assert ax.get_xlim() == (-0.5, 23.5) and ax.get_ylim() == (23.5, -0.5)
    for ax in viz.difference_figure(r, r).axes[:3]:
        assert ax.get_xlim() == (-0.5, 23.5) and ax.get_ylim() == (23.5, -0.5)


def test_lam_figures_show_as_png_in_a_notebook_without_pyplot(results):
    from IPython.core.formatters import DisplayFormatter

    fig = viz.lam_figure(results[0])
    data, _ = DisplayFormatter().format(fig)  # what Jupyter shows for a cell ending in `fig`
    assert data["image/png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_notebook_figures_survive_pickling(results):
    import pickle

    fig = pickle.loads(pickle.dumps(viz.lam_figure(results[0], inset=False)))
    assert type(fig).__name__ == "NotebookFigure" and fig._repr_png_().startswith(b"\x89PNG")


@pytest.mark.parametrize("models", [1, 3, 4])
def test_the_captions_of_neighbouring_panels_never_run_into_each_other(results, models):
    """Each map panel's caption (DI scale, Gini, completeness in words) stays within its own column: with several
    models the panels are narrow, and unwrapped captions overlapped their neighbours'."""
    fig = viz.lam_figure([results[0]] * models, titles=[f"model {k}" for k in range(models)])
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    boxes = [ax.xaxis.label.get_window_extent(renderer) for ax in fig.axes[1:1 + models]]
    columns = [ax.get_window_extent(renderer) for ax in fig.axes[1:1 + models]]
    for k in range(models - 1):
        assert boxes[k].x1 < boxes[k + 1].x0, (k, boxes[k], boxes[k + 1])  # a gap between neighbours
    gap = columns[1].x0 - columns[0].x1 if models > 1 else 0.0
    for box, column in zip(boxes, columns):
        assert column.x0 - gap / 2 <= box.x0 and box.x1 <= column.x1 + gap / 2  # within its column
    assert "ΣA" in fig.axes[1].get_xlabel() and max(map(len, fig.axes[1].get_xlabel().splitlines())) <= 46
