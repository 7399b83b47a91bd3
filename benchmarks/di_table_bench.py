"""DI table throughput: the three x4 zoo models × the bundled images × 16 windows, local backend against Ray.

    python benchmarks/di_table_bench.py                  # 50 steps, Ray with 2 workers
    python benchmarks/di_table_bench.py --steps 10 --workers 4 --threads 1
    python benchmarks/di_table_bench.py --method gradient,ig,cem --skip-ray   # other members (cem: HR images)

For each backend it prints the wall time, windows per second and seconds per window (wall time / windows), and per
model the engine's own seconds per window (the table's ``seconds``, which excludes Ray's start and scheduling),
so a cluster run can be estimated: ``windows × s/window / workers``. Ray's start-up is timed apart (a local
instance is started before the table and shut down after). The last line gives the largest DI difference between
the two tables (Ray workers run one intra-op thread each; the local run uses ``--threads``). With ``--method``
(comma-separated members of the window-attribution family) every backend runs once per method; the images are then
HR crops, down-sampled by 4 (``downsample=True``), so that CEM has its ground truth and every method sees the same
LR inputs. No asserts.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srwidgets import data, zoo  # noqa: E402
from srwidgets.batch import di_table  # noqa: E402

MODELS = ["x4-fsrcnn", "x4-edsr-lite", "x4-rcan-lite"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--windows", type=int, default=16, help="edges:N windows per image (default 16)")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the local run (default: torch's)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--method", default=None,
                    help="comma-separated window-attribution methods (default: lam on the bundled LR images)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {name: zoo.load(name) for name in MODELS}
    if args.method:
        by_method(models, args)
        return
    images = [data.lr_image(name, 4) for name in data.images()]
    spec = f"edges:{args.windows}"
    n = len(models) * len(images) * args.windows
    print(f"{len(models)} models x {len(images)} images ({', '.join(data.images())}, LR x4 "
          f"{'/'.join(f'{i.shape[1]}x{i.shape[2]}' for i in images)}) x {args.windows} windows = {n} windows, "
          f"{args.steps} steps, CPU threads {torch.get_num_threads()} (local)\n")

    runs = {}
    t0 = time.perf_counter()
    runs["local"] = di_table(models, images, spec, steps=args.steps, progress=False)
    walls = {"local": time.perf_counter() - t0}
    startup = None
    if not args.skip_ray:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        startup = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            runs[f"ray x{args.workers}"] = di_table(models, images, spec, steps=args.steps, backend="ray",
                                                    progress=False)
            walls[f"ray x{args.workers}"] = time.perf_counter() - t0
        finally:
            ray.shutdown()

    print(f"{'backend':<10} {'windows':>7} {'wall s':>8} {'windows/s':>10} {'s/window':>9}   engine s/window per model")
    for name, table in runs.items():
        per_model = "  ".join(f"{m} {table.loc[table.model == m, 'seconds'].mean():.3f}" for m in models)
        wall, n = walls[name], len(table)
        print(f"{name:<10} {n:>7} {wall:8.1f} {n / wall:10.2f} {wall / n:9.3f}   {per_model}")
    if startup is not None:
        print(f"\nRay start-up (local instance, {args.workers} CPUs): {startup:.1f} s (not in the wall times above)")
        a, b = runs["local"], runs[f"ray x{args.workers}"]
        print(f"max |DI local - DI ray| = {(a.di - b.di).abs().max():.2e}")
    table = runs["local"]
    print("\nDI per model (local):")
    for m in models:
        di = table.loc[table.model == m, "di"]
        print(f"  {m:<14} mean {di.mean():6.2f}  median {di.median():6.2f}")


def by_method(models, args) -> None:
    """Wall time, s/window and mean DI per model for each ``--method``, local (and Ray unless ``--skip-ray``)."""
    images = [data.image(name, 4) for name in data.images()]  # HR; x4 down-sampled inside (the paper's setting)
    spec = f"edges:{args.windows}"
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    print(f"{len(models)} models x {len(images)} HR images x {args.windows} windows, methods {', '.join(methods)}, "
          f"{args.steps} steps (lam, ig), CPU threads {torch.get_num_threads()} (local)\n")
    print(f"{'method':<11} {'backend':<8} {'windows':>7} {'wall s':>8} {'s/window':>9}   mean DI per model")
    for method in methods:
        backends = ["local"] + ([] if args.skip_ray else ["ray"])
        tables = {}
        for backend in backends:
            if backend == "ray":
                import ray

                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            try:
                t0 = time.perf_counter()
                tables[backend] = table = di_table(models, images, spec, steps=args.steps, downsample=True,
                                                   method=method, backend=backend, progress=False)
                wall = time.perf_counter() - t0
            finally:
                if backend == "ray":
                    ray.shutdown()
            di = "  ".join(f"{m} {table.loc[table.model == m, 'di'].mean():.2f}" for m in models)
            print(f"{method:<11} {backend:<8} {len(table):>7} {wall:8.1f} {wall / len(table):9.3f}   {di}")
        if len(tables) == 2:
            print(f"{'':<11} max |DI local - DI ray| = {(tables['local'].di - tables['ray'].di).abs().max():.2e}")


if __name__ == "__main__":
    main()
