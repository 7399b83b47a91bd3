"""Device parsing and model placement (srwidgets.engine.devices)."""
import pytest
import torch
from torch import nn

from srwidgets.engine.devices import model_device, parse_device, resolve_device
from srwidgets.errors import InputError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


# --- parse_device --------------------------------------------------------------------------------------------------
def test_parse_device_cpu():
    assert parse_device("cpu") == torch.device("cpu")
    assert parse_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cpu0", "", "cuda:x"])
def test_parse_device_refuses_unknown_strings(bad):
    with pytest.raises(InputError, match=r"unknown device .*use 'cpu' or 'cuda'"):
        parse_device(bad)


def test_parse_device_refuses_other_types():
    with pytest.raises(InputError, match="unknown device"):
        parse_device(1.5)


@pytest.mark.parametrize("dev", ["mps", "meta", torch.device("meta")])
def test_parse_device_refuses_unsupported_device_types(dev):
    with pytest.raises(InputError, match=r"is not supported; use 'cpu' or 'cuda'"):
        parse_device(dev)


@no_cuda
@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "cuda:1"])
def test_parse_device_refuses_cuda_when_unavailable(dev):
    with pytest.raises(InputError, match=rf"device='{dev}' was asked for but CUDA is not available here"):
        parse_device(dev)


@needs_cuda
def test_parse_device_refuses_a_missing_cuda_index():
    n = torch.cuda.device_count()
    assert parse_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(InputError, match=rf"there are only {n} CUDA devices"):
        parse_device(f"cuda:{n}")


# --- model_device --------------------------------------------------------------------------------------------------
def test_model_device_without_parameters_or_buffers_is_cpu():
    assert model_device(nn.ReLU()) == torch.device("cpu")
    assert model_device(nn.Sequential()) == torch.device("cpu")


def test_model_device_with_buffers_only():
    m = nn.Module()
    m.register_buffer("mean", torch.zeros(3, device="meta"))
    assert model_device(m) == torch.device("meta")


def test_model_device_is_the_first_parameters_device():
    m = nn.Sequential(nn.Conv2d(3, 3, 1))
    assert model_device(m) == torch.device("cpu")
    assert model_device(nn.Conv2d(3, 3, 1, device="meta")) == torch.device("meta")


# --- resolve_device ------------------------------------------------------------------------------------------------
def test_resolve_device_keeps_a_cpu_model_on_cpu_without_copy():
    m = nn.Conv2d(3, 3, 1)
    dev, placed = resolve_device(m, "cpu")
    assert dev == torch.device("cpu") and placed is m


def test_resolve_device_keeps_a_stateless_model():
    m = nn.ReLU()
    dev, placed = resolve_device(m, "cpu")
    assert placed is m and dev.type == "cpu"


@no_cuda
def test_resolve_device_default_is_the_models_device_without_cuda():
    m = nn.Conv2d(3, 3, 1)
    dev, placed = resolve_device(m)
    assert dev == torch.device("cpu") and placed is m


def test_resolve_device_refuses_bad_devices():
    with pytest.raises(InputError, match="unknown device"):
        resolve_device(nn.Conv2d(3, 3, 1), "gpu")


@needs_cuda
def test_resolve_device_copies_a_cpu_model_to_cuda_and_leaves_the_original():
    m = nn.Conv2d(3, 3, 1)
    dev, placed = resolve_device(m, "cuda")
    assert dev == torch.device("cuda", torch.cuda.current_device())
    assert placed is not m and placed.weight.is_cuda and not m.weight.is_cuda
    assert torch.equal(placed.weight.cpu(), m.weight)
    dev2, again = resolve_device(placed, "cuda")
    assert again is placed  # already there: no second copy
