"""WindowMethod's primitives (values, layer_gradients, result of a one-channel map) and windows that cannot go
silently wrong (clip_window refuses the crop's size, a window outside its box, an empty cut)."""
from __future__ import annotations

import time

import pytest
import torch

import srwidgets
from srwidgets import attribution, data, degrade, zoo
from srwidgets.attribution import Knob, LazyInputs, WindowMethod
from srwidgets.engine import clip_window
from srwidgets.errors import Cancelled, InputError
from srwidgets.progress import CancelToken


@pytest.fixture(scope="module")
def model():
    return zoo.load("x4-fsrcnn")


@pytest.fixture(scope="module")
def lr():
    return degrade.bicubic_down(data.image("astronaut", modcrop=4)[:, 40:168, 60:188], 4).clamp(0, 1)  # [3, 32, 32]


WINDOW = (48, 52, 16, 16)


def test_values_equal_the_objective_on_the_crop_and_report_progress(model, lr):
    eng = attribution.engine(model, "gradient")
    x, window = eng.inputs(lr, WINDOW)
    box = eng.crop_for(x, window)
    assert box is not None
    seen = []
    batch = torch.stack([x, (x * 0.5), x.flip(-1)])
    v = eng.values(batch, window, box=box, callback=seen.append)
    whole = eng.values(batch, window)  # no crop
    assert v.shape == (3,) and v.dtype == torch.float64
    torch.testing.assert_close(v, whole, rtol=1e-5, atol=0)
    assert abs(float(v[0]) - eng.objective_value(x, window)) < 1e-4 * abs(float(v[0]))
    assert seen[-1].done == 3 and seen[-1].total == 3
    lazy = eng.values(LazyInputs(3, x.shape[1:], lambda a, b: batch[a:b]), window, box=box)
    torch.testing.assert_close(lazy, v, rtol=1e-6, atol=0)  # chunked differently: float rounding only
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        eng.values(batch, window, box=box, cancel=token)


def test_forward_only_chunks_are_metered(model, lr):
    eng = attribution.method_class("occlusion")(model)
    assert eng.measuring
    x, window = eng.inputs(lr, WINDOW)
    eng.values(x[None].repeat(5, 1, 1, 1), window)
    assert not eng.measuring and eng.chunk(32 * 32) > 1  # sized from the meter, not stuck at 1


def test_layer_gradients_by_name_and_index(model, lr):
    eng = attribution.engine(model, "hirescam")
    x, window = eng.inputs(lr, WINDOW)
    layers = eng.layers(x)
    assert layers and eng.default_layer(x) in layers
    a = eng.layer_gradients(x, window, layers[-2])
    b = eng.layer_gradients(x, window, -2)
    assert a.layer == b.layer == layers[-2] and torch.equal(a.gradient, b.gradient)
    assert a.activation.shape == a.gradient.shape and a.activation.shape[-2:] == (32, 32)
    # the gradient is the window's: zero far from it (a convolutional network's receptive field)
    assert float(a.gradient[:, :4, :4].abs().max()) == 0 and float(a.gradient.abs().max()) > 0
    assert all(p.requires_grad for p in model.parameters()) and model.training is False  # left as it came


def test_result_takes_a_one_channel_map(model, lr):
    eng = attribution.engine(model, "gradient")
    x, window = eng.inputs(lr, WINDOW)
    m = torch.zeros(32, 32, dtype=torch.float64)
    m[10:14, 12:16] = 2.0
    for given in (m, m[None]):
        r = eng.result(x, window, given, t0=time.perf_counter(), settings={})
        assert r.attribution.shape == (3, 32, 32) and float(r.attribution.sum()) == pytest.approx(float(m.sum()))
        assert float(r.map.max()) == 1.0 and float(r.map[0, 0]) == 0.0
    with pytest.raises(InputError, match=r"\[3, h, w\], \[1, h, w\] or \[h, w\]"):
        eng.result(x, window, torch.zeros(2, 32, 32), t0=0.0, settings={})


def test_clip_window_cannot_be_given_the_crops_size():
    box = (8, 9, 13, 12)  # LR box of a 32x32 image at x4
    assert clip_window((48, 52, 16, 16), 4, 128, 128, box) == (16, 16, 16, 16)
    with pytest.raises(InputError, match="outside the SR image"):  # the bug: the crop's SR size
        clip_window((48, 52, 16, 16), 4, 4 * 13, 4 * 12, box)
    with pytest.raises(InputError, match="does not lie inside the SR footprint of the crop box"):
        clip_window((0, 0, 16, 16), 4, 128, 128, box)
    with pytest.raises(InputError, match="last SR row or column"):
        clip_window((127, 0, 1, 8), 4, 128, 128)
    assert clip_window((120, 0, 8, 8), 4, 128, 128, cut=False) == (120, 0, 8, 8)
    for bad in [(0, 0, 0, 8), (0, 0, -4, 8), (10, 10, 8, -1)]:
        with pytest.raises(InputError):
            clip_window(bad, 4, 128, 128)


class Blackout(WindowMethod):  # a forward-only member from outside the package, public names only
    name, kind, description = "blackout-test", "forward", "each LR row blacked out"
    knobs = (Knob("value", "float", 0.0, "the row's value", low=0, high=1),)

    def attribute(self, image, window, *, value=0.0, objective="gradient", callback=None, cancel=None):
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        box = self.crop_for(x, window)

        def rows(start, stop):
            out = x[None].repeat(stop - start, 1, 1, 1)
            for k in range(stop - start):
                out[k, :, start + k] = value
            return out

        drop = self.values(x[None], window, objective, box=box) - self.values(
            LazyInputs(x.shape[1], x.shape[1:], rows), window, objective, box=box, callback=callback, cancel=cancel)
        return self.result(x, window, drop[:, None].expand(x.shape[1:]), t0=t0, settings=dict(value=value),
                           objective=objective, box=box)


class GradCAMPlusAbs(attribution.GradCAM):  # a CAM variant: one step overridden
    name, description = "abscam-test", "CAM weighted by |gradient| means"

    def cam_weights(self, activation, gradient):
        return gradient.abs().mean(dim=(1, 2), keepdim=True)


def test_members_written_from_outside_run_everywhere_attribute_reaches(model, lr):
    for cls in (Blackout, GradCAMPlusAbs):
        attribution.register(cls.name, cls)
        try:
            r = srwidgets.attribute(model, lr, (0, 0, 16), method=cls.name)
            assert r.map.shape == (32, 32) and float(r.map.max()) == 1.0 and r.method == cls.name
        finally:
            attribution.unregister(cls.name)
    r = srwidgets.attribute(model, lr, WINDOW, method=Blackout, value=1.0)
    assert r.settings["value"] == 1.0
    row_mass = r.map.sum(1)
    assert int(row_mass.argmax()) in range(10, 18)  # the rows under the window matter most
