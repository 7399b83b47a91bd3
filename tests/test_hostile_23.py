"""Hostile review of issue 23 (the authors' LR image, CARN / CARN-M, the spandrel route): cases an acceptance
check may try that the issue's own tests did not."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from PIL import Image

from srwidgets import models
from srwidgets.degrade import pil_bicubic
from srwidgets.errors import InputError


def _photo(h, w, seed=0):
    """A smooth, photograph-like 8-bit image (low-frequency colour fields plus fine texture), ``H x W x 3`` uint8."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8 + 2, w // 8 + 2, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0]
    img = (smooth * 0.8 + 0.2 * torch.rand(3, h, w, generator=g)).clamp(0, 1)
    return (img * 255).round().byte().permute(1, 2, 0).numpy()


@pytest.mark.parametrize("h, w, s", [(37, 53, 3), (101, 64, 8), (64, 23, 2), (29, 200, 4), (97, 31, 5)])
def test_pil_bicubic_equals_pillow_on_odd_and_tall_sizes_batched(h, w, s):
    a, b = _photo(h, w, 1), _photo(h, w, 2)
    x = torch.stack([torch.from_numpy(v.copy()).permute(2, 0, 1).float() / 255 for v in (a, b)])
    out = pil_bicubic(x, s)
    for i, v in enumerate((a, b)):
        ref = np.asarray(Image.fromarray(v).resize((w // s, h // s), Image.BICUBIC))
        assert np.array_equal((out[i] * 255).round().byte().permute(1, 2, 0).numpy(), ref)


def _spandrel():
    return pytest.importorskip("spandrel", reason="the spandrel route runs in .venv-spandrel")


def _drunet(tmp_path):
    """A DRUNet (spandrel's own class, random weights, nb=2: the least its detection reads) saved to disk."""
    _spandrel()
    DRUNet = importlib.import_module("spandrel.architectures.DRUNet").DRUNet
    torch.manual_seed(0)
    path = tmp_path / "drunet.pth"
    torch.save(DRUNet(in_nc=4, out_nc=3, nb=2).state_dict(), path)
    return path


@pytest.mark.slow
def test_a_spandrel_call_that_takes_one_image_runs_batches_image_by_image(tmp_path):
    # spandrel's DRUNet call concatenates a [1, 1, H, W] noise map to the image: a batch of 2 failed in torch.cat
    spandrel = _spandrel()
    path = _drunet(tmp_path)
    model = models.load(path)
    assert model.one_image_per_call
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    keep = x.clone()
    with torch.no_grad():
        batch = model(x)
        descriptor = spandrel.ModelLoader().load_from_file(str(path))
        descriptor.model.eval()
        ref = torch.cat([descriptor(x[i:i + 1].clone()) for i in range(2)])
    assert torch.equal(x, keep)
    assert torch.allclose(batch.clamp(0, 1), ref, atol=1e-5)
    assert not model.training
