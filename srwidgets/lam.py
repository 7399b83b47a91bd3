"""LAM — Local Attribution Maps (Gu & Dong, CVPR 2021): which LR pixels does an SR network use for one output patch?

The algorithm, as in ``docs/algorithms.md`` (functions below in the same order):

1. a **window** ``(top, left, height, width)`` in SR pixel coordinates (``(top, left, size)`` for a square);
2. the objective :func:`gradient_detector` ``D(F(x))``: the summed local-gradient magnitude of the SR output in it;
3. a **path** from a baseline to the LR input ``x`` (default: LAM's progressive blur, see :mod:`srwidgets.paths`);
4. the **attribution** ``A = (1/n) Σ_k ∇_x D(F(x_k)) ⊙ dx_k`` (``[3, h, w]``, LR pixels; NaN gradients zeroed);
5. the **map** ``|Σ_c A_c| / max`` (:func:`attribution_map`), its Gini index and Diffusion Index ``(1 − G)·100``.

Speed never changes the numbers: parameters are frozen during the call (input gradients only), the path is built
once on the device, steps run in chunks sized for the device and a memory budget, and for models whose receptive
field is bounded (measured once per model) the network runs on an LR crop around the window that contains
everything the window depends on (the path itself is built on the whole image, so blur borders are unchanged).
Models with global operations (channel attention, global pooling) are run on the whole image. Models that expose
``features``/``tail`` (srwidgets' EDSR, RCAN, MSRResNet) run their upsampling tail only around the window, and with
``features_region`` their residual blocks on a cone narrowing towards it.

Example:
    >>> from srwidgets.lam import LAM
    >>> result = LAM(model).attribute(lr_image, window=(120, 120, 16))   # lr_image: [3, h, w] in [0, 1]
    >>> result.map.shape, result.diffusion_index                          # [h, w] in [0, 1], DI in [0, 100]
"""
from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from . import paths
from .paths import (Window, cache_key, crop_box, estimate_chunk, frozen, group_windows, image_tensor,
                    measure_receptive_field, resolve_device, saved_bytes, validate_window)
from .errors import InputError
from .metrics import diffusion_index, gini
from .progress import CancelLike, Progress, ProgressCallback, check_cancel

PATHS = paths.PATHS
"""Path names -> one-line descriptions (``"blur"`` is the paper's and the default)."""


def gradient_detector(sr: torch.Tensor, window: Window) -> torch.Tensor:
    """LAM's objective ``D``: local-gradient magnitude summed over channels and the window, one value per image.

    ``dv = (Y[i] − Y[i+1])²`` (rows), ``dh = (Y[j] − Y[j+1])²`` (columns), ``G = sqrt(dv + dh)`` of shape
    ``(sH − 1) × (sW − 1)``, ``D = Σ G[:, :, top:top+height, left:left+width]``.

    Args:
        sr: SR output ``[N, 3, sH, sW]``.
        window: ``(top, left, height, width)`` in SR pixels of ``sr``.

    Returns:
        ``[N]``.
    """
    top, left, height, width = window
    dv = (sr[:, :, :-1, :] - sr[:, :, 1:, :]) ** 2
    dh = (sr[:, :, :, :-1] - sr[:, :, :, 1:]) ** 2
    g = torch.sqrt(dv[:, :, :, :-1] + dh[:, :, :-1, :])
    return g[:, :, top:top + height, left:left + width].sum(dim=(1, 2, 3))


def attribution_map(attribution: torch.Tensor) -> torch.Tensor:
    """``|Σ_c A_c|`` normalised to max 1 (all zeros when the attribution is all zero): ``[3, h, w] -> [h, w]``."""
    m = attribution.double().sum(0).abs()
    peak = m.max()
    return (m / peak if peak > 0 else m).float()


@dataclass
class LAMResult:
    """One LAM attribution. Tensors are float32 on the CPU; LR = input pixels, SR = output pixels."""

    attribution: torch.Tensor  # [3, h, w] LR, the raw A
    map: torch.Tensor  # [h, w] LR, |Σ_c A| / max, in [0, 1]
    gini: float
    diffusion_index: float  # (1 − gini)·100
    sr: torch.Tensor  # [3, sH, sW] F(x) clamped to [0, 1]
    image: torch.Tensor  # [3, h, w] the LR input
    window: Tuple[int, int, int, int]  # (top, left, height, width) in SR pixels
    settings: dict
    objective: float  # D(F(x))
    objective_baseline: float  # D(F(x')) (mean over baselines for "multi")
    seconds: float
    crop: Optional[Tuple[int, int, int, int]]  # LR box (top, left, height, width) the network ran on, or None

    def to_numpy(self) -> dict:
        """All fields as numpy arrays / Python scalars (for saving with ``np.savez`` or JSON)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.numpy() if isinstance(v, torch.Tensor) else v
        return out


class LAM:
    """LAM on one SR model (any ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]``).

    Args:
        model: the SR network; it is not modified (its parameters' ``requires_grad`` flags are restored).
        scale: its scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device); a model elsewhere is
            copied there once.
        chunk_size: path evaluations per batch (default: adapted to the device and ``memory_budget``).
        memory_budget: bytes of activations per chunk (default: 1 GiB on CPU, 60 % of free memory on CUDA).
        crop: run the network on a receptive-field crop around the window when that gives the same result.
        autocast: CUDA only: run the network under ``torch.autocast`` (``True`` = float16, or a dtype); faster
            but approximate — compare with an fp32 run (``benchmarks/lam_bench.py`` reports the difference).
        split_tail: for models that expose ``features(x)`` and ``tail(features, x)`` (srwidgets' EDSR, RCAN and
            MSRResNet), run the upsampling tail only on the features around the window(s) (``tail_margin`` LR
            pixels beyond them). The SR pixels the objective reads are unchanged, and the tail — often a third of a
            network's work, at 2x and 4x resolution — shrinks to a patch. RCAN's body still runs on the whole image.
        channels_last: feed the path to the network in channels-last memory layout (about 1.3x faster convolutions
            on CPU, the model untouched). Other kernels then round differently: maps agree to ~1e-6 on the zoo
            models but can drift to ~1e-3 on ill-conditioned (e.g. deep, randomly initialised) networks, so it is off
            by default.
    """

    def __init__(self, model: nn.Module, scale: Optional[int] = None, device=None, chunk_size: Optional[int] = None,
                 memory_budget: Optional[int] = None, crop: bool = True, autocast=False, channels_last: bool = False,
                 split_tail: bool = True):
        from .models import check, infer_scale

        if not isinstance(model, nn.Module):
            check(model, 1)  # raises the shared "expected a torch.nn.Module" InputError
        self.device, self.model = resolve_device(model, device)
        self.scale = int(scale) if scale is not None else infer_scale(self.model)
        check(self.model, self.scale, device=self.device)
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise InputError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        if autocast and self.device.type != "cuda":
            raise InputError("autocast is only supported on CUDA; drop autocast= or pass device='cuda'")
        self.autocast = (torch.float16 if autocast is True else autocast) or None
        self.channels_last = bool(channels_last)
        self.split_tail = bool(split_tail) and all(hasattr(self.model, a) for a in ("features", "tail", "tail_margin"))
        self.chunk_size, self.memory_budget, self.crop = chunk_size, memory_budget, crop
        p = next(iter(self.model.parameters()), None)
        self.dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        self._bytes_per_pixel: Optional[float] = None  # activation memory per LR pixel and evaluation
        self._cache: "OrderedDict[tuple, object]" = OrderedDict()  # SR images, paths and results, LRU

    # -- public API ---------------------------------------------------------------------------------------------
    def attribute(self, image, window, steps: int = 50, sigma: float = 1.2, kernel_size: int = 9, path: str = "blur",
                  *, seed: int = 0, noise_std: float = 0.1, num_baselines: int = 4,
                  callback: ProgressCallback = None, cancel: CancelLike = None) -> LAMResult:
        """Attribute the SR window to the LR pixels of ``image``.

        Args:
            image: LR image ``[3, h, w]`` (or ``[1, 3, h, w]``), float in [0, 1].
            window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels, inside ``s·h × s·w``.
            steps: path evaluations ``n`` (per baseline for ``"multi"``).
            sigma, kernel_size: the blur of the ``"blur"`` path (σ_max, odd ``l``) and of the ``"blurred"`` baseline.
            path: a key of :data:`PATHS`.
            seed, noise_std, num_baselines: random baselines (``"uniform"``, ``"gaussian"``, ``"multi"``).
            callback: called after each chunk with ``Progress(done, total, "attribution", partial)``, ``partial``
                the running attribution ``(1/n) Σ_{k done}`` as a ``[3, h, w]`` CPU tensor.
            cancel: :class:`~srwidgets.progress.CancelToken`, ``threading.Event`` or callable; checked before every
                chunk, raises :class:`~srwidgets.errors.Cancelled` (caches stay consistent).

        Returns:
            :class:`LAMResult`.
        """
        return self.attribute_many(image, [window], steps, sigma, kernel_size, path, seed=seed, noise_std=noise_std,
                                   num_baselines=num_baselines, callback=callback, cancel=cancel, _single=True)[0]

    def attribute_many(self, image, windows: Sequence, steps: int = 50, sigma: float = 1.2, kernel_size: int = 9,
                       path: str = "blur", *, seed: int = 0, noise_std: float = 0.1, num_baselines: int = 4,
                       callback: ProgressCallback = None, cancel: CancelLike = None, _single: bool = False
                       ) -> List[LAMResult]:
        """:meth:`attribute` for several windows of one image; nearby windows share their forward passes.

        ``partial`` in the progress reports is a list of running attributions, one per window still computing.
        """
        t0 = time.perf_counter()
        x = image_tensor(image, self.device)
        h, w = x.shape[1:]
        sh, sw = self.scale * h, self.scale * w
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InputError(f"steps must be an integer >= 1 (the paper uses 50), got {steps!r}")
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma < float("inf"):
            raise InputError(f"sigma must be a finite number >= 0 (the paper uses 1.2), got {sigma!r}")
        if path in ("blur", "blurred") and (sigma == 0 or kernel_size == 1):
            raise InputError(f"with sigma={sigma} and kernel_size={kernel_size} the blurred baseline equals the image, so "
                             f"the {path!r} path is constant and there is nothing to attribute; use sigma > 0 and "
                             "kernel_size > 1 (the paper: 1.2 and 9)")
        paths.check_kernel(kernel_size, h, w) if paths.uses_kernel(path) else None
        windows = [validate_window(win, sh, sw) for win in windows]
        settings = dict(steps=steps, sigma=float(sigma), kernel_size=kernel_size, path=path, seed=seed,
                        noise_std=noise_std, num_baselines=num_baselines)
        key = cache_key(self.model, x)
        todo = [win for win in dict.fromkeys(windows) if (key, "result", tuple(settings.items()), win) not in self._cache]

        if todo:
            sr = self._cached((key, "sr"), lambda: self._forward(x[None])[0])
            if tuple(sr.shape) != (3, sh, sw):
                raise InputError(f"the model maps a {h}x{w} image to {tuple(sr.shape)}, expected (3, {sh}, {sw}); "
                                 "does it need a size that is a multiple of something? Pad or crop the image.")
            lam_path = self._cached((key, "path", tuple(settings.items())), lambda: paths.make_path(
                path, x, steps, float(sigma), kernel_size, seed, noise_std, num_baselines))
            rf = measure_receptive_field(self.model, self.scale, max(h, w), self.device, self.dtype) if self.crop else None
            groups = group_windows(todo, [crop_box(win, rf, self.scale, h, w) for win in todo], h, w)
            total, done = lam_path.total * len(groups), [0]

            for group, box in groups:
                def report(m, accs, _group=group):
                    done[0] += m
                    if callback is not None:
                        parts = [self._embed(a / lam_path.total, box, h, w) for a in accs]
                        callback(Progress(done[0], total, "attribution", partial=parts[0] if _single else parts,
                                          info={"windows": list(_group), "crop": box}))
                accs = self._integrate(lam_path, group, box, cancel, report)
                base = self._forward(lam_path.baselines(box))
                t1 = time.perf_counter()
                for win, acc in zip(group, accs):
                    attribution = self._embed(acc / lam_path.total, box, h, w)
                    amap = attribution_map(attribution)
                    result = LAMResult(
                        attribution=attribution, map=amap, gini=gini(amap), diffusion_index=diffusion_index(amap),
                        sr=sr.clamp(0, 1).float().cpu(), image=x.float().cpu(), window=win,
                        settings=dict(settings, scale=self.scale, device=str(self.device), crop=box,
                                      evaluations=lam_path.total, receptive_field=rf,
                                      autocast=str(self.autocast) if self.autocast else None,
                                      channels_last=self.channels_last, split_tail=self.split_tail),
                        objective=float(gradient_detector(sr[None], self._clip(win, sh, sw))),
                        objective_baseline=float(gradient_detector(base, self._clip(win, sh, sw, box)).mean()),
                        seconds=(t1 - t0) / len(group), crop=box)
                    self._store((key, "result", tuple(settings.items()), win), result)
                t0 = t1
        return [self._cache[(key, "result", tuple(settings.items()), win)] for win in windows]

    # -- the integration loop (step 4) ----------------------------------------------------------------------------
    def _integrate(self, lam_path: paths.Path, windows, box, cancel, report) -> List[torch.Tensor]:
        """``Σ_j ∇D_w(p_j) ⊙ d_j`` for each window ``w``, over all path evaluations, on LR ``box`` (or everything)."""
        sh, sw = (self.scale * lam_path.image_shape[0], self.scale * lam_path.image_shape[1])
        local = [self._clip(win, sh, sw, box) for win in windows]
        bh, bw = (box[2], box[3]) if box else lam_path.image_shape
        accs, j = [torch.zeros(3, bh, bw, dtype=torch.float64, device=self.device) for _ in windows], 0
        with frozen(self.model):
            while j < lam_path.total:
                check_cancel(cancel)
                m = min(lam_path.total - j, estimate_chunk(self._bytes_per_pixel, bh * bw, self.device,
                                                            self.chunk_size, self.memory_budget))
                points, derivatives = lam_path.points(j, j + m, box)
                # A step whose path derivative is exactly 0 (the last blur steps, where both kernels are the
                # identity to float64 precision) adds exactly 0: skip its forward and backward.
                live = derivatives.flatten(1).ne(0).any(1).nonzero().flatten()
                if live.numel():
                    self._accumulate(accs, points[live], derivatives[live], local, (lam_path, j + live))
                j += m
                report(m, accs)
        return accs

    def _accumulate(self, accs, points, derivatives, windows, where):
        """``accs[w] += Σ_i ∇D_w(p_i) ⊙ d_i`` for one chunk of path points ``[m, 3, h, w]``."""
        x = points.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        measuring = self._bytes_per_pixel is None
        with torch.enable_grad(), saved_bytes() if measuring else nullcontext() as meter:
            with torch.autocast("cuda", self.autocast) if self.autocast else nullcontext():
                y, windows = self._network(x, windows)
            self._check_finite(y, *where)
            objectives = [gradient_detector(y.float(), win).sum() for win in windows]
        if measuring:
            self._bytes_per_pixel = meter.bytes / x[0, 0].numel() / x.shape[0]
        for i, obj in enumerate(objectives):
            g = torch.autograd.grad(obj, x, retain_graph=i + 1 < len(objectives))[0]
            # sqrt has an infinite derivative at 0: zero the NaN gradients, as the authors do.
            accs[i] += (torch.nan_to_num(g.double(), nan=0.0, posinf=np.inf, neginf=-np.inf) * derivatives).sum(0)
        return accs

    def _network(self, x: torch.Tensor, windows):
        """``F(x)``, or with ``split_tail`` only the SR patch the windows read: ``(y, windows in y's coordinates)``.

        The tail runs on the features of LR rows ``r0:r1`` and columns ``c0:c1``, which hold every window (and the
        extra SR row/column of the forward differences) plus ``tail_margin`` LR pixels of context; its zero padding
        then only touches SR pixels that the objective never reads.
        """
        if not self.split_tail:
            return self.model(x), windows
        s, m = self.scale, int(self.model.tail_margin)
        height, width = x.shape[-2:]
        r0 = max(0, min(w[0] for w in windows) // s - m)
        c0 = max(0, min(w[1] for w in windows) // s - m)
        r1 = min(height, -(-max(w[0] + w[2] + 1 for w in windows) // s) + m)
        c1 = min(width, -(-max(w[1] + w[3] + 1 for w in windows) // s) + m)
        if hasattr(self.model, "features_region"):  # the body, too, only where the region depends on it
            features = self.model.features_region(x, (r0, r1, c0, c1))
        else:
            features = self.model.features(x)[..., r0:r1, c0:c1]
        y = self.model.tail(features, x[..., r0:r1, c0:c1])
        return y, [(t - s * r0, l - s * c0, h, w) for t, l, h, w in windows]

    # -- helpers ------------------------------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), frozen(self.model):
            return self.model(x.to(self.dtype)).double()

    def _check_finite(self, y, lam_path, steps):
        bad = ~torch.isfinite(y.detach()).flatten(1).all(1)
        if bad.any():
            where = lam_path.label(int(steps[bad.nonzero()[0]]))
            raise InputError(f"the model returns NaN or Inf along the {lam_path.name!r} path at {where}; its "
                             "weights or the input may be broken (try another model, or path='black' to compare)")

    def _clip(self, window, sh, sw, box=None):
        """The window in the coordinates of the SR output of ``box``, cut to the gradient map ``(sH−1)×(sW−1)``
        exactly as slicing the whole image's map would cut it."""
        top, left, height, width = window
        height, width = min(height, sh - 1 - top), min(width, sw - 1 - left)
        if box is not None:
            top, left = top - self.scale * box[0], left - self.scale * box[1]
        return top, left, height, width

    @staticmethod
    def _embed(a: torch.Tensor, box, h, w) -> torch.Tensor:
        """A ``[3, bh, bw]`` crop attribution placed in a zero ``[3, h, w]`` float32 CPU tensor."""
        if box is None:
            return a.float().cpu()
        out = torch.zeros(3, h, w)
        out[:, box[0]:box[0] + box[2], box[1]:box[1] + box[3]] = a.float().cpu()
        return out

    def _cached(self, key, make):
        if key not in self._cache:
            self._store(key, make())
        self._cache.move_to_end(key)
        return self._cache[key]

    def _store(self, key, value, limit: int = 64):
        self._cache[key] = value
        while len(self._cache) > limit:
            self._cache.popitem(last=False)


__all__ = ["LAM", "LAMResult", "PATHS", "gradient_detector", "attribution_map"]
