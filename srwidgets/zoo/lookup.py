"""Turning what users pass for "the model(s)" into models: zoo names, ``nn.Module`` s, lists, dicts, pairs.

Example:
    >>> from srwidgets.zoo.lookup import named_models
    >>> list(named_models(["x4-fsrcnn", "x4-fsrcnn"]))
    ['x4-fsrcnn', 'x4-fsrcnn #2']
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping, Tuple

from torch import nn

from ..errors import InputError

__all__ = ["resolve_model", "named_models", "model_pair"]


def resolve_model(model_or_name) -> nn.Module:
    """A zoo name (``"x4-edsr-lite"``) loads that model; an ``nn.Module`` is returned as it is."""
    if isinstance(model_or_name, str):
        from . import load

        return load(model_or_name)
    if not isinstance(model_or_name, nn.Module):
        raise InputError(f"expected an nn.Module or a zoo name, got {type(model_or_name).__name__}; "
                         "load weights with srwidgets.models.load(path) or srwidgets.zoo.load(name)")
    return model_or_name


def named_models(model_or_models) -> "OrderedDict[str, Any]":
    """``{name: model}`` from one model, a list or a dict; strings are zoo names."""
    if isinstance(model_or_models, Mapping):
        items = [(str(k), v) for k, v in model_or_models.items()]
    elif isinstance(model_or_models, (list, tuple)):
        items = [(None, m) for m in model_or_models]
    else:
        items = [(None, model_or_models)]
    if not items:
        raise InputError("give at least one model (an nn.Module, a zoo name, a list or a dict name -> model)")
    out: "OrderedDict[str, Any]" = OrderedDict()
    for name, model in items:
        if isinstance(model, str):
            name = name or model
        model = resolve_model(model)
        base = name or getattr(model, "zoo_name", None) or getattr(model, "arch", None) or type(model).__name__
        name, k = base, 2
        while name in out:
            name, k = f"{base} #{k}", k + 1
        out[name] = model
    return out




def model_pair(baseline, target) -> Tuple[nn.Module, nn.Module]:
    """``(baseline, target)`` models (zoo names allowed) that must share an architecture: the same parameter names
    and shapes (FAIG interpolates between them)."""
    a, b = resolve_model(baseline), resolve_model(target)
    sa = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    sb = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    if sa != sb:
        diff = []
        for k in [k for k in sa if sa[k] != sb.get(k)] + [k for k in sb if k not in sa]:
            a_shape = list(sa[k]) if k in sa else "missing"
            b_shape = list(sb[k]) if k in sb else "missing"
            diff.append(f"{k}: {a_shape} vs {b_shape}")
        more = f", ... ({len(diff)} differ)" if len(diff) > 4 else ""
        raise InputError("the baseline and target models differ in architecture (parameter names or shapes "
                         f"differ, e.g. {'; '.join(diff[:4])}{more}); use a target fine-tuned from the baseline")
    return a, b
