#!/usr/bin/env bash
# Fusion ablation (issue: the hybrid must win): four hybrid fusions and gpt-s, same data, order, budget and seed.
#   whisper-gpt make-corpus --size large --speech-minutes 30 --music-minutes 30 --seed 7 --output data/corpus-30min
#   bash scripts/fusion_ablation.sh [STEPS]      # one thread per run; results in runs/ablation/*/metrics.jsonl
# Then `python scripts/plot_ablation.py` draws docs/fusion-ablation/ (curves + table), validation NLL only.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-300}"
DATA="${DATA:-data/corpus-30min}"
OUT="${OUT:-runs/ablation}"
common=(--dataset "$DATA" --max-steps "$STEPS" --batch-size 16 --window-frames 256 --learning-rate 0.001
        --warmup-steps 30 --seed 0 --eval-every 50 --save-every 100 --log-every 10 --report-to none
        --data-cache-dir data/prepared)
run() {  # name preset overrides-json
  local name=$1 preset=$2 overrides=$3
  local resume=(); [ -d "$OUT/$name" ] && resume=(--resume)
  OMP_NUM_THREADS=1 whisper-gpt train "${common[@]}" --preset "$preset" --model-overrides "$overrides" \
    --output-dir "$OUT/$name" "${resume[@]}" > "$OUT/$name.log" 2>&1
}
mkdir -p "$OUT"
# Prepare the cache once (the first run), then the rest in parallel.
run gpt-s gpt-s '{}' &
first=$!
sleep "${PREPARE_WAIT:-90}"
run hybrid-none hybrid-4m '{"fusion_balance": "none"}' &
run hybrid-layernorm hybrid-4m '{"fusion_balance": "layernorm"}' &
run hybrid-scale-spectrogram hybrid-4m '{"fusion_balance": "scale_spectrogram"}' &
run hybrid-wide-codes hybrid-4m '{"fusion_balance": "layernorm", "token_embedding_size": 256, "tie_word_embeddings": true}' &
wait
