"""Integrated gradients for an SR window, with the baselines of "Visualizing the Impact of Feature Attribution
Baselines" (Sturmfels, Lundberg & Lee, Distill 2020).

``A = (x − x') ⊙ (1/n) Σ_{k=1..n} ∇_x D(F(x' + (k/n)(x − x')))`` (right Riemann sum, as LAM's straight-line
paths), ``[3, h, w]``; with several baselines (``"expected"``) the straight-line attributions are averaged
(expected-gradients style, on a fixed α grid). Completeness: ``Σ A ≈ D(F(x)) − mean D(F(x'))``.

Baselines (:data:`BASELINES`): ``black`` (x' = 0), ``uniform`` (U(0, 1), seeded), ``gaussian`` (x + N(0, noise_std²)
clipped, seeded), ``blurred`` (K_sigma ⋆ x), ``max_distance`` (each value the farthest in [0, 1] from x: 1 where
x < 0.5, else 0), ``expected`` (``num_baselines`` uniform baselines, averaged), or a tensor ``[3, h, w]`` /
``[B, 3, h, w]`` of your own. The random baselines equal LAM's same-named paths for the same seed.
"""
from __future__ import annotations

import time

import torch

from ..engine import guarded
from ..engine.objectives import get_objective
from ..engine.windows import clip_window
from ..filters import check_kernel
from ..engine.inputs import check_choice, check_int, check_number, check_seed, check_steps, image_tensor
from ..errors import InputError
from ..lam import paths
from .base import LazyInputs, WindowMethod
from .knobs import Knob
from .lam import KERNEL_SIZE, NOISE_STD, NUM_BASELINES, SEED, SIGMA, STEPS

BASELINES = {
    "black": "x' = 0",
    "uniform": "x' ~ U(0, 1), seeded",
    "gaussian": "x' = clip(x + N(0, noise_std²), 0, 1), seeded",
    "blurred": "x' = K_sigma ⋆ x (Gaussian blur, kernel_size)",
    "max_distance": "x' = 1 where x < 0.5 else 0: the farthest image in [0, 1]",
    "expected": "num_baselines uniform baselines, attributions averaged (expected gradients)",
}


def make_baselines(x: torch.Tensor, baseline="black", *, sigma: float = 1.2, kernel_size: int = 9, seed: int = 0,
                   noise_std: float = 0.1, num_baselines: int = 4) -> torch.Tensor:
    """The baseline(s) for LR ``x`` ``[3, h, w]`` as ``[B, 3, h, w]`` float64 on x's device."""
    if isinstance(baseline, torch.Tensor):
        b = baseline if baseline.dim() == 4 else baseline[None]
        if b.dim() != 4 or tuple(b.shape[1:]) != tuple(x.shape):
            raise InputError(f"baseline tensor has shape {tuple(baseline.shape)}; expected {tuple(x.shape)} or "
                             f"[B, {', '.join(map(str, x.shape))}] like the image")
        return torch.stack([image_tensor(bi, x.device, "the baseline") for bi in b])
    check_choice("baseline", baseline, BASELINES)
    if baseline == "max_distance":
        return torch.where(x < 0.5, torch.ones_like(x), torch.zeros_like(x))[None]
    name = "multi" if baseline == "expected" else baseline
    return paths.make_path(name, x, 1, sigma, kernel_size, seed, noise_std, num_baselines).baselines()


class IntegratedGradients(WindowMethod):
    """Straight-line integrated gradients from a chosen baseline (map ``|Σ_c A_c|``, as LAM's)."""

    name = "ig"
    description = "integrated gradients on a straight line from a baseline (black, uniform, gaussian, blurred, " \
                  "max_distance, expected)"
    map_rule = "abs_sum"
    knobs = (Knob("baseline", "choice", "black", "the path's start x'", choices=tuple(BASELINES),
                  other="a tensor [3, h, w] or [B, 3, h, w] in [0, 1]"),
             STEPS, SIGMA, KERNEL_SIZE, SEED, NOISE_STD, NUM_BASELINES)

    def attribute(self, image, window, *, baseline="black", steps: int = 50, sigma: float = 1.2, kernel_size: int = 9,
                  seed: int = 0, noise_std: float = 0.1, num_baselines: int = 4, objective="gradient",
                  callback=None, cancel=None):
        """``image`` ``[3, h, w]`` in [0, 1]; ``window`` in SR px; ``steps`` evaluations per baseline."""
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        steps = check_steps(steps, hint=" (integrated gradients typically use 20-300)")
        seed, num_baselines = check_seed(seed), check_int("num_baselines", num_baselines, 1)
        sigma, noise_std = check_number("sigma", sigma, 0.0), check_number("noise_std", noise_std, 0.0)
        if baseline == "blurred":
            check_kernel(kernel_size, *x.shape[1:])
        base = make_baselines(x, baseline, sigma=sigma, kernel_size=kernel_size, seed=seed, noise_std=noise_std,
                              num_baselines=num_baselines)
        nb = base.shape[0]
        diff = x[None] - base  # [B, 3, h, w]

        def point(start, stop):
            j = torch.arange(start, stop, device=x.device)
            b, k = j // steps, j % steps + 1
            return base[b] + (k.double() / steps).view(-1, 1, 1, 1) * diff[b]

        box = self.crop_for(x, window)

        def weight(start, stop):  # (x − x'_b) / (n·B) on the crop: the Riemann weights of each evaluation
            b = torch.arange(start, stop, device=x.device) // steps
            d = diff[b] / (steps * nb)
            return d if box is None else d[..., box[0]:box[0] + box[2], box[1]:box[1] + box[3]]

        a = self.gradients(LazyInputs(steps * nb, x.shape[1:], point), window, objective, box=box, weights=weight,
                           callback=callback, cancel=cancel, stage="integration")
        with guarded(self.model):
            sr_base = torch.cat([self.prepared.forward(base[i:i + 1]) for i in range(nb)])
        sh, sw = sr_base.shape[-2:]
        base_obj = float(get_objective(objective)(sr_base.float(), clip_window(window, self.scale, sh, sw)).mean())
        settings = dict(baseline=baseline if isinstance(baseline, str) else "tensor", steps=steps, sigma=sigma,
                        kernel_size=int(kernel_size), seed=seed, noise_std=noise_std, num_baselines=nb,
                        evaluations=steps * nb)
        return self.result(x, window, a, t0=t0, settings=settings, objective=objective, objective_baseline=base_obj,
                           box=box)
