"""SR models shipped inside the package (nothing is downloaded): small ones trained by us, and two fully trained
public networks, trained by their authors, MIT-licensed (notices next to this file, ``LICENSE-*``, and in their
manifest entries): ``x4-rfdn`` (RFDN, the AIM 2020 efficient-SR winner) and ``x4-carn-m`` (CARN-M, one of the LAM
paper's networks; the official multi-scale file, so ``models.load(path, scale=2)`` on it gives x2 too).

    >>> import srwidgets
    >>> srwidgets.zoo.list()
    ['x2-srresnet-bicubic', 'x2-srresnet-blind', 'x2-srresnet-nogr', 'x4-carn-m', 'x4-edsr-lite', 'x4-fsrcnn', 'x4-rcan-lite', 'x4-rfdn']
    >>> model = srwidgets.zoo.load("x4-edsr-lite")       # nn.Module, eval mode, model.scale == 4
    >>> srwidgets.zoo.info("x4-rfdn")["trained_by"], srwidgets.zoo.info("x4-rfdn")["licence"]
    ('RFDN authors', 'MIT')
    >>> baseline, target = srwidgets.zoo.faig_pair()     # FAIG: bicubic-only model and its blind-SR fine-tune
    >>> srwidgets.zoo.load("x2-srresnet-nogr").global_residual   # DDR: x2-srresnet-bicubic's recipe, no global residual
    False

``manifest.json`` records for each model its architecture, scale, training images, degradations, steps, seed,
training time, and PSNR/SSIM on held-out images against bicubic upsampling; ``info(name)`` returns that entry.
``python -m srwidgets.zoo.train NAME`` reproduces a model trained by us. A public model's entry has instead
``trained_by``, ``source`` (where the weights come from), ``licence``, ``licence_file`` and ``licence_notice``, and
the same held-out evaluation.
"""
from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Tuple

from torch import nn

from ..errors import InputError

_DIR = Path(__file__).parent
FAIG_PAIR = ("x2-srresnet-bicubic", "x2-srresnet-blind")


def manifest() -> dict:
    """The whole manifest: ``{name: entry}``."""
    p = _DIR / "manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def list() -> builtins.list:  # noqa: A001  (the public name the docs promise)
    """Names of the shipped models whose weights are present."""
    return sorted(n for n, e in manifest().items() if (_DIR / e["file"]).exists())


def names() -> builtins.list:
    """The shipped models' names (the same as :func:`list`)."""
    return list()


def info(name: str) -> dict:
    """Manifest entry of one model (architecture, training data, steps, seed, held-out PSNR...)."""
    m = manifest()
    if name not in m:
        raise InputError(f"no zoo model {name!r}; available: {list()}")
    return m[name]


def load(name: str, device="cpu") -> nn.Module:
    """Load a shipped model in eval mode; it has ``.scale`` (int), ``.arch``, ``.config`` and ``.zoo_name``."""
    from .. import models

    e = info(name)
    path = _DIR / e["file"]
    if not path.exists():
        raise InputError(f"the weights of {name!r} are missing from the installation ({path}); reinstall srwidgets")
    model = models.load(str(path), device=device)
    model.zoo_name = name
    return model


def faig_pair(device="cpu") -> Tuple[nn.Module, nn.Module]:
    """``(baseline, target)`` for FAIG: same MSRResNet x2 architecture, the baseline trained on clean
    (bilinear x1/2) inputs, the target fine-tuned from it on blur + noise inputs."""
    return load(FAIG_PAIR[0], device), load(FAIG_PAIR[1], device)


__all__ = ["list", "names", "load", "info", "manifest", "faig_pair"]
