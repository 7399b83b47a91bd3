"""``python -m srwidgets sr|lam|zoo``: run as a user would, in a subprocess, on tiny inputs."""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import data, models, zoo

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "srwidgets", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=ENV, cwd=cwd)


@pytest.fixture(scope="module")
def small_png(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "small.png"
    arr = (np.random.default_rng(0).random((10, 13, 3)) * 255).astype(np.uint8)  # H 10, W 13
    Image.fromarray(arr).save(p)
    return p


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = models.build("EDSR", num_feat=8, num_block=1, upscale=3).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("ckpt") / "tiny_edsr.pth"
    models.save(model, str(path))
    return path, model


def test_sr_with_a_checkpoint(tmp_path, small_png, checkpoint):
    ckpt, model = checkpoint
    out = tmp_path / "sr.png"
    r = _run("sr", small_png, "--model", ckpt, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "x3" in r.stdout and str(out) in r.stdout
    with Image.open(out) as im:
        assert im.size == (13 * 3, 10 * 3) and im.mode == "RGB"
        got = np.asarray(im)
    # the written pixels are the model's output, 8-bit rounded
    with torch.no_grad():
        y = model(data.load_image(small_png)[None])[0].clamp(0, 1)
    want = (y.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


@pytest.mark.skipif(not zoo.list(), reason="no zoo model trained yet")
def test_sr_with_a_zoo_model(tmp_path, small_png):
    name = zoo.list()[0]
    scale = zoo.info(name)["scale"]
    out = tmp_path / "sr.png"
    r = _run("sr", small_png, "--model", name, "--out", out)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == (13 * scale, 10 * scale)


def test_missing_image_is_a_readable_error(tmp_path, checkpoint):
    out = tmp_path / "sr.png"
    r = _run("sr", tmp_path / "no_such.png", "--model", checkpoint[0], "--out", out)
    assert r.returncode == 2
    assert "error: image file not found" in r.stderr and "no_such.png" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists()


def test_missing_checkpoint_is_a_readable_error(tmp_path, small_png):
    r = _run("sr", small_png, "--model", tmp_path / "nope.pth", "--out", tmp_path / "sr.png")
    assert r.returncode == 2 and "error: checkpoint file not found" in r.stderr and "nope.pth" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_zoo_lists_models_and_images():
    r = _run("zoo")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "arch"]
    for name in zoo.list():
        assert any(line.startswith(name + " ") for line in lines), name
    assert f"bundled images: {', '.join(data.images())}" in lines


def test_no_command_prints_help():
    r = _run()
    assert r.returncode == 2 and "usage: python -m srwidgets" in r.stdout and "sr" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["--out", "/no/such/folder/sr.png"], "does not exist"),
    (["--out", "sr.xyz"], "extension"),
    (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "tpu"], "device"),
])
def test_bad_output_or_device_is_a_readable_error(tmp_path, small_png, checkpoint, args, words):
    r = _run("sr", small_png, "--model", checkpoint[0], *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr + r.stdout


# --- output checks ---------------------------------------------------------------------------------------------------
FAST = ["--model", "x4-fsrcnn"]
LAM_FAST = [*FAST, "--window", "0,0,16", "--steps", "2"]


@pytest.mark.parametrize("command", [["sr"], ["lam", "--window", "0,0,16", "--steps", "2"]])
def test_out_never_overwrites_the_input(tmp_path, small_png, command):
    img = tmp_path / "in.png"
    img.write_bytes(small_png.read_bytes())
    before = img.read_bytes()
    (tmp_path / "sub").mkdir()
    # the same file spelled differently: samefile, not string equality
    r = _run(command[0], img, *FAST, *command[1:], "--out", tmp_path / "sub" / ".." / "in.png")
    assert r.returncode == 2, r.stderr
    assert "is the input image" in r.stderr and "overwritten" in r.stderr and "Traceback" not in r.stderr
    assert img.read_bytes() == before


def test_out_never_overwrites_a_bundled_image():
    # checked in-process: a subprocess run that regressed would overwrite the installed image
    from srwidgets.cli._common import check_output
    from srwidgets.errors import InputError

    with pytest.raises(InputError, match="is the input image 'astronaut'"):
        check_output(data.image_path("astronaut"), image="astronaut")
    check_output(data.image_path("astronaut"), image="chelsea")  # another file: fine


@pytest.mark.parametrize("ext, magic", [(".pdf", b"%PDF"), (".svg", b"<svg"), (".jpg", b"\xff\xd8\xff")])
def test_lam_writes_the_format_of_its_extension(tmp_path, small_png, ext, magic):
    out = tmp_path / f"lam{ext}"
    r = _run("lam", small_png, *LAM_FAST, "--out", out)
    assert r.returncode == 0, r.stderr
    head = out.read_bytes()[:400]
    assert (magic in head) if ext == ".svg" else head.startswith(magic), head[:40]
    assert not head.startswith(b"\x89PNG")


@pytest.mark.parametrize("ext", [".pdf", ".svg"])
def test_sr_refuses_vector_output_before_computing(tmp_path, small_png, ext):
    out = tmp_path / f"sr{ext}"
    r = _run("sr", small_png, "--model", tmp_path / "no_such_model.pth", "--out", out)
    # the model is never reached: the --out check comes first
    assert r.returncode == 2 and "checkpoint" not in r.stderr, r.stderr
    assert f"not {ext}" in r.stderr and ".png" in r.stderr and "extension" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", [["sr"], ["lam", "--window", "0,0,16"]])
def test_out_that_is_a_folder_is_refused_before_computing(tmp_path, small_png, command):
    folder = tmp_path / "result.png"  # a folder, even with an image extension
    folder.mkdir()
    r = _run(command[0], small_png, "--model", tmp_path / "no_such_model.pth", *command[1:], "--out", folder)
    assert r.returncode == 2 and "is an existing folder" in r.stderr and "checkpoint" not in r.stderr, r.stderr
    assert folder.is_dir() and not any(folder.iterdir())


# --- negative values -------------------------------------------------------------------------------------------------
def test_negative_window_gets_the_engines_message(tmp_path, small_png):
    r = _run("lam", small_png, *FAST, "--window", "-5,0,16", "--steps", "2", "--out", tmp_path / "lam.png")
    assert r.returncode == 2
    assert "error: the window (top=-5, left=0, 16x16) lies outside the SR image" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout and "expected one argument" not in r.stderr


def test_join_negative_values_only_for_value_options():
    from srwidgets.__main__ import _value_options, join_negative_values
    from srwidgets.cli import lam

    sub = argparse.ArgumentParser().add_subparsers()
    lam.add_parser(sub)
    options = _value_options(list(sub.choices.values()))
    assert {"--window", "--sigma", "--steps", "--out"} <= options and "--convert" not in options
    argv = ["lam", "x.png", "--window", "-5,0,16", "--sigma", "-.5", "--steps", "-3", "--out", "--device", "cpu",
            "--convert", "-1", "--", "--window", "-1"]
    assert join_negative_values(argv, options) == [
        "lam", "x.png", "--window=-5,0,16", "--sigma=-.5", "--steps=-3", "--out", "--device", "cpu",
        "--convert", "-1", "--", "--window", "-1"]


# --- grey and transparent inputs -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grey_png(tmp_path_factory):
    p = tmp_path_factory.mktemp("grey") / "grey.png"
    Image.fromarray((np.random.default_rng(1).random((10, 13)) * 255).astype(np.uint8)).save(p)
    return p


def test_sr_grey_input_names_the_convert_flag(tmp_path, grey_png):
    out = tmp_path / "sr.png"
    r = _run("sr", grey_png, *FAST, "--out", out)
    assert r.returncode == 2 and "grayscale" in r.stderr and "Pass --convert" in r.stderr, r.stderr
    assert "convert=True" not in r.stderr and not out.exists()
    r = _run("sr", grey_png, *FAST, "--out", out, "--convert")
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == (52, 40) and im.mode == "RGB"


def test_sr_transparent_input_says_what_convert_does(tmp_path):
    rgba = np.full((10, 13, 4), 200, np.uint8)
    rgba[0, 0, 3] = 0
    img = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(img)
    r = _run("sr", img, *FAST, "--out", tmp_path / "sr.png")
    assert r.returncode == 2 and "Pass --convert, which drops the alpha channel" in r.stderr, r.stderr


def test_lam_has_a_convert_flag(tmp_path, grey_png):
    out = tmp_path / "lam.png"
    r = _run("lam", grey_png, *LAM_FAST, "--out", out)
    assert r.returncode == 2 and "Pass --convert" in r.stderr and "convert=True" not in r.stderr, r.stderr
    r = _run("lam", grey_png, *LAM_FAST, "--out", out, "--convert")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


# --- --model: zoo names and files ------------------------------------------------------------------------------------
def test_folder_named_like_a_zoo_model_does_not_shadow_it(tmp_path, small_png):
    (tmp_path / "x4-fsrcnn").mkdir()
    r = _run("sr", small_png, *FAST, "--out", "sr.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "note:" not in r.stderr  # a folder is never a checkpoint: nothing to choose between
    with Image.open(tmp_path / "sr.png") as im:
        assert im.size == (52, 40)
    r = _run("sr", small_png, "--model", "./x4-fsrcnn", "--out", "sr.png", cwd=tmp_path)
    assert r.returncode == 2 and "is a folder, not a checkpoint file" in r.stderr, r.stderr


def test_file_named_like_a_zoo_model_says_which_was_used(tmp_path, small_png):
    (tmp_path / "x4-fsrcnn").write_text("not a checkpoint")
    r = _run("sr", small_png, *FAST, "--out", "sr.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "using the zoo model, not the file 'x4-fsrcnn'" in r.stderr and "./x4-fsrcnn" in r.stderr
    r = _run("sr", small_png, "--model", "./x4-fsrcnn", "--out", "sr.png", cwd=tmp_path)  # a path: the file
    assert r.returncode == 2 and "as a PyTorch checkpoint" in r.stderr, r.stderr


def test_unknown_model_is_a_readable_error(tmp_path, small_png):
    r = _run("sr", small_png, "--model", "x4-nope", "--out", tmp_path / "sr.png")
    assert r.returncode == 2 and "neither a checkpoint file nor a zoo model" in r.stderr and "x4-fsrcnn" in r.stderr


def test_ddr_is_a_command():
    from srwidgets.__main__ import COMMANDS

    assert COMMANDS[:2] == ["sr", "lam"] and "ddr" in COMMANDS and "zoo" in COMMANDS
