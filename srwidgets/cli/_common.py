"""Helpers shared by the CLI commands: model and image loading, output checks, writing images."""
from __future__ import annotations

import os
import sys
from typing import Iterable, List, Optional, Sequence, Tuple

from ..engine.inputs import NUMPY_SEED_MAX
from ..engine.outputs import free_name
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

    if not isinstance(spec, (str, os.PathLike)) or not os.fspath(spec):
        return None
    spec = os.fspath(spec)
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


def load_inputs(images, convert: bool = False):
    """:func:`srwidgets.data.load_images` (``[3, H, W]`` tensors and names), the grey / transparent fix worded as
    ``--convert``."""
    from .. import data

    try:
        return data.load_images(images, convert=convert)
    except data.NeedsConvert as e:
        raise InputError(e.advice("--convert")) from None


def add_convert_option(p) -> None:
    """``--convert`` on a command's parser."""
    p.add_argument("--convert", action="store_true",
                   help="accept grey images (grey repeated into R, G, B) and images with transparency (alpha "
                        "dropped, stored colours kept)")


def model_files(spec: Optional[str]) -> List[str]:
    """The files a ``--model`` / ``--baseline`` / ``--target`` / ``--models`` item reads: the checkpoint, or for a zoo
    name its weights and the zoo manifest (an output there would break the installation)."""
    from .. import zoo

    if not spec:
        return []
    if os.path.exists(spec):
        return [spec]
    if spec in zoo.list():
        folder = os.path.dirname(os.path.abspath(zoo.__file__))
        return [os.path.join(folder, zoo.info(spec)["file"]), os.path.join(folder, "manifest.json")]
    return []


def image_files_read(spec) -> List[Tuple[str, str]]:
    """``(shown, file)`` for every file an image argument reads: a file, a bundled name, every file of a folder,
    each item of a list (the user's spelling ``shown`` for the message)."""
    from ..engine.outputs import input_files

    items = spec if isinstance(spec, (list, tuple)) else [spec]
    out: List[Tuple[str, str]] = []
    for item in items:
        if item is None:
            continue
        src = input_path(item)
        if src is None:
            continue
        out.append((item, src))
        if os.path.isdir(src):  # every file counts, not only the images read: a folder is the user's data
            out += [(f, f) for f in input_files([src])[1:]]
    return out


def check_output(path, extensions: Sequence[str] = RASTER_EXTENSIONS, image=None, what: str = "an image", *,
                 flag: str = "--out", images=None, models: Iterable[Tuple[str, str]] = (),
                 tables: Iterable[Tuple[str, str]] = ()) -> str:
    """Fail before any computation when ``path`` cannot (or must not) be written; returns it as a ``str``.

    A thin wrapper over :func:`srwidgets.engine.check_output` (folder, writable, extension) worded with the CLI's
    flags, that also names which input an output would overwrite (the same file resolved: symlinks, ``./``, ``..``,
    hard links).

    Args:
        path: the output argument.
        extensions: the suffixes this output may have (lower case, with the dot).
        image: an input image argument (file or bundled name), or a list of them / a folder.
        what: what is written, for the message (``"the LAM figure"``).
        flag: the output's flag, for the message (``"--out"``, ``"--csv"``, ``"--atlas"``).
        images: more image arguments (``--images``: files, folders, bundled names).
        models: ``(flag, spec)`` of every model the command reads (``("--model", "x4-fsrcnn")``): checkpoints and
            the zoo's files.
        tables: ``(description, path)`` of other files read (a table being resumed).
    """
    from ..engine import check_output as engine_check_output, same_file

    if isinstance(path, (str, os.PathLike)) and os.path.isdir(path):
        raise InputError(f"{flag} {os.fspath(path)!r} is an existing folder; give a file name, e.g. "
                         f"{os.path.join(os.fspath(path), 'out' + extensions[0])!r}")
    p = engine_check_output(path, extensions=extensions, flag=flag, what=what)
    candidates = [(f"the input image {shown!r}", src) for shown, src in image_files_read(image)]
    candidates += [(f"the input image {shown!r}", src) for shown, src in image_files_read(images)]
    candidates += [(f"the {which} checkpoint {spec!r}", src) for which, spec in models for src in model_files(spec)]
    candidates += [(f"{desc} {src!r}", src) for desc, src in tables]
    for label, src in candidates:
        if os.path.isfile(src) and same_file(p, src):
            raise InputError(f"{flag} {p!r} is {label}: it would be overwritten; pick another {flag}")
    return p


def check_distinct(outputs: dict) -> None:
    """``{flag: path or None}``: no two outputs of one command are the same file
    (:func:`srwidgets.engine.check_distinct_outputs`)."""
    from ..engine import check_distinct_outputs

    check_distinct_outputs(outputs)


# -- flag values: checked before any model is loaded, messages naming the flag -----------------------------------
def flag_int(flag: str, value, minimum: Optional[int] = None, maximum: Optional[int] = None, hint: str = "") -> int:
    """An integer flag in ``[minimum, maximum]`` (:func:`srwidgets.engine.check_int`, worded with ``flag``)."""
    from ..engine import check_int

    value = check_int(flag, value, minimum, hint)
    if maximum is not None and value > maximum:
        raise InputError(f"{flag} must be at most {maximum:,}{hint}, got {value:,}")
    return value


def flag_number(flag: str, value, minimum: Optional[float] = None, hint: str = "", positive: bool = False) -> float:
    """A finite number flag, at least ``minimum`` (or above 0 with ``positive``): NaN and Inf are refused."""
    from ..engine import check_number

    value = check_number(flag, value, minimum, hint)
    if positive and not value > 0:
        raise InputError(f"{flag} must be a finite number > 0{hint}, got {value:g}")
    return value


def flag_steps(value, paper: int = 50) -> int:
    """``--steps``: an integer in [1, :data:`srwidgets.engine.MAX_STEPS`] (:func:`srwidgets.engine.check_steps`'s
    rule); ``paper`` is the papers' value, quoted in the message."""
    from ..engine import MAX_STEPS, check_steps

    if isinstance(value, int) and value < 1:
        raise InputError(f"--steps must be at least 1 (an integer >= 1; the paper uses {paper}), got {value}")
    if isinstance(value, int) and value > MAX_STEPS:
        raise InputError(f"--steps {value:,} is above the ceiling of {MAX_STEPS:,} steps: attributions stop changing "
                         f"long before (the error falls as 1/steps; the paper uses {paper}) and the run would take "
                         f"days; use at most {MAX_STEPS:,}")
    return check_steps(value, name="--steps", hint=f" (the paper uses {paper})")


SEED_MAX = NUMPY_SEED_MAX  # numpy's and scikit-learn's random states take seeds in [0, 2**32 - 1]


def flag_seed(value) -> int:
    """``--seed``: an integer in ``[0, 2**32 - 1]`` (numpy's generators refuse negative seeds)."""
    return flag_int("--seed", value, 0, SEED_MAX, " (a random seed, e.g. 0)")


def image_size(spec) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of an image argument from its header alone (no pixel decoded), or ``None`` when it cannot
    be read that way (:func:`load_input` then gives the reason)."""
    import warnings

    from PIL import Image

    src = input_path(spec)
    if src is None or not os.path.isfile(src):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(src) as im:
                return im.size
    except Exception:  # noqa: BLE001  (unreadable: load_image words it)
        return None


def ensure_model_fits(model, width: int, height: int, device=None, extra_per_sr_pixel: int = 0,
                      what: str = "image") -> None:
    """Refuse a ``width × height`` LR input whose forward pass through ``model`` (plus ``extra_per_sr_pixel`` bytes
    per output pixel, e.g. writing the result) needs more memory than ``device`` has:
    ``image too large (W×H, needs ~N GB; ...); crop or downsample it``."""
    from ..engine.memory import ensure_fits, inference_bytes
    from ..models import infer_scale

    scale = infer_scale(model)
    need = inference_bytes(model, height, width, scale, device) + extra_per_sr_pixel * scale * scale * width * height
    ensure_fits(need, width, height, device, what)


def check_raster_writable(path: str) -> None:
    """Whether this Pillow build can write ``path``'s format (WebP, for one, is optional)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if fmt is None or fmt not in Image.SAVE:
        raise InputError(f"--out {path!r}: this Pillow installation cannot write {fmt or 'that'} files; use .png")


SAVE_BYTES_PER_PIXEL = 4 * 3 + 3 * 3  # save_image: one float32 copy, then the 8-bit array and Pillow's copy of it


def save_image(t, path: str) -> None:
    """Save a ``[3, H, W]`` tensor in [0, 1] as an 8-bit image (one float copy: large SR images are written within
    :data:`SAVE_BYTES_PER_PIXEL` bytes per pixel)."""
    import torch
    from PIL import Image

    arr = t.detach().clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
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


def short_errors(p) -> None:
    """A command parser whose usage errors (``--steps abc``, a missing argument, a bad choice) are two lines: the
    error and where the options are listed, instead of argparse's usage block of every option first."""
    def error(message: str):
        p.exit(2, f"{p.prog}: error: {message}\n(`{p.prog} --help` lists the options)\n")

    p.error = error


def add_progress_option(p) -> None:
    """``--no-progress`` on a command's parser (bars go to stderr; stdout stays the command's result)."""
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# -- default output names: never written over -------------------------------------------------------------------
OUTPUT_DESTS = ("out", "json", "csv", "figure", "atlas")
"""The destinations of the options that name a file a command writes (``--out``, ``--json``, ...)."""


class DefaultOutput(str):
    """An output name the user did not type (the option's default, e.g. ``lam.png``): it never replaces a file
    that is already there (:func:`resolve_default_outputs`). A path the user typed is theirs to overwrite."""


def mark_default_outputs(parser) -> None:
    """Make the string defaults of ``parser``'s output options (:data:`OUTPUT_DESTS`) :class:`DefaultOutput`, so
    that after parsing a default can be told from the same name typed on the command line."""
    for action in parser._actions:  # argparse has no public listing of a parser's options
        if action.dest in OUTPUT_DESTS and isinstance(action.default, str) and action.default:
            action.default = DefaultOutput(action.default)


def resolve_default_outputs(args, file=None) -> None:
    """Replace every :class:`DefaultOutput` in ``args`` by a free name (:func:`srwidgets.engine.outputs.free_name`), saying on stdout
    (``file``) when it is not the default itself: a default name never writes over an existing file."""
    for dest, value in vars(args).items():
        if isinstance(value, DefaultOutput):
            free = free_name(str(value))
            if free != value:
                flag = "--" + dest.replace("_", "-")
                print(f"note: {value} exists, so this writes {free} instead (a default name never replaces a file; "
                      f"{flag} NAME writes where you say)", file=file or sys.stdout)
            setattr(args, dest, str(free))
