#!/usr/bin/env bash
# Peak memory and time of `lbebm predict` on a large time-ordered track file (default
# 1 GB of Social-GAN text, 100 agents per frame, made here), predicting at the last
# time and with --at in the middle, against the first 400 000 rows (9 MB) of the same file.
# Usage: benches/large_input.sh [MEGABYTES]      (needs python3 and GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-1000}
bin=target/release/lbebm
[ -x "$bin" ] || cargo build --release
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$mb" "$tmp/big.txt" <<'PY'
import math, sys
target = int(float(sys.argv[1]) * 1e6)
with open(sys.argv[2], "w", buffering=1 << 22) as out:
    n = f = 0
    while n < target:
        s = "".join(
            f"{f * 10}\t{a}\t{(a % 10) * 3 + 5 * math.cos(0.01 * f + a):.3f}\t"
            f"{(a // 10) * 3 + 5 * math.sin(0.01 * f + a):.3f}\n"
            for a in range(100)
        )
        out.write(s)
        n += len(s)
        f += 1
PY
head -n 400000 "$tmp/big.txt" > "$tmp/head.txt"
last=$(tail -n 1 "$tmp/big.txt" | cut -f1)
mid=$(( (last / 20) * 10 ))
run() { # name file extra-args...
  local name=$1 file=$2; shift 2
  /usr/bin/time -f '%M %e' -o "$tmp/time" "$bin" predict --input "$file" --output "$tmp/out.csv" "$@" 2> "$tmp/log" \
    || { cat "$tmp/log" >&2; exit 1; }
  read -r kb secs < "$tmp/time"
  printf '{"case": "%s", "input_mb": %.1f, "peak_rss_mib": %.1f, "seconds": %.2f}\n' \
    "$name" "$(( $(stat -c %s "$file") / 100000 ))e-1" "$(( kb * 10 / 1024 ))e-1" "$secs"
}
run "last time, first 400 000 rows" "$tmp/head.txt"
run "last time" "$tmp/big.txt"
run "--at the middle" "$tmp/big.txt" --at "$mid"
