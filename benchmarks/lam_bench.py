"""LAM speed: the original per-step loop against srwidgets' engine, same numbers.

    python benchmarks/lam_bench.py                 # zoo models + EDSR-baseline (random weights), 64 and 256 LR, 50 steps
    python benchmarks/lam_bench.py --quick         # 10 steps, 64 and 128 LR (minutes on a small CPU)
    python benchmarks/lam_bench.py --device cuda --sizes 64,256,512

For each model and LR size (×4, a 16×16 SR window at the centre) it prints seconds per attribution for

(a) ``plain``: the original LAM implementation's loop — per step: blur with a 2-D kernel in numpy/scipy
    (``filter2D``-style, reflect-101), to tensor, forward, backward (the model's parameters require grad, as in the
    original), gradient back to numpy, multiply with the numpy path derivative, mean over steps;
(b) ``engine``: ``srwidgets.lam.LAM(model).attribute(...)`` on a fresh engine (no cached SR or path; the
    receptive field, measured once per model, is cached from the warm-up unless ``--probe``);

their ratio, the max abs difference of the two normalised maps, Gini/DI, and the peak memory of each (CPU: growth
of the peak resident set of a fresh process running it for 2 steps; CUDA: ``torch.cuda.max_memory_allocated``). With ``--autocast``
on CUDA it also reports the float16 engine's map error against fp32.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srwidgets.engine import windows as geometry  # noqa: E402  (the receptive-field cache lives there)
from srwidgets.lam import LAM  # noqa: E402
from srwidgets.metrics import diffusion_index  # noqa: E402
from srwidgets.models import build  # noqa: E402

try:
    from scipy.ndimage import correlate
except ImportError:  # numpy fallback, same convention
    correlate = None


# ------------------------------------------------------------------------------------------------ baseline
def filter2d(img_hwc: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(img, -1, kernel): per-channel correlation with reflect-101 borders."""
    if correlate is not None:
        return np.stack([correlate(img_hwc[..., c], kernel, mode="mirror") for c in range(img_hwc.shape[2])], -1)
    r = kernel.shape[0] // 2
    p = np.pad(img_hwc, ((r, r), (r, r), (0, 0)), mode="reflect")
    out = np.zeros_like(img_hwc)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            out += kernel[i, j] * p[i:i + img_hwc.shape[0], j:j + img_hwc.shape[1]]
    return out


def plain_lam(model, image: torch.Tensor, window, steps=50, sigma=1.2, l=9, device="cpu"):
    """The original implementation's loop (LAM ``Path_gradient`` + ``saliency_map_PG``), one step at a time."""
    top, left, size = window
    ax = np.arange(-l // 2 + 1.0, l // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    kernels = []
    for s in np.linspace(sigma, 0, steps + 1):
        k = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * (s + 1e-5) ** 2))
        kernels.append(k / k.sum())
    img = np.moveaxis(image.numpy().astype(np.float32), 0, 2)
    total = np.zeros(image.shape, dtype=np.float32)
    for i in range(steps):
        xk = np.moveaxis(filter2d(img, kernels[i + 1]), 2, 0).astype(np.float32)
        dk = np.moveaxis(filter2d(img, (kernels[i + 1] - kernels[i]) * steps), 2, 0).astype(np.float32)
        t = torch.from_numpy(xk).requires_grad_(True)
        y = model(t[None].to(device))
        hg = (y[:, :, :-1, :] - y[:, :, 1:, :]) ** 2
        wg = (y[:, :, :, :-1] - y[:, :, :, 1:]) ** 2
        g = torch.pow(hg[:, :, :, :-1] + wg[:, :, :-1, :], 0.5)
        g[:, :, top:top + size, left:left + size].sum().backward()
        grad = t.grad.numpy()
        grad[np.isnan(grad)] = 0.0
        total += grad * dk
    a = total / steps
    m = np.abs(a.sum(0))
    return m / m.max()


# ------------------------------------------------------------------------------------------------ measuring
class PeakMemory:
    """CUDA: the allocator's peak while the block runs. CPU: nothing here (a sampling thread would disturb the
    timing); :func:`cpu_peak_mib` measures it in a fresh process instead."""

    def __init__(self, device):
        self.device, self.mib = torch.device(device), None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self.start) / 2 ** 20


def cpu_peak_mib(name: str, size: int, method: str, steps: int = 2) -> float:
    """Peak resident-memory growth (MiB) of one attribution, in a fresh process: peak RSS (``VmHWM``) during the
    run minus RSS after loading the model and image. Memory per step is what peaks (both methods hold one step's graph at a
    time), so a few steps measure it."""
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--child-memory", name, str(size), method, str(steps)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _child_memory(name: str, size: int, method: str, steps: int) -> None:
    model = dict(models_to_run([name]))[name]().eval()
    x = bench_image(size)
    c = getattr(model, "scale", 4) * size // 2 - 8
    # Reset the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0); ru_maxrss would carry the parent's peak.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    if method == "plain":
        plain_lam(model, x, (c, c, 16), steps)
    else:
        LAM(model).attribute(x, (c, c, 16), steps=steps)
    print((_status_kib("VmHWM") - before) / 1024)


def timed(fn, device, repeat=1):
    """``(result, wall seconds, CPU seconds of this process, peak MiB)``, the fastest of ``repeat`` runs (shared
    machines: CPU seconds are less disturbed by other processes than wall seconds)."""
    best = None
    for _ in range(repeat):
        with PeakMemory(device) as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best[1]:
            best = (out, wall, cpu, mem.mib)
    return best


def bench_image(size: int) -> torch.Tensor:
    """A natural ``[3, size, size]`` LR input: the held-out ``coffee`` photograph, centre crop (tiled if larger)."""
    from srwidgets import data

    img = data.image("coffee")
    reps = (1, -(-size // img.shape[1]), -(-size // img.shape[2]))
    img = img.repeat(*reps)
    top, left = (img.shape[1] - size) // 2, (img.shape[2] - size) // 2
    return img[:, top:top + size, left:left + size].contiguous()


def models_to_run(names, quiet=False):
    out = []
    try:
        from srwidgets import zoo

        for name in zoo.list():
            if not names or name in names:
                out.append((name, lambda name=name: zoo.load(name)))
    except Exception as e:  # the zoo may not exist yet
        print(f"(zoo unavailable: {type(e).__name__}: {e})")
    if not out:
        print("(no zoo models shipped: benchmarking random-weight architectures only)")
    if not names or "edsr-baseline-random" in names:
        out.append(("edsr-baseline-random", lambda: (torch.manual_seed(0), build("EDSR", num_feat=64, num_block=16,
                                                                                   upscale=4))[1]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 steps, sizes 64,128")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--sizes", default=None, help="comma-separated LR sizes (default 64,256)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="", help="comma-separated subset (zoo names, edsr-baseline-random)")
    ap.add_argument("--probe", action="store_true", help="include the per-model receptive-field probe in each time")
    ap.add_argument("--repeat", type=int, default=1, help="keep the fastest of N runs of each")
    ap.add_argument("--autocast", action="store_true", help="CUDA: also time float16 autocast and its map error")
    ap.add_argument("--channels-last", action="store_true", help="also time LAM(channels_last=True) and its map error")
    ap.add_argument("--child-memory", nargs=4, metavar=("MODEL", "SIZE", "METHOD", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_memory:
        name, size, method, n = args.child_memory
        return _child_memory(name, int(size), method, int(n))
    steps = args.steps or (10 if args.quick else 50)
    sizes = [int(s) for s in (args.sizes or ("64,128" if args.quick else "64,256")).split(",")]
    dev = torch.device(args.device)
    print(f"torch {torch.__version__}, device {dev}, {torch.get_num_threads()} threads, {steps} steps, x4, "
          f"16x16 SR window at the centre of a crop of the coffee photograph")
    head = (f"{'model':<22} {'LR':>5} {'plain s':>9} {'engine s':>9} {'ratio':>6} {'cpu ratio':>9} {'max|dmap|':>10} "
            f"{'DI':>7} {'crop':>16} {'plain MiB':>10} {'engine MiB':>10}")
    print(head + "\n" + "-" * len(head))
    for name, make in models_to_run([m for m in args.models.split(",") if m]):
        model = make().to(dev).eval()
        scale = getattr(model, "scale", 4)
        for size in sizes:
            x = bench_image(size)
            c = scale * size // 2 - 8
            window = (c, c, 16)
            plain_lam(model, x, window, steps=1, device=dev)  # warm-up (allocator, kernels)
            ref, t_plain, c_plain, m_plain = timed(lambda: plain_lam(model, x, window, steps, device=dev), dev, args.repeat)
            for p in model.parameters():
                p.grad = None

            # warm-up too; it also measures the model's receptive field, which is cached per model (see --probe)
            LAM(model).attribute(x, window, steps=1)

            def engine():
                if args.probe:
                    geometry._RECEPTIVE_FIELDS.pop(model, None)
                return LAM(model).attribute(x, window, steps=steps)

            res, t_eng, c_eng, m_eng = timed(engine, dev, args.repeat)
            diff = float(np.abs(res.map.numpy() - ref).max())
            if dev.type == "cpu":
                m_plain, m_eng = cpu_peak_mib(name, size, "plain"), cpu_peak_mib(name, size, "engine")
            print(f"{name:<22} {size:>5} {t_plain:>9.2f} {t_eng:>9.2f} {t_plain / t_eng:>6.1f} {c_plain / c_eng:>9.1f} {diff:>10.2e} "
                  f"{diffusion_index(torch.from_numpy(ref)):>7.2f} {str(res.crop):>16} {m_plain:>10.0f} {m_eng:>10.0f}",
                  flush=True)
            if args.channels_last:
                cl, t_cl, _, _ = timed(lambda: LAM(model, channels_last=True).attribute(x, window, steps=steps), dev, args.repeat)
                print(f"{'  channels_last':<22} {size:>5} {'':>9} {t_cl:>9.2f} {t_plain / t_cl:>6.1f} {'':>9} "
                      f"{float((cl.map - res.map).abs().max()):>10.2e}  (vs the default engine map)", flush=True)
            if args.autocast and dev.type == "cuda":
                half, t_half, _, _ = timed(lambda: LAM(model, autocast=True).attribute(x, window, steps=steps), dev)
                print(f"{'  autocast fp16':<22} {size:>5} {'':>9} {t_half:>9.2f} {t_plain / t_half:>6.1f} "
                      f"{float((half.map - res.map).abs().max()):>10.2e}  (vs the fp32 engine map)")


if __name__ == "__main__":
    main()
