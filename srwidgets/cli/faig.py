"""``python -m srwidgets faig --baseline NAME --target NAME --degradation noise --images DIR --out faig.json``: FAIG.

Scores every conv filter of the target (blind-SR) model by Filter Attribution based on Integrated Gradients against
its baseline (non-blind) model, ranks them for one degradation (the paper's eq. 7: the degradation minus the other
one, per image, averaged), and runs the masking experiment: the baseline's values copied into the target's top
filters chosen by FAIG, at random and by weight change, measured on inputs of both degradations. ``--baseline`` and
``--target`` are zoo names or checkpoint paths of one architecture. ``--images`` as ``ddr``: a folder, an image file,
or comma-separated files / bundled image names (default: every bundled image).

Prints the top filters, how many of the top 1 % each conv layer holds, the completeness figure and the masking
table; writes everything as JSON (``--out x.json``), or as CSV (``--out x.csv``: the per-filter scores, and the
masking table in ``x_masking.csv`` next to it). Progress bars (tqdm: path evaluations, then masked models) go to
stderr unless ``--no-progress``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

from ..errors import InputError
from ._common import add_convert_option, add_progress_option

OUT_EXTENSIONS = (".json", ".csv")
TOP_FRACTION = 0.01  # the paper's "discriminative filters": the per-layer summary counts the top 1 %
SHOWN = 10  # top filters printed


def add_parser(sub):
    from ..faig import OTHER
    from ..zoo import FAIG_PAIR

    p = sub.add_parser("faig", help="FAIG: which filters of a blind-SR model handle one degradation "
                                    "(scores, ranking, masking table)")
    p.add_argument("--baseline", default=FAIG_PAIR[0],
                   help=f"the non-blind model: zoo name or checkpoint path (default: {FAIG_PAIR[0]})")
    p.add_argument("--target", default=FAIG_PAIR[1],
                   help="the blind model fine-tuned from the baseline, same architecture: zoo name or checkpoint "
                        f"path (default: {FAIG_PAIR[1]})")
    p.add_argument("--degradation", default="noise", choices=list(OTHER),
                   help="rank the filters for this degradation, contrasted with the other one (default: noise)")
    p.add_argument("--images", default=None,
                   help="clean HR images: a folder, an image file, or comma-separated files / bundled image names "
                        "(default: the bundled images)")
    p.add_argument("--steps", type=int, default=100, help="path steps M in parameter space (default: 100, the paper)")
    p.add_argument("--fractions", default="0.01,0.03,0.05,0.1",
                   help="shares of the filters masked, comma-separated, each in (0, 1] (default: 0.01,0.03,0.05,0.1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the noise (image j: seed + j) and of the random ranking (default: 0)")
    p.add_argument("--crop", type=int, default=None, metavar="N",
                   help="centre-crop each HR image to NxN first, to keep runs short (time grows with the pixels; "
                        "default: whole images)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument("--out", default="faig.json",
                   help="output file: .json (everything), or .csv (per-filter scores; the masking table goes to "
                        "NAME_masking.csv next to it) (default: faig.json)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


# -- checks before any computation -----------------------------------------------------------------------------------
def parse_fractions(text: str) -> list:
    """``"0.01,0.03"`` -> ``[0.01, 0.03]``, each in (0, 1] (the masking experiment masks at least one filter).

    >>> parse_fractions("0.01, 0.1,")
    [0.01, 0.1]
    """
    items = [s.strip() for s in text.split(",") if s.strip()]
    try:
        values = [float(s) for s in items]
    except ValueError:
        values = []
    if not values:
        raise InputError(f"--fractions must be comma-separated numbers in (0, 1] (shares of the filters, e.g. "
                         f"0.01,0.03,0.05,0.1), got {text!r}")
    bad = [s for s, v in zip(items, values) if not (math.isfinite(v) and 0 < v <= 1)]
    if bad:
        raise InputError(f"--fractions: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} outside (0, 1]; each "
                         "fraction is a share of the filters masked (0.01 = the top 1 %; 0 masks none)")
    return values


def masking_csv_path(out: str) -> str:
    """Where ``--out x.csv`` puts the masking table: ``x_masking.csv``.

    >>> masking_csv_path("runs/faig.csv")
    'runs/faig_masking.csv'
    """
    root, ext = os.path.splitext(out)
    return f"{root}_masking{ext}"


def check_outputs(args, images) -> list:
    """The files this run writes, checked before computing: extension, folder, never an input (an image, a file of
    an ``--images`` folder, the ``--baseline`` / ``--target`` checkpoint), never each other."""
    from ._common import check_distinct, check_output

    outs = [args.out] + ([masking_csv_path(args.out)] if args.out.lower().endswith(".csv") else [])
    what = "the FAIG scores, ranking and masking table"
    for out in outs:
        check_output(out, OUT_EXTENSIONS, what=what, images=images,
                     models=[("--baseline", args.baseline), ("--target", args.target)])
    check_distinct(dict(zip(["--out", "--out's masking table"], outs)))
    return outs


def load_pair(args):
    """The two models, errors naming ``--baseline`` / ``--target``, then the architecture check."""
    from ..zoo.lookup import model_pair
    from ._common import load_model

    models = []
    for which in ("baseline", "target"):
        spec = getattr(args, which)
        try:
            models.append(load_model(spec, args.device or "cpu"))
        except InputError as e:
            msg = str(e)  # load_model words its errors for sr/lam's --model
            msg = f"--{which} {msg[len('--model '):]}" if msg.startswith("--model ") else f"--{which} {spec!r}: {msg}"
            raise InputError(msg) from None
    return model_pair(*models)


def load_images(images, crop, scale, convert: bool = False):
    """HR images ``[3, H, W]`` (centre-cropped to ``crop``) and their names; each large enough for the blur."""
    from ..data import centre_crop
    from ._common import load_inputs

    hrs, names = load_inputs(images, convert)
    need = -(-max(11, scale) // scale) * scale  # smallest multiple of the scale the 21x21 blur accepts
    if crop is not None:
        if crop < need:
            raise InputError(f"--crop {crop} is too small: FAIG's blur needs HR images of at least {need}x{need} "
                             f"pixels at x{scale}")
        hrs = [centre_crop(x, min(crop, x.shape[1]), min(crop, x.shape[2])) for x in hrs]
    for x, name in zip(hrs, names):
        if min(x.shape[1], x.shape[2]) < need:
            raise InputError(f"HR image {name!r} is {x.shape[1]}x{x.shape[2]}: too small for FAIG's 21x21 blur; "
                             f"use images of at least {need}x{need} pixels")
    return hrs, names


# -- the summary -----------------------------------------------------------------------------------------------------
def _table(rows, left=1) -> str:
    """Columns padded; the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) if k < left else c.rjust(w) for k, (c, w) in
                                       enumerate(zip(r, widths))).rstrip() for r in rows)


def format_summary(result, masking, degradation: str, other: str) -> str:
    from ..faig import METHODS

    lines = [f"top {min(SHOWN, len(result.filters))} {degradation} filters (score: mean over images of "
             f"s_f({degradation}) - s_f({other})):"]
    rows = [("rank", "layer", "out", "in", "score")]
    for k, j in enumerate(result.ranking[:SHOWN]):
        layer, o, i = result.filters[j]
        rows.append((str(k + 1), layer, str(o), str(i), f"{result.scores[j]:.4g}"))
    lines.append(_table(rows, left=2))
    summary = result.layer_summary(TOP_FRACTION)
    n_top = sum(v["top"] for v in summary.values())
    lines.append(f"top {TOP_FRACTION:.0%} ({n_top} of {len(result.filters)} filters) by conv layer:")
    rows = [("layer", "filters", "top", "share of top", "share of layer")]
    rows += [(name, str(v["filters"]), str(v["top"]), f"{v['top_share']:.0%}", f"{v['layer_share']:.1%}")
             for name, v in summary.items()]
    lines.append(_table(rows))
    lines.append(f"completeness: {result.completeness:.3g} (mean relative gap between the summed signed terms and "
                 f"L(baseline) - L(target); shrinks as 1/steps, steps={result.steps})")
    inputs = list(dict.fromkeys(r["input"] for r in masking))
    lines.append(f"masking: the baseline's values in the target's top filters ({degradation} ranking); change vs the "
                 "target on inputs of each degradation, mean over images (PSNR drop dB, output diff = gradient-map "
                 "MSE x 1000):")
    head = ["method", "fraction", "filters"]
    for e in inputs:
        head += [f"{e} PSNR drop", f"{e} output diff"]
    rows = [tuple(head)]
    cells = {(r["method"], r["fraction"], r["input"]): r for r in masking}
    for m in METHODS:
        for frac in dict.fromkeys(r["fraction"] for r in masking):
            if (m, frac, inputs[0]) not in cells:
                continue
            row = [m, f"{frac:g}", str(cells[m, frac, inputs[0]]["n_filters"])]
            for e in inputs:
                c = cells[m, frac, e]
                row += [f"{c['psnr_drop']:.3f}", f"{c['output_diff']:.3f}"]
            rows.append(tuple(row))
    lines.append(_table(rows))
    return "\n".join(lines)


# -- writing ---------------------------------------------------------------------------------------------------------
def write_outputs(outs, payload, result) -> None:
    if outs[0].lower().endswith(".json"):
        with open(outs[0], "w") as f:
            json.dump(payload, f, indent=1)
            f.write("\n")
        return
    import csv

    position = {int(j): k + 1 for k, j in enumerate(result.ranking)}
    with open(outs[0], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "layer", "out", "in", "score", "rank"])
        for j, ((layer, o, i), s) in enumerate(zip(result.filters, result.scores)):
            w.writerow([j, layer, o, i, repr(float(s)), position[j]])
    with open(outs[1], "w", newline="") as f:
        cols = list(payload["masking"][0]) if payload["masking"] else []
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(payload["masking"])


def run(args) -> int:
    from .. import faig
    from ..engine.devices import parse_device
    from ._common import flag_seed, flag_steps, progress_bar
    from .ddr import image_list

    t0 = time.perf_counter()
    images = image_list(args.images)
    outs = check_outputs(args, images)
    flag_steps(args.steps, paper=100)
    fractions = parse_fractions(args.fractions)
    flag_seed(args.seed)
    if args.crop is not None and args.crop < 1:
        raise InputError(f"--crop must be a positive number of pixels, got {args.crop}")
    if args.device is not None:
        parse_device(args.device)
    baseline, target = load_pair(args)
    deg, other = args.degradation, faig.OTHER[args.degradation]
    progress = progress_bar(units={"faig": "eval", "masking": "model"}, disable=args.no_progress)
    # the engine the masking experiment uses (cached by the models' weights): its per-input scores are reused there,
    # so the FAIG ranking below is computed once and is the one the masking table masks
    engine = faig.engine_for(baseline, target, args.device)
    s = engine.scale
    hrs, names = load_images(images, args.crop, s, args.convert)
    hrs = faig.hr_tensors(hrs, s)
    lrs = faig.degraded_inputs(hrs, (deg, other), s, args.seed)  # the masking experiment's inputs
    print(f"FAIG {deg} filters: {len(engine.filters)} filters, {len(hrs)} images "
          f"({', '.join(f'{x.shape[1]}x{x.shape[2]}' for x in hrs[:4])}{', ...' if len(hrs) > 4 else ''}), "
          f"{args.steps} steps, on {engine.device}", file=sys.stderr, flush=True)
    with progress:
        result = engine.attribute(lrs[deg], hrs, lrs[other], steps=args.steps, callback=progress)
        masking = faig.masking_experiment(baseline, target, hrs, fractions, faig.METHODS, [deg, other], args.steps,
                                          args.seed, args.device, progress, rank_for=[deg]).to_dict("records")
    payload = dict(baseline=args.baseline, target=args.target, degradation=deg, other=other, steps=args.steps,
                   seed=args.seed, crop=args.crop, fractions=fractions, images=names)
    payload.update(result.to_dict(TOP_FRACTION))
    payload.update(masking=masking, faig_seconds=result.seconds, seconds=time.perf_counter() - t0)
    write_outputs(outs, payload, result)
    print(f"FAIG: {args.target} (target) vs {args.baseline} (baseline), {deg} vs {other}, {len(names)} images, "
          f"{args.steps} steps, {payload['seconds']:.1f}s")
    print(format_summary(result, masking, deg, other))
    print(f"wrote {' and '.join(outs)}")
    return 0
