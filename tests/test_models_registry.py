"""The model registry (srwidgets.models.register): a user's family is detected, built, saved and loaded like the
built-ins; the built-ins are entries of the same registry; errors name the known families and the registry."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import srwidgets.models as M
from srwidgets.errors import InputError


class TinyNet(nn.Module):
    """A toy family with its own key names: ``stem`` (3 -> feat), ``out`` (feat -> 3·s²), pixel shuffle."""

    def __init__(self, feat: int = 4, upscale: int = 2):
        super().__init__()
        self.stem = nn.Conv2d(3, feat, 3, padding=1)
        self.out = nn.Conv2d(feat, 3 * upscale * upscale, 3, padding=1)
        self.upscale = upscale

    def forward(self, x):
        return F.pixel_shuffle(self.out(torch.relu(self.stem(x))), self.upscale)


def detect_tiny(sd):
    if set(sd) != {"stem.weight", "stem.bias", "out.weight", "out.bias"}:
        return None
    feat, up2 = sd["stem.weight"].shape[0], sd["out.weight"].shape[0] // 3
    return {"feat": feat, "upscale": int(round(up2 ** 0.5))}


@pytest.fixture
def tiny_family():
    family = M.register("TinyNet", detect=detect_tiny, build=TinyNet)
    yield family
    M.unregister("TinyNet")
    assert "TinyNet" not in M.architectures()


def test_a_registered_family_is_detected_built_and_loaded(tiny_family, tmp_path):
    torch.manual_seed(0)
    net = TinyNet(feat=5, upscale=3)
    torch.save(net.state_dict(), tmp_path / "mine.pth")
    model = M.load(str(tmp_path / "mine.pth"))
    assert isinstance(model, TinyNet) and not model.training
    assert model.arch == "TinyNet" and model.config == {"feat": 5, "upscale": 3} and model.scale == 3
    assert model.scale_source == "checkpoint weights"
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert torch.equal(model(x), net(x))
    assert M.check(model, 3) == 3
    assert "TinyNet" in M.architectures() and M.detect(net.state_dict())[0] == "TinyNet"


def test_a_registered_family_round_trips_through_save(tiny_family, tmp_path):
    model = M.build("TinyNet", feat=3, upscale=2)
    M.save(model, str(tmp_path / "saved.pth"))
    again = M.load(str(tmp_path / "saved.pth"))
    assert again.arch == "TinyNet" and again.scale_source == "srwidgets metadata"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_the_scale_from_the_file_name_reaches_build(tmp_path):
    # a family whose weights do not record the scale: build receives upscale= from the file name
    M.register("NoScale", detect=lambda sd: {} if list(sd) == ["w"] else None,
               build=lambda upscale: _Nearest(upscale))
    try:
        torch.save({"w": torch.ones(1)}, tmp_path / "mine_x3.pth")
        model = M.load(str(tmp_path / "mine_x3.pth"))
        assert model.scale == 3 and model.scale_source == "file name 'mine_x3.pth'"
        with pytest.raises(InputError, match="do not record the scale"):
            M.load({"w": torch.ones(1)})
    finally:
        M.unregister("NoScale")


class _Nearest(nn.Module):
    def __init__(self, upscale):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.s = upscale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.s) * self.w


def test_a_registered_family_is_tried_first_or_last():
    seen = []
    M.register("Spy", detect=lambda sd: seen.append("first") or None, build=TinyNet)
    M.register("Spy2", detect=lambda sd: seen.append("last") or None, build=TinyNet, first=False)
    try:
        edsr = M.build("EDSR", num_feat=8, num_block=1, upscale=2)
        assert M.detect(edsr.state_dict())[0] == "EDSR"
        assert seen == ["first"]  # EDSR matched before the family registered last was asked
        with pytest.raises(InputError):
            M.detect({"nothing.weight": torch.ones(1)})
        assert seen[-1] == "last"
    finally:
        M.unregister("Spy")
        M.unregister("Spy2")


def test_the_built_in_families_are_registry_entries():
    assert M.architectures()[:10] == ["FSRCNN", "EDSR", "MSRResNet", "RCAN", "RRDBNet", "SwinIR", "HAT", "RFDN",
                                      "IMDN", "PAN"]
    with pytest.raises(InputError, match="built in"):
        M.unregister("EDSR")
    # replacing a built-in is explicit, and unregistering the replacement brings the built-in back
    with pytest.raises(InputError, match="already registered"):
        M.register("EDSR", detect=detect_tiny, build=TinyNet)
    M.register("EDSR", detect=detect_tiny, build=TinyNet, replace=True)
    try:
        assert isinstance(M.build("EDSR", feat=2, upscale=2), TinyNet)
    finally:
        M.unregister("EDSR")
    assert type(M.build("EDSR", num_feat=8, num_block=1, upscale=2)).__name__ == "EDSR"


def test_an_unknown_family_lists_the_known_ones_and_the_registry():
    with pytest.raises(InputError) as e:
        M.load({"encoder.layer0.weight": torch.ones(2, 3, 3, 3)})
    msg = str(e.value)
    assert "unknown architecture" in msg and "models.register" in msg
    assert all(name in msg for name in ("EDSR", "RCAN", "SwinIR", "RFDN", "IMDN"))
    with pytest.raises(InputError, match=r"unknown architecture 'Foo'.*EDSR.*models\.register"):
        M.build("Foo")


def test_register_refuses_bad_arguments(tiny_family):
    with pytest.raises(InputError, match="callable"):
        M.register("Bad", detect="keys", build=TinyNet)
    with pytest.raises(InputError, match="needs detect"):
        M.register("Bad", detect=None, build=TinyNet)
    with pytest.raises(InputError, match="non-empty"):
        M.register("", detect=detect_tiny, build=TinyNet)
    with pytest.raises(InputError, match="no family named"):
        M.unregister("NeverRegistered")
    with pytest.raises(InputError, match="unknown config key 'width' for TinyNet"):
        M.build("TinyNet", width=3)
    M.register("NotAModule", detect=lambda sd: None, build=lambda **cfg: "a string")
    try:
        with pytest.raises(InputError, match="not an nn.Module"):
            M.build("NotAModule")
    finally:
        M.unregister("NotAModule")
