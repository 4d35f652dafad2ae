#!/usr/bin/env bash
# Flood soak of lbebm_node: a Cyclone DDS peer publishes 200 people at 30 Hz for a few
# minutes and reports
#   - prediction latency p50 / p99 / max: People published -> PredictionArray received
#     by the same peer, matched by header stamp (the stamp of a People message is its
#     send time);
#   - inputs vs outputs: People messages published, PredictionArrays received, and the
#     node's own count of scenes handed to the inference worker and replaced before
#     inference (stale work is dropped, not queued);
#   - the final lag: how old the newest predicted observation was when the flood ended;
#   - the node's memory: VmRSS at the start of the flood, after the warm-up (the
#     allocator and the DDS caches fill during the first 20 to 30 s), at the end, its
#     peak (VmHWM), and the slope of VmRSS after the warm-up (read every second from
#     /proc/<pid>/status);
#   - how long the node took to exit after SIGINT at the end.
# Not part of the default test suite (`flood_of_200_people_at_30_hz` in
# tests/interop.rs is its 24-second version). Runs everything inside
# ../shared/tools/netns-run.
#
#   crates/lbebm-ros/bench/flood.sh                               # release build, 180 s
#   FLOOD_SECONDS=120 crates/lbebm-ros/bench/flood.sh
#   PEOPLE=400 RATE=50 NUM_SAMPLES=10 RATE_HZ=10 PROFILE=dev crates/lbebm-ros/bench/flood.sh
#
# Settings (environment): FLOOD_SECONDS (180), PEOPLE (200), RATE (30: People messages
# per second), and the node's NUM_SAMPLES (20), RATE_HZ (30: as fast as the input, so
# that the worker's capacity-one channel, not the rate limit, drops the stale scenes),
# MAX_AGENTS (64: each message is clipped to it); WARMUP_SECONDS (30); PROFILE (release);
# ROS_DOMAIN_ID (58; 0 is replaced by 58).
# Needs the Python peers: run .ci/ros-tests once (it creates target/ros-venv).
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$(pwd)
profile="${PROFILE:-release}"
seconds="${FLOOD_SECONDS:-180}"
people="${PEOPLE:-200}"
rate="${RATE:-30}"
k="${NUM_SAMPLES:-20}"
rate_hz="${RATE_HZ:-30.0}"
max_agents="${MAX_AGENTS:-64}"
warmup="${WARMUP_SECONDS:-30}"
domain="${ROS_DOMAIN_ID:-58}"
[ "$domain" = "0" ] && domain=58
python="${LBEBM_ROS_PYTHON:-$root/target/ros-venv/bin/python}"
[ -x "$python" ] || { echo "no $python: run .ci/ros-tests first" >&2; exit 1; }
cargo build --profile "$profile" -p lbebm-ros --bin lbebm_node
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
bin="$root/target/$dir/lbebm_node"
out=$(mktemp -d)
echo "flood: $people people at $rate Hz for $seconds s; node K = $k, rate_hz = $rate_hz, max_agents = $max_agents ($profile build)"
echo "results and logs in $out"

inner=$(cat <<INNER
set -euo pipefail
export ROS_DOMAIN_ID=$domain PYTHONUNBUFFERED=1
"$bin" --ros-args -p num_samples:=$k -p rate_hz:=$rate_hz -p max_agents:=$max_agents 2> "$out/node.log" &
node=\$!
"$python" "$root/crates/lbebm-ros/tests/peers/cyclone_peer.py" flood --people $people --rate $rate \
    --duration $seconds --timeout 60 --node-pid \$node > "$out/flood.json" || true
t0=\$(date +%s%N)
kill -INT \$node
status=0
wait \$node || status=\$?
echo "\$status \$(( (\$(date +%s%N) - t0) / 1000000 ))" > "$out/stop.txt"
INNER
)
bash "$root/../shared/tools/netns-run" "$inner"

"$python" - "$out" "$warmup" <<'PY'
import json, os, re, sys
out, warmup = sys.argv[1], float(sys.argv[2])
try:
    d = json.loads(open(os.path.join(out, "flood.json")).read().strip().splitlines()[-1])
except Exception as e:
    sys.exit(f"no result from the flood peer ({e}); see {out}")
log = open(os.path.join(out, "node.log"), errors="replace").read()
f = lambda v, unit="", fmt="{:.1f}": (fmt.format(v) + unit) if v is not None else "n/a"
print(f"inputs: {d['published']} People messages of {d['people']} people "
      f"({d['skipped_slots']} slots skipped by the peer)")
print(f"outputs: {d['arrays_during_flood']} PredictionArrays during the flood "
      f"({d['prediction_arrays']} in all, {d['agents_max']} agents at most), per quarter {d['arrays_per_quarter']}")
m = re.findall(r"(\d+) scenes handed to the worker, (\d+) replaced before inference", log)
if m:
    handed, replaced = map(int, m[-1])
    print(f"node: {handed} scenes handed to the worker, {replaced} replaced before inference (dropped)")
m = re.findall(r"worker: (\d+) scenes, mean inference ([\d.]+) ms, median ([\d.]+) ms, max ([\d.]+) ms", log)
if m:
    print(f"node: {m[-1][0]} scenes predicted, inference mean {m[-1][1]} ms, median {m[-1][2]} ms, max {m[-1][3]} ms")
print(f"latency: p50 {f(d['latency_ms_p50'], ' ms')}, p99 {f(d['latency_ms_p99'], ' ms')}, "
      f"max {f(d['latency_ms_max'], ' ms')} ({d['matched_by_stamp']} matched by stamp)")
print(f"final lag: {f(d['final_lag_s'], ' s', '{:.2f}')}, longest gap between outputs: {f(d['max_gap_s'], ' s', '{:.2f}')}")
rss = d.get("rss_kib") or []
if rss:
    mib = lambda kib: kib / 1024
    warm = next((r for r in rss if r[0] >= warmup), rss[-1])
    tail = [r for r in rss if r[0] >= warmup]
    slope = None
    if len(tail) >= 3:
        n = len(tail)
        mt = sum(r[0] for r in tail) / n
        mr = sum(r[1] for r in tail) / n
        var = sum((r[0] - mt) ** 2 for r in tail)
        slope = sum((r[0] - mt) * (r[1] - mr) for r in tail) / var * 60 / 1024 if var else None
    print(f"memory: VmRSS {mib(rss[0][1]):.1f} MiB at the start, {mib(warm[1]):.1f} MiB after {warm[0]:.0f} s, "
          f"{mib(rss[-1][1]):.1f} MiB at the end, max {mib(max(r[1] for r in rss)):.1f} MiB; "
          f"VmHWM {mib(rss[-1][2]):.1f} MiB; slope after {warmup:.0f} s {f(slope, ' MiB/min', '{:+.2f}')} "
          f"({len(rss)} samples)")
    if tail:
        print(f"memory after {warmup:.0f} s: VmRSS between {mib(min(r[1] for r in tail)):.1f} and "
              f"{mib(max(r[1] for r in tail)):.1f} MiB")
try:
    status, ms = open(os.path.join(out, "stop.txt")).read().split()
    print(f"SIGINT at the end: exit status {status} after {ms} ms")
except Exception:
    pass
PY
