"""Memory metering and chunk sizing (srwidgets.engine.memory)."""
import numpy as np
import pytest
import torch
from torch import nn

from srwidgets.engine.guard import frozen
from srwidgets.engine.memory import estimate_chunk, saved_bytes


def test_chunk_size_policy():
    cpu = torch.device("cpu")
    assert estimate_chunk(None, 100, cpu) == 1  # unknown memory: measure on one evaluation first
    assert estimate_chunk(1e3, 100, cpu, chunk_size=7) == 7
    assert estimate_chunk(1e9, 100, cpu) == 1  # over the budget still runs one at a time
    # CPU: small (cropped) inputs batch up to 10 steps (about 6000 LR pixels a chunk), 64x64 and larger one at a time
    assert estimate_chunk(10.0, 100, cpu, memory_budget=1 << 40) == 10
    assert estimate_chunk(10.0, 40 * 40, cpu, memory_budget=1 << 40) == 3
    assert estimate_chunk(10.0, 64 * 64, cpu, memory_budget=1 << 40) == 1
    assert estimate_chunk(10.0, 100, cpu, memory_budget=2500) == 1  # the memory budget still wins

def test_frozen_restores_flags_and_saved_bytes_counts():
    m = nn.Conv2d(3, 4, 3)
    m.bias.requires_grad_(False)
    with frozen(m):
        assert not any(p.requires_grad for p in m.parameters())
        x = torch.rand(1, 3, 8, 8, requires_grad=True)
        with saved_bytes() as meter:
            m(x).relu().sum()
    assert m.weight.requires_grad and not m.bias.requires_grad
    assert meter.bytes >= x.numel() * 4


def test_inference_bytes_is_measured_linear_and_leaves_the_model_alone():
    from srwidgets.engine.memory import inference_bytes

    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.Conv2d(32, 3, 3, padding=1)).train()
    stats = net[1].running_mean.clone()
    small, large = inference_bytes(net, 50, 50, scale=1), inference_bytes(net, 100, 100, scale=1)
    assert large == pytest.approx(4 * small, rel=1e-6)  # activations grow with the pixels
    assert small >= 32 * 4 * 50 * 50  # at least the widest feature map (32 float32 channels)
    assert net.training and torch.equal(net[1].running_mean, stats)  # mode and buffers as they were
    assert not any(m._forward_hooks for m in net.modules())


def test_inference_bytes_falls_back_to_a_floor_when_the_probe_fails():
    from srwidgets.engine.memory import inference_bytes

    class Picky(nn.Module):
        def forward(self, x):
            raise RuntimeError("needs 48x48")

    assert inference_bytes(Picky(), 10, 10, scale=2) == 8 * 3 * 4 * 4 * 100 + 3 * 4 * 4 * 100


def test_ensure_fits_refuses_nan_estimates():
    from srwidgets.engine.memory import ensure_fits
    from srwidgets.errors import InputError

    with pytest.raises(InputError, match=r"image too large \(5×4"):
        ensure_fits(float("nan"), 5, 4)


def test_super_resolve_refuses_an_image_too_large_before_allocating(monkeypatch):
    """Every engine's F(x) (widget preview, LAM, CEM, ...) says 'LR image too large ... crop or downsample' before
    running a forward pass the machine cannot hold, and still runs images that fit."""
    from srwidgets.engine import memory
    from srwidgets.engine.prepare import prepare_model
    from srwidgets.errors import InputError

    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    pm = prepare_model(net, scale=2, device="cpu")
    calls = []
    real = net.forward
    monkeypatch.setattr(net, "forward", lambda x: calls.append(tuple(x.shape)) or real(x))
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 50_000_000)  # 50 MB free
    big = torch.rand(3, 600, 600, dtype=torch.float64)
    with pytest.raises(InputError, match=r"LR image too large \(600×600.*crop or downsample"):
        pm.super_resolve(big)
    assert (1, 3, 600, 600) not in calls  # refused before the full-size forward
    assert tuple(pm.super_resolve(torch.rand(3, 300, 300, dtype=torch.float64)).shape) == (3, 600, 600)
