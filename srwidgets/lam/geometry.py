"""Moved to the runtime: :mod:`srwidgets.engine.windows` (windows, receptive field, crop boxes), worded for every
window-attribution method. This name stays so code written against ``srwidgets.lam.geometry`` keeps working;
``embed`` is :func:`srwidgets.engine.windows.paste` (a crop pasted back into the whole image)."""
from ..engine.windows import (Box, Region, Window, clip_window, crop_box, group_windows, measure_receptive_field,
                              paste, tail_region, validate_window)

embed = paste

__all__ = ["Window", "Box", "Region", "validate_window", "clip_window", "measure_receptive_field", "crop_box",
           "group_windows", "tail_region", "embed"]
