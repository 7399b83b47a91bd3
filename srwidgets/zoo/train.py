"""Train the zoo's shipped models, reproducibly, on the CPU.

    python -m srwidgets.zoo.train --list               # the recipes
    python -m srwidgets.zoo.train x4-edsr-lite          # train one recipe, write weights + manifest entry
    python -m srwidgets.zoo.train all                   # every recipe, in dependency order
    python -m srwidgets.zoo.train x4-edsr-lite --steps 50 --out /tmp/zoo   # a quick smoke run elsewhere

Training data (named, licence allows shipping the weights): scikit-image's bundled photographs ``astronaut``
(public domain), ``rocket`` (public domain), ``hubble_deep_field`` (public domain), ``immunohistochemistry``
(no known copyright restrictions), ``retina`` (CC0), the grey photographs ``camera`` (CC0), ``coins`` (no known
copyright restrictions), ``clock`` and ``text`` (public domain), the CC0 textures ``brick``, ``grass``, ``gravel``,
and procedurally generated textures (20 % of the patches). ``chelsea`` and ``coffee`` are held out for evaluation. Needs scikit-image
(``pip install srwidgets[train]``).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from .. import degrade, metrics, models
from ..data import HELD_OUT, image as bundled_image

ZOO_DIR = Path(__file__).parent
TRAIN_IMAGES = ["astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "camera", "coins", "clock",
                "text", "brick", "grass", "gravel"]
N_TEXTURES = 24
P_GENERATED = 0.2  # share of patches drawn from the generated textures (the rest from the photographs)

# name -> recipe. ``init`` names a recipe whose weights start this one (fine-tuning).
RECIPES: Dict[str, dict] = {
    "x4-fsrcnn": dict(arch="FSRCNN", config=dict(upscale=4, d=32, s=12, m=4, bicubic_residual=True), scale=4,
                      degradation="bicubic", steps=20000, batch=16, patch=96, lr=1e-3, seed=0,
                      note="small receptive field (about 15 LR px across): the LAM baseline CNN; FSRCNN plus a "
                           "bicubic global residual, which it needs to beat bicubic within minutes of CPU training"),
    "x4-edsr-lite": dict(arch="EDSR", config=dict(num_feat=32, num_block=6, upscale=4), scale=4, degradation="bicubic",
                         steps=6000, batch=16, patch=96, lr=1e-3, seed=0,
                         note="EDSR-style residual CNN, medium receptive field"),
    "x4-rcan-lite": dict(arch="RCAN", config=dict(num_feat=32, num_group=2, num_block=3, squeeze_factor=8, upscale=4),
                         scale=4, degradation="bicubic", steps=6000, batch=16, patch=96, lr=1e-3, seed=0,
                         note="channel attention pools globally: every output pixel sees the whole input"),
    "x2-srresnet-bicubic": dict(arch="MSRResNet", config=dict(num_feat=32, num_block=6, upscale=2), scale=2,
                                degradation="clean", steps=2500, batch=16, patch=64, lr=5e-4, seed=0,
                                note="FAIG baseline: non-blind SR (bilinear x1/2 only, FAIG's setting)"),
    "x2-srresnet-blind": dict(arch="MSRResNet", config=dict(num_feat=32, num_block=6, upscale=2), scale=2,
                              degradation="blind", steps=2000, batch=16, patch=64, lr=5e-4 / 4, seed=1,
                              init="x2-srresnet-bicubic",
                              note="FAIG target: fine-tuned from the baseline on blur (p=0.5) + noise (p=0.5)"),
    "x2-srresnet-nogr": dict(arch="MSRResNet", config=dict(num_feat=32, num_block=6, upscale=2, global_residual=False),
                             scale=2, degradation="clean", steps=2500, batch=16, patch=64, lr=5e-4, seed=0,
                             note="DDR global-residual contrast of x2-srresnet-bicubic: the same recipe (arch, width, "
                                  "depth, data, steps, seed) without the global bilinear residual"),
}

DEGRADATIONS = {
    "bicubic": "HR -> antialiased bicubic x1/s (PIL convention) -> 8-bit quantisation",
    "clean": "HR -> bilinear x1/2 (OpenCV INTER_LINEAR, FAIG's code) -> clip, 8-bit quantisation",
    "blind": "HR -> [p=0.5: Gaussian blur 21x21, sigma 2] -> bilinear x1/2 -> [p=0.5: Gaussian noise sigma 0.1 "
             "(25.5/255)] -> clip, 8-bit quantisation (FAIG's setting: clean, blurry, noisy, blurry+noisy mixed)",
}


# --- data ------------------------------------------------------------------------------------------------------
def generated_textures(n: int = N_TEXTURES, size: int = 192, seed: int = 1234) -> List[torch.Tensor]:
    """Procedural RGB textures ``[3, size, size]``: oriented gratings, checkerboards, discs and lines with random
    colours — sharp edges and fine periodic detail at every orientation."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    out = []
    for i in range(n):
        c0, c1 = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
        theta = float(torch.rand(1, generator=g)) * math.pi
        u = xx * math.cos(theta) + yy * math.sin(theta)
        v = -xx * math.sin(theta) + yy * math.cos(theta)
        period = 3 + float(torch.rand(1, generator=g)) * 20
        kind = i % 4
        if kind == 0:  # sinusoidal grating with a chirp
            t = 0.5 + 0.5 * torch.sin(2 * math.pi * u / period * (1 + u / (4 * size)))
        elif kind == 1:  # rotated checkerboard
            t = ((torch.floor(u / period) + torch.floor(v / period)) % 2).float()
        elif kind == 2:  # random discs
            t = torch.zeros(size, size)
            for _ in range(30):
                cx, cy, r = (torch.rand(3, generator=g) * torch.tensor([size, size, size / 8])).tolist()
                t = torch.where((xx - cx) ** 2 + (yy - cy) ** 2 < (r + 2) ** 2, 1.0 - t, t)
        else:  # square wave stripes of two periods
            t = (((u / period) % 1) < 0.5).float() * 0.6 + (((v / (period * 1.7)) % 1) < 0.3).float() * 0.4
        out.append((c0 * t + c1 * (1 - t)).clamp(0, 1))
    return out


def training_images() -> List[torch.Tensor]:
    """The training set: scikit-image photographs and textures (RGB, [0, 1]) plus generated textures."""
    try:
        import skimage.data as skd
    except ImportError:
        raise SystemExit("training needs scikit-image: pip install 'srwidgets[train]'") from None
    imgs = []
    for name in TRAIN_IMAGES:
        arr = getattr(skd, name)()
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        t = torch.from_numpy(arr[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()
        if max(t.shape[1:]) > 800:  # big scans: down-sample so their detail is at a natural-photo scale
            t = F.interpolate(t[None], scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)
        imgs.append(t)
    return imgs + generated_textures()


def sample_patches(imgs, n, patch, g, n_generated: int = N_TEXTURES):
    """``n`` random HR patches ``[n, 3, patch, patch]`` with random flips and 90-degree rotations; a share
    ``P_GENERATED`` comes from the last ``n_generated`` images (the generated textures)."""
    out = []
    n_photo = len(imgs) - n_generated
    for _ in range(n):
        if float(torch.rand(1, generator=g)) < P_GENERATED:
            img = imgs[n_photo + int(torch.randint(n_generated, (1,), generator=g))]
        else:
            img = imgs[int(torch.randint(n_photo, (1,), generator=g))]
        top = int(torch.randint(img.shape[1] - patch + 1, (1,), generator=g))
        left = int(torch.randint(img.shape[2] - patch + 1, (1,), generator=g))
        p = img[:, top:top + patch, left:left + patch]
        if torch.rand(1, generator=g) < 0.5:
            p = p.flip(-1)
        p = torch.rot90(p, int(torch.randint(4, (1,), generator=g)), (1, 2))
        out.append(p)
    return torch.stack(out)


def make_lr(hr: torch.Tensor, kind: str, scale: int, g: torch.Generator) -> torch.Tensor:
    """Degrade an HR batch per ``DEGRADATIONS[kind]``; per-sample random choices for ``blind``."""
    if kind == "bicubic":
        return degrade.quantize(degrade.bicubic_down(hr, scale))
    if kind == "clean":
        return degrade.quantize(degrade.bilinear_down(hr, scale))
    if kind == "blind":
        blur = torch.rand(hr.shape[0], generator=g) < 0.5
        noise = torch.rand(hr.shape[0], generator=g) < 0.5
        hr = torch.where(blur[:, None, None, None], degrade.gaussian_blur(hr, 2.0, 21), hr)
        lr = degrade.bilinear_down(hr, scale)
        n = degrade.add_noise(lr, 25.5, g, clip=False)
        return degrade.quantize(torch.where(noise[:, None, None, None], n, lr))
    raise ValueError(f"unknown degradation {kind!r}; known: {list(DEGRADATIONS)}")


# Held-out inputs each model is evaluated on, and those on which it must beat bicubic (a blind model is meant for
# degraded inputs: on clean ones it over-sharpens, which the manifest records too).
EVAL_KINDS = {"bicubic": ["bicubic"], "clean": ["clean", "blur", "noise"], "blind": ["clean", "blur", "noise"]}
GAIN_ON = {"bicubic": ["bicubic"], "clean": ["clean"], "blind": ["blur", "noise"]}


# --- evaluation ------------------------------------------------------------------------------------------------
def evaluate(model, scale: int, kind: str = "bicubic") -> dict:
    """Y-channel PSNR/SSIM (``scale`` border pixels shaved) of the model and of bicubic upsampling on the held-out
    images, degraded per ``kind`` (``bicubic``; ``clean``; ``blur`` / ``noise`` for the FAIG test inputs)."""
    res = {"images": list(HELD_OUT), "psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []}
    g = torch.Generator().manual_seed(0)
    for name in HELD_OUT:
        hr = bundled_image(name, scale)[None]
        if kind == "bicubic":
            lr = degrade.quantize(degrade.bicubic_down(hr, scale))
        elif kind == "clean":
            lr = degrade.quantize(degrade.bilinear_down(hr, scale))
        elif kind == "blur":
            lr = degrade.quantize(degrade.bilinear_down(degrade.gaussian_blur(hr, 2.0, 21), scale))
        elif kind == "noise":
            lr = degrade.quantize(degrade.add_noise(degrade.bilinear_down(hr, scale), 25.5, g))
        else:
            raise ValueError(kind)
        with torch.inference_mode():
            sr = model(lr).clamp(0, 1)
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        res["psnr"].append(metrics.psnr(sr, hr, shave=scale))
        res["ssim"].append(metrics.ssim(sr, hr, shave=scale))
        res["psnr_bicubic"].append(metrics.psnr(bic, hr, shave=scale))
        res["ssim_bicubic"].append(metrics.ssim(bic, hr, shave=scale))
    for k in ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"):
        res[k + "_mean"] = float(np.mean(res[k]))
    res["gain_db"] = res["psnr_mean"] - res["psnr_bicubic_mean"]
    return res


# --- training --------------------------------------------------------------------------------------------------
def train(name: str, out_dir: Path = ZOO_DIR, steps: int = None, threads: int = None, log_every: int = 100) -> dict:
    """Train recipe ``name``; writes ``out_dir/weights/<name>.pth`` and its entry in ``out_dir/manifest.json``."""
    r = dict(RECIPES[name])
    steps = int(steps or r["steps"])
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(r["seed"])
    g = torch.Generator().manual_seed(r["seed"])
    model = models.build(r["arch"], **r["config"])
    if r.get("init"):
        init_path = out_dir / "weights" / f"{r['init']}.pth"
        if not init_path.exists():
            raise SystemExit(f"{name} fine-tunes {r['init']}: train that first ({init_path} is missing)")
        model.load_state_dict(models.load(str(init_path)).state_dict())
    model.train()
    imgs = training_images()
    opt = torch.optim.Adam(model.parameters(), lr=r["lr"], betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / steps)) * 0.98 + 0.02)
    t0, running = time.time(), 0.0
    for it in range(1, steps + 1):
        hr = sample_patches(imgs, r["batch"], r["patch"], g)
        lr = make_lr(hr, r["degradation"], r["scale"], g)
        loss = F.l1_loss(model(lr), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if it % log_every == 0 or it == steps:
            print(f"[{name}] step {it}/{steps} L1 {running / min(log_every, it):.4f} {time.time() - t0:.0f}s", flush=True)
            running = 0.0
    seconds = time.time() - t0
    model.eval()
    (out_dir / "weights").mkdir(parents=True, exist_ok=True)
    wpath = out_dir / "weights" / f"{name}.pth"
    models.save(model, str(wpath))
    ev = {kind: evaluate(model, r["scale"], kind) for kind in EVAL_KINDS[r["degradation"]]}
    gain_on = GAIN_ON[r["degradation"]]
    gain = min(ev[k]["gain_db"] for k in gain_on)
    entry = dict(
        arch=r["arch"], config=dict(model.config), scale=r["scale"], file=f"weights/{name}.pth",
        parameters=sum(p.numel() for p in model.parameters()), size_bytes=wpath.stat().st_size,
        training_images=TRAIN_IMAGES + [f"{N_TEXTURES} generated textures (srwidgets.zoo.train.generated_textures), "
                                        f"{P_GENERATED:.0%} of the patches"],
        degradation=r["degradation"], degradation_pipeline=DEGRADATIONS[r["degradation"]],
        steps=steps, batch=r["batch"], hr_patch=r["patch"], lr=r["lr"], loss="L1", optimizer="Adam(0.9, 0.99), cosine",
        seed=r["seed"], init=r.get("init"), train_seconds=round(seconds, 1), torch_threads=torch.get_num_threads(),
        torch_version=torch.__version__, note=r["note"], eval=ev,
        # The test suite recomputes the held-out PSNR on the ``min_gain_on`` inputs and requires at least this
        # gain over bicubic on each.
        min_gain_db=math.floor((gain - 0.02) * 100) / 100, min_gain_on=list(gain_on),
    )
    mpath = out_dir / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    manifest[name] = entry
    mpath.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    for k in ev:
        print(f"[{name}] {k} inputs: PSNR {ev[k]['psnr_mean']:.2f} dB vs bicubic {ev[k]['psnr_bicubic_mean']:.2f} dB "
              f"(gain {ev[k]['gain_db']:+.2f} dB)", flush=True)
    print(f"[{name}] done in {seconds:.0f}s, {entry['size_bytes'] / 1e6:.2f} MB", flush=True)
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m srwidgets.zoo.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="recipe names, or 'all'")
    ap.add_argument("--list", action="store_true", help="list the recipes and exit")
    ap.add_argument("--steps", type=int, help="override the recipe's step count (smoke runs)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--out", type=Path, default=ZOO_DIR, help="zoo folder to write (default: the package's)")
    args = ap.parse_args(argv)
    if args.list or not args.names:
        for n, r in RECIPES.items():
            print(f"{n:22s} {r['arch']:10s} x{r['scale']} {r['degradation']:8s} {r['steps']} steps  {r['note']}")
        return
    names = list(RECIPES) if args.names == ["all"] else args.names
    for n in names:
        if n not in RECIPES:
            raise SystemExit(f"unknown recipe {n!r}; known: {', '.join(RECIPES)}")
        train(n, args.out, args.steps, args.threads)


if __name__ == "__main__":
    main()
