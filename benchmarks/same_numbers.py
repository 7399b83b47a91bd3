"""Do two checkouts of srwidgets give the same numbers? Prints one line per result: a SHA-256 digest of its float64
bytes and a few values. Run it against each checkout and ``diff`` the outputs (bit-identical means same digests).

    git worktree add /tmp/old OLD_COMMIT
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/same_numbers.py > before.txt
    PYTHONPATH=.        .venv/bin/python benchmarks/same_numbers.py > after.txt
    diff before.txt after.txt && echo bit-identical

Covered: LAM, IG (black and blurred), gradient, ERF, SmoothGrad (over gradient) and CEM maps and attributions on
fixed windows (one at an image edge) of two zoo models; a DDR CHI table and a FAIG masking table (small).

The LR inputs are made here by a fixed function (torch's antialiased bicubic, ``F.interpolate``), not by
``srwidgets.data.lr_image`` or ``srwidgets.degrade``, so that a change there does not read as a change of the methods
(DDR and FAIG degrade their HR inputs with ``srwidgets.degrade`` themselves: a change there shows in their lines).
Run it from a folder without a file named like a standard-library module (a ``numbers.py`` there breaks torch).
"""
import hashlib

import numpy as np
import torch
import torch.nn.functional as F


def digest(value) -> str:
    """SHA-256 (first 16 hex digits) of the float64 bytes, and the first values / the sum."""
    if hasattr(value, "to_numpy"):  # a DataFrame
        arr = value.to_numpy(dtype=np.float64)
    elif isinstance(value, dict):
        arr = np.array([float(v) for v in value.values()], dtype=np.float64)
    else:
        arr = torch.as_tensor(value).detach().double().cpu().numpy()
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    flat = arr.ravel()
    return f"{hashlib.sha256(arr.tobytes()).hexdigest()[:16]} shape={list(arr.shape)} sum={flat.sum():.10g} " \
           f"first={[float(f'{v:.8g}') for v in flat[:3]]}"


def lr_of(hr: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """The fixed LR input: antialiased bicubic (torch) of the modcropped HR image, clamped to [0, 1]."""
    return F.interpolate(hr[None], scale_factor=1 / scale, mode="bicubic", antialias=True)[0].clamp(0, 1)


def main():
    import srwidgets
    from srwidgets import attribute, data, ddr, faig, zoo
    from srwidgets.lam import effective_receptive_field

    print("# srwidgets from", srwidgets.__file__)
    hr = data.image("astronaut", modcrop=4)
    lr = lr_of(hr)
    print("lr", digest(lr))
    for name in ["x4-fsrcnn", "x4-edsr-lite"]:
        model = zoo.load(name)
        for window in [(98, 84, 16), (240, 0, 16)]:
            runs = {
                "lam": dict(method="lam", steps=12),
                "ig-black": dict(method="ig", baseline="black", steps=12),
                "ig-blurred": dict(method="ig", baseline="blurred", steps=12),
                "gradient": dict(method="gradient"),
                "erf": dict(method="erf"),
                "smoothgrad": dict(method="smoothgrad", inner="gradient", samples=4, seed=0),
            }
            for label, kw in runs.items():
                r = attribute(model, lr, window, **kw)
                print(f"{label} {name} {window} map", digest(r.map))
                print(f"{label} {name} {window} attribution", digest(r.attribution),
                      f"gini={r.gini!r} di={r.diffusion_index!r} objective={r.objective!r}")
            e = effective_receptive_field(model, lr, window)
            print(f"effective_receptive_field {name} {window}", digest(e.map), f"di={e.diffusion_index!r}")
    fsrcnn = zoo.load("x4-fsrcnn")
    for window in [(96, 80, 16), (240, 0, 16)]:
        r = attribute(fsrcnn, lr, window, method="cem", hr=hr, coarse=1, fine=4, seed=0)
        print(f"cem x4-fsrcnn {window} effects", digest(r.extras["effects"]), f"psnr={r.objective!r}")
        print(f"cem x4-fsrcnn {window} map", digest(r.map), f"di={r.diffusion_index!r} passes={r.extras['passes']}")
    many = srwidgets.attribution.engine(fsrcnn, "cem").attribute_many(lr, [(96, 80, 16), (32, 32, 16)], hr=hr,
                                                                      coarse=1, fine=3, seed=1)
    for r in many:
        print(f"cem-many x4-fsrcnn {r.window}", digest(r.extras["effects"]))
    images = [data.image(n)[:, :64, :64].permute(1, 2, 0).numpy() for n in data.images()[:4]]
    print("ddr chi_per_layer", digest(ddr.chi_per_layer("x2-srresnet-bicubic", images)))
    baseline, target = zoo.faig_pair()
    hrs = [data.image(n)[:, :48, :48] for n in data.images()[:3]]
    print("faig masking_table", digest(faig.masking_table(baseline, target, hrs, degradation="noise", fraction=0.01,
                                                          steps=4)))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
