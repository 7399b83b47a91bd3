"""methods_figure: each map's title names what it is relative to (issue 26: the ``lam --method ig --baseline
blurred`` figure did not say which baseline)."""
import pytest
import torch

import srwidgets
from srwidgets.models import build
from srwidgets.viz.methods import methods_figure, setting_note


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build("EDSR", num_feat=8, num_block=1, upscale=2).eval()


def test_titles_name_the_baseline_path_and_inner_member(model):
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))
    ig = srwidgets.attribute(model, image, (4, 4, 8), method="ig", baseline="blurred", steps=2)
    grad = srwidgets.attribute(model, image, (4, 4, 8), method="gradient")
    fig = methods_figure([ig, grad], titles=["tiny: ig", "tiny: gradient"])
    assert fig.axes[1].get_title().startswith("tiny: ig (baseline blurred)\nDI ")
    assert fig.axes[2].get_title().startswith("tiny: gradient\nDI ")  # nothing to name
    assert fig.axes[1].xaxis.label.get_fontsize() >= 9  # the completeness caption, legible
    assert setting_note(srwidgets.attribute(model, image, (4, 4, 8), method="lam", steps=2)) == " (path blur)"
