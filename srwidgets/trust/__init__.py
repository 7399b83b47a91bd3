"""Which map to trust: faithfulness curves and sanity checks for every member of the window-attribution family.

General attribution toolkits check maps with deletion / insertion curves and randomisation tests, all built on
class labels; here the explained quantity is an SR window's objective (LAM's local-gradient detector by default),
so the same checks work for image-to-image networks.

===========================  =====================================================================================
:func:`stratified_deletion`  ring-stratified MoRF / LeRF deletion with ROAD imputation: score against a null of
                             random orders within rings, the edge and distance controls, ``passed``
:func:`randomisation`        ``test="faithfulness"`` (default): the fully randomised twin's map scored on the
                             trained model beside the trained map; ``test="spearman"``: the layer cascade,
                             ``[(layer, spearman)]`` (confounded by distance on local models)
:func:`planted`              a model with a planted dependence on a far patch: does the map find it?
:func:`report`               the verdict table of one window (every check in words): the Trust panel's engine call
:func:`table`                verdict tables over models × images × windows, resumable (CSV), local or Ray
:func:`summary`              the verdict over several windows: each check's evidence pooled per model and method
:func:`deletion`             deletion / insertion curve of one window under a map, a method or a control
                             (``"random"`` seeded, ``"edge"``): fractions, scores, window PSNR, AUC (trapezoid)
:func:`input_randomisation`  map of the image vs the map of the image with its receptive-field pixels permuted
:func:`agreement`            rank correlation and top-k overlap between methods on one window
===========================  =====================================================================================

Conventions: maps are judged on the window's verified receptive-field box in LR pixels; ties in the stratified
test are broken by a seeded random order, in :func:`deletion` by the lower raster index; AUCs are trapezoid
integrals over fractions in [0, 1]. Details in :mod:`~srwidgets.trust.stratified`,
:mod:`~srwidgets.trust.road`, :mod:`~srwidgets.trust.planted`, :mod:`~srwidgets.trust.randomise`,
:mod:`~srwidgets.trust.flags`, :mod:`~srwidgets.trust.report`, :mod:`~srwidgets.trust.summary`, :mod:`~srwidgets.trust.curves` (the plain curves of
issue 20, kept: on local models they are decided by distance to the window).

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
from .flags import completeness_gap, input_invariance
from .planted import KINDS, PlantedModel, planted
from .report import CHECKS, agreement, default_methods, report, table
from .road import IMPUTATIONS
from .stratified import FRACTIONS, score_rankings, stratified_deletion
from .summary import POOLED_Z, summary

__all__ = ["stratified_deletion", "score_rankings", "planted", "PlantedModel", "completeness_gap", "input_invariance",
           "CHECKS", "KINDS", "IMPUTATIONS", "FRACTIONS", "deletion", "randomisation", "randomisation_rows",
           "input_randomisation", "agreement", "report", "table", "summary", "POOLED_Z",
           "default_methods", "layer_order", "randomise_layer", "trapezoid", "make_baseline", "rank_units",
           "edge_map", "spearman", "top_overlap", "BASELINES", "CONTROLS", "INITS", "PSNR_CAP"]
