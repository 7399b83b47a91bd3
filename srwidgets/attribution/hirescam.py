"""HiResCAM for an SR window (Draelos & Carin 2020): ``ReLU(Σ_k ∂D/∂A_k ⊙ A_k)``, the gradient kept element-wise,
so the map stays where the window's gradient is (Grad-CAM's spatial mean spreads it over the image)."""
from __future__ import annotations

from .gradcam import GradCAM


class HiResCAM(GradCAM):
    """Grad-CAM with element-wise weights: the gradient itself."""

    name = "hirescam"
    description = "HiResCAM: ReLU(Σ_k ∂D/∂A_k ⊙ A_k) at a layer (Draelos & Carin 2020); local"

    def cam_weights(self, activation, gradient):
        return gradient
