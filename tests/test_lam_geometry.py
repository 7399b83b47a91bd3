"""LAM's geometry (srwidgets.engine.windows, formerly srwidgets.lam.geometry): windows, receptive field, crop boxes, grouping."""
import numpy as np
import pytest
import torch
from torch import nn

from srwidgets.errors import InputError
from srwidgets.engine.windows import crop_box, group_windows, measure_receptive_field, validate_window


def test_validate_window():
    assert validate_window((1, 2, 3), 10, 10) == (1, 2, 3, 3)
    assert validate_window([0, 0, 4, 10], 10, 10) == (0, 0, 4, 10)
    with pytest.raises(InputError, match="outside"):
        validate_window((8, 0, 4), 10, 10)
    with pytest.raises(InputError, match="too small"):
        validate_window((0, 0, 2, 1), 10, 10)

class Conv(nn.Module):
    """One 3x3 conv then pixel shuffle ×s: an LR pixel reaches conv outputs p−1..p+1, i.e. SR s(p−1)..s(p+2)−1."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.up(self.conv(x))

@pytest.mark.parametrize("scale, rf", [(1, (-1, 1, -1, 1)), (2, (-2, 3, -2, 3)), (3, (-3, 5, -3, 5))])
def test_receptive_field_of_a_known_model(scale, rf):
    assert measure_receptive_field(Conv(scale), scale, 40, "cpu") == rf

def test_receptive_field_of_a_global_model_is_unbounded():
    class Global(nn.Module):
        scale = 1

        def forward(self, x):
            return x - x.mean(dim=(2, 3), keepdim=True)

    assert measure_receptive_field(Global(), 1, 30, "cpu") is None

def test_crop_box_covers_the_dependency_cone():
    rf = (-2, 3, -2, 3)  # Conv(2)
    # SR rows 10..14 (window 4 + difference) come from LR pixels p with 2p-2 <= y <= 2p+3: p = 4..8; margin 2.
    assert crop_box((10, 10, 4, 4), rf, 2, 30, 30) == (2, 2, 9, 9)
    assert crop_box((0, 0, 4, 4), rf, 2, 30, 30) == (0, 0, 6, 6)
    assert crop_box((4, 4, 4, 4), rf, 2, 8, 8) is None  # the whole image
    assert crop_box((10, 10, 4, 4), None, 2, 30, 30) is None

def test_group_windows_prefers_shared_boxes_for_neighbours():
    near = group_windows([(0, 0, 4, 4), (2, 2, 4, 4)], [(0, 0, 10, 10), (1, 1, 10, 10)], 100, 100)
    assert len(near) == 1 and near[0][1] == (0, 0, 11, 11)
    far = group_windows([(0, 0, 4, 4), (80, 80, 4, 4)], [(0, 0, 10, 10), (80, 80, 10, 10)], 100, 100)
    assert len(far) == 2
