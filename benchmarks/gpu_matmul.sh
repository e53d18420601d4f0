#!/usr/bin/env bash
# The matmul-only spectral activation on a CUDA GPU in one call: correctness on the device,
# forward+backward per method, B1 (MNIST configuration) and B4 (widths [2, 2], d up to 4096)
# with the captured step, and a 4096×4096 SNN trained. Files land in $OUT, labelled with the card.
# Usage (on a machine with a CUDA GPU, from the repository root):
#   OUT=some/folder bash benchmarks/gpu_matmul.sh [--budget-s 300] [--max-d 4096]
set -euo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 benchmarks/gpu_matmul.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
