"""Per-step time of SNN training on the paper's MNIST configuration, side by side.

Configuration: a 28×28 matrix, widths [4, 8, 16], 470 Gaussian measurements, full-batch GD.
Rows: (a) spectralnn's SNN (closed-form spectral backward), (b) a straightforward
implementation differentiating through ``torch.linalg.svd`` (as a notebook would), (c) the
floor: the 4 + 8 + 16 batched forward SVDs alone. Ratios are to (a), measured in one run.

    python benchmarks/step_time.py [--reps 200] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from spectralnn import SNN

D, WIDTHS, M = 28, [4, 8, 16], 470


def straightforward_step(params, A, y):
    """One GD step of a plain-autograd SNN (SVD differentiated by torch)."""
    U, V, alphas = params
    Q = U @ V.mT
    for alpha in alphas:
        Us, s, Vh = torch.linalg.svd(Q, full_matrices=False)
        Q = torch.einsum("kij,kl->lij", (Us * torch.tanh(s).unsqueeze(-2)) @ Vh, alpha)
    X = Q[0]
    loss = 0.5 * ((A @ X.reshape(-1) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, [U, V, *alphas])
    with torch.no_grad():
        for p, g in zip([U, V, *alphas], grads):
            p -= 1e-9 * g
    return loss


def snn_step(model, A, y):
    X = model()
    loss = 0.5 * ((A @ X.reshape(-1) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p -= 1e-9 * g
    return loss


def svd_floor(inputs):
    for Q in inputs:
        torch.linalg.svd(Q, full_matrices=False)


def timeit(fn, reps, device):
    for _ in range(10):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"{'dtype':8} {'implementation':34} {'ms/step':>8} {'ratio':>7}")
    for dtype in (torch.float32, torch.float64):
        A = (D * torch.randn(M, D * D, generator=gen, dtype=torch.float64)).to(dtype).to(device)
        y = torch.randn(M, generator=gen, dtype=torch.float64).to(dtype).to(device)
        # A non-degenerate point: spectral init at scale 1 (identity init makes all SVDs trivial).
        model = SNN((D, D), WIDTHS, init="random", init_scale=0.3, dtype=dtype, device=device)
        params = (model.U.detach().clone().requires_grad_(),
                  model.V.detach().clone().requires_grad_(),
                  [a.detach().clone().requires_grad_() for a in model.alphas])
        with torch.no_grad():
            Q = model.inputs()
            layer_inputs = [Q]
            for w in WIDTHS[1:]:
                layer_inputs.append(torch.randn(w, D, D, generator=gen, dtype=torch.float64)
                                    .to(dtype).to(device))
        model_svd = SNN((D, D), WIDTHS, init="random", init_scale=0.3, method="svd",
                        dtype=dtype, device=device)
        rows = [
            ("(a) spectralnn SNN (auto)", timeit(partial(snn_step, model, A, y), args.reps,
                                                 device)),
            ("(a') spectralnn SNN, method=svd",
             timeit(partial(snn_step, model_svd, A, y), args.reps, device)),
            ("(b) plain torch.linalg.svd autograd",
             timeit(partial(straightforward_step, params, A, y), args.reps, device)),
            ("(c) floor: batched forward SVDs",
             timeit(partial(svd_floor, layer_inputs), args.reps, device)),
        ]
        base = rows[0][1]
        for name, t in rows:
            print(f"{str(dtype).removeprefix('torch.'):8} {name:34} {1e3 * t:8.2f} {t / base:7.2f}")


if __name__ == "__main__":
    main()
