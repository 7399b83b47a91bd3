"""The DDR figure (srwidgets.viz.ddr) and the palette it shares with the widgets (srwidgets.viz.PALETTE)."""
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from srwidgets import ddr, models, viz
from srwidgets.viz.ddr import axis_labels, ddr_figure


@pytest.fixture(scope="module")
def result():
    torch.manual_seed(0)
    model = models.build("EDSR", num_feat=8, num_block=2, upscale=2).eval()
    images = [np.random.default_rng(i).random((32, 32, 3)) for i in range(3)]
    return ddr.analyse(model, images)


def test_the_palette_is_tab10_in_order():
    from matplotlib import colormaps

    tab10 = [to_rgb(c) for c in colormaps["tab10"].colors]
    assert [to_rgb(c) for c in viz.PALETTE] == tab10


def test_label_colors_follow_first_appearance_and_cycle():
    colours = viz.label_colors([f"l{k % 12}" for k in range(30)])
    assert list(colours) == [f"l{k}" for k in range(12)]
    assert colours["l0"] == viz.PALETTE[0] and colours["l10"] == viz.PALETTE[0] and colours["l3"] == viz.PALETTE[3]


def test_the_figure_colours_degradations_with_the_palette(result):
    fig = ddr_figure(result)
    left = fig.axes[0]
    got = {c.get_label(): to_rgb(c.get_facecolor()[0]) for c in left.collections}
    assert got == {label: to_rgb(viz.PALETTE[k]) for k, label in enumerate(["clean", "blur", "noise"])}


@pytest.mark.parametrize("method, names", [("pca", ("PC 1", "PC 2")), ("tsne", ("t-SNE 1", "t-SNE 2"))])
def test_the_embedding_axes_are_named(result, method, names):
    assert axis_labels(method) == names
    with pytest.warns(UserWarning) if method == "tsne" else _nothing():
        left = ddr_figure(result, method=method, perplexity=30.0).axes[0]
    assert (left.get_xlabel(), left.get_ylabel()) == names


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
