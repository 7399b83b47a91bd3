"""Integration paths and baselines shared by the attribution engines (numerics only, no models).

An attribution along a path ``γ`` from a baseline ``x' = γ(0)`` to the input ``x = γ(1)`` is the Riemann sum

    A = (1/N) Σ_j ∇D(p_j) ⊙ d_j            (N evaluations p_j with path derivatives d_j)

and satisfies completeness ``Σ A ≈ D(x) − D(x')`` up to the Riemann-sum error. Every path here is an object with
``total`` (N), ``points(start, stop, box)`` returning the evaluations ``p_j, d_j`` for ``j in [start, stop)`` and
``baselines(box)``; ``box = (top, left, height, width)`` crops in LR pixel coordinates **after** the path is built on
the whole image, so a crop never changes the numbers (blur borders included).

Images are ``[3, H, W]`` LR tensors in ``[0, 1]``; paths are built in float64 on the image's device and returned in
float64 (the engine casts them to the model's dtype). Blur kernels and filters follow kornia's conventions:
functions on ``(B, C, H, W)`` batches, separable, device and dtype agnostic.

Names for :func:`make_path` (the widget lists :data:`PATHS`):
"""
from __future__ import annotations

import copy
import hashlib
import weakref
from contextlib import contextmanager
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError

Box = Optional[Tuple[int, int, int, int]]

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


# ----------------------------------------------------------------------------------------------------------------
# Gaussian kernels and reflect-101 blur
# ----------------------------------------------------------------------------------------------------------------
def kernel_axis(kernel_size: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The LAM kernel axis ``arange(−l//2 + 1, l//2 + 1)`` (Python floor division), shape ``[l]``."""
    return torch.arange(-kernel_size // 2 + 1, kernel_size // 2 + 1, dtype=dtype, device=device)


def gaussian_kernel1d(sigma, kernel_size: int, dtype=torch.float64, device=None, eps: float = 1e-5) -> torch.Tensor:
    """Normalised 1-D factors ``g_σ(a) ∝ exp(−a² / (2 (σ + eps)²))`` of an isotropic Gaussian kernel; ``eps = 1e-5``
    is LAM's convention, ``eps = 0`` the textbook one (:mod:`srwidgets.degrade`).

    Args:
        sigma: float or tensor ``[S]`` of standard deviations (``σ = 0`` gives the identity kernel).
        kernel_size: odd ``l``.
        eps: added to ``σ``.

    Returns:
        ``[S, l]`` (``[1, l]`` for a float); ``g ⊗ g`` equals :func:`gaussian_kernel2d` (the kernel is separable).
    """
    s = torch.as_tensor(sigma, dtype=dtype, device=device).reshape(-1, 1)
    a = kernel_axis(kernel_size, dtype, device)
    width = s + eps
    g = torch.where(width > 0, torch.exp(-(a ** 2) / (2.0 * width ** 2)), (a == 0).to(dtype))
    return g / g.sum(dim=1, keepdim=True)


def gaussian_kernel2d(sigma: float, kernel_size: int, dtype=torch.float64, device=None, eps: float = 1e-5
                      ) -> torch.Tensor:
    """LAM's ``isotropic_gaussian_kernel``: ``K(i, j) ∝ exp(−(a_i² + a_j²) / (2 (σ + eps)²))``, sum 1, ``[l, l]``."""
    a = kernel_axis(kernel_size, dtype, device)
    if sigma + eps == 0:
        return ((a[:, None] == 0) & (a[None, :] == 0)).to(dtype)
    k = torch.exp(-(a[:, None] ** 2 + a[None, :] ** 2) / (2.0 * (sigma + eps) ** 2))
    return k / k.sum()


def check_kernel(kernel_size, height: int, width: int) -> int:
    """Validate an odd kernel size against an ``height × width`` image (reflect-101 needs size > radius)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be an odd integer >= 1 (the paper uses 9), got {kernel_size!r}")
    r = kernel_size // 2
    if min(height, width) <= r:
        raise InputError(
            f"the image ({height}x{width} LR pixels) is too small for kernel_size={kernel_size}: reflect-101 borders "
            f"need each side > {r} pixels. Use a larger image or a smaller odd kernel_size (<= {2 * min(height, width) - 1})."
        )
    return r


def reflect101_pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Pad ``[B, C, H, W]`` by ``radius`` on each side with reflect-101 (OpenCV's default ``dcb|abcd|cba``)."""
    return F.pad(x, (radius, radius, radius, radius), mode="reflect") if radius else x


def separable_blur_valid(padded: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate an already padded ``[C, H + 2r, W + 2r]`` image with ``S`` separable kernels ``[S, l]`` ("valid").

    Returns ``[S, C, H, W]``: one blurred image per kernel, each channel filtered separately.
    """
    s, l = kernels.shape
    x = padded.unsqueeze(1)  # channels become the batch: [C, 1, H', W']
    x = F.conv2d(x, kernels.view(s, 1, l, 1))  # vertical pass, one output channel per kernel
    x = F.conv2d(x, kernels.view(s, 1, 1, l), groups=s)  # horizontal pass
    return x.transpose(0, 1)


def gaussian_blur2d(x: torch.Tensor, sigma, kernel_size: int, eps: float = 1e-5) -> torch.Tensor:
    """Blur a batch ``[B, C, H, W]`` with an isotropic Gaussian (reflect-101 borders, separable; kernel weights in
    float64, then cast to ``x``'s dtype). ``eps`` as in :func:`gaussian_kernel1d` (LAM's 1e-5 by default).

    ``sigma`` is a float (same kernel for all) or a tensor ``[B]`` (one per image). Output ``[B, C, H, W]``.

    Example:
        >>> gaussian_blur2d(torch.rand(2, 3, 16, 16), torch.tensor([0.5, 1.2]), 9).shape
        torch.Size([2, 3, 16, 16])
    """
    b = x.shape[0]
    g = gaussian_kernel1d(sigma, kernel_size, torch.float64, x.device, eps).to(x.dtype)
    g = g.expand(b, -1) if g.shape[0] == 1 else g
    r = kernel_size // 2
    xp = reflect101_pad(x, r)
    c, l = x.shape[1], kernel_size
    w = g.repeat_interleave(c, dim=0)
    y = F.conv2d(xp.reshape(1, b * c, *xp.shape[2:]), w.view(b * c, 1, l, 1), groups=b * c)
    y = F.conv2d(y, w.view(b * c, 1, 1, l), groups=b * c)
    return y.view(b, c, *x.shape[2:])


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
        self.radius = kernel_size // 2
        self.padded = reflect101_pad(image[None].double(), self.radius)[0]
        k = torch.arange(steps + 1, dtype=torch.float64, device=image.device)
        self.sigmas = sigma * (1.0 - k / steps)
        self.kernels = gaussian_kernel1d(self.sigmas, kernel_size, device=image.device)  # [n + 1, l]

    def _blur(self, kernels: torch.Tensor, box: Box) -> torch.Tensor:
        p = self.padded
        if box is not None:
            t, l, h, w = box
            p = p[:, t:t + h + 2 * self.radius, l:l + w + 2 * self.radius]
        return separable_blur_valid(p, kernels)

    def points(self, start, stop, box=None):
        blurred = self._blur(self.kernels[start:stop + 1], box)  # x_{start} .. x_{stop}, k = j + 1
        return blurred[1:], (blurred[1:] - blurred[:-1]) * self.steps

    def baselines(self, box=None):
        return self._blur(self.kernels[:1], box)


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
    if name not in PATHS:
        raise InputError(f"unknown path {name!r}; choose one of: {', '.join(PATHS)}")
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
        if noise_std < 0:
            raise InputError(f"noise_std must be >= 0, got {noise_std}")
        noise = torch.randn(1, *x.shape, generator=gen, dtype=torch.float64).to(x.device)
        base = (x[None] + noise_std * noise).clamp(0, 1)
    elif name == "blurred":
        base = gaussian_blur2d(x[None], float(sigma), kernel_size)
    else:  # multi
        if not isinstance(num_baselines, int) or num_baselines < 1:
            raise InputError(f"num_baselines must be a positive integer, got {num_baselines!r}")
        base = rand(num_baselines, *x.shape)
    return LinearPath(name, x, base, steps)


def uses_kernel(name: str) -> bool:
    """Whether path ``name`` blurs (and so needs an image larger than the kernel radius)."""
    return name in ("blur", "blurred")


# ----------------------------------------------------------------------------------------------------------------
# Running a path through a model: inputs, devices, chunks and memory, receptive-field crops (LAM now, FAIG later)
# ----------------------------------------------------------------------------------------------------------------
Window = Tuple[int, int, int, int]


def image_tensor(image, device) -> torch.Tensor:
    """Validate an LR image (tensor or array ``[3, h, w]`` / ``[1, 3, h, w]``, float in [0, 1]) and return it as a
    float64 ``[3, h, w]`` tensor on ``device``."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor):
        raise InputError(f"the image must be a torch tensor [3, h, w] in [0, 1], got {type(image).__name__}; "
                         "read files with srwidgets.data.load_image(path)")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() == 2 or (image.dim() == 3 and image.shape[0] == 1):
        raise InputError(f"the image is grey (shape {tuple(image.shape)}); LAM needs RGB [3, h, w]: "
                         "repeat the channel, e.g. image.expand(3, -1, -1)")
    if image.dim() != 3 or image.shape[0] != 3:
        hint = " (channels last? use image.permute(2, 0, 1))" if image.dim() == 3 and image.shape[-1] == 3 else ""
        raise InputError(f"the image must have shape [3, h, w] (or [1, 3, h, w]), got {tuple(image.shape)}{hint}")
    if not image.is_floating_point():
        raise InputError(f"the image must be float in [0, 1], got dtype {image.dtype}; use image.float() / 255")
    if image.numel() == 0:
        raise InputError(f"the image is empty (shape {tuple(image.shape)}); pass a [3, h, w] image with h, w >= 1")
    if torch.isnan(image).any() or torch.isinf(image).any():
        raise InputError("the image contains NaN or Inf values; replace them (torch.nan_to_num) or reload the image")
    lo, hi = float(image.min()), float(image.max())
    if lo < -0.5 or hi > 1.5:
        raise InputError(f"the image values span [{lo:.3g}, {hi:.3g}]; expected [0, 1] (divide 8-bit images by 255)")
    return image.detach().to(device=device, dtype=torch.float64)


def validate_window(window, sr_height: int, sr_width: int) -> Window:
    """``(top, left, size)`` or ``(top, left, height, width)`` in SR pixels -> ``(top, left, height, width)``,
    checked to lie inside the ``sr_height × sr_width`` SR image and to be at least 2 × 2."""
    try:
        vals = [int(v) for v in window]
        ok = not isinstance(window, str) and len(vals) in (3, 4) and all(float(v) == int(v) for v in window)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(f"window must be (top, left, size) or (top, left, height, width) in SR pixels, got {window!r}")
    top, left, height, width = vals if len(vals) == 4 else (vals[0], vals[1], vals[2], vals[2])
    if height < 2 or width < 2:
        raise InputError(f"the window {height}x{width} is too small: LAM needs at least 2x2 SR pixels (the paper uses 16)")
    if top < 0 or left < 0 or top + height > sr_height or left + width > sr_width:
        raise InputError(f"the window (top={top}, left={left}, {height}x{width}) lies outside the SR image "
                         f"({sr_height}x{sr_width} SR pixels): use 0 <= top <= {sr_height - height} and "
                         f"0 <= left <= {sr_width - width} (window coordinates are in SR, not LR, pixels)")
    return top, left, height, width


def parse_device(device) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device``, checked to exist here (else :class:`InputError`)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"unknown device {device!r} ({e}); use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={str(device)!r} was asked for but CUDA is not available here; use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device={str(device)!r}: there are only {torch.cuda.device_count()} CUDA devices")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {str(device)!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def resolve_device(model: nn.Module, device=None) -> Tuple[torch.device, nn.Module]:
    """The device to run on and the model there (a copy if it lives elsewhere). Default: CUDA when this machine
    has it (a CPU model is copied there once), else the model's device."""
    p = next(iter(model.parameters()), None)
    p = p if p is not None else next(iter(model.buffers()), None)
    home = p.device if p is not None else torch.device("cpu")
    if device is None:
        device = home if home.type == "cuda" or not torch.cuda.is_available() else "cuda"
    dev = parse_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    same = home.type == dev.type and (home.index or 0) == (dev.index or 0)
    return dev, (model if same or p is None else copy.deepcopy(model).to(dev))


@contextmanager
def frozen(model: nn.Module):
    """Parameters without ``requires_grad`` inside the block (input gradients only); the flags are restored."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


class _Meter:
    bytes = 0


@contextmanager
def saved_bytes():
    """Count the bytes autograd saves for backward inside the block (``meter.bytes``): the activation memory of
    one chunk, from which the next chunks are sized (device agnostic, no CUDA allocator statistics needed)."""
    meter, seen = _Meter(), set()

    def pack(t):
        try:
            s = t.untyped_storage()
            if s.data_ptr() not in seen:
                seen.add(s.data_ptr())
                meter.bytes += s.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, wrapper subclasses)
            meter.bytes += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield meter


def estimate_chunk(bytes_per_pixel: Optional[float], pixels: int, device: torch.device,
                   chunk_size: Optional[int] = None, memory_budget: Optional[int] = None) -> int:
    """Path evaluations per chunk. Explicit ``chunk_size`` wins; the first chunk (memory unknown) is 1. CUDA: as
    many as fit in ``memory_budget`` (default 60 % of free memory). CPU: one step at a time for images of 64x64
    LR pixels and more (batching measured no faster there), a few steps together for small (cropped) inputs, where
    per-step overhead dominates (up to 10, about 6000 LR pixels per chunk: 2.8x faster on a 23x23 crop), within
    1 GiB."""
    if chunk_size:
        return chunk_size
    if not bytes_per_pixel:
        return 1
    per = 1.5 * bytes_per_pixel * pixels  # safety for workspace and gradients not seen by the meter
    if device.type == "cuda":
        budget = memory_budget or 0.6 * torch.cuda.mem_get_info(device)[0]
        cap = 1 << 16
    else:
        budget, cap = memory_budget or (1 << 30), max(1, min(10, 6000 // max(pixels, 1)))
    return int(max(1, min(cap, budget // max(per, 1))))


def cache_key(model: nn.Module, image: torch.Tensor) -> tuple:
    """Identifies (model weights, image) for caches: parameter storage and version counters (bumped by in-place
    edits such as ``load_state_dict``), training mode, and a hash of the image bytes."""
    state = tuple((p.data_ptr(), p._version) for p in model.parameters())
    digest = hashlib.blake2b(image.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    return id(model), model.training, state, tuple(image.shape), digest


_RECEPTIVE_FIELDS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def measure_receptive_field(model: nn.Module, scale: int, max_side: int, device, dtype=torch.float32):
    """Measure where one LR pixel acts in the SR output: NaN put into LR pixel ``p`` spreads through every
    operation that reads it (convolutions, pixel shuffle, interpolation, attention), so the NaN-valued SR rows of
    a probe image are ``[s·p + lo_r, s·p + hi_r]`` (columns likewise). Returns ``(lo_r, hi_r, lo_c, hi_c)`` in SR
    pixels, or ``None`` when it cannot be bounded on images of side ``max_side``: the NaN reaches the probe's
    border (global pooling or channel attention spread it everywhere), the response is not shift-equivariant,
    or the probe fails. Cached per model (structure only: weights do not matter to NaN propagation).
    """
    hit = _RECEPTIVE_FIELDS.get(model)
    if hit is not None and (hit[0] != "border" or hit[1] >= max_side + 2):
        return None if hit[0] == "border" else hit[0]
    side = 24
    while True:
        side = min(side, max_side + 2)
        rf = _probe(model, scale, side, device, dtype)
        if rf != "border" or side >= max_side + 2:
            break
        side *= 2
    _RECEPTIVE_FIELDS[model] = (rf, side)
    return None if rf == "border" else rf


def _probe(model, scale, side, device, dtype):
    c = side // 2 - 1
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[0, :, c, c] = float("nan")
    x[1, :, c + 1, c + 1] = float("nan")
    try:
        with torch.inference_mode():
            y = model(x.to(device, dtype))
    except Exception:
        return None
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, 3, scale * side, scale * side):
        return None
    boxes = []
    for i in range(2):
        nan = torch.isnan(y[i]).any(0)
        rows, cols = nan.any(1).nonzero().flatten(), nan.any(0).nonzero().flatten()
        if rows.numel() == 0:
            return None  # the model hides NaN: no way to see its receptive field
        boxes.append((int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])))
    last = scale * side - 1
    if any(b[0] == 0 or b[2] == 0 or b[1] == last or b[3] == last for b in boxes):
        return "border"
    if tuple(v + scale for v in boxes[0]) != boxes[1]:
        return None
    r0, r1, c0, c1 = boxes[0]
    return r0 - scale * c, r1 - scale * c, c0 - scale * c, c1 - scale * c


def crop_box(window: Window, rf, scale: int, height: int, width: int, margin: int = 2):
    """The LR box ``(top, left, height, width)`` holding every LR pixel the window's objective depends on (SR
    rows ``top .. top + height`` and columns ``left .. left + width``, the forward differences included), plus
    ``margin`` pixels; ``None`` when ``rf`` is ``None`` or the box is the whole image.

    Every feature the window reads is then computed from real pixels only, so the result equals the whole image's.
    """
    if rf is None:
        return None
    lo_r, hi_r, lo_c, hi_c = rf
    top, left, h, w = window
    y1, x1 = min(top + h, scale * height - 1), min(left + w, scale * width - 1)
    r0 = max(0, -((hi_r - top) // scale) - margin)  # ceil((top - hi_r) / s)
    r1 = min(height - 1, (y1 - lo_r) // scale + margin)
    c0 = max(0, -((hi_c - left) // scale) - margin)
    c1 = min(width - 1, (x1 - lo_c) // scale + margin)
    box = (r0, c0, r1 - r0 + 1, c1 - c0 + 1)
    return None if box == (0, 0, height, width) else box


def group_windows(windows: Sequence[Window], boxes: Sequence, height: int, width: int) -> List[Tuple[List[Window], Any]]:
    """Decide which windows share forward passes: all on the union of their boxes (one forward and one input
    backward per window per chunk, cost ≈ area(union)·(1 + W)) or each on its own box (≈ 2·Σ area)."""
    if len(windows) == 1:
        return [(list(windows), boxes[0])]
    if any(b is None for b in boxes):
        return [(list(windows), None)]
    r0, c0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    r1, c1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    union = (r0, c0, r1 - r0, c1 - c0)
    if union == (0, 0, height, width):
        union = None
    if union is None or union[2] * union[3] * (1 + len(windows)) <= 2 * sum(b[2] * b[3] for b in boxes):
        return [(list(windows), union)]
    return [([w], b) for w, b in zip(windows, boxes)]


__all__ = ["PATHS", "Path", "BlurPath", "LinearPath", "make_path", "uses_kernel", "gaussian_kernel1d",
           "gaussian_kernel2d", "gaussian_blur2d", "reflect101_pad", "separable_blur_valid", "check_kernel",
           "kernel_axis", "image_tensor", "validate_window", "resolve_device", "frozen", "saved_bytes",
           "estimate_chunk", "cache_key", "measure_receptive_field", "crop_box", "group_windows"]
