"""Ring-stratified deletion with ROAD imputation: does a map order the LR pixels *at each distance from the window*
better than chance?

Why stratify. On SR models the window's objective depends mostly on the LR pixels under and next to the window; a
plain deletion curve removes those first for every map (and for a ranking by distance alone), so every method ties.
Here the LR pixels of the window's verified receptive-field box are grouped into **rings** by their rounded
Euclidean distance (LR pixels, pixel centres) to the window's LR footprint (ring 0: the footprint itself). At each
fraction ``f`` the top (**MoRF**, most relevant first) or the bottom (**LeRF**) ``round(f · n_k)`` pixels of
**every** ring ``k`` are removed (halves rounded up), so every ranking removes the same number of pixels at each
distance, and only its order *within* rings can score.

Removed pixels are imputed (:mod:`srwidgets.trust.road`: ROAD's noisy linear imputation by default, seeded), and

    s(f) = (D(x_f) − D(x_B)) / (D(x) − D(x_B)),     x_B: the whole box removed,

so ``s(0) = 1`` and ``s(1) = 0`` for every ranking. ``score = AUC_LeRF − AUC_MoRF`` (trapezoid over the fractions,
default :data:`FRACTIONS`): positive when removing what the map ranks first hurts the window more than removing what
it ranks last. Ties in a map (a box margin of exact zeros, CEM's blocks) are broken by one seeded random order.

Controls, scored in the same batch: ``seeds`` random orders within rings (their mean and standard deviation are
the **null**), the LR **edge** magnitude, and the **distance** to the footprint (closest first: within a ring it
carries almost no information, so it scores inside the null band — the old curve's winner is no better than chance
here). ``passed``: ``score > null_mean + 3 · null_sd`` and ``score > edge``.

A window is **not judged** (``informative`` False, ``passed`` False, ``note`` in words) when removing the whole box
does not lower its objective, ``D(x_B) >= D(x)``: on a flat window ROAD's noise adds more local gradient than the
content it replaces, the normalisation's sign flips and a faithful map would score below chance.

Each method is scored on its own objective: LAM's local-gradient detector for the gradient members, the window's
PSNR against the HR image for CEM (``hr=`` required).

All inputs of one call (fractions × both orders × the method and the controls, plus ``x`` and ``x_B``) are forwards
of the box, batched by the memory budget (:func:`srwidgets.trust.forward.objective_batch`), imputed chunk by chunk.
"""
from __future__ import annotations

import math
import time
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..attribution import method_class, methods
from ..engine import check_number, check_seed
from ..errors import InputError
from ..progress import check_hooks
from .curves import ENGINE_OPTIONS, check_method_knobs, make_baseline, resolve_map, window_engine
from .forward import PSNR, objective_batch
from .road import IMPUTATIONS, impute
from .ranking import crop_map, edge_map

__all__ = ["stratified_deletion", "score_rankings", "FRACTIONS", "IMPUTATIONS", "FAVOURS", "footprint",
           "distance_map", "ring_map", "stratified_masks", "check_fractions", "mass_distance", "default_objective",
           "uninformative_note"]

FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
"""The default fractions of every ring removed (the issue's grid: dense where curves move)."""
FAVOURS = {"road": None, "blur": "favours blur-baseline methods (lam, ig with baseline='blurred'): their path "
                                 "starts where this imputation puts removed pixels"}
CONTROL_NAMES = ("edge", "distance")


def footprint(window, scale: int):
    """The window's LR footprint ``(row0, row1, col0, col1)``, inclusive: the LR pixels whose SR pixels it
    covers (``window`` in SR pixels)."""
    t, l, h, w = window
    return t // scale, (t + h - 1) // scale, l // scale, (l + w - 1) // scale


def distance_map(shape, window, scale: int) -> torch.Tensor:
    """``[h, w]`` float64: Euclidean distance (LR pixels) from each LR pixel to the window's LR footprint
    (0 inside it)."""
    r0, r1, c0, c1 = footprint(window, scale)
    rows = torch.arange(shape[0], dtype=torch.float64)
    cols = torch.arange(shape[1], dtype=torch.float64)
    dy = torch.clamp(torch.maximum(r0 - rows, rows - r1), min=0)
    dx = torch.clamp(torch.maximum(c0 - cols, cols - c1), min=0)
    return (dy[:, None] ** 2 + dx[None, :] ** 2).sqrt()


def ring_map(distance: torch.Tensor) -> torch.Tensor:
    """Rings: ``floor(distance + 0.5)`` as int64 (ring 0 = the footprint)."""
    return torch.floor(distance + 0.5).long()


def check_fractions(fractions) -> list:
    """``None`` -> :data:`FRACTIONS`; else increasing floats in [0, 1] from 0 to 1 (at least 3)."""
    if fractions is None:
        return list(FRACTIONS)
    try:
        f = [float(v) for v in fractions]
    except (TypeError, ValueError):
        raise InputError(f"fractions must be a list of numbers in [0, 1], e.g. {list(FRACTIONS)}; got "
                         f"{fractions!r}") from None
    if len(f) < 3 or not all(math.isfinite(v) for v in f):
        raise InputError(f"fractions must hold at least 3 finite numbers from 0 to 1, e.g. {list(FRACTIONS)}; got {f}")
    if any(v < 0 or v > 1 for v in f):
        raise InputError(f"fractions must lie in [0, 1] (the share of every ring removed); got {f}")
    if any(b <= a for a, b in zip(f, f[1:])):
        raise InputError(f"fractions must be strictly increasing; got {f}")
    if f[0] != 0 or f[-1] != 1:
        raise InputError(f"fractions must start at 0 and end at 1 (the curve is normalised between them); got {f}")
    return f


def stratified_masks(scores: torch.Tensor, rings: torch.Tensor, tiebreak: torch.Tensor, fractions: Sequence[float]):
    """``(morf, lerf)`` bool masks ``[F, bh, bw]`` (True = removed): per ring ``k`` of ``n_k`` pixels, the
    ``round(f · n_k)`` highest- (MoRF) or lowest-scored (LeRF) pixels, ties by ``tiebreak`` (lower first)."""
    s = scores.flatten().double().numpy()
    r = rings.flatten().numpy()
    tb = tiebreak.flatten().numpy()
    order = np.lexsort((tb, -s, r))  # by ring, then score (high first), then the seeded tie-break
    counts = np.bincount(r)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - start[r[order]]
    f = np.asarray(fractions, dtype=np.float64)[:, None]
    take = np.floor(f * counts[None, :] + 0.5).astype(np.int64)  # [F, rings]
    morf = rank[None, :] < take[:, r]
    lerf = rank[None, :] >= (counts[r][None, :] - take[:, r])
    shape = (len(fractions),) + tuple(scores.shape)
    return torch.from_numpy(morf.reshape(shape)), torch.from_numpy(lerf.reshape(shape))


def mass_distance(amap: torch.Tensor, distance: torch.Tensor) -> float:
    """``Σ m · d / Σ m``: the map's mass-weighted distance (LR pixels) from the footprint (nan for a zero map)."""
    m = amap.double().abs()
    total = float(m.sum())
    return float((m * distance).sum()) / total if total > 0 else math.nan


def needs_hr(attribution) -> bool:
    """Whether ``attribution`` (a member name, or a result of one) is a member that explains the window against the
    HR image (its ``needs_hr`` capability: CEM's window PSNR), asked of the family, never by name."""
    name = attribution if isinstance(attribution, str) else getattr(attribution, "method", None)
    if not isinstance(name, str) or name not in methods():
        return False
    return bool(method_class(name).needs_hr)


def default_objective(attribution) -> str:
    """``"psnr"`` for a member that needs the HR image (CEM; a name or a result of it), else ``"gradient"``."""
    return PSNR if needs_hr(attribution) else "gradient"


def _auc(fractions, s) -> float:
    f, v = np.asarray(fractions), np.asarray(s)
    return float(((f[1:] - f[:-1]) * (v[1:] + v[:-1]) / 2).sum())


def score_rankings(eng, x: torch.Tensor, window, box, rankings: Dict[str, torch.Tensor], *, objective="gradient",
                   hr=None, imputation: str = "road", noise: float = 0.01, seeds: int = 4, fractions=None,
                   seed: int = 0, controls: bool = True, callback=None, cancel=None) -> dict:
    """Stratified curves of several rankings of one window, with the controls, in one batch of forwards.

    Args:
        eng: the family's engine on the model (:func:`srwidgets.trust.curves.window_engine`).
        x: the LR image ``[3, h, w]`` (checked, on the device); ``window`` checked SR ``(top, left, height, width)``.
        box: the verified receptive-field LR box, or ``None`` (the whole image).
        rankings: name -> ``[h, w]`` scores (higher = more relevant).

    Returns:
        dict: ``curves`` {name: {``morf``, ``lerf`` (s per fraction), ``auc_morf``, ``auc_lerf``, ``score``}} for the
        rankings and the controls (``random:i``, ``edge``, ``distance``), ``null_scores``, ``null_mean``,
        ``null_sd``, ``edge``, ``distance``, ``fractions``, ``rings`` (pixels per ring), ``objective_input``
        ``D(x)``, ``objective_removed`` ``D(x_B)``, ``forwards``, ``box``, ``informative`` (``D(x_B) < D(x)``:
        removing the box lowers the objective, so the curves can judge a ranking) and ``note`` (why not, or
        ``None``).
    """
    if imputation not in IMPUTATIONS:
        raise InputError(f"imputation={imputation!r} is not one of: {', '.join(IMPUTATIONS)} "
                         "(road: ROAD's noisy linear imputation; blur: favours blur-baseline methods)")
    noise = check_number("noise", noise, 0.0)
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise InputError(f"seeds={seeds!r} must be an integer >= 1 (random orders within rings for the null; 4 is "
                         "the default, 2 the least with a standard deviation)")
    fractions = check_fractions(fractions)
    seed = check_seed(seed)
    h, w = x.shape[1:]
    ibox = box if box is not None else (0, 0, h, w)
    dist = crop_map(distance_map((h, w), window, eng.scale), ibox)
    rings = ring_map(dist)
    if int(rings.max()) == 0:
        raise InputError(f"window={tuple(window)}: its LR footprint covers the whole ranked box {tuple(ibox)}, so "
                         "there are no rings around it to stratify by; use a smaller window (or a larger image)")
    n = rings.numel()
    g = torch.Generator().manual_seed(seed)
    tiebreak = torch.randperm(n, generator=g)
    scores = {name: crop_map(m, ibox) for name, m in rankings.items()}
    if controls:
        for i in range(seeds):
            scores[f"random:{i}"] = torch.randperm(n, generator=g).double().reshape(rings.shape)
        scores["edge"] = crop_map(edge_map(x), ibox)
        scores["distance"] = -dist
    inner = fractions[1:-1]
    names = list(scores)
    masks = [torch.zeros(1, *rings.shape, dtype=torch.bool), torch.ones(1, *rings.shape, dtype=torch.bool)]
    for name in names:
        morf, lerf = stratified_masks(scores[name], rings, tiebreak, inner)
        masks += [morf, lerf]
    masks = torch.cat(masks)
    blurred = None
    if imputation == "blur":
        blurred = make_baseline(x, "blur")

    def make(start, stop):
        return impute(x, masks[start:stop], ibox, imputation=imputation, noise=noise, seed=seed, blurred=blurred)

    d = objective_batch(eng, make, masks.shape[0], (h, w), window, box, objective, hr=hr, callback=callback,
                        cancel=cancel)
    d_x, d_b = float(d[0]), float(d[1])
    span = d_x - d_b
    curves = {}
    k = len(inner)
    for i, name in enumerate(names):
        vals = d[2 + 2 * i * k: 2 + 2 * (i + 1) * k]
        out = {}
        for j, order in enumerate(("morf", "lerf")):
            raw = [d_x] + vals[j * k:(j + 1) * k].tolist() + [d_b]
            s = [(v - d_b) / span if span != 0 else math.nan for v in raw]
            out[order], out[f"auc_{order}"] = s, _auc(fractions, s)
        out["score"] = out["auc_lerf"] - out["auc_morf"]
        curves[name] = out
    informative = bool(span > 0)
    result = {"curves": curves, "fractions": fractions, "rings": torch.bincount(rings.flatten()).tolist(),
              "objective_input": d_x, "objective_removed": d_b, "forwards": int(masks.shape[0]), "box": ibox,
              "informative": informative, "note": None if informative else uninformative_note(d_x, d_b, noise)}
    if controls:
        null = np.array([curves[f"random:{i}"]["score"] for i in range(seeds)])
        result.update(null_scores=null.tolist(), null_mean=float(null.mean()),
                      null_sd=float(null.std(ddof=1)) if seeds > 1 else 0.0,
                      edge=curves["edge"]["score"], distance=curves["distance"]["score"])
    return result


def _verdict(score, null_mean, null_sd, edge, informative: bool = True) -> bool:
    return bool(informative and score > null_mean + 3 * null_sd and score > edge)


def uninformative_note(d_x: float, d_b: float, noise: float) -> str:
    """Why a window cannot be judged: removing the whole box does not lower its objective (``D(x_B) >= D(x)``)."""
    cause = (f"the imputation's noise (σ = {noise:g}) adds more local gradient than the box's content held"
             if noise > 0 else "the imputed box scores as high as the content it replaces")
    return (f"not judged: removing the whole box does not lower the window's objective (D(x) = {d_x:.4g}, "
            f"D(x_B) = {d_b:.4g}; {cause}), so the normalised curves measure the imputation, not the map. "
            "Pick a window with texture, or pass noise=0")


def stratified_deletion(model, lr, window, attribution, imputation: str = "road", noise: float = 0.01,
                        seeds: int = 4, fractions=None, objective=None, seed: int = 0, *, hr=None,
                        knobs: Optional[dict] = None, callback=None, cancel=None, **options) -> dict:
    """Ring-stratified MoRF / LeRF deletion of one SR window under one ranking (see the module docstring).

    Args:
        model: an SR ``nn.Module`` (never changed).
        lr: the LR image ``[3, h, w]`` in [0, 1].
        window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels.
        attribution: a map ``[h, w]`` / ``[3, h, w]`` (LR), a result with ``.map``, a method name (computed with
            ``srwidgets.attribute(model, lr, window, name, **knobs)``; ``"cem"`` gets ``hr``), or a control
            ``"random"`` / ``"edge"`` / ``"distance"``.
        imputation: ``"road"`` (default) or ``"blur"`` (favours blur-baseline methods: the result says so).
        noise: σ ≥ 0 of the imputation noise (ROAD's 0.01).
        seeds: random orders within rings for the null (≥ 1; the standard deviation needs ≥ 2).
        fractions: increasing fractions of each ring removed, 0 to 1 (default :data:`FRACTIONS`).
        objective: the window score; default LAM's ``"gradient"`` detector, ``"psnr"`` (against ``hr``) for CEM.
        seed: of the tie-break order, the null's orders and the imputation noise.
        hr: the HR image ``[3, s·h, s·w]`` in [0, 1] (CEM, ``objective="psnr"``).
        knobs: the method's options when ``attribution`` is a name.
        **options: engine options ``scale``, ``device``, ``chunk_size``, ``memory_budget``.

    Returns:
        dict: ``score`` (AUC_LeRF − AUC_MoRF), ``morf`` / ``lerf`` ``{"fractions", "s"}``, ``auc_morf``,
        ``auc_lerf``, ``null_mean``, ``null_sd``, ``null_scores``, ``edge``, ``distance`` (control scores),
        ``passed``, ``informative`` and ``note`` (``False`` and why, when removing the whole box does not lower the
        window's objective: the window cannot be judged, ``passed`` is ``False``), ``imputation``, ``favours`` (``None`` or why the imputation favours some methods), ``objective``,
        ``ranking``, ``box`` (LR), ``rings`` (pixels per ring), ``controls`` (the controls' curves), ``forwards``,
        ``seconds``.

    Example:
        >>> from srwidgets import data, trust, zoo
        >>> r = trust.stratified_deletion(zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4), (98, 84, 16),
        ...                               "gradient", seeds=2)
        >>> r["morf"]["s"][0], r["morf"]["s"][-1]
        (1.0, 0.0)
    """
    t0 = time.perf_counter()
    knobs = check_method_knobs(knobs)
    check_hooks(callback, cancel)
    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"stratified_deletion() got unknown options {sorted(unknown)}; method knobs go in "
                         f"knobs={{...}}, engine options are {', '.join(ENGINE_OPTIONS)}")
    options = {k: v for k, v in options.items() if v is not None}
    objective = default_objective(attribution) if objective is None else objective
    if isinstance(attribution, str) and needs_hr(attribution):
        if hr is None:
            raise InputError(f"attribution={attribution!r} explains the window's PSNR against the HR image: pass hr= "
                             "(the [3, s·h, s·w] ground truth)")
        knobs.setdefault("hr", hr)
    if objective == PSNR and hr is None:
        raise InputError("objective='psnr' (CEM's) compares the window with the HR image: pass hr=")
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    if isinstance(attribution, str) and attribution == "distance":
        amap, name = -distance_map(tuple(x.shape[1:]), window, eng.scale), "distance"
    else:
        amap, name = resolve_map(model, lr, window, attribution, x, seed, knobs, options)
    box = eng.crop_for(x, window)
    r = score_rankings(eng, x, window, box, {name: amap}, objective=objective, hr=hr, imputation=imputation,
                       noise=noise, seeds=seeds, fractions=fractions, seed=seed, callback=callback, cancel=cancel)
    c = r["curves"][name]
    return {"score": c["score"], "morf": {"fractions": r["fractions"], "s": c["morf"]},
            "lerf": {"fractions": r["fractions"], "s": c["lerf"]}, "auc_morf": c["auc_morf"],
            "auc_lerf": c["auc_lerf"], "null_mean": r["null_mean"], "null_sd": r["null_sd"],
            "null_scores": r["null_scores"], "edge": r["edge"], "distance": r["distance"],
            "passed": _verdict(c["score"], r["null_mean"], r["null_sd"], r["edge"], r["informative"]),
            "informative": r["informative"], "note": r["note"], "imputation": imputation,
            "favours": FAVOURS[imputation], "objective": objective if isinstance(objective, str) else "custom",
            "ranking": name, "box": r["box"], "rings": r["rings"],
            "controls": {k: v for k, v in r["curves"].items() if k != name},
            "objective_input": r["objective_input"], "objective_removed": r["objective_removed"],
            "forwards": r["forwards"], "seconds": time.perf_counter() - t0}
