#!/usr/bin/env bash
# Predictions per second of `lbebm predict --every-step` over the UNIV test scene
# (students001 + students003 concatenated into one Social-GAN file), K = 20, with the
# shipped default model. Usage: benches/predict_throughput.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
LBEBM_DATA_DIR="${LBEBM_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/datasets/eth_ucy}"
threads=${1:-2}
bin=target/release/lbebm
[ -x "$bin" ] || cargo build --release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Offset the second file's frame numbers and ids so that the two recordings do not mix.
awk -v OFS='\t' 'FNR==1{f++} {if (f==2) {$1+=1000000; $2+=100000} print}' \
  "$LBEBM_DATA_DIR/univ/test/students001.txt" "$LBEBM_DATA_DIR/univ/test/students003.txt" > "$tmp/univ.txt"
start=$(date +%s.%N)
RAYON_NUM_THREADS=$threads "$bin" predict --input "$tmp/univ.txt" --output "$tmp/out.csv" --every-step --samples 20 2> "$tmp/log"
end=$(date +%s.%N)
n=$(grep -o '^[0-9]* predictions' "$tmp/log" | awk '{print $1}')
awk -v n="$n" -v s="$start" -v e="$end" -v t="$threads" \
  'BEGIN{printf "{\"predictions\": %d, \"seconds\": %.2f, \"predictions_per_second\": %.0f, \"threads\": %d}\n", n, e-s, n/(e-s), t}'
