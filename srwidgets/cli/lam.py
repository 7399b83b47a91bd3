"""``python -m srwidgets lam IMAGE --model NAME --window T,L,S --out lam.png``: a Local Attribution Map, or the
map of any other member of the window-attribution family with ``--method`` (``ig --baseline blurred``,
``gradient``, ``erf``, ``smoothgrad --inner gradient --samples 16``, ``cem --hr HR``, a member of another installed
package). The member's knobs are flags generated from its declaration (:mod:`srwidgets.cli.method_flags`):
``--method ig --help`` lists ig's.

Writes the figure (SR image with the window, map over the image, Gini/DI) and prints Gini and DI; a progress
bar goes to stderr unless ``--no-progress``.
``--window`` is in SR pixels: ``top,left,size`` or ``top,left,height,width``.
"""
from __future__ import annotations

import os
import sys
import warnings

from ..errors import InputError
from ._common import add_progress_option
from .method_flags import add_method_option, check_method_flags, method_knobs

# what matplotlib writes from the extension alone (JPEG through Pillow)
FIGURE_EXTENSIONS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def add_parser(sub):
    p = sub.add_parser("lam", help="Local Attribution Map of one SR window (figure + Gini/DI)")
    p.add_argument("image", help="LR image file, or a bundled image name")
    p.add_argument("--model", default="x4-edsr-lite", help="zoo name or checkpoint path (default: x4-edsr-lite)")
    p.add_argument("--window", required=True, help="SR window top,left,size or top,left,height,width")
    p.add_argument("--out", default="lam.png",
                   help=f"output figure, {'/'.join(e[1:] for e in FIGURE_EXTENSIONS)}, format from the extension "
                        "(default: lam.png)")
    add_method_option(p, "lam")  # and the chosen member's knobs: --steps --sigma --kernel-size --path for lam
    p.add_argument("--hr", default=None, help="the HR image, for methods that compare with it (cem) (file or bundled name); with --downsample, IMAGE "
                                              "itself is the HR image")
    p.add_argument("--device", default=None, help="cpu or cuda (default: where the model is, cpu)")
    p.add_argument("--downsample", action="store_true",
                   help="IMAGE is a high-resolution picture: crop it to a multiple of the model's scale and "
                        "down-sample it with Pillow's 8-bit bicubic resize first (the LR image of the LAM / CEM "
                        "authors' code: HR image -> LR input)")
    p.add_argument("--convert", action="store_true",
                   help="accept grey images (grey repeated into R, G, B) and images with transparency (alpha "
                        "dropped, stored colours kept)")
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def parse_window(text: str) -> tuple:
    """``"top,left,size"`` / ``"top,left,height,width"`` (SR pixels) -> a tuple of ints; sizes must be >= 1 (where
    the window lies is checked by the engine against the SR image).

    >>> parse_window("8, 4, 16")
    (8, 4, 16)
    """
    try:
        vals = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        vals = ()
    if len(vals) not in (3, 4):
        raise InputError(f"--window must be top,left,size or top,left,height,width (SR pixels, integers), got "
                         f"{text!r}")
    if min(vals[2:]) < 1:
        raise InputError(f"--window {text!r}: the window's size must be at least 1 SR pixel (top,left,size or "
                         "top,left,height,width)")
    return vals


def check_flags(args) -> type:
    """Every flag value and output before the model loads: one message naming the flag. Returns the member."""
    from ._common import check_output

    check_output(args.out, FIGURE_EXTENSIONS, image=args.image, what="the LAM figure", models=[("--model", args.model)],
                 images=[args.hr] if args.hr else None)  # --hr is an input too (cem's reference)
    cls = check_method_flags(args)  # --method and its knob flags
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)
    return cls


def load_model(spec: str, device):
    """A checkpoint path (``srwidgets.models.load``) or a zoo name (``srwidgets.zoo.load``)."""
    from ._common import load_model as load

    return load(spec, device or "cpu")


def run(args) -> int:
    from .. import viz
    from ..attribution import attribute
    from ..attribution.base import EMPTY_MAP
    from ._common import load_input, progress_bar

    cls = check_flags(args)
    window = parse_window(args.window)
    model = load_model(args.model, args.device)
    image = load_input(args.image, convert=args.convert)
    hr = load_input(args.hr, convert=args.convert) if args.hr else None
    if args.downsample:
        from ..degrade import pil_bicubic
        from ..models import infer_scale

        s = infer_scale(model)
        image = image[:, :image.shape[1] // s * s, :image.shape[2] // s * s]  # cropped to multiples, as the papers
        if hr is None:  # IMAGE is the HR image: it is CEM's reference
            hr = image
        image = pil_bicubic(image, s)
    knobs = method_knobs(args)
    if getattr(cls, "needs_hr", False):
        if hr is None:
            raise InputError(f"--method {args.method} compares the window with the HR image: pass --hr HR.png, or "
                             "give the HR image as IMAGE with --downsample")
        knobs["hr"] = hr
    with progress_bar(args.method.upper(), "eval", disable=args.no_progress) as bar, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=EMPTY_MAP)  # said below in the CLI's words
        result = attribute(model, image, window, args.method, device=args.device, callback=bar, **knobs)
    title = os.path.basename(args.model)
    if "path" in result.settings:  # integrated along a LAM path: the paper's figure (KDE view, completeness)
        fig = viz.lam_figure(result, titles=[title])
    else:
        fig = viz.methods_figure([result], titles=[f"{title}: {args.method}"])
    # saved here, not by lam_figure(path=...), which always writes PNG: the format follows --out's extension
    fig.savefig(args.out, dpi=100)
    crop = f", network on LR crop {result.crop}" if result.crop else ""
    print(f"Gini {result.gini:.4f}  DI {result.diffusion_index:.2f}  ({result.seconds:.2f}s{crop}); wrote {args.out}", flush=True)
    if not bool((result.map != 0).any()):  # LAM's Gini of a flat map is 0, so DI 100 would read as "everything"
        print(f"note: the {args.method} map of this window is all zero (nothing attributed: e.g. a CAM's ReLU removed "
              "every negative sum), so Gini 0 / DI 100 describe an empty map, not a wide one", file=sys.stderr)
    return 0
