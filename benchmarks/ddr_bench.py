"""DDR speed: a per-image per-layer script loop against srwidgets' engine, same numbers.

    python benchmarks/ddr_bench.py                # 200 HR crops 64x64 x 3 degradations x all layers (x2-srresnet-bicubic)
    python benchmarks/ddr_bench.py --quick        # 40 crops
    python benchmarks/ddr_bench.py --images 500 --size 96 --threads 2

Inputs: ``--images`` random ``--size``² crops of the bundled images (seeded), under the default degradations
(clean, blur σ=2, noise σ=15), built once with :func:`srwidgets.ddr.build_inputs` (timed on its own). Then:

(a) ``loop``: what a script does — for each layer, for each LR input: register a forward hook on the layer, run the
    whole model on that one input under ``torch.no_grad()``, pool the hooked output, remove the hook; then
    scikit-learn's ``calinski_harabasz_score`` per layer, by degradation and by image;
(b) ``engine``: ``DDR(model).features(inputs)`` on a fresh engine (every layer hooked in one pass per batch,
    batches sized by the engine) and :func:`srwidgets.ddr.calinski_harabasz` per layer, both groupings;

and prints their wall times, the ratio, the max differences of the pooled features and of the CHI table (relative),
and the time of the **whole CHI table** from the HR images (``DDR(model).analyse(hr_images)`` on a fresh engine:
inputs, features, both CHIs; the target is <= 30 s on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from srwidgets import data, zoo  # noqa: E402
from srwidgets.ddr import DDR, build_inputs, calinski_harabasz  # noqa: E402
from srwidgets.models.protocol import feature_layers  # noqa: E402


def random_crops(count: int, size: int, seed: int = 0):
    """``count`` float HWC crops ``size x size`` in [0, 1] of the bundled images, at seeded random places."""
    rng = np.random.default_rng(seed)
    images = [data.load_image(name).permute(1, 2, 0).numpy() for name in data.images()]
    crops = []
    for _ in range(count):
        img = images[rng.integers(len(images))]
        top, left = rng.integers(img.shape[0] - size + 1), rng.integers(img.shape[1] - size + 1)
        crops.append(np.ascontiguousarray(img[top:top + size, left:left + size]))
    return crops


def script_loop(model, inputs):
    """(a) one forward per input per layer, each with its own hook; CHI with scikit-learn directly."""
    from sklearn.metrics import calinski_harabasz_score

    feats = {}
    for name, module in feature_layers(model):
        rows = []
        for x in inputs.lr:
            grabbed = {}
            handle = module.register_forward_hook(lambda m, a, out: grabbed.__setitem__("out", out))
            with torch.no_grad():
                model(x[None])
            handle.remove()
            rows.append(grabbed["out"].double().mean(dim=(2, 3))[0].numpy())
        feats[name] = np.stack(rows)
    table = {name: (calinski_harabasz_score(f, inputs.labels), calinski_harabasz_score(f, inputs.image_ids))
             for name, f in feats.items()}
    return feats, table


def engine_run(model, inputs):
    """(b) the engine on a fresh instance: hooked passes per batch, both CHIs."""
    engine = DDR(model)
    feats = engine.features(inputs)
    table = {name: (calinski_harabasz(f, inputs.labels), calinski_harabasz(f, inputs.image_ids))
             for name, f in feats.items()}
    return feats, table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="x2-srresnet-bicubic")
    ap.add_argument("--images", type=int, default=200, help="HR crops (default: 200)")
    ap.add_argument("--size", type=int, default=64, help="HR crop side in pixels (default: 64)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--quick", action="store_true", help="40 crops")
    ap.add_argument("--skip-loop", action="store_true", help="time the engine only")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    count = 40 if args.quick else args.images
    model = zoo.load(args.model)
    crops = random_crops(count, args.size)
    print(f"{args.model}: {count} HR crops {args.size}x{args.size} x 3 degradations, "
          f"{len(feature_layers(model))} layers, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")

    t = time.perf_counter()
    inputs = build_inputs(crops, None, model.scale, seed=0)
    t_inputs = time.perf_counter() - t
    print(f"inputs: {len(inputs)} LR {tuple(inputs.lr.shape[-2:])} in {t_inputs:.2f}s")

    engine_run(model, build_inputs(crops[:4], None, model.scale))  # warm-up (imports, allocator)
    t = time.perf_counter()
    feats_b, table_b = engine_run(model, inputs)
    t_engine = time.perf_counter() - t

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = DDR(model).analyse(crops, seed=0)
    t_whole = time.perf_counter() - t

    rows = [("engine (one hooked pass per batch)", t_engine)]
    if not args.skip_loop:
        t = time.perf_counter()
        feats_a, table_a = script_loop(model, inputs)
        t_loop = time.perf_counter() - t
        rows.insert(0, ("loop (one forward per input per layer)", t_loop))
    print(f"\n{'method':<42}{'seconds':>10}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>10.2f}")
    if not args.skip_loop:
        feat_diff = max(float(np.abs(feats_a[n] - feats_b[n]).max() / np.abs(feats_a[n]).max()) for n in feats_a)
        chi_diff = max(abs(a - b) / abs(a) for n in table_a for a, b in zip(table_a[n], table_b[n]))
        print(f"ratio loop / engine: {t_loop / t_engine:.1f}x")
        print(f"max relative difference: pooled features {feat_diff:.1e}, CHI table {chi_diff:.1e}")
    same = max(abs(result.chi_degradation[n] - table_b[n][0]) + abs(result.chi_image[n] - table_b[n][1])
               for n in table_b)
    print(f"whole CHI table from the HR images (inputs + features + both CHIs): {t_whole:.2f}s "
          f"(target <= 30 s on 2 cores; same table: {same:.1e})\n")
    print(f"{'layer':<10}{'CHI by degradation':>20}{'CHI by image':>16}")
    for n in result.layers:
        print(f"{n:<10}{result.chi_degradation[n]:>20.4g}{result.chi_image[n]:>16.4g}")


if __name__ == "__main__":
    main()
