"""Helpers shared by the CLI commands."""
from __future__ import annotations

import os


def load_model(spec: str, device: str = "cpu"):
    """``spec`` is a checkpoint path or a zoo name."""
    from .. import models, zoo

    if os.path.exists(spec) or spec.endswith((".pth", ".pt")):
        return models.load(spec, device=device)
    return zoo.load(spec, device=device)


def check_output(path: str, extensions=(".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")) -> None:
    """Fail before any computation when ``path`` cannot be written."""
    from ..errors import InputError

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path!r}: the folder {folder!r} does not exist; create it or pick another --out")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path!r}: the folder {folder!r} is not writable; pick another --out")
    if not path.lower().endswith(extensions):
        raise InputError(f"--out {path!r} has an unknown image extension; use one of {', '.join(extensions)}")


def save_image(t, path: str) -> None:
    """Save a ``[3, H, W]`` tensor in [0, 1] as an 8-bit image."""
    from PIL import Image

    arr = (t.detach().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr).save(path)
