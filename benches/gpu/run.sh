#!/usr/bin/env bash
# lbebm on a GPU against the same machine's CPU cores: evaluation, prediction throughput,
# training steps and one full ETH epoch. Writes OUT_DIR/summary.json (and run.log).
#
#   benches/gpu/run.sh OUT_DIR                        # on the GPU machine, repository root
#   LBEBM_GPU_DEVICE=cpu benches/gpu/run.sh OUT_DIR   # dry run anywhere: --device cpu,
#                                                     # small sizes, GPU-only steps skipped
#
# Needs no Rust toolchain and no network: the binary is gpu-build/lbebm (benches/gpu/build.sh;
# else target/release/lbebm; or LBEBM_BIN), the CUDA libraries are those of the machine's
# Python wheels (nvidia/*/lib in python3's site-packages, put on LD_LIBRARY_PATH), plus the
# driver's libcuda.so.1. Every step has a time limit and the whole run a budget
# (LBEBM_GPU_BUDGET_S, default 420 s), so it ends within 8 minutes; a step that fails or runs
# out of time is recorded and the others go on.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
mkdir -p "$1" || exit 2
out=$(cd "$1" && pwd)
exec > >(tee "$out/run.log") 2>&1

dev=${LBEBM_GPU_DEVICE:-cuda:0}
gpu=1
[ "$dev" = cpu ] && gpu=0
budget=${LBEBM_GPU_BUDGET_S:-420}
start=$(date +%s)
deadline=$((start + budget))
work=${LBEBM_GPU_WORK:-$(mktemp -d /tmp/lbebm-gpu.XXXXXX)}
mkdir -p "$work/steps"
: >"$work/steps.tsv"

bin=${LBEBM_BIN:-}
if [ -z "$bin" ]; then
  for b in gpu-build/lbebm gpu-build/lbebm.xz target/release/lbebm; do
    if [ -f "$b" ]; then bin=$b; break; fi
  done
fi
if [ -n "$bin" ] && [ "${bin%.xz}" != "$bin" ] && [ -f "$bin" ]; then
  # The compressed build that travels (gpu-build/lbebm.xz): unpack it next to the work.
  python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o:
    shutil.copyfileobj(i, o)' "$bin" "$work/lbebm" && chmod +x "$work/lbebm" || exit 2
  echo "unpacked $bin to $work/lbebm"
  bin=$work/lbebm
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "run.sh: no lbebm binary (gpu-build/lbebm[.xz] from benches/gpu/build.sh, or LBEBM_BIN)" >&2
  exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# The CUDA libraries of the Python wheels (torch's nvidia-* packages).
libs=$(python3 -c '
import glob, os, site
roots = list(site.getsitepackages())
user = site.getusersitepackages()
if isinstance(user, str):
    roots.append(user)
dirs = []
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        if d not in dirs:
            dirs.append(d)
print(":".join(dirs))' 2>/dev/null || true)
if [ -n "$libs" ]; then
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "== lbebm GPU bench: device $dev, binary $bin, budget ${budget} s, work $work"
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
missing=$(ldd "$bin" 2>/dev/null | grep 'not found' | awk '{print $1}' | tr '\n' ' ')
if [ -n "$missing" ]; then
  echo "run.sh: the binary cannot find: $missing" >&2
fi
printf '%s' "$missing" >"$work/missing_libs.txt"
printf '%s' "$libs" >"$work/lib_dirs.txt"
if ! "$bin" --version >"$work/version.txt" 2>&1; then
  cat "$work/version.txt"
  echo "run.sh: $bin does not start (missing: ${missing:-?}); nothing run" >&2
  python3 benches/gpu/summarize.py "$work" "$out/summary.json" "$dev" "$bin" "$start"
  exit 1
fi
cat "$work/version.txt"
if [ $gpu = 1 ]; then
  echo "== nvidia-smi"
  timeout 30 nvidia-smi >"$work/nvidia-smi.txt" 2>&1 || true
  cat "$work/nvidia-smi.txt"
fi

# step NAME LIMIT_S COMMAND...: runs the command with its output in $work/steps/NAME.*,
# within LIMIT_S and what is left of the budget; one line to steps.tsv.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s)))
  if [ "$left" -lt 15 ]; then
    echo "-- $name: skipped, the run's time budget is spent"
    printf '%s\tskipped\t0\t0\tbudget spent\n' "$name" >>"$work/steps.tsv"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "-- $name (limit ${limit} s): $*"
  local t0 t1 rc status
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" >"$work/steps/$name.out" 2>"$work/steps/$name.err"
  rc=$?
  t1=$(date +%s.%N)
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  local wall
  wall=$(python3 -c "print(round($t1 - $t0, 3))")
  echo "   $status (rc $rc) in ${wall} s"
  if [ $status != ok ]; then tail -5 "$work/steps/$name.err" | sed 's/^/   | /'; fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$wall" "$limit" >>"$work/steps.tsv"
}

# skip NAME WHY: a step left out on purpose.
skip() {
  echo "-- $1: skipped ($2)"
  printf '%s\tskipped\t0\t0\t%s\n' "$1" "$2" >>"$work/steps.tsv"
}

# Sizes: the GPU machine gets the full set; the dry run small ones.
if [ $gpu = 1 ]; then
  sizes="1:30:3 32:30:3 1024:10:2 16384:5:2"     # agents:reps:warm-up (device)
  cpu_sizes="1:30:3 32:30:3 1024:5:1 16384:2:1"  # the same work on the CPU cores
  train_reps=20
else
  sizes="1:5:1 32:5:1 1024:2:1"
  cpu_sizes="1:5:1 32:5:1 1024:2:1"
  train_reps=3
fi

# 1. The device works and loads its kernels (the driver compiles the PTX on first use and
#    caches it); its report names the GPU.
step probe 150 "$bin" bench --device "$dev" --agents 32 --samples 20 --reps 1 --warmup 1 \
  --batch 70 --json

# 2. Evaluation of the shipped ETH model on the device and on the CPU: same noise, so the
#    same ADE/FDE up to rounding.
#    (In a dry run both are the CPU: the same numbers exactly.)
step eval-dev 90 "$bin" eval --model models --split eth --device "$dev" --json "$work/eval-dev.json"
step eval-cpu 90 "$bin" eval --model models --split eth --device cpu --json "$work/eval-cpu.json"

# 3. Prediction throughput, agents x 20 samples (scenes of 32 agents, 512 agents a pass).
for s in $sizes; do
  IFS=: read -r n reps warm <<<"$s"
  step "predict-dev-$n" 60 "$bin" bench --device "$dev" --agents "$n" --samples 20 \
    --reps "$reps" --warmup "$warm" --no-train --json
done
if [ $gpu = 1 ]; then
  step predict-dev-16384-devnoise 60 "$bin" bench --device "$dev" --agents 16384 --samples 20 \
    --reps 5 --warmup 2 --no-train --device-noise --json
  step predict-dev-16384-batch4096 60 "$bin" bench --device "$dev" --agents 16384 --samples 20 \
    --batch-agents 4096 --reps 5 --warmup 2 --no-train --device-noise --json
else
  skip predict-dev-16384 "dry run: too long for a small CPU"
  skip predict-dev-16384-devnoise "GPU only"
  skip predict-dev-16384-batch4096 "GPU only"
fi
for s in $cpu_sizes; do
  IFS=: read -r n reps warm <<<"$s"
  step "predict-cpu-$n" 60 "$bin" bench --device cpu --agents "$n" --samples 20 \
    --reps "$reps" --warmup "$warm" --no-train --json
done

# 4. Training steps, batch 256 (configs/eth.toml's batch_agents), noise and optimiser
#    included; the prediction part of these runs is one agent x one sample.
for parts in 1 2; do
  step "train-step-dev-parts$parts" 60 "$bin" bench --device "$dev" --agents 1 --samples 1 \
    --reps "$train_reps" --warmup 2 --batch 256 --parts "$parts" --json
done
cpu_parts="2 $(nproc)"
[ $gpu = 1 ] || cpu_parts=2
for parts in $cpu_parts; do
  step "train-step-cpu-parts$parts" 60 "$bin" bench --device cpu --agents 1 --samples 1 \
    --reps "$train_reps" --warmup 2 --batch 256 --parts "$parts" --json
done

# 5. One epoch of ETH training (all of the config but the epoch count), validation
#    included. LBEBM_GPU_CONFIG: another config than configs/eth.toml (one the binary knows).
config=${LBEBM_GPU_CONFIG:-configs/eth.toml}
step epoch-dev 150 "$bin" train --config "$config" --split eth --device "$dev" --epochs 1 \
  --out "$work/train-eth"
step epoch-cpu 150 "$bin" train --config "$config" --split eth --device cpu --epochs 1 \
  --out "$work/train-eth-cpu"

python3 benches/gpu/summarize.py "$work" "$out/summary.json" "$dev" "$bin" "$start"
rc=$?
echo "== $(($(date +%s) - start)) s; summary: $out/summary.json"
exit $rc
