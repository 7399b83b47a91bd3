"""``python -m srwidgets faig``: run in-process (``srwidgets.__main__.main``) on two 32x32 crops, 2 path steps."""
import contextlib
import csv
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import data, zoo
from srwidgets.__main__ import main
from srwidgets.degrade import faig_degradation
from srwidgets.faig import FAIG, METHODS, conv_filters

FAST = ["--steps", "2"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two 32x32 crops of bundled images, as PNG files."""
    d = tmp_path_factory.mktemp("faig_images")
    for name in data.images()[:2]:
        arr = (data.load_image(name)[:, 40:72, 60:92].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(d / f"{name}.png")
    return d


@pytest.fixture(scope="module")
def zoo_run(folder, tmp_path_factory):
    """The zoo pair on ``folder`` with the default fractions: (json dict, stdout, stderr)."""
    out = tmp_path_factory.mktemp("faig_out") / "faig.json"  # capsys is per test: capture by hand
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = main(["faig", "--images", str(folder), "--out", str(out), *FAST])
    assert rc == 0, e.getvalue()
    return json.loads(out.read_text()), o.getvalue(), e.getvalue()


def test_json_is_written_and_consistent(zoo_run):
    d, stdout, stderr = zoo_run
    target = zoo.load("x2-srresnet-blind")
    filters = conv_filters(target)
    assert d["baseline"] == "x2-srresnet-bicubic" and d["target"] == "x2-srresnet-blind"
    assert d["degradation"] == "noise" and d["steps"] == 2 and d["images"] == data.images()[:2]
    assert len(d["scores"]) == len(d["filters"]) == len(filters) == 17600
    assert [tuple(f) for f in d["filters"]] == filters
    scores = np.array(d["scores"])
    assert np.isfinite(scores).all() and scores.std() > 0
    assert d["ranking"] == np.argsort(-scores, kind="stable").tolist()
    assert sum(v["top"] for v in d["layer_summary"].values()) == int(0.01 * 17600)
    assert set(d["layer_summary"]) == {f[0] for f in filters}
    assert isinstance(d["completeness"], float) and 0 <= d["completeness"] < 10
    assert d["seconds"] > 0
    rows = d["masking"]
    fractions = [0.01, 0.03, 0.05, 0.1]
    assert {(r["method"], r["fraction"], r["input"]) for r in rows} == {
        (m, f, e) for m in METHODS for f in fractions for e in ("noise", "blur")}
    assert len(rows) == len(METHODS) * len(fractions) * 2
    for r in rows:
        assert r["filters_for"] == "noise" and r["n_filters"] == int(17600 * r["fraction"])
        assert np.isfinite(r["psnr_drop"]) and r["output_diff"] >= 0
    # the summary: the best filter, the per-layer counts, completeness, the masking table
    layer, o, i = d["filters"][d["ranking"][0]]
    assert re.search(rf"^\s+1\s+{re.escape(layer)}\s+{o}\s+{i}\s", stdout, re.M), stdout
    assert "top 1% (176 of 17600 filters) by conv layer" in stdout and "completeness:" in stdout
    assert "noise PSNR drop" in stdout and "blur output diff" in stdout
    for m in METHODS:
        assert re.search(rf"^\s+{m}\s+0\.01\s+176\s", stdout, re.M), m
    # tqdm bars on stderr (each finished bar's last state ends its line); FAIG computed once: the masking
    # experiment reuses the per-input scores
    finished = [line.split("\r")[-1] for line in stderr.split("\n")]
    assert len([f for f in finished if re.match(r"faig: 100%\|.*\| (\d+)/\1 \[.*(eval/s|s/eval)", f)]) == 1, stderr
    assert any(re.match(r"masking: 100%\|.*\| 12/12 \[", f) for f in finished), stderr


def test_scores_are_the_engines_on_the_same_inputs(zoo_run, folder):
    d, _, _ = zoo_run
    hrs = [data.load_image(str(folder / f"{n}.png")) for n in d["images"]]
    lr = {k: [faig_degradation(k, 2)(hr[None], seed=j)[0] for j, hr in enumerate(hrs)] for k in ("noise", "blur")}
    result = FAIG(*zoo.faig_pair()).attribute(lr["noise"], hrs, lr["blur"], steps=2)
    np.testing.assert_allclose(d["scores"], result.scores, rtol=1e-6, atol=1e-12)


def test_blur_ranking_is_the_negated_noise_ranking(zoo_run, folder, tmp_path, capsys):
    # eq. 7 for blur is s(blur) - s(noise): the same per-input scores, negated; and CSV output
    d, _, _ = zoo_run
    out = tmp_path / "faig.csv"
    rc = main(["faig", "--images", str(folder), "--degradation", "blur", "--fractions", "0.01", "--out", str(out),
               *FAST])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 17600 and list(rows[0]) == ["index", "layer", "out", "in", "score", "rank"]
    np.testing.assert_allclose([float(r["score"]) for r in rows], -np.array(d["scores"]), rtol=1e-9, atol=1e-12)
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, 17601))
    with open(tmp_path / "faig_masking.csv") as f:
        masking = list(csv.DictReader(f))
    assert {(r["method"], r["input"]) for r in masking} == {(m, e) for m in METHODS for e in ("blur", "noise")}
    assert all(r["filters_for"] == "blur" for r in masking)
    assert "faig_masking.csv" in cap.out


def test_own_checkpoint_pair_works_as_zoo_names(zoo_run, folder, tmp_path, capsys):
    d, _, _ = zoo_run
    base, target = zoo.faig_pair()
    torch.save(base.state_dict(), tmp_path / "base.pth")
    torch.save(target.state_dict(), tmp_path / "blind.pth")
    out = tmp_path / "own.json"
    rc = main(["faig", "--baseline", str(tmp_path / "base.pth"), "--target", str(tmp_path / "blind.pth"),
               "--images", str(folder), "--fractions", "0.01", "--out", str(out), *FAST])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    own = json.loads(out.read_text())
    assert own["target"] == str(tmp_path / "blind.pth")
    np.testing.assert_allclose(own["scores"], d["scores"], rtol=1e-6, atol=1e-12)
    assert own["ranking"][:20] == d["ranking"][:20]
    assert str(tmp_path / "blind.pth") in cap.out


# --- errors: exit 2, one line naming the problem, nothing written --------------------------------------------------
@pytest.fixture(scope="module")
def empty_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("empty")


@pytest.mark.parametrize("args, words", [
    (["--baseline", "no-such-model"], "--baseline 'no-such-model' is neither a checkpoint file nor a zoo model"),
    (["--target", "nope.pth"], "checkpoint file not found"),
    (["--target", "x4-fsrcnn"], "differ in architecture"),
    (["--target", "x2-srresnet-bicubic"], "target's parameters equal the baseline's"),
    (["--images", "EMPTY"], "no image files in the folder"),
    (["--images", "no_such_image"], "no_such_image"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--fractions", "0.01,1.5"], "--fractions: 1.5 is outside (0, 1]"),
    (["--fractions", "-0.1"], "--fractions: -0.1 is outside (0, 1]"),
    (["--fractions", "abc"], "--fractions must be comma-separated numbers"),
    (["--fractions", "0"], "--fractions: 0 is outside (0, 1]"),  # refused before the FAIG run, not after it
    (["--crop", "8"], "--crop 8 is too small"),
    (["--device", "tpu"], "device"),
    (["--out", "OUT/faig.png"], "not .png"),
    (["--out", "OUT/faig"], "not a file without extension"),
    (["--out", "OUT/missing/faig.json"], "does not exist"),
    (["--out", "OUT"], "is an existing folder"),
])
def test_bad_input_exits_2_with_a_message(folder, empty_folder, tmp_path, capsys, args, words):
    args = [a.replace("EMPTY", str(empty_folder)).replace("OUT", str(tmp_path)) for a in args]
    argv = ["faig", "--images", str(folder), "--out", str(tmp_path / "faig.json"), *FAST, *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and words in last, err
    assert "Traceback" not in err
    assert not (tmp_path / "faig.json").exists()


def test_bad_out_is_refused_before_loading_anything(folder, tmp_path, capsys):
    assert main(["faig", "--baseline", "no-such-model", "--images", str(folder), "--out",
                 str(tmp_path / "faig.txt")]) == 2
    err = capsys.readouterr().err
    assert "not .txt" in err and "no-such-model" not in err


def test_unknown_degradation_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["faig", "--degradation", "jpeg"])
    assert e.value.code == 2 and "invalid choice: 'jpeg'" in capsys.readouterr().err


def test_out_never_overwrites_an_input(folder, tmp_path, capsys):
    # an input image with the extension --out writes, spelled differently
    src = tmp_path / "in.csv"
    src.write_bytes((folder / f"{data.images()[0]}.png").read_bytes())
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    assert main(["faig", "--images", str(src), "--out", str(tmp_path / "sub" / ".." / "in.csv"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "is the input image" in err and "overwritten" in err
    assert src.read_bytes() == before
    # a checkpoint
    ckpt = tmp_path / "base.json"
    torch.save(zoo.load("x2-srresnet-bicubic").state_dict(), ckpt)
    before = ckpt.read_bytes()
    assert main(["faig", "--baseline", str(ckpt), "--images", str(folder), "--out", str(ckpt), *FAST]) == 2
    err = capsys.readouterr().err
    assert "is the --baseline checkpoint" in err and ckpt.read_bytes() == before
    # the CSV run's second file (the masking table) too
    masking = tmp_path / "r_masking.csv"
    masking.write_bytes(before)
    assert main(["faig", "--images", str(masking), "--out", str(tmp_path / "r.csv"), *FAST]) == 2
    assert "is the input image" in capsys.readouterr().err and not (tmp_path / "r.csv").exists()
