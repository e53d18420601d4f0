"""B1: time per GD step on the paper's MNIST configuration, side by side.

Configuration: a 28×28 matrix, widths [4, 8, 16], 470 Gaussian measurements, full-batch GD,
at a generic point (random factors of scale 0.3, where plain SVD autograd is defined).

Rows (ratios are to row (a), all measured in one run); rows (a) time a step of the library's own
loop (``Trainer.fit``, plain GD: forward, loss, divergence check, backward, update), rows
(b) the reference implementations it is compared with:
  (a)  spectralnn SNN, method="auto" (Gram evaluation X·h(XᵀX) within its error budget)
  (a') spectralnn SNN, method="svd" (SVD with the closed-form backward)
  (a") spectralnn SNN, method="matmul" (products and small solves only, no decomposition; on a
       GPU see benchmarks/gpu_matmul.py for the step captured as one CUDA graph)
  (b)  straightforward notebook implementation: a Python loop over blocks and input matrices,
       one torch.linalg.svd per matrix differentiated by autograd, measurements as an
       (m, d, d) stack contracted with the output
  (b') plain autograd through one batched torch.linalg.svd per layer (vectorised)
  (c)  floor: the 4 + 8 + 16 forward SVDs alone, batched per layer
  (c') the 4 + 8 + 16 Gram eigendecompositions alone (what method="gram" cannot avoid)

    python benchmarks/step_time.py [--reps 200] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from loop_timing import trainer_step_seconds
from spectralnn import SNN, SensingProblem
from spectralnn.sensing.operators import DenseOperator

D, WIDTHS, M = 28, [4, 8, 16], 470
LR = 1e-9  # tiny: the point stays generic over the repetitions


def _sgd(params, loss):
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p -= LR * g


def notebook_step(params, A_stack, y):
    """Blocks and matrices one at a time, as a research notebook writes it."""
    U, V, alphas = params
    Q = [U[k] @ V[k].T for k in range(U.shape[0])]
    for alpha in alphas:
        FQ = []
        for q in Q:
            u, s, vh = torch.linalg.svd(q, full_matrices=False)
            FQ.append(u @ torch.diag(torch.tanh(s)) @ vh)
        Q = [sum(alpha[k, l] * FQ[k] for k in range(len(FQ))) for l in range(alpha.shape[1])]
    pred = (A_stack * Q[0]).sum(dim=(1, 2))
    _sgd([U, V, *alphas], 0.5 * ((pred - y) ** 2).mean())


def vectorised_autograd_step(params, A, y):
    U, V, alphas = params
    Q = U @ V.mT
    for alpha in alphas:
        u, s, vh = torch.linalg.svd(Q, full_matrices=False)
        Q = torch.einsum("kij,kl->lij", (u * torch.tanh(s).unsqueeze(-2)) @ vh, alpha)
    _sgd([U, V, *alphas], 0.5 * ((A @ Q[0].reshape(-1) - y) ** 2).mean())


def svd_floor(inputs):
    for Q in inputs:
        torch.linalg.svd(Q, full_matrices=False)


def eigh_floor(inputs):
    for Q in inputs:
        torch.linalg.eigh(Q.mT @ Q)


def timeit(fn, reps, device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(max(5, reps // 10)):
        fn()
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"B1 step time: torch {torch.__version__}, {label}, threads {torch.get_num_threads()}")
    print(f"{'dtype':8} {'implementation':46} {'ms/step':>8} {'vs (a)':>7}")
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        A = (D * torch.randn(M, D * D, generator=gen, dtype=torch.float64)).to(device, dtype)
        y = torch.randn(M, generator=gen, dtype=torch.float64).to(device, dtype)
        models = {m: SNN((D, D), WIDTHS, init="random", init_scale=0.3, method=m, dtype=dtype,
                         device=device) for m in ("auto", "svd", "matmul")}
        ref = models["auto"]
        params = (ref.U.detach().clone().requires_grad_(),
                  ref.V.detach().clone().requires_grad_(),
                  [a.detach().clone().requires_grad_() for a in ref.alphas])
        with torch.no_grad():  # the matrices each layer decomposes, at this point
            inputs, Q = [], ref.inputs()
            for alpha in ref.alphas:
                inputs.append(Q.clone())
                u, s, vh = torch.linalg.svd(Q, full_matrices=False)
                Q = torch.einsum("kij,kl->lij", (u * torch.tanh(s).unsqueeze(-2)) @ vh, alpha)
        problem = SensingProblem(X_star=None, operator=DenseOperator(A.reshape(M, D, D)), y=y)
        loop = [(name, trainer_step_seconds(models[m], problem, LR, reps=args.reps,
                                            warmup=max(5, args.reps // 10)))
                for name, m in (("(a)  spectralnn SNN (method=auto)", "auto"),
                                ("(a') spectralnn SNN (method=svd)", "svd"),
                                ('(a") spectralnn SNN (method=matmul)', "matmul"))]
        rows = [
            ("(b)  notebook: loops + svd autograd", partial(notebook_step, params,
                                                            A.reshape(M, D, D), y)),
            ("(b') vectorised svd autograd", partial(vectorised_autograd_step, params, A, y)),
            ("(c)  floor: forward SVDs only", partial(svd_floor, inputs)),
            ("(c') Gram eigendecompositions only", partial(eigh_floor, inputs)),
        ]
        times = loop + [(name, timeit(fn, args.reps, device)) for name, fn in rows]
        base = times[0][1]
        for name, t in times:
            print(f"{str(dtype).removeprefix('torch.'):8} {name:46} {1e3 * t:8.2f} "
                  f"{t / base:7.2f}")


if __name__ == "__main__":
    main()
