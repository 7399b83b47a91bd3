"""srwidgets.viz.di: the DI table and atlas figures show as PNG in a notebook (built without pyplot)."""
import numpy as np
import pandas as pd
import pytest
import torch
from IPython.core.formatters import DisplayFormatter

from srwidgets.batch import DIAtlas
from srwidgets.viz.di import atlas_figure, di_distribution_figure, di_vs_psnr_figure

TABLE = pd.DataFrame({"model": ["a", "a", "b", "b"], "image": [0, 1, 0, 1], "di": [10.0, 12, 20, 22],
                      "psnr": [28.0, 29, 30, 31]})


def atlas():
    return DIAtlas(di=np.array([[1.0, 3.0]]), gini=np.zeros((1, 2)), tops=np.array([0]), lefts=np.array([0, 4]),
                   size=8, stride=4, scale=2, image=torch.zeros(3, 4, 6), model="m", table=None)


@pytest.mark.parametrize("make", [lambda: di_distribution_figure(TABLE), lambda: di_vs_psnr_figure(TABLE),
                                  lambda: atlas_figure(atlas())], ids=["distribution", "di-vs-psnr", "atlas"])
def test_di_figures_show_as_png_at_the_end_of_a_cell(make):
    data, _ = DisplayFormatter().format(make())
    assert data["image/png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_di_vs_psnr_dots_are_visible_and_labelled():
    """Issue 26: the per-image dots were tiny, pale and unlabelled. Now each is large and nearly opaque, each
    image's dot says which image it is (few images), each model's mean is named."""
    fig = di_vs_psnr_figure(TABLE)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if len(c.get_offsets()) == 2]
    assert len(dots) == 2 and all(c.get_sizes()[0] >= 40 and c.get_alpha() >= 0.8 for c in dots)
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("0") == 2 and texts.count("1") == 2 and {"a", "b"} <= set(texts)


def test_atlas_shows_the_image_beside_the_map():
    fig = atlas_figure(atlas())
    plain, over = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(plain.get_images()) == 1 and len(over.get_images()) == 2  # the image alone; under the atlas
    np.testing.assert_array_equal(plain.get_images()[0].get_array(), over.get_images()[0].get_array())
