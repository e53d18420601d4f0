#!/usr/bin/env bash
# The non-local SNN (snn-patches) on a GPU: camera 512×512 (grey) on the device and on the CPU
# side by side, then astronaut resized to 2048×2048, grey and colour, on the device. Each run
# is one `spectralnn recover` process (30 % of the pixels, 1 % noise, default settings); the
# table gives its wall time, the fit's seconds, PSNR and rounds. Nothing is downloaded.
#
# Usage (from the repository root, on a machine with a CUDA GPU):
#   bash benchmarks/gpu_images.sh [--out DIR] [--device cuda] [--small 512] [--large 2048]
#                                 [--no-cpu]
# A quick try without a GPU:  bash benchmarks/gpu_images.sh --device cpu --small 48 --large 64
set -euo pipefail
OUT=gpu-images DEVICE=cuda SMALL=512 LARGE=2048 CPU=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --small) SMALL=$2; shift 2 ;;
    --large) LARGE=$2; shift 2 ;;
    --no-cpu) CPU=0; shift ;;
    *) echo "error: unknown option $1; expected --out, --device, --small, --large, --no-cpu" >&2
       exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
export PYTHONPATH=${PYTHONPATH:-src} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv \
  | tee "$OUT/gpu.txt" || true

run() {  # name device size colour-flag
  local dir="$OUT/$1"
  rm -rf "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  "$PY" -m spectralnn recover --image skimage:"$5" "$4" --size "$3" --fraction 0.3 \
    --measurement entries --model snn-patches --device "$2" --max-seconds 600 --quiet \
    --out "$dir"
  t1=$(date +%s.%N)
  "$PY" - "$dir" "$1" "$2" "$t0" "$t1" <<'PY' | tee -a "$OUT/table.md"
import json, sys
d, name, dev, t0, t1 = sys.argv[1:]
s = json.load(open(f"{d}/summary.json"))
fit = s.get("fit") or s.get("settings") or {}
rounds = fit.get("rounds_run", s.get("steps"))
h, w = s["shape"][-2:]
print(f"| {name} | {h}×{w} | {dev} | {s['psnr']:.2f} | {float(t1) - float(t0):.1f} "
      f"| {s['seconds']:.1f} | {rounds} |")
PY
}

echo "| run | size | device | PSNR (dB) | wall s | fit s | rounds |" | tee "$OUT/table.md"
echo "|---|---|---|---:|---:|---:|---:|" | tee -a "$OUT/table.md"
run camera-grey "$DEVICE" "$SMALL" --grey camera
[ "$CPU" = 1 ] && [ "$DEVICE" != cpu ] && run camera-grey-cpu cpu "$SMALL" --grey camera
run astronaut-grey-large "$DEVICE" "$LARGE" --grey astronaut
run astronaut-colour-large "$DEVICE" "$LARGE" --colour astronaut
echo "table: $OUT/table.md"
