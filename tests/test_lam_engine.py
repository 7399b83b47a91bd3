"""LAM engine: hand-computed cases, an independent reference implementation of the paper, completeness, crops,
caches, chunks, progress/cancel, devices and every bad input."""
import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srwidgets.errors import Cancelled, InputError
from srwidgets.lam import LAM, PATHS, LAMResult, attribution_map, gradient_detector
from srwidgets.models import build
from srwidgets.progress import CancelToken


# ---------------------------------------------------------------------------------------------------------------
# tiny models
# ---------------------------------------------------------------------------------------------------------------
class Upsampler(nn.Module):
    """Linear model: interpolation ×s (×1 is the identity)."""

    def __init__(self, scale=1, mode="nearest"):
        super().__init__()
        self.scale, self.mode = scale, mode

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode) if self.scale > 1 else x * 1.0


class Attention(nn.Module):
    """A local CNN with a global channel attention (squeeze-excite): its receptive field is the whole image."""

    def __init__(self):
        super().__init__()
        self.scale = 2
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.fc = nn.Conv2d(12, 12, 1)
        self.up = nn.PixelShuffle(2)

    def forward(self, x):
        f = self.conv(x)
        return self.up(f * torch.sigmoid(self.fc(f.mean(dim=(2, 3), keepdim=True))))


class NaNWhenDark(nn.Module):
    """×1 model that returns NaN for images whose maximum is below 0.5 (broken near the black baseline)."""

    scale = 1

    def forward(self, x):
        return torch.where(x.amax(dim=(1, 2, 3), keepdim=True) < 0.5, torch.full_like(x, float("nan")), x)


# ---------------------------------------------------------------------------------------------------------------
# an independent, straightforward implementation of the paper (numpy path, explicit 2-D kernels, per-step loop)
# ---------------------------------------------------------------------------------------------------------------
def reference_lam(model, img, window, steps, sigma, l):
    x = img.double().numpy()
    ax = np.arange(-l // 2 + 1.0, l // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)

    def kernel(s):
        k = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * (s + 1e-5) ** 2))
        return k / k.sum()

    def filter2d(im, k):  # cv2.filter2D: correlation, BORDER_REFLECT_101
        r = l // 2
        p = np.pad(im, ((0, 0), (r, r), (r, r)), mode="reflect")
        out = np.zeros_like(im)
        for i in range(l):
            for j in range(l):
                out += k[i, j] * p[:, i:i + im.shape[1], j:j + im.shape[2]]
        return out

    kernels = [kernel(s) for s in np.linspace(sigma, 0, steps + 1)]
    top, left, size = window
    total = np.zeros_like(x)
    for k in range(1, steps + 1):
        xk = torch.tensor(filter2d(x, kernels[k]), dtype=torch.float32, requires_grad=True)
        dk = filter2d(x, (kernels[k] - kernels[k - 1]) * steps)
        y = model(xk[None])
        hg = (y[:, :, :-1, :] - y[:, :, 1:, :]) ** 2
        wg = (y[:, :, :, :-1] - y[:, :, :, 1:]) ** 2
        g = torch.pow(hg[:, :, :, :-1] + wg[:, :, :-1, :], 0.5)
        g[:, :, top:top + size, left:left + size].sum().backward()
        grad = xk.grad.double().numpy()
        grad[np.isnan(grad)] = 0.0
        total += grad * dk
    a = total / steps
    m = np.abs(a.sum(0))
    m = m / m.max()
    v = np.sort(m.flatten() + 1e-7)
    n = v.size
    gini = np.sum((2 * np.arange(1, n + 1) - n - 1) * v) / (n * np.sum(v))
    return a, m, gini, (1 - gini) * 100


def test_agrees_with_reference_implementation(edsr, image):
    a, m, g, di = reference_lam(edsr, image, (8, 6, 8), steps=8, sigma=1.2, l=5)
    for crop in (True, False):
        r = LAM(edsr, crop=crop).attribute(image, (8, 6, 8), steps=8, sigma=1.2, kernel_size=5)
        assert np.abs(r.map.numpy() - m).max() <= 1e-4 * m.max()
        assert r.gini == pytest.approx(g, abs=1e-4)
        assert r.diffusion_index == pytest.approx(di, abs=1e-4)
        assert np.allclose(r.attribution.numpy(), a, rtol=1e-3, atol=1e-5 * np.abs(a).max())


# ---------------------------------------------------------------------------------------------------------------
# hand-computable cases
# ---------------------------------------------------------------------------------------------------------------
def hand_detector(x, top, left, size):
    """D and ∂D/∂x of the identity model's SR = x, written out term by term."""
    d, grad = 0.0, np.zeros_like(x)
    for c in range(3):
        for i in range(top, top + size):
            for j in range(left, left + size):
                a, b = x[c, i, j] - x[c, i + 1, j], x[c, i, j] - x[c, i, j + 1]
                t = math.sqrt(a * a + b * b)
                d += t
                grad[c, i, j] += (a + b) / t
                grad[c, i + 1, j] -= a / t
                grad[c, i, j + 1] -= b / t
    return d, grad


def test_identity_black_path_is_x_times_gradient():
    # D is positively homogeneous of degree 1, so ∇D(αx) = ∇D(x) and the straight line from black has no
    # Riemann error: A = x ⊙ ∇D(x) and Σ A = D(x) exactly (Euler).
    x = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    d, grad = hand_detector(x.numpy(), 1, 1, 2)
    r = LAM(Upsampler(1)).attribute(x, (1, 1, 2), steps=3, path="black")
    assert r.objective == pytest.approx(d, rel=1e-6)
    assert r.objective_baseline == 0.0
    assert np.allclose(r.attribution.numpy(), x.numpy() * grad, atol=1e-5)
    assert float(r.attribution.sum()) == pytest.approx(d, rel=1e-5)


def test_horizontal_ramp_objective():
    # x[c, i, j] = 0.1 j: every local gradient is 0.1, D = 0.1 · 3 channels · 4 · 4.
    x = (0.1 * torch.arange(8.0)).expand(3, 8, 8).clone()
    r = LAM(Upsampler(1)).attribute(x, (2, 1, 4), steps=2, path="black")
    assert r.objective == pytest.approx(0.1 * 3 * 16, rel=1e-5)


def test_bilinear_upsampler_attribution_stays_under_the_window():
    x = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(4))
    r = LAM(Upsampler(2, "bilinear")).attribute(x, (8, 6, 4), steps=6, kernel_size=3)
    # SR rows 8..12 and columns 6..10 (window + forward difference) sample LR coordinates (y + 0.5) / 2 - 0.5,
    # i.e. 3.75..5.75 and 2.75..4.75: bilinear reads LR rows 3..6 and columns 2..5.
    outside = r.attribution.clone()
    outside[:, 3:7, 2:6] = 0
    assert outside.abs().max() == 0
    assert r.attribution[:, 3:7, 2:6].abs().min() > 0


def test_nearest_upsampler_gives_zero_map():
    # Inside each 2x2 block of a nearest-neighbour output both differences are 0: sqrt has an infinite derivative
    # there, the gradient is NaN on every LR pixel the window reads and is zeroed, as in the authors' code.
    x = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(4))
    r = LAM(Upsampler(2, "nearest")).attribute(x, (8, 6, 4), steps=3, kernel_size=3)
    assert r.attribution.abs().max() == 0 and r.objective > 0


def test_window_in_constant_region_gives_zero_map():
    x = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(5))
    x[:, 2:10, 2:10] = 0.5
    r = LAM(Upsampler(1)).attribute(x, (3, 3, 4), steps=4, kernel_size=3)
    assert r.map.abs().max() == 0 and r.attribution.abs().max() == 0
    assert math.isfinite(r.gini) and r.diffusion_index == pytest.approx(100.0)


def test_map_normalisation():
    a = torch.tensor([[[1.0, -3.0]], [[1.0, 1.0]], [[0.0, 0.0]]])
    assert torch.allclose(attribution_map(a), torch.tensor([[1.0, 1.0]]))
    assert attribution_map(torch.zeros(3, 2, 2)).abs().max() == 0


def test_gradient_detector_batch_and_window():
    y = torch.rand(2, 3, 8, 8)
    d = gradient_detector(y, (1, 2, 3, 4))
    assert d.shape == (2,)
    assert torch.allclose(d[1], gradient_detector(y[1:], (1, 2, 3, 4))[0])


# ---------------------------------------------------------------------------------------------------------------
# completeness for every path
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PATHS))
def test_completeness(edsr, path):
    x = torch.rand(3, 10, 10, generator=torch.Generator().manual_seed(6))
    lam = LAM(edsr, chunk_size=64)
    errs = []
    for n in (16, 96):
        r = lam.attribute(x, (6, 6, 6), steps=n, path=path, kernel_size=5, num_baselines=2)
        errs.append(abs(float(r.attribution.double().sum()) - (r.objective - r.objective_baseline)))
    assert errs[1] < 0.03 * r.objective  # Riemann-sum error, O(1/n)
    assert errs[1] < 0.5 * errs[0] + 1e-3


def test_random_baselines_are_seeded(edsr, image):
    lam = LAM(edsr)
    a = lam.attribute(image, (4, 4, 8), steps=3, path="uniform", seed=1).attribution
    b = LAM(edsr).attribute(image, (4, 4, 8), steps=3, path="uniform", seed=1).attribution
    c = lam.attribute(image, (4, 4, 8), steps=3, path="uniform", seed=2).attribution
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------------------------------------------------------
# speed features must not change the numbers
# ---------------------------------------------------------------------------------------------------------------
def test_crop_equals_full_image(edsr):
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(7))
    for window in [(2, 40, 6), (30, 30, 8), (56, 0, 8, 6)]:
        cropped = LAM(edsr).attribute(x, window, steps=4)
        full = LAM(edsr, crop=False).attribute(x, window, steps=4)
        assert cropped.crop is not None and cropped.crop[2] * cropped.crop[3] < 32 * 32
        assert full.crop is None
        assert torch.allclose(cropped.attribution, full.attribution, rtol=1e-4, atol=1e-6 * full.attribution.abs().max())
        assert (cropped.map - full.map).abs().max() < 1e-5
        assert cropped.objective == pytest.approx(full.objective) and cropped.gini == pytest.approx(full.gini, abs=1e-6)
        assert cropped.objective_baseline == pytest.approx(full.objective_baseline, rel=1e-6)


def test_global_pooling_falls_back_to_full_image():
    torch.manual_seed(0)
    model = Attention().eval()
    x = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(8))
    r = LAM(model).attribute(x, (4, 4, 4), steps=3, kernel_size=3)
    assert r.crop is None and r.settings["receptive_field"] is None
    # the channel attention makes far-away pixels matter
    assert r.attribution[:, 15:, 15:].abs().sum() > 0


def test_chunked_equals_unchunked(edsr, image):
    a = LAM(edsr, chunk_size=1).attribute(image, (4, 4, 8), steps=6, kernel_size=5)
    b = LAM(edsr, chunk_size=6).attribute(image, (4, 4, 8), steps=6, kernel_size=5)
    c = LAM(edsr, chunk_size=4).attribute(image, (4, 4, 8), steps=6, kernel_size=5)
    for r in (b, c):
        assert torch.allclose(a.attribution, r.attribution, rtol=1e-5, atol=1e-7)


def test_float64_input_and_batch_dim(edsr, image):
    a = LAM(edsr).attribute(image, (4, 4, 8), steps=3, kernel_size=5)
    b = LAM(edsr).attribute(image.double()[None], (4, 4, 8), steps=3, kernel_size=5)
    assert torch.allclose(a.attribution, b.attribution) and b.attribution.dtype == torch.float32
    assert b.image.shape == (3, 12, 12) and b.sr.shape == (3, 24, 24)


def test_parameters_are_restored(edsr, image):
    for p in edsr.parameters():
        p.grad = None
    flags = [p.requires_grad for p in edsr.parameters()]
    LAM(edsr).attribute(image, (4, 4, 8), steps=2, kernel_size=5)
    assert [p.requires_grad for p in edsr.parameters()] == flags
    assert all(p.grad is None for p in edsr.parameters())


def count_forwards(model):
    """Count network evaluations: images through the first conv (once per evaluation, however the engine batches
    path points or splits off the tail)."""
    calls = [0]
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_hook(lambda mod, inp, out: calls.__setitem__(0, calls[0] + inp[0].shape[0]))
    return calls


def test_cache_reuse_when_only_the_window_changes():
    torch.manual_seed(0)
    model = build("EDSR", num_feat=8, num_block=1, upscale=2).eval()
    calls = count_forwards(model)
    x = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(9))
    lam = LAM(model, chunk_size=4, crop=False)
    calls[0] = 0
    lam.attribute(x, (2, 2, 6), steps=8, kernel_size=5)
    first = calls[0]
    calls[0] = 0
    lam.attribute(x, (10, 10, 6), steps=8, kernel_size=5)
    second = calls[0]
    calls[0] = 0
    again = lam.attribute(x, (10, 10, 6), steps=8, kernel_size=5)
    assert second < first and calls[0] == 0
    assert isinstance(again, LAMResult)


def test_attribute_many_shares_forward_passes(edsr, image):
    windows = [(2, 2, 6), (8, 8, 6), (14, 4, 8)]
    lam = LAM(edsr, chunk_size=8, crop=False)
    many = lam.attribute_many(image, windows, steps=8, kernel_size=5)
    calls = count_forwards(edsr)
    calls[0] = 0
    LAM(edsr, chunk_size=8, crop=False).attribute_many(image, windows, steps=8, kernel_size=5)
    shared = calls[0]
    calls[0] = 0
    singles = [LAM(edsr, chunk_size=8, crop=False).attribute(image, w, steps=8, kernel_size=5) for w in windows]
    assert shared < calls[0]
    for a, b in zip(many, singles):
        assert torch.allclose(a.attribution, b.attribution, rtol=1e-5, atol=1e-7) and a.window == b.window


def test_model_changed_in_place_invalidates_cache(image):
    torch.manual_seed(0)
    model = build("EDSR", num_feat=8, num_block=1, upscale=2).eval()
    lam = LAM(model)
    a = lam.attribute(image, (4, 4, 8), steps=2, kernel_size=5)
    with torch.no_grad():
        model.conv_last.weight.mul_(2)
    b = lam.attribute(image, (4, 4, 8), steps=2, kernel_size=5)
    assert not torch.equal(a.attribution, b.attribution)


# ---------------------------------------------------------------------------------------------------------------
# progress and cancellation
# ---------------------------------------------------------------------------------------------------------------
def test_callback_reports_increasing_progress_and_partial(edsr, image):
    seen = []
    r = LAM(edsr, chunk_size=2).attribute(image, (4, 4, 8), steps=6, kernel_size=5, callback=seen.append)
    assert [p.done for p in seen] == [2, 4, 6] and all(p.total == 6 for p in seen)
    assert all(p.partial.shape == (3, 12, 12) and p.partial.device.type == "cpu" for p in seen)
    assert torch.allclose(seen[-1].partial, r.attribution)
    assert not torch.allclose(seen[0].partial, r.attribution)


@pytest.mark.parametrize("kind", ["token", "event", "callable"])
def test_cancel_stops_within_one_chunk(edsr, image, kind):
    token = {"token": CancelToken(), "event": threading.Event(), "callable": None}[kind]
    flag = [False]
    cancel = token if token is not None else (lambda: flag[0])
    seen = []

    def callback(p):
        seen.append(p.done)
        if p.done >= 2:
            token.cancel() if kind == "token" else token.set() if kind == "event" else flag.__setitem__(0, True)

    flags = [p.requires_grad for p in edsr.parameters()]
    lam = LAM(edsr, chunk_size=1)
    with pytest.raises(Cancelled):
        lam.attribute(image, (4, 4, 8), steps=6, kernel_size=5, callback=callback, cancel=cancel)
    assert seen == [1, 2]
    # nothing half-done was cached: the same call now runs to the end and matches a fresh engine
    again = lam.attribute(image, (4, 4, 8), steps=6, kernel_size=5)
    fresh = LAM(edsr, chunk_size=1).attribute(image, (4, 4, 8), steps=6, kernel_size=5)
    assert torch.allclose(again.attribution, fresh.attribution)
    assert [p.requires_grad for p in edsr.parameters()] == flags  # a cancelled call restores the model too


# ---------------------------------------------------------------------------------------------------------------
# result object
# ---------------------------------------------------------------------------------------------------------------
def test_result_fields(edsr, image):
    r = LAM(edsr).attribute(image, (4, 5, 8), steps=2, sigma=0.8, kernel_size=5)
    assert r.attribution.shape == (3, 12, 12) and r.attribution.dtype == torch.float32
    assert r.map.shape == (12, 12) and float(r.map.max()) == pytest.approx(1.0)
    assert r.sr.shape == (3, 24, 24) and 0 <= float(r.sr.min()) and float(r.sr.max()) <= 1
    assert r.window == (4, 5, 8, 8) and r.settings["sigma"] == 0.8 and r.settings["steps"] == 2
    assert r.diffusion_index == pytest.approx((1 - r.gini) * 100)
    d = r.to_numpy()
    assert isinstance(d["map"], np.ndarray) and d["gini"] == r.gini and d["window"] == (4, 5, 8, 8)


# ---------------------------------------------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_input_error(edsr):
    with pytest.raises(InputError, match="CUDA"):
        LAM(edsr, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_and_autocast_error_is_small(edsr, image):
    cpu = LAM(edsr).attribute(image, (4, 4, 8), steps=4, kernel_size=5)
    gpu = LAM(edsr, device="cuda").attribute(image, (4, 4, 8), steps=4, kernel_size=5)
    assert (cpu.map - gpu.map).abs().max() < 1e-4
    half = LAM(edsr, device="cuda", autocast=True).attribute(image, (4, 4, 8), steps=4, kernel_size=5)
    assert (half.map - gpu.map).abs().max() < 0.1 and half.settings["autocast"]


def test_autocast_on_cpu_is_input_error(edsr):
    with pytest.raises(InputError, match="CUDA"):
        LAM(edsr, autocast=True)


# ---------------------------------------------------------------------------------------------------------------
# bad input: each an InputError that names the problem
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("window, match", [
    ((20, 4, 8), "outside"), ((-1, 0, 4), "outside"), ((0, 20, 5, 6), "outside"), ((0, 0, 1), "too small"),
    ((0, 0), "window must be"), ("abc", "window must be"),
])
def test_bad_window(edsr, image, window, match):
    with pytest.raises(InputError, match=match):
        LAM(edsr).attribute(image, window, steps=2, kernel_size=5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps"), (dict(steps=2.5), "steps"), (dict(sigma=-1.0), "sigma"),
    (dict(kernel_size=4), "odd"), (dict(kernel_size=0), "odd"), (dict(kernel_size=31), "too small"),
    (dict(path="nope"), "unknown path"),
])
def test_bad_settings(edsr, image, kwargs, match):
    with pytest.raises(InputError, match=match):
        LAM(edsr).attribute(image, (4, 4, 8), **{"steps": 2, "kernel_size": 5, **kwargs})


@pytest.mark.parametrize("bad, match", [
    (torch.rand(1, 12, 12), "grey"), (torch.rand(12, 12), "grey"), (torch.rand(4, 12, 12), "shape"),
    (torch.rand(12, 12, 3), "channels last"), ((torch.rand(3, 12, 12) * 255).to(torch.uint8), "float"),
    (torch.rand(3, 12, 12) * 255, "255"), ("image.png", "tensor"),
])
def test_bad_image(edsr, bad, match):
    with pytest.raises(InputError, match=match):
        LAM(edsr).attribute(bad, (4, 4, 8), steps=2, kernel_size=5)


def test_nan_image(edsr, image):
    x = image.clone()
    x[0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        LAM(edsr).attribute(x, (4, 4, 8), steps=2, kernel_size=5)


def test_wrong_scale_model(edsr):
    with pytest.raises(InputError, match="x2, not x3"):
        LAM(edsr, scale=3)
    with pytest.raises(InputError, match="Module"):
        LAM(lambda x: x)


def test_model_returning_nan_along_the_path_names_the_step():
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(10))
    x[0, 0, 0] = 1.0
    with pytest.raises(InputError, match="step k=1"):
        LAM(NaNWhenDark()).attribute(x, (1, 1, 3), steps=4, path="black")


# ---------------------------------------------------------------------------------------------------------------
# visualisation and command line (they only read results)
# ---------------------------------------------------------------------------------------------------------------
def test_viz_helpers(edsr, image, tmp_path):
    from srwidgets import viz

    r = LAM(edsr).attribute(image, (4, 4, 8), steps=2, kernel_size=5)
    rgba = viz.heatmap_rgba(r.map, "jet", 0.5)
    assert rgba.shape == (12, 12, 4) and rgba.dtype == np.uint8 and (rgba[..., 3] == 128).all()
    over = viz.blend(r.image, r.map, 2, 0.5, "jet")
    assert over.shape == (24, 24, 3) and over.dtype == np.uint8
    assert np.array_equal(viz.blend(r.image, np.zeros((12, 12)), 2, 0.0), viz.blend(r.image, r.map, 2, 0.0))
    fig = viz.lam_figure(r, path=tmp_path / "lam.png")
    assert (tmp_path / "lam.png").stat().st_size > 1000 and "DI" in fig.axes[1].get_title()
    assert len(viz.lam_figure([r, r], titles=["a", "b"]).axes) == 4  # SR, two maps, their colour bar
    faded = viz.heatmap_rgba(r.map, "jet", 0.5, fade=True)  # transparent at 0, 0.5 at the maximum
    m = r.map.numpy()
    assert (faded[..., 3][m == 0] == 0).all() and (faded[..., 3][m == m.max()] == 128).all()
    assert np.array_equal(viz.blend(r.image, np.zeros((12, 12)), 2, 0.8, fade=True),
                          viz.blend(r.image, np.zeros((12, 12)), 2, 0.0))  # a zero map leaves the image as it is


def test_cli_writes_figure_and_prints_indices(edsr, tmp_path, capsys):
    import argparse

    from PIL import Image

    from srwidgets.cli import lam as cli
    from srwidgets.models import save

    save(edsr, str(tmp_path / "tiny_x2.pth"))
    Image.fromarray((np.random.default_rng(0).random((12, 12, 3)) * 255).astype(np.uint8)).save(tmp_path / "lr.png")
    ap = argparse.ArgumentParser()
    cli.add_parser(ap.add_subparsers())
    args = ap.parse_args(["lam", str(tmp_path / "lr.png"), "--model", str(tmp_path / "tiny_x2.pth"), "--window",
                          "4,4,8", "--steps", "2", "--kernel-size", "5", "--out", str(tmp_path / "out.png")])
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert "Gini" in out and "DI" in out and (tmp_path / "out.png").exists()
    with pytest.raises(InputError, match="window"):
        cli.parse_window("1,2")


def test_zero_derivative_steps_are_skipped_without_changing_numbers(edsr, image):
    # σ_k = 1.2 (1 − k/24) < 0.11 for k >= 22: both kernels are the identity in float64, d_23 = d_24 = 0 exactly.
    a, m, g, _ = reference_lam(edsr, image, (8, 6, 8), steps=24, sigma=1.2, l=5)
    calls = count_forwards(edsr)
    lam = LAM(edsr, crop=False)
    lam.attribute(image, (2, 2, 4), steps=1, kernel_size=5)  # SR, receptive field and chunk size measured
    calls[0] = 0
    r = lam.attribute(image, (8, 6, 8), steps=24, sigma=1.2, kernel_size=5)
    assert calls[0] == 24 - 2 + 1  # the live steps and the baseline
    assert np.abs(r.map.numpy() - m).max() <= 1e-4 and r.gini == pytest.approx(g, abs=1e-4)


def test_channels_last_option_matches_default_and_leaves_model_untouched():
    import srwidgets.models as M
    from srwidgets.lam import LAM

    torch.manual_seed(0)
    model = M.build("EDSR", num_feat=8, num_block=1, upscale=2)
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    ref = LAM(model).attribute(image, (6, 6, 6), steps=6)
    fast = LAM(model, channels_last=True).attribute(image, (6, 6, 6), steps=6)
    assert fast.settings["channels_last"] is True
    assert torch.allclose(fast.map, ref.map, atol=1e-4)
    assert abs(fast.diffusion_index - ref.diffusion_index) < 1e-3
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("kwargs, words", [
    (dict(sigma=float("inf")), "finite"),
    (dict(sigma=0.0), "constant"),
    (dict(kernel_size=1), "constant"),
    (dict(path="blurred", sigma=0.0), "constant"),
])
def test_degenerate_blur_settings_are_input_errors(edsr, image, kwargs, words):
    with pytest.raises(InputError, match=words):
        LAM(edsr).attribute(image, (4, 4, 8), steps=3, **kwargs)


def test_infinite_window_coordinate_and_empty_image_are_input_errors(edsr, image):
    with pytest.raises(InputError, match="window must be"):
        LAM(edsr).attribute(image, (float("inf"), 0, 8), steps=2)
    with pytest.raises(InputError, match="empty"):
        LAM(edsr).attribute(torch.rand(3, 0, 5), (0, 0, 2), steps=2, kernel_size=1, path="black")


def test_unknown_or_missing_device_is_an_input_error(edsr):
    with pytest.raises(InputError, match="device"):
        LAM(edsr, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            LAM(edsr, device="cuda")


def test_model_without_scale_that_rejects_rgb_is_an_input_error(image):
    with pytest.raises(InputError, match="RGB"):
        LAM(torch.nn.Conv2d(1, 16, 3, padding=1))


@pytest.mark.parametrize("arch, cfg", [
    ("EDSR", dict(num_feat=8, num_block=2, upscale=4)),
    ("EDSR", dict(num_feat=8, num_block=1, upscale=3)),
    ("RCAN", dict(num_feat=16, num_group=1, num_block=2, squeeze_factor=4, upscale=2)),
    ("MSRResNet", dict(num_feat=8, num_block=2, upscale=4)),
    ("MSRResNet", dict(num_feat=8, num_block=2, upscale=2)),
])
def test_split_tail_gives_the_same_attribution(arch, cfg):
    # The upsampling tail run on a patch of features around the window must change nothing the objective reads:
    # windows in the middle, on the top-left corner and on the bottom-right edge; one and several at once.
    torch.manual_seed(0)
    model = build(arch, **cfg).eval()
    s = model.scale
    image = torch.rand(3, 20, 18, generator=torch.Generator().manual_seed(2))
    sh, sw = 20 * s, 18 * s
    windows = [(8 * s, 7 * s, 2 * s), (0, 0, 6), (sh - 5, sw - 7, 5, 7)]
    for crop in (True, False):
        full = LAM(model, split_tail=False, crop=crop).attribute_many(image, windows, steps=4, kernel_size=5)
        split = LAM(model, crop=crop).attribute_many(image, windows, steps=4, kernel_size=5)
        assert split[0].settings["split_tail"] and not full[0].settings["split_tail"]
        for a, b in zip(full, split):
            assert torch.allclose(a.attribution, b.attribution, rtol=0, atol=1e-6 * float(a.attribution.abs().max()))
            assert abs(a.diffusion_index - b.diffusion_index) < 1e-4
        one = LAM(model).attribute(image, windows[2], steps=4, kernel_size=5)
        assert torch.allclose(one.map, full[2].map, atol=1e-5)


def test_split_tail_runs_the_tail_on_a_patch():
    torch.manual_seed(0)
    model = build("EDSR", num_feat=8, num_block=1, upscale=4).eval()
    shapes = []
    hook = model.conv_last.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape[-2:])))
    LAM(model, crop=False).attribute(torch.rand(3, 32, 32), (60, 60, 8), steps=2, kernel_size=3)
    hook.remove()
    # the full SR forward (128x128) happens once for the SR image; every path step sees only a patch
    assert (128, 128) in shapes and min(shapes) < (64, 64)


def test_attribute_many_returns_every_window_beyond_the_cache_size(edsr):
    """More windows in one call than the engine's cache holds (64): every result comes back, equal to its own call."""
    x = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(3))
    windows = [(top, left, 8) for top in range(0, 80, 8) for left in range(0, 80, 8)]  # 100 windows (SR px)
    engine = LAM(edsr)
    results = engine.attribute_many(x, windows, steps=2)
    assert len(results) == 100 and all(r is not None for r in results)
    assert [r.window for r in results] == [(t, l, 8, 8) for t, l, _ in windows]
    alone = LAM(edsr).attribute(x, windows[0], steps=2)
    assert results[0].diffusion_index == pytest.approx(alone.diffusion_index, rel=1e-5)
