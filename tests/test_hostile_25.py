"""Hostile review of issue 25 (trust round 2): cases an acceptance check may try that the issue's own tests did
not — the CLI's --downsample, flat windows, windows at the image's edges, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import data, trust, zoo
from srwidgets.errors import InputError


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, model.training,
            [p.requires_grad for p in model.parameters()])


def _unchanged(model, state):
    sd, training, grads = state
    return (all(torch.equal(sd[k], v) for k, v in model.state_dict().items()) and model.training == training
            and grads == [p.requires_grad for p in model.parameters()])


def test_trust_cli_downsample_feeds_pillows_lr_image(tmp_path, monkeypatch, capsys):
    # `trust --downsample` used the float bicubic (bicubic_down) while its help, lam and cem --downsample say Pillow
    from srwidgets.__main__ import main

    hr = (data.image("chelsea")[:, 37:102, 51:122].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # 65x71
    Image.fromarray(hr).save(tmp_path / "hr.png")
    seen = []
    real = trust.report

    def spy(model, image, *args, **kwargs):
        seen.append(image.clone())
        return real(model, image, *args, **kwargs)

    monkeypatch.setattr(trust, "report", spy)
    monkeypatch.chdir(tmp_path)
    rc = main(["trust", "hr.png", "--downsample", "--model", "x4-fsrcnn", "--window", "8,8,16", "--methods",
               "gradient", "--checks", "stratified", "--seeds", "2", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    ref = np.asarray(Image.fromarray(hr[:64, :68]).resize((17, 16), Image.BICUBIC))
    assert np.array_equal((seen[0] * 255).round().byte().permute(1, 2, 0).numpy(), ref)


def _flat_window_case():
    """x4-fsrcnn on a smooth crop of the bundled coffee image scaled into a narrow grey range (so every window is
    nearly flat) with one textured block far away; the window sits on the flat part."""
    lr = data.lr_image("coffee", 4)[:, 20:60, 30:70]
    return zoo.load("x4-fsrcnn"), 0.5 + 0.01 * (lr - lr.mean()), (60, 60, 16)


def test_a_flat_window_is_not_judged_instead_of_failed():
    # ROAD's noise (σ = 0.01) adds more local gradient than a flat window's content held: D(x_B) > D(x) flips the
    # normalisation's sign and a faithful map scored below chance ("fails"); now it is not judged, in words
    model, lr, window = _flat_window_case()
    state = _state(model)
    r = trust.stratified_deletion(model, lr, window, "gradient", seeds=2)
    assert r["objective_removed"] > r["objective_input"]  # the case really is flat under the noise
    assert r["informative"] is False and r["passed"] is False
    assert "not judged" in r["note"] and "noise=0" in r["note"]
    quiet = trust.stratified_deletion(model, lr, window, "gradient", seeds=2, noise=0.0)
    assert quiet["informative"] is True and quiet["note"] is None
    assert _unchanged(model, state)


def test_the_verdict_table_says_not_judged_on_a_flat_window():
    model, lr, window = _flat_window_case()
    df = trust.report(model, lr, window, ["gradient"], checks=["stratified", "randomisation"], seeds=2)
    assert df.loc["gradient", "stratified"] == "-" and df.loc["gradient", "randomisation"] == "-"
    assert "not judged" in df.attrs["notes"]["stratified"]
    assert not df.loc["gradient", "verdict"].startswith("do not trust")
    r = trust.randomisation(model, lr, window, "gradient", seeds=2)
    assert r["informative"] is False and r["passed"] is False and "not judged" in r["note"]


def test_textured_windows_are_judged():
    model = zoo.load("x4-fsrcnn")
    lr = data.lr_image("coffee", 4)[:, 20:60, 30:70]
    r = trust.stratified_deletion(model, lr, (60, 60, 16), "gradient", seeds=2)
    assert r["informative"] is True and r["note"] is None
    assert r["objective_removed"] < r["objective_input"]


def test_trust_cli_says_a_flat_window_is_not_judged_in_its_own_flags(tmp_path, monkeypatch, capsys):
    from srwidgets.__main__ import main

    _, lr, _ = _flat_window_case()
    Image.fromarray((lr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / "flat.png")
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "flat.png").read_bytes()
    assert main(["trust", "flat.png", "--model", "x4-fsrcnn", "--window", "60,60,16", "--methods", "gradient",
                 "--checks", "stratified", "--seeds", "2", "--no-progress", "--out", "t.csv"]) == 0
    out = capsys.readouterr().out
    assert "stratified: not judged" in out and "--noise 0" in out and "noise=0" not in out, out
    assert (tmp_path / "flat.png").read_bytes() == before and (tmp_path / "t.csv").stat().st_size > 0
