"""``python -m srwidgets sr|zoo``: run as a user would, in a subprocess, on tiny inputs."""
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
