"""DDR — Deep Degradation Representations (Liu, Liu, Gu et al. 2021): does an SR network sort its inputs by
*degradation* rather than by image content?

The method, as in ``docs/algorithms.md`` (functions below in the same order):

1. **inputs**: every HR image under every degradation (default :data:`DEGRADATIONS`: clean, blur, noise), each LR
   input labelled with its degradation and its image (:func:`build_inputs`);
2. **features** of chosen layers by forward hooks — all layers in one pass per batch, no gradients — globally
   average-pooled per channel: one ``C``-vector per input and layer (:meth:`DDR.features`);
3. the **Calinski-Harabasz index** of those pooled features grouped by degradation, and by image identity, per
   layer (:func:`calinski_harabasz`): high by degradation and low by image means the layer represents the
   degradation, not the content;
4. a **2-D embedding** to look at: PCA (instant), t-SNE (the paper's figures), UMAP when installed
   (:func:`embed`, :meth:`DDRResult.embed`).

The user's model is never changed (:func:`srwidgets.engine.guarded`); features are cached per (model weights and
buffers, layer, inputs), so a second question about the same inputs costs no forward pass.

Example:
    >>> import numpy as np
    >>> from srwidgets import models
    >>> from srwidgets.ddr import chi_per_layer
    >>> model = models.build("EDSR", num_feat=8, num_block=2, upscale=2)
    >>> images = [np.random.default_rng(i).random((32, 32, 3)) for i in range(3)]   # HWC in [0, 1]
    >>> chi = chi_per_layer(model, images)            # clean / blur / noise, CHI by degradation, per layer
    >>> list(chi), all(v >= 0 for v in chi.values())
    (['body.0', 'body.1', 'conv_after_body'], True)
"""
from __future__ import annotations

import hashlib
import numbers
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import degrade
from .engine import (LRUCache, check_choice, check_int, check_memory_budget, check_number, check_seed, ensure_fits,
                     estimate_chunk, guarded, image_digest, model_key, run_chunks)
from .engine.inputs import check_value_range
from .engine.prepare import prepare_model
from .data import centre_crop, load_images
from .errors import InputError
from .models.protocol import feature_layers
from .progress import CancelLike, Progress, ProgressCallback, check_hooks

MIN_SIZE = 32
"""Smallest HR side (pixels) accepted: below it the blur kernel (13×13 for σ = 2) and the network see mostly border."""
GROUPINGS = ("degradation", "image")
EMBEDDINGS = ("pca", "tsne", "umap")
MIN_POINTS = 3
"""Fewest points :func:`embed` accepts: with two, PCA has one direction and t-SNE / UMAP no neighbourhood to keep."""
_SHOWN = 12  # names listed in one error message before "... and N more"


def _listing(names, limit: int = _SHOWN) -> str:
    """``names`` joined by commas, at most ``limit`` of them, then "... and N more" (messages stay a few lines)."""
    names = [str(n) for n in names]
    more = f", ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more

DEGRADATIONS: Dict[str, Callable[[int], degrade.Compose]] = {
    "clean": lambda s: degrade.Compose([degrade.BicubicDown(s), degrade.Quantize()]),
    "blur": lambda s: degrade.Compose([degrade.Blur(2.0), degrade.BicubicDown(s), degrade.Quantize()]),
    "noise": lambda s: degrade.Compose([degrade.BicubicDown(s), degrade.Noise(15.0), degrade.Quantize()]),
}
"""The default set, label -> the HR -> LR pipeline at scale ``s``: ``"clean"`` bicubic ×1/s; ``"blur"`` Gaussian
blur σ = 2 (HR pixels) then bicubic ×1/s; ``"noise"`` bicubic ×1/s then Gaussian noise σ = 15 (0-255 scale). All are
clipped and quantised to 8 bits. :func:`default_degradations` builds them for one scale."""


def default_degradations(scale: int) -> Dict[str, degrade.Compose]:
    """:data:`DEGRADATIONS` at ``scale``: ``{"clean": Compose, "blur": Compose, "noise": Compose}``."""
    scale = check_int("scale", scale, 1)
    return {label: make(scale) for label, make in DEGRADATIONS.items()}


# -- 1. inputs ----------------------------------------------------------------------------------------------------
@dataclass
class DDRInputs:
    """LR inputs of DDR: image ``m`` under degradation ``d`` is input ``i = m·D + d`` (image-major).

    ``lr`` ``[N, 3, h, w]`` and ``hr`` ``[M, 3, H, W]`` are float32 CPU tensors in [0, 1] (``h = H/s``)."""

    lr: torch.Tensor
    labels: List[str]  # N: the degradation of each input
    image_ids: List[int]  # N: index into image_names / hr
    image_names: List[str]  # M
    hr: torch.Tensor  # [M, 3, H, W], the (cropped) HR images that were degraded
    degradations: List[str]  # D labels, in order
    scale: int
    seed: int
    cropped_to: Optional[Tuple[int, int]] = None  # (H, W) when images of mixed sizes were centre-cropped
    notes: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.lr.shape[0]


def _noise_seed(seed: int, image: int, label: str) -> int:
    """Seed of one (image, degradation): stable across runs and across the order or number of degradations."""
    label_hash = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little")
    return int(np.random.SeedSequence([seed % 2 ** 64, image, label_hash]).generate_state(1)[0])


_DEGRADATIONS_HINT = ("degradations must be a non-empty dict {label: degrade.Compose} (e.g. {'blur σ1': "
                      "Compose([Blur(1), BicubicDown(2), Quantize()])}), a list of default labels "
                      f"({', '.join(DEGRADATIONS)}), or None for the default set")


def _pipelines(degradations, scale: int) -> Dict[str, Callable]:
    """``degradations`` as :func:`build_inputs` takes them -> ``{label: pipeline}`` (a new dict, in order)."""
    if degradations is None:
        return default_degradations(scale)
    if isinstance(degradations, str):
        degradations = [degradations]  # one default label
    if isinstance(degradations, (list, tuple)) and all(isinstance(d, str) for d in degradations):
        if not degradations:
            raise InputError(f"no degradation given; {_DEGRADATIONS_HINT}")
        defaults = default_degradations(scale)
        labels = [check_choice("degradation", d, defaults) for d in degradations]
        twice = [d for k, d in enumerate(labels) if d in labels[:k]]
        if twice:
            raise InputError(f"degradation {twice[0]!r} is listed twice; list each label once")
        return {d: defaults[d] for d in labels}
    if not isinstance(degradations, Mapping) or not degradations:
        got = "an empty dict" if isinstance(degradations, Mapping) else f"{type(degradations).__name__}"
        raise InputError(f"{_DEGRADATIONS_HINT}; got {got}")
    for label, pipe in degradations.items():
        if not isinstance(label, str) or not label:
            raise InputError(f"degradation label {label!r}: labels must be non-empty strings (e.g. 'blur σ1')")
        if not callable(pipe):
            raise InputError(f"degradation {label!r}: expected a degrade.Compose (or a callable "
                             f"f(hr [1, 3, H, W], seed=int) -> lr [1, 3, h, w]), got {type(pipe).__name__}")
    return dict(degradations)


# steps that are deterministic and act on each image alone: a batch gives each image's own result
_PER_IMAGE_STEPS = (degrade.BicubicDown, degrade.BilinearDown, degrade.Blur, degrade.JPEG, degrade.Quantize)


def _degrade(hr: torch.Tensor, label: str, pipe, seed: int) -> torch.Tensor:
    """``pipe`` on every HR image ``[M, 3, H, W]`` -> LR ``[M, 3, h, w]`` float32 in [0, 1]; the random steps of
    image ``m`` seeded from ``(seed, m, label)``. The deterministic steps of a ``Compose`` before its first and
    after its last random step run on the whole batch at once: the same values (they draw nothing from the
    generator) with far fewer small tensor operations (inputs of 200 64x64 crops 3x faster); the steps between
    run image by image."""
    if isinstance(pipe, degrade.Compose):
        fixed = [type(step) in _PER_IMAGE_STEPS for step in pipe.steps]
        first = fixed.index(False) if False in fixed else len(fixed)
        last = len(fixed) - fixed[::-1].index(False) if False in fixed else len(fixed)
        head, middle, tail = (degrade.Compose(pipe.steps[a:b]) for a, b in
                              ((0, first), (first, last), (last, len(fixed))))
    else:
        head, middle, tail = degrade.Compose([]), pipe, degrade.Compose([])
    def one(x, m):
        y = middle(x, seed=_noise_seed(seed, m, label))
        if not isinstance(y, torch.Tensor):
            raise InputError(f"degradation {label!r} returned {type(y).__name__}; a pipeline must return a torch "
                             "tensor [1, 3, h, w] (torch.from_numpy(...) for numpy results)")
        return y

    try:
        x = head(hr)
        if middle is pipe or middle.steps:
            x = torch.cat([one(x[m:m + 1], m) for m in range(x.shape[0])])
        x = tail(x)
    except InputError as e:
        raise InputError(f"degradation {label!r}: {e}" if repr(label) not in str(e) else str(e)) from None
    except (TypeError, ValueError, RuntimeError, ArithmeticError, IndexError, AttributeError) as e:
        # a user's callable that fails: name it and say what it is called with, not a traceback from inside it
        raise InputError(f"degradation {label!r} failed: {type(e).__name__}: {str(e)[:200]}; a pipeline is called "
                         "as f(hr [1, 3, H, W] float in [0, 1], seed=int) and returns LR [1, 3, h, w]") from None
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[:2]) != (hr.shape[0], 3):
        raise InputError(f"degradation {label!r} returned {getattr(x, 'shape', type(x).__name__)} for HR images "
                         f"{tuple(hr.shape)}; expected LR [N, 3, h, w] (a pipeline maps [1, 3, H, W] to [1, 3, h, w])")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"degradation {label!r} returned NaN or Inf")
    return x.float().clamp(0, 1)


def build_inputs(hr_images, degradations=None, scale: int = 2, seed: int = 0) -> DDRInputs:
    """Degrade every HR image with every degradation: the labelled LR inputs of DDR.

    Args:
        hr_images: a list of HR images — float ``H × W × 3`` numpy arrays in [0, 1] (uint8 accepted), torch
            ``[3, H, W]`` tensors, file paths or bundled image names — or a folder (every image file in it, sorted
            by name). Each side at least :data:`MIN_SIZE` pixels. Mixed sizes are centre-cropped to the smallest
            common size (a multiple of ``scale``), with a warning and ``cropped_to`` set.
        degradations: ``{label: pipeline}``, a pipeline being a :class:`srwidgets.degrade.Compose` from HR
            ``[1, 3, H, W]`` to LR ``[1, 3, H/s, W/s]`` (or any callable ``f(hr, seed=int)``); several levels of one
            type are more labels (``"blur σ1"``, ``"blur σ3"``). A list of default labels picks from
            :data:`DEGRADATIONS`; ``None`` is the default set.
        scale: the SR scale ``s`` the default pipelines down-sample by.
        seed: the random steps (noise) of image ``m`` and degradation ``label`` use a seed derived from
            ``(seed, m, label)``: the same seed gives the same inputs.

    Returns:
        :class:`DDRInputs`; LR values clipped to [0, 1].
    """
    scale, seed = check_int("scale", scale, 1), check_seed(seed)
    pipelines = _pipelines(degradations, scale)
    if hr_images is None or isinstance(hr_images, (bool, int, float, complex, bytes, Mapping)) \
            or not (isinstance(hr_images, (str, os.PathLike, np.ndarray, torch.Tensor))
                    or hasattr(hr_images, "__iter__")):
        raise InputError(f"hr_images must be a list of HR images (H x W x 3 arrays in [0, 1], [3, H, W] tensors, file "
                         f"paths or bundled names) or a folder, got {type(hr_images).__name__}")
    images, names = load_images(hr_images)
    need = max(MIN_SIZE, scale)
    for x, name in zip(images, names):
        if min(x.shape[1:]) < need:
            raise InputError(f"HR image {name!r} is {x.shape[2]}×{x.shape[1]} pixels; DDR needs at least {need}×{need} "
                             f"(at least {MIN_SIZE} px and the scale {scale}): use larger images")
    height = min(x.shape[1] for x in images) // scale * scale
    width = min(x.shape[2] for x in images) // scale * scale
    notes, cropped_to = [], None
    if len({tuple(x.shape) for x in images}) > 1:
        sizes = ", ".join(f"{n} {x.shape[2]}×{x.shape[1]}" for x, n in list(zip(images, names))[:4])
        more = f", ... ({len(images)} images)" if len(images) > 4 else ""
        note = (f"HR images have different sizes ({sizes}{more}); each was centre-cropped to {width}×{height}, the "
                f"smallest common size (a multiple of the scale {scale})")
        warnings.warn(note, UserWarning, stacklevel=2)
        notes.append(note)
        cropped_to = (height, width)
    hr = torch.stack([centre_crop(x, height, width) for x in images]).contiguous()

    outs = {label: _degrade(hr, label, pipe, seed) for label, pipe in pipelines.items()}
    shapes = {label: tuple(y.shape[-2:]) for label, y in outs.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(f"the degradations give LR inputs of different sizes ({shapes}); every pipeline must "
                         "down-sample by the same factor")
    h, w = next(iter(shapes.values()))
    if (h, w) != (height // scale, width // scale):
        notes.append(f"the degradations map {width}×{height} HR to {w}×{h} LR, not ×1/{scale}")
    lr = torch.stack(list(outs.values()), 1).flatten(0, 1).contiguous()  # image-major: i = m·D + d
    labels = list(pipelines) * len(images)
    image_ids = [m for m in range(len(images)) for _ in pipelines]
    return DDRInputs(lr, labels, image_ids, names, hr, list(pipelines), scale, seed,
                     cropped_to, notes)


# -- 2. features --------------------------------------------------------------------------------------------------
class _StopForward(BaseException):
    """Raised by the last hook to fire: the rest of the network (the upsampler, at SR resolution) is not needed.
    A ``BaseException`` so that a model's own ``except Exception`` cannot swallow it."""


def _first_tensor(output) -> Optional[torch.Tensor]:
    """The output itself, or the first tensor in a tuple / list / dict output (depth first); ``None`` if none."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, Mapping) else output if isinstance(output, (tuple, list)) else ()
    for v in values:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None


def pool(output, layer: str = "the layer") -> torch.Tensor:
    """Global average pooling of one layer's output per channel: float64 ``[N, C]`` on the CPU.

    ``[N, C, H, W]`` (or more spatial dims) -> mean over the spatial dims; ``[N, L, C]`` tokens (transformer
    layers, e.g. SwinIR's groups) -> mean over ``L``; ``[N, C]`` as is. A tuple / list / dict output pools its
    first tensor; an output with no tensor raises :class:`InputError` naming ``layer``."""
    t = _first_tensor(output)
    if t is None:
        raise InputError(f"layer {layer!r} returns {type(output).__name__} with no tensor in it, so it has no features "
                         "to pool; pick another layer (DDR.layers() lists them)")
    if t.dim() < 2:
        raise InputError(f"layer {layer!r} returns a tensor of shape {tuple(t.shape)}; DDR needs [N, C, H, W] "
                         "feature maps (or [N, L, C] tokens); pick another layer")
    if t.dim() == 2:
        return t.detach().double().cpu()
    dims = (1,) if t.dim() == 3 else tuple(range(2, t.dim()))
    return t.detach().mean(dim=dims, dtype=torch.float64).cpu()


class DDR:
    """DDR on one model: pooled features of its layers and their clustering by degradation and by image.

    Args:
        model: an SR ``nn.Module`` (``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s·h, s·w]``) or a zoo name.
        scale: its scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device; the user's model never moves).
        batch_size: LR inputs per forward pass (default: as many as fit in ``memory_budget``, measured on the
            first batch; at most 64 on CPU).
        memory_budget: bytes of activations per batch, or a string such as ``"1GB"`` (default: 512 MiB on CPU,
            60 % of free memory on CUDA).

    Example:
        >>> from srwidgets import models
        >>> engine = DDR(models.build("EDSR", num_feat=8, num_block=2, upscale=2))
        >>> engine.layers()
        ['body.0', 'body.1', 'conv_after_body']
    """

    def __init__(self, model, scale: Optional[int] = None, device=None, batch_size: Optional[int] = None,
                 memory_budget: Optional[int] = None):
        from .zoo.lookup import resolve_model

        self.prepared = prepare_model(resolve_model(model), scale, device)
        self.model, self.device, self.scale, self.dtype = (self.prepared.model, self.prepared.device,
                                                           self.prepared.scale, self.prepared.dtype)
        self.batch_size = check_int("batch_size", batch_size, 1, " or None") if batch_size is not None else None
        self.memory_budget = check_memory_budget(memory_budget)
        self._layers = feature_layers(self.model)
        if not self._layers:
            raise InputError(f"the model ({type(self.model).__name__}) has no feature layers: no feature_layers() "
                             "and no child modules to hook; wrap its parts in sub-modules")
        self._bytes_per_pixel: Optional[float] = None  # activation memory per LR pixel and input, first batch
        self._cache = LRUCache(256)  # pooled features per (model state, layer, inputs); SR images

    # -- public API ---------------------------------------------------------------------------------------------
    def layers(self) -> List[str]:
        """The valid layer names, shallow to deep (:func:`srwidgets.models.protocol.feature_layers`)."""
        return [name for name, _ in self._layers]

    def select_layers(self, layers=None) -> List[str]:
        """``layers`` (a name or a list; ``None``: all) checked, without repeats, ordered shallow to deep."""
        valid = self.layers()
        if layers is None:
            return valid
        iterable = not isinstance(layers, (str, bytes, Mapping)) and hasattr(layers, "__iter__")
        asked = list(layers) if iterable else [layers]
        unknown = [name for name in asked if not isinstance(name, str) or name not in valid]
        if unknown or not asked:
            what = (f"unknown layer {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                    if unknown else "no layer given")
            raise InputError(f"{what}; layers are names (strings); valid layers (shallow to deep): {_listing(valid)}")
        return [name for name in valid if name in asked]

    def features(self, inputs, layers=None, callback: ProgressCallback = None,
                 cancel: CancelLike = None) -> Dict[str, np.ndarray]:
        """Globally average-pooled features of ``layers`` for every input.

        Args:
            inputs: :class:`DDRInputs`, or LR images ``[N, 3, h, w]`` float in [0, 1].
            layers: a layer name or a list of them (default: all of :meth:`layers`).
            callback: called after each batch with ``Progress(done, total, "features")`` (inputs done).
            cancel: token, event or callable, checked before every batch: raises
                :class:`~srwidgets.errors.Cancelled`; the cache keeps only complete layers.

        Returns:
            ``{layer: float64 array [N, C_layer]}``, shallow to deep; arrays are read-only (shared with the cache).
        """
        check_hooks(callback, cancel)  # before any work: a bad hook must not fail after the first batch
        lr = inputs.lr if isinstance(inputs, DDRInputs) else self._lr_batch(inputs)
        names = self.select_layers(layers)
        base = (model_key(self.model), image_digest(lr))
        found = {name: self._cache.get((base, name)) for name in names}
        missing = [name for name in names if found[name] is None]
        if missing:
            for name, feats in self._extract(lr, missing, callback, cancel).items():
                feats.setflags(write=False)
                self._cache.put((base, name), feats)
                found[name] = feats
        elif callback is not None:
            callback(Progress(len(lr), len(lr), "features", info={"cached": True}))
        return found

    def analyse(self, hr_images, degradations=None, layers=None, seed: int = 0, callback: ProgressCallback = None,
                cancel: CancelLike = None) -> "DDRResult":
        """:func:`build_inputs`, :meth:`features` and both CHIs per layer: a :class:`DDRResult`.

        ``hr_images`` may also be :class:`DDRInputs` built before (``degradations`` and ``seed`` are then unused).
        Needs at least 2 images and 2 degradations (CHI needs more points than groups either way)."""
        t0 = time.perf_counter()
        check_hooks(callback, cancel)
        if isinstance(hr_images, DDRInputs):
            inputs = hr_images
            if inputs.scale != self.scale:
                raise InputError(f"the inputs were built for x{inputs.scale}, the model is x{self.scale}")
        else:
            inputs = build_inputs(hr_images, degradations, self.scale, seed)
        names = self.select_layers(layers)
        for by in GROUPINGS:
            _check_groups(inputs, by)
        feats = self.features(inputs, names, callback, cancel)
        all_layers = self.layers()
        return DDRResult(
            layers=names, features=feats, labels=list(inputs.labels), image_ids=list(inputs.image_ids),
            image_names=list(inputs.image_names),
            chi_degradation={n: calinski_harabasz(feats[n], inputs.labels) for n in names},
            chi_image={n: calinski_harabasz(feats[n], inputs.image_ids) for n in names},
            depth={n: all_layers.index(n) for n in names}, inputs=inputs,
            settings=dict(scale=self.scale, seed=inputs.seed, degradations=list(inputs.degradations),
                          device=str(self.device)),
            seconds=time.perf_counter() - t0, notes=list(inputs.notes), engine=self)

    def super_resolve(self, image) -> torch.Tensor:
        """``F(x)`` of one LR image ``[3, h, w]`` in [0, 1]: ``[3, s·h, s·w]`` float32 CPU, clamped to [0, 1]
        (cached; the model guarded)."""
        x = self._lr_batch(image[None] if isinstance(image, torch.Tensor) and image.dim() == 3 else image)

        def make():  # float32 -> float64 -> the model's dtype: the same values as a direct cast
            return self.prepared.super_resolve(x[0].to(self.device, torch.float64)).clamp(0, 1).float().cpu()
        return self._cache.get_or_make((model_key(self.model), image_digest(x), "sr"), make)

    # -- the hooked pass (step 2) -------------------------------------------------------------------------------
    def _extract(self, lr: torch.Tensor, names: List[str], callback, cancel) -> Dict[str, np.ndarray]:
        parts: Dict[str, list] = {name: [] for name in names}
        pixels = lr.shape[-2] * lr.shape[-1]
        height, width = lr.shape[-2:]
        # a floor before anything runs (8 float32 maps of 3 channels per input, far below any network's), then
        # the measured need of one input once the first batch has run (_batch)
        ensure_fits(8 * 3 * pixels * 4, width, height, self.device, "LR input")

        def run(start, stop):
            for name, pooled in self._hooked_pass(lr[start:stop], names).items():
                parts[name].append(pooled)

        report = (lambda done, total: callback(Progress(done, total, "features"))) if callback is not None else None
        with guarded(self.model), torch.inference_mode():
            run_chunks(lr.shape[0], run, chunk=lambda: self._batch(pixels, (height, width)), cancel=cancel, on_chunk=report)
        out = {name: torch.cat(parts[name]).numpy() for name in names}
        for name, feats in out.items():
            if not np.isfinite(feats).all():
                raise InputError(f"the features of layer {name!r} contain NaN or Inf; the model's weights or the "
                                 "inputs may be broken")
        return out

    def _hooked_pass(self, x: torch.Tensor, names: List[str]) -> Dict[str, torch.Tensor]:
        """One forward pass of a batch with a hook on every layer in ``names``: ``{layer: pooled [n, C]}``. The pass
        stops once every hook has fired (a module run twice gives its first output)."""
        modules, pooled, largest = dict(self._layers), {}, [0]
        measuring = self._bytes_per_pixel is None

        def meter(module, args, output):
            t = _first_tensor(output)
            if t is not None:
                largest[0] = max(largest[0], t.numel() * t.element_size())

        def hook(name):
            def fn(module, args, output):
                if name not in pooled:
                    pooled[name] = pool(output, name)
                    if pooled[name].shape[0] != x.shape[0]:
                        raise InputError(f"layer {name!r} returns a batch of {pooled[name].shape[0]} for {x.shape[0]} "
                                         "inputs; DDR needs outputs with the batch in dim 0")
                    if len(pooled) == len(names):
                        raise _StopForward
            return fn

        # meters first: hooks of one module run in registration order, and the last layer's hook stops the pass
        leaves = [m for m in self.model.modules() if next(m.children(), None) is None] if measuring else []
        handles = [m.register_forward_hook(meter) for m in leaves]
        handles += [modules[name].register_forward_hook(hook(name)) for name in names]
        try:
            self.prepared.forward(x.to(self.device))  # model faults in plain words; _StopForward passes through
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        unseen = [name for name in names if name not in pooled]
        if unseen:
            raise InputError(f"layer(s) {', '.join(map(repr, unseen))} did not run in the model's forward pass, so "
                             "there is nothing to hook; pick layers the forward pass uses")
        if measuring:
            # saved_bytes() meters what autograd saves for backward: nothing under inference mode. Here a tensor is
            # freed as soon as nothing uses it, so the peak is a few feature maps alive together (a block's input
            # kept for its skip, the conv output, its activation, the sum): 4 x the largest leaf output + the input.
            self._bytes_per_pixel = (4 * largest[0] + x.numel() * 4) / (x.shape[0] * x.shape[-2] * x.shape[-1])
        return pooled

    def _batch(self, pixels: int, size: Optional[Tuple[int, int]] = None) -> int:
        """Inputs per forward pass (:func:`srwidgets.engine.estimate_chunk`; the first batch is 1, it measures).
        Its own caps, not LAM's: forward-only feature extraction keeps gaining from larger batches on CPU (up to
        64, within 512 MiB; 1024 on CUDA). The measured need is already a peak (:meth:`_hooked_pass`): safety 1."""
        if not self.batch_size and self._bytes_per_pixel is not None and size is not None:
            ensure_fits(self._bytes_per_pixel * pixels, size[1], size[0], self.device, "an LR input")
        return estimate_chunk(self._bytes_per_pixel, pixels, self.device, self.batch_size, self.memory_budget,
                              cap=1024 if self.device.type == "cuda" else 64, safety=1, cpu_budget=1 << 29)

    def _lr_batch(self, images) -> torch.Tensor:
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(images)
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 \
                or not images.is_floating_point():
            got = (f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor)
                   else type(images).__name__)
            raise InputError(f"expected DDRInputs or LR images as a float tensor [N, 3, h, w] in [0, 1], got "
                             f"{got}; build them with build_inputs()")
        if images.numel() == 0:
            raise InputError(f"the LR images are empty (shape {tuple(images.shape)}); pass at least one [3, h, w] "
                             "image with h, w >= 1")
        check_value_range(images, "the LR batch")
        return images.detach().float().cpu().clamp(0, 1).contiguous()


# -- 3. Calinski-Harabasz -----------------------------------------------------------------------------------------
def calinski_harabasz(features, groups: Sequence) -> float:
    """Calinski-Harabasz index of ``features`` ``[N, C]`` grouped by ``groups`` (``N`` labels, any hashable).

    ``CHI = [tr(B) / (k − 1)] / [tr(W) / (N − k)]``: between-group over within-group dispersion, ``k`` groups;
    higher means tighter, better separated groups; ``>= 0``, no upper bound. Computed by scikit-learn's
    ``calinski_harabasz_score`` in float64, except two cases where it returns 1.0: features all equal (nothing
    separates anything) give **0.0**, and groups that are each one repeated point but differ (perfect
    separation, ``tr(W) = 0``) give ``inf``.

    Raises:
        InputError: fewer than 2 groups, or as many groups as points (CHI then has no within-group dispersion).
    """
    from sklearn.metrics import calinski_harabasz_score

    x = _as_features(features)
    if x.ndim == 1:
        x = x[:, None]
    if groups is None or isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise InputError(f"groups must be a sequence of N labels (one per row of features), got "
                         f"{type(groups).__name__}")
    groups = list(groups)
    if x.ndim != 2 or x.shape[0] != len(groups):
        raise InputError(f"features must be [N, C] with one group label per row; got {x.shape} and {len(groups)} labels")
    _, codes = np.unique(np.array([str(g) for g in groups]), return_inverse=True)
    n, k = x.shape[0], int(codes.max()) + 1 if len(groups) else 0
    if k < 2:
        raise InputError(f"CHI needs at least 2 groups, got {k}" + (f" (all {groups[0]!r})" if k else ""))
    if k >= n:
        raise InputError(f"CHI needs at least 2 groups and more points than groups: got {k} groups for {n} points "
                         "(each group a single point has no within-group spread)")
    if not np.isfinite(x).all():
        raise InputError("features contain NaN or Inf; CHI needs finite values")
    if np.ptp(x, axis=0).max() == 0:
        return 0.0
    centred = [x[codes == g] - x[codes == g].mean(0) for g in range(k)]
    if all(not c.any() for c in centred):
        return float("inf")
    return float(calinski_harabasz_score(x, codes))


def _check_groups(inputs: DDRInputs, by: str) -> None:
    """Refuse, before any forward pass, inputs on which CHI ``by`` degradation / image cannot be computed."""
    images, degs = len(inputs.image_names), len(inputs.degradations)
    if by == "degradation":
        if degs < 2:
            raise InputError(f"CHI needs at least 2 groups: got 1 degradation ({inputs.degradations[0]!r}); pass at "
                             f"least 2 (the default set: {', '.join(DEGRADATIONS)})")
        if images < 2:
            raise InputError("CHI needs at least 2 groups and more points than groups: with 1 image each degradation "
                             "is a single point; pass at least 2 images")
    else:
        if images < 2:
            raise InputError(f"CHI needs at least 2 groups: by='image' got a single image ({inputs.image_names[0]!r}); "
                             "pass at least 2 images")
        if degs < 2:
            raise InputError("CHI needs at least 2 groups and more points than groups: with 1 degradation each image "
                             "is a single point; pass at least 2 degradations")




def _as_features(features) -> np.ndarray:
    """``features`` as a float64 array, or an :class:`InputError` saying what it is instead."""
    try:
        return np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"features must be numbers, an array [N, C] (N points, C channels), got "
                         f"{type(features).__name__}") from None


# -- 4. embeddings ------------------------------------------------------------------------------------------------
def _one_thread():
    """Native thread pools (OpenMP, BLAS) limited to one thread inside the block, when threadpoolctl is there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1)


def embed(features, method: str = "pca", perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """A 2-D embedding of ``features`` ``[N, C]``: float64 ``[N, 2]``.

    ``"pca"``: the first two principal components (instant, deterministic). ``"tsne"``: scikit-learn's t-SNE
    (PCA initialisation, ``random_state=seed``); ``perplexity`` above ``(N − 1) / 3`` is clipped to it with a
    warning (t-SNE needs perplexity < N). ``"umap"``: needs the ``umap-learn`` package.

    Raises:
        InputError: fewer than :data:`MIN_POINTS` points, all points identical (nothing to lay out: every
            method would put them on one spot), NaN / Inf, or features that are not ``[N, C]``.
    """
    method = check_choice("method", method, EMBEDDINGS)
    perplexity, seed = check_number("perplexity", perplexity, 1e-6), check_seed(seed, numpy=True)
    x = _as_features(features)
    if x.ndim != 2 or x.shape[1] < 1:
        raise InputError(f"features must be [N, C] (N points, C >= 1 channels), got shape {x.shape}")
    n = x.shape[0]
    if n < MIN_POINTS:
        raise InputError(f"an embedding needs at least {MIN_POINTS} points, got {n}: with fewer there is no layout "
                         "to show; use more images or degradations")
    if not np.isfinite(x).all():
        raise InputError("features contain NaN or Inf; an embedding needs finite values (the model's weights or "
                         "the inputs may be broken)")
    if np.ptp(x, axis=0).max() == 0:
        raise InputError(f"all {n} points have identical features, so an embedding cannot separate them (the "
                         "layer's output does not depend on its input); pick another layer")
    centred = x - x.mean(0)
    spread = np.abs(centred).max()
    if spread > 1e100 or 0 < spread < 1e-100:
        # squared distances would overflow (or underflow): both embeddings are equivariant to a global scale
        x = centred / spread
    if method == "pca":
        from sklearn.decomposition import PCA

        y = PCA(n_components=min(2, x.shape[1]), svd_solver="full").fit_transform(x - x.mean(0))
    elif method == "tsne":
        from sklearn.manifold import TSNE

        if perplexity > (n - 1) / 3:
            clipped = max((n - 1) / 3, 1e-3)
            warnings.warn(f"perplexity {perplexity:g} is too large for {n} points; using {clipped:.3g} ((N − 1) / 3)",
                          UserWarning, stacklevel=3)
            perplexity = clipped
        # One OpenMP thread up to a few thousand points: the same embedding, and on a busy machine scikit-learn's
        # spinning OpenMP threads made t-SNE of 600 points 18x slower (59 s vs 3.2 s on 2 shared cores).
        if x.shape[1] < 2:  # t-SNE's PCA initialisation needs 2 columns: a zero column changes no distance
            x = np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
        with _one_thread() if n <= 5000 else nullcontext():
            y = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    else:
        try:
            import umap
        except ImportError:
            raise InputError("method='umap' needs the umap-learn package: pip install umap-learn (or use "
                             "method='tsne' or 'pca')") from None
        y = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed).fit_transform(x)
    y = np.asarray(y, dtype=np.float64)
    return np.pad(y, ((0, 0), (0, 2 - y.shape[1]))) if y.shape[1] < 2 else y


# -- results ------------------------------------------------------------------------------------------------------
@dataclass
class DDRResult:
    """DDR of one model on one set of inputs. Both CHIs are computed on the **pooled** features (``C`` dimensions
    per layer), not on a 2-D embedding (:meth:`chi_embedding` does that when asked).

    ``features[layer]`` is float64 ``[N, C]``; input ``i`` is image ``image_ids[i]`` under degradation
    ``labels[i]``; ``depth[layer]`` is its index in the model's layer list (0 = shallowest)."""

    layers: List[str]
    features: Dict[str, np.ndarray]
    labels: List[str]
    image_ids: List[int]
    image_names: List[str]
    chi_degradation: Dict[str, float]
    chi_image: Dict[str, float]
    depth: Dict[str, int]
    inputs: DDRInputs = field(repr=False)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)
    engine: Optional[DDR] = field(default=None, repr=False, compare=False)
    _embeddings: dict = field(default_factory=dict, repr=False, compare=False)

    def table(self):
        """``pandas.DataFrame`` with one row per layer, shallow to deep: ``layer``, ``depth``,
        ``chi_degradation``, ``chi_image``."""
        import pandas as pd

        return pd.DataFrame({"layer": self.layers, "depth": [self.depth[n] for n in self.layers],
                             "chi_degradation": [self.chi_degradation[n] for n in self.layers],
                             "chi_image": [self.chi_image[n] for n in self.layers]})

    def embed(self, layer: str, method: str = "pca", perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
        """:func:`embed` of one layer's pooled features: float64 ``[N, 2]`` (cached, read-only)."""
        self._layer(layer)
        method = check_choice("method", method, EMBEDDINGS)
        perplexity, seed = check_number("perplexity", perplexity, 1e-6), check_seed(seed, numpy=True)
        key = (layer, method, perplexity, seed)
        if key not in self._embeddings:
            y = embed(self.features[layer], method, perplexity, seed)
            y.setflags(write=False)
            self._embeddings[key] = y
        return self._embeddings[key]

    def chi_embedding(self, layer: str, method: str = "pca", by: str = "degradation", perplexity: float = 30.0,
                      seed: int = 0) -> float:
        """CHI on the 2-D embedding of ``layer`` (not on the pooled features), grouped ``by`` degradation or image."""
        by = check_choice("by", by, GROUPINGS)
        return calinski_harabasz(self.embed(layer, method, perplexity, seed),
                                 self.labels if by == "degradation" else self.image_ids)

    def _layer(self, layer) -> str:
        if not isinstance(layer, str) or layer not in self.features:
            raise InputError(f"unknown layer {layer!r}; this result has: {_listing(self.layers)}")
        return layer

    def point(self, i) -> int:
        """``i`` checked as a point index: an integer in ``[0, N − 1]`` (numpy integers accepted)."""
        n = len(self.labels)
        ok = isinstance(i, numbers.Integral) and not isinstance(i, (bool, np.bool_))
        if not ok or not 0 <= i < n:
            raise InputError(f"point index must be an integer in [0, {n - 1}] (this result has {n} points), got "
                             f"{i!r}")
        return int(i)

    def lr(self, i: int) -> torch.Tensor:
        """The LR input of point ``i``: ``[3, h, w]`` float32 in [0, 1]."""
        return self.inputs.lr[self.point(i)]

    def hr(self, i: int) -> torch.Tensor:
        """The HR image point ``i`` was degraded from: ``[3, H, W]`` float32 in [0, 1]."""
        return self.inputs.hr[self.image_ids[self.point(i)]]

    def sr(self, i: int) -> torch.Tensor:
        """The model's output for point ``i``: ``[3, s·h, s·w]`` float32 in [0, 1] (computed once, cached)."""
        if self.engine is None:
            raise InputError("this result has no engine attached to run the model; use DDR(model).super_resolve")
        return self.engine.super_resolve(self.lr(i))


# -- entry points -------------------------------------------------------------------------------------------------
def analyse(model, hr_images, degradations=None, layers=None, seed: int = 0, *, device=None,
            batch_size: Optional[int] = None, memory_budget=None, callback: ProgressCallback = None,
            cancel: CancelLike = None) -> DDRResult:
    """:meth:`DDR.analyse` on a new engine: ``DDR(model, device=device, batch_size=batch_size,
    memory_budget=memory_budget).analyse(...)``."""
    return DDR(model, device=device, batch_size=batch_size, memory_budget=memory_budget).analyse(
        hr_images, degradations, layers, seed, callback, cancel)


def chi_per_layer(model, hr_images, degradations=None, layers=None, by: str = "degradation",
                  seed: int = 0) -> Dict[str, float]:
    """CHI of the pooled features for each layer, shallow to deep: ``{layer: CHI}``.

    Args:
        model: an SR ``nn.Module`` or a zoo name.
        hr_images: HR images as for :func:`build_inputs` (float ``H × W × 3`` numpy arrays in [0, 1], sides >= 32).
        degradations: ``{label: Compose}``, or ``None`` for the default set (clean, blur, noise).
        layers: layer names (default: all of ``DDR(model).layers()``).
        by: ``"degradation"`` groups inputs by degradation label, ``"image"`` by image identity.
        seed: seed of the random degradations (noise).
    """
    by = check_choice("by", by, GROUPINGS)
    engine = DDR(model)
    inputs = build_inputs(hr_images, degradations, engine.scale, seed)
    names = engine.select_layers(layers)
    _check_groups(inputs, by)
    feats = engine.features(inputs, names)
    groups = inputs.labels if by == "degradation" else inputs.image_ids
    return {name: calinski_harabasz(feats[name], groups) for name in names}


__all__ = ["DDR", "DDRInputs", "DDRResult", "DEGRADATIONS", "MIN_POINTS", "default_degradations", "build_inputs", "pool",
           "calinski_harabasz", "embed", "analyse", "chi_per_layer"]
