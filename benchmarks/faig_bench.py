"""FAIG speed: the authors' per-image, per-step loop against srwidgets' engine, same numbers.

    python benchmarks/faig_bench.py                  # zoo pair, 100 steps, 8 images of 64×64 LR (eq. 7: noise vs blur)
    python benchmarks/faig_bench.py --quick          # 20 steps, 4 images of 32×32 LR
    python benchmarks/faig_bench.py --device cuda --images 16 --vmap

Inputs: ``--images`` HR crops of ``2·lr_size`` pixels from the bundled images, degraded with FAIG's presets
(``srwidgets.degrade.faig_degradation``: noise σ 0.1 and blur σ 2, ×1/2 bilinear, 8-bit). Noise filters by eq. 7:
``s_f(noisy) − s_f(blurry)`` per image, averaged. It prints seconds for

(a) ``authors``: the authors' loop — one deep copy of the target; per image, per step: the interpolated state dict
    ``α·θ̄ + (1 − α)·θ`` (their ``α = step/M``, ``step = 0..M−1``: the same points as ``θ̄ + (k/M)(θ − θ̄)``,
    ``k = 1..M``), ``load_state_dict``, ``zero_grad``, forward, ``MSELoss(reduction='sum')``, ``backward``, the conv
    weights' ``.grad`` summed; then ``(θ̄ − θ)·Σ/M``, ``|·|`` summed per kernel, noisy minus blurry;
(b) ``engine``: ``FAIG(baseline, target).attribute(noisy, hr, lr_other=blurry, steps)`` on a fresh engine (the
    per-sample path the device picks: an input-by-input loop on CPU, ``torch.func.vmap`` on CUDA);
(c) with ``--vmap`` (or ``--no-vmap`` on CUDA): the engine with the other per-sample path;

their ratio to (a), the largest score difference relative to the largest score, and how many of (a)'s top-1 %
filters each ranks in its own top 1 %. A second table times both rankings of the paper (noise filters, then blur
filters ``s_f(blurry) − s_f(noisy)``): the authors' script runs its loop once per ranking, the engine computes each
input's ``s_f`` once and reuses it (cache). Nothing is asserted: this prints tables.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srwidgets import data, zoo  # noqa: E402
from srwidgets.degrade import faig_degradation  # noqa: E402
from srwidgets.faig import FAIG  # noqa: E402


def authors_loop(baseline, target, noisy, blurry, hr, steps, device):  # noisy, blurry: img1, img2 of their faig()
    """FAIG as the authors' script computes it (one image pair at a time), eq. 7 averaged over images."""
    net = copy.deepcopy(target).to(device).eval()
    sb = {k: v.to(device) for k, v in baseline.state_dict().items()}
    st = {k: v.to(device) for k, v in target.state_dict().items()}
    convs = [n for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    criterion = torch.nn.MSELoss(reduction="sum")
    total = 0.0
    for x1, x2, y in zip(noisy, blurry, hr):
        x1, x2, y = (t[None].to(device) for t in (x1, x2, y))
        grads = [0.0, 0.0]
        for step in range(steps):
            alpha = step / steps
            net.load_state_dict({k: alpha * sb[k] + (1 - alpha) * st[k] for k in sb})
            for j, x in enumerate((x1, x2)):
                net.zero_grad()
                criterion(y, net(x)).backward()
                grads[j] = grads[j] + torch.cat([net.get_submodule(n).weight.grad.reshape(-1, *net.get_submodule(
                    n).weight.shape[2:]) for n in convs])
        diff = torch.cat([(sb[f"{n}.weight"] - st[f"{n}.weight"]).reshape(-1, *sb[f"{n}.weight"].shape[2:])
                          for n in convs])
        s1, s2 = ((g * diff / steps).abs().flatten(1).sum(1) for g in grads)
        total = total + (s1 - s2).double().cpu().numpy()
    return total / len(hr)


def crops(n, size):
    """``n`` HR crops ``[3, size, size]`` on a grid over the bundled images."""
    out, names = [], data.images()
    for j in range(n):
        img = data.image(names[j % len(names)], 2)
        k = j // len(names)
        top = min(img.shape[1] - size, (k * 97) % max(1, img.shape[1] - size))
        left = min(img.shape[2] - size, (k * 151 + 40) % max(1, img.shape[2] - size))
        out.append(img[:, top:top + size, left:left + size])
    return torch.stack(out)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--lr-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--vmap", action="store_true", help="also time the vmap engine on CPU")
    ap.add_argument("--no-vmap", action="store_true", help="also time the loop engine on CUDA")
    ap.add_argument("--quick", action="store_true", help="20 steps, 4 images of 32×32 LR")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.images, args.lr_size = 20, 4, 32
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    baseline, target = zoo.faig_pair()
    hr = crops(args.images, 2 * args.lr_size)
    noisy = faig_degradation("noise", 2)(hr, seed=0)
    blurry = faig_degradation("blur", 2)(hr)
    print(f"zoo pair {zoo.FAIG_PAIR}, {args.images} images of {args.lr_size}×{args.lr_size} LR, {args.steps} steps, "
          f"eq. 7 (noisy − blurry): {2 * args.images * args.steps} forward+backward passes; device {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    ref, t_ref = timed(lambda: authors_loop(baseline, target, noisy, blurry, hr, args.steps, device), device)
    n_top = int(len(ref) * 0.01)
    top_ref = set(np.argsort(-ref, kind="stable")[:n_top])
    rows = [("authors' loop", t_ref, 1.0, 0.0, n_top)]
    variants = [("engine", None)]
    if args.vmap and device.type == "cpu":
        variants.append(("engine (vmap)", True))
    if args.no_vmap and device.type == "cuda":
        variants.append(("engine (loop)", False))
    for name, vmap in variants:
        engine = FAIG(baseline, target, device=device, vmap=vmap)
        result, t = timed(lambda: engine.attribute(noisy, hr, lr_other=blurry, steps=args.steps), device)
        err = float(np.abs(result.scores - ref).max() / np.abs(ref).max())
        rows.append((f"{name}{' [vmap]' if engine.vmap else ''}", t, t_ref / t, err,
                     len(top_ref & set(result.ranking[:n_top]))))
        if vmap is None:  # the default engine also ranks the blur filters, from its cache
            blur, t_blur = timed(lambda: engine.attribute(blurry, hr, lr_other=noisy, steps=args.steps), device)
            t_both = t + t_blur
    print(f"\n{'noise filters':<22}{'seconds':>10}{'speed-up':>10}{'max |Δscore|/max':>18}{'top-1% agree':>15}")
    for name, t, ratio, err, agree in rows:
        print(f"{name:<22}{t:>10.2f}{ratio:>9.2f}x{err:>18.2e}{agree:>9d}/{n_top}")
    blur_ref, t_blur_ref = timed(lambda: authors_loop(baseline, target, blurry, noisy, hr, args.steps, device), device)
    t_ref_both = t_ref + t_blur_ref
    err = float(np.abs(blur.scores - blur_ref).max() / np.abs(blur_ref).max())
    print(f"\n{'noise + blur filters':<22}{'seconds':>10}{'speed-up':>10}{'max |Δscore|/max':>18}")
    print(f"{'authors loop, twice':<22}{t_ref_both:>10.2f}{1:>9.2f}x{0:>18.2e}")
    print(f"{'engine':<22}{t_both:>10.2f}{t_ref_both / t_both:>9.2f}x{err:>18.2e}")

if __name__ == "__main__":
    main()
