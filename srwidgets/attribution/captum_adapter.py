"""Captum's catalogue on an SR window: ``method="captum", algorithm="DeepLift"`` (any ``captum.attr`` class) runs
with the family's objective, crop and result type (optional: ``pip install "srwidgets[captum]"``).

Captum explains a network's scalar output. Here the network is :class:`WindowObjective`: the SR model followed by
the window objective ``D`` (one value per image), on the verified receptive-field crop of the LR input, so every
Captum algorithm — DeepLift, GradientShap, Occlusion, LRP, Lime, the layer methods, ... — answers the family's
question. The algorithm's own arguments pass through (``n_steps=``, ``sliding_window_shapes=``, ...); ``layer``
(a name or an index of :meth:`WindowMethod.layers`) goes to the layer algorithms' constructor, and ``baseline``
(a constant image) to those that take ``baselines`` when none is given. Layer results are summed over channels
and resized to the LR grid (a one-channel map).
"""
from __future__ import annotations

import ast
import inspect
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.objectives import get_objective
from ..engine.prepare import model_errors
from ..engine.windows import clip_window
from ..errors import InputError
from ..progress import Progress, check_cancel
from .base import WindowMethod
from .gradcam import on_lr_grid
from .knobs import Knob

NOT_FOR_ONE_WINDOW = {
    "NoiseTunnel": "it wraps another Captum algorithm rather than a model; use method='smoothgrad' (SmoothGrad over "
                   "any member, inner=...) or pass stdevs / nt_samples to your own NoiseTunnel",
    "FeaturePermutation": "it permutes features across the examples of a batch, and a window has one image (its map "
                          "is all zero); use algorithm='FeatureAblation'",
}
"""Captum classes that cannot explain one window of one image, with what to use instead."""

SHAP_DISTRIBUTION = ("DeepLiftShap", "LayerDeepLiftShap", "NeuronDeepLiftShap")
"""Captum algorithms that need ``baselines`` with more than one example (no constant default)."""

INSTALL = 'pip install "srwidgets[captum]"  (or: pip install captum)'


def captum_attr():
    """``captum.attr``, or an :class:`InputError` saying how to install it."""
    try:
        import captum.attr
    except ImportError:
        raise InputError(f"method='captum' needs Captum, which is not installed: {INSTALL}") from None
    return captum.attr


def parse_options(text) -> dict:
    """``"n_steps=16, sliding_window_shapes=(3, 4, 4)"`` -> ``{"n_steps": 16, "sliding_window_shapes": (3, 4, 4)}``
    (Python keywords with literal values: numbers, strings, tuples, lists, True / False / None); ``""``: ``{}``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if not isinstance(text, str):
        raise InputError(f"options must be a string of keywords such as 'n_steps=16, strides=2', got {text!r}")
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise ValueError("not name=value")
        names = [k.arg for k in call.keywords]
        if len(set(names)) != len(names):
            raise ValueError(f"a name given twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
        return {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, TypeError) as exc:
        raise InputError(f"options={text!r} is not a list of name=value keywords with literal values (numbers, "
                         f"strings, tuples, True/False/None), e.g. 'sliding_window_shapes=(3, 4, 4), strides=2': "
                         f"{exc}") from None


class WindowObjective(nn.Module):
    """``p [N, 3, h, w] -> D(F(p)) [N]``: the SR model and the window objective as one module (what Captum
    explains). ``window`` is in SR pixels of ``F(p)`` (of the crop)."""

    def __init__(self, model: nn.Module, window, objective="gradient", cancel=None):
        super().__init__()
        self.model, self.window, self.objective = model, tuple(window), get_objective(objective)
        self.cancel = cancel

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        check_cancel(self.cancel)  # before every forward pass Captum makes (FeatureAblation, Lime: thousands)
        return self.objective(self.model(p).float(), self.window).reshape(-1)


class CaptumMethod(WindowMethod):
    """Knobs: ``algorithm`` (a ``captum.attr`` class name), ``layer`` (layer algorithms), ``baseline`` (a constant
    baseline image for algorithms taking ``baselines``); any other keyword goes to the algorithm."""

    name, kind, map_rule, open_knobs = "captum", "wrapper", "abs_sum", True
    description = "Captum's catalogue (algorithm=DeepLift, GradientShap, Occlusion, LRP, ...) on the window objective"
    knobs = (Knob("algorithm", "str", "IntegratedGradients", "a captum.attr attribution class name"),
             Knob("layer", "layer", None, "for layer algorithms: a module name or an index of the LR-resolution layers"),
             Knob("baseline", "float", 0.0, "constant baseline image for algorithms taking baselines", low=0.0,
                  high=1.0, step=0.05),
             Knob("options", "str", "", "the algorithm's own arguments as Python keywords, e.g. "
                  "'sliding_window_shapes=(3, 4, 4), strides=2' or 'n_steps=16' (the CLI's and the widget's way to "
                  "pass them)"))

    def attribute(self, image, window, *, algorithm="IntegratedGradients", layer=None, baseline=0.0, options="",
                  objective="gradient", callback=None, cancel=None, **captum_args):
        """``image`` ``[3, h, w]`` in [0, 1]; ``window`` in SR px; ``captum_args`` the algorithm's own arguments."""
        t0 = time.perf_counter()
        given = parse_options(options)
        both = sorted(set(given) & set(captum_args))
        if both:
            raise InputError(f"{', '.join(both)} given twice, as a keyword and in options={options!r}; give it once")
        captum_args = {**given, **captum_args}
        ca = captum_attr()
        algo_cls = getattr(ca, algorithm, None) if isinstance(algorithm, str) else None
        if not (isinstance(algo_cls, type) and issubclass(algo_cls, ca.Attribution)) or inspect.isabstract(algo_cls):
            names = [n for n in dir(ca) if isinstance(getattr(ca, n), type) and issubclass(getattr(ca, n), ca.Attribution)
                     and not n.endswith(("Attribution", "Base")) and not n.startswith(("LLM", "Remote"))]
            raise InputError(f"algorithm={algorithm!r} is not a Captum attribution class; choose one of: "
                             f"{', '.join(names)}")
        if algorithm in NOT_FOR_ONE_WINDOW:
            raise InputError(f"algorithm={algorithm!r} does not fit method='captum': {NOT_FOR_ONE_WINDOW[algorithm]}")
        x, window = self.inputs(image, window)
        check_cancel(cancel)
        box = self.crop_for(x, window)
        h, w = x.shape[1:]
        r0, c0, bh, bw = box or (0, 0, h, w)
        net = WindowObjective(self.model, clip_window(window, self.scale, self.scale * h, self.scale * w, box),
                              objective, cancel)
        init_params = list(inspect.signature(algo_cls.__init__).parameters)[1:]
        call_params = set(inspect.signature(algo_cls.attribute).parameters) - {"self", "inputs"}
        init = {init_params[0]: net}  # forward_func or model
        if "layer" in init_params:
            init["layer"] = self._layer_module(x, self.layer_name(x, layer))
        unknown = sorted(set(captum_args) - call_params - set(init_params))
        if unknown:
            raise InputError(f"captum.attr.{algorithm} does not take {', '.join(unknown)}; its options: "
                             f"{', '.join(sorted((call_params | set(init_params[1:])) - {'layer', 'target'}))}")
        init.update({k: v for k, v in captum_args.items() if k in init_params and k not in init})
        call = {k: v for k, v in captum_args.items() if k in call_params}
        inp = x[None, :, r0:r0 + bh, c0:c0 + bw].to(self.device, self.dtype).requires_grad_(True)
        if "baselines" in call and isinstance(call["baselines"], torch.Tensor):  # the whole image's, cut as inp
            call["baselines"] = self._cut(call["baselines"], algorithm, h, w, r0, c0, bh, bw).to(inp)
        elif "baselines" in call_params and "baselines" not in call:
            if algorithm in SHAP_DISTRIBUTION:
                raise InputError(f"captum.attr.{algorithm} needs a distribution of baselines: pass baselines= a tensor "
                                 f"[k, 3, {h}, {w}] (k >= 2 LR images of the whole image's size, [0, 1]; cut to the "
                                 "receptive-field crop for you), or use algorithm='DeepLift' (or 'GradientShap') "
                                 "with baseline= a constant")
            call["baselines"] = torch.full_like(inp, float(baseline))
        try:
            with model_errors(), torch.enable_grad(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Setting forward, backward hooks")  # DeepLift's notice
                out = algo_cls(**init).attribute(inp, **call)
        except (TypeError, AssertionError, ValueError) as exc:
            why = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            hint = "; LRP needs a rule for every layer type of the model: use algorithm='DeepLift' (the same " \
                   "idea, any layer)" if "rule" in why and "LRP" in algorithm else ""
            raise InputError(f"captum.attr.{algorithm} refused these arguments: {why}{hint}") from None
        a = (out[0] if isinstance(out, tuple) else out).detach().double()[0]
        if a.dim() != 3 or a.shape[0] != 3 or tuple(a.shape[1:]) != (bh, bw):  # a layer's: one channel on the LR grid
            if a.dim() < 2:
                raise InputError(f"captum.attr.{algorithm} gave an attribution of shape {tuple(a.shape)}, not a map; "
                                 "use a layer algorithm on a convolutional layer (layer=) or an input algorithm")
            a = on_lr_grid(a.reshape(-1, *a.shape[-2:]).sum(0), bh, bw)[None]
        full = torch.zeros(a.shape[0], h, w, dtype=torch.float64, device=x.device)
        full[:, r0:r0 + bh, c0:c0 + bw] = torch.nan_to_num(a.to(x.device), nan=0.0)
        if callback is not None:
            callback(Progress(1, 1, algorithm))
        settings = dict(algorithm=algorithm, baseline=baseline,
                        **{k: v for k, v in captum_args.items() if isinstance(v, (int, float, str, bool, tuple))})
        if "layer" in init_params:
            settings["layer"] = self.layer_name(x, layer)
        return self.result(x, window, full, t0=t0, settings=settings, objective=objective, box=box)

    def _layer_module(self, x: torch.Tensor, name: str) -> nn.Module:
        """The module ``name``, checked as :meth:`WindowMethod.layer_gradients` checks it (one probe forward): it runs
        exactly once and returns one tensor (Captum would otherwise take one call of a shared module, or the first
        element of a tuple, without a word)."""
        module, seen = dict(self.model.named_modules())[name], []
        handle = module.register_forward_hook(lambda mod, inputs, out: seen.append(out))
        try:
            self.prepared.forward(x[None].to(self.device, self.dtype))
        finally:
            handle.remove()
        choose = ", ".join(self.layers(x))
        if not seen:
            raise InputError(f"layer {name!r} did not run in the forward pass; choose one of {choose}")
        if len(seen) > 1:
            raise InputError(f"layer {name!r} runs {len(seen)} times in one forward pass (a shared module); choose "
                             f"one that runs once: {choose}")
        if not isinstance(seen[0], torch.Tensor):
            raise InputError(f"layer {name!r} returns {type(seen[0]).__name__}, not a tensor; choose another layer: "
                             f"{choose}")
        return module

    @staticmethod
    def _cut(baselines: torch.Tensor, algorithm, h, w, r0, c0, bh, bw) -> torch.Tensor:
        """User ``baselines`` of the whole LR image (``[3, h, w]`` or ``[k, 3, h, w]``) cut to the crop."""
        b = baselines[None] if baselines.dim() == 3 else baselines
        if b.dim() != 4 or b.shape[1] != 3 or tuple(b.shape[-2:]) != (h, w):
            raise InputError(f"captum.attr.{algorithm}: baselines must be [3, {h}, {w}] or [k, 3, {h}, {w}] (the "
                             f"whole LR image's size; cut to the receptive-field crop for you), got "
                             f"{tuple(baselines.shape)}")
        return b[:, :, r0:r0 + bh, c0:c0 + bw].detach()
