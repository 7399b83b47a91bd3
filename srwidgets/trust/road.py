"""What removed LR pixels become in the stratified deletion test: ROAD's noisy linear imputation (Rong et al., "A
Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML 2022), or the blurred image.

**ROAD.** Every removed pixel ``p`` takes the weighted mean of its 8 neighbours, weights ``1/6`` for the 4
edge-adjacent and ``1/12`` for the 4 diagonal ones (neighbours outside the image left out, the weights of the rest
renormalised), where removed neighbours are themselves unknowns: per channel, the sparse system

    (Σ_{q ∈ N(p)} w_q) v_p − Σ_{q ∈ N(p) removed} w_q v_q = Σ_{q ∈ N(p) kept} w_q x_q      for every removed p,

solved jointly, then ``N(0, σ²)`` noise added to the removed pixels. The noise field is drawn once per call (a CPU
``torch.Generator`` seeded with ``seed``), so two masks that remove the same pixel give it the same noise: the
rankings being compared differ only in *which* pixels they remove. Values are clamped to [0, 1].

Vectorised: the systems of all masks of a call are one block-diagonal ``scipy.sparse`` matrix (one block per mask,
built by array indexing, no loop over pixels) solved once by SuperLU (``scipy.sparse.linalg.spsolve``) for the
three channels. A region of removed pixels with no kept neighbour at all (the whole image removed) would leave its
block singular; a weight of ``1e-9`` towards the image's mean colour anchors it (elsewhere it changes values by
~1e-9).

**Blur.** ``imputation="blur"``: removed pixels become LAM's path baseline ``K_σ ⋆ x`` (σ 1.2, kernel 9), plus the
same noise. It favours methods whose path starts at the blurred image (LAM, IG with ``baseline="blurred"``): the
test then asks exactly the question those methods answer.

Coordinates: masks are ``[M, bh, bw]`` over the LR box ``(top, left, bh, bw)`` of the image; the solve reads the
box and the ring of pixels around it (the neighbours of its border pixels), nothing farther.

Example (hand-checkable: one removed pixel in a constant image becomes that constant):
    >>> import torch
    >>> x = torch.full((3, 3, 3), 0.25, dtype=torch.float64); x[:, 1, 1] = 0.9
    >>> m = torch.zeros(1, 3, 3, dtype=torch.bool); m[0, 1, 1] = True
    >>> round(float(impute(x, m, (0, 0, 3, 3), noise=0.0)[0, 0, 1, 1]), 6)
    0.25
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

__all__ = ["IMPUTATIONS", "NEIGHBOURS", "road_solve", "impute", "noise_field"]

IMPUTATIONS = {
    "road": "ROAD's noisy linear imputation: each removed pixel the weighted mean of its 8 neighbours (1/6 edge, "
            "1/12 diagonal), solved jointly, plus N(0, σ²)",
    "blur": "the blurred image K_σ ⋆ x (σ 1.2, kernel 9) plus N(0, σ²); favours blur-baseline methods "
            "(lam, ig with baseline='blurred')",
}
NEIGHBOURS = [(-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12)]
"""``(d_row, d_col, weight)`` of ROAD's 8-neighbourhood (the weights sum to 1)."""
ANCHOR = 1e-9


def road_solve(values: np.ndarray, masks: np.ndarray, anchor_colour: np.ndarray) -> np.ndarray:
    """The noiseless ROAD imputation of ``masks`` ``[M, H, W]`` (bool, True = removed) on ``values`` ``[3, H, W]``
    (float64; the region the masks live in, its kept pixels the boundary values) -> ``[M, 3, H, W]`` float64: the
    kept pixels as given, the removed ones solved (one block of one sparse system per mask)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    m_count, h, w = masks.shape
    out = np.broadcast_to(values, (m_count, 3, h, w)).copy()
    um, ui, uj = np.nonzero(masks)
    n = um.size
    if n == 0:
        return out
    index = np.full(masks.shape, -1, dtype=np.int64)
    index[um, ui, uj] = np.arange(n)
    diag = np.full(n, ANCHOR)
    rhs = np.broadcast_to(ANCHOR * anchor_colour, (n, 3)).copy()
    rows, cols, vals = [], [], []
    for di, dj, wgt in NEIGHBOURS:
        ni, nj = ui + di, uj + dj
        inside = (ni >= 0) & (ni < h) & (nj >= 0) & (nj < w)
        diag[inside] += wgt
        k = np.nonzero(inside)[0]
        removed = masks[um[k], ni[k], nj[k]]
        kr = k[removed]
        rows.append(kr)
        cols.append(index[um[kr], ni[kr], nj[kr]])
        vals.append(np.full(kr.size, -wgt))
        kk = k[~removed]
        rhs[kk] += wgt * values[:, ni[kk], nj[kk]].T
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solution = spsolve(a, rhs)
    solution = solution.reshape(n, 3) if solution.ndim == 1 else solution
    out[um, :, ui, uj] = solution
    return out


def noise_field(shape, noise: float, seed: int) -> torch.Tensor:
    """``noise · N(0, 1)`` of ``shape`` (float64, CPU), from a CPU ``torch.Generator`` seeded with ``seed``."""
    if noise == 0:
        return torch.zeros(shape, dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    return noise * torch.randn(shape, generator=g, dtype=torch.float64)


def impute(x: torch.Tensor, masks: torch.Tensor, box, *, imputation: str = "road", noise: float = 0.01,
           seed: int = 0, blurred: torch.Tensor = None) -> torch.Tensor:
    """The box of ``x`` ``[3, h, w]`` (LR, [0, 1]) with each mask's pixels removed: ``[M, 3, bh, bw]`` float64 on
    x's device, in [0, 1]. ``masks``: ``[M, bh, bw]`` bool (True = removed) over ``box`` = ``(top, left, bh, bw)``
    LR pixels. ``imputation``: ``"road"`` or ``"blur"`` (then ``blurred`` ``[3, h, w]`` is the blurred image);
    ``noise``: σ of the Gaussian noise on removed pixels (one field per call, seeded)."""
    if imputation not in IMPUTATIONS:
        raise InputError(f"imputation={imputation!r} is not one of: {', '.join(IMPUTATIONS)}")
    t, l, bh, bw = box
    h, w = x.shape[1:]
    masks = masks.to("cpu", torch.bool)
    xd = x.detach().to("cpu", torch.float64)
    crop = xd[:, t:t + bh, l:l + bw]
    field = noise_field((3, bh, bw), noise, seed)
    if imputation == "blur":
        if blurred is None:
            raise InputError("imputation='blur' needs the blurred image (blurred=)")
        filled = blurred.detach().to("cpu", torch.float64)[:, t:t + bh, l:l + bw].expand(masks.shape[0], 3, bh, bw)
    else:
        r0, r1, c0, c1 = max(0, t - 1), min(h, t + bh + 1), max(0, l - 1), min(w, l + bw + 1)
        region = xd[:, r0:r1, c0:c1].numpy()
        big = np.zeros((masks.shape[0], r1 - r0, c1 - c0), dtype=bool)
        big[:, t - r0:t - r0 + bh, l - c0:l - c0 + bw] = masks.numpy()
        solved = road_solve(region, big, xd.mean((1, 2)).numpy())
        filled = torch.from_numpy(solved[:, :, t - r0:t - r0 + bh, l - c0:l - c0 + bw])
    out = torch.where(masks[:, None], (filled + field).clamp(0, 1), crop[None])
    return out.to(x.device)
