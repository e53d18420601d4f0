"""Matmul-only spectral activation on a GPU: correctness on the device, then B1 and B4 rows.

One process, sections in order, each skipped once ``--budget-s`` seconds have passed:

1. correctness (float64 and float32, both inverses): ``method="matmul"`` against the SVD path
   at identity, zero, repeated, rank-deficient, large-σ (1e3), tall, wide and batched inputs:
   forward error (spectral norm) against :func:`spectralnn.matmul_error_bound`, gradient error
   (max entry, unit upstream weights); the captured step against the same step run eagerly;
2. micro: forward + backward of ``spectral_apply`` on (b, d, d) float32 per method;
3. B1: the MNIST configuration (28×28, widths [4, 8, 16], 470 Gaussian measurements), ms per
   GD step of the library's loop: the trainer's eager loop with SVD / Gram / matmul, and its
   captured backend (one CUDA graph per step), per dtype;
4. B4: widths [2, 2], rank d, d×d, entry sampling of 30 % (float32), d up to ``--max-d``:
   the eager loop with SVD (d ≤ 1024) and matmul, and the captured backend;
5. a d = ``--max-d`` SNN trained by :func:`spectralnn.trainer.train_captured`.

Every table names the device. Without CUDA (``--device cpu``) the same sections run on tiny
sizes, as a smoke test of the script itself.

    python benchmarks/gpu_matmul.py --out DIR [--device cuda] [--budget-s 330] [--max-d 4096]
        [--sections correctness micro b1 b4 train] [--b4-sizes 32 64 ...]

On the CPU, ``--sections b1 b4 --b4-sizes 32 64 128 256 512`` gives the same rows side by side in
one process (1 thread).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch

from loop_timing import captured_step_seconds, trainer_step_seconds
from spectralnn import SNN, matmul_error_bound, spectral_apply
from spectralnn.sensing import EntrySampling, GaussianOperator
from spectralnn.sensing.problem import SensingProblem
from spectralnn.spectral import matmul_options
from spectralnn.trainer import capture_step, train_captured

T0 = time.perf_counter()
SECTIONS = ["correctness", "micro", "b1", "b4", "train"]


class Report:
    """Lines printed and kept for one output file."""

    def __init__(self, out: Path, name: str, header: str) -> None:
        self.path = out / name
        self.lines = [header]
        print(header, flush=True)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)
        self.path.write_text("\n".join(self.lines) + "\n")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, reps: int, warm: int = 2) -> float:
    """Median seconds of ``fn()`` (synchronised before and after each call)."""
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def over(budget: float) -> bool:
    return time.perf_counter() - T0 > budget


# ------------------------------------------------------------------------------ correctness
def correctness(rep: Report, device: torch.device) -> bool:
    g = torch.Generator().manual_seed(0)
    f64 = torch.float64

    def big(m, n, smax):
        U, _ = torch.linalg.qr(torch.randn(m, n, generator=g, dtype=f64))
        V, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=f64))
        s = torch.logspace(-3, math.log10(smax), n, dtype=f64)
        return (U * s) @ V.T

    cases = {
        "identity": torch.eye(28, dtype=f64),
        "zero": torch.zeros(5, 7, dtype=f64),
        "repeated": torch.diag(torch.tensor([2.0, 2.0, 2.0, 0.5, 0.5], dtype=f64)),
        "rank3": torch.randn(30, 3, generator=g, dtype=f64) @ torch.randn(3, 20, generator=g,
                                                                           dtype=f64),
        "sigma1e3": big(40, 30, 1e3),
        "tall": torch.randn(50, 20, generator=g, dtype=f64),
        "wide": torch.randn(20, 50, generator=g, dtype=f64),
        "batched": torch.randn(4, 3, 16, 12, generator=g, dtype=f64),
        "d512": big(512, 512, 30.0),
    }
    ok = True
    rep(f"{'case':9} {'dtype':8} {'inverse':8} {'fwd err':>9} {'bound':>9} {'grad err':>9} "
        f"{'grad/bound':>10} ok")
    for dtype in (torch.float64, torch.float32):
        for name, X64 in cases.items():
            X64 = X64.to(device)
            W = torch.randn(X64.shape, generator=g, dtype=f64).to(device)
            ref = spectral_apply(X64, method="svd")
            Xr = X64.clone().requires_grad_()
            (spectral_apply(Xr, method="svd") * W).sum().backward()
            gref = Xr.grad
            X = X64.to(dtype)
            for inverse in ("poly", "cholesky"):
                with matmul_options(inverse=inverse):
                    Xm = X.clone().requires_grad_()
                    F = spectral_apply(Xm, method="matmul")
                    (F * W.to(dtype)).sum().backward()
                bound = matmul_error_bound(X, inverse=inverse)
                ferr = float(torch.linalg.matrix_norm((F.detach().double() - ref).reshape(
                    -1, *X.shape[-2:]), ord=2).max())
                gerr = float((Xm.grad.double() - gref).abs().max())
                good = ferr <= bound and gerr <= 100 * bound * max(1.0, float(W.abs().max()))
                good = good and bool(torch.isfinite(Xm.grad).all())
                ok &= good
                rep(f"{name:9} {str(dtype)[6:]:8} {inverse:8} {ferr:9.1e} {bound:9.1e} "
                    f"{gerr:9.1e} {gerr / bound:10.2f} {'yes' if good else 'FAIL'}")
    # The captured step against the same step run eagerly (float32, MNIST configuration).
    prob = mnist_problem(torch.float32, device)
    models = [SNN((28, 28), [4, 8, 16], init="random", init_scale=0.3, method="matmul",
                  dtype=torch.float32, device=device) for _ in range(2)]
    steps = [capture_step(m, prob, lr=1e-9, graph=gr) for m, gr in zip(models, (True, False))]
    losses = [[float(s()) for _ in range(5)] for s in steps]
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(models[0].parameters(),
                                                          models[1].parameters()))
    good = diff <= 1e-5 and all(math.isfinite(v) for v in losses[0])
    ok &= good
    rep(f"captured vs eager step (graphed={steps[0].graphed}), 5 steps: max parameter "
        f"difference {diff:.1e}, losses {losses[0][0]:.4e} -> {losses[0][-1]:.4e} "
        f"{'yes' if good else 'FAIL'}")
    rep(f"all correctness checks passed: {ok}")
    return ok


# ------------------------------------------------------------------------------------ micro
def micro(rep: Report, device: torch.device, sizes: list[tuple[int, int]],
          budget: float) -> None:
    rep(f"{'b':>3} {'d':>5} {'k':>3} " + " ".join(f"{m:>12}" for m in
                                                  ("svd", "gram", "mm-poly", "mm-chol")))
    g = torch.Generator().manual_seed(1)
    for b, d in sizes:
        if over(budget):
            rep(f"{b:>3} {d:>5} skipped (time budget)")
            continue
        U, _ = torch.linalg.qr(torch.randn(b, d, d, generator=g))
        s = torch.linspace(0.0, 5.0, d)          # σ in [0, 5]: a mid-training spectrum
        X = ((U * s) @ U.mT).to(device)
        from spectralnn.spectral.matmul import doublings_for, input_norm_bound
        k = doublings_for(input_norm_bound(X))
        cells = []
        for meth, inv in (("svd", "auto"), ("gram", "auto"), ("matmul", "poly"),
                          ("matmul", "cholesky")):
            if meth in ("svd", "gram") and d > 1024:
                cells.append("n/a")
                continue

            def fn(meth=meth, inv=inv, X=X):
                Xr = X.detach().requires_grad_()
                with matmul_options(inverse=inv):
                    spectral_apply(Xr, method=meth).sum().backward()

            reps = 3 if d >= 2048 else 10
            cells.append(f"{1e3 * timed(fn, device, reps, warm=1):.2f}")
        rep(f"{b:>3} {d:>5} {k:>3} " + " ".join(f"{c:>12}" for c in cells))
    rep("ms for forward + backward of spectral_apply on (b, d, d) float32, σ spread on [0, 5]")


# --------------------------------------------------------------------------------------- B1
def mnist_problem(dtype: torch.dtype, device: torch.device) -> SensingProblem:
    op = GaussianOperator((28, 28), 470, std=28.0, seed=0, dtype=dtype, device=device)
    g = torch.Generator().manual_seed(0)
    Xs = torch.randn(28, 28, generator=g, dtype=torch.float64)
    Xs = (Xs / torch.linalg.matrix_norm(Xs, "nuc")).to(device, dtype)
    return SensingProblem(X_star=Xs, operator=op, y=op(Xs))


def loop_step(model: SNN, prob: SensingProblem, lr: float, inverse: str, graph: bool,
              reps: int) -> tuple[float, dict]:
    """Seconds per step of the library's loop: the trainer's eager loop
    (:func:`loop_timing.trainer_step_seconds`) or its captured backend
    (:func:`loop_timing.captured_step_seconds`), and the run's info."""
    if graph:
        return captured_step_seconds(model, prob, lr, reps=reps, inverse=inverse)
    with matmul_options(inverse=inverse):
        return trainer_step_seconds(model, prob, lr, reps=reps, warmup=2), {"graphed": False}


def b1(rep: Report, device: torch.device, reps: int, budget: float) -> None:
    rep(f"{'dtype':8} {'step':44} {'ms/step':>8} {'vs svd':>7}")
    for dtype in (torch.float32, torch.float64):
        prob = mnist_problem(dtype, device)
        rows = [("eager, method=svd", "svd", "auto", False),
                ("eager, method=gram", "gram", "auto", False),
                ("eager, method=matmul (poly inverse)", "matmul", "poly", False),
                ("eager, method=matmul (cholesky inverse)", "matmul", "cholesky", False),
                ("captured graph, matmul (poly inverse)", "matmul", "poly", True)]
        base = None
        for label, meth, inv, graph in rows:
            if over(budget):
                rep(f"{str(dtype)[6:]:8} {label:44} skipped (time budget)")
                continue
            model = SNN((28, 28), [4, 8, 16], init="random", init_scale=0.3, method=meth,
                        dtype=dtype, device=device)
            try:
                t, info = loop_step(model, prob, 1e-9, inv, graph, reps)
            except Exception as exc:  # report and go on: one failed row must not end the run
                rep(f"{str(dtype)[6:]:8} {label:44} failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:120]}")
                continue
            base = t if base is None else base
            if graph and not info["graphed"]:
                label = label.replace("captured graph", "same step, eager")
            rep(f"{str(dtype)[6:]:8} {label:44} {1e3 * t:8.3f} {t / base:7.2f}"
                + (f"   k={info['doublings']}" if graph else ""))


# --------------------------------------------------------------------------------------- B4
def b4_problem(d: int, device: torch.device, dtype=torch.float32) -> SensingProblem:
    g = torch.Generator().manual_seed(0)
    L = torch.randn(d, 5, generator=g, dtype=torch.float64)
    R = torch.randn(5, d, generator=g, dtype=torch.float64)
    Xs = L @ R
    Xs = (Xs / torch.linalg.matrix_norm(Xs, "nuc")).to(device, dtype)
    op = EntrySampling.random((d, d), fraction=0.3, seed=0, dtype=dtype, device=device)
    return SensingProblem(X_star=Xs, operator=op, y=op(Xs))


def b4_model(d: int, device: torch.device, method: str) -> SNN:
    return SNN((d, d), [2, 2], init="random", init_scale=d ** -0.75, rank=d, method=method,
               dtype=torch.float32, device=device)


def b4(rep: Report, device: torch.device, sizes: list[int], budget: float) -> None:
    rep(f"{'d':>5} {'step':40} {'ms/step':>9} {'vs svd':>7} {'k':>3} {'GPU peak MiB':>12}")
    for d in sizes:
        prob = b4_problem(d, device)
        base = None
        rows = [("eager, method=svd", "svd", "auto", False),
                ("eager, method=auto", "auto", "auto", False),
                ("eager, method=matmul (poly)", "matmul", "poly", False),
                ("eager, method=matmul (cholesky)", "matmul", "cholesky", False),
                ("captured graph, matmul (poly)", "matmul", "poly", True)]
        for label, meth, inv, graph in rows:
            if over(budget):
                rep(f"{d:>5} {label:40} skipped (time budget)")
                continue
            if meth == "svd" and d > 1024:
                rep(f"{d:>5} {label:40} not run (d > 1024: seconds per step)")
                continue
            if not graph and meth == "matmul" and d > 2048 and inv == "cholesky":
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            model = b4_model(d, device, meth)
            try:
                t, info = loop_step(model, prob, 1e-12, inv, graph, 3 if d >= 2048 else 10)
            except Exception as exc:
                rep(f"{d:>5} {label:40} failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:120]}")
                continue
            base = t if (base is None and meth == "svd") else base
            if graph and not info["graphed"]:
                label = label.replace("captured graph", "same step, eager")
            peak = (torch.cuda.max_memory_allocated(device) / 2**20
                    if device.type == "cuda" else float("nan"))
            ratio = f"{t / base:7.2f}" if base else f"{'':>7}"
            k = info["doublings"] if graph else ""
            rep(f"{d:>5} {label:40} {1e3 * t:9.2f} {ratio} {k:>3} {peak:12.0f}")
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()


def train_big(rep: Report, device: torch.device, d: int, steps: int, budget: float) -> None:
    if over(budget):
        rep(f"d={d} training skipped (time budget)")
        return
    prob = b4_problem(d, device)
    model = b4_model(d, device, "matmul")
    lr = 0.5 * prob.operator.num_measurements  # ∇ of ½·mean(r²) is r/m on the sampled entries
    t0 = time.perf_counter()
    try:
        losses = train_captured(model, prob, steps, lr=lr, check_every=max(1, steps // 4))
    except Exception as exc:
        rep(f"d={d} training failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return
    _sync(device)
    secs = time.perf_counter() - t0
    with torch.no_grad():
        X = model()
        rel = float(torch.linalg.matrix_norm(X - prob.X_star) /
                    torch.linalg.matrix_norm(prob.X_star))
    rep(f"d={d}: {steps} captured GD steps (lr {lr:g}, widths [2, 2], rank d, entry sampling "
        f"30 %) in {secs:.1f} s including capture; loss at checks "
        + ", ".join(f"{v:.3e}" for v in losses) + f"; relative error {rel:.3e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget-s", type=float, default=330.0)
    ap.add_argument("--max-d", type=int, default=4096)
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS)
    ap.add_argument("--b4-sizes", type=int, nargs="+", help="B4 sizes (default by device)")
    args = ap.parse_args()
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    head = f"torch {torch.__version__}, {card}"
    tiny = device.type != "cuda"
    if tiny:
        torch.set_num_threads(1)
    info = {"device": card, "torch": torch.__version__}
    if "correctness" in args.sections:
        info["correctness_ok"] = correctness(
            Report(args.out, "correctness.txt", f"Correctness on {head}"), device)
    if "micro" in args.sections:
        micro_sizes = ([(2, 32), (2, 64)] if tiny else
                       [(16, 28), (2, 128), (2, 512), (2, 1024), (2, 2048), (2, 4096)])
        micro(Report(args.out, "micro.txt", f"spectral_apply forward+backward, {head}"),
              device, micro_sizes, args.budget_s)
    if "b1" in args.sections:
        b1(Report(args.out, "b1.txt", f"B1 MNIST configuration step time, {head}"), device,
           10 if tiny else 50, args.budget_s)
    if "b4" in args.sections:
        sizes = args.b4_sizes or ([16, 32] if tiny else [
            s for s in (32, 64, 128, 256, 512, 1024, 2048, 4096) if s <= args.max_d])
        b4(Report(args.out, "b4.txt", f"B4 widths [2, 2] step time, float32, {head}"), device,
           sizes, args.budget_s)
    if "train" in args.sections:
        train_big(Report(args.out, "train.txt", f"Large SNN training, {head}"), device,
                  32 if tiny else args.max_d, 20 if tiny else args.train_steps,
                  args.budget_s + 60)
    info["seconds"] = time.perf_counter() - T0
    (args.out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"total {info['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
