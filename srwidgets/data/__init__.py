"""Bundled test images and image I/O.

* :func:`load_image` reads what a user brings (path, PIL image, numpy ``HWC`` uint8/float, torch ``CHW``) into a
  float32 ``[3, H, W]`` tensor in ``[0, 1]``, with a clear error for what it cannot take.
* :func:`image` / :func:`lr_image` give the bundled images (see ``LICENSES.md``), HR or down-sampled as Pillow's
  bicubic ``resize`` does (the SR papers' LR images).
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import torch

from ..engine.inputs import VALUE_TOLERANCE, check_int
from ..engine.memory import ensure_fits, format_bytes
from ..errors import InputError

_DIR = Path(__file__).parent / "images"
HELD_OUT = ("chelsea", "coffee")  # never seen by the zoo's training

# Image.MAX_IMAGE_PIXELS is global Pillow state: lift it only under this lock, only to read a header's size.
_BOMB_LOCK = threading.Lock()
# PIL modes turned into RGB(A) before reading the pixels (palettes, other colour spaces, premultiplied alpha).
_CONVERTED_MODES = {"P": None, "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
                    "RGBX": "RGB", "RGBa": "RGBA", "La": "LA"}


class NeedsConvert(InputError):
    """An image that ``load_image(x, convert=True)`` accepts: grey, or with an alpha channel that is not fully
    opaque. ``problem`` says what the image is and ``effect`` what ``convert`` does to it, so that a front end
    with its own switch (the CLI's ``--convert``) can word the fix in its own terms with :meth:`advice`."""

    def __init__(self, problem: str, effect: str, manual: str = ""):
        self.problem, self.effect, self.manual = problem, effect, manual
        call = f"{manual}call" if manual else "Call"
        super().__init__(f"{problem}; SR models here take RGB. {call} load_image(x, convert=True), which {effect}.")

    def advice(self, switch: str) -> str:
        """The message with ``switch`` (e.g. ``"--convert"``) as the fix."""
        return f"{self.problem}; SR models here take RGB. Pass {switch}, which {self.effect}."

    @staticmethod
    def reword(text: str, switch: str) -> str:
        """``text`` (a message that may embed a NeedsConvert message, e.g. prefixed by an engine) with the fix
        worded as ``switch``."""
        for manual in _MANUALS:
            text = text.replace(f"{manual}call load_image(x, convert=True)", f"Pass {switch}")
        return text.replace("Call load_image(x, convert=True)", f"Pass {switch}")


# the manual fixes NeedsConvert messages offer besides convert=True (NeedsConvert.reword finds them)
_MANUALS = ("Convert it (PIL: img.convert('RGB')) or ",
            "Drop the alpha channel yourself (PIL: img.convert('RGB'), numpy: arr[..., :3]) or ",
            "Pass RGB [3, H, W] (x.expand(3, -1, -1)) or ", "Pass [3, H, W] RGB (x[:3]) or ")
_GREY_EFFECT = "repeats the grey channel into R, G and B"
_ALPHA_EFFECT = ("drops the alpha channel and keeps the stored colour values as they are (transparent pixels are "
                 "not blended onto a background; composite the image yourself first if that matters)")


def images() -> List[str]:
    """Names of the bundled images."""
    return sorted(p.stem for p in _DIR.glob("*.png"))


def image_path(name: str) -> str:
    """File path of the bundled image ``name``. Only the names :func:`images` lists are accepted: a name is never
    a path (``'../x'`` would reach outside the bundled folder); read your own files with :func:`load_image`."""
    names = images()
    if not isinstance(name, str) or name not in names:
        raise InputError(f"no bundled image {name!r}; choose one of {names}, or pass your own file to load_image")
    return str(_DIR / f"{name}.png")


def image(name: str, modcrop: int = 4) -> torch.Tensor:
    """Bundled HR image ``[3, H, W]`` in [0, 1], cropped so H and W are multiples of ``modcrop``."""
    modcrop = check_int("modcrop", modcrop, minimum=1, hint=" (crop H and W to multiples of it, e.g. the SR scale)")
    x = load_image(image_path(name))
    h, w = x.shape[1] // modcrop * modcrop, x.shape[2] // modcrop * modcrop
    return x[:, :h, :w].contiguous()


def lr_image(name: str, scale: int = 4) -> torch.Tensor:
    """Bundled image ``name`` as the SR papers make their LR inputs: cropped to multiples of ``scale``
    (:func:`image` with ``modcrop=scale``), then Pillow's bicubic ``resize`` on the 8-bit image
    (:func:`srwidgets.degrade.pil_bicubic`, equal to Pillow to the grey level). Float32 ``[3, H/s, W/s]`` in
    [0, 1], 8-bit levels / 255."""
    from ..degrade import pil_bicubic

    scale = check_int("scale", scale, minimum=1, hint=" (the down-sampling factor, e.g. 2, 3 or 4)")
    return pil_bicubic(image(name, scale), scale)


def _opaque(alpha) -> bool:
    """Whether an alpha channel (numpy or torch, any supported pixel type) is fully opaque everywhere."""
    dtype = str(alpha.dtype).replace("torch.", "")
    if dtype == "uint8":
        return bool((alpha == 255).all())
    if dtype == "uint16":
        return bool((alpha == 65535).all())
    if dtype == "bool":
        return bool(alpha.all())
    if "float" in dtype:
        return bool((abs(alpha - 1) <= VALUE_TOLERANCE).all())
    return False  # other integer types are refused later with their own message


def _from_hwc(arr: np.ndarray, convert: bool) -> torch.Tensor:
    shape = arr.shape  # as given, for the messages
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and _opaque(arr[..., -1]):
        arr = arr[..., :-1]  # a fully opaque alpha carries no information: nothing to ask about
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        if not convert:
            opaque = ", with a fully opaque alpha" if arr.shape != shape else ""
            raise NeedsConvert(f"the image is grayscale (shape {shape}{opaque})", _GREY_EFFECT,
                               _MANUALS[0])
        arr = np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
    if arr.ndim != 3:
        raise InputError(f"expected an image of shape H x W x 3, got {arr.shape}")
    if arr.shape[2] == 2:  # grey + alpha (PIL mode "LA") with some transparency
        if not convert:
            raise NeedsConvert("the image is grayscale with an alpha channel that is not fully opaque (2 channels)",
                               f"{_ALPHA_EFFECT}, and {_GREY_EFFECT}")
        arr = np.repeat(arr[..., :1], 3, axis=2)
    if arr.shape[2] == 4:
        if not convert:
            raise NeedsConvert("the image is RGBA (4 channels) with an alpha channel that is not fully opaque",
                               _ALPHA_EFFECT, _MANUALS[1])
        arr = arr[..., :3]
    if arr.shape[2] != 3:
        hint = (" (it looks like 3 x H x W: use arr.transpose(1, 2, 0) for H x W x 3)" if arr.shape[0] == 3 else "")
        raise InputError(f"expected 3 colour channels (RGB), got {arr.shape[2]} (shape {arr.shape}){hint}")
    divisor = {1: 255.0, 2: 65535.0}.get(arr.dtype.itemsize) if arr.dtype.kind == "u" else None  # any byte order
    if divisor is None and not (np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise InputError(f"unsupported pixel type {arr.dtype}: use uint8 (0-255) or float (0-1)")
    # Convert type and layout (HWC -> CHW) in one pass into the result: the only float copy of a large image.
    out = torch.empty((3, arr.shape[0], arr.shape[1]), dtype=torch.float32)
    np.copyto(out.numpy(), arr.transpose(2, 0, 1), casting="unsafe")
    if divisor is not None:
        out.div_(divisor)
    return out


def _decoded_bytes_per_pixel(mode: str) -> int:
    """Bytes per pixel of a decoded PIL image of ``mode`` (e.g. 3 for RGB, 2 for I;16, 4 for F)."""
    from PIL import ImageMode

    try:
        m = ImageMode.getmode(mode)
        return np.dtype(m.typestr).itemsize * len(m.bands)
    except (KeyError, TypeError, ValueError):
        return 4


def _bytes_needed(width: int, height: int, mode: str) -> int:
    """Peak bytes of loading a ``width × height`` image of PIL ``mode``: the decoded pixels (plus an RGBA copy for
    modes converted first) and the float32 ``[3, H, W]`` result (``_from_hwc`` makes no other full copy)."""
    per_pixel = 12 + _decoded_bytes_per_pixel(mode) + (4 if mode in _CONVERTED_MODES else 0)
    return per_pixel * width * height


def _check_size(width: int, height: int, mode: str) -> None:
    """Refuse, before any pixel is decoded, an image whose loading needs more memory than this machine has free."""
    ensure_fits(_bytes_needed(width, height, mode), width, height, what="image")


def _bomb_size(path: str):
    """``((width, height), mode, limit)`` from the header of an image Pillow refuses as a decompression bomb,
    without decoding it: the limit is lifted under a lock only for the (lazy) ``Image.open``."""
    from PIL import Image

    with _BOMB_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as im:
                return im.size, im.mode, limit
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _pil_to_array(im) -> np.ndarray:
    """Pixels of a PIL image as an ``H x W x C`` (or ``H x W``) array, modes normalised to what
    :func:`_from_hwc` reads. The size is checked against free memory first (``Image.open`` is lazy)."""
    _check_size(im.size[0], im.size[1], im.mode)
    if im.mode in _CONVERTED_MODES:
        target = _CONVERTED_MODES[im.mode] or ("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
        im = im.convert(target)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im).astype(np.float32)
        return arr / (65535.0 if im.mode.startswith("I;16") else float(max(arr.max(), 1)))
    return np.asarray(im)


def load_image(src: Any, convert: bool = False) -> torch.Tensor:
    """Read an RGB image into a float32 ``[3, H, W]`` tensor in ``[0, 1]``.

    Args:
        src: a file path (``str`` / ``Path``), a bundled image name, a ``PIL.Image``, a numpy array ``H x W x 3``
            (uint8 0-255 or float 0-1), or a torch tensor ``[3, H, W]`` (or ``[1, 3, H, W]``) in [0, 1]. An alpha
            channel that is fully opaque (all 255, or all 1.0) is dropped without asking.
        convert: repeat a grey channel / drop a (not fully opaque) alpha channel, keeping the stored colours,
            instead of raising.

    Raises:
        InputError: missing file, a folder, unreadable file, image too large, grey or RGBA image
            (:class:`NeedsConvert`, unless ``convert``), wrong layout, values outside [0, 1], NaN or Inf.

    Size limit: a file over ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's decompression-bomb threshold,
    89,478,485 by default, about 9459×9459; Pillow itself only warns up to twice that) is refused from its header,
    before any pixel is decoded: ``image too large (W×H, needs ~N GB; ...); crop or downsample it``. Raise
    ``PIL.Image.MAX_IMAGE_PIXELS`` (or set it to ``None``) to read a larger file you trust. Any image, file or
    array, is also refused when loading it needs more memory than this machine has available (about 16 bytes per
    pixel: the decoded pixels and the float32 result). What a model then needs for the image is checked by each
    engine and command, against the memory of the device it runs on.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(convert, (bool, np.bool_)):
        raise InputError(f"convert must be True or False, got {convert!r}")
    owned = False  # whether t is a fresh tensor (clamped in place) or may be the caller's
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if not os.path.exists(path):
            if isinstance(src, str) and src in images():
                path = image_path(src)
            else:
                raise InputError(f"image file not found: {path!r} (bundled images: {images()})")
        if os.path.isdir(path):
            raise InputError(f"{path!r} is a folder, not an image file; pass one image file (or, where a command "
                             "takes several images, the folder as its images argument)")
        try:
            with warnings.catch_warnings():
                # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse there too (see Raises)
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as im:  # lazy: reads the header only, so the size is checked before decoding
                    src = _pil_to_array(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            (w, h), mode, limit = _bomb_size(path)
            need = _bytes_needed(w, h, mode)
            raise InputError(f"image too large ({w}×{h}, needs ~{format_bytes(need)}; {w * h:,} pixels is over "
                             f"Pillow's limit of {limit:,} pixels against decompression bombs): {path!r}; crop or "
                             "downsample it (or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file)") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:  # truncated / corrupt files too
            raise InputError(f"could not read {path!r} as an image ({e}); use PNG, JPEG or another format Pillow reads") from None
    elif isinstance(src, Image.Image):
        try:
            src = _pil_to_array(src)
        except (OSError, SyntaxError, ValueError) as e:  # a closed or truncated PIL image
            raise InputError(f"could not read the pixels of this PIL image ({e}); pass an open image, e.g. "
                             "PIL.Image.open(path) still inside its with-block, or the file path itself") from None
    if isinstance(src, np.ndarray):
        if src.ndim >= 2:  # the float32 [3, H, W] result, before it is allocated
            ensure_fits(12 * src.shape[0] * src.shape[1], src.shape[1], src.shape[0], what="image")
        t, owned = _from_hwc(src, convert), True
        integer = src.dtype.kind in "ub"  # 8/16-bit or boolean: _from_hwc refuses other unsigned types
    elif isinstance(src, torch.Tensor):
        if src.is_meta or src.layout != torch.strided:
            raise InputError(f"the tensor holds no pixel data ({'a meta' if src.is_meta else 'a sparse'} tensor of "
                             f"shape {tuple(src.shape)}); pass a dense [3, H, W] tensor in [0, 1]")
        if src.is_complex():
            raise InputError(f"the tensor is complex ({src.dtype}); pass real pixel values, a [3, H, W] float "
                             "tensor in [0, 1] (e.g. x.abs() or x.real, if that is what you mean)")
        t = src.detach()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (2, 4) and _opaque(t[-1]):
            t = t[:-1]  # fully opaque alpha: drop it without asking
        if t.dim() == 3 and t.shape[0] == 2:
            if not convert:
                raise NeedsConvert(f"the tensor is grayscale with an alpha channel that is not fully opaque (shape "
                                   f"{tuple(src.shape)})", f"{_ALPHA_EFFECT}, and {_GREY_EFFECT}")
            t = t[:1]
        if t.dim() == 2 or (t.dim() == 3 and t.shape[0] == 1):
            if not convert:
                raise NeedsConvert(f"the tensor is grayscale (shape {tuple(src.shape)})", _GREY_EFFECT,
                                   "Pass RGB [3, H, W] (x.expand(3, -1, -1)) or ")
            t = t.reshape(1, *t.shape[-2:]).expand(3, -1, -1)
        if t.dim() == 3 and t.shape[0] == 4:
            if not convert:
                raise NeedsConvert("the tensor has 4 channels (RGBA?) and the 4th (alpha) is not fully opaque",
                                   _ALPHA_EFFECT, "Pass [3, H, W] RGB (x[:3]) or ")
            t = t[:3]
        if t.dim() != 3 or t.shape[0] != 3:
            hint = " (it looks like H x W x 3: use x.permute(2, 0, 1))" if t.dim() == 3 and t.shape[-1] == 3 else ""
            raise InputError(f"expected a [3, H, W] tensor, got shape {tuple(src.shape)}{hint}")
        integer = t.dtype in (torch.uint8, torch.bool)
        if not (t.dtype == torch.float32 and t.device.type == "cpu" and t.is_contiguous()):
            # a copy is made below: an expanded or strided view (a few bytes) may stand for terabytes of pixels
            ensure_fits(4 * t.shape[0] * t.shape[1] * t.shape[2], t.shape[2], t.shape[1], what="image")
        if not t.is_floating_point():
            t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        t = t.float().cpu().contiguous()
    else:
        raise InputError(f"cannot read an image from {type(src).__name__}: pass a path, PIL image, numpy HxWx3 array or torch [3, H, W] tensor")
    if t.numel() == 0:
        raise InputError(f"the image is empty (shape {tuple(t.shape)}); pass an image with at least 1x1 pixels")
    if not integer:  # 8/16-bit and boolean pixels are finite and in [0, 1] by construction: skip two full passes
        if not torch.isfinite(t).all():
            raise InputError("the image contains NaN or Inf values; clean it (torch.nan_to_num) before use")
        lo, hi = float(t.min()), float(t.max())
        if lo < -VALUE_TOLERANCE or hi > 1 + VALUE_TOLERANCE:
            raise InputError(f"pixel values span [{lo:.3g}, {hi:.3g}], expected [0, 1]; divide 0-255 floats by 255")
    return t.clamp_(0, 1) if owned else t.clamp(0, 1)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""Files a folder of images is read for (case-insensitive)."""


def image_files(folder: str) -> List[str]:
    """The image files of ``folder`` (extensions :data:`IMAGE_EXTENSIONS`, case-insensitive), sorted by name;
    an empty folder is an :class:`InputError`."""
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
                   and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise InputError(f"no image files in the folder {folder!r} (looked for {', '.join(IMAGE_EXTENSIONS)}); "
                         "put HR images there or pass a list of images")
    return [os.path.join(folder, f) for f in files]


def load_images(hr_images, convert: bool = False) -> Tuple[List[torch.Tensor], List[str]]:
    """Several images: ``[3, H, W]`` float32 tensors in [0, 1] and their names.

    ``hr_images`` is a folder (every image file in it, sorted by name), a file path or bundled name, one array or
    tensor, or a list of any of these (a 4-D array or tensor is a list of images); array and tensor images are
    named ``"image k"``, files by their stem. An unreadable image raises :class:`InputError` naming it (a grey or
    transparent one :class:`NeedsConvert`, unless ``convert``: see :func:`load_image`)."""
    if isinstance(hr_images, (str, os.PathLike)) or (isinstance(hr_images, (np.ndarray, torch.Tensor))
                                                      and hr_images.ndim < 4):
        hr_images = [hr_images]
    items: list = []
    for k, item in enumerate(hr_images):  # a 4-D array or tensor iterates over its images
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            items += [(f, os.path.splitext(os.path.basename(f))[0]) for f in image_files(os.fspath(item))]
        elif isinstance(item, (str, os.PathLike)):
            items.append((item, os.path.splitext(os.path.basename(os.fspath(item)))[0]))
        else:
            items.append((item, f"image {k}"))
    if not items:
        raise InputError("no images given; pass a list of HWC arrays in [0, 1], tensors, file paths, bundled "
                         "image names or a folder")
    images = []
    for src, name in items:
        try:
            images.append(load_image(src, convert=convert))
        except NeedsConvert as e:  # still a NeedsConvert, so that a front end can word the fix its own way
            raise NeedsConvert(f"image {name!r}: {e.problem}", e.effect, e.manual) from None
        except InputError as e:
            raise InputError(f"image {name!r}: {e}") from None
    return images, [name for _, name in items]


def centre_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The centred ``height × width`` part of ``x`` ``[C, H, W]`` (a view)."""
    top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
    return x[:, top:top + height, left:left + width]


__all__ = ["images", "image", "image_path", "lr_image", "load_image", "load_images", "image_files", "centre_crop",
           "IMAGE_EXTENSIONS", "NeedsConvert", "HELD_OUT"]
