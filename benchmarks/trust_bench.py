"""Deletion curves: a plain loop (one forward per curve point) against batched forwards of the crop.

One window, a 20-point deletion curve (21 forwards) per method of the family and per control, on each model; the
maps are computed once beforehand, so only the curve is timed. Prints a table (seconds, speed-up, and the largest
score difference between the two, which must be rounding only). Not a test.

    .venv/bin/python benchmarks/trust_bench.py [--models x4-fsrcnn,x4-rfdn] [--device cuda] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    from srwidgets import attribute, data, trust, zoo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="x4-fsrcnn,x4-rfdn")
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--window", default="98,84,16")
    ap.add_argument("--methods", default="gradient,erf,ig,lam,smoothgrad")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    window = tuple(int(v) for v in args.window.split(","))
    print(f"{'model':12s} {'ranking':11s} {'loop s':>8s} {'batched s':>10s} {'speed-up':>9s} {'batches':>8s} "
          f"{'max |Δscore|':>13s} {'AUC norm':>9s}")
    for name in args.models.split(","):
        model = zoo.load(name, device=args.device)
        lr = data.lr_image(args.image, 4)
        sources = {m: attribute(model, lr, window, m, device=args.device) for m in args.methods.split(",")}
        sources.update(random="random", edge="edge")
        for label, src in sources.items():
            timings = {}
            curves = {}
            for kind, chunk in (("loop", 1), ("batched", None)):
                trust.deletion(model, lr, window, src, steps=args.steps, device=args.device, chunk_size=chunk)
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    curves[kind] = trust.deletion(model, lr, window, src, steps=args.steps, device=args.device,
                                                  chunk_size=chunk)
                    best = min(best, time.perf_counter() - t0)
                timings[kind] = best
            diff = float(np.max(np.abs(np.subtract(curves["loop"]["scores"], curves["batched"]["scores"]))))
            print(f"{name:12s} {label:11s} {timings['loop']:8.3f} {timings['batched']:10.3f} "
                  f"{timings['loop'] / timings['batched']:8.2f}x {curves['batched']['batches']:8d} {diff:13.2e} "
                  f"{curves['batched']['auc_normalised']:9.3f}")


if __name__ == "__main__":
    main()
