"""The model guard (srwidgets.engine.guard): eval mode and frozen weights inside, everything restored after."""
import pytest
import torch
from torch import nn

from srwidgets.engine.guard import explain_model_error, guarded

torch.set_num_threads(1)


class Counter(nn.Module):
    """A forward pass that increments a buffer in place (as a careless running statistic would)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.conv(x)


def _mixed():
    """Children in different modes: conv and dropout in train, BatchNorm in eval; the container in train."""
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Conv2d(4, 3, 1))
    m.train()
    m[1].eval()
    return m


def _modes(m):
    return [mod.training for mod in m.modules()]


def _x():
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


class Boom(Exception):
    pass


# --- inside the block ----------------------------------------------------------------------------------------------
def test_inside_the_model_is_in_eval_mode_with_frozen_parameters():
    m = _mixed()
    with guarded(m) as g:
        assert g is m
        assert not any(_modes(m))
        assert not any(p.requires_grad for p in m.parameters())


def test_inside_without_freeze_parameters_keep_their_flags():
    m = _mixed()
    m[0].bias.requires_grad_(False)
    with guarded(m, freeze=False):
        assert not any(_modes(m))
        assert [p.requires_grad for p in m.parameters()] == [True, False, True, True, True, True]


def test_inside_dropout_is_off():
    m = nn.Sequential(nn.Dropout(0.9)).train()
    x = torch.ones(1000)
    with guarded(m):
        assert torch.equal(m(x), x)


# --- restored after ------------------------------------------------------------------------------------------------
def test_modes_restored_per_submodule():
    m = _mixed()
    before = _modes(m)
    assert before == [True, True, False, True, True]
    with guarded(m):
        pass
    assert _modes(m) == before


def test_modes_restored_when_the_block_changes_them():
    m = _mixed()
    before = _modes(m)
    with guarded(m):
        m.train()
        m[3].eval()
    assert _modes(m) == before


def test_requires_grad_flags_restored():
    m = _mixed()
    m[0].bias.requires_grad_(False)
    m[3].weight.requires_grad_(False)
    before = [p.requires_grad for p in m.parameters()]
    with guarded(m):
        for p in m.parameters():
            p.requires_grad_(True)  # even if the block changes them
    assert [p.requires_grad for p in m.parameters()] == before


def test_grads_restored():
    m = _mixed()
    g0 = torch.full_like(m[0].weight, 3.0)
    m[0].weight.grad = g0  # one parameter with a gradient, the others without
    with guarded(m):
        for p in m.parameters():
            p.grad = torch.zeros_like(p)
    assert m[0].weight.grad is g0 and torch.equal(g0, torch.full_like(g0, 3.0))
    assert all(p.grad is None for p in list(m.parameters())[1:])


def test_grads_restored_after_a_backward_without_freeze():
    m = nn.Linear(2, 1)
    m.weight.grad = torch.ones(1, 2)
    with guarded(m, freeze=False):
        m(torch.ones(1, 2)).sum().backward()
    assert torch.equal(m.weight.grad, torch.ones(1, 2))


def test_batchnorm_running_stats_unchanged_by_a_forward_inside():
    m = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)).train()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    with guarded(m):
        m(_x())
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    m(_x())  # the same forward outside the guard, in train mode, does change them
    assert not torch.equal(m[1].running_mean, state["1.running_mean"])


def test_batchnorm_running_stats_restored_when_the_block_trains():
    m = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)).train()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    with guarded(m):
        m.train()
        m(_x())
        assert int(m[1].num_batches_tracked) == 1  # the stats did move inside
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())


def test_buffer_incremented_in_place_by_forward_is_restored():
    m = Counter()
    m.calls.fill_(5)
    buf = m.calls
    with guarded(m):
        m(_x())
        m(_x())
        assert float(m.calls) == 7
    assert float(m.calls) == 5 and m.calls is buf


def test_buffer_edited_through_data_is_restored():
    m = Counter()
    with guarded(m):
        m.calls.data.add_(1)
    assert float(m.calls) == 0


def test_everything_restored_when_the_block_raises():
    m = _mixed()
    m.add_module("counter", Counter())
    m[0].bias.requires_grad_(False)
    g0 = torch.ones_like(m[0].weight)
    m[0].weight.grad = g0
    modes, flags = _modes(m), [p.requires_grad for p in m.parameters()]
    with pytest.raises(Boom):
        with guarded(m):
            m.counter(_x())
            m.train()
            for p in m.parameters():
                p.grad = None
            raise Boom()
    assert _modes(m) == modes
    assert [p.requires_grad for p in m.parameters()] == flags
    assert m[0].weight.grad is g0
    assert float(m.counter.calls) == 0


def test_parameters_edited_in_the_block_are_not_copied_back():
    # the guard restores buffers, not weights (no copy of the weights is kept): documents the cost trade-off
    m = nn.Linear(2, 2)
    with guarded(m), torch.no_grad():
        m.weight.zero_()
    assert torch.count_nonzero(m.weight) == 0


# --- explain_model_error -------------------------------------------------------------------------------------------
class InPlaceInput(nn.Module):
    def forward(self, x):
        return x.mul_(2)


class GradOfOwnWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        (g,) = torch.autograd.grad(self.conv.weight.sum(), self.conv.weight)
        return self.conv(x) + g.sum()


def _error_of(model):
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    with guarded(model):
        try:
            model(x)
        except RuntimeError as e:
            return e
    raise AssertionError("the model did not fail")


def test_explains_an_in_place_edit_of_the_input():
    reason = explain_model_error(_error_of(InPlaceInput()))
    assert reason is not None and "modifies its input in place" in reason


def test_explains_gradients_of_own_weights():
    m = GradOfOwnWeights()
    m(torch.rand(1, 3, 4, 4))  # works with trainable weights: the fault shows only under the guard
    reason = explain_model_error(_error_of(m))
    assert reason is not None and "takes gradients of its own weights" in reason


def test_explains_gradients_of_own_weights_under_inference_mode():
    m = GradOfOwnWeights()
    with pytest.raises(RuntimeError) as info:
        with torch.inference_mode():
            m(torch.rand(1, 3, 4, 4))
    reason = explain_model_error(info.value)
    assert reason is not None and "takes gradients of its own weights" in reason


def test_no_explanation_for_unrelated_errors():
    with pytest.raises(RuntimeError) as info:
        nn.Conv2d(3, 3, 1)(torch.rand(1, 4, 4, 4))  # wrong channel count
    assert explain_model_error(info.value) is None
    assert explain_model_error(RuntimeError("CUDA out of memory")) is None
