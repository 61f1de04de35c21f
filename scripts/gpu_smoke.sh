#!/usr/bin/env bash
# The hf/vLLM parity check on a CUDA machine, in one command, from a clone:
#   scripts/gpu_smoke.sh [task] [rows]
# Builds the project venv and the pipeline's models (make repro: bf16 CUDA training and
# scoring), then the vLLM venv (make vllm: the CUDA vllm wheel there), and scores the
# first rows of dev with both backends, vLLM serving the LoRA adapter through its LoRA
# support (--lora; on CPUs the script merges the adapter instead). Writes
# reports/gpu_parity_<task>.json: max/mean |delta p(yes)|, flips, AUC and pairs/s.
set -euo pipefail
cd "$(dirname "$0")/.."
task="${1:-qc}"
rows="${2:-200}"
nvidia-smi -L
make repro
make vllm
.venv-vllm/bin/python scripts/bench_vllm_parity.py --task "$task" --rows "$rows" --lora \
  --out "reports/gpu_parity_${task}.json"
cat "reports/gpu_parity_${task}.json"
