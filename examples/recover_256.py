"""Recover a 256×256 photograph with an SNN and with SVT, and show both next to the truth.

Problem: scikit-image's ``camera`` (512×512, resized to 256×256), scaled to nuclear norm 1,
observed through 30 % structured measurements (``SubsampledDCT``: random signs, orthonormal 2-D
DCT, 19 661 kept coefficients; or ``--measurement entries``: 30 % of the pixels), noise-free.

SNN: widths [2, 2] (two factorized inputs ``U_k V_kᵀ`` of rank 256, one hidden layer of two
spectral blocks, one output block), tanh, identity init ``U_k = V_k = 1e-4·I`` (+1e-6
jitter), float32, **plain full-batch gradient descent** (no momentum: the paper's implicit
bias is that of gradient flow). The learning rate is given in units of the loss curvature:
the loss ``½·mean_i (⟨A_i, X⟩ − y_i)²`` has Hessian ``A*A/m`` in X, whose largest eigenvalue is
``d²/m²`` for the DCT and ``1/m`` for entries; ``lr = --lr-scale / that``. The default 5.1
(lr 3e4 for the DCT, 1e5 for entries) was the best of small pilot grids (DCT: lr 1e4 and 6e4
converge more slowly, 1e5 stalls near 13 dB; entries: 5e4 slower, 2e5 worse).

SVT: :func:`~spectralnn.baselines.singular_value_thresholding` with its default threshold and
step, ``--svt-iters`` iterations (it has converged by then).

Writes ``OUT/recover_256.png`` (truth / SNN / SVT, PSNR in the titles) and
``OUT/summary.json`` (PSNR, relative errors, seconds, settings, peak RSS).

    python examples/recover_256.py OUT [--measurement dct|entries] [--steps 600]
        [--lr-scale 5.1] [--widths 2 2] [--init-scale 1e-4] [--svt-iters 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def peak_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--image", default="camera", help="scikit-image picture")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--measurement", choices=("dct", "entries"), default="dct")
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--steps", type=int, default=600, help="GD steps of the SNN")
    parser.add_argument("--lr-scale", type=float, default=5.1,
                        help="learning rate × the loss's largest curvature")
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 2])
    parser.add_argument("--init-scale", type=float, default=1e-4)
    parser.add_argument("--svt-iters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    args = parser.parse_args()

    start = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from spectralnn import SNN, Trainer, make_problem, skimage_image
    from spectralnn.baselines import singular_value_thresholding
    from spectralnn.metrics import to_pixels

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    d = args.size
    problem = make_problem(skimage_image(args.image, size=d), args.measurement,
                           fraction=args.fraction, noise_std=0.0, seed=args.seed,
                           held_out=False, dtype=torch.float32,
                           name=f"{args.image}-{d}-{args.measurement}")
    m = problem.num_measurements
    curvature = d * d / m**2 if args.measurement == "dct" else 1.0 / m
    lr = args.lr_scale / curvature
    print(f"{args.image} {d}×{d}, {m} {args.measurement} measurements "
          f"({100 * args.fraction:g} %), float32, threads {args.threads}", flush=True)

    model = SNN((d, d), args.widths, init="identity", init_scale=args.init_scale, rank=d,
                seed=args.seed, dtype=torch.float32)
    t0 = time.perf_counter()
    snn = Trainer(steps=args.steps, lr=lr, log_every=max(1, args.steps // 20), image=True,
                  name="snn").fit(model, problem)
    snn_seconds = time.perf_counter() - t0
    if snn.diverged:
        sys.exit(f"the SNN diverged at step {snn.diverged_step} (lr {lr:.3g}); "
                 "lower --lr-scale")
    best = max(snn.history, key=lambda h: h["psnr"])
    print(f"SNN widths {args.widths}, lr {lr:.3g}, {args.steps} GD steps: "
          f"PSNR {snn.history[-1]['psnr']:.2f} dB, error {snn.history[-1]['relative_error']:.4f}"
          f" ({snn_seconds:.1f} s; best logged PSNR {best['psnr']:.2f} dB at step "
          f"{int(best['step'])})", flush=True)

    t0 = time.perf_counter()
    svt = singular_value_thresholding(problem, max_iters=args.svt_iters,
                                      log_every=max(1, args.svt_iters // 20), image=True)
    svt_seconds = time.perf_counter() - t0
    print(f"SVT τ {svt.info['tau']:.3g}, step {svt.info['step']:.3g}, {svt.steps} iterations: "
          f"PSNR {svt.history[-1]['psnr']:.2f} dB, error {svt.history[-1]['relative_error']:.4f}"
          f" ({svt_seconds:.1f} s)", flush=True)

    truth = (problem.X_star.double() * problem.scale).numpy()
    panels = [
        ("truth", truth, None),
        (f"SNN {args.widths}, {args.steps} GD steps", snn.X, snn.history[-1]),
        (f"SVT, {svt.steps} iterations", svt.X, svt.history[-1]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.9))
    for ax, (title, X, row) in zip(axes, panels):
        img = truth if row is None else to_pixels(X, problem.scale).numpy()
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        if row is not None:
            title += f"\nPSNR {row['psnr']:.2f} dB, rel. error {row['relative_error']:.4f}"
        else:
            kind = "SubsampledDCT" if args.measurement == "dct" else "sampled-pixel"
            title += f" ({d}×{d})\n{m} {kind} measurements ({100 * args.fraction:g} %)"
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.tight_layout()
    png = args.out / "recover_256.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)

    wall = time.perf_counter() - start
    rss = peak_rss_mib()
    summary = {
        "image": args.image, "size": d, "measurement": args.measurement, "m": m,
        "fraction": args.fraction, "noise_std": 0.0, "dtype": "float32", "threads": args.threads,
        "snn": {"widths": args.widths, "rank": d, "init": "identity",
                "init_scale": args.init_scale, "optimizer": "gd", "lr": lr,
                "lr_scale": args.lr_scale, "steps": args.steps,
                "psnr": snn.history[-1]["psnr"],
                "relative_error": snn.history[-1]["relative_error"],
                "best_logged_psnr": best["psnr"], "best_logged_step": int(best["step"]),
                "seconds": snn_seconds},
        "svt": {"tau": svt.info["tau"], "step": svt.info["step"], "iterations": svt.steps,
                "status": svt.status, "psnr": svt.history[-1]["psnr"],
                "relative_error": svt.history[-1]["relative_error"], "seconds": svt_seconds},
        "wall_seconds": wall, "peak_rss_mib": rss, "png": png.name,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {png} and {args.out / 'summary.json'}; wall {wall:.1f} s, peak RSS "
          f"{rss:.0f} MiB, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
