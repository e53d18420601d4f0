"""B4: time and peak memory of one SNN gradient-descent step as the image grows.

For square d×d images (scikit-image's ``camera``, resized, nuclear norm 1) and
m = round(fraction·d²) measurements (default 30 %) of three kinds — dense Gaussian
(``GaussianOperator``, std d), structured (``SubsampledDCT``) and entry sampling
(``EntrySampling``) — one SNN with widths ``--widths`` (default [2, 2]: two factorized inputs,
one hidden layer of two blocks, one output block; rank r = d, tanh) is trained by the library's
:class:`~spectralnn.trainer.Trainer` (plain GD). Reported per configuration:

- ``ms/step``: median wall time of one training step (forward, loss, backward, update, the
  trainer's per-step checks), measured between consecutive trainer callbacks, logging steps
  excluded;
- ``floor ms``: the linear algebra a step cannot avoid, timed alone on the same iterate: the
  batched decompositions of the forward pass (one ``eigh`` of the Gram matrices per layer, or
  one SVD where ``--method`` would take the SVD; for ``method="matmul"`` the forward chain of
  products itself) plus one ``A(X)`` and one ``A*(r)``;
- ``peak RSS``: ``ru_maxrss`` of a fresh process that ran only that configuration, minus that
  of a baseline process that imported the same modules and built nothing; on CUDA also the
  peak of ``torch.cuda.max_memory_allocated``;
- ``op bytes``: the operator's own tensors (``SensingOperator.nbytes``).

A dense Gaussian operator needs m·d²·(4 or 8) bytes; above ``--budget-gib`` it is not built and
its row says how much it would need.

The SNN starts from a random init scaled so that ‖U_k V_kᵀ‖_F ≈ 1 (a generic spectrum: the
identity init's clustered eigenvalues make ``eigh`` faster than during training). Every
process runs with ``--threads`` PyTorch threads (default 1).

    python benchmarks/scaling.py [--quick] [--sizes 32 64 128 256 512] [--fraction 0.3]
        [--widths 2 2] [--dtype float32] [--device cpu|cuda] [--budget-gib 4] [--threads 1]
        [--method auto|svd|gram|matmul]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

OPERATORS = ("gaussian", "dct", "entries")
LABELS = {"gaussian": "dense Gaussian", "dct": "SubsampledDCT", "entries": "EntrySampling"}


def _import_all():
    """The modules a worker uses (the baseline process imports exactly these)."""
    import skimage.transform  # noqa: F401  (used by skimage_image's resize)
    import torch

    import spectralnn  # noqa: F401

    return torch


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(torch, device, fn, reps: int) -> float:
    """Median seconds of ``fn()`` over ``reps`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        _sync(torch, device)
        t0 = time.perf_counter()
        fn()
        _sync(torch, device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def baseline(args: argparse.Namespace) -> dict:
    torch = _import_all()
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.zeros(1, device=args.device)  # the CUDA context, which every worker creates too
    return {"rss": _peak_rss_bytes()}


def worker(args: argparse.Namespace) -> dict:
    torch = _import_all()
    from spectralnn import (
        SNN,
        SensingProblem,
        normalize,
        skimage_image,
        spectral_apply,
    )
    from spectralnn.sensing import EntrySampling, GaussianOperator, SubsampledDCT
    from spectralnn.spectral.dispatch import resolve_method

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    d, kind = args.size, args.operator
    m = round(args.fraction * d * d)
    X, scale = normalize(skimage_image("camera", size=d))
    X = X.to(device=device, dtype=dtype)
    if kind == "gaussian":
        op = GaussianOperator((d, d), m, std=float(d), seed=args.seed, dtype=dtype,
                              device=device)
    elif kind == "dct":
        op = SubsampledDCT((d, d), m, seed=args.seed, dtype=dtype, device=device)
    else:
        op = EntrySampling.random((d, d), m=m, seed=args.seed, dtype=dtype, device=device)
    problem = SensingProblem(X_star=X, operator=op, y=op(X), scale=scale, name=f"camera-{d}")
    model = SNN((d, d), args.widths, init="random", init_scale=d ** -0.75, rank=d,
                seed=args.seed, dtype=dtype, device=device, method=args.method)

    # A tiny rate keeps the iterate (and so the spectra the decompositions see) where it was.
    from loop_timing import trainer_step_seconds

    step_s = trainer_step_seconds(model, problem, 1e-12, reps=args.reps, warmup=args.warmup,
                                  metrics=True)

    # The floor, on the same iterate: the forward pass's decompositions and one A, one A*.
    with torch.no_grad():
        inputs, Q = [], model.inputs()
        for alpha in model.alphas:
            inputs.append(Q.clone())
            Q = torch.einsum("...kij,...kl->...lij",
                             spectral_apply(Q, model.activation, method=model.method), alpha)
        Xout = Q.squeeze(-3)
        r = op(Xout) - problem.y
        # The evaluation each layer's spectral_apply actually chooses for this input.
        which = [resolve_method(Qi, model.activation, model.method) for Qi in inputs]

        def decompositions() -> None:
            for Qi, how in zip(inputs, which):
                if how == "gram":
                    torch.linalg.eigh(Qi.mT @ Qi)
                elif how == "matmul":  # no decomposition: the forward chain of products
                    spectral_apply(Qi, model.activation, method="matmul")
                else:
                    torch.linalg.svd(Qi, full_matrices=False)

        def operator_pair() -> None:
            op(Xout)
            op.adjoint(r)

        reps = max(3, min(args.reps, 20))
        dec_s = _timed(torch, device, decompositions, reps)
        op_s = _timed(torch, device, operator_pair, reps)
    out = {"ms_step": 1e3 * step_s, "ms_decomp": 1e3 * dec_s, "ms_op": 1e3 * op_s,
           "rss": _peak_rss_bytes(), "op_bytes": op.nbytes(), "m": m,
           "decomp": ({"gram": "eigh", "svd": "svd", "matmul": "mm"}[which[0]]
                      if len(set(which)) == 1 else "mixed")}
    if device.type == "cuda":
        out["gpu_peak"] = torch.cuda.max_memory_allocated(device)
    return out


def _run_child(args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--device", args.device, "--dtype",
           args.dtype, "--threads", str(args.threads), "--fraction", str(args.fraction),
           "--seed", str(args.seed), "--warmup", str(args.warmup), "--reps", str(args.reps),
           "--method", args.method,
           "--widths", *map(str, args.widths), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--operators", nargs="+", choices=OPERATORS, default=list(OPERATORS))
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 2])
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--method", choices=("auto", "svd", "gram", "matmul"), default="auto",
                        help="evaluation of the spectral activation (spectral_apply's method)")
    parser.add_argument("--budget-gib", type=float, default=4.0,
                        help="largest dense Gaussian operator to build")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10, help="timed GD steps per config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="size 16 only, 3 timed steps (a smoke run)")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--operator", choices=OPERATORS, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.baseline:
        print(json.dumps(baseline(args)))
        return
    if args.size is not None:
        print(json.dumps(worker(args)))
        return
    if args.quick:
        args.sizes, args.reps, args.warmup = [16], 3, 1

    import torch

    device = torch.device(args.device)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    itemsize = 4 if args.dtype == "float32" else 8
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"B4 scaling: torch {torch.__version__}, {label}, {args.dtype}, threads "
          f"{args.threads}, SNN widths {args.widths} rank d tanh, m = {args.fraction:g}·d², "
          f"plain GD, method={args.method}; load average {load:.2f}")
    base = _run_child(args, ["--baseline"])
    if "error" in base:
        sys.exit(f"baseline process failed: {base['error']}")
    print(f"baseline process peak RSS {_mib(base['rss'])} MiB (subtracted below)")
    cols = (f"{'d':>4} {'operator':15} {'m':>7} {'ms/step':>9} {'floor ms':>9} "
            f"{'step/floor':>10} {'dec':>4} {'dec ms':>8} {'A+A* ms':>8} {'peak RSS MiB':>12} "
            f"{'op MiB':>8}")
    if device.type == "cuda":
        cols += f" {'GPU peak MiB':>12}"
    print(cols)
    for d in args.sizes:
        for kind in args.operators:
            m = round(args.fraction * d * d)
            head = f"{d:>4} {LABELS[kind]:15} {m:>7}"
            need = m * d * d * itemsize
            if kind == "gaussian" and need > args.budget_gib * 2**30:
                print(f"{head} n/a (needs {_gib(need)} for the operator alone; budget "
                      f"{args.budget_gib:g} GiB)")
                continue
            res = _run_child(args, ["--size", str(d), "--operator", kind])
            if "error" in res:
                print(f"{head} failed: {res['error']}")
                continue
            floor = res["ms_decomp"] + res["ms_op"]
            line = (f"{head} {res['ms_step']:9.2f} {floor:9.2f} {res['ms_step'] / floor:10.2f} "
                    f"{res['decomp']:>4} {res['ms_decomp']:8.2f} {res['ms_op']:8.2f} "
                    f"{_mib(res['rss'] - base['rss']):>12} {_mib(res['op_bytes']):>8}")
            if "gpu_peak" in res:
                line += f" {_mib(res['gpu_peak']):>12}"
            print(line, flush=True)
    print("floor = the forward pass's decompositions (column 'dec': eigh of the Gram matrices "
          "or SVD, as the method picks; one batched call per layer; 'mm': the matmul "
          "evaluation's forward chain instead) + one A(X) + one A*(r), timed alone on the same "
          "iterate")


if __name__ == "__main__":
    main()
