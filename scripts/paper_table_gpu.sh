#!/usr/bin/env bash
# The paper's table with GPT-L, for a machine with one CUDA GPU (prepared for the fusion issue; NOT run in this
# repository's sessions, which had no GPU): hybrid-4m, gpt-s and gpt-l, 2,000 steps x 16 x 256 frames, bf16,
# seeds 0 and 1, on the large corpus. Budget it at roughly 10 minutes on an H200-class GPU; measure before trusting.
#   whisper-gpt make-corpus --size large --output data/whisper-gpt-corpus-large
#   bash scripts/paper_table_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
whisper-gpt experiment --dataset data/whisper-gpt-corpus-large --output-dir runs/paper-gpu \
  --presets hybrid-4m gpt-s gpt-l --seeds 0 1 --max-steps 2000 --batch-size 16 --window-frames 256 --min-frames 16 \
  --warmup-steps 100 --learning-rate 0.001 --log-every 50 --eval-every 250 --save-every 500 --report-to none \
  --mixed-precision bf16
