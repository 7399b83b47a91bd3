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
