"""SmoothGrad as a wrapper over any member (Smilkov et al. 2017; Captum's NoiseTunnel idea), seeded.

The inner method runs on ``samples`` noisy copies ``clip(x + N(0, noise²), 0, 1)`` of the LR input (clipped: the
models were trained on [0, 1] images); the raw attributions are combined by ``kind`` — ``"smoothgrad"`` (mean),
``"smoothgrad_sq"`` (mean of squares) or ``"vargrad"`` (variance) — and mapped by the inner method's rule. The
noise comes from ``torch.Generator().manual_seed(seed)``: the same seed gives the same map.
"""
from __future__ import annotations

import time

import torch

from ..engine.inputs import MAX_STEPS, check_choice, check_number, check_seed, check_steps
from ..errors import InputError
from ..progress import Progress, check_cancel
from .base import WindowMethod
from .knobs import Knob, check_knobs
from .lam import SEED
from .registry import members, method_class

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


class SmoothGrad(WindowMethod):
    """Average any member's attribution over noisy inputs: ``method="smoothgrad", inner="gradient"``."""

    name = "smoothgrad"
    description = "SmoothGrad over any method (inner=...): its attribution averaged over seeded noisy inputs"

    kind = "wrapper"
    open_knobs = True  # the inner member's knobs too: checked against the inner member when it runs
    knobs = (Knob("inner", "choice", "gradient", "the method averaged over noisy inputs",
                  choices=lambda: tuple(n for n, c in members().items() if not c.open_knobs),
                  other="a WindowMethod subclass"),
             Knob("samples", "int", 16, "noisy copies (Smilkov et al.: 10-50)", low=1, high=MAX_STEPS),
             Knob("noise", "float", 0.1, "noise σ on the [0, 1] scale (10-20 % of the range)", low=0.0, high=1.0,
                  step=0.01),
             SEED, Knob("kind", "choice", "smoothgrad", "how the attributions combine", choices=KINDS))

    def attribute(self, image, window, *, inner="gradient", samples: int = 16, noise: float = 0.1, seed: int = 0,
                  kind: str = "smoothgrad", callback=None, cancel=None, **inner_knobs):
        """``noise``: standard deviation on the [0, 1] scale (Smilkov et al. suggest 10-20 % of the range);
        ``inner_knobs`` go to the inner method (``steps=``, ``baseline=``, ``objective=``, ...)."""
        t0 = time.perf_counter()
        x, window = self.inputs(image, window)
        samples = check_steps(samples, "samples", " (SmoothGrad typically uses 10-50)")
        noise = check_number("noise", noise, 0.0, " (standard deviation on the [0, 1] scale, e.g. 0.1)")
        seed, kind = check_seed(seed), check_choice("kind", kind, KINDS)
        cls = method_class(inner)
        if issubclass(cls, SmoothGrad):
            raise InputError("inner='smoothgrad': SmoothGrad wraps another method; choose inner from the others")
        member = self.sibling(cls)
        inner_knobs = check_knobs(cls, inner_knobs, f"inner={cls.name!r}")
        gen = torch.Generator().manual_seed(seed)
        acc = acc2 = None
        for i in range(samples):
            check_cancel(cancel)
            eps = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device)
            r = member.attribute((x + noise * eps).clamp(0, 1), window, **inner_knobs)
            a = r.attribution.double()
            acc = a if acc is None else acc + a
            acc2 = a * a if acc2 is None else acc2 + a * a
            if callback is not None:
                callback(Progress(i + 1, samples, "samples"))
        mean = acc / samples
        combined = {"smoothgrad": mean, "smoothgrad_sq": acc2 / samples, "vargrad": acc2 / samples - mean * mean}[kind]
        settings = dict(inner=cls.name, samples=samples, noise=noise, seed=seed, kind=kind,
                        **{k: v for k, v in inner_knobs.items() if isinstance(v, (int, float, str, bool))})
        return self.result(x, window, combined, t0=t0, settings=settings,
                           objective=inner_knobs.get("objective", "gradient"), box=r.crop, rule=cls.map_rule)

