"""Helpers shared by the CLI commands: model and image loading, output checks, writing images."""
from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from ..errors import InputError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
RASTER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _looks_like_path(spec: str) -> bool:
    """A path separator or a checkpoint suffix says the user means a file, never a zoo name."""
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    return any(s in spec for s in seps) or spec.lower().endswith(CHECKPOINT_SUFFIXES)


def load_model(spec: str, device: str = "cpu"):
    """``spec`` is a checkpoint path or a zoo name.

    Folders are never checkpoints. A zoo name wins over a file of the same name in the working directory (said on
    stderr) unless ``spec`` looks like a path (``./x4-fsrcnn``, ``x4-fsrcnn.pth``)."""
    from .. import models, zoo

    if os.path.isdir(spec) and (_looks_like_path(spec) or spec not in zoo.list()):
        raise InputError(f"--model {spec!r} is a folder, not a checkpoint file; pass the checkpoint inside it "
                         f"(e.g. {os.path.join(spec, 'model.pth')!r}) or a zoo name ({', '.join(zoo.list())})")
    if _looks_like_path(spec):
        return models.load(spec, device=device)
    if spec in zoo.list():
        if os.path.isfile(spec):
            print(f"note: --model {spec!r}: using the zoo model, not the file {spec!r} in the working directory; "
                  f"pass {os.path.join(os.curdir, spec)!r} to load the file", file=sys.stderr)
        return zoo.load(spec, device=device)
    if os.path.isfile(spec):
        return models.load(spec, device=device)
    raise InputError(f"--model {spec!r} is neither a checkpoint file nor a zoo model; pass a checkpoint path "
                     f"(.pth) or one of: {', '.join(zoo.list())} (see `python -m srwidgets zoo`)")


def input_path(spec: str) -> Optional[str]:
    """The file an image argument reads, as :func:`srwidgets.data.load_image` resolves it (a file, else a bundled
    image name), or ``None`` when there is none (load_image then says so)."""
    from .. import data

    if os.path.exists(spec):
        return spec
    return data.image_path(spec) if spec in data.images() else None


def load_input(spec: str, convert: bool = False):
    """:func:`srwidgets.data.load_image`, with the fix for grey / transparent images worded as ``--convert``
    (the library's ``convert=True`` is not something a CLI user can pass)."""
    from .. import data

    try:
        return data.load_image(spec, convert=convert)
    except data.NeedsConvert as e:
        raise InputError(e.advice("--convert")) from None


def check_output(path: str, extensions: Sequence[str] = RASTER_EXTENSIONS, image: Optional[str] = None,
                 what: str = "an image") -> None:
    """Fail before any computation when ``path`` cannot (or must not) be written.

    Args:
        path: the ``--out`` argument.
        extensions: the suffixes this command writes (lower case, with the dot).
        image: the input image argument: ``--out`` must never be the same file.
        what: what the command writes, for the message (``"an image"``, ``"a figure"``).
    """
    if os.path.isdir(path):
        raise InputError(f"--out {path!r} is an existing folder; give a file name, e.g. "
                         f"{os.path.join(path, 'out' + extensions[0])!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path!r}: the folder {folder!r} does not exist; create it or pick another "
                         "--out")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path!r}: the folder {folder!r} is not writable; pick another --out")
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        raise InputError(f"--out {path!r}: this command writes {what} as one of {', '.join(extensions)}, not "
                         f"{ext or 'a file without extension'}; change the extension")
    src = input_path(image) if image is not None else None
    if src is not None and os.path.exists(path) and os.path.samefile(src, path):
        raise InputError(f"--out {path!r} is the input image {image!r}: it would be overwritten; pick another --out")


def check_raster_writable(path: str) -> None:
    """Whether this Pillow build can write ``path``'s format (WebP, for one, is optional)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None or fmt not in Image.SAVE:
        raise InputError(f"--out {path!r}: this Pillow installation cannot write {fmt or 'that'} files; use .png")


def save_image(t, path: str) -> None:
    """Save a ``[3, H, W]`` tensor in [0, 1] as an 8-bit image."""
    from PIL import Image

    arr = (t.detach().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr).save(path)


# -- progress ---------------------------------------------------------------------------------------------------------
class ProgressBar:
    """An engine callback (``callback=``) that draws a tqdm bar on stderr for each stage an engine reports.

    Engines call ``callback(Progress(done, total, stage))`` (:mod:`srwidgets.progress`); a bar opens at a stage's
    first report, follows ``done`` and closes when ``done`` reaches ``total`` (the finished bar stays on its line),
    or when another stage starts, or on :meth:`close`. A stage that runs again gets a new bar. Use it as a context
    manager so a bar left open by an error or a cancel is closed too.

    Args:
        desc: the bars' label: one string, or ``{stage: label}`` (other stages are labelled by their stage name).
        units: what one step is: one string, or ``{stage: unit}`` (default ``"it"``).
        disable: draw nothing (``--no-progress``).
        file: where to draw (default: ``sys.stderr`` at the time a bar opens).

    Example:
        >>> import io
        >>> from srwidgets.progress import Progress
        >>> out = io.StringIO()
        >>> with ProgressBar("LAM", file=out) as bar:
        ...     for done in (2, 4):
        ...         bar(Progress(done, 4, "attribution"))
        >>> "LAM: 100%" in out.getvalue() and "4/4" in out.getvalue()
        True
    """

    def __init__(self, desc=None, units=None, disable: bool = False, file=None):
        self.desc, self.units, self.disable, self.file = desc, units, bool(disable), file
        self._bar = None
        self._stage = None

    def _pick(self, value, stage: str, default: str) -> str:
        if isinstance(value, dict):
            return str(value.get(stage, default))
        return default if value is None else str(value)

    def __call__(self, p) -> None:
        if self.disable or not p.total:
            return
        bar = self._bar
        if bar is None or p.stage != self._stage or p.total != bar.total or p.done < bar.n:
            from tqdm import tqdm

            self.close()
            bar = self._bar = tqdm(total=p.total, desc=self._pick(self.desc, p.stage, p.stage or "progress"),
                                   unit=self._pick(self.units, p.stage, "it"),
                                   file=self.file if self.file is not None else sys.stderr, dynamic_ncols=True)
            self._stage = p.stage
        bar.update(min(p.done, p.total) - bar.n)
        if p.done >= p.total:
            self.close()

    def close(self) -> None:
        """Close the open bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(desc=None, units=None, disable: bool = False, file=None) -> ProgressBar:
    """A :class:`ProgressBar`: the engine callback the CLI commands pass as ``callback=``."""
    return ProgressBar(desc, units, disable, file)


def add_progress_option(p) -> None:
    """``--no-progress`` on a command's parser (bars go to stderr; stdout stays the command's result)."""
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
