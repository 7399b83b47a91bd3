"""FAIG — Filter Attribution based on Integrated Gradients (Xie, Wang, Dong et al., NeurIPS 2021): which filters of
a blind-SR network remove one specific degradation?

The method, as in ``docs/algorithms.md`` (code in the same order: steps 1-5 in :mod:`srwidgets.faig.engine`, step 6
in :mod:`srwidgets.faig.masking`; every name is importable from here):

1. two networks of one architecture: the **baseline** ``θ̄`` (non-blind SR) and the **target** ``θ`` fine-tuned
   from it for blind SR (:class:`FAIG` refuses pairs whose parameter names or shapes differ);
2. a straight path in parameter space evaluated at ``θ_k = θ̄ + (k/M)(θ − θ̄)``, ``k = 1..M`` (right Riemann sum:
   the target is evaluated, the baseline ``k = 0`` is not);
3. per input ``x`` and clean HR ``y``: ``L(θ) = Σ (y − F(x; θ))²`` (squared error **summed** over pixels and
   channels); per parameter the term ``(θ̄_i − θ_i) · (1/M) Σ_k ∂L(θ_k)/∂θ_i``; a **filter** is one ``(out, in)``
   kernel of a conv weight (biases excluded), its score ``s_f(x)`` the sum of the **absolute** terms over its
   ``k×k`` entries. Without the absolute value the terms of all parameters (biases included) sum to
   ``L(θ̄) − L(θ)`` up to the Riemann error (:attr:`FAIGResult.completeness`);
4. the paper's **eq. 7**: ``FAIG_f = s_f(x_deg) − s_f(x_other)`` per image (the same image under the other
   degradation), then averaged over images (:meth:`FAIG.attribute`);
5. rank filters by ``FAIG_f``, descending (:attr:`FAIGResult.ranking`); the top ~1 % are the discriminative filters;
6. the **masking experiment**: copy the baseline's values into the target's top filters (:func:`mask`, or
   :func:`modulate` for ``θ̄ + λ(θ − θ̄)``) and measure the output change (:func:`masking_experiment`,
   :func:`masking_table`) against random and weight-change rankings (:func:`rank`).

Speed never changes the numbers: the interpolated network is one private copy of the target, re-weighted in place
per step (the user's models are never touched); gradients are per input (the absolute value is taken per image,
so a batch's losses are never summed before it), summed over steps before the absolute value, and taken image by
image on CPU (measured fastest there) or with ``torch.func.vmap`` on CUDA. Work runs in chunks of (step, input)
evaluations through :func:`srwidgets.engine.run_chunks` (progress, cancel); per-input scores are cached, so the
blur ranking after the noise ranking on the same images costs nothing.

Example:
    >>> import torch
    >>> from srwidgets import zoo
    >>> from srwidgets.degrade import faig_degradation
    >>> hr = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    >>> noisy, blurry = faig_degradation("noise", 2)(hr, seed=0), faig_degradation("blur", 2)(hr)
    >>> baseline, target = zoo.faig_pair()
    >>> result = FAIG(baseline, target).attribute(noisy, hr, lr_other=blurry, steps=4)   # eq. 7: noise filters
    >>> result.scores.shape, result.filters[0], result.per_image_scores.shape
    ((17600,), ('conv_first', 0, 0), (2, 17600))
    >>> masked = mask(target, baseline, result.top(0.01))   # the top 1 % back to the baseline's values
    >>> len(result.top(0.01)), masked is not target
    (176, True)
"""
from __future__ import annotations

# The engine (steps 1-5) and the masking experiment (step 6) are two modules; every name is re-exported here, so
# ``from srwidgets.faig import X`` and ``srwidgets.faig.X`` work as they did when FAIG was one file.
from . import engine, masking
from .engine import (FAIG, OTHER, FAIGResult, Filter, check_hooks, check_same_kind, conv_filters, layer_counts,
                     top_count, value_range)
from .masking import (MAX_FRACTIONS, MEASURES, METHODS, check_fractions, degraded_inputs, engine_for, gradient_map,
                      hr_tensors, mask, masked_outputs, masking_experiment, masking_table, modulate, output_difference,
                      rank, sr_output, weight_change)
from .masking import check_names  # noqa: F401

__all__ = ["FAIG", "FAIGResult", "Filter", "METHODS", "MEASURES", "OTHER", "conv_filters", "mask", "modulate", "rank",
           "top_count", "layer_counts", "hr_tensors", "degraded_inputs", "engine_for",
           "weight_change", "gradient_map", "output_difference", "masking_experiment", "masking_table",
           "sr_output", "masked_outputs", "check_fractions", "check_same_kind", "value_range", "MAX_FRACTIONS"]
