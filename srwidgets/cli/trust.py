"""``python -m srwidgets trust IMAGE --model NAME --window T,L,S [--methods lam,gradient] --out trust.csv``: which
map to trust for one SR window.

Prints one row per method (and the random / edge controls): deletion and insertion AUCs (normalised by the
window's objective), their difference from the random control, Gini / DI, the map's rank correlation with image
edges and, with ``--randomise``, the cascading model-randomisation correlations. ``--out`` writes the table (CSV),
``--figure`` the curves (PNG/PDF/SVG). ``--window`` is in SR pixels: ``top,left,size`` or ``top,left,height,width``.
"""
from __future__ import annotations

from ..errors import InputError
from ._common import add_convert_option, add_progress_option

FIGURE_EXTENSIONS = (".png", ".pdf", ".svg")


def add_parser(sub):
    p = sub.add_parser("trust", help="deletion/insertion AUCs and randomisation checks of attribution methods")
    p.add_argument("image", help="LR image file, or a bundled image name")
    p.add_argument("--model", default="x4-fsrcnn", help="zoo name or checkpoint path (default: x4-fsrcnn)")
    p.add_argument("--window", required=True, help="SR window top,left,size or top,left,height,width")
    p.add_argument("--methods", default=None,
                   help="comma-separated members of the family (default: every one that needs no HR image)")
    p.add_argument("--steps", type=int, default=20, help="points of each curve after fraction 0 (default: 20)")
    p.add_argument("--baseline", default="blur", help="what deleted pixels become: blur, black, mean, uniform "
                                                      "(default: blur)")
    p.add_argument("--modes", default="deletion,insertion", help="deletion,insertion (default: both)")
    p.add_argument("--block", type=int, default=1, help="rank BLOCKxBLOCK blocks of LR pixels (default: 1)")
    p.add_argument("--randomise", action="store_true",
                   help="add the cascading model-randomisation check (one attribution per layer per method)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random control and randomisation (default: 0)")
    p.add_argument("--out", default=None, help="write the table as CSV")
    p.add_argument("--figure", default=None, help="write the curves figure (.png, .pdf or .svg)")
    p.add_argument("--downsample", action="store_true",
                   help="IMAGE is a high-resolution picture: crop it to a multiple of the model's scale and "
                        "down-sample it with Pillow's 8-bit bicubic resize first (the authors' LR image)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: where the model is, cpu)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def _names(text, what):
    names = [v for v in (text or "").replace(" ", "").split(",") if v]
    if not names:
        raise InputError(f"--{what} must be a comma-separated list, got {text!r}")
    return names


def _asks_for_hr(methods) -> bool:
    """Whether ``--methods`` names a member that needs the HR image (cem): only then is it given one, so that the
    default set stays the members that need none."""
    from ..attribution import method_class, methods as known

    return bool(methods) and any(getattr(method_class(m), "needs_hr", False) for m in methods if m in known())


def run(args) -> int:
    from .. import trust
    from ._common import check_distinct, check_output, flag_int, flag_seed, load_input, load_model, progress_bar
    from .lam import parse_window

    reads = dict(image=args.image, models=[("--model", args.model)])
    if args.out:
        check_output(args.out, (".csv",), what="the table", **reads)
    if args.figure:
        check_output(args.figure, FIGURE_EXTENSIONS, what="the figure", flag="--figure", **reads)
    check_distinct({"--out": args.out, "--figure": args.figure})
    window = parse_window(args.window)
    methods = _names(args.methods, "methods") if args.methods else None
    modes = _names(args.modes, "modes")
    flag_int("--block", args.block, 1, hint=" (the side of the LR blocks ranked; 1 ranks pixels)")
    flag_seed(args.seed)
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)
    model = load_model(args.model, args.device or "cpu")
    image = load_input(args.image, convert=args.convert)
    hr = None
    if args.downsample:
        from ..degrade import pil_bicubic
        from ..models import infer_scale

        s = infer_scale(model)
        hr = image[:, :image.shape[1] // s * s, :image.shape[2] // s * s]  # IMAGE is the HR image: cem's reference
        image = pil_bicubic(hr, s)
    h, w = image.shape[1:]
    if args.block > max(h, w):
        raise InputError(f"--block {args.block} is larger than the LR image ({h}x{w} pixels): blocks are squares "
                         f"of LR pixels inside the window's receptive field; use --block <= {max(h, w)} (1 ranks "
                         "single pixels)")
    with progress_bar("trust", "forwards", disable=args.no_progress) as bar:
        df = trust.report(model, image, window, methods, steps=args.steps, baseline=args.baseline, modes=modes,
                          block=args.block, randomise=args.randomise, seed=args.seed, callback=bar,
                          device=args.device, hr=hr if _asks_for_hr(methods) else None)
    shown = df.drop(columns=[c for c in ("kind", "seconds") if c in df])
    print(shown.round(3).to_string())
    for name, why in df.attrs["skipped"].items():
        if "hr=" in why:  # the engine's words: here the HR image is IMAGE with --downsample
            why = "needs the HR image: give the HR picture as IMAGE with --downsample (and cem in --methods)"
        print(f"skipped {name}: {why}")
    if args.out:
        df.to_csv(args.out)
        print(f"wrote {args.out}")
    if args.figure:
        from ..viz.trust import curves_figure

        curves_figure(df).savefig(args.figure, dpi=100)
        print(f"wrote {args.figure}")
    return 0
