#!/usr/bin/env bash
# Builds the GPU binary gpu-build/lbebm (release, --features cuda, kernels for sm_90, stripped)
# on any Linux x86-64 machine, no GPU needed: see .ci/cuda-check. Then, on the GPU machine, from
# the repository root: benches/gpu/run.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .ci/cuda-check release
