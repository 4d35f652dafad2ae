#!/usr/bin/env bash
# Latency benchmark of lbebm_node: People published (Cyclone DDS peer) -> PredictionArray
# received (same peer, matched by header stamp), p50 / p99, for 1, 8 and 32 people at
# 10 Hz input with K = 20; then the node's memory (VmRSS) over a long run.
# Not a test: prints a table. Runs everything inside ../shared/tools/netns-run.
#
#   crates/lbebm-ros/bench/latency.sh                 # release build, 20 s per size, 300 s memory run
#   SECONDS_PER_RUN=10 MEM_SECONDS=60 PROFILE=dev crates/lbebm-ros/bench/latency.sh
#   BIN=/tmp/old/lbebm_node MEM_SECONDS=0 crates/lbebm-ros/bench/latency.sh   # another build
#
# Columns: p50/p99 from People written to PredictionArray taken and decoded by the peer
# (Python: decoding a 32-person array is itself milliseconds, shown as "decode"), and
# "node p50/p99" from People written to the PredictionArray written by the node (its DDS
# source timestamp): the node's own latency.
#
# Needs the Python peers: run .ci/ros-tests once (it creates target/ros-venv).
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$(pwd)
profile="${PROFILE:-release}"
per_run="${SECONDS_PER_RUN:-20}"
mem_seconds="${MEM_SECONDS:-300}"
sizes="${SIZES:-1 8 32}"
# DECODE=header (default): the peer decodes only each array's header, so that Python's
# decoding (tens of ms for 32 people) neither counts nor competes with the node for the
# 2 cores; DECODE=full decodes everything (as before).
light=$([ "${DECODE:-header}" = full ] || echo --light)
python="${LBEBM_ROS_PYTHON:-$root/target/ros-venv/bin/python}"
[ -x "$python" ] || { echo "no $python: run .ci/ros-tests first" >&2; exit 1; }
if [ -n "${BIN:-}" ]; then
  bin="$BIN"
else
  cargo build --profile "$profile" -p lbebm-ros --bin lbebm_node
  dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
  bin="$root/target/$dir/lbebm_node"
fi
out=$(mktemp -d)
echo "results and logs in $out"

inner=$(cat <<INNER
set -euo pipefail
export ROS_DOMAIN_ID=57 PYTHONUNBUFFERED=1
peer="$root/crates/lbebm-ros/tests/peers/cyclone_peer.py"
for n in $sizes; do
  "$bin" --ros-args -p num_samples:=20 -p rate_hz:=10.0 -p max_agents:=64 2> "$out/node_\$n.log" &
  node=\$!
  "$python" "\$peer" bench $light --people \$n --rate 10 --duration $per_run --timeout 60 > "$out/bench_\$n.json" || true
  kill -INT \$node; wait \$node || true
done
if [ "$mem_seconds" -gt 0 ]; then
  "$bin" --ros-args -p num_samples:=20 -p rate_hz:=10.0 2> "$out/node_mem.log" &
  node=\$!
  "$python" "\$peer" bench $light --people 32 --rate 10 --duration $mem_seconds --timeout 60 > "$out/bench_mem.json" &
  peer_pid=\$!
  : > "$out/rss.txt"
  while kill -0 \$peer_pid 2>/dev/null; do
    echo "\$(date +%s) \$(awk '/VmRSS/ {print \$2}' /proc/\$node/status)" >> "$out/rss.txt"
    sleep 10
  done
  wait \$peer_pid || true
  kill -INT \$node; wait \$node || true
fi
INNER
)
bash "$root/../shared/tools/netns-run" "$inner"

"$python" - "$out" "$sizes" "$mem_seconds" <<'PY'
import json, sys, os
out, sizes, mem = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
print(f"{'people':>6} {'published':>9} {'predicted':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'node p50':>8} {'node p99':>8} {'decode':>8}")
for n in sizes:
    try:
        d = json.loads(open(os.path.join(out, f"bench_{n}.json")).read().strip().splitlines()[-1])
    except Exception as e:
        print(f"{n:>6} failed: {e}")
        continue
    f = lambda v: f"{v:8.1f}" if v is not None else "     n/a"
    print(f"{n:>6} {d['published']:>9} {d['matched_by_stamp']:>9} {f(d['latency_ms_p50'])} {f(d['latency_ms_p99'])} {f(d['latency_ms_max'])} "
          f"{f(d.get('node_latency_ms_p50'))} {f(d.get('node_latency_ms_p99'))} {f(d.get('peer_decode_ms_p50'))}")
    try:
        log = open(os.path.join(out, f"node_{n}.log")).read()
        line = [l for l in log.splitlines() if "mean inference" in l][-1]
        print(f"       node log: {line.split('worker: ')[-1]}")
    except Exception:
        pass
if mem > 0:
    rows = [l.split() for l in open(os.path.join(out, "rss.txt")) if len(l.split()) == 2]
    if len(rows) >= 3:
        kb = [int(r[1]) for r in rows]
        # skip the first sample (model loading, DDS discovery)
        print(f"memory (32 people, {mem} s): VmRSS {kb[1]/1024:.1f} MiB after 10 s, "
              f"{kb[-1]/1024:.1f} MiB at the end, max {max(kb[1:])/1024:.1f} MiB ({len(kb)} samples)")
    try:
        d = json.loads(open(os.path.join(out, "bench_mem.json")).read().strip().splitlines()[-1])
        print(f"  during it: p50 {d['latency_ms_p50']:.1f} ms, p99 {d['latency_ms_p99']:.1f} ms")
    except Exception:
        pass
PY
