"""Sanity checks by randomisation (Adebayo et al., NeurIPS 2018), for SR windows: a map that explains the model
must change when the model's weights are destroyed.

**As faithfulness (the default test).** :func:`randomisation` with ``test="faithfulness"`` re-initialises every
layer of a deep copy (:func:`randomised_twin`), takes the method's map from that twin, and scores it by the
stratified deletion test on the *trained* model beside the trained map: a method that explains the weights ranks
better for them than its map of random weights (``difference`` against the null's standard deviation). On local
models Spearman between the two maps cannot see this (both rank by distance to the window); the scores can.

**Model randomisation.** Layers are the modules that own parameters directly, in the order a forward pass of the
LR image first calls them (definition order, ``named_modules()``, is not always execution order; modules the
forward never calls cannot change a map and are left out). From the output layer back, each layer is
re-initialised — ``cascade=True``: that layer and every layer after it (cumulative); ``cascade=False``: that layer
alone (independent) — and the method's map on the randomised model is compared with the trained model's by
Spearman's rank correlation on the window's receptive-field box (:mod:`srwidgets.trust.ranking`). Near 1: the map
did not notice (the method fails the check); near 0: it did.

Re-initialisation (``init=``), seeded per layer by a CPU ``torch.Generator`` seeded with ``seed + i`` (``i`` the
layer's position from the output), so the global RNG is untouched and the numbers do not depend on the device:

* ``"normal"`` (default): every parameter tensor ``p`` of the layer becomes ``mean(p) + σ · N(0, 1)`` with
  ``σ = std(p)`` (the trained scale, so activations stay in range); a one-value or constant tensor uses
  ``σ = max(|mean(p)|, 0.01)``;
* ``"shuffle"``: a seeded permutation of each tensor's values (the trained distribution exactly, structure gone);
* ``"reset"``: the module's own ``reset_parameters()`` under ``torch.random.fork_rng`` seeded the same way.

The user's model is never touched: the work runs on one deep copy (parameters edited in place, restored from
saved copies between independent layers), so the user's ``state_dict`` is bit-identical afterwards.

**Input randomisation.** :func:`input_randomisation` compares the map of ``x`` with the map of ``x`` whose pixels
inside the receptive-field box are permuted (seeded): SR has no labels to randomise, but a map that does not change
when the content under the window is destroyed does not depend on the content.
"""
from __future__ import annotations

import copy
import math
from typing import List, Optional

import torch
from torch import nn

from ..engine import check_choice, check_number, check_seed, guarded
from ..engine.inputs import check_flag
from ..errors import InputError
from ..progress import check_hooks
from .curves import ENGINE_OPTIONS, check_method_knobs, window_engine
from .ranking import crop_map, spearman
from .stratified import default_objective, distance_map, mass_distance, score_rankings

__all__ = ["randomisation", "faithfulness_randomisation", "randomised_twin", "randomisation_rows", "layer_order",
           "randomise_layer", "input_randomisation", "INITS"]

INITS = {"normal": "mean + std · N(0, 1) per parameter tensor (the trained scale)",
         "shuffle": "a seeded permutation of each tensor's values",
         "reset": "the module's own reset_parameters() under a seeded fork_rng"}


def layer_order(model: nn.Module, x: torch.Tensor) -> List[str]:
    """Names of the modules that own parameters, in the order a forward pass of ``x`` ``[3, h, w]`` first calls
    them (``""`` for parameters on the root). Run on the model as given (guarded, no gradients)."""
    owners = {m: name for name, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None}
    if not owners:
        raise InputError(f"the model ({type(model).__name__}) has no parameters: there are no weights to randomise, "
                         "so the model-randomisation check does not apply to it")
    seen: List[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, inp, name=name: seen.append(name) if name not in seen else None)
               for m, name in owners.items()]
    try:
        dtype = next(model.parameters()).dtype
        with guarded(model), torch.inference_mode():
            model(x[None].to(dtype))
    finally:
        for hnd in handles:
            hnd.remove()
    return seen


def randomise_layer(module: nn.Module, seed: int, init: str = "normal") -> None:
    """Re-initialise the parameters ``module`` owns directly, in place (see the module docstring)."""
    g = torch.Generator().manual_seed(int(seed))
    if init == "reset":
        if not hasattr(module, "reset_parameters"):
            raise InputError(f"init='reset': {type(module).__name__} has no reset_parameters(); use init='normal' "
                             "or init='shuffle'")
        devices = sorted({p.device.index or 0 for p in module.parameters(recurse=False) if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            with torch.no_grad():
                module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            if not p.is_floating_point():
                continue
            flat = p.detach().double().flatten().cpu()
            if init == "shuffle":
                new = flat[torch.randperm(flat.numel(), generator=g)]
            else:
                mean = flat.mean()
                sigma = flat.std() if flat.numel() > 1 else torch.tensor(0.0, dtype=torch.float64)
                if not float(sigma) > 0:
                    sigma = torch.tensor(max(abs(float(mean)), 0.01), dtype=torch.float64)
                new = mean + sigma * torch.randn(flat.numel(), generator=g, dtype=torch.float64)
            p.copy_(new.reshape(p.shape).to(p.dtype))  # in place: bumps the version, so engine caches see it


def _work_copy(model, options):
    """One deep copy of the model on the engine's device (so in-place edits reach the engine that runs it)."""
    eng = window_engine(model, **options)
    work = copy.deepcopy(eng.model)
    return work, dict(options, scale=eng.scale, device=eng.device)


def randomisation_rows(model, lr, window, method: str = "lam", cascade: bool = True, seed: int = 0, *,
                       init: str = "normal", layers: Optional[List[str]] = None, knobs: Optional[dict] = None,
                       callback=None, cancel=None, **options) -> List[dict]:
    """:func:`randomisation` with details: one dict per layer, output layer first: ``layer``, ``spearman``,
    ``gini`` / ``diffusion_index`` of the randomised map, ``gini_trained`` / ``diffusion_index_trained``,
    ``randomised`` (how many layers are re-initialised), ``cascade``, ``method``. ``layers`` restricts the
    check to those names (still output first)."""
    from ..attribution import attribute, method_class

    method_class(method)
    init = check_choice("init", init, INITS)
    seed = check_seed(seed)
    cascade = check_flag("cascade", cascade)
    knobs = check_method_knobs(knobs)
    check_hooks(callback, cancel)
    if isinstance(layers, str):
        layers = [layers]
    if layers is not None:
        if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(n, str) for n in layers):
            raise InputError(f"layers must be a non-empty list of module names (or None for every layer), got "
                             f"{layers!r}")
    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"randomisation() got unknown options {sorted(unknown)}; method knobs go in knobs={{...}}")
    options = {k: v for k, v in options.items() if v is not None}
    work, opts = _work_copy(model, options)
    eng = window_engine(work, **opts)
    x, window = eng.inputs(lr, window)
    box = eng.crop_for(x, window)
    order = list(reversed(layer_order(work, x)))
    if layers is not None:
        missing = [n for n in layers if n not in order]
        if missing:
            raise InputError(f"layers {missing} are not modules with parameters that the forward pass calls; "
                             f"choose from: {', '.join(order)}")
        order = [n for n in order if n in set(layers)]
    modules = dict(work.named_modules())

    progress = {k: v for k, v in (("callback", callback), ("cancel", cancel)) if v is not None}

    def attribute_map():
        return attribute(work, lr, window, method, **progress, **knobs, **opts)

    trained = attribute_map()
    ref = crop_map(trained.map, box)
    saved = {n: [p.detach().clone() for p in modules[n].parameters(recurse=False)] for n in order}
    rows = []
    for i, name in enumerate(order):
        randomise_layer(modules[name], seed + i, init)
        r = attribute_map()
        rows.append({"method": method, "layer": name or "(root)", "cascade": bool(cascade),
                     "randomised": i + 1 if cascade else 1, "spearman": spearman(ref, crop_map(r.map, box)),
                     "gini": r.gini, "diffusion_index": r.diffusion_index, "gini_trained": trained.gini,
                     "diffusion_index_trained": trained.diffusion_index})
        if not cascade:
            with torch.no_grad():
                for p, v in zip(modules[name].parameters(recurse=False), saved[name]):
                    p.copy_(v)
    return rows


def randomised_twin(model, x, seed: int = 0, init: str = "normal", **options):
    """A deep copy of the (prepared) model with **every** layer re-initialised (:func:`randomise_layer`, layer
    ``i`` from the output seeded ``seed + i``): the twin of the randomisation test. The user's model is only read
    (``copy.deepcopy``)."""
    init = check_choice("init", init, INITS)
    work, opts = _work_copy(model, options)
    modules = dict(work.named_modules())
    for i, name in enumerate(reversed(layer_order(work, x))):
        randomise_layer(modules[name], seed + i, init)
    return work, opts


def faithfulness_randomisation(model, lr, window, method: str = "lam", seed: int = 0, *, init: str = "normal",
                               knobs: Optional[dict] = None, hr=None, imputation: str = "road",
                               noise: float = 0.01, seeds: int = 4, fractions=None, objective=None, threshold=2.0,
                               callback=None, cancel=None, **options) -> dict:
    """Randomisation as faithfulness (see :func:`randomisation`, ``test="faithfulness"``)."""
    from ..attribution import attribute, method_class

    cls = method_class(method)
    seed = check_seed(seed)
    knobs = check_method_knobs(knobs)
    check_hooks(callback, cancel)
    threshold = check_number("threshold", threshold, 0.0)
    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"randomisation() got unknown options {sorted(unknown)}; method knobs go in knobs={{...}}")
    options = {k: v for k, v in options.items() if v is not None}
    if getattr(cls, "needs_hr", False):
        if hr is None and "hr" not in knobs:
            raise InputError(f"method={method!r} explains the window's PSNR against the HR image: pass hr=")
        knobs.setdefault("hr", hr)
        hr = knobs["hr"]
    objective = default_objective(method) if objective is None else objective
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    box = eng.crop_for(x, window)
    progress = {k: v for k, v in (("callback", callback), ("cancel", cancel)) if v is not None}
    twin, opts = randomised_twin(model, x, seed, init, **options)
    trained = attribute(model, lr, window, method, **progress, **knobs, **options).map
    randomised = attribute(twin, lr, window, method, **progress, **knobs, **opts).map
    r = score_rankings(eng, x, window, box, {"trained": trained, "randomised": randomised}, objective=objective,
                       hr=hr, imputation=imputation, noise=noise, seeds=seeds, fractions=fractions, seed=seed,
                       **progress)
    dist = distance_map(tuple(x.shape[1:]), window, eng.scale)
    a, b = r["curves"]["trained"]["score"], r["curves"]["randomised"]["score"]
    difference = a - b
    sd = r["null_sd"]
    return {"difference": difference, "null_sd": sd, "t": difference / sd if sd > 0 else math.nan,
            "passed": bool(r["informative"] and difference > threshold * sd), "informative": r["informative"],
            "note": r["note"], "score_trained": a, "score_randomised": b,
            "null_mean": r["null_mean"], "edge": r["edge"],
            "distance_trained": mass_distance(crop_map(trained, box), crop_map(dist, box)),
            "distance_randomised": mass_distance(crop_map(randomised, box), crop_map(dist, box)),
            "map_trained": trained.detach().cpu(), "map_randomised": randomised.detach().cpu(), "method": method,
            "objective": objective if isinstance(objective, str) else "custom", "box": r["box"]}


def randomisation(model, lr, window, method: str = "lam", cascade: bool = True, seed: int = 0,
                  test: str = "faithfulness", **kwargs):
    """Model-randomisation check of ``method`` on one SR window.

    ``test="faithfulness"`` (default): the method's map from the model with **every** layer re-initialised (a
    deep copy: the user's model is only read) is scored by the stratified deletion test
    (:func:`srwidgets.trust.stratified_deletion`) **on the trained model**, beside the trained map, in one batch.
    A method that explains the trained weights ranks pixels better for them than its map of random weights does:
    ``difference = score(trained map) − score(randomised map)``, judged against the null's standard deviation
    (random orders within rings): ``passed`` when ``difference > threshold · null_sd`` (``threshold`` 2). One extra
    attribution per method instead of one per layer. Returns a dict: ``difference``, ``null_sd``, ``t``
    (``difference / null_sd``), ``passed`` (``False`` on a window the stratified test cannot judge: then
    ``informative`` is ``False`` and ``note`` says why), ``informative``, ``note``, ``score_trained``, ``score_randomised``, ``null_mean``, ``edge``,
    ``distance_trained`` / ``distance_randomised`` (mass-weighted distance, LR pixels, of each map from the window's
    footprint: what randomising the weights does change on local models — the map's spread), ``map_trained``,
    ``map_randomised`` ``[h, w]``, ``method``, ``objective``, ``box``. ``kwargs``: ``init``, ``knobs``, ``hr``
    (CEM), ``imputation``, ``noise``, ``seeds``, ``fractions``, ``objective``, ``threshold``, ``callback``,
    ``cancel``, engine options.

    ``test="spearman"``: Adebayo et al.'s cascade, ``[(layer_name, spearman), ...]`` from the output layer back —
    Spearman between the trained map and the map once the layer (``cascade=False``) or the layer and all after it
    (``cascade=True``) are re-initialised; ``nan`` where a map is constant. **Caveat**: on local models (every CNN
    of the zoo) a window's map over its receptive field is ranked mostly by distance to the window whatever the
    weights, so Spearman stays near 1 (0.93-0.98 on x4-fsrcnn / x4-edsr-lite even with every layer random) and every
    method "fails": the statistic is confounded by distance and cannot tell methods apart. ``kwargs``: ``init``,
    ``layers``, ``knobs``, ``callback``, ``cancel``, engine options; details: :func:`randomisation_rows`.

    The user's model is unchanged afterwards (bit-identical ``state_dict``, same mode and ``requires_grad``).
    """
    test = check_choice("test", test, ("faithfulness", "spearman"))
    if test == "faithfulness":
        check_flag("cascade", cascade)
        if "layers" in kwargs:
            raise InputError("layers= chooses the layers of the Spearman cascade: pass test='spearman' with it (the "
                             "faithfulness test randomises every layer)")
        return faithfulness_randomisation(model, lr, window, method, seed, **kwargs)
    return [(r["layer"], r["spearman"]) for r in randomisation_rows(model, lr, window, method, cascade, seed,
                                                                      **kwargs)]


def input_randomisation(model, lr, window, method: str = "lam", seed: int = 0, *, knobs: Optional[dict] = None,
                        **options) -> float:
    """Spearman between the map of ``lr`` and the map of ``lr`` with its pixels inside the window's
    receptive-field box permuted (a seeded CPU permutation of the box's pixel positions, all channels together).
    Low: the map depends on the content under the window."""
    from ..attribution import attribute, method_class

    method_class(method)
    seed = check_seed(seed)
    knobs = check_method_knobs(knobs)
    unknown = set(options) - set(ENGINE_OPTIONS)
    if unknown:
        raise InputError(f"input_randomisation() got unknown options {sorted(unknown)}; method knobs go in "
                         f"knobs={{...}}, engine options are {', '.join(ENGINE_OPTIONS)}")
    options = {k: v for k, v in options.items() if v is not None}
    eng = window_engine(model, **options)
    x, window = eng.inputs(lr, window)
    box = eng.crop_for(x, window)
    t, l, bh, bw = box if box else (0, 0, *x.shape[1:])
    perm = torch.randperm(bh * bw, generator=torch.Generator().manual_seed(seed))
    xr = x.clone()
    xr[:, t:t + bh, l:l + bw] = x[:, t:t + bh, l:l + bw].reshape(3, -1)[:, perm.to(x.device)].reshape(3, bh, bw)
    a = attribute(model, x, window, method, **knobs, **options).map
    b = attribute(model, xr, window, method, **knobs, **options).map
    return spearman(crop_map(a, box), crop_map(b, box))
