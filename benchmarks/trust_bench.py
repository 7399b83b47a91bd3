"""Stratified deletion: a plain loop (each method alone with its own controls, one imputation and one forward per
input) against the batched engine (every method and the controls of one window in one batch of crop forwards, the
ROAD systems of a chunk solved as one sparse block system).

The maps are computed once beforehand, so only the test is timed. Prints seconds per window and method for both,
the speed-up, and the largest score difference (rounding only: the same inputs, forwarded in other batch sizes).
Not a test.

    .venv/bin/python benchmarks/trust_bench.py [--models x4-fsrcnn,x4-edsr-lite,x4-rfdn] [--device cuda]
"""
from __future__ import annotations

import argparse
import time


def main(argv=None):
    from srwidgets import attribute, data, trust, zoo
    from srwidgets.trust.curves import window_engine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="x4-fsrcnn,x4-edsr-lite,x4-rfdn")
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--window", default="98,84,16")
    ap.add_argument("--methods", default="gradient,erf,ig,lam,smoothgrad")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    window = tuple(int(v) for v in args.window.split(","))
    methods = args.methods.split(",")
    print(f"{'model':13s} {'methods':>7s} {'loop s/method':>14s} {'batched s/method':>17s} {'speed-up':>9s} "
          f"{'forwards loop':>14s} {'batched':>8s} {'max |Δscore|':>13s}")
    for name in args.models.split(","):
        model = zoo.load(name, device=args.device)
        lr = data.lr_image(args.image, 4)
        maps = {m: attribute(model, lr, window, m, device=args.device).map for m in methods}
        eng = window_engine(model, device=args.device)
        x, win = eng.inputs(lr, window)
        box = eng.crop_for(x, win)
        trust.score_rankings(eng, x, win, box, {methods[0]: maps[methods[0]]}, seeds=args.seeds)  # warm-up
        t0 = time.perf_counter()
        loop, forwards = {}, 0
        for m in methods:
            r = trust.stratified_deletion(model, lr, window, maps[m], seeds=args.seeds, device=args.device,
                                          chunk_size=1)
            loop[m], forwards = r["score"], forwards + r["forwards"]
        t_loop = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = trust.score_rankings(eng, x, win, box, maps, seeds=args.seeds)
        t_batch = time.perf_counter() - t0
        diff = max(abs(loop[m] - r["curves"][m]["score"]) for m in methods)
        n = len(methods)
        print(f"{name:13s} {n:7d} {t_loop / n:14.2f} {t_batch / n:17.2f} {t_loop / t_batch:8.1f}x {forwards:14d} "
              f"{r['forwards']:8d} {diff:13.1e}")


if __name__ == "__main__":
    main()
