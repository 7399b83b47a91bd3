"""``python -m srwidgets sr IMAGE --model NAME --out sr.png``: super-resolve one image."""
from __future__ import annotations

import time

from ._common import RASTER_EXTENSIONS


def add_parser(sub):
    p = sub.add_parser("sr", help="super-resolve an image with a zoo model or a checkpoint")
    p.add_argument("image", help="image file, or a bundled image name (see `python -m srwidgets zoo`)")
    p.add_argument("--model", default="x4-edsr-lite", help="zoo name or checkpoint path (default: x4-edsr-lite)")
    p.add_argument("--out", default="sr.png",
                   help=f"output image, {'/'.join(e[1:] for e in RASTER_EXTENSIONS)} (default: sr.png)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--convert", action="store_true",
                   help="accept grey images (grey repeated into R, G, B) and images with transparency (alpha "
                        "dropped, stored colours kept)")
    return p


def run(args):
    import torch

    from .. import models
    from ..engine.devices import parse_device
    from ._common import (SAVE_BYTES_PER_PIXEL, check_output, check_raster_writable, ensure_model_fits, image_size,
                          load_input, load_model, save_image)

    # every check on --out before the model loads and the network runs
    check_output(args.out, RASTER_EXTENSIONS, image=args.image, what="the SR image (a raster image)",
                 models=[("--model", args.model)])
    check_raster_writable(args.out)
    parse_device(args.device)
    model = load_model(args.model, args.device)
    scale = models.infer_scale(model)
    models.check(model, scale)
    size = image_size(args.image)  # from the header: a too large image is refused before it is decoded
    if size is not None:
        ensure_model_fits(model, *size, device=args.device, extra_per_sr_pixel=SAVE_BYTES_PER_PIXEL)
    x = load_input(args.image, convert=args.convert)
    ensure_model_fits(model, x.shape[2], x.shape[1], device=args.device, extra_per_sr_pixel=SAVE_BYTES_PER_PIXEL)
    t0 = time.time()
    with torch.inference_mode():
        y = model(x[None].to(args.device))[0].clamp(0, 1)
    save_image(y, args.out)
    print(f"{tuple(x.shape[1:])} -> {tuple(y.shape[1:])} (x{scale}) in {time.time() - t0:.2f}s, wrote {args.out}")
