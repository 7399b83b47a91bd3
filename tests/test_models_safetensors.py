"""``.safetensors`` checkpoints load through models.load with the same detection (the optional safetensors
package), and a clear error names the package when it is missing."""
import sys

import pytest
import torch

import srwidgets.models as M
from srwidgets.errors import InputError

from _helpers import output, randomized

st = pytest.importorskip("safetensors.torch")


def test_a_safetensors_edsr_loads_like_its_pth(tmp_path):
    edsr = randomized("EDSR", dict(num_feat=8, num_block=2, upscale=3))
    st.save_file(edsr.state_dict(), str(tmp_path / "edsr.safetensors"))
    model = M.load(str(tmp_path / "edsr.safetensors"))
    assert model.arch == "EDSR" and model.config["num_feat"] == 8 and model.config["num_block"] == 2
    assert model.scale == 3 and model.scale_source == "checkpoint weights" and not model.training
    assert torch.equal(output(model), output(edsr))


def test_public_edsr_key_names_in_safetensors_are_converted(tmp_path):
    from test_models import _to_official_edsr  # EDSR-PyTorch's naming: head / body.N.body.0 / tail

    edsr = randomized("EDSR", dict(num_feat=8, num_block=2, upscale=2))
    official = {k: v.contiguous() for k, v in _to_official_edsr(edsr.state_dict(), 2).items()}
    st.save_file(official, str(tmp_path / "EDSR_x2.safetensors"))
    model = M.load(str(tmp_path / "EDSR_x2.safetensors"))
    assert model.arch == "EDSR" and torch.equal(output(model), output(edsr))


def test_srwidgets_record_in_the_metadata_and_a_file_named_otherwise(tmp_path):
    import json

    fsrcnn = randomized("FSRCNN", dict(upscale=2, d=8, s=4, m=1))
    st.save_file(fsrcnn.state_dict(), str(tmp_path / "model.bin"),
                 metadata={"srwidgets": json.dumps({"arch": "FSRCNN", "config": dict(fsrcnn.config)})})
    model = M.load(str(tmp_path / "model.bin"))  # recognised by its header, not its name
    assert model.scale_source == "srwidgets metadata" and model.scale == 2
    assert torch.equal(output(model), output(fsrcnn))


def test_a_broken_safetensors_file_is_an_input_error(tmp_path):
    (tmp_path / "torn.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1")
    with pytest.raises(InputError, match="could not read .*safetensors.*Re-download"):
        M.load(str(tmp_path / "torn.safetensors"))


def test_without_the_package_the_error_says_pip_install(tmp_path, monkeypatch):
    edsr = randomized("EDSR", dict(num_feat=8, num_block=1, upscale=2))
    st.save_file(edsr.state_dict(), str(tmp_path / "edsr.safetensors"))
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(InputError, match="pip install safetensors"):
        M.load(str(tmp_path / "edsr.safetensors"))
