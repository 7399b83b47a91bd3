"""Input checks shared by the engines (srwidgets.engine.inputs)."""
import math

import numpy as np
import pytest
import torch

from srwidgets.engine.inputs import (VALUE_TOLERANCE, check_choice, check_int, check_number, check_seed,
                                     image_tensor)
from srwidgets.errors import InputError

torch.set_num_threads(1)


# --- check_int -----------------------------------------------------------------------------------------------------
def test_check_int_accepts_numpy_integers_as_python_int():
    v = check_int("steps", np.int64(5), minimum=1)
    assert v == 5 and type(v) is int
    assert check_int("steps", 7) == 7


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), 2.0, "3", None, 1.5])
def test_check_int_refuses_non_integers_naming_the_parameter(bad):
    with pytest.raises(InputError, match=r"^steps must be an integer"):
        check_int("steps", bad)


def test_check_int_refuses_values_below_the_minimum():
    assert check_int("steps", 1, minimum=1) == 1  # the minimum itself is fine
    with pytest.raises(InputError, match=r"^steps must be an integer >= 1, got 0"):
        check_int("steps", 0, minimum=1)
    with pytest.raises(InputError, match=r"^steps must be an integer >= 1, got .*-3"):
        check_int("steps", np.int64(-3), minimum=1)


# --- check_number --------------------------------------------------------------------------------------------------
def test_check_number_accepts_ints_floats_and_numpy_numbers():
    assert check_number("sigma", 2) == 2.0 and type(check_number("sigma", 2)) is float
    assert check_number("sigma", np.float32(0.5)) == 0.5
    assert check_number("sigma", 0.0, minimum=0) == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan"), "abc", "1.0", True, np.bool_(False), None])
def test_check_number_refuses_nan_inf_strings_bools_naming_the_parameter(bad):
    with pytest.raises(InputError, match=r"^sigma must be a finite number"):
        check_number("sigma", bad)


def test_check_number_refuses_values_below_the_minimum():
    with pytest.raises(InputError, match=r"^sigma must be a finite number >= 0, got -0.1"):
        check_number("sigma", -0.1, minimum=0)


# --- check_choice / check_seed -------------------------------------------------------------------------------------
def test_check_choice_accepts_a_listed_string():
    assert check_choice("path", "blur", ["blur", "linear"]) == "blur"


@pytest.mark.parametrize("bad", [["blur"], {"blur": 1}, "Blur", None, 3])
def test_check_choice_refuses_other_values_with_input_error(bad):
    with pytest.raises(InputError, match=r"unknown path .*; choose one of: blur, linear"):
        check_choice("path", bad, ["blur", "linear"])


def test_check_seed():
    assert check_seed(np.int32(3)) == 3
    with pytest.raises(InputError, match=r"^seed must be an integer \(e.g. seed=0\), got 'abc'"):
        check_seed("abc")


# --- image_tensor --------------------------------------------------------------------------------------------------
def _img(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("shape", [(8, 8), (1, 8, 8), (1, 1, 8, 8)])
def test_image_tensor_refuses_grey(shape):
    with pytest.raises(InputError, match=r"the image is grey .*repeat the channel"):
        image_tensor(_img(*shape), "cpu")


def test_image_tensor_refuses_channels_last_with_a_permute_hint():
    with pytest.raises(InputError, match=r"must have shape \[3, h, w\].*got \(8, 6, 3\).*permute\(2, 0, 1\)"):
        image_tensor(_img(8, 6, 3), "cpu")


def test_image_tensor_refuses_other_shapes_without_the_hint():
    with pytest.raises(InputError, match=r"got \(2, 3, 8, 8\)$"):
        image_tensor(_img(2, 3, 8, 8), "cpu")
    with pytest.raises(InputError, match=r"got \(4, 8, 8\)$"):
        image_tensor(_img(4, 8, 8), "cpu")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_image_tensor_refuses_integer_images(dtype):
    with pytest.raises(InputError, match=r"must be float in \[0, 1\], got dtype"):
        image_tensor(torch.zeros(3, 4, 4, dtype=dtype), "cpu")


def test_image_tensor_refuses_integer_numpy_arrays():
    with pytest.raises(InputError, match="must be float"):
        image_tensor(np.zeros((3, 4, 4), np.uint8), "cpu")


@pytest.mark.parametrize("shape", [(3, 0, 8), (3, 8, 0), (1, 3, 0, 0)])
def test_image_tensor_refuses_empty_images(shape):
    with pytest.raises(InputError, match="is empty"):
        image_tensor(torch.zeros(shape), "cpu")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_image_tensor_refuses_nan_and_inf(bad):
    x = _img(3, 4, 4)
    x[1, 2, 3] = bad
    with pytest.raises(InputError, match="NaN or Inf"):
        image_tensor(x, "cpu")


@pytest.mark.parametrize("bad", [1 + 2 * VALUE_TOLERANCE, -2 * VALUE_TOLERANCE, 255.0])
def test_image_tensor_refuses_values_outside_the_tolerance(bad):
    x = _img(3, 4, 4)
    x[0, 0, 0] = bad
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        image_tensor(x, "cpu", what="the HR image")


def test_image_tensor_out_of_range_message_names_the_image_and_hints():
    x = _img(3, 4, 4) * 255
    with pytest.raises(InputError, match=r"^the HR image has values in .*divide 8-bit values by 255"):
        image_tensor(x, "cpu", what="the HR image")
    x = _img(3, 4, 4)
    x[0, 0, 0] = 1.1
    with pytest.raises(InputError, match=r"clamp it with image.clamp\(0, 1\)"):
        image_tensor(x, "cpu")


def test_image_tensor_accepts_values_within_the_tolerance_and_clamps_them():
    x = torch.full((3, 2, 2), 0.5, dtype=torch.float64)
    x[0, 0, 0] = 1 + VALUE_TOLERANCE / 2
    x[2, 1, 1] = -VALUE_TOLERANCE / 2
    y = image_tensor(x, "cpu")
    assert y[0, 0, 0] == 1.0 and y[2, 1, 1] == 0.0
    assert float(y.min()) == 0.0 and float(y.max()) == 1.0
    assert torch.equal(y[1], x[1])
    assert x[0, 0, 0] > 1  # the caller's tensor is not clamped in place


def test_image_tensor_accepts_a_batch_of_one_and_returns_float64_on_the_device():
    x = _img(1, 3, 5, 7)
    y = image_tensor(x, torch.device("cpu"))
    assert y.shape == (3, 5, 7) and y.dtype == torch.float64 and y.device == torch.device("cpu")
    assert torch.equal(y, x[0].double())


def test_image_tensor_accepts_numpy_and_detaches():
    x = _img(3, 4, 4).requires_grad_(True)
    y = image_tensor(x, "cpu")
    assert not y.requires_grad
    z = image_tensor(x.detach().numpy(), "cpu")
    assert torch.equal(z, x.detach().double())


def test_image_tensor_refuses_other_types():
    with pytest.raises(InputError, match="must be a torch tensor.*got list"):
        image_tensor([[[0.5]]], "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_image_tensor_moves_to_cuda():
    y = image_tensor(_img(3, 4, 4), "cuda")
    assert y.is_cuda and y.dtype == torch.float64


def test_seeds_outside_the_generators_range_are_refused_in_words():
    from srwidgets.engine import check_seed
    from srwidgets.errors import InputError

    assert check_seed(np.int64(7)) == 7 and check_seed(2 ** 64 - 1) == 2 ** 64 - 1
    for bad in (2 ** 64, -(2 ** 63) - 1, 2 ** 70):
        with pytest.raises(InputError, match=r"seed must be an integer in \[-2\*\*63, 2\*\*64 - 1\]"):
            check_seed(bad)
