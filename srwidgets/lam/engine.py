"""LAM — Local Attribution Maps (Gu & Dong, CVPR 2021): which LR pixels does an SR network use for one output patch?

The algorithm, as in ``docs/algorithms.md`` (functions below in the same order):

1. a **window** ``(top, left, height, width)`` in SR pixel coordinates (``(top, left, size)`` for a square);
2. the objective :func:`gradient_detector` ``D(F(x))``: the summed local-gradient magnitude of the SR output in it;
3. a **path** from a baseline to the LR input ``x`` (default: LAM's progressive blur, :mod:`srwidgets.lam.paths`);
4. the **attribution** ``A = (1/n) Σ_k ∇_x D(F(x_k)) ⊙ dx_k`` (``[3, h, w]``, LR pixels; NaN gradients zeroed);
5. the **map** ``|Σ_c A_c| / max`` (:func:`attribution_map`), its Gini index and Diffusion Index ``(1 − G)·100``.

Speed never changes the numbers: parameters are frozen during the call (input gradients only), steps run in
chunks sized for the device and a memory budget (:mod:`srwidgets.engine`), and for models whose receptive field is
bounded — measured once per model, and verified by comparing a crop with the whole image — the network runs on an
LR crop around the window (:mod:`srwidgets.engine.windows`; the path is built on the whole image, so blur borders
are unchanged). Models with global operations, or whose crop does not reproduce the whole image, run on the whole
image; ``result.crop`` says which was used. :class:`~srwidgets.models.protocol.SplitTail` models (srwidgets' EDSR,
RCAN, MSRResNet) run their upsampling tail only around the window.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..engine import (cache_key, check_choice, check_int, check_number,
                      check_seed, check_steps, ensure_fits, guarded, image_tensor, run_chunks,
                      saved_bytes)
from ..engine.base import Engine
from ..engine.forward import splits_tail, window_forward
from ..engine.objectives import gradient_detector, gradient_magnitude  # LAM's objective, in the runtime
from ..engine.prepare import model_errors
from ..errors import InputError
from ..filters import check_kernel
from ..engine.results import WindowAttribution
from ..metrics import diffusion_index, gini
from ..progress import CancelLike, Progress, ProgressCallback, check_hooks
from . import paths
from ..engine.inputs import check_flag
from ..engine.windows import (clip_window, crop_box, group_windows, measure_receptive_field, paste,
                              validate_window, window_list)

PATHS = paths.PATHS
"""Path names -> one-line descriptions (``"blur"`` is the paper's and the default)."""


def attribution_map(attribution: torch.Tensor) -> torch.Tensor:
    """``|Σ_c A_c|`` normalised to max 1 (all zeros when the attribution is all zero): ``[3, h, w] -> [h, w]``."""
    m = attribution.double().sum(0).abs()
    peak = m.max()
    return (m / peak if peak > 0 else m).float()


@dataclass
class LAMResult(WindowAttribution):
    """One LAM attribution: a :class:`~srwidgets.engine.results.WindowAttribution` (the family's result type)
    with ``method="lam"``. Tensors are float32 on the CPU; LR = input pixels, SR = output pixels.

    ``attribution`` ``[3, h, w]`` is the raw A; ``map`` ``[h, w]`` is ``|Σ_c A| / max``; ``objective`` is
    ``D(F(x))`` and ``objective_baseline`` ``D(F(x'))`` (mean over baselines for ``"multi"``), so
    ``completeness`` compares ``ΣA`` with their difference; ``crop`` is the LR box the network ran on (``None``:
    the whole image).
    """


class LAM(Engine):
    """LAM on one SR model (any ``nn.Module`` mapping ``[N, 3, h, w]`` in [0, 1] to ``[N, 3, s·h, s·w]``).

    The model is never changed: every call runs it in eval mode with frozen parameters and restores its modes,
    ``requires_grad`` flags and buffers afterwards (:func:`srwidgets.engine.guarded`); a model on another device
    is copied there once.

    Args:
        model: the SR network.
        scale: its scale ``s`` (default: ``model.scale`` or measured).
        device: where to run (default: CUDA when available, else the model's device).
        chunk_size: path evaluations per batch (default: adapted to the device and ``memory_budget``).
        memory_budget: bytes of activations per chunk, an int or a string such as ``"1GB"`` (binary units;
            default: 1 GiB on CPU, 60 % of free memory on CUDA).
        crop: run the network on a receptive-field crop around the window when that is verified to give the
            whole image's result.
        autocast: CUDA only: run the network under ``torch.autocast`` (``True`` = float16, or a dtype); faster
            but approximate — compare with an fp32 run (``benchmarks/lam_bench.py`` reports the difference).
        split_tail: for :class:`~srwidgets.models.protocol.SplitTail` models, run the upsampling tail only on the
            features around the window(s); the SR pixels the objective reads are unchanged.
        channels_last: feed the path in channels-last memory layout (about 1.3x faster convolutions on CPU); other
            kernels then round differently (maps within ~1e-4), so it is off by default.

    Example:
        >>> from srwidgets import data, zoo
        >>> result = LAM(zoo.load("x4-fsrcnn")).attribute(data.lr_image("astronaut", 4), (98, 84, 16), steps=10)
        >>> tuple(result.map.shape), 0 < result.diffusion_index < 100
        ((64, 64), True)
    """

    cache_size = 64  # SR images, paths and results

    def __init__(self, model: nn.Module, scale: Optional[int] = None, device=None, chunk_size: Optional[int] = None,
                 memory_budget: Optional[int] = None, crop: bool = True, autocast=False, channels_last: bool = False,
                 split_tail: bool = True):
        super().__init__(model, scale, device, chunk_size=chunk_size, memory_budget=memory_budget, crop=crop)
        channels_last, split_tail = (check_flag(n, v) for n, v in (("channels_last", channels_last),
                                                                    ("split_tail", split_tail)))
        if autocast and self.device.type != "cuda":
            raise InputError("autocast is only supported on CUDA; drop autocast= or pass device='cuda'")
        self.autocast = (torch.float16 if autocast is True else autocast) or None
        self.channels_last = bool(channels_last)
        self.split_tail = bool(split_tail) and splits_tail(self.model)

    # -- public API ---------------------------------------------------------------------------------------------
    def attribute(self, image, window, steps: int = 50, sigma: float = 1.2, kernel_size: int = 9, path: str = "blur",
                  *, seed: int = 0, noise_std: float = 0.1, num_baselines: int = 4,
                  callback: ProgressCallback = None, cancel: CancelLike = None) -> LAMResult:
        """Attribute the SR window to the LR pixels of ``image``.

        Args:
            image: LR image ``[3, h, w]`` (or ``[1, 3, h, w]``), float in [0, 1].
            window: ``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels, inside ``s·h × s·w``.
            steps: path evaluations ``n`` (per baseline for ``"multi"``), at most
                :data:`srwidgets.engine.MAX_STEPS` (for ``"multi"``: ``steps · num_baselines``). The path is built
                lazily, chunk by chunk, so memory does not grow with ``steps``; progress is reported and ``cancel``
                checked after every chunk.
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
        check_hooks(callback, cancel)
        x = image_tensor(image, self.device)
        h, w = x.shape[1:]
        sh, sw = self.scale * h, self.scale * w
        steps = check_steps(steps, hint=" (the paper uses 50)")
        sigma = check_number("sigma", sigma, 0.0, " (the paper uses 1.2)")
        path = check_choice("path", path, PATHS)
        seed = check_seed(seed)
        noise_std = check_number("noise_std", noise_std, 0.0, " (on the [0, 1] scale, e.g. 0.1)")
        num_baselines = paths.check_baselines(num_baselines, steps, path, h, w, self.device)
        if not paths.uses_kernel(path):  # unused by this path, but in the settings (and the cache key): an integer
            kernel_size = check_int("kernel_size", kernel_size, 1, " (odd; the paper uses 9)")
        else:
            check_kernel(kernel_size, h, w)
            if sigma == 0 or kernel_size == 1:
                raise InputError(f"with sigma={sigma:g} and kernel_size={kernel_size} the blurred baseline equals the "
                                 f"image, so the {path!r} path is constant and there is nothing to attribute; use "
                                 "sigma > 0 and kernel_size > 1 (the paper: 1.2 and 9)")
        windows = [validate_window(win, sh, sw) for win in window_list(windows)]
        settings = dict(steps=steps, sigma=sigma, kernel_size=int(kernel_size), path=path, seed=seed,
                        noise_std=noise_std, num_baselines=num_baselines)
        lam_path = paths.make_path(path, x, **{k: v for k, v in settings.items() if k != "path"})  # checks the rest
        key = cache_key(self.model, x)
        result_key = lambda win: (key, "result", tuple(settings.items()), win)  # noqa: E731
        # the results of this call, kept here: with more windows than the cache holds, the first ones computed would
        # be evicted before they are returned
        found = {win: self._cache.get(result_key(win)) for win in dict.fromkeys(windows)}
        todo = [win for win, res in found.items() if res is None]

        with guarded(self.model):
            if todo:
                sr = self._super_resolve(x, key)
                rf = measure_receptive_field(self.model, self.scale, max(h, w), self.device, self.dtype) \
                    if self.crop else None
                groups = group_windows(todo, [crop_box(win, rf, self.scale, h, w) for win in todo], h, w)
                for g, (group, box) in enumerate(groups):
                    def report(done, accs, _group=group, _box=box, _g=g):
                        if callback is not None:
                            parts = [paste(a / lam_path.total, _box, h, w) for a in accs]
                            callback(Progress(_g * lam_path.total + done, lam_path.total * len(groups), "attribution",
                                              partial=parts[0] if _single else parts,
                                              info={"windows": list(_group), "crop": _box}))

                    accs = self._integrate(lam_path, group, box, cancel, report)
                    base = self._forward(lam_path.baselines(box))
                    t1 = time.perf_counter()
                    for win, acc in zip(group, accs):
                        attribution = paste(acc / lam_path.total, box, h, w)
                        amap = attribution_map(attribution)
                        found[win] = LAMResult(
                            attribution=attribution, map=amap, gini=gini(amap), diffusion_index=diffusion_index(amap),
                            sr=sr.clamp(0, 1).float().cpu(), image=x.float().cpu(), window=win,
                            settings=dict(settings, scale=self.scale, device=str(self.device), crop=box,
                                          evaluations=lam_path.total, receptive_field=rf,
                                          autocast=str(self.autocast) if self.autocast else None,
                                          channels_last=self.channels_last, split_tail=self.split_tail),
                            objective=float(gradient_detector(sr[None], clip_window(win, self.scale, sh, sw))),
                            objective_baseline=float(gradient_detector(
                                base, clip_window(win, self.scale, sh, sw, box)).mean()),
                            seconds=(t1 - t0) / len(group), crop=box)
                        self._cache.put(result_key(win), found[win])
                    t0 = t1
        return [found[win] for win in windows]

    def super_resolve(self, image) -> torch.Tensor:
        """``F(x)`` of an LR image ``[3, h, w]`` in [0, 1]: ``[3, s·h, s·w]`` float32 on the CPU, clamped to [0, 1]
        (cached with the attributions; the model guarded as in :meth:`attribute`)."""
        x = image_tensor(image, self.device)
        with guarded(self.model):
            return self._super_resolve(x, cache_key(self.model, x)).clamp(0, 1).float().cpu()

    # -- the integration loop (step 4) ----------------------------------------------------------------------------
    def _integrate(self, lam_path: paths.Path, windows, box, cancel, report) -> List[torch.Tensor]:
        """``Σ_j ∇D_w(p_j) ⊙ d_j`` for each window ``w``, over all path evaluations, on LR ``box`` (or everything)."""
        sh, sw = (self.scale * lam_path.image_shape[0], self.scale * lam_path.image_shape[1])
        local = [clip_window(win, self.scale, sh, sw, box) for win in windows]
        bh, bw = (box[2], box[3]) if box else lam_path.image_shape
        accs = [torch.zeros(3, bh, bw, dtype=torch.float64, device=self.device) for _ in windows]

        def run(start, stop):
            points, derivatives = lam_path.points(start, stop, box)
            # A step whose path derivative is exactly 0 (the last blur steps, where both kernels are the identity
            # to float64 precision) adds exactly 0: skip its forward and backward.
            live = derivatives.flatten(1).ne(0).any(1).nonzero().flatten()
            if live.numel():
                self._accumulate(accs, points[live], derivatives[live], local, (lam_path, start + live))

        run_chunks(lam_path.total, run, cancel=cancel, on_chunk=lambda done, total: report(done, accs),
                   chunk=lambda: self.chunk(bh * bw))
        return accs

    def _accumulate(self, accs, points, derivatives, windows, where):
        """``accs[w] += Σ_i ∇D_w(p_i) ⊙ d_i`` for one chunk of path points ``[m, 3, h, w]``."""
        x = points.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        measuring = self.measuring
        with model_errors():
            with torch.enable_grad(), saved_bytes() if measuring else nullcontext() as meter:
                with torch.autocast("cuda", self.autocast) if self.autocast else nullcontext():
                    y, windows = window_forward(self.model, x, windows, self.scale, self.split_tail)
                self._check_finite(y, *where)
                objectives = [gradient_detector(y.float(), win).sum() for win in windows]
            if measuring:
                self.record_memory(meter.bytes, x[0, 0].numel(), x.shape[0])
            grads = [torch.autograd.grad(obj, x, retain_graph=i + 1 < len(objectives))[0]
                     for i, obj in enumerate(objectives)]
        for acc, g in zip(accs, grads):
            # sqrt has an infinite derivative at 0: zero the NaN gradients, as the authors do.
            acc += (torch.nan_to_num(g.double(), nan=0.0, posinf=np.inf, neginf=-np.inf) * derivatives).sum(0)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _super_resolve(self, x: torch.Tensor, key) -> torch.Tensor:
        """``F(x)`` as float64 ``[3, sH, sW]`` on the device, cached; refuses images too large for the memory."""
        h, w = x.shape[1:]
        # the SR image in the model's dtype and in float64, plus a few feature maps of the same size
        ensure_fits(8 * 3 * self.scale ** 2 * h * w * 4, w, h, self.device, "LR image")

        def make():
            sr = self._forward(x[None])[0]
            self.prepared.check_output_shape(sr, x)
            return sr
        return self._cache.get_or_make((key, "sr"), make)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prepared.forward(x)

    def _check_finite(self, y, lam_path, steps):
        bad = ~torch.isfinite(y.detach()).flatten(1).all(1)
        if bad.any():
            where = lam_path.label(int(steps[bad.nonzero()[0]]))
            raise InputError(f"the model returns NaN or Inf along the {lam_path.name!r} path at {where}; its "
                             "weights or the input may be broken (try another model, or path='black' to compare)")


__all__ = ["LAM", "LAMResult", "PATHS", "gradient_detector", "gradient_magnitude", "attribution_map"]
