"""Pictures of attribution results: pure numpy + matplotlib, never computes an attribution (as Captum's
``visualization`` module). Maps are ``[h, w]`` arrays in ``[0, 1]`` on the LR grid; images are ``[3, H, W]``
tensors/arrays in ``[0, 1]`` or ``H × W × 3`` (uint8 or float). Outputs are ``uint8`` arrays or matplotlib Figures
built without pyplot (safe on worker threads and headless machines).

The image helpers are in :mod:`srwidgets.viz.images`; each method has its module (:mod:`srwidgets.viz.lam`: the LAM figure, the KDE view,
two models' difference, figure and overlay colours, and the ERF; :mod:`srwidgets.viz.ddr`, :mod:`srwidgets.viz.faig`,
:mod:`srwidgets.viz.di` for DI tables), its figures re-exported here.
"""
from __future__ import annotations

from .images import PALETTE, blend, heatmap_rgba, label_colors, to_hwc, upsample
from .lam import completeness, difference_figure, difference_rgba, erf_figure, kde_map, lam_figure  # (LAM)
from .ddr import ddr_figure  # (the DDR figures, in their own module)
from .faig import faig_figure  # (the FAIG figure, in its own module)
from .di import atlas_figure, di_distribution_figure, di_vs_psnr_figure  # (DI tables and atlases)
from .methods import methods_figure  # (window-attribution methods side by side)
from .trust import auc_figure, curves_figure, randomisation_figure  # (which map to trust)
from .figures import figure_class, new_figure  # (the Figure class notebooks show as PNG)

__all__ = ["methods_figure", "curves_figure", "auc_figure", "randomisation_figure", "new_figure", "figure_class", "PALETTE", "label_colors", "heatmap_rgba", "blend", "lam_figure", "kde_map", "difference_figure", "difference_rgba", "erf_figure", "completeness",
           "upsample", "to_hwc", "ddr_figure", "faig_figure", "atlas_figure",
           "di_distribution_figure", "di_vs_psnr_figure"]
