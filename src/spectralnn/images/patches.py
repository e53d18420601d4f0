"""Overlapping patches of an image: a patch table, block matching, aggregation.

A ``k×k`` patch is named by the flat index ``p = i·(d2 − k + 1) + j`` of its top-left pixel
``(i, j)``. The *patch table* of an image ``(d1, d2)`` is ``F.unfold``'s ``(k², P)`` matrix,
``P = (d1 − k + 1)(d2 − k + 1)``: column ``p`` is patch ``p`` in row-major order.

**Block matching.** Reference patches sit on a grid of stride ``s`` (the last row and column
always included, so every pixel is covered). For every offset ``o`` of a ``(2w+1)²`` search
window the squared distances ``‖x_p − x_{p+o}‖²`` of all reference patches come at once from one
integral image of ``(x − shift_o x)²``; the ``n`` nearest patches (the reference itself first,
at distance 0) form the group. Cost ``O((2w+1)²·d1·d2)``, no patch is ever copied.

**Aggregation.** Every group's estimate is scattered back into the patch table (sums and
weights) and folded into the image: each pixel is the weighted mean of all its estimates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["aggregate", "gather_groups", "match_patches", "patch_table", "reference_grid"]


def patch_table(image: torch.Tensor, k: int) -> torch.Tensor:
    """``(k², P)``: every ``k×k`` patch of ``image`` ``(d1, d2)`` as a column."""
    return F.unfold(image[None, None], k)[0]


def reference_grid(n: int, k: int, stride: int,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Top-left coordinates ``0, s, 2s, …`` of reference patches along a side of length ``n``,
    with ``n − k`` appended so the last pixels are covered."""
    last = n - k
    pos = list(range(0, last + 1, stride))
    if pos[-1] != last:
        pos.append(last)
    return torch.tensor(pos, dtype=torch.int64, device=device)


def match_patches(image: torch.Tensor, k: int, stride: int, window: int, group: int,
                  ) -> torch.Tensor:
    """Groups of similar patches: ``(G, n)`` patch indices, row ``g`` the ``n = group``
    nearest patches (squared distance) to reference patch ``g`` within ``±window`` pixels,
    nearest first (the reference itself always first); ``n`` is smaller where some reference
    has fewer patches than that in its window (an image a few pixels thin).

    ``image``: ``(d1, d2)`` float tensor (the groups come on its device); ``G`` = number of
    reference patches."""
    d1, d2 = image.shape
    dev = image.device
    ry, rx = reference_grid(d1, k, stride, dev), reference_grid(d2, k, stride, dev)
    RY, RX = (t.reshape(-1) for t in torch.meshgrid(ry, rx, indexing="ij"))
    wy = range(-min(window, d1 - k), min(window, d1 - k) + 1)
    wx = range(-min(window, d2 - k), min(window, d2 - k) + 1)
    pairs = [(dy, dx) for dy in wy for dx in wx]
    offsets = torch.tensor(pairs, dtype=torch.int64, device=dev)
    w = window
    padded = F.pad(image[None, None], (w, w, w, w))[0, 0]
    dist = torch.empty(len(pairs), RY.numel(), dtype=image.dtype, device=dev)
    inf = torch.tensor(float("inf"), dtype=image.dtype, device=dev)
    for j, (dy, dx) in enumerate(pairs):
        shifted = padded[w + dy:w + dy + d1, w + dx:w + dx + d2]
        ii = F.pad(((image - shifted) ** 2).cumsum(0).cumsum(1), (1, 0, 1, 0))
        ssd = ii[RY + k, RX + k] - ii[RY, RX + k] - ii[RY + k, RX] + ii[RY, RX]
        inside = (RY + dy >= 0) & (RY + dy <= d1 - k) & (RX + dx >= 0) & (RX + dx <= d2 - k)
        dist[j] = torch.where(inside, ssd.clamp_min(0), inf)
        if dy == 0 and dx == 0:
            dist[j] = -1.0  # the reference itself comes first, even among exact copies
    # as many as every reference has inside the image (fewer than ``group`` only in a thin one)
    n = min(group, int(torch.isfinite(dist).sum(0).min()))
    best = torch.topk(dist, n, dim=0, largest=False, sorted=True).indices
    PY = RY[None] + offsets[best, 0]
    PX = RX[None] + offsets[best, 1]
    return (PY * (d2 - k + 1) + PX).T.contiguous()


def gather_groups(table: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``(G, k², n)`` group matrices: column ``j`` of group ``g`` is patch ``groups[g, j]``
    of ``table`` ``(k², P)``."""
    G, n = groups.shape
    return table[:, groups.reshape(-1)].reshape(table.shape[0], G, n).permute(1, 0, 2)


def aggregate(estimates: torch.Tensor, groups: torch.Tensor, weights: torch.Tensor,
              shape: tuple[int, int], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum, weight)`` images ``(d1, d2)``: ``Σ w_g·estimate`` and ``Σ w_g`` over every
    estimate of each pixel (``estimates`` ``(G, k², n)``, ``weights`` ``(G,)``)."""
    G, kk, n = estimates.shape
    P = (shape[0] - k + 1) * (shape[1] - k + 1)
    flat = groups.reshape(-1)
    acc = estimates.new_zeros(kk, P)
    acc.index_add_(1, flat, (estimates * weights[:, None, None]).permute(1, 0, 2)
                   .reshape(kk, G * n))
    wsum = estimates.new_zeros(P)
    wsum.index_add_(0, flat, weights[:, None].expand(G, n).reshape(-1))
    num = F.fold(acc[None], shape, k)[0, 0]
    den = F.fold(wsum[None, None].expand(1, kk, P).contiguous(), shape, k)[0, 0]
    return num, den
