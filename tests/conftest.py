"""Fixtures shared by the engine tests (a test file may define its own of the same name)."""
import pytest
import torch

from srwidgets.models import build


@pytest.fixture(scope="module")
def edsr():
    """A tiny EDSR x2 (8 features, 1 block), seeded, eval mode."""
    torch.manual_seed(0)
    return build("EDSR", num_feat=8, num_block=1, upscale=2).eval()


@pytest.fixture(scope="module")
def image():
    """A seeded random LR image [3, 12, 12] in [0, 1]."""
    return torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1))


# --doctest-modules (in .ci/run, for the package's examples) would also import these conftest files as doctest
# modules, and two files both named ``conftest`` clash on import. They hold no examples: keep them out of collection
# (pytest still loads them as conftests).
collect_ignore = ["conftest.py", "browser/conftest.py"]
