#!/usr/bin/env bash
# GPU check in one call: correctness of the spectral gradient on CUDA (float64 finite
# differences, both evaluations), a few SNN training steps, then B1 and B4 on the device.
# Usage (on a machine with a CUDA GPU, from the repository root):
#   OUT=some/folder bash benchmarks/gpu_check.sh
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 - <<'PY' 2>&1 | tee "$OUT/correctness.txt"
import torch
from spectralnn import SNN, SensingProblem, Trainer, spectral_apply, spectral_derivative
from spectralnn.sensing.operators import DenseOperator
dev = torch.device("cuda")
g = torch.Generator(device="cpu").manual_seed(0)
f64 = torch.float64
cases = {
    "generic": torch.randn(6, 4, generator=g, dtype=f64),
    "identity": torch.eye(5, dtype=f64),
    "zero": torch.zeros(3, 5, dtype=f64),
    "rank2": torch.randn(7, 2, generator=g, dtype=f64) @ torch.randn(2, 5, generator=g, dtype=f64),
    "batched": torch.randn(3, 4, 6, generator=g, dtype=f64),
}
worst = 0.0
for name, X in cases.items():
    X = X.to(dev)
    E = torch.randn(X.shape, generator=g, dtype=f64).to(dev)
    for method in ("svd", "gram"):
        h = 1e-6
        fd = (spectral_apply(X + h * E, method=method) - spectral_apply(X - h * E, method=method)) / (2 * h)
        exact = spectral_derivative(X, E)
        Xr = X.clone().requires_grad_()
        W = torch.randn(X.shape, generator=g, dtype=f64).to(dev)
        (spectral_apply(Xr, method=method) * W).sum().backward()
        adj = abs(float((Xr.grad * E).sum() - (W * exact).sum()))
        rel = float((exact - fd).norm() / fd.norm().clamp_min(1e-300))
        worst = max(worst, rel if fd.norm() > 0 else 0.0)
        print(f"{name:9} {method:5} fd-rel {rel:.1e} adjoint {adj:.1e} finite {bool(torch.isfinite(Xr.grad).all())}")
print(f"worst finite-difference relative error on cuda: {worst:.1e}")
A = 28 * torch.randn(470, 784, generator=g).to(dev)
model = SNN((28, 28), [4, 8, 16], init="identity", device=dev)
Xs = torch.randn(28, 28, generator=g).to(dev); Xs /= torch.linalg.matrix_norm(Xs, "nuc")
y = A @ Xs.reshape(-1)
# 300 steps of the library's own loop (Trainer: plain GD, eager backend) on the device
problem = SensingProblem(X_star=Xs, operator=DenseOperator(A.reshape(470, 28, 28)), y=y)
res = Trainer(300, 1e-4, metrics=False, log_every=300).fit(model, problem)
first, last = res.history[0]["train_loss"], res.history[-1]["train_loss"]
print(f"SNN float32 on cuda, 300 GD steps (Trainer) from identity init: loss {first:.3e} -> {last:.3e} ({res.status})")
PY
python3 benchmarks/step_time.py --device cuda --reps 50 2>&1 | tee "$OUT/b1_cuda.txt"
python3 benchmarks/scaling.py --device cuda 2>&1 | tee "$OUT/b4_cuda.txt"
