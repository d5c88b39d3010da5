#!/usr/bin/env bash
# The stage benchmark on a GPU machine, as is: `bench/runner/gpu.sh` from a checkout with npm
# dependencies installed (bin/setup cli). Fetches onnxruntime-node's CUDA 12 provider libraries when
# they are missing (as infra/Dockerfile does at build time), then runs bench/runner/stages.ts on the
# CUDA provider, writing bench/runner/stages-cuda.json and STAGES-CUDA.md beside the CPU results.
# Needs an NVIDIA driver, CUDA 12 and cuDNN 9 (the runtime of infra/Dockerfile's image).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=bin/env.sh
source bin/env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if ! ls node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime_providers_cuda.so >/dev/null 2>&1; then
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --foreground-scripts
fi
OFTSR_STAGES_PROVIDER=cuda OFTSR_STAGES_OUT=stages-cuda exec node bench/runner/stages.ts "$@"
