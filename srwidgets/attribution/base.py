"""The base of window-attribution methods: :class:`WindowMethod` owns what every member needs, so a member is the
method's own math and nothing else.

What the base does, once for every member:

* **model preparation** (:func:`srwidgets.engine.prepare_model`: device, scale, dtype, the shape probe) and the
  model guard around every call (eval mode, frozen weights, everything restored);
* **inputs**: the LR image checked and placed, the window validated (SR pixels), the objective looked up;
* **the cached super-resolve forward** ``F(x)`` and the objective's value on it;
* **input gradients of the window objective for a batch of inputs** (:meth:`WindowMethod.gradients`), in chunks
  sized by one memory contract (bytes of activations per LR pixel per input, measured on the first chunk), with
  progress and cancel, model errors in plain words, NaN gradients zeroed (LAM's convention), and — only where the
  runtime's crop check proved it for this model — on the LR crop that holds the window's receptive field (a
  gradient outside it is exactly zero);
* **the result** (:func:`srwidgets.engine.results.make_result`): the map by the member's rule, Gini, DI.

A member subclasses :class:`WindowMethod`, sets ``name``, ``description`` and ``map_rule``, implements
``attribute(image, window, *, objective="gradient", callback=None, cancel=None, **knobs)`` and is registered with
:func:`srwidgets.attribution.register`. See :mod:`srwidgets.attribution.gradient` for the smallest one.
"""
from __future__ import annotations

import functools
import time
import warnings
from typing import Dict, List, NamedTuple, Optional

import torch
from torch import nn

from ..engine import guarded
from ..engine.base import Engine
from ..engine.forward import LazyInputs, forward_values, input_gradients, objective_values, splits_tail
from ..engine.inputs import check_flag
from ..engine.objectives import get_objective
from ..engine.prepare import model_errors
from ..engine.results import WindowAttribution, make_result
from ..engine.windows import clip_window, crop_box, measure_receptive_field, validate_window
from ..errors import InputError
from ..progress import CancelLike, Progress, ProgressCallback, check_hooks

__all__ = ["WindowMethod", "LazyInputs", "LayerGradients", "check_hooks", "EMPTY_MAP"]

EMPTY_MAP = "the attribution map is all zero"
"""The start of the warning :meth:`WindowMethod.result` gives for an all-zero map (filter on it)."""


class LayerGradients(NamedTuple):
    """What :meth:`WindowMethod.layer_gradients` returns: a layer's activation and the window objective's gradient
    with respect to it, ``[C, h', w']`` float64 each, and the layer's module name."""

    activation: torch.Tensor
    gradient: torch.Tensor
    layer: str


class WindowMethod(Engine):
    """Base of the window-attribution family (see the module docstring).

    Args:
        model: any ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]`` (never changed).
        scale: its scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device).
        chunk_size: inputs per forward/backward (default: sized by ``memory_budget``).
        memory_budget: bytes of activations per chunk (default 1 GiB on CPU, 60 % of free memory on CUDA); a
            number or a string such as ``"2GB"``.
        crop: run on the receptive-field crop around the window where the runtime verified it for this model.
        split_tail: for :class:`~srwidgets.models.protocol.SplitTail` models, run the upsampling tail only around
            the window (:func:`srwidgets.engine.forward.window_forward`; the SR pixels read are unchanged).
    """

    def __init_subclass__(cls, **kwargs):
        """Every member's ``attribute`` runs under :func:`~srwidgets.engine.guard.guarded` (eval mode, frozen
        weights, everything restored), however it is called (``srwidgets.attribute``, the widget, ``di_table``,
        directly): a member that runs ``self.prepared.forward`` itself cannot change the user's model."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("attribute")
        if own is None or getattr(own, "_guarded", False):
            return

        @functools.wraps(own)
        def attribute(self, *args, **knobs):
            with guarded(self.model):
                return own(self, *args, **knobs)

        attribute._guarded = True
        cls.attribute = attribute

    name = ""
    description = ""
    map_rule = "abs_sum"
    # -- what the member takes and can do: data every surface reads (the CLI, the widget, di_table) --------------
    knobs = None  # a tuple of srwidgets.attribution.Knob; None: inferred from attribute()'s keywords (knobs_of)
    open_knobs = False  # also takes knobs beyond its own, checked when it runs (SmoothGrad: its inner member's)
    needs_hr = False  # attribute() takes hr=, the HR image [3, s·h, s·w] (the window is compared with it)
    block_grid = 0  # windows must lie on this grid of SR pixels (corners and sides multiples of it); 0: any window
    many_windows = False  # has attribute_many(image, windows, **knobs): several windows of one image in one call
    kind = "gradient"  # "gradient" (input gradients), "forward" (forward passes only), "layer", "wrapper"

    def __init__(self, model: nn.Module, scale: Optional[int] = None, device=None, *, chunk_size: Optional[int] = None,
                 memory_budget=None, crop: bool = True, split_tail: bool = True):
        super().__init__(model, scale, device, chunk_size=chunk_size, memory_budget=memory_budget, crop=crop)
        self.split_tail = check_flag("split_tail", split_tail) and splits_tail(self.model)

    def sibling(self, cls) -> "WindowMethod":
        """An instance of another member ``cls`` on this one's prepared model, settings and caches: how wrappers
        such as SmoothGrad run an inner method. A member that sets its own state in ``__init__`` (LAM, CEM, yours)
        is built through its ``__init__`` on the prepared model (once per wrapper instance); one that does not
        shares this one's state (no new probe)."""
        members = self.__dict__.setdefault("_members", {})
        if cls in members:
            return members[cls]
        if cls.__init__ is WindowMethod.__init__:
            other = cls.__new__(cls)
            other.__dict__.update(self.__dict__)
            other._members = {}
        else:
            other = cls(self.model, self.scale, self.device, chunk_size=self.chunk_size,
                        memory_budget=self.memory_budget, crop=self.crop)
        members[cls] = other
        return other

    # -- what members implement ------------------------------------------------------------------------------------
    def attribute(self, image, window, **knobs) -> WindowAttribution:  # pragma: no cover - members
        raise NotImplementedError

    # -- inputs ----------------------------------------------------------------------------------------------------
    def inputs(self, image, window):
        """``(x [3, h, w] float64 on the device, window (top, left, height, width) checked in SR pixels)``."""
        x = self.prepared.image(image)
        h, w = x.shape[1:]
        return x, validate_window(window, self.scale * h, self.scale * w)

    def objective_value(self, x: torch.Tensor, window, objective="gradient") -> float:
        """``D(F(x))`` for the whole image (float)."""
        sr = self.super_resolve(x)
        sh, sw = sr.shape[-2:]
        return float(objective_values(get_objective(objective), sr[None], clip_window(window, self.scale, sh, sw), 1)
                     .sum())

    def crop_for(self, x: torch.Tensor, window):
        """The verified receptive-field LR box of ``window`` (``None``: the whole image)."""
        if not self.crop:
            return None
        h, w = x.shape[1:]
        with guarded(self.model):
            rf = measure_receptive_field(self.model, self.scale, max(h, w), self.device, self.dtype)
        return crop_box(window, rf, self.scale, h, w)

    # -- the gradient engine ---------------------------------------------------------------------------------------
    def gradients(self, points: torch.Tensor, window, objective="gradient", *, box=None, weights=None,
                  callback: ProgressCallback = None, cancel: CancelLike = None, stage: str = "gradients"):
        """Input gradients of the window objective, ``∇_x D(F(p))``, for LR inputs ``points``
        (:func:`srwidgets.engine.forward.input_gradients` on this engine, with its split tail).

        Args:
            points: ``[m, 3, h, w]`` whole-image inputs (float, on any device), or :class:`LazyInputs`.
            window: ``(top, left, height, width)`` in SR pixels of the whole image.
            objective: a name of :data:`srwidgets.engine.objectives.OBJECTIVES` or a callable.
            box: LR crop to run on (from :meth:`crop_for`); gradients outside it are zero.
            weights: ``None`` to return every gradient ``[m, 3, h, w]``; or ``[m, 3, h, w]`` (or a callable
                ``(start, stop) -> [k, 3, h, w]``, on the crop) to return only ``Σ_j weights_j ⊙ ∇_j`` as
                ``[3, h, w]`` — constant memory in ``m``.
            callback, cancel: progress ``Progress(done, m, stage)`` after each chunk; cancel checked before each.

        Returns:
            float64 tensor on the device: ``[m, 3, h, w]`` gradients, or ``[3, h, w]`` with ``weights``.
        """
        return input_gradients(self, points, window, objective, box=box, weights=weights, split_tail=self.split_tail,
                               callback=callback, cancel=cancel, stage=stage)

    # -- the forward engine ----------------------------------------------------------------------------------------
    def values(self, points, window, objective="gradient", *, box=None, callback: ProgressCallback = None,
               cancel: CancelLike = None, stage: str = "values") -> torch.Tensor:
        """Window objective values ``D(F(p))`` for LR inputs ``points``, forward passes only: ``[m]`` float64.

        The forward-only twin of :meth:`gradients` (occlusion, interventions, deletion curves): the same crop and
        split tail, chunks sized by the engine's one memory meter (metered on the first chunk when nothing is
        measured yet; :func:`srwidgets.engine.forward.forward_values`), progress after each chunk, cancel before.

        Args:
            points: ``[m, 3, h, w]`` whole-image inputs (float, on any device), or :class:`LazyInputs`.
            window: ``(top, left, height, width)`` in SR pixels of the whole image.
            objective: a name of :data:`srwidgets.engine.objectives.OBJECTIVES` or a callable ``(sr, window) -> [N]``.
            box: LR crop to run on (from :meth:`crop_for`; pixels outside it cannot change the value).
            callback, cancel: ``Progress(done, m, stage)`` after each chunk; cancel checked before each.

        Returns:
            ``[m]`` float64 on the device; equal to :meth:`objective_value` for the unchanged image (up to float
            rounding of the crop).
        """
        fn = get_objective(objective)
        check_hooks(callback, cancel)
        lazy = isinstance(points, LazyInputs)
        total, (h, w) = (points.total, points.image_shape) if lazy else (points.shape[0], tuple(points.shape[-2:]))
        local = clip_window(window, self.scale, self.scale * h, self.scale * w, box)
        bh, bw = (box[2], box[3]) if box else (h, w)

        def inputs(start, stop):
            p = points(start, stop) if lazy else points[start:stop]
            return p if box is None else p[..., box[0]:box[0] + bh, box[1]:box[1] + bw]

        def report(done, total_):
            if callback is not None:
                callback(Progress(done, total_, stage))

        with guarded(self.model):
            return forward_values(self, inputs, [local], [fn], total, pixels=bh * bw, split_tail=self.split_tail,
                                  cancel=cancel, on_chunk=report, nonfinite=f"{stage} inputs")[0]

    # -- the layer engine ------------------------------------------------------------------------------------------
    def layers(self, x: torch.Tensor) -> List[str]:
        """The model's layers at LR resolution, in the order the forward pass reaches them: names of modules whose
        output is one ``[1, C, h', w']`` tensor on an image of ``x``'s size ``h × w``, ``h <= h' < 2h`` (a model that
        pads its input to a multiple inside works at a little more), called once each. :meth:`layer_gradients`
        takes a name or an index of this list (negative from the end)."""
        return list(self._lr_layers(*x.shape[-2:]))

    def _lr_layers(self, h: int, w: int) -> Dict[str, int]:
        """``{name: channels}`` of :meth:`layers` (one probe forward per image size, kept)."""
        kept = self.__dict__.setdefault("_layer_probes", {})
        if (h, w) in kept:
            return kept[(h, w)]
        calls: Dict[str, int] = {}
        order: Dict[str, int] = {}

        def hook(name):
            def fn(module, inputs, out):
                calls[name] = calls.get(name, 0) + 1
                if isinstance(out, torch.Tensor) and out.dim() == 4 and h <= out.shape[-2] < 2 * h \
                        and w <= out.shape[-1] < 2 * w:  # LR resolution (padded inside to a multiple: a little more)
                    order.setdefault(name, int(out.shape[1]))
            return fn

        handles = [m.register_forward_hook(hook(n)) for n, m in self.model.named_modules() if n]
        try:
            with guarded(self.model):
                self.prepared.forward(torch.zeros(1, 3, h, w, device=self.device))
        finally:
            for handle in handles:
                handle.remove()
        kept[(h, w)] = {n: c for n, c in order.items() if calls[n] == 1}
        return kept[(h, w)]

    def default_layer(self, x: torch.Tensor) -> str:
        """The deepest layer at LR resolution with the trunk's width (the channels of the first layer with more than
        3): the features just before the upsampling (``body`` for EDSR / RCAN, the mapping for FSRCNN)."""
        widths = self._lr_layers(*x.shape[-2:])
        trunk = next((c for c in widths.values() if c > 3), None)
        same = [n for n, c in widths.items() if c == trunk]
        if not same:
            raise InputError("the model has no layer at LR resolution with more than 3 channels; pass layer= (a "
                             f"module name of model.named_modules()), e.g. one of: {', '.join(widths) or 'none'}")
        return same[-1]

    def layer_name(self, x: torch.Tensor, layer) -> str:
        """``layer`` (a name of ``model.named_modules()``, an index of :meth:`layers`, or ``None`` for
        :meth:`default_layer`) -> the module's name; an unknown one is refused with the choices."""
        if layer is None:
            return self.default_layer(x)
        names = self.layers(x)
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not -len(names) <= layer < len(names):
                raise InputError(f"layer={layer} is out of range: the model has {len(names)} layers at LR resolution "
                                 f"(indices {-len(names)}..{len(names) - 1}): {', '.join(names)}")
            return names[layer]
        modules = dict(self.model.named_modules())
        if not isinstance(layer, str) or not layer or layer not in modules:
            raise InputError(f"unknown layer {layer!r}; give a module name of the model (at LR resolution: "
                             f"{', '.join(names)}) or an index into that list")
        return layer

    def layer_gradients(self, x: torch.Tensor, window, layer=None, objective="gradient", *, box=None
                        ) -> "LayerGradients":
        """The activation ``A`` of ``layer`` and the gradient ``∂D/∂A`` of the window objective, for LR image ``x``.

        Args:
            x: the LR image ``[3, h, w]`` (from :meth:`inputs`).
            window: ``(top, left, height, width)`` in SR pixels of the whole image.
            layer: a module name, an index of :meth:`layers` (negative from the end), or ``None`` (the default:
                :meth:`default_layer`).
            objective: a name of :data:`~srwidgets.engine.objectives.OBJECTIVES` or a callable.
            box: LR crop to run on (:meth:`crop_for`; the activations and gradients are then the crop's, exact where
                the gradient is not zero); ``None``: the whole image, as CAM methods need (their weights average
                over the whole layer).

        Returns:
            :class:`LayerGradients` ``(activation [C, h', w'], gradient [C, h', w'], layer name)``, float64 on the
            device, in the layer's own grid (``h' × w'``: the crop's or the image's LR size for :meth:`layers`).
            The model runs whole (no split tail), under the guard; NaN gradients are zeroed.
        """
        name = self.layer_name(x, layer)
        module = dict(self.model.named_modules())[name]
        fn = get_objective(objective)
        h, w = x.shape[-2:]
        local = clip_window(window, self.scale, self.scale * h, self.scale * w, box)
        p = x if box is None else x[..., box[0]:box[0] + box[2], box[1]:box[1] + box[3]]
        seen = []

        def hook(mod, inputs, out):
            if not isinstance(out, torch.Tensor):
                raise InputError(f"layer {name!r} returns {type(out).__name__}, not a tensor; choose another layer")
            seen.append(out)
            return out.clone()  # later in-place operations change the copy, not the tensor differentiated

        handle = module.register_forward_hook(hook)
        try:
            with guarded(self.model), model_errors(), torch.enable_grad():
                q = p[None].to(self.device, self.dtype).detach().requires_grad_(True)  # so that a graph is built
                y = self.model(q)
                self.prepared.check_output_shape(y, q)
                if not seen:
                    raise InputError(f"layer {name!r} did not run in the forward pass; choose one of "
                                     f"{', '.join(self.layers(x))}")
                if len(seen) > 1:
                    raise InputError(f"layer {name!r} runs {len(seen)} times in one forward pass (a shared module); "
                                     f"choose one that runs once: {', '.join(self.layers(x))}")
                (g,) = torch.autograd.grad(objective_values(fn, y.float(), local, 1).sum(), seen[0])
        finally:
            handle.remove()
        act = seen[0].detach()[0].double()
        return LayerGradients(act, torch.nan_to_num(g[0].double(), nan=0.0), name)

    # -- results ---------------------------------------------------------------------------------------------------
    def result(self, x: torch.Tensor, window, attribution: torch.Tensor, *, t0: float, settings: dict,
               objective="gradient", objective_baseline: Optional[float] = None, box=None, amap=None,
               extras=None, rule: Optional[str] = None) -> WindowAttribution:
        """The member's :class:`WindowAttribution` (map by ``rule`` or the member's ``map_rule``).

        ``attribution``: ``[3, h, w]`` on the LR grid, or a one-channel map ``[h, w]`` / ``[1, h, w]`` (a CAM): its
        map is ``|m|`` over the largest, and ``.attribution`` holds ``m / 3`` in each channel (it sums to ``m``)."""
        if attribution.dim() == 2 or (attribution.dim() == 3 and attribution.shape[0] == 1):
            m = attribution.reshape(attribution.shape[-2:]).double()
            if amap is None:
                peak = m.abs().max()
                amap = m.abs() / peak if peak > 0 else m.abs()
            attribution = (m / 3)[None].expand(3, *m.shape)
        if attribution.dim() != 3 or attribution.shape[0] != 3 or tuple(attribution.shape[1:]) != tuple(x.shape[1:]):
            raise InputError(f"result(): the attribution must be [3, h, w], [1, h, w] or [h, w] on the LR grid "
                             f"{tuple(x.shape[1:])}, got {tuple(attribution.shape)}")
        sr = self.super_resolve(x)
        r = make_result(attribution, rule=rule or self.map_rule, sr=sr, image=x, window=window,
                           settings=dict(settings, method=self.name, scale=self.scale, device=str(self.device),
                                         objective=objective if isinstance(objective, str) else "custom",
                                         crop=box),
                           objective=self.objective_value(x, window, objective), objective_baseline=objective_baseline,
                           seconds=time.perf_counter() - t0, crop=box, method=self.name, amap=amap, extras=extras)
        if not bool((r.map != 0).any()):  # said, never silent: Gini 0 / DI 100 would read as a wide map
            warnings.warn(f"{EMPTY_MAP}: method={self.name!r}, window {tuple(r.window)} — nothing was attributed (the "
                          "objective does not change with the input here, or, for a CAM, the ReLU removed every "
                          "negative sum: try another layer or hirescam), so its Gini 0 / DI 100 describe an empty map, "
                          "not a wide one", stacklevel=3)
        return r
