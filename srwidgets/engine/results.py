"""What every window-attribution method returns: :class:`WindowAttribution`, and the map rules that turn a raw
``[3, h, w]`` attribution into the ``[h, w]`` map its Gini index and Diffusion Index are computed on.

Map rules (all normalised to max 1; all zeros stay zeros):

* ``"abs_sum"``: ``|Σ_c A_c|`` — LAM's and integrated gradients' (signed channels may cancel: completeness holds
  for the sum);
* ``"sum_abs"``: ``Σ_c |A_c|`` — the ERF's (a gradient has no completeness to preserve);
* ``"max_abs"``: ``max_c |A_c|`` — gradient saliency (Simonyan et al. 2014).

Example:
    >>> import torch
    >>> a = torch.tensor([[[1.0, -2.0]], [[-1.0, 0.0]], [[0.0, 0.0]]])      # [3, 1, 2]
    >>> MAP_RULES["abs_sum"](a).tolist(), MAP_RULES["sum_abs"](a).tolist(), MAP_RULES["max_abs"](a).tolist()
    ([[0.0, 1.0]], [[1.0, 1.0]], [[0.5, 1.0]])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

import torch

from ..metrics import diffusion_index, gini

__all__ = ["WindowAttribution", "MAP_RULES", "normalised_map", "make_result"]


def _normalise(m: torch.Tensor) -> torch.Tensor:
    peak = m.max()
    return (m / peak if peak > 0 else m).float()


MAP_RULES: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "abs_sum": lambda a: _normalise(a.double().sum(0).abs()),
    "sum_abs": lambda a: _normalise(a.double().abs().sum(0)),
    "max_abs": lambda a: _normalise(a.double().abs().amax(0)),
}
"""Map rule names -> ``[3, h, w] attribution -> [h, w] map in [0, 1]``."""


def normalised_map(attribution: torch.Tensor, rule: str = "abs_sum") -> torch.Tensor:
    """``[3, h, w] -> [h, w]`` float32 CPU map in [0, 1] by ``rule`` (a key of :data:`MAP_RULES`)."""
    return MAP_RULES[rule](attribution.detach().cpu())


@dataclass
class WindowAttribution:
    """One window attribution, whatever the method. Tensors are float32 on the CPU; LR = input pixels, SR = output.

    ``map`` is always LR-shaped ``[h, w]`` in [0, 1]; ``gini`` and ``diffusion_index`` (``(1 − gini)·100``) are
    computed on it, so they compare across methods. ``objective_baseline`` is ``D(F(x'))`` for path methods
    (``None`` where a method has no baseline), which makes :attr:`completeness` defined.
    """

    attribution: torch.Tensor  # [3, h, w] LR, the raw (signed) attribution
    map: torch.Tensor  # [h, w] LR in [0, 1]
    gini: float
    diffusion_index: float  # (1 − gini)·100
    sr: torch.Tensor  # [3, sH, sW] F(x) clamped to [0, 1]
    image: torch.Tensor  # [3, h, w] the LR input
    window: Tuple[int, int, int, int]  # (top, left, height, width) in SR pixels
    settings: dict
    objective: float  # D(F(x))
    objective_baseline: Optional[float]  # D(F(x')) for path methods, else None
    seconds: float
    crop: Optional[Tuple[int, int, int, int]]  # LR box (top, left, height, width) the network ran on, None: whole
    method: str = "lam"
    extras: dict = field(default_factory=dict)  # method-specific outputs (e.g. CEM's signed block effects)

    @property
    def completeness(self) -> Optional[dict]:
        """``{"total": ΣA, "expected": D(F(x)) − D(F(x')), "gap": |total − expected| / max(|expected|, 1e-12)}``
        for methods with a baseline (path methods: equal up to the Riemann-sum error), else ``None``."""
        if self.objective_baseline is None:
            return None
        total = float(self.attribution.double().sum())
        expected = float(self.objective - self.objective_baseline)
        return {"total": total, "expected": expected, "gap": abs(total - expected) / max(abs(expected), 1e-12)}

    def to_numpy(self) -> dict:
        """All fields as numpy arrays / Python scalars (for ``np.savez`` or JSON)."""
        return {f.name: (v.numpy() if isinstance(v, torch.Tensor) else v)
                for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}


def make_result(attribution: torch.Tensor, *, rule: str, sr: torch.Tensor, image: torch.Tensor, window, settings: dict,
                objective: float, objective_baseline: Optional[float], seconds: float, crop=None, method: str,
                amap: Optional[torch.Tensor] = None, extras: Optional[dict] = None) -> WindowAttribution:
    """Assemble a :class:`WindowAttribution`: the map by ``rule`` (unless ``amap`` is given), Gini and DI on it."""
    # the map from the attribution at its own precision (float64 in the engines), then the float32 copy
    amap = normalised_map(attribution, rule) if amap is None else amap.detach().float().cpu()
    attribution = attribution.detach().float().cpu()
    return WindowAttribution(attribution=attribution, map=amap, gini=gini(amap), diffusion_index=diffusion_index(amap),
                             sr=sr.detach().clamp(0, 1).float().cpu(), image=image.detach().float().cpu(),
                             window=tuple(int(v) for v in window), settings=dict(settings), objective=float(objective),
                             objective_baseline=None if objective_baseline is None else float(objective_baseline),
                             seconds=float(seconds), crop=crop, method=method, extras=dict(extras or {}))
