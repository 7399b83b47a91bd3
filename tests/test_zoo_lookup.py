"""srwidgets.zoo.lookup: zoo names and modules -> models, named model lists, baseline/target pairs."""
import pytest
import torch
from torch import nn

import srwidgets.models as M
from srwidgets import zoo
from srwidgets.errors import InputError
from srwidgets.zoo.lookup import model_pair, named_models, resolve_model

torch.set_num_threads(1)


def _edsr(seed=0):
    torch.manual_seed(seed)
    return M.build("EDSR", num_feat=4, num_block=1, upscale=2).eval()


# --- resolve_model -------------------------------------------------------------------------------------------------
def test_resolve_model_returns_a_module_as_it_is():
    m = _edsr()
    assert resolve_model(m) is m


def test_resolve_model_loads_a_zoo_name():
    m = resolve_model("x4-fsrcnn")
    assert isinstance(m, nn.Module) and m.arch == "FSRCNN" and m.scale == 4 and m.zoo_name == "x4-fsrcnn"


@pytest.mark.parametrize("bad,kind", [(3, "int"), (None, "NoneType"), (lambda x: x, "function"),
                                      (torch.zeros(3), "Tensor")])
def test_resolve_model_refuses_non_modules(bad, kind):
    with pytest.raises(InputError, match=rf"expected an nn.Module or a zoo name, got {kind}; load weights with"):
        resolve_model(bad)


def test_resolve_model_unknown_zoo_name():
    with pytest.raises(InputError, match=r"no zoo model 'x9-nothing'; available: .*x4-fsrcnn"):
        resolve_model("x9-nothing")


# --- named_models --------------------------------------------------------------------------------------------------
def test_named_models_single_module_is_named_by_its_arch():
    m = _edsr()
    out = named_models(m)
    assert list(out) == ["EDSR"] and out["EDSR"] is m


def test_named_models_plain_module_is_named_by_its_class():
    m = nn.Upsample(scale_factor=2)
    assert list(named_models(m)) == ["Upsample"]


def test_named_models_list_keeps_order():
    a, b = _edsr(), nn.Upsample(scale_factor=2)
    out = named_models([a, b])
    assert list(out) == ["EDSR", "Upsample"] and out["EDSR"] is a and out["Upsample"] is b


def test_named_models_dict_uses_its_keys():
    a, b = _edsr(0), _edsr(1)
    out = named_models({"mine": a, 7: b})
    assert list(out) == ["mine", "7"] and out["mine"] is a and out["7"] is b


def test_named_models_zoo_name():
    out = named_models("x4-fsrcnn")
    assert list(out) == ["x4-fsrcnn"] and out["x4-fsrcnn"].arch == "FSRCNN"


def test_named_models_dict_key_names_a_zoo_model():
    out = named_models({"baseline": "x4-fsrcnn"})
    assert list(out) == ["baseline"] and out["baseline"].zoo_name == "x4-fsrcnn"


def test_named_models_duplicates_are_numbered():
    a, b, c = _edsr(0), _edsr(1), _edsr(2)
    out = named_models([a, b, c])
    assert list(out) == ["EDSR", "EDSR #2", "EDSR #3"]
    assert out["EDSR"] is a and out["EDSR #2"] is b and out["EDSR #3"] is c


def test_named_models_duplicate_zoo_names_are_numbered():
    out = named_models(["x4-fsrcnn", "x4-fsrcnn"])
    assert list(out) == ["x4-fsrcnn", "x4-fsrcnn #2"]
    assert out["x4-fsrcnn"] is not out["x4-fsrcnn #2"]  # two loads, two models


@pytest.mark.parametrize("empty", [[], (), {}])
def test_named_models_empty_is_an_input_error(empty):
    with pytest.raises(InputError, match=r"give at least one model \(an nn.Module, a zoo name, a list or a dict"):
        named_models(empty)


def test_named_models_refuses_a_non_module_in_a_list():
    with pytest.raises(InputError, match=r"expected an nn.Module or a zoo name, got int"):
        named_models([_edsr(), 5])


# --- model_pair ----------------------------------------------------------------------------------------------------
def test_model_pair_accepts_the_zoo_faig_pair():
    base, target = model_pair(*zoo.FAIG_PAIR)
    assert base.zoo_name == "x2-srresnet-bicubic" and target.zoo_name == "x2-srresnet-blind"
    assert base.arch == target.arch == "MSRResNet"
    assert any(not torch.equal(p, q) for p, q in zip(base.parameters(), target.parameters()))


def test_model_pair_accepts_two_modules_of_one_architecture():
    a, b = _edsr(0), _edsr(1)
    got = model_pair(a, b)
    assert got[0] is a and got[1] is b


def test_model_pair_refuses_two_architectures():
    rcan = M.build("RCAN", num_feat=8, num_group=1, num_block=1, squeeze_factor=4, upscale=2)
    with pytest.raises(InputError, match=r"baseline and target models differ in architecture.*fine-tuned from the baseline"):
        model_pair(_edsr(), rcan)


def test_model_pair_refuses_same_arch_with_other_widths():
    wide = M.build("EDSR", num_feat=8, num_block=1, upscale=2)
    with pytest.raises(InputError, match=r"differ in architecture \(parameter names or shapes differ, e\.g\. "
                       r"conv_first\.weight: \[4, 3, 3, 3\] vs \[8, 3, 3, 3\];.*\.\.\. \(11 differ\)\)"):
        model_pair(_edsr(), wide)


def test_model_pair_refuses_zoo_models_of_two_architectures():
    with pytest.raises(InputError, match=r"differ in architecture"):
        model_pair("x2-srresnet-bicubic", "x4-fsrcnn")


def test_model_pair_error_names_the_differing_parameters():
    a = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 3, 1))
    b = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 3, 3), nn.Conv2d(3, 3, 1))
    with pytest.raises(InputError) as e:
        model_pair(a, b)
    msg = str(e.value)
    assert "1.weight: [3, 4, 1, 1] vs [3, 4, 3, 3]" in msg and "2.weight: missing vs [3, 3, 1, 1]" in msg
    assert "0.weight" not in msg and "0.bias" not in msg  # the equal first layer is not listed
