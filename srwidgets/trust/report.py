"""Which map to trust, as tables: the verdict table of one window (:func:`report`, the engine call behind the
widget's Trust panel and ``python -m srwidgets trust``), agreement between methods (:func:`agreement`), and methods
× models × images × windows (:func:`table`, resumable, local or Ray).

The verdict table's checks (:data:`CHECKS`): the ring-stratified ROAD deletion score against its null and the edge
control (:mod:`srwidgets.trust.stratified`), randomisation as faithfulness (:mod:`srwidgets.trust.randomise`), the
planted self-test (:mod:`srwidgets.trust.planted`); completeness and input invariance as flags
(:mod:`srwidgets.trust.flags`). Each in words (pass / fail) beside its numbers; ``verdict`` sums up the deciding
three.
"""
from __future__ import annotations

import itertools
import math
import os
import time
from typing import Dict, Optional, Sequence

import torch

from ..engine import check_number
from ..errors import InputError
from ..progress import check_hooks
from .curves import ENGINE_OPTIONS, window_engine
from .flags import INVARIANCE_THRESHOLD, completeness_gap, input_invariance
from .planted import KINDS, place_patch, planted
from .randomise import randomised_twin
from .ranking import as_map, crop_map, spearman, top_overlap
from .stratified import FAVOURS, default_objective, distance_map, mass_distance, score_rankings

__all__ = ["report", "agreement", "table", "default_methods", "verdict_words", "CHECKS", "DECIDING"]


def default_methods(hr=None) -> list:
    """Every registered member, less those that need the HR image when none is given (CEM)."""
    from ..attribution import method_class, methods

    return [m for m in methods() if hr is not None or not getattr(method_class(m), "needs_hr", False)]


def agreement(maps: Dict[str, object], box=None, top: float = 0.1):
    """Pairwise agreement of maps of the same window: a DataFrame with one row per pair ``a``, ``b``:
    ``spearman`` and ``top_overlap`` (the shared fraction of each map's top ``top`` units, ties by raster order),
    both on the LR ``box`` (``None``: the whole image). ``maps``: name -> map ``[h, w]`` / ``[3, h, w]`` / result."""
    import pandas as pd

    top = check_number("top", top, 0.0)
    if not 0 < top <= 1:
        raise InputError(f"top={top} must be a fraction in (0, 1], e.g. 0.1 for the top 10 % of pixels")
    if not isinstance(maps, dict) or len(maps) < 2:
        raise InputError("agreement(maps) needs a dict of at least two maps {name: map or result}")
    shape = None
    flat = {}
    for name, m in maps.items():
        m = m.map if hasattr(m, "map") and not isinstance(m, torch.Tensor) else m
        m = torch.as_tensor(m)
        shape = shape or tuple(m.shape[-2:])
        flat[name] = crop_map(as_map(m, shape, f"map {name!r}"), box)
    rows = [{"a": a, "b": b, "spearman": spearman(flat[a], flat[b]), "top_overlap": top_overlap(flat[a], flat[b], top)}
            for a, b in itertools.combinations(flat, 2)]
    return pd.DataFrame(rows)


CHECKS = {
    "stratified": "ring-stratified ROAD deletion: score (AUC_LeRF − AUC_MoRF) > null mean + 3 sd and > the edge "
                  "control",
    "randomisation": "the trained map scores better than the fully randomised model's map (difference > 2 null sd)",
    "planted": "a planted gate on a far 8x8 patch: the map's off-footprint mass lands there (share >= 0.5, pointing "
               "game)",
    "completeness": "path methods: |ΣA − (D(x) − D(x'))| / |D(x) − D(x')| (flag only)",
    "invariance": "the same function on 0.1 + 0.8·x gives the same map (overlap >= 0.95; flag only)",
}
"""The checks of the verdict table (``checks=`` of :func:`report`). The first three decide the verdict."""
DECIDING = ("stratified", "randomisation", "planted")
"""The checks that decide the verdict (:func:`verdict_words`); completeness and invariance are flags."""


def _words(flag) -> str:
    return "-" if flag is None else ("pass" if flag else "fail")


def verdict_words(row, checks) -> str:
    """The verdict in words of one method's checks (``row``: ``{check: "pass" | "fail" | "-"}``, the deciding
    checks among ``checks``): "do not trust: fails ..." when one failed, "trust (passes ...)" when all that ran
    passed, "-" when none was judged. The one wording of :func:`report` and :func:`~srwidgets.trust.summary`."""
    failed = [c for c in DECIDING if c in checks and row.get(c) == "fail"]
    if failed:
        return "do not trust: fails " + ", ".join(failed)
    ran = [c for c in DECIDING if c in checks and row.get(c) == "pass"]
    return "trust (passes " + ", ".join(ran) + ")" if ran else "-"


def report(model, lr, window, methods: Optional[Sequence[str]] = None, *, hr=None, knobs: Optional[dict] = None,
           checks: Sequence[str] = tuple(CHECKS), imputation: str = "road", noise: float = 0.01, seeds: int = 4,
           fractions=None, planted_kind: str = "gate", seed: int = 0, callback=None, cancel=None, **options):
    """The verdict table of one window: which methods' maps to trust here, each check in words.

    One row per method (``methods``: default every registered member that needs no HR image, CEM too when
    ``hr`` is given; a member that cannot run on this window — CEM without ``hr``, or with the window off its block
    grid — has no row and its reason in ``df.attrs["skipped"]``), columns:

    * ``score``, ``null_mean``, ``null_sd``, ``edge``, ``distance`` and ``stratified`` (pass / fail):
      :func:`~srwidgets.trust.stratified_deletion` on the method's own objective (CEM: window PSNR against ``hr``);
    * ``rand_difference``, ``rand_t`` and ``randomisation``: :func:`~srwidgets.trust.randomisation`
      (``test="faithfulness"``), the twin's map scored in the same batch; ``spread_trained`` /
      ``spread_randomised`` (mass-weighted distance from the footprint, LR pixels);
    * ``planted_share``, ``planted_hit`` and ``planted``: :func:`~srwidgets.trust.planted` (``planted_kind``);
    * ``completeness_gap`` (path methods; else NaN) and ``invariance`` / ``invariant`` (flags: they do not decide);
    * ``verdict``: "trust (passes ...)" or "do not trust: fails ..."; ``gini``, ``diffusion_index``, ``seconds``.

    All rankings of one objective (every method, its randomised twin, the controls) are scored in one batch of
    forwards. ``checks``: a subset of :data:`CHECKS` (fewer checks, fewer attributions: ``planted`` runs the method
    on the whole image). ``knobs``: ``{method: {option: value}}``. The user's model is unchanged.

    ``df.attrs``: ``stratified`` {objective: :func:`~srwidgets.trust.score_rankings` dict (curves of every ranking
    and control)}, ``maps`` {method: [h, w]}, ``box``, ``window``, ``skipped`` {method: reason}, ``checks`` (those
    run), ``notes`` {check: why it did not run — the planted patch needs room beside the window}, ``imputation``,
    ``favours``.
    """
    import pandas as pd

    from ..attribution import attribute, method_class, window_grid

    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"report() got unknown options {sorted(unknown)}; method knobs go in knobs={{method: {{...}}}}")
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(checks, str):
        checks = [checks]
    bad = [c for c in checks if c not in CHECKS]
    if bad or not checks:
        raise InputError(f"checks={list(checks)!r}: choose one or more of {', '.join(CHECKS)}")
    if planted_kind not in KINDS:
        raise InputError(f"planted_kind={planted_kind!r} is not one of: {', '.join(KINDS)}")
    check_hooks(callback, cancel)
    methods = list(default_methods(hr) if methods is None else methods)
    for name in methods:
        method_class(name)
    knobs = dict(knobs or {})
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    box = eng.crop_for(x, window)
    dist = distance_map(tuple(x.shape[1:]), window, eng.scale)
    progress = {k: v for k, v in (("callback", callback), ("cancel", cancel)) if v is not None}
    run_options = dict(options, scale=eng.scale)
    notes = {}
    if "planted" in checks:
        try:  # the patch must fit the image beside the window; on a small image the self-test cannot run
            place_patch(tuple(x.shape[1:]), window, eng.scale, 8, 30, None, planted_kind, x)
        except InputError as e:
            notes["planted"] = f"not run: {e}"
            checks = [c for c in checks if c != "planted"]
    twin = None
    if "randomisation" in checks:
        twin, twin_options = randomised_twin(model, x, seed, **options)
    rows, maps, skipped, groups = {}, {}, {}, {}
    for name in methods:
        mk = dict(knobs.get(name, {}))
        if getattr(method_class(name), "needs_hr", False):
            if hr is None:
                skipped[name] = "needs the HR image (pass hr=)"
                continue
            mk.setdefault("hr", hr)
        grid = window_grid(method_class(name), mk, [eng.scale])
        if grid and any(v % grid for v in window):
            skipped[name] = (f"the window {tuple(window)} is not on its {grid}-SR-pixel block grid (corner and sides "
                             f"multiples of {grid})")
            continue
        t0 = time.perf_counter()
        result = attribute(model, x, window, name, **progress, **mk, **run_options)
        row = {"gini": result.gini, "diffusion_index": result.diffusion_index}
        maps[name] = result.map
        objective = default_objective(name)
        group = groups.setdefault(objective, {})
        group[name] = result.map
        if twin is not None:
            group[name + "|randomised"] = attribute(twin, x, window, name, **progress, **mk, **twin_options).map
        if "planted" in checks:
            p = planted(model, x, window, name, kind=planted_kind, **mk, **run_options)
            row.update(planted_share=p["share"], planted_hit=p["hit"], planted=_words(p["passed"]))
        if "completeness" in checks:
            gap = completeness_gap(result)
            row["completeness_gap"] = math.nan if gap is None else gap
        if "invariance" in checks:
            inv = input_invariance(model, x, window, name, result.map, box, knobs=mk, **run_options)
            row.update(invariance=inv, invariant=_words(None if math.isnan(inv) else inv >= INVARIANCE_THRESHOLD))
        row["seconds"] = time.perf_counter() - t0
        rows[name] = row
    stratified = {}
    for objective, rankings in groups.items():
        r = score_rankings(eng, x, window, box, rankings, objective=objective, hr=hr, imputation=imputation,
                           noise=noise, seeds=seeds, fractions=fractions, seed=seed, **progress)
        stratified[objective] = r
        for name in rankings:
            if name.endswith("|randomised"):
                continue
            score = r["curves"][name]["score"]
            row = rows[name]
            row.update(score=score, null_mean=r["null_mean"], null_sd=r["null_sd"], edge=r["edge"],
                       distance=r["distance"], objective=objective)
            judged = r["informative"]  # else the curves measure the imputation: neither check says pass or fail
            if not judged:
                notes["stratified"] = r["note"]
            if "stratified" in checks:
                row["stratified"] = _words(score > r["null_mean"] + 3 * r["null_sd"] and score > r["edge"]
                                           if judged else None)
            if twin is not None:
                diff = score - r["curves"][name + "|randomised"]["score"]
                sd = r["null_sd"]
                row.update(rand_difference=diff, rand_t=diff / sd if sd > 0 else math.nan,
                           randomisation=_words(diff > 2 * sd if judged else None),
                           spread_trained=mass_distance(crop_map(rankings[name], box), crop_map(dist, box)),
                           spread_randomised=mass_distance(crop_map(rankings[name + "|randomised"], box),
                                                           crop_map(dist, box)))
    for name, row in rows.items():
        row["verdict"] = verdict_words(row, checks)
    order = ["verdict", "score", "null_mean", "null_sd", "edge", "distance", "stratified", "rand_difference",
             "rand_t", "randomisation", "planted_share", "planted_hit", "planted", "completeness_gap", "invariance",
             "invariant", "spread_trained", "spread_randomised", "objective", "gini", "diffusion_index", "seconds"]
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df[[c for c in order if c in df.columns]]
    df.index.name = "method"
    df.attrs.update(stratified=stratified, maps=maps, box=box if box is not None else (0, 0, *x.shape[1:]),
                    window=window, skipped=skipped, checks=list(checks), notes=notes, imputation=imputation,
                    favours=FAVOURS[imputation])
    return df


def _key(model, image, window, method) -> tuple:
    return str(model), str(image), ",".join(str(int(v)) for v in window), str(method)


def _window_rows(model, lr, hr, window, methods, meta, report_options):
    """One window's :func:`report` as table rows (``model``, ``image``, ``window`` columns first): the task every
    backend of :func:`table` runs."""
    df = report(model, lr, window, methods, hr=hr, **report_options).reset_index()
    df.attrs = {}  # curves and maps stay with report(); a table row is numbers (and Ray ships less)
    df.insert(0, "window", ",".join(str(v) for v in _full(window)))
    df.insert(0, "image", meta["image"])
    df.insert(0, "model", meta["model"])
    return df


def table(models, images, windows, methods: Optional[Sequence[str]] = None, *, path: Optional[str] = None,
          callback=None, backend: str = "local", address: Optional[str] = None,
          workers: int = 2, cancel=None, **report_options):
    """:func:`report` over models × images × windows: one DataFrame row per (model, image, window, method).

    Args:
        models: zoo names, or ``{name: model}``.
        images: bundled image names (LR = bicubic down-sample by the model's scale, HR for methods that need it),
            or ``{name: lr [3, h, w]}`` (no HR).
        windows: a list of SR windows used on every image, or ``{image name: [windows]}``.
        path: a CSV file; rows already in it (same model, image, window, method) are not computed again and
            each finished window is appended at once, so an interrupted table resumes where it stopped.
        callback: called with ``(model, image, window)`` before each window (``backend="local"``) or as each
            window's rows arrive (``"ray"``): progress of the table.
        backend: ``"local"`` (windows one after another) or ``"ray"`` (one Ray task per window, as
            :func:`srwidgets.batch.di_table`'s Ray backend: ``address`` ``None`` starts a local instance with
            ``workers`` CPUs, ``"auto"`` / ``"ray://host:10001"`` joins a cluster); the same numbers either way.
        cancel: a token checked between windows (and while Ray tasks run).
        **report_options: passed to :func:`report` (``checks``, ``knobs``, ``imputation``, ``seeds``, ...).
    """
    import pandas as pd

    from .. import data, zoo
    from ..engine import check_choice, check_output
    from ..models import infer_scale
    from ..progress import check_cancel, check_hooks

    backend = check_choice("backend", backend, ("local", "ray"))
    if address is not None and backend != "ray":
        raise InputError("address= is for backend='ray'; drop it or pass backend='ray'")
    check_hooks(None, cancel)
    if callback is not None and not callable(callback):
        raise InputError(f"callback must be a function of (model, image, window), got {type(callback).__name__}")
    if path is not None:
        path = check_output(path, extensions=(".csv",), flag="path=", what="the table")
    model_items = list(models.items()) if isinstance(models, dict) else [(m, None) for m in models]
    done, frames, jobs = set(), [], []
    if path and os.path.exists(path) and os.path.getsize(path) > 0:
        try:
            old = pd.read_csv(path)
            done = {_key(r.model, r.image, str(r.window).split(","), r.method) for r in old.itertuples()}
        except (ValueError, AttributeError, pd.errors.ParserError) as e:
            raise InputError(f"path={path!r} is not a trust table this function wrote ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:120]}); delete it to start again, or pass another path=") \
                from None
    for mname, model in model_items:
        model = zoo.load(mname) if model is None else model
        scale = infer_scale(model)
        image_items = list(images.items()) if isinstance(images, dict) else [(i, None) for i in images]
        for iname, lr in image_items:
            hr = None
            if lr is None:
                lr, hr = data.lr_image(iname, scale), data.image(iname, scale)
            wins = windows.get(iname, []) if isinstance(windows, dict) else windows
            wins = list(dict.fromkeys(_full(w) for w in wins))  # a window listed twice is computed (and counted) once
            wanted = list(default_methods(hr) if methods is None else methods)
            for window in wins:
                keys = [_key(mname, iname, _full(window), m) for m in wanted]
                if not all(k in done for k in keys):
                    jobs.append((model, lr, hr, window, wanted, dict(model=mname, image=iname), report_options))

    def finished(df):
        if path:
            df.to_csv(path, mode="a", header=not os.path.exists(path) or os.path.getsize(path) == 0, index=False)
        done.update(_key(m, i, w.split(","), k) for m, i, w, k in zip(df["model"], df["image"], df["window"],
                                                                       df["method"]))
        frames.append(df)
        if backend == "ray" and callback is not None:
            callback(df["model"].iloc[0], df["image"].iloc[0], tuple(int(v) for v in df["window"].iloc[0].split(",")))

    if backend == "ray":
        from ..batch.ray_backend import run_calls

        run_calls(_window_rows, jobs, address, workers, finished, cancel)
    else:
        for job in jobs:
            check_cancel(cancel)
            if callback is not None:
                callback(job[5]["model"], job[5]["image"], job[3])
            finished(_window_rows(*job))
    if path:
        return pd.read_csv(path)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _full(window) -> tuple:
    w = tuple(int(v) for v in window)
    return w if len(w) == 4 else (w[0], w[1], w[2], w[2])
