"""Grad-CAM for an SR window (Selvaraju et al. 2017), and the base of every CAM variant.

Class activation mapping (Zhou et al. 2016) explains a classifier's class score ``y_c = Σ_k w_k^c · GAP(A_k)``
by ``M_c = Σ_k w_k^c A_k``: the layer's activation maps weighted by what the score does with them. Grad-CAM takes
the weights from gradients, ``α_k = mean_ij ∂D/∂A_k(i, j)``, so any network and any scalar — here the window
objective ``D`` — has one: ``M = ReLU(Σ_k α_k A_k)``, upsampled to the LR grid.

For a classifier the spatial mean is harmless (the score pools everything). For an SR window it is not: ``∂D/∂A``
is non-zero only near the window, but its mean weights each channel over the *whole* map, so ``M`` lights up
wherever a channel is active — anywhere in the image. HiResCAM (:mod:`srwidgets.attribution.hirescam`) keeps the
gradient element-wise and stays on the window. A variant overrides one step, :meth:`GradCAM.cam_weights`, as in
pytorch-grad-cam's ``get_cam_weights``.
"""
from __future__ import annotations

import inspect
import time

import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import WindowMethod
from .knobs import Knob, knobs_of


def _broadcasts(weights, shape) -> bool:
    """``weights`` is a tensor that broadcasts against ``shape`` without growing it."""
    try:
        return isinstance(weights, torch.Tensor) and torch.broadcast_shapes(weights.shape, shape) == shape
    except RuntimeError:
        return False


def on_lr_grid(cam: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A layer's map ``[h', w']`` on the LR grid ``[h, w]``: cropped where the layer is at LR resolution, padded at
    the bottom / right inside the model (``h <= h' < 2h``); averaged over blocks where it is finer (a layer after
    the upsampling, e.g. ``s·h``: each LR pixel gets the mean of its SR block, never the top-left corner alone);
    upsampled bilinearly where it is coarser."""
    hh, ww = cam.shape
    if h <= hh < 2 * h and w <= ww < 2 * w:
        return cam[:h, :w]
    if hh >= 2 * h and ww >= 2 * w:
        fh, fw = hh // h, ww // w
        return F.avg_pool2d(cam[None, None, :fh * h, :fw * w], (fh, fw))[0, 0]
    return F.interpolate(cam[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]


class GradCAM(WindowMethod):
    """Knob ``layer``: a module name or an index of :meth:`WindowMethod.layers` (default: the deepest layer at LR
    resolution with the trunk's width, :meth:`WindowMethod.default_layer`). The map is one channel, ReLU'd."""

    name, kind, map_rule = "gradcam", "layer", "abs_sum"
    description = "Grad-CAM: ReLU(Σ_k mean(∂D/∂A_k) A_k) at a layer (Selvaraju et al. 2017); not local for SR"
    knobs = (Knob("layer", "layer", None, "the layer: a module name or an index of its LR-resolution layers"),)

    def cam_weights(self, activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        """The weights of the activation maps ``A`` ``[C, h', w']`` given ``∂D/∂A`` (same shape), broadcast against
        them: Grad-CAM's ``[C, 1, 1]`` spatial means of the gradient. A variant that declares more knobs than
        ``layer`` receives them here as keyword arguments (``def cam_weights(self, activation, gradient, power=1.0)``)."""
        return gradient.mean(dim=(1, 2), keepdim=True)

    def attribute(self, image, window, *, layer=None, objective="gradient", callback=None, cancel=None, **weights):
        """``image`` ``[3, h, w]`` in [0, 1]; ``window`` in SR px; ``weights``: a variant's own knobs (declared in
        ``knobs`` besides ``layer``), passed to :meth:`cam_weights`. The model runs on the whole image (CAM weights
        average over the whole layer)."""
        t0 = time.perf_counter()
        own = [k.name for k in knobs_of(type(self)) if k.name != "layer"]
        unknown = sorted(set(weights) - set(own))
        if unknown:
            raise InputError(f"method={self.name!r} got an unknown option {unknown[0]!r}; its knobs are: "
                             f"{', '.join(['layer'] + own)}")
        params = inspect.signature(self.cam_weights).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            missing = [k for k in own if k not in params]
            if missing:
                raise InputError(f"{type(self).__name__}.cam_weights must take its knob{'s' if len(missing) > 1 else ''}"
                                 f" {', '.join(missing)} as keyword arguments: def cam_weights(self, activation, "
                                 f"gradient, {', '.join(f'{k}=...' for k in missing)})")
        x, window = self.inputs(image, window)
        act, grad, name = self.layer_gradients(x, window, layer, objective)
        cam_w = self.cam_weights(act, grad, **weights)
        if not _broadcasts(cam_w, act.shape):
            raise InputError(f"{type(self).__name__}.cam_weights must return weights broadcast against the activation "
                             f"{tuple(act.shape)} ([C, 1, 1] as Grad-CAM, or [C, h', w'] as HiResCAM), got "
                             f"{tuple(cam_w.shape) if isinstance(cam_w, torch.Tensor) else type(cam_w).__name__}")
        cam = torch.relu((cam_w * act).sum(0))
        if not bool(torch.isfinite(cam).all()):
            raise InputError(f"the CAM at layer {name!r} is not finite (NaN or Inf): {type(self).__name__}.cam_weights "
                             "or the layer's activation gave non-finite values; choose another layer")
        cam = on_lr_grid(cam, *x.shape[1:])
        return self.result(x, window, cam, t0=t0, settings=dict(layer=name, **weights), objective=objective)
