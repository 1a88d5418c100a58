#!/usr/bin/env bash
# The issue's outside check, reproduced (the hybrid must win on audio it has not seen):
# train hybrid-4m and gpt-s with exactly the checked flags on a corpus of an unseen seed, then score both with
# `evaluate --model H --compare G --json` on that corpus's test split and on a corpus that differs in kind
# (`make-corpus --held-out`: other voices, languages, instruments, composition styles).
#   whisper-gpt make-corpus --size large --speech-minutes 30 --music-minutes 30 --seed 23 --output data/corpus-30min-seed23
#   whisper-gpt make-corpus --held-out --size small --speech-minutes 6 --music-minutes 6 --seed 1001 --output data/heldout-kind
#   bash scripts/outside_check.sh            # PROCESSOR=... to pin a processor; OUT=runs/outside-check
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${DATA:-$ROOT/data/corpus-30min-seed23}"
OUT="${OUT:-$ROOT/runs/outside-check}"
proc=(); [ -n "${PROCESSOR:-}" ] && proc=(--processor "$PROCESSOR")
mkdir -p "$OUT"
for preset in hybrid-4m gpt-s; do
  [ -f "$OUT/$preset/training_summary.json" ] && continue
  resume=(); [ -d "$OUT/$preset" ] && resume=(--resume)
  OMP_NUM_THREADS=1 whisper-gpt train --dataset "$DATA" --preset "$preset" --max-steps 350 --batch-size 16 \
    --window-frames 256 --learning-rate 0.001 --warmup-steps 30 --seed 0 --save-every 50 --eval-every 0 \
    --report-to none --output-dir "$OUT/$preset" "${proc[@]}" "${resume[@]}" > "$OUT/$preset.log" 2>&1 &
done
wait
for name in seed-test:"$DATA" heldout-kind:"$ROOT/data/heldout-kind"; do
  OMP_NUM_THREADS=1 whisper-gpt evaluate --model "$OUT/hybrid-4m" --compare "$OUT/gpt-s" --dataset "${name#*:}" \
    --split test --json "${proc[@]}" > "$OUT/eval-${name%%:*}.json"
done
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for name in ("seed-test", "heldout-kind"):
    r = json.load(open(f"{out}/eval-{name}.json"))["results"]
    h, g = r[0], r[1]
    cells = [f"all {h['nll']:.3f} vs {g['nll']:.3f} ({100 * (h['nll'] / g['nll'] - 1):+.1f} %)"]
    for c in sorted(h["per_category"]):
        a, b = h["per_category"][c]["nll"], g["per_category"][c]["nll"]
        cells.append(f"{c} {a:.3f} vs {b:.3f} ({100 * (a / b - 1):+.1f} %)")
    print(f"{name}: hybrid vs gpt-s: " + "; ".join(cells))
PY
