"""``python -m srwidgets cem HR --model NAME --window T,L,S --out cem.png``: a Causal Effect Map.

``HR`` is the ground truth (a file or a bundled image name), cropped to a multiple of the scale; the LR input is
its bicubic down-sampling as Pillow's 8-bit ``resize`` does it (scale > 1, the authors' LR image), ``HR`` plus
seeded Gaussian noise (scale 1, the authors' denoising setting: ``--noise 50``), or ``--lr FILE``. Writes the figure
(SR with the window, the signed map in the seismic colour map; ``--lam`` adds LAM's map of the same window and their
rank agreement) and prints the counts of positive / negative / zero blocks, the effect range, skipped blocks and
forward passes. ``--window`` is in SR pixels on the block grid.
"""
from __future__ import annotations

import json
import os

from ..cem.bank import MAX_BANK_SIZE
from ..errors import InputError
from ._common import add_convert_option, add_progress_option
from .lam import FIGURE_EXTENSIONS, parse_window


def add_parser(sub):
    p = sub.add_parser("cem", help="Causal Effect Map of one SR window (intervention, ΔPSNR against the HR image)")
    p.add_argument("image", help="HR ground-truth image file, or a bundled image name")
    p.add_argument("--model", default="x4-fsrcnn", help="zoo name or checkpoint path (default: x4-fsrcnn)")
    p.add_argument("--window", required=True, help="SR window top,left,size or top,left,height,width, multiples "
                                                   "of --block")
    p.add_argument("--out", default="cem.png", help=f"output figure, {'/'.join(e[1:] for e in FIGURE_EXTENSIONS)} "
                                                    "(default: cem.png)")
    p.add_argument("--json", default=None, help="also write the block map and summary to this JSON file")
    p.add_argument("--lr", default=None, help="the LR input file (default: HR down-sampled by the scale)")
    p.add_argument("--noise", type=float, default=None,
                   help="Gaussian noise sigma (0-255) added to the LR input, seeded (default: 50 at scale 1, else 0)")
    p.add_argument("--block", type=int, default=8, help="block side in SR pixels (default: 8)")
    p.add_argument("--coarse", type=int, default=3, help="interventions per block (default: 3)")
    p.add_argument("--fine", type=int, default=50, help="interventions per selected block (default: 50)")
    p.add_argument("--threshold", type=float, default=0.01, help="dB (default: 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seeds the patch bank, the draws and the noise (default: 0)")
    p.add_argument("--patches", default=None, help="a folder of HR images to cut the patch bank from (default: "
                                                   "the bundled images)")
    p.add_argument("--bank-size", type=int, default=None, help="patches in the bank (default: 1024)")
    p.add_argument("--lam", action="store_true", help="LAM beside CEM on the same window, with their Spearman")
    p.add_argument("--device", default=None, help="cpu or cuda (default: where the model is, cpu)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def check_flags(args) -> None:
    """Every output and flag value before the model loads, messages naming the flag. The outputs are never an
    input: IMAGE, --lr, a file of the --patches folder or the --model checkpoint, nor each other."""
    from ._common import check_distinct, check_output, flag_int, flag_number

    reads = dict(image=args.image, images=[f for f in (args.lr, args.patches) if f],
                 models=[("--model", args.model)])
    check_output(args.out, FIGURE_EXTENSIONS, what="the CEM figure", **reads)
    if args.json is not None:
        check_output(args.json, (".json",), what="the CEM numbers", flag="--json", **reads)
    check_distinct({"--out": args.out, "--json": args.json})
    if args.noise is not None:
        flag_number("--noise", args.noise, 0.0, " (Gaussian sigma on the 0-255 scale; the authors use 50 at scale 1)")
    if args.bank_size is not None:
        flag_int("--bank-size", args.bank_size, 1, MAX_BANK_SIZE,
                 " (patches in the bank; the authors use 1,024, and more only takes longer to cut)")
    if args.patches is not None and not os.path.isdir(args.patches):
        raise InputError(f"--patches {args.patches!r} is not a folder; give a folder of HR images")
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)


def run(args) -> int:
    import torch

    from .. import degrade
    from ..cem import DEFAULT_BANK_SIZE, CEM, cem_figure, patch_bank, rank_agreement
    from ..models import infer_scale
    from ._common import load_input, load_inputs, load_model, progress_bar

    check_flags(args)
    window = parse_window(args.window)
    model = load_model(args.model, args.device or "cpu")
    s = infer_scale(model)
    hr = load_input(args.image, convert=args.convert)
    hr = hr[:, :hr.shape[1] // s * s, :hr.shape[2] // s * s]
    if args.lr is not None:
        lr = load_input(args.lr, convert=args.convert)
    else:
        lr = degrade.pil_bicubic(hr, s) if s > 1 else hr.clone()
    noise = args.noise if args.noise is not None else (50.0 if s == 1 and args.lr is None else 0.0)
    if noise > 0:
        lr = degrade.add_noise(lr, noise, torch.Generator().manual_seed(args.seed))
    bank = None
    if args.patches is not None or args.bank_size is not None:
        images = None
        if args.patches is not None:
            images, _ = load_inputs(args.patches, convert=args.convert)
        size = args.bank_size if args.bank_size is not None else DEFAULT_BANK_SIZE
        bank = patch_bank(args.block, s, images=images, size=size, seed=args.seed)
    with progress_bar("CEM", "forward", disable=args.no_progress) as bar:
        cem = CEM(model, s, args.device)
        result = cem.attribute(lr, hr, window, block=args.block, coarse=args.coarse, fine=args.fine,
                               threshold=args.threshold, patches=bank, seed=args.seed, callback=bar)
    lam = None
    if args.lam:
        from ..lam import LAM

        with progress_bar("LAM", "eval", disable=args.no_progress) as bar:
            lam = LAM(model, s, args.device).attribute(lr, window, callback=bar)
    sr = cem.prepared.super_resolve(cem.prepared.image(lr)).clamp(0, 1)
    fig = cem_figure(result, lr=lr, sr=sr, lam=lam, title=f"{os.path.basename(args.model)} ")
    fig.savefig(args.out, dpi=100)
    c, (lo, hi) = result.counts, result.effect_range
    line = (f"blocks +{c['positive']} -{c['negative']} 0:{c['zero']}  range {lo:.2f}..{hi:.2f} dB  window PSNR "
            f"{result.psnr:.2f} dB  skipped {result.skipped}  passes {result.passes}  ({result.seconds:.2f}s)")
    if lam is not None:
        line += f"  Spearman with LAM {rank_agreement(result, lam):.3f}"
    if args.json is not None:
        with open(args.json, "w") as f:
            json.dump(dict(window=list(result.window), block=result.block, scale=s, psnr=result.psnr,
                           counts=c, effect_range=[lo, hi], skipped=result.skipped, passes=result.passes,
                           settings=result.settings, effects=result.map.tolist()), f, indent=1)
    print(f"{line}; wrote {args.out}")
    return 0
