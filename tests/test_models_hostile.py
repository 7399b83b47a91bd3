"""Issue 17: hostile checkpoints, configs and arguments to srwidgets.models are refused quickly with a short
InputError that names what is wrong, before anything large is built; numpy integers are accepted as scales."""
import time
import zipfile

import numpy as np
import pytest
import torch

import srwidgets.models as M
from srwidgets.errors import InputError

MAX_MESSAGE = 700  # "a few lines"


def tiny_edsr(blocks=2):
    return M.build("EDSR", num_feat=8, num_block=blocks, upscale=2)


def refused(fn, match):
    """The InputError ``fn`` raises, checked to be short and to match ``match``; and it came fast."""
    start = time.perf_counter()
    with pytest.raises(InputError, match=match) as err:
        fn()
    assert time.perf_counter() - start < 1.0
    assert len(str(err.value)) < MAX_MESSAGE, str(err.value)
    return str(err.value)


def test_a_stray_block_key_is_refused_in_under_a_second_naming_the_missing_blocks():
    sd = tiny_edsr().state_dict()
    sd["body.9999999.conv1.weight"] = sd["body.0.conv1.weight"]
    msg = refused(lambda: M.load(sd), r"body\.2, body\.3.*and 9999992 more")
    assert "body.9999999.conv1.weight" in msg


def test_a_gap_in_the_blocks_is_refused_naming_it():
    sd = {k: v for k, v in tiny_edsr(3).state_dict().items() if not k.startswith("body.1.")}
    refused(lambda: M.load(sd), r"lacks body\.1\b")


def test_a_record_claiming_huge_widths_is_refused_without_building():
    sd = tiny_edsr().state_dict()
    ckpt = {"params": sd, "srwidgets": {"arch": "EDSR", "config": dict(num_feat=20000, num_block=2, upscale=2)}}
    refused(lambda: M.load(ckpt), r"does not fit.*was not built.*num_feat=8, not 20000")


def test_a_record_claiming_more_blocks_than_the_weights_hold_is_refused():
    ckpt = {"params": tiny_edsr().state_dict(),
            "srwidgets": {"arch": "EDSR", "config": dict(num_feat=8, num_block=500, upscale=2)}}
    refused(lambda: M.load(ckpt), r"num_block=2, not 500")


def test_missing_keys_are_capped_in_the_message():
    sd = M.build("RRDBNet", num_feat=8, num_block=2, num_grow_ch=4).state_dict()
    sd = {k: v for k, v in sd.items() if not k.startswith("body.1.rdb2") and not k.startswith("body.1.rdb3")}
    refused(lambda: M.load(sd), r"lacks 20 keys \(body\.1\.rdb2\.conv1\.weight.*and 15 more\)")


@pytest.mark.parametrize("arch, config, match", [
    ("EDSR", dict(img_range=0), "img_range must be a positive number"),
    ("SwinIR", dict(window_size=0), "window_size .* must be an integer >= 1, got 0"),
    ("EDSR", dict(num_feat=-3), "num_feat .* must be an integer >= 1, got -3"),
    ("EDSR", dict(upscale=0), "upscale must be a positive integer"),
    ("EDSR", dict(num_block=0), "num_block .* >= 1, got 0"),
    ("EDSR", dict(num_feat="64"), "num_feat .* got '64'"),
    ("EDSR", dict(img_range=float("nan")), "img_range must be a positive number"),
    ("EDSR", dict(num_block=10 ** 7), "at most 1000"),
    ("SwinIR", dict(embed_dim=60, num_heads=(7, 7, 7, 7)), "divisible by every num_heads"),
    ("RCAN", dict(num_feat=8, squeeze_factor=16), "squeeze_factor=16 is larger than the 8 channels"),
    ("SwinIR", dict(depths=(), num_heads=()), "depths .* non-empty"),
    ("EDSR", dict(rgb_mean=(1, 2)), "rgb_mean must be 3 finite numbers"),
    ("FSRCNN", dict(upscale=10 ** 9), "too large"),
])
def test_nonsense_config_values_are_refused_at_build(arch, config, match):
    refused(lambda: M.build(arch, **config), match)


def test_a_network_larger_than_memory_is_refused_before_allocating():
    refused(lambda: M.build("EDSR", num_feat=200000, num_block=1, upscale=2), "free memory")


def test_numpy_integers_are_accepted_as_scales_and_sizes():
    model = M.build("EDSR", num_feat=np.int64(8), num_block=np.int32(1), upscale=np.int64(2))
    assert model.config["num_feat"] == 8 and type(model.config["num_feat"]) is int
    assert M.check(model, np.int64(2)) == 2
    assert M.load(model.state_dict(), scale=np.int64(2)).scale == 2
    model.scale = np.int64(2)
    assert M.infer_scale(model) == 2


def test_y_channel_wrapper_around_an_rgb_network_says_not_to_wrap():
    rgb = M.build("FSRCNN", upscale=2, d=8, s=4, m=1)
    refused(lambda: M.YChannelWrapper(rgb), "already takes RGB.*Do not wrap it")


def test_pan_without_a_scale_is_advised_scale_2_or_3():
    sd = M.build("PAN", nf=8, unf=4, nb=2, upscale=2).state_dict()
    msg = refused(lambda: M.load(sd), "cannot be read from the weights.*scale=2 or scale=3")
    assert "scale=4" not in msg


@pytest.mark.parametrize("arch, config", [("EDSR", dict(num_feat=8, num_block=1, upscale=2)),
                                          ("RRDBNet", dict(num_feat=8, num_block=1, num_grow_ch=4))])
def test_a_1d_conv_first_is_named_not_blamed_on_the_upsampler(arch, config):
    sd = M.build(arch, **config).state_dict()
    sd["conv_first.weight"] = torch.rand(5)
    msg = refused(lambda: M.load(sd), r"'conv_first\.weight' has shape \(5,\).*4-D")
    assert "upsampler" not in msg


@pytest.mark.parametrize("content, match", [
    (b"hello, not weights", "text file"),
    (b"", "empty"),
    (b"<html><body>404</body></html>", "HTML page"),
])
def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path, content, match):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    refused(lambda: M.load(path), f"as a PyTorch checkpoint: .*{match}")


def test_a_zip_that_is_not_a_torch_save_file_is_named(tmp_path):
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "x")
    refused(lambda: M.load(path), "zip archive of readme.txt")


def test_a_folder_is_not_a_checkpoint(tmp_path):
    refused(lambda: M.load(tmp_path), "is a folder")


def test_a_pickle_of_a_list_and_non_string_keys_are_refused(tmp_path):
    torch.save([1, 2], tmp_path / "a.pth")
    refused(lambda: M.load(tmp_path / "a.pth"), "holds list")
    refused(lambda: M.load({1: torch.zeros(2)}), "not parameter names")


def test_nan_weights_are_refused_naming_the_tensor():
    sd = tiny_edsr().state_dict()
    sd["body.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    refused(lambda: M.load(sd), r"NaN or Inf.*'body\.0\.conv1\.weight' has 1 of 576")


def test_a_state_dict_mixing_two_families_says_so():
    sd = tiny_edsr().state_dict()
    rrdb = M.build("RRDBNet", num_feat=8, num_block=2, num_grow_ch=4).state_dict()
    sd.update({k: v for k, v in rrdb.items() if k not in sd})
    refused(lambda: M.load(sd), "also match EDSR: it may mix two networks")


def test_a_registered_detect_that_raises_or_returns_a_list_is_named():
    sd = tiny_edsr().state_dict()
    M.register("Boom", detect=lambda sd: 1 / 0, build=lambda **k: torch.nn.Identity())
    try:
        refused(lambda: M.load(sd), "registered for the family 'Boom' raised ZeroDivisionError")
    finally:
        M.unregister("Boom")
    M.register("Listy", detect=lambda sd: [1], build=lambda **k: torch.nn.Identity())
    try:
        refused(lambda: M.load(sd), "family 'Listy' returned list; it must return a dict")
    finally:
        M.unregister("Listy")


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale="2"), "scale must be a positive integer"),
    (dict(scale=10 ** 9), "too large"),
    (dict(img_range="255"), "img_range must be a positive number"),
    (dict(strict="no"), "strict must be True or False"),
])
def test_bad_load_arguments_are_refused(kwargs, match):
    refused(lambda: M.load(tiny_edsr().state_dict(), **kwargs), match)


@pytest.mark.parametrize("obj", [123, None, 1.5])
def test_load_of_something_that_is_not_a_checkpoint(obj):
    refused(lambda: M.load(obj), "load takes a checkpoint file path, a state dict or an nn.Module")


def test_an_unknown_state_dict_with_many_long_keys_gives_a_short_message():
    refused(lambda: M.load({f"{'k' * 1000}{i}": torch.zeros(1) for i in range(20000)}),
            r"\.\.\. and 19994 more \(20000 keys\)")


def test_check_refuses_bad_sizes_huge_images_and_meta_models():
    model = tiny_edsr()
    refused(lambda: M.check(model, 2, size=0), "size .* must be an integer in 1 .. 512")
    refused(lambda: M.check(model, 2, image=(100000, 100000)), "image too large")
    refused(lambda: M.check(model, float("nan")), "scale must be a positive integer")
    refused(lambda: M.check(tiny_edsr().to("meta"), 2), "meta device")


def test_save_refuses_a_folder_and_a_model_without_a_record(tmp_path):
    refused(lambda: M.save(tiny_edsr(), tmp_path), "folder")
    refused(lambda: M.save(torch.nn.Conv2d(3, 3, 1), tmp_path / "m.pth"), r"lacks.*torch\.save\(model\.state_dict")
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_runs_out_of_memory_on_a_tiny_probe_is_not_told_to_wrap_itself():
    class Hungry(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 27648000000 bytes")

    msg = refused(lambda: M.check(Hungry(), 4), "ran out of memory on a tiny")
    assert "YChannelWrapper" not in msg
