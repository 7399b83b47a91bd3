"""CEM — Causal Effect Maps (Hu, Gu, ..., Dong, TPAMI 2025): which LR blocks *cause* an SR window's quality?

Where LAM follows gradients, CEM intervenes: it replaces one block of the LR input by other image content and
measures how the window's PSNR against the HR ground truth changes. :class:`CEM` is the engine
(:mod:`srwidgets.cem.engine`), :func:`patch_bank` and :func:`draws` the seeded patches (:mod:`srwidgets.cem.bank`),
:func:`rank_agreement` compares a CEM map with a LAM map block by block (:mod:`srwidgets.cem.compare`), and
:func:`cem_figure` draws the signed map in the seismic colour map, beside LAM's (:mod:`srwidgets.cem.figure`).
``srwidgets.attribute(model, lr, window, method="cem", hr=hr)`` runs it as a member of the window-attribution family.
"""
from .bank import DEFAULT_BANK_SIZE, check_bank, draws, patch_bank
from .compare import block_sums, rank_agreement, spearman, spread
from .engine import BOUNDS, CEM, MSE_FLOOR, CEMResult, block_grid, window_psnr
from .figure import cem_figure

__all__ = ["CEM", "CEMResult", "patch_bank", "draws", "check_bank", "DEFAULT_BANK_SIZE", "BOUNDS", "MSE_FLOOR",
           "window_psnr", "block_grid", "block_sums", "spread", "spearman", "rank_agreement", "cem_figure"]
