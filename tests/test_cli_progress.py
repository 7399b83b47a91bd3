"""Progress bars (tqdm, on stderr) of the CLI commands that can run for more than a second: ``lam``, ``ddr``
(``faig``'s are checked in ``test_cli_faig.py``, ``di-table``'s in ``test_batch.py``). Tiny checkpoints, tiny
images, few steps; stdout stays the command's result."""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import models
from srwidgets.cli._common import ProgressBar, progress_bar
from srwidgets.progress import Progress

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _run(*args):
    return subprocess.run([sys.executable, "-m", "srwidgets", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=ENV)


def finished_bars(stderr: str):
    """The last state of each bar that ended its line (tqdm redraws with \\r and ends a closed bar with \\n)."""
    return [line.split("\r")[-1] for line in stderr.split("\n") if line.strip()]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    for k in range(2):
        arr = (np.random.default_rng(k).random((36, 36, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"img{k}.png")
    torch.manual_seed(0)
    ckpt = d / "tiny.pth"
    models.save(models.build("EDSR", num_feat=8, num_block=1, upscale=2).eval(), str(ckpt))
    return d, ckpt


def test_lam_draws_a_bar_on_stderr(files, tmp_path):
    d, ckpt = files
    out = tmp_path / "lam.png"
    r = _run("lam", d / "img0.png", "--model", ckpt, "--window", "8,8,16", "--steps", "6", "--out", out)
    assert r.returncode == 0, r.stderr
    bars = finished_bars(r.stderr)
    assert any(re.match(r"LAM: 100%\|.*\| 6/6 \[.*(eval/s|s/eval)", b) for b in bars), r.stderr
    assert "%|" not in r.stdout and r.stdout.startswith("Gini ")  # stdout: the result only


def test_lam_no_progress_is_silent(files, tmp_path):
    d, ckpt = files
    r = _run("lam", d / "img0.png", "--model", ckpt, "--window", "8,8,16", "--steps", "3", "--out",
             tmp_path / "lam.png", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "%|" not in r.stderr


def test_ddr_draws_a_bar_on_stderr(files, tmp_path):
    d, ckpt = files
    r = _run("ddr", "--model", ckpt, "--images", d, "--out", tmp_path / "ddr.png", "--layers", "body.0")
    assert r.returncode == 0, r.stderr
    assert any(re.match(r"DDR features: 100%\|.*\| (\d+)/\1 \[.*input", b) for b in finished_bars(r.stderr)), \
        r.stderr
    assert "%|" not in r.stdout and "CHI by degradation" in r.stdout


def test_progress_bar_one_bar_per_stage_and_rerun():
    out = io.StringIO()
    with progress_bar({"faig": "FAIG"}, {"faig": "eval", "masking": "model"}, file=out) as bar:
        for done in (1, 2, 4):
            bar(Progress(done, 4, "faig"))
        bar(Progress(1, 3, "masking"))
        bar(Progress(3, 3, "masking"))
        bar(Progress(2, 2, "faig"))  # the stage again: a new bar
    bars = finished_bars(out.getvalue())
    assert [b.split("|")[0] for b in bars] == ["FAIG: 100%", "masking: 100%", "FAIG: 100%"], bars
    assert "4/4" in bars[0] and "3/3" in bars[1] and "2/2" in bars[2]


def test_progress_bar_closes_an_unfinished_bar_and_can_be_disabled():
    out = io.StringIO()
    with ProgressBar("LAM", file=out) as bar:
        bar(Progress(1, 5, "attribution"))
    assert finished_bars(out.getvalue())[-1].startswith("LAM:  20%"), out.getvalue()
    quiet = io.StringIO()
    with ProgressBar("LAM", file=quiet, disable=True) as bar:
        bar(Progress(5, 5, "attribution"))
    assert quiet.getvalue() == ""
