"""LAM's integration paths and baselines (numerics only, no models).

An attribution along a path ``γ`` from a baseline ``x' = γ(0)`` to the input ``x = γ(1)`` is the Riemann sum

    A = (1/N) Σ_j ∇D(p_j) ⊙ d_j            (N evaluations p_j with path derivatives d_j)

and satisfies completeness ``Σ A ≈ D(x) − D(x')`` up to the Riemann-sum error. Every path here is an object with
``total`` (N), ``points(start, stop, box)`` returning the evaluations ``p_j, d_j`` for ``j in [start, stop)`` and
``baselines(box)``; ``box = (top, left, height, width)`` crops in LR pixel coordinates **after** the path is built on
the whole image, so a crop never changes the numbers (blur borders included).

Images are ``[3, H, W]`` LR tensors in ``[0, 1]``; paths are built in float64 on the image's device and returned in
float64 (the engine casts them to the model's dtype). The blur kernels come from :mod:`srwidgets.filters`.
Paths are lazy: ``points`` builds only the kernels and points of the chunk asked for, so ``steps=10**9`` costs no
memory up front.

Names for :func:`make_path` (the widget lists :data:`PATHS`):
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..engine.inputs import MAX_STEPS, check_choice, check_int, check_number, check_seed, check_steps
from ..engine.memory import available_bytes, format_bytes
from ..errors import InputError
from ..filters import gaussian_blur2d, gaussian_kernel1d, reflect101_pad, separable_blur_valid

Box = Optional[Tuple[int, int, int, int]]  # (top, left, height, width) in LR pixels, or None for the whole image

PATHS = {
    "blur": "progressive Gaussian blur (LAM paper): x_k = K_{σ(1−k/n)} ⋆ x, k = 1..n, from blurred (σ = sigma) to x",
    "black": "straight line from black: x' = 0, x_α = α·x (integrated gradients)",
    "uniform": "straight line from uniform noise: x' ~ U(0, 1) (seeded)",
    "gaussian": "straight line from Gaussian noise around x: x' = clip(x + N(0, noise_std²), 0, 1) (seeded)",
    "blurred": "straight line from the blurred image: x' = K_sigma ⋆ x",
    "multi": "expected-gradients style: straight-line attributions averaged over num_baselines uniform-noise "
             "baselines (seeded); costs num_baselines × steps evaluations",
}
__doc__ += "\n".join(f"    ``{k}``: {v}" for k, v in PATHS.items()) + "\n"


def _crop(x: torch.Tensor, box: Box) -> torch.Tensor:
    if box is None:
        return x
    t, l, h, w = box
    return x[..., t:t + h, l:l + w]


# ----------------------------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------------------------
class Path:
    """Base class: ``total`` evaluations; ``points(start, stop, box) -> (p [m, 3, h, w], d [m, 3, h, w])``."""

    name = ""
    total = 0
    image_shape: Tuple[int, int] = (0, 0)  # (H, W) of the whole LR image

    def points(self, start: int, stop: int, box: Box = None) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def baselines(self, box: Box = None) -> torch.Tensor:
        """The baseline(s) ``x'`` as ``[B, 3, h, w]`` (B = 1 except for ``multi``)."""
        raise NotImplementedError

    def label(self, j: int) -> str:
        """Human-readable name of evaluation ``j`` (0-based) for error messages, e.g. ``"step k=3"``."""
        return f"step k={j + 1}"


class BlurPath(Path):
    """LAM's progressive blur: ``x_k = K_{σ_k} ⋆ x`` with ``σ_k = σ_max (1 − k/n)``, ``k = 1..n``, and path derivative
    ``d_k = ((K_{σ_k} − K_{σ_{k−1}}) · n) ⋆ x``, computed as ``n (K_{σ_k} ⋆ x − K_{σ_{k−1}} ⋆ x)`` (linearity) with the
    separable kernels in float64. The baseline ``x_0 = K_{σ_max} ⋆ x`` is not evaluated; ``x_n = x``.

    The reflect-101 padded image is kept, so any crop is blurred exactly as the whole image would be.
    """

    name = "blur"

    def __init__(self, image: torch.Tensor, steps: int, sigma: float, kernel_size: int):
        self.total, self.steps, self.kernel_size = steps, steps, kernel_size
        self.image_shape = tuple(image.shape[1:])
        self.sigma, self.radius = sigma, kernel_size // 2
        self.padded = reflect101_pad(image[None].double(), self.radius)[0]

    def kernels(self, start: int, stop: int) -> torch.Tensor:
        """The separable kernels of ``σ_k`` for ``k = start .. stop − 1``, ``[stop − start, l]`` (built on demand)."""
        k = torch.arange(start, stop, dtype=torch.float64, device=self.padded.device)
        return gaussian_kernel1d(self.sigma * (1.0 - k / self.steps), self.kernel_size, device=self.padded.device)

    def _blur(self, kernels: torch.Tensor, box: Box) -> torch.Tensor:
        p = self.padded
        if box is not None:
            t, l, h, w = box
            p = p[:, t:t + h + 2 * self.radius, l:l + w + 2 * self.radius]
        return separable_blur_valid(p, kernels)

    def points(self, start, stop, box=None):
        blurred = self._blur(self.kernels(start, stop + 1), box)  # x_{start} .. x_{stop}, k = j + 1
        return blurred[1:], (blurred[1:] - blurred[:-1]) * self.steps

    def baselines(self, box=None):
        return self._blur(self.kernels(0, 1), box)


class LinearPath(Path):
    """Straight lines ``x_α = x' + α (x − x')``, ``α_k = k/n``, ``k = 1..n``, derivative ``x − x'``, for each of
    ``B`` baselines; evaluation ``j`` is baseline ``j // n``, step ``k = j % n + 1``. With ``B > 1`` the result is
    the average of the ``B`` straight-line attributions (expected-gradients style, on a fixed α grid)."""

    def __init__(self, name: str, image: torch.Tensor, baselines: torch.Tensor, steps: int):
        self.name, self.steps = name, steps
        self.image_shape = tuple(image.shape[1:])
        self.image = image.double()
        self.base = baselines.double()  # [B, 3, H, W]
        self.total = steps * self.base.shape[0]

    def points(self, start, stop, box=None):
        j = torch.arange(start, stop, device=self.image.device)
        b, k = j // self.steps, j % self.steps + 1
        x, base = _crop(self.image, box)[None], _crop(self.base, box)[b]
        alpha = (k.double() / self.steps).view(-1, 1, 1, 1)
        diff = x - base
        return base + alpha * diff, diff

    def baselines(self, box=None):
        return _crop(self.base, box)

    def label(self, j):
        b, k = divmod(j, self.steps)
        return f"baseline {b}, step k={k + 1}" if self.base.shape[0] > 1 else f"step k={k + 1}"


def make_path(name: str, image: torch.Tensor, steps: int = 50, sigma: float = 1.2, kernel_size: int = 9,
              seed: int = 0, noise_std: float = 0.1, num_baselines: int = 4) -> Path:
    """Build the path ``name`` (a key of :data:`PATHS`) for an LR image ``[3, H, W]`` in [0, 1].

    ``sigma``/``kernel_size`` define the blur of ``blur`` and ``blurred``; ``seed`` the random baselines of
    ``uniform``, ``gaussian`` and ``multi``; ``noise_std`` (on the [0, 1] scale) the ``gaussian`` baseline.
    """
    check_choice("path", name, PATHS)
    steps = check_steps(steps, hint=" (the paper uses 50)")
    sigma = check_number("sigma", sigma, 0.0, " (the paper uses 1.2)")
    seed = check_seed(seed)
    noise_std = check_number("noise_std", noise_std, 0.0, " (on the [0, 1] scale, e.g. 0.1)")
    num_baselines = check_baselines(num_baselines, steps, name, *image.shape[-2:], image.device)
    x = image.double()
    if name == "blur":
        return BlurPath(x, steps, sigma, kernel_size)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    rand = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64).to(x.device)  # noqa: E731
    if name == "black":
        base = torch.zeros_like(x)[None]
    elif name == "uniform":
        base = rand(1, *x.shape)
    elif name == "gaussian":
        noise = torch.randn(1, *x.shape, generator=gen, dtype=torch.float64).to(x.device)
        base = (x[None] + noise_std * noise).clamp(0, 1)
    elif name == "blurred":
        base = gaussian_blur2d(x[None], float(sigma), kernel_size)
    else:  # multi
        base = rand(num_baselines, *x.shape)
    return LinearPath(name, x, base, steps)


def check_baselines(num_baselines, steps: int, name: str, height: int, width: int, device=None) -> int:
    """``num_baselines`` checked: an integer >= 1; for ``"multi"`` (which costs ``steps · num_baselines``
    evaluations and keeps its ``num_baselines`` baselines, ``[B, 3, H, W]`` float64) at most
    :data:`~srwidgets.engine.MAX_STEPS` evaluations and baselines that fit in memory, refused before any is drawn."""
    num_baselines = check_int("num_baselines", num_baselines, 1, " (e.g. 4)")
    if name == "multi":
        if steps * num_baselines > MAX_STEPS:
            most = max(1, MAX_STEPS // steps)
            raise InputError(f"path='multi' with num_baselines={num_baselines} and steps={steps} costs "
                             f"{steps * num_baselines:,} evaluations, above the ceiling of {MAX_STEPS:,}; use "
                             f"num_baselines <= {most:,}{' (the default is 4)' if most >= 4 else ''} or fewer steps")
        need, free = num_baselines * 3 * height * width * 8, available_bytes(device)
        if need > free:
            raise InputError(f"path='multi' with num_baselines={num_baselines} keeps {num_baselines} baselines of "
                             f"{height}x{width} pixels (~{format_bytes(need)}; {format_bytes(free)} free); use fewer "
                             "baselines (the default is 4) or a smaller image")
    return num_baselines


def uses_kernel(name: str) -> bool:
    """Whether path ``name`` blurs (and so needs an image larger than the kernel radius)."""
    return name in ("blur", "blurred")


__all__ = ["PATHS", "Path", "BlurPath", "LinearPath", "make_path", "uses_kernel", "check_baselines"]
