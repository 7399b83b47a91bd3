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


def _spandrel_arch(module, sub, cls, **kwargs):
    return lambda: getattr(importlib.import_module(f"spandrel.architectures.{module}.__arch.{sub}"), cls)(**kwargs)


# architectures tests/test_models_spandrel.py does not build (small widths; sizes its detection reads)
MORE = [
    ("RealPLKSR", _spandrel_arch("PLKSR", "RealPLKSR", "RealPLKSR", dim=16, n_blocks=2, upscaling_factor=3,
                                 kernel_size=9, layer_norm=True), 3),
    ("RealCUGAN", _spandrel_arch("RealCUGAN", "upcunet_v3", "UpCunet2x"), 2),
    ("MMRealSR", _spandrel_arch("MMRealSR", "mmrealsr_arch", "MMRRDBNet_test", num_in_ch=3, num_out_ch=3, scale=4,
                                num_feat=16, num_block=1, num_grow_ch=8, num_feats=[8, 16, 32, 64]), 4),
    ("FFTformer", _spandrel_arch("FFTformer", "fftformer_arch", "FFTformer", dim=8, num_blocks=[1, 1, 1],
                                 num_refinement_blocks=1), 1),
    ("MixDehazeNet", _spandrel_arch("MixDehazeNet", "MixDehazeNet", "MixDehazeNet", embed_dims=[8, 16, 32, 16, 8],
                                    depths=[1, 1, 1, 1, 1]), 1),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, make, scale", MORE, ids=[m[0] for m in MORE])
def test_more_spandrel_architectures_equal_spandrels_output_at_any_size(tmp_path, name, make, scale):
    spandrel = _spandrel()
    torch.manual_seed(0)
    path = tmp_path / f"{name}.pth"
    torch.save(make().state_dict(), path)
    model = models.load(path)
    assert model.scale == scale and model.arch.endswith("(spandrel)")
    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    descriptor.model.eval()
    minimum, multiple, _ = model.size_requirements
    side = -(-max(minimum, 16) // multiple) * multiple
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(model(x.clone()).clamp(0, 1), descriptor(x.clone()), atol=1e-5)
    odd = torch.rand(2, 3, 11, 7, generator=torch.Generator().manual_seed(2))
    keep = odd.clone()
    odd.requires_grad_(True)
    y = model(odd)
    y.sum().backward()
    assert y.shape == (2, 3, 11 * scale, 7 * scale)
    assert torch.equal(odd.detach(), keep) and odd.grad.isfinite().all() and odd.grad.abs().sum() > 0
