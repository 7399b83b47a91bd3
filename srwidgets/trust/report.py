"""Which map to trust, as tables: one window (:func:`report`, the engine call behind the widget's Trust panel),
agreement between methods (:func:`agreement`), and methods × models × images × windows (:func:`table`, resumable).

Column conventions (all AUCs by the trapezoid rule over fractions in [0, 1], :mod:`srwidgets.trust.curves`):
``auc_deletion`` / ``auc_insertion`` on the raw objective scores, ``*_norm`` on the scores divided by ``D(F(x))``;
``del_vs_random`` = ``auc_deletion_norm`` of the row minus that of the random control (negative: the map deletes
the window's detail faster than chance — what a faithful map does), ``ins_vs_random`` likewise for insertion
(positive is faithful); ``edge_spearman``: rank correlation of the map with the LR edge magnitude on the
receptive-field box (near 1: the map could be an edge detector); ``rand_out`` / ``rand_all``: Spearman between the
trained model's map and the map once the output layer / every layer is re-initialised (cascade; near 1 fails the
randomisation check).
"""
from __future__ import annotations

import itertools
import os
import time
from typing import Dict, Optional, Sequence

import torch

from ..engine import check_number
from ..errors import InputError
from .curves import ENGINE_OPTIONS, deletion, window_engine
from .randomise import randomisation_rows
from .ranking import CONTROLS, as_map, crop_map, edge_map, spearman, top_overlap

__all__ = ["report", "agreement", "table", "default_methods"]


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


def report(model, lr, window, methods: Optional[Sequence[str]] = None, *, steps: int = 20, baseline="blur",
           modes: Sequence[str] = ("deletion", "insertion"), controls: Sequence[str] = ("random", "edge"),
           block: int = 1, spacing: str = "linear", randomise: bool = False, hr=None, knobs: Optional[dict] = None, seed: int = 0,
           callback=None, cancel=None, **options):
    """The trust report of one window: a DataFrame indexed by method (then the controls), columns as in the
    module docstring plus ``kind`` (``"method"`` / ``"control"``), ``gini``, ``diffusion_index``, ``seconds``
    (attribution time). ``knobs``: ``{method: {option: value}}`` (e.g. ``{"lam": {"steps": 20}}``); methods that
    need the HR image (``needs_hr``) get ``hr=hr``. ``randomise=True`` adds ``rand_out`` / ``rand_all`` (one cascade
    per method: as many attributions as the model has layers).

    ``df.attrs``: ``curves`` {(name, mode): :func:`~srwidgets.trust.deletion` dict}, ``maps`` {name: [h, w]},
    ``box`` (the LR box ranked), ``randomisation`` {method: rows}, ``skipped`` {method: reason}.
    """
    import pandas as pd

    from ..attribution import attribute, method_class

    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"report() got unknown options {sorted(unknown)}; method knobs go in knobs={{method: {{...}}}}")
    options = {k: v for k, v in options.items() if v is not None}
    methods = list(default_methods(hr) if methods is None else methods)
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise InputError(f"unknown controls {bad}; choose from {', '.join(CONTROLS)}")
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    box = eng.crop_for(x, window)
    edges = crop_map(edge_map(x), box)
    knobs = dict(knobs or {})
    progress = {k: v for k, v in (("callback", callback), ("cancel", cancel)) if v is not None}
    rows, curves, maps, skipped, rand = [], {}, {}, {}, {}
    for name in list(methods) + list(controls):
        is_control = name in controls and name not in methods
        row = {"method": name, "kind": "control" if is_control else "method"}
        if is_control:
            source = name
        else:
            cls = method_class(name)
            mk = dict(knobs.get(name, {}))
            if getattr(cls, "needs_hr", False):
                if hr is None:
                    skipped[name] = "needs the HR image (pass hr=)"
                    continue
                mk.setdefault("hr", hr)
            t0 = time.perf_counter()
            source = attribute(model, x, window, name, **progress, **mk, **options)
            row.update(gini=source.gini, diffusion_index=source.diffusion_index, seconds=time.perf_counter() - t0)
            maps[name] = source.map
            row["edge_spearman"] = spearman(crop_map(source.map, box), edges)
        for mode in modes:
            c = deletion(model, x, window, source, steps, baseline, mode, block=block, seed=seed, spacing=spacing,
                         **progress,
                         **options)
            curves[(name, mode)] = c
            row[f"auc_{mode}"], row[f"auc_{mode}_norm"] = c["auc"], c["auc_normalised"]
        if randomise and not is_control:
            r = _cascade(model, x, window, name, seed, knobs, hr, options)
            rand[name] = r
            row["rand_out"], row["rand_all"] = r[0]["spearman"], r[-1]["spearman"]
        rows.append(row)
    df = pd.DataFrame(rows).set_index("method")
    for mode, short in (("deletion", "del"), ("insertion", "ins")):
        col = f"auc_{mode}_norm"
        if col in df and "random" in df.index:
            df[f"{short}_vs_random"] = df[col] - df.loc["random", col]
    df.attrs.update(curves=curves, maps=maps, box=box, randomisation=rand, skipped=skipped, window=window)
    return df


def _cascade(model, x, window, name, seed, knobs, hr, options):
    from ..attribution import method_class

    mk = dict(knobs.get(name, {}))
    if getattr(method_class(name), "needs_hr", False):
        mk.setdefault("hr", hr)
    return randomisation_rows(model, x, window, name, True, seed, knobs=mk, **options)


def _key(model, image, window, method) -> tuple:
    return str(model), str(image), ",".join(str(int(v)) for v in window), str(method)


def _window_rows(model, lr, hr, window, methods, meta, randomise, report_options):
    """One window's :func:`report` as table rows (``model``, ``image``, ``window`` columns first): the task every
    backend of :func:`table` runs."""
    df = report(model, lr, window, methods, randomise=randomise, hr=hr, **report_options).reset_index()
    df.attrs = {}  # curves and maps stay with report(); a table row is numbers (and Ray ships less)
    df.insert(0, "window", ",".join(str(v) for v in _full(window)))
    df.insert(0, "image", meta["image"])
    df.insert(0, "model", meta["model"])
    return df


def table(models, images, windows, methods: Optional[Sequence[str]] = None, *, path: Optional[str] = None,
          randomise: bool = False, callback=None, backend: str = "local", address: Optional[str] = None,
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
        **report_options: passed to :func:`report` (``steps``, ``baseline``, ``modes``, ``knobs``, ...).
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
            wanted = list(default_methods(hr) if methods is None else methods)
            for window in wins:
                keys = [_key(mname, iname, _full(window), m) for m in wanted]
                if not all(k in done for k in keys):
                    jobs.append((model, lr, hr, window, wanted, dict(model=mname, image=iname), randomise,
                                 report_options))

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
