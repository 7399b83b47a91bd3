"""``python -m srwidgets di-table --models x4-fsrcnn,x4-edsr-lite --images DIR --windows edges:8 --out di.csv``.

The Diffusion Index of windows × images × models (:func:`srwidgets.batch.di_table`) written to a CSV / Parquet file
as it goes (run the same command again to resume), with a progress bar and a summary per model (mean and median
DI, and PSNR with ``--downsample``). ``--ray`` runs it on a local Ray instance, ``--ray auto`` / ``--ray
ray://host:10001`` on a cluster. ``--windows`` is ``edges:N``, ``grid:N`` or ``top,left,size[;top,left,size...]``
in SR pixels. ``--atlas FIGURE`` also maps the DI of every window of the first image (:func:`srwidgets.batch.di_atlas`).
``--method NAME`` uses any member of the window-attribution family instead of LAM, its knobs as flags generated from
its declaration (:mod:`srwidgets.cli.method_flags`: ``--baseline`` for ig, ``--seed`` for ig's random baselines,
smoothgrad's noise and cem's patches; ``--method NAME --help`` lists them); a member that needs HR images (cem)
takes ``--downsample``, or ``--hr`` with LR ``--images``. Every flag is checked before a model loads.
"""
from __future__ import annotations

import os
import re
import sys
import warnings

from ..errors import InputError
from ._common import add_convert_option, add_progress_option
from .method_flags import add_method_option, check_method_flags as check_knob_flags, method_knobs

NAME = "di-table"


def add_parser(sub):
    p = sub.add_parser(NAME, help="Diffusion Index table over images x models (LAM at dataset scale), local or Ray")
    p.add_argument("--models", required=True, help="comma-separated zoo names or checkpoint paths")
    p.add_argument("--images", required=True,
                   help="a folder of images, or comma-separated image files / bundled image names (LR, or HR with "
                        "--downsample)")
    p.add_argument("--windows", default="edges:8",
                   help="edges:N (most textured), grid:N, or top,left,size[;top,left,size...] in SR pixels "
                        "(default: edges:8)")
    p.add_argument("--window-size", type=int, default=16, help="side of edges/grid windows, SR pixels (default: 16)")
    p.add_argument("--out", required=True, help="the table, .csv or .parquet; an existing one is resumed")
    add_method_option(p, NAME)  # and the chosen member's knobs: --steps --sigma --kernel-size --path for lam
    p.add_argument("--hr", default=None,
                   help="HR references of LR --images (a folder, or comma-separated files, in the same order): PSNR, "
                        "SSIM and --method cem's ground truth; not with --downsample")
    p.add_argument("--downsample", action="store_true",
                   help="the images are HR: down-sample them by each model's scale with Pillow's 8-bit bicubic "
                        "resize (the papers' LR images; adds PSNR/SSIM)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray: alone, a local Ray instance with --workers CPUs; or a cluster address "
                        "(auto, host:6379, ray://host:10001)")
    p.add_argument("--workers", type=int, default=2, help="CPUs of a local Ray instance (default: 2)")
    p.add_argument("--on-error", default="stop", choices=["stop", "skip"],
                   help="an unreadable image: stop (default) or skip it with a warning")
    p.add_argument("--device", default=None, help="cpu or cuda, local backend (default: cuda when available)")
    p.add_argument("--atlas", default=None, metavar="FIGURE",
                   help="also map the DI of every window of the first image on a --atlas-stride grid, one figure per "
                        "model (png/pdf/svg/jpg; several models: FIGURE's name + _MODEL)")
    p.add_argument("--atlas-stride", type=int, default=8, help="atlas grid step, SR pixels (default: 8)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run, command="di_table")  # the module name, which __main__ looks the command up by
    return p


def parse_windows(text: str):
    """``edges:N`` / ``grid:N`` as they are, else ``top,left,size;...`` -> a list of tuples (SR pixels)."""
    if ":" in text:
        return text
    try:
        wins = [tuple(int(v) for v in part.split(",")) for part in text.replace(" ", "").split(";") if part]
    except ValueError:
        wins = []
    if not wins:
        raise InputError(f"--windows must be edges:N, grid:N or top,left,size[;top,left,size...], got {text!r}")
    return wins


def summary(table) -> str:
    """Windows, mean and median DI (and mean PSNR when there is one) per model, models in table order."""
    lines = [f"{'model':<20} {'windows':>7} {'mean DI':>8} {'median DI':>9}"
             + (f" {'PSNR':>6}" if table["psnr"].notna().any() else "")]
    for name in dict.fromkeys(table["model"]):
        rows = table[table["model"] == name]
        psnr = f" {rows.groupby('image')['psnr'].first().mean():6.2f}" if table["psnr"].notna().any() else ""
        lines.append(f"{name:<20} {len(rows):>7} {rows['di'].mean():8.2f} {rows['di'].median():9.2f}{psnr}")
    return "\n".join(lines)


def atlas_paths(path: str, names, images=(), models=()) -> dict:
    """``--atlas`` per model: the path itself for one model, else ``stem_MODEL.ext``; checked before computing
    (never an input image or checkpoint)."""
    from .lam import FIGURE_EXTENSIONS
    from ._common import check_output

    stem, ext = os.path.splitext(path)
    paths = {n: path if len(names) == 1 else f"{stem}_{n.replace(os.sep, '_')}{ext}" for n in names}
    for out in paths.values():
        check_output(out, FIGURE_EXTENSIONS, what="the DI atlas figure", flag="--atlas", images=images, models=models)
    return paths


def check_flags(args, names, images) -> dict:
    """Every flag value and output before a model loads: one message naming the flag. Returns the atlas paths."""
    from ._common import check_distinct, check_output, flag_int

    models = [("--models", n) for n in names]
    # --out may exist: it is resumed, so it is no input it could overwrite, but no image or checkpoint either
    out = check_output(args.out, (".csv", ".parquet"), what="the DI table", images=images, models=models)
    check_output(out + ".json", (".json",), what="the DI table's settings file", images=images, models=models)
    flag_int("--window-size", args.window_size, 2, hint=" (SR pixels; the paper uses 16)")
    flag_int("--workers", args.workers, 1, hint=" (CPUs of the local Ray instance)")
    flag_int("--atlas-stride", args.atlas_stride, 1, hint=" (SR pixels)")
    check_method_flags(args)
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)
    atlases = atlas_paths(args.atlas, [os.path.basename(n) for n in names], images, models) if args.atlas else {}
    check_distinct({"--out": out, "--out's settings file": out + ".json",
                    **{f"--atlas ({n})": a for n, a in atlases.items()}})
    return atlases


def check_method_flags(args) -> None:
    """``--method``, its knob flags and the flags that go with the member's capabilities, before a model loads."""
    from ..attribution.knobs import window_grid

    cls = check_knob_flags(args)
    if args.hr is not None and args.downsample:
        raise InputError("--hr is for LR --images; with --downsample the images are the HR references: drop --hr")
    if getattr(cls, "needs_hr", False) and args.hr is None and not args.downsample:
        raise InputError(f"--method {args.method} compares each window with the HR image: give HR --images with "
                         "--downsample, or the HR references with --hr")
    grid = window_grid(cls, method_knobs(args))
    if grid and (args.window_size % grid or args.atlas and args.atlas_stride % grid):
        raise InputError(f"--method {args.method} works on whole {grid}x{grid} SR-pixel blocks: --window-size and "
                         f"--atlas-stride must be multiples of {grid}, got {args.window_size} and {args.atlas_stride}")


def _inputs_flag(text: str):
    """A folder as it is, else the comma-separated files / names."""
    return text if os.path.isdir(text) else [s.strip() for s in text.split(",") if s.strip()]


def run(args) -> int:
    from ..batch import di_table
    from ._common import load_inputs, load_model

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise InputError(f"--models {args.models!r} names no model: give comma-separated zoo names or checkpoint "
                         "paths")
    if len(set(map(os.path.basename, names))) < len(names):
        raise InputError(f"--models {args.models!r} names one model twice (models are told apart by file name)")
    images = _inputs_flag(args.images)
    if not images:
        raise InputError(f"--images {args.images!r} names no image; give a folder, or comma-separated image files "
                         "or bundled names")
    hr = None if args.hr is None else _inputs_flag(args.hr)
    if hr is not None and not hr:
        raise InputError(f"--hr {args.hr!r} names no image; give a folder, or comma-separated image files")
    inputs = [images] if isinstance(images, str) else list(images)
    inputs += [] if hr is None else [hr] if isinstance(hr, str) else list(hr)  # no output may overwrite them
    atlases = check_flags(args, names, inputs)
    windows = parse_windows(args.windows)
    sources = images
    if args.convert:  # loaded here, converted (tensors: the table names them by index)
        sources = load_inputs(images, convert=True)[0]
        hr = hr if hr is None else load_inputs(hr, convert=True)[0]
    knobs = method_knobs(args)  # the knob flags given (the member's defaults for the others)
    models = {os.path.basename(n): load_model(n, args.device or "cpu") for n in names}
    local = args.ray in (None, "local")
    with warnings.catch_warnings(record=True) as caught:  # skipped images etc.: one "note:" line each, no source
        warnings.simplefilter("always", UserWarning)
        try:
            table = di_table(models, sources, windows,
                             backend="local" if args.ray is None else "ray", address=None if local else args.ray,
                             out=args.out, downsample=args.downsample, window_size=args.window_size,
                             on_error=args.on_error, workers=args.workers, device=args.device,
                             progress=not args.no_progress, method=args.method, hr=hr, **knobs)
        except InputError as e:  # the engine's "pick another out" (a bare keyword): this command's flag is --out
            raise InputError(re.sub(r"\banother out\b(?!=)", "another --out", str(e))) from None
        finally:
            from ..data import NeedsConvert

            for note in dict.fromkeys(NeedsConvert.reword(str(w.message), "--convert") for w in caught):
                print(f"note: {note}", file=sys.stderr)
    print(summary(table))
    print(f"{len(table)} rows in {args.out}")
    if atlases:
        from ..batch import di_atlas
        from ..data import image_files
        from ..viz import atlas_figure
        from ._common import load_input

        first = image_files(images)[0] if isinstance(images, str) else images[0]
        image = load_input(first, convert=args.convert)
        first_hr = None if hr is None else image_files(hr)[0] if isinstance(hr, str) else hr[0]
        if isinstance(first_hr, str):
            first_hr = load_input(first_hr, convert=args.convert)
        for name, out in atlases.items():
            atlas = di_atlas(models[name], image, stride=args.atlas_stride, size=args.window_size,
                             downsample=args.downsample, device=args.device, progress=not args.no_progress,
                             method=args.method, hr=first_hr, **knobs)
            atlas_figure(atlas, title=f"{name}: DI atlas of {os.path.basename(str(first))}").savefig(out, dpi=100)
            print(f"{name}: DI atlas {atlas.di.shape[0]}x{atlas.di.shape[1]} windows, DI {atlas.di.min():.2f}.."
                  f"{atlas.di.max():.2f}, wrote {out}")
    return 0
