"""LAM — Local Attribution Maps (Gu & Dong, CVPR 2021).

==============  ===========================================================================================
``engine``      :class:`LAM`, :class:`LAMResult`, the objective :func:`gradient_detector`, :func:`attribution_map`
``paths``       integration paths and baselines (:data:`PATHS`: the paper's progressive blur and the others)
``erf``         the effective receptive field of a window: :func:`srwidgets.lam.erf.erf`, :class:`ERFResult`
==============  ===========================================================================================
"""
from .engine import LAM, PATHS, LAMResult, attribution_map, gradient_detector
from .erf import ERFResult, erf as effective_receptive_field

__all__ = ["LAM", "LAMResult", "PATHS", "gradient_detector", "attribution_map", "ERFResult", "effective_receptive_field"]
