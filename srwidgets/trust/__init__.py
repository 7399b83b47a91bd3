"""Which map to trust: faithfulness curves and sanity checks for every member of the window-attribution family.

General attribution toolkits check maps with deletion / insertion curves and randomisation tests, all built on
class labels; here the explained quantity is an SR window's objective (LAM's local-gradient detector by default),
so the same checks work for image-to-image networks.

===========================  =====================================================================================
:func:`deletion`             deletion / insertion curve of one window under a map, a method or a control
                             (``"random"`` seeded, ``"edge"``): fractions, scores, window PSNR, AUC (trapezoid)
:func:`randomisation`        model randomisation, cascading or per layer, from the output layer back:
                             ``[(layer, spearman)]``; the user's model is never changed
:func:`input_randomisation`  map of the image vs the map of the image with its receptive-field pixels permuted
:func:`agreement`            rank correlation and top-k overlap between methods on one window
:func:`report`               all of it for one window, one row per method: the Trust panel's engine call
:func:`table`                methods × models × images × windows, resumable (CSV)
===========================  =====================================================================================

Conventions: maps are judged on the window's verified receptive-field box in LR pixels; ties in rankings go to the
lower raster index; AUCs are trapezoid integrals over fractions in [0, 1] (``auc`` on the raw scores,
``auc_normalised`` on scores divided by ``D(F(x))``). Details in :mod:`~srwidgets.trust.ranking`,
:mod:`~srwidgets.trust.curves`, :mod:`~srwidgets.trust.randomise`, :mod:`~srwidgets.trust.report`.

Example:
    >>> from srwidgets import data, trust, zoo
    >>> model, lr = zoo.load("x4-fsrcnn"), data.lr_image("astronaut", 4)
    >>> c = trust.deletion(model, lr, (98, 84, 16), "gradient", steps=4)
    >>> c["fractions"], round(c["scores"][0] / c["objective"], 4)     # fraction 0: the input itself (on its crop)
    ([0.0, 0.25, 0.5, 0.75, 1.0], 1.0)
"""
from .curves import BASELINES, PSNR_CAP, deletion, make_baseline, trapezoid
from .randomise import INITS, input_randomisation, layer_order, randomisation, randomisation_rows, randomise_layer
from .ranking import CONTROLS, edge_map, rank_units, spearman, top_overlap
from .report import agreement, default_methods, report, table

__all__ = ["deletion", "randomisation", "randomisation_rows", "input_randomisation", "agreement", "report", "table",
           "default_methods", "layer_order", "randomise_layer", "trapezoid", "make_baseline", "rank_units",
           "edge_map", "spearman", "top_overlap", "BASELINES", "CONTROLS", "INITS", "PSNR_CAP"]
