"""``python -m srwidgets trust IMAGE --model NAME --window T,L,S [--methods lam,gradient] --out trust.csv``: which
map to trust for one SR window.

Prints one row per method (and the random / edge controls): deletion and insertion AUCs (normalised by the
window's objective), their difference from the random control, Gini / DI, the map's rank correlation with image
edges and, with ``--randomise``, the cascading model-randomisation correlations. ``--out`` writes the table (CSV),
``--figure`` the curves (PNG/PDF/SVG). ``--window`` is in SR pixels: ``top,left,size`` or ``top,left,height,width``.
"""
from __future__ import annotations

from ..errors import InputError
from ._common import add_progress_option

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
                   help="IMAGE is a high-resolution picture: bicubic-down-sample it by the model's scale first")
    p.add_argument("--device", default=None, help="cpu or cuda (default: where the model is, cpu)")
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def _names(text, what):
    names = [v for v in (text or "").replace(" ", "").split(",") if v]
    if not names:
        raise InputError(f"--{what} must be a comma-separated list, got {text!r}")
    return names


def run(args) -> int:
    from .. import trust
    from ._common import check_output, load_input, load_model, progress_bar
    from .lam import parse_window

    if args.out:
        check_output(args.out, (".csv",), image=args.image, what="the table")
    if args.figure:
        check_output(args.figure, FIGURE_EXTENSIONS, image=args.image, what="the figure")
    window = parse_window(args.window)
    methods = _names(args.methods, "methods") if args.methods else None
    modes = _names(args.modes, "modes")
    model = load_model(args.model, args.device or "cpu")
    image = load_input(args.image)
    if args.downsample:
        from ..degrade import bicubic_down
        from ..models import infer_scale

        image = bicubic_down(image, infer_scale(model)).clamp(0, 1)
    with progress_bar("trust", "forwards", disable=args.no_progress) as bar:
        df = trust.report(model, image, window, methods, steps=args.steps, baseline=args.baseline, modes=modes,
                          block=args.block, randomise=args.randomise, seed=args.seed, callback=bar,
                          device=args.device)
    shown = df.drop(columns=[c for c in ("kind", "seconds") if c in df])
    print(shown.round(3).to_string())
    for name, why in df.attrs["skipped"].items():
        print(f"skipped {name}: {why}")
    if args.out:
        df.to_csv(args.out)
        print(f"wrote {args.out}")
    if args.figure:
        from ..viz.trust import curves_figure

        curves_figure(df).savefig(args.figure, dpi=100)
        print(f"wrote {args.figure}")
    return 0
