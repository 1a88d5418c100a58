#!/usr/bin/env bash
# The paper's experiment as run for the README (issue: the hybrid must win): large corpus, hybrid-4m vs gpt-s,
# 300 steps x 16 x 256 frames (round 1's budget, for a before/after), seeds 0 and 1, one thread per run.
#   whisper-gpt make-corpus --size large --output data/whisper-gpt-corpus-large
#   bash scripts/run_paper_experiment.sh PRESET SEED     # one run (runs in parallel share the prepared cache)
#   bash scripts/run_paper_experiment.sh                  # all runs done: evaluate all and write the table
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$ROOT/runs/paper-v2}"
PROCESSOR="${PROCESSOR:-$ROOT/hub/whisper-gpt-processor}"
STEPS="${STEPS:-300}"
args=(--dataset "$ROOT/data/whisper-gpt-corpus-large" --output-dir "$OUT" --max-steps "$STEPS" --batch-size 16
      --window-frames 256 --min-frames 16 --warmup-steps 30 --learning-rate 0.001 --log-every 10 --eval-every 50
      --report-to none --save-every 50 --threads 1 --processor "$PROCESSOR")
if [ $# -ge 2 ]; then
  whisper-gpt experiment "${args[@]}" --presets "$1" --seeds "$2"
else
  whisper-gpt experiment "${args[@]}" --presets hybrid-4m gpt-s --seeds 0 1
fi
