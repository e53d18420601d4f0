"""Accuracy of the factored SNN's gradient: hand-derived route vs autograd through the QR.

For each initialisation, the relative error ``‖g − g_dense‖/‖g_dense‖`` (over all parameters)
of the factored gradient against the dense path's float64 gradient, with the factored path in
float64 and in float32. Prints a table; nothing is timed.

    python benchmarks/factored_gradient.py
"""

from __future__ import annotations

import math

import torch

from spectralnn import SNN
from spectralnn.factored import factored_output
from spectralnn.nn import random_orthogonal

SHAPE, WIDTHS, RANK = (60, 40), [2, 2], 4
INITS = [
    ("identity (ε=1e-4, jitter 1e-6)", "identity", {}),
    ("identity (ε=1e-2, jitter 1e-6)", "identity", {"init_scale": 1e-2}),
    ("identity (ε=1e-2, no jitter)", "identity", {"init_scale": 1e-2, "jitter": 0.0}),
    ("random (std 0.3)", "random", {"init_scale": 0.3}),
    ("spectral", "spectral", {}),
]


def _flat_grad(model: SNN, X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    for p in model.parameters():
        p.grad = None
    (X * W.to(X.dtype)).sum().backward()
    return torch.cat([p.grad.reshape(-1).to(torch.float64) for p in model.parameters()])


def _model(init: str, kw: dict, dtype: torch.dtype) -> SNN:
    extra = {}
    if init == "spectral":
        g = torch.Generator().manual_seed(3)
        extra = {"phi": random_orthogonal(SHAPE[0], g), "psi": random_orthogonal(SHAPE[1], g)}
    return SNN(SHAPE, WIDTHS, init=init, rank=RANK, dtype=dtype, evaluation="dense", **kw,
               **extra)


def main() -> None:
    W = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    print(f"shape {SHAPE}, widths {WIDTHS}, rank {RANK}: relative gradient error vs dense "
          "float64")
    print(f"{'init':34s} {'hand f64':>10s} {'QR f64':>10s} {'hand f32':>10s} {'QR f32':>10s}"
          f" {'dense f32':>10s}")
    for label, init, kw in INITS:
        ref_model = _model(init, kw, torch.float64)
        ref = _flat_grad(ref_model, ref_model(), W)
        row = []
        for dtype in (torch.float64, torch.float32):
            for basis in (False, True):
                m = _model(init, kw, dtype)
                out = factored_output(m.U, m.V, list(m.alphas), m.activation,
                                      basis_gradient=basis)
                g = _flat_grad(m, out.dense(), W)
                err = float((g - ref).norm() / ref.norm())
                row.append(err if math.isfinite(err) else math.nan)
        m32 = _model(init, kw, torch.float32)
        row.append(float((_flat_grad(m32, m32(), W) - ref).norm() / ref.norm()))
        print(f"{label:34s} " + " ".join(f"{v:10.1e}" for v in row))


if __name__ == "__main__":
    main()
