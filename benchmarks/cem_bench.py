"""CEM: the authors' scheme (every intervention a whole-image forward pass, one at a time, PSNR on uint8 arrays)
against the engine (batched, no gradients, on the verified receptive-field crop), with the same patches and draws.

Prints one table row per model: forward passes, seconds of each, the time ratio and the largest map difference
(dB). Not a test. ``python benchmarks/cem_bench.py [--models x4-fsrcnn,x4-edsr-lite] [--hr 128] [--window 32]``;
the authors' 64² window on a 256² HR image is ``--hr 256 --window 64`` (slow on a CPU: ~7-8k whole-image passes).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from srwidgets import data, degrade, zoo
from srwidgets.cem import CEM, draws, patch_bank


def authors_loop(model, lr, hr, window, block, coarse, fine, threshold, bank, seed, device):
    """The authors' CEM, one whole-image intervention per forward pass, in their order and tests."""
    s = model.scale
    b = block // s
    rows, cols = -(-lr.shape[1] // b), -(-lr.shape[2] // b)
    ci, fi = draws(seed, rows * cols, coarse, fine, bank.shape[0])
    t, l, h, w = window
    gt = np.uint8(np.round(hr[:, t:t + h, l:l + w].permute(1, 2, 0).numpy() * 255)).astype(np.float64)
    passes = 0

    def psnr(x):
        nonlocal passes
        passes += 1
        with torch.no_grad():
            y = model(x[None].to(device, torch.float32))[0, :, t:t + h, l:l + w]
        one = np.uint8(np.round(y.clamp(0, 1).permute(1, 2, 0).cpu().double().numpy() * 255)).astype(np.float64)
        mse = max(np.mean((one - gt) ** 2), 1e-10 * 255 ** 2)  # the engine's MSE floor, so both agree at 100 dB
        return 20 * math.log10(255.0 / math.sqrt(mse))

    def intervene(i, j, k):
        x = lr.clone()
        region = x[:, i * b:(i + 1) * b, j * b:(j + 1) * b]
        region.copy_(bank[k][:, :region.shape[1], :region.shape[2]])
        return psnr(x)

    o = psnr(lr)
    coarse_psnr = np.zeros((rows * cols, coarse))
    for n in range(rows * cols):
        for k in range(coarse):
            coarse_psnr[n, k] = intervene(*divmod(n, cols), int(ci[n, k]))
    out = np.zeros(rows * cols)
    for n in range(rows * cols):
        if np.max(np.abs(o - coarse_psnr[n])) >= threshold:
            out[n] = o - np.mean([intervene(*divmod(n, cols), int(k)) for k in fi[n]])
        else:
            out[n] = o - coarse_psnr[n].mean()
    out[np.abs(out) < threshold] = 0
    return out.reshape(rows, cols), passes - 1  # the original's pass is not an intervention


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="x4-fsrcnn,x4-edsr-lite")
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--hr", type=int, default=128, help="HR crop side, SR px (centre of the image's face region)")
    ap.add_argument("--window", type=int, default=32, help="window side, SR px (the authors': 64)")
    ap.add_argument("--coarse", type=int, default=3)
    ap.add_argument("--fine", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    full = data.image(args.image)
    top = max(0, min(full.shape[1] - args.hr, 64))
    hr = full[:, top:top + args.hr, top:top + args.hr]
    lr = degrade.bicubic_down(hr, 4).clamp(0, 1)
    t = (args.hr // 2 - args.window // 2) // 8 * 8
    window = (t, t, args.window, args.window)
    bank = patch_bank(8, 4, size=1024, seed=0)
    print(f"{args.image} HR {args.hr}² (LR {lr.shape[1]}²), window {window}, block 8, coarse {args.coarse}, "
          f"fine {args.fine}, threshold 0.01, device {args.device}, {torch.get_num_threads()} threads")
    print(f"{'model':<14} {'passes':>7} {'authors s':>10} {'engine s':>9} {'ratio':>6} {'engine passes':>14} "
          f"{'skipped':>8} {'max |Δmap| dB':>14}")
    for name in args.models.split(","):
        model = zoo.load(name).to(args.device).eval()
        t0 = time.perf_counter()
        ref, passes = authors_loop(model, lr, hr, window, 8, args.coarse, args.fine, 0.01, bank, 0, args.device)
        t_ref = time.perf_counter() - t0
        engine = CEM(model, device=args.device)
        t0 = time.perf_counter()
        r = engine.attribute(lr, hr, window, 8, args.coarse, args.fine, 0.01, patches=bank, seed=0)
        t_eng = time.perf_counter() - t0
        diff = float((r.map - torch.from_numpy(ref)).abs().max())
        print(f"{name:<14} {passes:>7} {t_ref:>10.1f} {t_eng:>9.2f} {t_ref / t_eng:>6.1f} {r.passes:>14} "
              f"{r.skipped:>8} {diff:>14.2e}")


if __name__ == "__main__":
    main()
