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


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error():
    """`python -m srwidgets zoo | head -1`: the closed pipe is the reader's choice, not a bug to report."""
    p = subprocess.Popen([sys.executable, "-m", "srwidgets", "zoo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader leaves before the first line
    err = p.stderr.read().decode()
    assert p.wait(60) == 0 and "BrokenPipe" not in err and "error" not in err, err


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


# --- issue 17: one output check for every command and output flag ---------------------------------------------------
@pytest.fixture
def workdir(tmp_path, monkeypatch, small_png, checkpoint):
    """cwd = a folder with a.png, b.png, imgs/ (two images and notes.csv), checkpoints ck.png / ck.csv, link.png ->
    a.png, o.png with same.csv -> o.png, t.csv with tt.png -> t.csv."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.png", "imgs/c.png", "imgs/d.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(small_png.read_bytes())
    (tmp_path / "imgs" / "notes.csv").write_text("my notes\n")
    (tmp_path / "sub").mkdir()
    for name in ("ck.png", "ck.csv"):
        (tmp_path / name).write_bytes(checkpoint[0].read_bytes())
    (tmp_path / "o.png").write_bytes(b"old figure")
    (tmp_path / "t.csv").write_bytes(b"")
    for link, target in (("link.png", "a.png"), ("same.csv", "o.png"), ("tt.png", "t.csv")):
        os.symlink(tmp_path / target, tmp_path / link)
    return tmp_path


def _main(argv, capsys):
    from srwidgets.__main__ import main

    rc = main(argv)
    return rc, capsys.readouterr().err


LAM_ARGS = ["--window", "0,0,16", "--steps", "2"]
OVERWRITES = [  # (argv, the file that must survive, the message)
    (["sr", "a.png", *FAST, "--out", "a.png"], "a.png", "is the input image 'a.png'"),
    (["sr", "a.png", *FAST, "--out", "./sub/../a.png"], "a.png", "is the input image"),
    (["sr", "a.png", *FAST, "--out", "link.png"], "a.png", "is the input image"),
    (["sr", "a.png", "--model", "ck.png", "--out", "./ck.png"], "ck.png", "is the --model checkpoint 'ck.png'"),
    (["lam", "a.png", *FAST, *LAM_ARGS, "--out", "link.png"], "a.png", "is the input image"),
    (["lam", "a.png", "--model", "ck.png", *LAM_ARGS, "--out", "ck.png"], "ck.png", "is the --model checkpoint"),
    (["ddr", "--images", "a.png,b.png", *FAST, "--out", "a.png"], "a.png", "is the input image 'a.png'"),
    (["ddr", "--images", "imgs", *FAST, "--out", "imgs/c.png"], "imgs/c.png", "is the input image"),
    (["ddr", "--images", "imgs", *FAST, "--out", "x.png", "--csv", "imgs/notes.csv"], "imgs/notes.csv",
     "--csv 'imgs/notes.csv' is the input image"),
    (["ddr", "--images", "imgs", "--model", "ck.png", "--out", "./ck.png"], "ck.png", "is the --model checkpoint"),
    (["ddr", "--images", "imgs", *FAST, "--out", "o.png", "--csv", "same.csv"], "o.png", "are the same file"),
    (["faig", "--images", "imgs", "--steps", "2", "--out", "imgs/notes.csv"], "imgs/notes.csv", "is the input image"),
    (["faig", "--images", "imgs", "--baseline", "ck.csv", "--out", "ck.csv"], "ck.csv", "is the --baseline checkpoint"),
    (["faig", "--images", "imgs", "--target", "./ck.csv", "--out", "sub/../ck.csv"], "ck.csv",
     "is the --target checkpoint"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "a.png,b.png", "--out", "r.csv", "--atlas", "a.png"], "a.png",
     "--atlas 'a.png' is the input image"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "a.png", "--out", "r.csv", "--atlas", "link.png"], "a.png",
     "is the input image"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "imgs", "--out", "imgs/notes.csv"], "imgs/notes.csv",
     "is the input image"),
    (["di-table", "--models", "ck.csv", "--images", "imgs", "--out", "./ck.csv"], "ck.csv", "is the --models checkpoint"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "imgs", "--out", "t.csv", "--atlas", "tt.png"], "t.csv",
     "are the same file"),
    # every input of lam, cem and trust counts: --hr, --lr, the --patches folder, the checkpoint
    (["lam", "a.png", *FAST, *LAM_ARGS, "--method", "cem", "--hr", "b.png", "--out", "b.png"], "b.png",
     "is the input image 'b.png'"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--lr", "b.png", "--out", "b.png"], "b.png",
     "is the input image 'b.png'"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--lr", "link.png", "--out", "./sub/../a.png"], "a.png",
     "is the input image"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--patches", "imgs", "--out", "imgs/c.png"], "imgs/c.png",
     "is the input image"),
    (["cem", "a.png", "--model", "ck.png", "--window", "0,0,8", "--out", "ck.png"], "ck.png",
     "is the --model checkpoint"),
    (["trust", "a.png", *FAST, "--window", "0,0,8", "--figure", "link.png"], "a.png",
     "--figure 'link.png' is the input image"),
    (["trust", "a.png", "--model", "ck.csv", "--window", "0,0,8", "--out", "ck.csv"], "ck.csv",
     "is the --model checkpoint"),
]


@pytest.mark.parametrize("argv, victim, words", OVERWRITES, ids=[" ".join(c[0]) for c in OVERWRITES])
def test_an_output_is_never_an_input_or_another_output(workdir, capsys, argv, victim, words):
    before = (workdir / victim).read_bytes()
    rc, err = _main(argv, capsys)
    assert rc == 2 and words in err and "it would be overwritten" in err or "same file" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err  # one line
    assert (workdir / victim).read_bytes() == before


def test_an_output_never_overwrites_the_zoo():
    # in-process: a regressed subprocess run would break the installation
    from srwidgets.cli._common import check_output, model_files
    from srwidgets.errors import InputError

    weights, manifest = model_files("x4-fsrcnn")
    assert os.path.isfile(weights) and os.path.basename(manifest) == "manifest.json"
    with pytest.raises(InputError, match="is the --baseline checkpoint 'x4-fsrcnn'"):
        check_output(manifest, (".json",), models=[("--baseline", "x4-fsrcnn")])
    check_output(manifest, (".json",), models=[("--baseline", "./no-such.pth")])  # not read: fine


# --- issue 17: flag values -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--steps", "1000000000"], "above the ceiling of 100,000 steps"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--steps", "0"], "--steps must be at least 1 (an integer >= 1"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--sigma", "nan"], "--sigma must be a finite number >= 0"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--kernel-size", "4"], "--kernel-size must be odd"),
    (["lam", "a.png", *FAST, "--window", "0,0,0"], "the window's size must be at least 1"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--steps", "2", "--sigma", "0"], "with --sigma 0 and --kernel-size 9"),
    (["ddr", "--images", "imgs", *FAST, "--perplexity", "0"], "--perplexity must be a finite number > 0"),
    (["ddr", "--images", "imgs", *FAST, "--seed", "-1"], "--seed must be an integer >= 0"),
    (["ddr", "--images", ",", *FAST], "--images ',' names no image"),
    (["faig", "--images", "imgs", "--steps", "200000"], "above the ceiling"),
    (["faig", "--images", "imgs", "--seed", str(2 ** 40)], "--seed must be at most"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "imgs", "--out", "r.csv", "--window-size", "0"],
     "--window-size must be an integer >= 2"),
    (["di-table", "--models", "x4-fsrcnn", "--images", "imgs", "--out", "r.csv", "--windows", "edges:0"],
     "--windows 'edges:0'"),
    (["di-table", "--models", ",", "--images", "imgs", "--out", "r.csv"], "--models ',' names no model"),
    (["sr", "imgs", *FAST, "--out", "x.png"], "'imgs' is a folder, not an image file"),
    (["sr", "imgs/notes.csv", *FAST, "--out", "x.png"], "could not read"),
    (["lam", "a.png", *FAST, *LAM_ARGS, "--seed", "-1", "--out", "x.png"], "--seed must be an integer >= 0"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--steps", "abc"], "--steps must be an integer >= 1"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--path", "zigzag"], "unknown --path 'zigzag'; choose one of: blur"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--method", "gradient", "--steps", "2"],
     "--steps is a knob of --method lam, ig, not of --method gradient"),
    (["lam", "a.png", *FAST, "--window", "0,0,16", "--method", "smoothgrad", "--inner", "ig", "--baseline", "teal"],
     "unknown --baseline 'teal'; choose one of: black"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--noise", "nan", "--out", "x.png"],
     "--noise must be a finite number >= 0"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--bank-size", "1000000000", "--out", "x.png"],
     "--bank-size must be at most 100,000"),
    (["cem", "a.png", *FAST, "--window", "0,0,8", "--json", "imgs", "--out", "x.png"],
     "--json 'imgs' is an existing folder"),
    (["trust", "a.png", *FAST, "--window", "0,0,8", "--methods", "gradient", "--seeds", "0"],
     "--seeds 0 must be >= 1"),
    (["trust", "a.png", *FAST, "--window", "0,0,8", "--methods", "gradient", "--noise", "-0.5"],
     "--noise -0.5 must be >= 0"),
    (["trust", "a.png", *FAST, "--window", "0,0,8", "--methods", "gradient", "--seed", "-1"],
     "--seed must be an integer >= 0"),
])
def test_bad_flag_values_are_one_line_naming_the_flag(workdir, capsys, argv, words):
    rc, err = _main(argv, capsys)
    assert rc == 2 and err.startswith("error: ") and words in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not any(workdir.glob("x.png")) and not any(workdir.glob("r.csv"))


@pytest.mark.parametrize("command", [["ddr", "--images", "GREY,a.png", *FAST],
                                     ["cem", "GREY", *FAST, "--window", "0,0,8", "--out", "x.png"],
                                     ["trust", "GREY", *FAST, "--window", "0,0,8", "--methods", "gradient"],
                                     ["di-table", "--models", "x4-fsrcnn", "--images", "GREY,a.png", "--out", "r.csv",
                                      "--windows", "0,0,16", "--steps", "2"]])
def test_grey_images_name_the_convert_flag_in_every_command(workdir, grey_png, capsys, command):
    rc, err = _main([str(grey_png) if a == "GREY" else a.replace("GREY", str(grey_png)) for a in command], capsys)
    assert rc == 2 and "grayscale" in err and "ass --convert" in err and "convert=True" not in err, err


def test_cli_message_uses_the_commands_flags():
    from srwidgets.__main__ import cli_message

    words = {"csv": "--csv", "downsample": "--downsample", "on_error": "--on-error", "kernel_size": "--kernel-size",
             "steps": "--steps", "device": "--device"}
    assert cli_message("csv='x.csv' with downsample=True", words) == "--csv 'x.csv' with --downsample"
    assert cli_message('use on_error="skip"', words) == "use --on-error skip"
    assert cli_message("steps must be >= 1; kernel_size is even", words) == "--steps must be >= 1; --kernel-size is even"
    assert cli_message("device='cuda' is not available", words) == "--device cuda is not available"
    # not this command's flag, and a call's keyword: left alone
    assert cli_message("stride=3; load_image(x, convert=True)", words) == "stride=3; load_image(x, convert=True)"


def test_an_unexpected_error_is_one_line_exit_1(monkeypatch, capsys):
    from srwidgets.cli import zoo as zoo_cli

    monkeypatch.setattr(zoo_cli, "run", lambda args: {}["boom"])
    rc, err = _main(["zoo"], capsys)
    assert rc == 1 and err.startswith("error: unexpected KeyError") and err.count("\n") == 1, err
    monkeypatch.setattr(zoo_cli, "run", lambda args: (_ for _ in ()).throw(MemoryError()))
    rc, err = _main(["zoo"], capsys)
    assert rc == 2 and "image too large" in err and "crop or downsample" in err, err


# --- issue 17: images too large --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    """A 9500x9500 palette PNG: 90 million pixels, a few kB on disk."""
    p = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("P", (9500, 9500)).save(p)
    return p


@pytest.mark.parametrize("command", [
    ["sr", "HUGE", *FAST, "--out", "x.png"], ["lam", "HUGE", *FAST, "--window", "0,0,16", "--out", "x.png"],
    ["ddr", "--images", "HUGE,a.png", *FAST, "--out", "x.png"], ["faig", "--images", "HUGE,a.png", "--out", "x.json"],
    ["di-table", "--models", "x4-fsrcnn", "--images", "HUGE", "--out", "r.csv"]])
def test_a_decompression_bomb_is_refused_by_every_command(workdir, huge_png, capsys, command):
    rc, err = _main([a.replace("HUGE", str(huge_png)) for a in command], capsys)
    assert rc == 2 and "image too large (9500×9500, needs ~" in err and "crop or downsample" in err, err
    assert "Traceback" not in err and not (workdir / "x.png").exists()


def test_sr_refuses_an_image_too_large_for_the_model_before_running_it(workdir, capsys, monkeypatch):
    import srwidgets.engine.memory as memory

    from srwidgets.cli import _common

    need = memory.inference_bytes(zoo.load("x4-fsrcnn"), 10, 13)
    assert 16 * 130 < need  # what loading the 13x10 image needs is far less than the model's forward pass
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: need // 2)
    monkeypatch.setattr(_common, "save_image", lambda *a: pytest.fail("the image was super-resolved"))
    rc, err = _main(["sr", "a.png", *FAST, "--out", "x.png"], capsys)
    assert rc == 2 and "image too large (13×10, needs ~" in err and "crop or downsample" in err, err
    assert not (workdir / "x.png").exists()


def test_lam_method_runs_any_member_of_the_family(tmp_path):
    from srwidgets.__main__ import main

    out = tmp_path / "ig.png"
    assert main(["lam", "astronaut", "--downsample", "--model", "x4-fsrcnn", "--window", "96,80,16", "--method", "ig",
                 "--baseline", "blurred", "--steps", "4", "--out", str(out), "--no-progress"]) == 0
    assert out.stat().st_size > 0


def test_lam_method_unknown_and_cem_without_hr_are_clear(tmp_path, capsys):
    from srwidgets.__main__ import main

    args = ["lam", "astronaut", "--model", "x4-fsrcnn", "--window", "96,80,16", "--out", str(tmp_path / "m.png")]
    assert main(args + ["--method", "nope"]) == 2
    assert "choose one of: lam, ig, gradient" in capsys.readouterr().err
    assert main(args + ["--method", "cem"]) == 2
    assert "pass --hr" in capsys.readouterr().err


# --- issue 17: usage errors, the engines' words, the flags that make advice work ----------------------------------
@pytest.mark.parametrize("argv, words", [
    (["lam", "a.png", "--window", "0,0,8", "--device"], "argument --device: expected one argument"),
    (["sr"], "the following arguments are required: image"),
    (["faig", "--degradation", "jpeg"], "invalid choice: 'jpeg'"),
])
def test_usage_errors_are_two_lines_not_the_usage_block(capsys, argv, words):
    from srwidgets.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and "--help" in err, err
    assert err.count("\n") == 2 and "usage:" not in err, err


def test_cem_and_trust_take_convert(workdir, grey_png, capsys):
    rc, err = _main(["trust", str(grey_png), *FAST, "--window", "0,0,8", "--methods", "gradient", "--steps", "2",
                     "--convert", "--no-progress"], capsys)
    assert rc == 0, err
    rc, err = _main(["cem", str(grey_png), *FAST, "--window", "0,0,8", "--convert", "--no-progress", "--coarse", "1",
                     "--fine", "1", "--out", "x.png"], capsys)
    assert rc == 0 and (workdir / "x.png").stat().st_size > 0, err


def test_trust_cem_gets_the_hr_image_with_downsample_and_says_how_otherwise(workdir, capsys):
    from srwidgets.__main__ import main

    hr = (data.image("astronaut")[:, :64, :64].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(hr).save("hr.png")
    args = ["trust", "hr.png", *FAST, "--window", "0,0,8", "--methods", "gradient,cem", "--steps", "2",
            "--no-progress"]
    assert main(args) == 0  # hr.png taken as the LR image: no HR image, cem skipped with the CLI's way to give one
    out = capsys.readouterr().out
    assert "skipped cem: needs the HR image: give the HR picture as IMAGE with --downsample" in out, out
    assert "hr=" not in out
    assert main(args + ["--downsample"]) == 0  # now IMAGE is the HR image: cem runs against it
    out = capsys.readouterr().out
    assert "skipped cem" not in out and "\ncem " in out, out


def test_di_table_resume_advice_names_the_out_flag(workdir, capsys):
    (workdir / "old.csv").write_text("model,image\nx,y\n")
    rc, err = _main(["di-table", "--models", "x4-fsrcnn", "--images", "a.png", "--out", "old.csv", "--windows",
                     "0,0,8", "--steps", "2", "--no-progress"], capsys)
    assert rc == 2 and "another --out" in err and "another out" not in err, err
    assert (workdir / "old.csv").read_text() == "model,image\nx,y\n"


# -- a default output name never replaces a file (issue 26) ------------------------------------------------------
def test_lam_and_sr_without_out_never_replace_an_existing_file(tmp_path, small_png):
    """Run as a user would in a folder that already has lam.png / sr.png: the command writes lam-1.png (then
    lam-2.png), says so on stdout, and the user's files keep their bytes; a typed --out is the user's choice."""
    for name in ("lam.png", "sr.png"):
        (tmp_path / name).write_bytes(b"the user's file")
    r = _run("lam", small_png, "--model", "x4-fsrcnn", "--window", "0,0,16", "--steps", "2", "--no-progress",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "lam.png exists, so this writes lam-1.png instead" in r.stdout and "wrote lam-1.png" in r.stdout
    assert (tmp_path / "lam.png").read_bytes() == b"the user's file"
    assert Image.open(tmp_path / "lam-1.png").size[0] > 100
    r = _run("lam", small_png, "--model", "x4-fsrcnn", "--window", "0,0,16", "--steps", "2", "--no-progress",
             cwd=tmp_path)
    assert r.returncode == 0 and "writes lam-2.png" in r.stdout and (tmp_path / "lam-2.png").is_file(), r.stderr
    r = _run("sr", small_png, "--model", "x4-fsrcnn", cwd=tmp_path)
    assert r.returncode == 0 and "writes sr-1.png" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "sr.png").read_bytes() == b"the user's file"
    assert Image.open(tmp_path / "sr-1.png").size == (52, 40)
    r = _run("sr", small_png, "--model", "x4-fsrcnn", "--out", "sr.png", cwd=tmp_path)  # typed: overwritten
    assert r.returncode == 0 and "exists" not in r.stdout and Image.open(tmp_path / "sr.png").size == (52, 40)


def test_every_default_output_name_is_replaced_by_a_free_one(tmp_path, monkeypatch, capsys):
    """Every command's options with a default file name (sr, lam, cem, ddr, faig ...): with that file present,
    the parsed arguments name a free file instead, and the note says which."""
    from srwidgets.__main__ import COMMANDS
    from srwidgets.cli._common import DefaultOutput, OUTPUT_DESTS, mark_default_outputs, resolve_default_outputs

    monkeypatch.chdir(tmp_path)
    seen = []
    for command in COMMANDS:
        module = __import__(f"srwidgets.cli.{command}", fromlist=["add_parser"])
        parser = module.add_parser(argparse.ArgumentParser().add_subparsers())
        mark_default_outputs(parser)
        for action in parser._actions:
            if action.dest in OUTPUT_DESTS and isinstance(action.default, str):
                assert isinstance(action.default, DefaultOutput)
                (tmp_path / action.default).write_text("keep")
                args = argparse.Namespace(**{action.dest: action.default})
                resolve_default_outputs(args)
                stem, ext = os.path.splitext(action.default)
                assert getattr(args, action.dest) == f"{stem}-1{ext}" and type(getattr(args, action.dest)) is str
                assert f"{action.default} exists, so this writes {stem}-1{ext}" in capsys.readouterr().out
                seen.append(action.default)
    assert {"sr.png", "lam.png", "cem.png", "ddr.png", "faig.json"} <= set(seen)
