"""Helpers shared by the tests."""
import numpy as np
import torch

import srwidgets.models as M


def randomized(arch, cfg, seed=0):
    """``build(arch, **cfg)`` in eval mode with every parameter nudged by noise: architectures initialise some
    tensors to constants (FSRCNN's last layer near 0, SwinIR's norms and biases), where a mix-up of tensors
    between layers would not show in the output."""
    torch.manual_seed(seed)
    m = M.build(arch, **cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def output(model, h=8, w=8):
    """The model's output on a fixed random ``[1, 3, h, w]`` image."""
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(x)


def explicit_filter(x, k):
    """cv2.filter2D-style correlation of ``[C, H, W]`` with a 2-D kernel, reflect-101 borders (numpy)."""
    r = k.shape[0] // 2
    p = np.pad(x, ((0, 0), (r, r), (r, r)), mode="reflect")
    out = np.zeros_like(x)
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out += k[i, j] * p[:, i:i + x.shape[1], j:j + x.shape[2]]
    return out


def zero_cam(name):
    """A registered-able CAM variant whose weights are all zero (its ReLU leaves an all-zero map): the case where
    Gini is 0 and DI 100 for a map that says nothing. ``name``: its registry name (one per test)."""
    from srwidgets.attribution import GradCAM

    class ZeroCAM(GradCAM):
        description = "weights of zero"

        def cam_weights(self, activation, gradient):
            return torch.zeros_like(gradient)

    ZeroCAM.name = name
    return ZeroCAM
