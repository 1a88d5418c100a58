#!/usr/bin/env bash
# Re-train the two committed demo checkpoints on the committed small corpus (in parallel, one thread each), then copy
# them into hub/ with:  python scripts/export_demo_models.py
#   bash scripts/train_demo_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OV_H='{"hidden_size":128,"token_embedding_size":128,"num_attention_heads":4,"intermediate_size":512,"max_position_embeddings":512}'
OV_G='{"hidden_size":128,"token_embedding_size":128,"num_attention_heads":4,"intermediate_size":512,"max_position_embeddings":512}'
export OMP_NUM_THREADS=1  # small models: one thread is faster than two on a 2-core machine
COMMON=(--dataset hub/whisper-gpt-corpus-small --max-steps 700 --batch-size 8 --window-frames 256 --warmup-steps 50
        --eval-every 0 --save-every 0 --report-to none --seed 0)
# The two runs are independent: one per core.
python -m whisper_gpt_hf.cli train --preset hybrid-4m --model-overrides "$OV_H" --output-dir runs/demo-hybrid "${COMMON[@]}" "$@" &
python -m whisper_gpt_hf.cli train --preset gpt-s --model-overrides "$OV_G" --output-dir runs/demo-gpt "${COMMON[@]}" "$@" &
wait
