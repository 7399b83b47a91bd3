"""The DI atlas in LAMWidget: the "DI atlas" toggle computes :func:`srwidgets.batch.di_atlas` on the worker, draws it
over the SR image (the SR canvas' overlay layer), caches it, can be cancelled, and a click on a cell opens that
cell's window. Tiny x2 EDSR, a 16 px LR image (SR 32 px), 3 steps, 16 px windows on a stride of 8 (3 x 3 cells)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from srwidgets.batch import di_atlas
from srwidgets.models import build
from srwidgets.viz.di import atlas_rgba
from srwidgets.widgets.canvas import resample
from srwidgets.widgets.lam import ATLAS_CMAP, LAMWidget

LR = 16


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return build("EDSR", num_feat=8, num_block=1, upscale=2).eval()


class Slow(nn.Module):
    """The tiny model, ``delay`` seconds per forward pass (to catch a job mid-way)."""

    def __init__(self, delay: float = 0.05):
        super().__init__()
        self.inner, self.delay, self.scale = tiny(), delay, 2

    def forward(self, x):
        time.sleep(self.delay)
        return self.inner(x)


@pytest.fixture
def image():
    return torch.rand(3, LR, LR, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def make(image):
    made = []

    def _make(model=None, **kw):
        kw.setdefault("steps", 3)
        w = LAMWidget(tiny() if model is None else model, image, **kw)
        made.append(w)
        assert w.wait(60), "the SR preview did not finish"
        return w

    yield _make
    for w in made:
        w.cancel()
        w.wait(60)


def test_toggle_computes_the_batch_atlas_and_draws_it(make, image):
    w = make()
    assert w.atlas_result is None and w.sr_view.sent["overlay"] is None
    w.atlas = True
    assert w.wait(120) and not w.error, w.error
    got = w.atlas_result
    settings = w.atlas_settings()
    assert settings["stride"] == 8 and settings["size"] == 16 and settings["steps"] == 3
    want = di_atlas({w.names[0]: w.models[w.names[0]]}, image, **settings)
    assert got.di.shape == (3, 3) and got.model == w.names[0]
    np.testing.assert_array_equal(got.di, want.di)
    np.testing.assert_array_equal(got.gini, want.gini)
    assert (got.tops == [0, 8, 16]).all() and (got.lefts == [0, 8, 16]).all()
    # the overlay layer of the SR canvas carries exactly the atlas' colours, stretched to the canvas
    v = w.sr_view
    layer = resample(atlas_rgba(got, ATLAS_CMAP, w.alpha), v.display_height, v.display_width)
    np.testing.assert_array_equal(v.sent["overlay"], layer)
    assert (v.sent["overlay"][..., 3] > 0).any() and "DI atlas: 3x3 windows" in w.status
    w.alpha = 0.2  # display only: repainted, not recomputed
    assert w.sr_view.sent["overlay"][..., 3].max() == round(0.2 * 255) and w.atlas_result is got
    # off: the overlay goes, the atlas stays cached; on again: shown at once, no job
    w.atlas = False
    assert w.atlas_result is None and w.sr_view.sent["overlay"] is None
    w.atlas = True
    assert w.atlas_result is got and not w.busy and w.sr_view.sent["overlay"] is not None


def test_a_click_on_a_cell_opens_its_window(make):
    w = make(atlas=True)
    assert w.wait(120) and w.atlas_result is not None, w.error
    atlas = w.atlas_result
    for row, col in [(13, 21), (0, 0), (31, 31), (20, 4)]:  # SR pixels under the pointer
        w.selector.select_at(row, col)  # what a click there selects
        top, left, size = atlas.window(*atlas.cell(row, col))
        assert w.window == (top, left, size, size), (row, col, w.window)
        assert w.wait(60) and w.result is not None and w.result.window == w.window
    # the attribution of a cell's window is the one the atlas holds for it
    r, c = atlas.cell(20, 4)
    assert w.result.diffusion_index == pytest.approx(atlas.di[r, c], rel=1e-6, abs=1e-9)
    assert w.atlas_result is atlas and w.sr_view.sent["overlay"] is not None  # the map stays


def test_cache_per_settings(make, image, monkeypatch):
    import srwidgets.batch as batch

    calls = []
    original = batch.di_atlas
    monkeypatch.setattr(batch, "di_atlas", lambda *a, **k: calls.append(k) or original(*a, **k))
    w = make(atlas=True)
    assert w.wait(120) and len(calls) == 1
    first = w.atlas_result
    w.atlas_stride = 16  # another atlas: 2 x 2 cells
    assert w.wait(120) and len(calls) == 2 and w.atlas_result.di.shape == (2, 2)
    w.atlas_stride = 8  # back: from the cache
    assert not w.busy and w.atlas_result is first and len(calls) == 2
    w.steps = 2  # an engine knob: a new atlas
    assert w.wait(120) and len(calls) == 3 and w.atlas_result is not first
    w.steps = 3
    assert not w.busy and w.atlas_result is first and len(calls) == 3
    w.atlas_stride = 0  # rejected, nothing recomputed
    assert w.atlas_stride == 8 and "stride" in w.error and len(calls) == 3


def test_atlas_and_window_together_in_one_job(make):
    w = make(window=(8, 8, 16), atlas=True)
    assert w.wait(120) and not w.error, w.error
    assert w.atlas_result is not None and w.result is not None and w.result.window == (8, 8, 16, 16)


def test_cancel_stops_the_atlas(make):
    w = make(Slow(0.05), atlas_stride=4)  # 5 x 5 windows, several engine calls
    w.atlas = True
    deadline = time.monotonic() + 60
    while w.progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.busy and w.cancel()
    assert w.wait(60)
    assert w.status.startswith("cancelled") and w.atlas_result is None and w.sr_view.sent["overlay"] is None
    assert w.cache_get(w._atlas_key(w.atlas_settings())) is None  # nothing half-done was kept
    w.rerun()  # Run computes it
    assert w.wait(120) and w.atlas_result is not None and w.atlas_result.di.shape == (5, 5)


def test_toggling_off_stops_an_atlas_job(make):
    w = make(Slow(0.05), atlas_stride=4)
    w.atlas = True
    deadline = time.monotonic() + 60
    while w.progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    w.atlas = False
    assert w.wait(60) and w.atlas_result is None and w.sr_view.sent["overlay"] is None
