"""Do two checkouts of srwidgets give the same numbers? LAM (4 zoo models x 2 windows x 3 paths), the ERF, the DDR
CHI table and a FAIG masking table, computed by the checkout at SRC and compared bit for bit.

    python benchmarks/same_numbers.py save OLD.pt /path/to/old/checkout     # e.g. a `git worktree` of an old commit
    python benchmarks/same_numbers.py save NEW.pt .
    python benchmarks/same_numbers.py compare OLD.pt NEW.pt                 # prints a table

Run it from a folder without a file named like a standard-library module (a ``numbers.py`` there breaks torch).
"""
import sys

import torch


def save(path, src):
    sys.path.insert(0, src)
    from srwidgets import data, ddr, faig, zoo
    from srwidgets.lam import LAM, effective_receptive_field

    out = {}
    lr = data.lr_image("astronaut", 4)
    for name in ["x4-fsrcnn", "x4-edsr-lite", "x4-rcan-lite", "x4-rfdn"]:
        model = zoo.load(name)
        for window in [(98, 84, 16), (160, 40, 16)]:
            for path_name in ["blur", "black", "multi"]:
                r = LAM(model).attribute(lr, window, steps=20 if path_name != "multi" else 5, path=path_name)
                out[f"lam {name} {window} {path_name}"] = (r.attribution, r.diffusion_index, r.objective,
                                                           r.objective_baseline)
            e = effective_receptive_field(model, lr, window)
            out[f"erf {name} {window}"] = (e.map, e.diffusion_index)
    images = [data.image(n)[:, :96, :96].permute(1, 2, 0).numpy() for n in data.images()]
    out["ddr chi_per_layer"] = ddr.chi_per_layer("x2-srresnet-bicubic", images)
    baseline, target = zoo.faig_pair()
    hrs = [data.image(n)[:, :64, :64] for n in data.images()]
    out["faig masking_table"] = faig.masking_table(baseline, target, hrs, degradation="noise", fraction=0.01, steps=8)
    torch.save(out, path)


def same(a, b):
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if hasattr(a, "equals"):
        return bool(a.equals(b))
    return a == b


def compare(old, new):
    a, b = torch.load(old, weights_only=False), torch.load(new, weights_only=False)
    groups = {}
    for key in a:
        kind = key.split(" ")[0]
        n, k = groups.get(kind, (0, 0))
        groups[kind] = (n + 1, k + same(a[key], b[key]))
    print("| result | computed | bit-identical |\n| --- | --- | --- |")
    for kind, (n, k) in groups.items():
        print(f"| {kind} | {n} | {k} |")


if __name__ == "__main__":
    if sys.argv[1] == "save":
        save(sys.argv[2], sys.argv[3])
    else:
        compare(sys.argv[2], sys.argv[3])
