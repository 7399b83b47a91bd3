"""LAM against hostile models and inputs: the user's model never changes, caches see every edit, speed never
changes the answer, and bad input gets a clear InputError. Also the small bugs the fast tests once let through."""
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srwidgets.engine.memory as memory
from srwidgets.engine import MAX_STEPS
from srwidgets.errors import Cancelled, InputError
from srwidgets.lam import LAM, gradient_detector
from srwidgets.engine.windows import measure_receptive_field
from srwidgets.lam.paths import BlurPath, make_path
from srwidgets.models import build


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()}


def same_state(model, before):
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


class Shuffle(nn.Module):
    """conv (any kernel) then pixel shuffle ×s, with optional extra layers in between."""

    def __init__(self, scale=2, kernel=3, middle=None, channels=3):
        super().__init__()
        self.scale = scale
        pad = (kernel[0] // 2, kernel[1] // 2) if isinstance(kernel, tuple) else kernel // 2
        self.conv = nn.Conv2d(channels, 12, kernel, padding=pad)
        self.middle = middle or nn.Identity()
        self.out = nn.Conv2d(12, 3 * scale * scale, 3, padding=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.up(self.out(self.middle(self.conv(x))))


# ---------------------------------------------------------------------------------------------- the model guard
def test_batchnorm_model_in_train_mode_is_left_untouched_and_its_map_is_the_eval_map(image):
    torch.manual_seed(0)
    model = Shuffle(middle=nn.BatchNorm2d(12)).train()
    with torch.no_grad():
        model.middle.running_mean.uniform_(-0.1, 0.1)
        model.middle.running_var.uniform_(0.5, 1.5)
    before = snapshot(model)
    result = LAM(model).attribute(image, (6, 6, 8), steps=4, kernel_size=5)
    assert same_state(model, before)  # running statistics neither updated nor NaN from the receptive-field probe
    assert model.training and model.middle.training
    assert torch.isfinite(result.map).all()
    reference = LAM(Shuffle(middle=nn.BatchNorm2d(12)).eval()).model  # same architecture, load the weights
    reference.load_state_dict(before)
    expected = LAM(reference).attribute(image, (6, 6, 8), steps=4, kernel_size=5)
    assert torch.equal(result.attribution, expected.attribution)


def test_dropout_in_train_mode_gives_the_same_map_every_time(image):
    torch.manual_seed(0)
    model = Shuffle(middle=nn.Dropout(0.5)).train()
    a = LAM(model).attribute(image, (6, 6, 8), steps=4, kernel_size=5)
    b = LAM(model).attribute(image, (6, 6, 8), steps=4, kernel_size=5)
    assert torch.equal(a.attribution, b.attribution) and model.training
    assert torch.equal(a.sr, LAM(model.eval()).super_resolve(image))


def test_requires_grad_flags_and_grads_survive(edsr, image):
    edsr.conv_first.weight.grad = torch.ones_like(edsr.conv_first.weight)
    edsr.conv_last.bias.requires_grad_(False)
    try:
        LAM(edsr).attribute(image, (4, 4, 8), steps=2, kernel_size=5, path="black")
        assert torch.equal(edsr.conv_first.weight.grad, torch.ones_like(edsr.conv_first.weight))
        assert edsr.conv_first.weight.requires_grad and not edsr.conv_last.bias.requires_grad
    finally:
        edsr.conv_first.weight.grad = None
        edsr.conv_last.bias.requires_grad_(True)


# ---------------------------------------------------------------------------------------------- caches
def test_cache_notices_an_edited_buffer(image):
    torch.manual_seed(0)
    model = build("EDSR", num_feat=8, num_block=1, upscale=2).eval()
    lam = LAM(model)
    a = lam.attribute(image, (4, 4, 8), steps=3, kernel_size=5)
    assert lam.attribute(image, (4, 4, 8), steps=3, kernel_size=5) is a  # cached
    with torch.no_grad():
        model.shift.mean.fill_(0.2)  # a non-persistent buffer: not a parameter, not in state_dict
    b = lam.attribute(image, (4, 4, 8), steps=3, kernel_size=5)
    assert b is not a and not torch.equal(a.sr, b.sr)


# ---------------------------------------------------------------------------------------------- crops
class CoordConv(nn.Module):
    """Appends the absolute (row, column) position, normalised to [-1, 1] over the image: a crop sees different
    coordinates than the whole image, although its NaN footprint is local and shift-equivariant."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.scale = 2
        self.net = Shuffle(channels=5)

    def forward(self, x):
        n, _, h, w = x.shape
        rows = torch.linspace(-1, 1, h, dtype=x.dtype, device=x.device).view(1, 1, h, 1).expand(n, 1, h, w)
        cols = torch.linspace(-1, 1, w, dtype=x.dtype, device=x.device).view(1, 1, 1, w).expand(n, 1, h, w)
        return self.net(torch.cat([x, rows, cols], 1))


def test_a_model_using_absolute_positions_runs_on_the_whole_image():
    model = CoordConv().eval()
    image = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(3))
    cropped = LAM(model).attribute(image, (30, 30, 8), steps=3, kernel_size=5)
    full = LAM(model, crop=False).attribute(image, (30, 30, 8), steps=3, kernel_size=5)
    assert cropped.crop is None and cropped.settings["receptive_field"] is None
    assert torch.allclose(cropped.attribution, full.attribution, atol=1e-7)


def test_a_non_square_receptive_field_crops_exactly():
    torch.manual_seed(0)
    model = Shuffle(kernel=(1, 9)).eval()  # reaches 4 pixels left and right, 1 up and down (the 3x3 out conv)
    image = torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(4))
    rf = measure_receptive_field(model, 2, 48, "cpu")
    assert rf[1] - rf[0] < rf[3] - rf[2]  # taller reach in columns than in rows
    for window in [(30, 40, 8), (0, 0, 6), (70, 86, 10, 10)]:
        cropped = LAM(model).attribute(image, window, steps=3, kernel_size=5)
        full = LAM(model, crop=False).attribute(image, window, steps=3, kernel_size=5)
        assert torch.allclose(cropped.attribution, full.attribution, atol=1e-7)
    assert LAM(model).attribute(image, (30, 40, 8), steps=3, kernel_size=5).crop is not None


class Unshuffled(nn.Module):
    """Pixel unshuffle ×2, a conv, pixel shuffle ×4: ×2 overall, and its footprint depends on the pixel's parity."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.scale = 2
        self.conv = nn.Conv2d(12, 48, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(F.pixel_unshuffle(x, 2)), 4)


def test_a_pixel_unshuffle_model_falls_back_to_the_whole_image():
    model = Unshuffled().eval()
    assert measure_receptive_field(model, 2, 40, "cpu") is None
    image = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(5))
    result = LAM(model).attribute(image, (30, 30, 8), steps=3, kernel_size=5)
    assert result.crop is None
    full = LAM(model, crop=False).attribute(image, (30, 30, 8), steps=3, kernel_size=5)
    assert torch.equal(result.attribution, full.attribution)


class ExactTail(nn.Module):
    """A split-tail model whose tail reaches exactly its ``tail_margin`` (one LR pixel: a 3x3 conv at LR)."""

    tail_margin = 1

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.scale = 2
        self.head = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Conv2d(8, 12, 3, padding=1)

    def features(self, x):
        return torch.relu(self.head(x))

    def tail(self, features, x):
        return F.pixel_shuffle(self.body(features), 2)

    def forward(self, x):
        return self.tail(self.features(x), x)


@pytest.mark.parametrize("window", [(10, 10, 6), (11, 9, 5, 7), (8, 8, 8), (4, 20, 6, 4)])
def test_split_tail_keeps_the_forward_difference_row_when_the_margin_is_exact(window):
    # top + height on a multiple of the scale: the extra SR row of the forward differences is the first row of
    # the next LR row, whose tail needs one more LR row of context — exactly the margin.
    model = ExactTail().eval()
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(6))
    split = LAM(model, crop=False).attribute(image, window, steps=3, kernel_size=5)
    whole = LAM(model, crop=False, split_tail=False).attribute(image, window, steps=3, kernel_size=5)
    assert split.settings["split_tail"]
    assert torch.allclose(split.attribution, whole.attribution, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------- progress
def test_progress_partial_is_the_running_sum_over_n(edsr, image):
    n, window = 4, (6, 6, 8)
    partials = []
    lam = LAM(edsr, crop=False, split_tail=False, chunk_size=1)
    result = lam.attribute(image, window, steps=n, kernel_size=5, callback=lambda p: partials.append(p.partial))
    # the first step's contribution, computed here by hand: ∇D(x_1) ⊙ d_1, divided by n (not by the steps done)
    p, d = make_path("blur", image.double(), n, 1.2, 5).points(0, 1)
    x = p.float().requires_grad_(True)
    objective = gradient_detector(edsr(x), (6, 6, 8, 8)).sum()
    g = torch.nan_to_num(torch.autograd.grad(objective, x)[0].double())
    first = (g * d).sum(0) / n
    assert torch.allclose(partials[0].double(), first, atol=1e-6 * float(first.abs().max()))
    assert torch.allclose(partials[-1], result.attribution)


# ---------------------------------------------------------------------------------------------- huge jobs
def test_a_billion_steps_cost_no_memory_up_front_and_cancel(edsr, image):
    path = BlurPath(image.double(), 10 ** 9, 1.2, 5)
    p, d = path.points(10 ** 9 - 2, 10 ** 9)
    assert p.shape == (2, 3, 12, 12) and torch.allclose(p[-1], image.double())
    calls = []
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):  # the ceiling itself: lazy, reports progress, stops within a chunk
        LAM(edsr).attribute(image, (4, 4, 8), steps=MAX_STEPS, kernel_size=5,
                            cancel=lambda: calls.append(1) or len(calls) > 3)
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("call", ["attribute", "attribute_many", "make_path"])
def test_steps_above_the_ceiling_are_refused_before_anything_runs(edsr, image, call):
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="ceiling of 100,000"):
        if call == "attribute":
            LAM(edsr).attribute(image, (4, 4, 8), steps=10 ** 9, kernel_size=5)
        elif call == "attribute_many":
            LAM(edsr).attribute_many(image, [(4, 4, 8)], steps=MAX_STEPS + 1, kernel_size=5)
        else:
            make_path("blur", image.double(), steps=10 ** 9, kernel_size=5)
    assert time.perf_counter() - t0 < 2


def test_multi_counts_every_baselines_steps_against_the_ceiling(edsr, image):
    with pytest.raises(InputError, match=r"num_baselines <= 25,000"):
        LAM(edsr).attribute(image, (4, 4, 8), steps=4, path="multi", num_baselines=25_001)


def test_memory_budget_takes_a_unit_string_and_refuses_nonsense(edsr):
    assert LAM(edsr, memory_budget="1GB").memory_budget == 1 << 30
    with pytest.raises(InputError, match="memory_budget"):
        LAM(edsr, memory_budget="a lot")


@pytest.mark.parametrize("windows, match", [("abc", "list of"), (5, "list of"), ((4, 4, 8), "is one window")])
def test_attribute_many_explains_windows_that_are_not_a_list(edsr, image, windows, match):
    with pytest.raises(InputError, match=match):
        LAM(edsr).attribute_many(image, windows, steps=2, kernel_size=5)


def test_a_truthy_string_for_a_flag_is_refused(edsr):
    with pytest.raises(InputError, match="crop must be True or False"):
        LAM(edsr, crop="no")


def test_an_image_too_large_for_the_memory_is_refused_before_running(edsr, image, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 10_000)
    with pytest.raises(InputError, match=r"too large \(12×12, needs ~.*crop or downsample"):
        LAM(edsr).attribute(image, (4, 4, 8), steps=2, kernel_size=5)


# ---------------------------------------------------------------------------------------------- clear errors
@pytest.mark.parametrize("kwargs, match", [
    (dict(path=["blur"]), "unknown path"), (dict(seed="abc"), "seed"), (dict(noise_std=float("nan")), "noise_std"),
    (dict(path="gaussian", noise_std=float("nan")), "noise_std"), (dict(steps=True), "steps"),
    (dict(sigma=float("inf")), "sigma"), (dict(num_baselines=0, path="multi"), "num_baselines"),
])
def test_bad_settings_name_the_parameter(edsr, image, kwargs, match):
    with pytest.raises(InputError, match=match):
        LAM(edsr).attribute(image, (4, 4, 8), **{"steps": 2, "kernel_size": 5, **kwargs})


def test_numpy_integers_are_accepted(edsr, image):
    a = LAM(edsr).attribute(image, (4, 4, 8), steps=np.int64(3), kernel_size=np.int64(5))
    b = LAM(edsr).attribute(image, (4, 4, 8), steps=3, kernel_size=5)
    assert torch.equal(a.attribution, b.attribution)
    c = LAM(edsr).attribute(image, tuple(np.array([4, 4, 8])), steps=3, kernel_size=5)
    assert torch.equal(a.attribution, c.attribution)


def test_values_outside_0_1_by_more_than_rounding_are_refused(edsr, image):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        LAM(edsr).attribute(image * 1.01 + 0.002, (4, 4, 8), steps=2, kernel_size=5)
    LAM(edsr).attribute((image * 1.0005).clamp(max=1.0005), (4, 4, 8), steps=2, kernel_size=5)  # rounding: fine


def test_a_window_larger_than_the_image_says_so(edsr, image):
    with pytest.raises(InputError, match="larger than the SR image"):
        LAM(edsr).attribute(image, (0, 0, 30), steps=2, kernel_size=5)


class InPlace(nn.Module):
    scale = 2

    def forward(self, x):
        x.mul_(1.0)  # writes into its input
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class GradOfWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 2
        self.conv = nn.Conv2d(3, 12, 3, padding=1)

    def forward(self, x):
        (g,) = torch.autograd.grad(self.conv.weight.square().sum(), self.conv.weight)
        return F.pixel_shuffle(self.conv(x) + g.mean(), 2)


@pytest.mark.parametrize("model, words", [(InPlace(), "in place"), (GradOfWeights(), "gradients of its own weights")])
def test_a_model_that_misbehaves_is_named_for_what_it_does(model, words, image):
    with pytest.raises(InputError, match=words):
        LAM(model).attribute(image, (4, 4, 8), steps=2, kernel_size=5)
