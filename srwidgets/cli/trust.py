"""``python -m srwidgets trust IMAGE --model NAME --window T,L,S [--methods lam,gradient] --out trust.csv``: which
map to trust for one SR window.

Prints the verdict table (:func:`srwidgets.trust.report`): one row per method, the ring-stratified ROAD deletion
score against its null (mean ± sd of random orders within rings) and the edge control, the randomisation
difference (trained map vs the fully randomised twin's, scored on the trained model), the planted self-test's
share, completeness and input invariance, each check in words and a verdict. ``--checks`` runs fewer (the planted
test runs each method on the whole image). ``--out`` writes the table (CSV), ``--figure`` the stratified curves
with their null band (PNG/PDF/SVG), ``--grid`` the methods × checks grid. ``--window`` is in SR pixels:
``top,left,size`` or ``top,left,height,width``. Repeat ``--window`` for several windows of the image: each gets its
table, then the verdict over all of them (:func:`srwidgets.trust.summary`: the checks' evidence pooled per
method; one window rarely decides); ``--figure`` / ``--grid`` need a single window. ``--out`` holds every window's
rows in :func:`srwidgets.trust.table`'s columns (``model``, ``image``, ``window``, ``method``, then the checks), so
``trust.summary("trust.csv")`` reads it.
"""
from __future__ import annotations

from ..errors import InputError
from ._common import add_convert_option, add_progress_option

FIGURE_EXTENSIONS = (".png", ".pdf", ".svg")


def add_parser(sub):
    p = sub.add_parser("trust", help="verdict table: stratified ROAD deletion, randomisation, planted self-test")
    p.add_argument("image", help="LR image file, or a bundled image name")
    p.add_argument("--model", default="x4-fsrcnn", help="zoo name or checkpoint path (default: x4-fsrcnn)")
    p.add_argument("--window", required=True, action="append",
                   help="SR window top,left,size or top,left,height,width; repeat it for several windows (each "
                        "gets its table, then the verdict over all of them)")
    p.add_argument("--methods", default=None,
                   help="comma-separated members of the family (default: every one that needs no HR image)")
    p.add_argument("--checks", default=None,
                   help="comma-separated checks: stratified,randomisation,planted,completeness,invariance "
                        "(default: all)")
    p.add_argument("--imputation", default="road", help="road (default) or blur (favours blur-baseline methods)")
    p.add_argument("--noise", type=float, default=0.01, help="σ of the imputation noise (default: 0.01)")
    p.add_argument("--seeds", type=int, default=4, help="random orders within rings for the null (default: 4)")
    p.add_argument("--planted", default="gate", help="the planted self-test: gate, copy or brightness (default: gate)")
    p.add_argument("--steps", type=int, default=None, help="path steps of lam / ig (default: the method's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tie-break, the null, the noise and the "
                                                       "randomised twin (default: 0)")
    p.add_argument("--out", default=None, help="write the table as CSV")
    p.add_argument("--figure", default=None, help="write the stratified curves figure (.png, .pdf or .svg)")
    p.add_argument("--grid", default=None, help="write the methods x checks grid (.png, .pdf or .svg)")
    p.add_argument("--downsample", action="store_true",
                   help="IMAGE is a high-resolution picture: crop it to a multiple of the model's scale and "
                        "down-sample it with Pillow's 8-bit bicubic resize first (the authors' LR image)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: where the model is, cpu)")
    add_convert_option(p)
    add_progress_option(p)
    p.set_defaults(func=run)
    return p


def _names(text, what):
    names = [v for v in (text or "").replace(" ", "").split(",") if v]
    if not names:
        raise InputError(f"--{what} must be a comma-separated list, got {text!r}")
    return names


def _asks_for_hr(methods) -> bool:
    """Whether ``--methods`` names a member that needs the HR image (cem): only then is it given one, so that the
    default set stays the members that need none."""
    from ..attribution import method_class, methods as known

    return bool(methods) and any(getattr(method_class(m), "needs_hr", False) for m in methods if m in known())


def run(args) -> int:
    from .. import trust
    from ._common import check_distinct, check_output, flag_seed, load_input, load_model, progress_bar
    from .lam import parse_window

    reads = dict(image=args.image, models=[("--model", args.model)])
    if args.out:
        check_output(args.out, (".csv",), what="the table", **reads)
    for flag, path in (("--figure", args.figure), ("--grid", args.grid)):
        if path:
            check_output(path, FIGURE_EXTENSIONS, what="the figure", flag=flag, **reads)
    check_distinct({"--out": args.out, "--figure": args.figure, "--grid": args.grid})
    texts = args.window if isinstance(args.window, list) else [args.window]
    windows = [parse_window(w) for w in texts]
    full = [tuple(w) if len(w) == 4 else (w[0], w[1], w[2], w[2]) for w in windows]
    twice = sorted({texts[k] for k, w in enumerate(full) if full.index(w) != k})
    if twice:
        raise InputError(f"--window {', '.join(twice)} given more than once: each window counts once in the verdict "
                         "over windows; drop the repeat")
    if len(windows) > 1 and (args.figure or args.grid):
        raise InputError("--figure and --grid draw one window's checks; give a single --window with them (the "
                         f"{len(windows)} windows' rows go to --out)")
    methods = _names(args.methods, "methods") if args.methods else None
    checks = _names(args.checks, "checks") if args.checks else list(trust.CHECKS)
    unknown = [c for c in checks if c not in trust.CHECKS]
    if unknown:
        raise InputError(f"--checks: unknown {', '.join(unknown)}; choose from {', '.join(trust.CHECKS)}")
    if args.imputation not in trust.IMPUTATIONS:
        raise InputError(f"--imputation {args.imputation!r}: choose road or blur")
    if args.planted not in trust.KINDS:
        raise InputError(f"--planted {args.planted!r}: choose one of {', '.join(trust.KINDS)}")
    if not args.noise >= 0:
        raise InputError(f"--noise {args.noise} must be >= 0 (σ of the imputation noise; 0.01 is ROAD's)")
    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds} must be >= 1 (random orders for the null; 4 by default)")
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps {args.steps} must be >= 1 (path steps of lam / ig)")
    flag_seed(args.seed)
    if args.device is not None:
        from ..engine.devices import parse_device

        parse_device(args.device)
    model = load_model(args.model, args.device or "cpu")
    image = load_input(args.image, convert=args.convert)
    hr = None
    if args.downsample:
        from ..degrade import pil_bicubic
        from ..models import infer_scale

        s = infer_scale(model)
        hr = image[:, :image.shape[1] // s * s, :image.shape[2] // s * s]  # IMAGE is the HR image: cem's reference
        image = pil_bicubic(hr, s) if s > 1 else hr.clone()  # Pillow's 8-bit resize, as lam / cem --downsample
    knobs = {}
    if args.steps is not None:
        knobs = {m: {"steps": args.steps} for m in ("lam", "ig")}
    tables = []
    for window in windows:
        with progress_bar("trust", "forwards", disable=args.no_progress) as bar:
            df = trust.report(model, image, window, methods, checks=checks, imputation=args.imputation,
                              noise=args.noise, seeds=args.seeds, planted_kind=args.planted, seed=args.seed,
                              knobs=knobs, callback=bar, device=args.device,
                              hr=hr if _asks_for_hr(methods) else None)
        _print_window(df)
        tables.append(df)
    if len(tables) > 1:
        _print_summary(_table(tables, args.model, args.image), checks, len(tables), args.seeds)
    if args.out:
        _table(tables, args.model, args.image).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    if args.figure or args.grid:
        from ..viz.trust import checks_figure, curves_figure

        if args.figure:
            curves_figure(df).savefig(args.figure, dpi=100)
            print(f"wrote {args.figure}")
        if args.grid:
            checks_figure(df).savefig(args.grid, dpi=100)
            print(f"wrote {args.grid}")
    return 0


def _print_window(df) -> None:
    """One window's verdict table, its verdicts in words, the checks that did not run and the skipped members."""
    shown = df.drop(columns=[c for c in ("seconds", "objective", "gini", "diffusion_index", "spread_trained",
                                         "spread_randomised") if c in df])
    print(f"window {tuple(df.attrs['window'])} (SR px), LR box {tuple(df.attrs['box'])}, imputation "
          f"{df.attrs['imputation']}" + (f" ({df.attrs['favours']})" if df.attrs["favours"] else ""))
    print(shown.drop(columns=["verdict"]).round(3).to_string())
    for name, verdict in df["verdict"].items():
        print(f"{name}: {verdict}")
    for check, why in df.attrs.get("notes", {}).items():
        print(f"{check}: {why.replace('noise=0', '--noise 0')}")  # the engine's keyword as this command's flag
    for name, why in df.attrs["skipped"].items():
        if "hr=" in why:  # the engine's words: here the HR image is IMAGE with --downsample
            why = "needs the HR image: give the HR picture as IMAGE with --downsample (and cem in --methods)"
        print(f"skipped {name}: {why}")


def _table(tables, model: str, image: str):
    """The windows' verdict tables as one table in :func:`srwidgets.trust.table`'s columns (``model``, ``image``,
    ``window``, ``method``, then the checks), which :func:`srwidgets.trust.summary` reads."""
    import pandas as pd

    rows = []
    for t in tables:
        t = t.reset_index()
        t.insert(0, "window", ",".join(str(v) for v in t.attrs["window"]))
        t.insert(0, "image", image)
        t.insert(0, "model", model)
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


def _print_summary(table, checks, count: int, seeds: int) -> None:
    """The verdict over the windows (:func:`srwidgets.trust.summary`), or why there is none."""
    from .. import trust

    print(f"\nover {count} windows (each check's evidence pooled: trust.summary)")
    if "stratified" not in checks:
        print("no verdict over windows: it pools the stratified check; add stratified to --checks")
        return
    try:
        s = trust.summary(table, by="method", seeds=seeds)
    except InputError as e:  # every window flat, or --seeds 1: said in words
        print(f"no verdict over windows: {e}")
        return
    print(s.drop(columns=["verdict"]).round(3).to_string())
    for name, verdict in s["verdict"].items():
        print(f"{name}: {verdict}")
