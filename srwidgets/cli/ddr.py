"""``python -m srwidgets ddr --model NAME --images DIR --out ddr.png``: Deep Degradation Representations.

Prints the CHI table per layer (by degradation and by image, on the pooled features) and writes the figure: the
deepest layer's embedding coloured by degradation, and the CHI-by-layer curves. ``--images`` is a folder, an image
file, or comma-separated files / bundled image names (default: every bundled image). A progress bar (inputs through
the network) goes to stderr unless ``--no-progress``.
"""
from __future__ import annotations

import os
import sys
import warnings

from ..errors import InputError
from ._common import add_convert_option, add_progress_option


def add_parser(sub):
    p = sub.add_parser("ddr", help="Deep Degradation Representations: CHI per layer (table + figure)")
    p.add_argument("--model", default="x2-srresnet-bicubic",
                   help="zoo name or checkpoint path (default: x2-srresnet-bicubic)")
    p.add_argument("--images", default=None,
                   help="folder of HR images, an image file, or comma-separated files / bundled image names "
                        "(default: the bundled images)")
    p.add_argument("--out", default="ddr.png", help="output figure, png/pdf/svg/jpg (default: ddr.png)")
    p.add_argument("--layers", default=None, help="comma-separated layer names (default: all, shallow to deep)")
    p.add_argument("--method", default="pca", choices=["pca", "tsne", "umap"],
                   help="2-D embedding of the figure (default: pca; tsne as in the paper)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise degradation and of t-SNE (default: 0)")
    p.add_argument("--csv", default=None, help="also write the table as CSV")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cpu)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def image_list(spec):
    """``--images``: ``None`` -> the bundled names; a folder or an existing file as it is; else comma-separated."""
    from .. import data

    if spec is None:
        return data.images()
    if os.path.exists(spec):
        return [spec]
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise InputError(f"--images {spec!r} names no image; give a folder, files or bundled names "
                         f"({', '.join(data.images())})")
    return items


def format_table(result) -> str:
    rows = [("layer", "depth", "CHI by degradation", "CHI by image")]
    rows += [(n, str(result.depth[n]), f"{result.chi_degradation[n]:.4g}", f"{result.chi_image[n]:.4g}")
             for n in result.layers]
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    return "\n".join("  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def check_flags(args, images) -> None:
    """Every flag value and output before the model loads: one message naming the flag."""
    from ._common import check_distinct, check_output, flag_number, flag_seed
    from .lam import FIGURE_EXTENSIONS

    reads = dict(images=images, models=[("--model", args.model)])
    check_output(args.out, FIGURE_EXTENSIONS, what="the DDR figure", **reads)
    if args.csv is not None:
        check_output(args.csv, (".csv",), what="the CHI table", flag="--csv", **reads)
    check_distinct({"--out": args.out, "--csv": args.csv})
    flag_number("--perplexity", args.perplexity, hint=" (t-SNE's; the paper's setting is 30)", positive=True)
    flag_seed(args.seed)
    if args.layers is not None and not [s for s in args.layers.split(",") if s.strip()]:
        raise InputError(f"--layers {args.layers!r} names no layer; give comma-separated layer names, or leave "
                         "--layers out for all of them")
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)


def run(args) -> int:
    from .. import ddr, viz
    from ._common import load_inputs, load_model, progress_bar

    images = image_list(args.images)
    check_flags(args, images)
    if not args.convert:  # a grey / transparent image: the fix is --convert, said before the model loads
        load_inputs(images)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    model = load_model(args.model, args.device or "cpu")
    with warnings.catch_warnings(record=True) as caught:  # printed below as notes, once each
        warnings.simplefilter("always", UserWarning)
        engine = ddr.DDR(model, device=args.device)
        inputs = images
        if args.convert:  # loaded here, converted; named as the files are
            import dataclasses

            hrs, names = load_inputs(images, convert=True)
            built = ddr.build_inputs(hrs, None, engine.scale, args.seed)
            inputs = dataclasses.replace(built, image_names=names)
        with progress_bar({"features": "DDR features"}, {"features": "input"}, disable=args.no_progress) as bar:
            result = engine.analyse(inputs, layers=layers, seed=args.seed, callback=bar)
        fig = viz.ddr_figure(result, method=args.method, perplexity=args.perplexity, seed=args.seed,
                                 title=f"{os.path.basename(args.model)}: {len(result.image_names)} images x "
                                       f"{len(result.settings['degradations'])} degradations")
    for note in dict.fromkeys(result.notes + [str(w.message) for w in caught]):
        print(f"note: {note}", file=sys.stderr)
    fig.savefig(args.out, dpi=100)
    print(format_table(result))
    if args.csv is not None:
        result.table().to_csv(args.csv, index=False)
    wrote = f"{args.out}" + (f" and {args.csv}" if args.csv else "")
    print(f"{len(result.labels)} inputs ({', '.join(result.settings['degradations'])}) in {result.seconds:.2f}s; "
          f"CHI on the pooled features; wrote {wrote}")
    return 0
