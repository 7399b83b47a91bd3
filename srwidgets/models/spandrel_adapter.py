"""The spandrel route of :func:`srwidgets.models.load`: checkpoints of architectures srwidgets has no family for,
detected and built by `spandrel <https://github.com/chaiNNer-org/spandrel>`_ (chaiNNer's and ComfyUI's loader,
MIT) and adapted to what every srwidgets engine expects of a model.

``load`` tries srwidgets' own families first (they know each network's value range and the engines' protocols:
split tails, region features, feature layers), then spandrel. Install it with ``pip install "srwidgets[spandrel]"``;
spandrel imports torchvision, so torch and torchvision must be a matching pair (the torchvision release built for
your torch). Only spandrel's own architectures (MIT / Apache / BSD licences) are used: the ones
``spandrel_extra_arches`` adds (non-commercial licences) are never imported, and are left out even when a user has
installed them into spandrel's registry.

What :class:`SpandrelModel` guarantees, whatever the architecture:

* ``forward(x)``: ``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s·h, s·w]`` RGB, **not clamped** (spandrel's own call
  clamps to [0, 1]; a clamp would zero the gradient of every saturated pixel), for any ``h, w >= 1``;
* the architecture's size requirements (``minimum``, ``multiple_of``, ``square``) are met by padding **inside**
  ``forward`` at the bottom / right, reflect then replicate (spandrel's own rule, so outputs equal what spandrel /
  chaiNNer users get), and the output is cropped back to exactly ``s·h × s·w``. Both pads are differentiable:
  the gradient of a mirrored pixel flows back to the pixel it mirrors, so an attribution counts the padding's
  influence where it came from;
* the caller's tensor is never written: the network runs on a padded copy or a clone (spandrel's RCAN multiplies
  its input in place);
* ``.scale`` (int), ``.arch`` (spandrel's name and variant tags, e.g. ``"SPAN 48nf x4 (spandrel)"``),
  ``.spandrel_id``, ``.purpose``, ``.size_requirements`` and ``feature_layers()`` (the network's blocks in the order a
  forward pass runs them, for DDR).

Refused in words: descriptors that are not image-to-image (inpainting: an image and a mask), face restorers
(``purpose == "FaceSR"``: aligned face crops of a fixed size, rebuilt from a learned face prior), and networks that
do not take and return 3 channels (grayscale, RGBA).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ._common import short

__all__ = ["INSTALL", "SpandrelModel", "Unrecognised", "available", "status", "architectures", "load_state_dict"]

INSTALL = 'pip install "srwidgets[spandrel]"'
"""What a user installs for the spandrel route (plus a torchvision that matches their torch)."""


class Unrecognised(InputError):
    """The spandrel route cannot read the state dict: spandrel is unavailable, or none of its architectures
    matches (a refusal of a model it did read is a plain :class:`InputError`)."""


# Purposes srwidgets explains: image in, image out, every output pixel a function of an LR neighbourhood.
_PURPOSES = ("SR", "Restoration")
# Architectures of spandrel's main registry whose every checkpoint is refused (by the descriptor's kind or purpose,
# checked at load): left out of :func:`architectures`.
_NOT_IMAGE_TO_IMAGE = {"LaMa": "inpainting", "GFPGAN": "face restoration", "RestoreFormer": "face restoration"}


# Modules whose eval-mode forward writes its result into its input tensor (PLKSR's and RealPLKSR's partial large-kernel
# conv: ``x[:, :idx] = conv(x[:, :idx])``), which breaks autograd, while their training-mode forward computes the
# same values out of place (split, conv, cat; no dropout or normalisation inside): :class:`SpandrelModel` runs them
# in that path. Found by the gradient test of every architecture in tests/test_models_spandrel.py.
_OUT_OF_PLACE_IN_TRAINING = ("PLKConv2d",)
# Architectures whose eval-mode forward handles one image only (SeemoRe's mixture of experts picks the experts of
# ``topk.squeeze(0)``; spandrel's DRUNet call concatenates a noise-level map of batch 1 to the image): a batch runs
# image by image (LAM's path steps, DDR's inputs come in batches). An architecture not listed whose call fails on a
# batch of two at load (the probe) is run image by image too.
_ONE_IMAGE_PER_CALL = ("SeemoRe", "DRUNet")


@functools.lru_cache(maxsize=1)
def _import() -> Tuple[Any, str]:
    """``(spandrel module, "")`` or ``(None, why it cannot be used)``; tried once per process."""
    try:
        import spandrel
    except ImportError as e:
        if getattr(e, "name", None) == "spandrel":
            return None, "spandrel is not installed"
        return None, (f"spandrel is installed but cannot be imported ({type(e).__name__}: {short(e, 160)})")
    except Exception as e:  # a torchvision built for another torch: "operator torchvision::nms does not exist"
        return None, (f"spandrel is installed but cannot be imported here ({type(e).__name__}: {short(e, 160)}); "
                      f"its torchvision does not match torch {torch.__version__}: install the torchvision release "
                      "built for your torch")
    return spandrel, ""


def available() -> bool:
    """Whether the spandrel route can be used in this process (spandrel and a matching torchvision import)."""
    return _import()[0] is not None


def status() -> str:
    """One line on the spandrel route: ``"spandrel 0.4.2 (42 architectures)"`` or why it is unavailable and what
    to install."""
    spandrel, why = _import()
    if spandrel is None:
        return f"{why}; {INSTALL} (with a torchvision matching your torch) may load it"
    return f"spandrel {spandrel.__version__} ({len(_registry().architectures())} architectures)"


def _is_main(support) -> bool:
    """An architecture of spandrel itself, not one ``spandrel_extra_arches`` added to its registry."""
    return type(support.architecture).__module__.startswith("spandrel.architectures.")


@functools.lru_cache(maxsize=1)
def _registry():
    """A registry of spandrel's own architectures only, in spandrel's detection order."""
    spandrel = _import()[0]
    registry = spandrel.ArchRegistry()
    registry.add(*[s for s in spandrel.MAIN_REGISTRY.architectures("insertion") if _is_main(s)],
                 ignore_duplicates=True)
    return registry


def architectures() -> List[str]:
    """Names of spandrel's architectures whose image-to-image checkpoints ``load`` accepts, in detection order;
    ``[]`` when spandrel cannot be imported. (Inpainting and face-restoration architectures are left out.)"""
    if not available():
        return []
    return [s.architecture.name for s in _registry().architectures("detection")
            if s.architecture.id not in _NOT_IMAGE_TO_IMAGE]


def _refusal(descriptor) -> Optional[str]:
    """Why srwidgets cannot explain this spandrel model, or ``None``."""
    spandrel = _import()[0]
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        purpose = getattr(descriptor, "purpose", "?")
        return (f"spandrel reads it as a {name} {purpose.lower() if isinstance(purpose, str) else purpose} network: "
                "it takes an image and a mask, not an LR image alone, so it is not an image-to-image model. "
                "srwidgets explains super-resolution and restoration networks (one image in, one image out)")
    if descriptor.purpose == "FaceSR":
        return (f"spandrel reads it as a {name} face restoration network (purpose 'FaceSR'): it expects aligned "
                "face crops of a fixed size and redraws them from a learned face prior, so its output is not the "
                "image-to-image mapping srwidgets' attributions explain. Use a general SR or restoration model")
    if descriptor.purpose not in _PURPOSES:
        return (f"spandrel reads it as a {name} network for {descriptor.purpose!r}, not super-resolution or "
                "restoration (image in, image out), which is what srwidgets explains")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        kinds = {1: "grayscale", 3: "RGB", 4: "RGBA"}
        i, o = descriptor.input_channels, descriptor.output_channels
        return (f"spandrel reads it as a {name} network that takes {i} channel{'s' if i != 1 else ''} "
                f"({kinds.get(i, 'not RGB')}) and returns {o} ({kinds.get(o, 'not RGB')}); srwidgets runs RGB "
                "models (3 channels in, 3 out). Use the RGB release of this model")
    return None


def _arch_name(descriptor) -> str:
    tags = [str(t) for t in descriptor.tags if str(t)]
    if not any(t.lower() == f"{descriptor.scale}x" or t.lower() == f"x{descriptor.scale}" for t in tags):
        tags.append(f"x{descriptor.scale}")
    return f"{descriptor.architecture.name} {' '.join(tags)} (spandrel)"


def load_state_dict(state_dict: Dict[str, torch.Tensor], scale: Optional[int] = None,
                    img_range: Optional[float] = None) -> "SpandrelModel":
    """The :class:`SpandrelModel` spandrel detects and builds from ``state_dict`` (on the CPU, eval mode).

    Raises :class:`InputError` when spandrel cannot be imported (saying what to install), when it does not recognise
    the state dict, when the model is not an RGB image-to-image one, when ``scale`` disagrees with the weights, or
    when ``img_range`` is given (spandrel knows each architecture's range)."""
    spandrel, why = _import()
    if spandrel is None:
        raise Unrecognised(f"{why}; {INSTALL} (with a torchvision matching your torch) may load it")
    try:
        descriptor = _registry().load(dict(state_dict))
    except spandrel.UnsupportedModelError:
        raise Unrecognised(f"spandrel {spandrel.__version__} does not recognise it either (none of its "
                         f"{len(_registry().architectures())} architectures matches)") from None
    except Exception as e:  # an architecture detected, then its load failed: a damaged or unusual checkpoint
        raise InputError(f"spandrel {spandrel.__version__} detected an architecture but could not build it "
                         f"({type(e).__name__}: {short(' '.join(str(e).split()), 300)}); the checkpoint is "
                         "incomplete, damaged or a variant spandrel does not know") from None
    reason = _refusal(descriptor)
    if reason is not None:
        raise InputError(reason)
    if scale is not None and int(scale) != int(descriptor.scale):
        raise InputError(f"you asked for scale {scale} but spandrel reads x{descriptor.scale} from this "
                         f"{descriptor.architecture.name} checkpoint's weights; drop scale= or pick the x{scale} "
                         "checkpoint")
    if img_range is not None:
        raise InputError(f"img_range= does not apply to a {descriptor.architecture.name} checkpoint loaded through "
                         "spandrel: spandrel feeds each architecture the value range it was trained on, and the "
                         "model takes and returns [0, 1]; drop img_range=")
    return SpandrelModel(descriptor)


def _default_call(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    return model(image)


def _padding(h: int, w: int, minimum: int, multiple: int, square: bool) -> Tuple[int, int]:
    """Rows and columns to add at the bottom / right so an ``h x w`` image meets the size requirements (spandrel's
    ``SizeRequirements.get_padding``)."""
    ph, pw = max(minimum, h), max(minimum, w)
    ph, pw = -(-ph // multiple) * multiple, -(-pw // multiple) * multiple
    if square:
        ph = pw = max(ph, pw)
    return ph - h, pw - w


def _pad(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``x`` padded by ``rows`` at the bottom and ``cols`` at the right: reflect as far as the image allows
    (``size - 1``), replicate beyond (spandrel's ``pad_tensor``). Differentiable."""
    h, w = x.shape[-2:]
    r, c = min(rows, h - 1), min(cols, w - 1)
    if r or c:
        x = F.pad(x, (0, c, 0, r), mode="reflect")
    if rows - r or cols - c:
        x = F.pad(x, (0, cols - c, 0, rows - r), mode="replicate")
    return x


class SpandrelModel(nn.Module):
    """A network spandrel loaded, as an srwidgets model: ``[N, 3, h, w]`` RGB in [0, 1] -> ``[N, 3, s·h, s·w]``
    (not clamped), any ``h, w``; see the module docstring for what it guarantees.

    Attributes:
        model: the spandrel-built network (its own parameter names: ``model.state_dict()`` is the checkpoint's).
        scale: the upscale ``s`` spandrel reads from the weights.
        arch: ``"<architecture> <variant tags> (spandrel)"``.
        spandrel_id: spandrel's architecture id (``"SPAN"``, ``"Compact"``, ...).
        purpose: ``"SR"`` or ``"Restoration"`` (scale 1).
        size_requirements: ``(minimum, multiple_of, square)`` the network's input must meet (met inside forward).
        scale_source: where the scale came from.
        derived_parameters: names (in ``model``) of parameters the forward pass itself rewrites from the others
            (``requires_grad=False``); usually empty.
        one_image_per_call: whether a batch runs image by image (an architecture whose call takes one image
            only: SeemoRe, DRUNet, or any whose call fails on a batch of two at load).
    """

    def __init__(self, descriptor):
        super().__init__()
        self.model = descriptor.model
        self.scale = int(descriptor.scale)
        self.arch = _arch_name(descriptor)
        self.spandrel_id = str(descriptor.architecture.id)
        self.purpose = descriptor.purpose
        req = descriptor.size_requirements
        self.size_requirements = (int(req.minimum), int(req.multiple_of), bool(req.square))
        self.scale_source = "checkpoint weights (read by spandrel)"
        # the architecture's own call (e.g. a network returning a tuple, or one run twice); spandrel keeps it on the
        # descriptor only, whose public __call__ runs under inference_mode and clamps
        self._call_fn: Callable = getattr(descriptor, "_call_fn", None) or _default_call
        self._out_of_place = [m for m in self.model.modules() if type(m).__name__ in _OUT_OF_PLACE_IN_TRAINING
                              and type(m).__module__.startswith("spandrel.")]
        self.one_image_per_call = self.spandrel_id in _ONE_IMAGE_PER_CALL
        self._layers, self.derived_parameters = self._probe()
        if not self.one_image_per_call:
            self.one_image_per_call = not self._runs_batches()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        rows, cols = _padding(h, w, *self.size_requirements)
        # a new tensor either way: the network may write into its input (RCAN's `x *= rgb_range`)
        x = _pad(x, rows, cols) if rows or cols else x.clone()
        flags = [m.training for m in self._out_of_place]
        for m in self._out_of_place:
            m.training = True  # the same values, computed out of place (see _OUT_OF_PLACE_IN_TRAINING)
        try:
            if self.one_image_per_call and x.shape[0] > 1:
                y = torch.cat([self._call_fn(self.model, x[i:i + 1]) for i in range(x.shape[0])])
            else:
                y = self._call_fn(self.model, x)
        finally:
            for m, flag in zip(self._out_of_place, flags):
                m.training = flag
        if rows or cols or y.shape[-2] != self.scale * h or y.shape[-1] != self.scale * w:
            y = y[..., : self.scale * h, : self.scale * w]
        return y

    def feature_layers(self) -> List[Tuple[str, nn.Module]]:
        """The network's blocks whose outputs are feature maps (``[N, C, h', w']`` or ``[N, L, C]`` tokens), in the
        order a forward pass completes them (shallow to deep): the network's direct children with parameters, a
        ``ModuleList`` / ``Sequential`` child's items one by one; modules run more than once are left out (their
        hook would see several tensors). Measured at load on a small probe."""
        modules = dict(self.named_modules())
        return [(name, modules[name]) for name in self._layers]

    def _probe(self) -> Tuple[List[str], List[str]]:
        """One small eval-mode forward at load: the feature layers (see :meth:`feature_layers`) and the *derived*
        parameters, those the forward itself overwrites (SPAN re-fuses its re-parameterised convolutions into
        ``eval_conv`` on every eval forward). Derived parameters get ``requires_grad=False``: their values are a
        function of the others, and a forward under ``inference_mode`` leaves them inference tensors, on which
        restoring ``requires_grad=True`` (the engines' model guard does) would fail."""
        candidates: Dict[nn.Module, str] = {}
        for name, child in self.model.named_children():
            items = child.named_children() if isinstance(child, (nn.ModuleList, nn.Sequential)) else ()
            items = [(f"{name}.{k}", m) for k, m in items]
            for sub, module in items or [(name, child)]:
                if any(True for _ in module.parameters()):
                    candidates.setdefault(module, f"model.{sub}")
        order: List[str] = []
        calls: Dict[str, int] = {}

        def hook(name):
            def fn(module, args, output):
                if isinstance(output, (tuple, list)):
                    output = next((o for o in output if isinstance(o, torch.Tensor)), None)
                calls[name] = calls.get(name, 0) + 1
                if isinstance(output, torch.Tensor) and output.dim() >= 3 and name not in order:
                    order.append(name)
            return fn

        params = dict(self.model.named_parameters())
        held = {name: p.data for name, p in params.items()}  # held, so a replaced tensor's memory is not reused
        p = next(iter(params.values()))
        minimum, multiple, _ = self.size_requirements
        side = max(16, minimum, multiple)
        handles = [m.register_forward_hook(hook(n)) for m, n in candidates.items()]
        modes = [(m, m.training) for m in self.modules()]
        try:
            self.eval()
            with torch.no_grad():
                self(torch.full((1, 3, side, side), 0.5, dtype=p.dtype, device=p.device))
        except Exception as e:  # spandrel built a network from its reading of the weights that does not run
            raise InputError(f"spandrel built {self.arch} from this checkpoint, but that network fails on a "
                             f"[1, 3, {side}, {side}] probe ({type(e).__name__}: {short(' '.join(str(e).split()), 200)})"
                             ": spandrel misreads this variant's hyper-parameters (or the checkpoint is damaged), "
                             "so srwidgets cannot use it") from None
        finally:
            for handle in handles:
                handle.remove()
            for m, training in modes:
                m.training = training
        derived = [name for name, q in params.items() if q.data_ptr() != held[name].data_ptr()]
        for name in derived:
            params[name].requires_grad_(False)
        return [n for n in order if calls[n] == 1], derived

    def _runs_batches(self) -> bool:
        """Whether the architecture's call takes a batch of two images (one eval-mode forward at load, no gradient;
        the model's modes are restored). ``False``: its call assumes one image (e.g. a side input built with batch
        size 1), and :meth:`forward` runs a batch image by image."""
        p = next(iter(self.model.parameters()))
        minimum, multiple, _ = self.size_requirements
        side = max(16, minimum, multiple)
        modes = [(m, m.training) for m in self.modules()]
        try:
            self.eval()
            with torch.no_grad():
                self(torch.full((2, 3, side, side), 0.5, dtype=p.dtype, device=p.device))
            return True
        except Exception:  # e.g. torch.cat of the image with a batch-1 side input (RuntimeError), a squeeze(0)
            return False
        finally:
            for m, training in modes:
                m.training = training

    def extra_repr(self) -> str:
        minimum, multiple, square = self.size_requirements
        return (f"arch={self.arch!r}, scale={self.scale}, pads to minimum={minimum}, multiple_of={multiple}"
                f"{', square' if square else ''}")
