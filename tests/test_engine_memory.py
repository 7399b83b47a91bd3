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
