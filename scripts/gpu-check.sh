#!/usr/bin/env bash
# One command for a machine with a GPU: builds sgntk with the wgpu feature, runs the backend parity
# suite on the GPU (it must not skip), and times one paper-scale training configuration on the CPU
# (flex) and the GPU side by side.
#
#   scripts/gpu-check.sh                      # 500 networks of width 500, 1000 SGL steps
#   NETS=100 WIDTH=1000 STEPS=3000 scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETS="${NETS:-500}"; WIDTH="${WIDTH:-500}"; STEPS="${STEPS:-1000}"
OUT="${OUT:-gpu-check}"
mkdir -p "$OUT"

echo "== build (release, --features wgpu)"
cargo build --release --features wgpu --bin sgntk

echo "== parity suite on the GPU"
SGNTK_REQUIRE_WGPU=1 cargo test --release --features wgpu --test wgpu_parity -- --nocapture

echo "== data: the Fig. 3 task (15 training points, 100 test angles)"
awk 'BEGIN { pi = atan2(0, -1); srand(2024);
  for (i = 0; i < 15; i++) { a = -pi + 2 * pi * int(rand() * 100) / 100; x = sin(a); y = cos(a);
    printf "%.17g,%.17g,%.17g\n", x, y, 4*x*y*y - 0.8*x*x*x + 1.2*y*y - 0.8*x*x*y } }' > "$OUT/train.csv"
awk 'BEGIN { pi = atan2(0, -1); for (i = 0; i < 100; i++) { a = 2 * pi * i / 100 - pi;
  printf "%.17g,%.17g\n", sin(a), cos(a) } }' > "$OUT/test.csv"

for backend in flex wgpu; do
  echo "== $NETS sign networks, width $WIDTH, $STEPS SGL steps on $backend"
  start=$(date +%s.%N)
  target/release/sgntk train --activation sign --surrogate erf-prime --mode sgl --width "$WIDTH" \
    --nets "$NETS" --steps "$STEPS" --backend "$backend" --train "$OUT/train.csv" --test "$OUT/test.csv" \
    --out "$OUT/$backend"
  end=$(date +%s.%N)
  echo "$backend: $(awk "BEGIN { print $end - $start }") s" | tee -a "$OUT/times.txt"
done
echo "== done: $OUT/times.txt; outputs in $OUT/flex and $OUT/wgpu"
