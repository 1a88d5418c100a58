"""The codec's and the default processor's model cards, rendered from `cards/codec.md` / `cards/processor.md`
(`publishing.card.render_card`), and the `codec-report` block of the codec card (kept across re-saves, replaced by
`codec-report --update-card`). A card is rendered from the codec's `training_summary.json` and its training
arguments (`arguments.load_arguments`: `training_args.json`, or the stored command of an older codec)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from whisper_gpt_hf.audio.codec.arguments import (
    MIN_LR_RATIO,
    CodecTrainingArguments,
    load_arguments,
)
from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE, UPSAMPLING_RATIOS
from whisper_gpt_hf.training.schedule import warmup_cosine

CARD_REPORT_BEGIN = "<!-- codec-report:begin -->"
CARD_REPORT_END = "<!-- codec-report:end -->"


def rewrite_card(codec_dir: str | os.PathLike, card_note: str | None = None) -> None:
    """Re-render a trained codec's model card from its `training_summary.json` and training arguments (keeps the
    report block)."""
    out = Path(codec_dir)
    meta = json.loads((out / "training_summary.json").read_text())
    if card_note is not None:
        meta["card_note"] = card_note
        (out / "training_summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    args = load_arguments(out, meta)
    args.card_note = meta.get("card_note")
    old = (out / "README.md").read_text() if (out / "README.md").exists() else ""
    (out / "README.md").write_text(model_card(meta, args, report_section(old)))


def report_section(card: str) -> str:
    """The codec-report block of an existing card (kept when the codec is re-saved), else a placeholder."""
    if CARD_REPORT_BEGIN in card and CARD_REPORT_END in card:
        return card[card.index(CARD_REPORT_BEGIN): card.index(CARD_REPORT_END) + len(CARD_REPORT_END)]
    return (f"{CARD_REPORT_BEGIN}\n_Not measured yet: run `whisper-gpt codec-report --codec DIR --dataset DIR "
            f"--update-card`._\n{CARD_REPORT_END}")


def update_card_report(codec_dir: str | os.PathLike, markdown: str) -> None:
    """Replace the report block of the codec's model card with `markdown` (used by `codec-report --update-card`)."""
    path = Path(codec_dir) / "README.md"
    card = path.read_text()
    block = f"{CARD_REPORT_BEGIN}\n{markdown.strip()}\n{CARD_REPORT_END}"
    old = report_section(card)
    path.write_text(card.replace(old, block) if old in card else card.rstrip() + "\n\n" + block + "\n")


def ladder_text(args) -> str:
    bandwidths = sorted(args.target_bandwidths)
    per_codebook = math.log2(args.codebook_size) * SAMPLING_RATE / math.prod(UPSAMPLING_RATIOS) / 1000
    return ", ".join(f"{b:g} kbps = {max(1, math.floor(b / per_codebook + 1e-9))} codebook"
                     f"{'s' if math.floor(b / per_codebook + 1e-9) > 1 else ''}" for b in bandwidths)


def init_text(args) -> str:
    if args.init_from:
        refit = " with every codebook refitted by k-means on its encoder outputs" if args.refit_codebooks else ""
        return f"the weights of the codec in `{args.init_from}` (the same architecture){refit}."
    return "weight-norm data-dependent init of the encoder convolutions (unit-spread encoder output)."


def coarse_text(args) -> str:
    if not args.coarse_dims:
        return ""
    return (f" The first codebook is kept to the leading {args.coarse_dims} of the {args.hidden_size} latent "
            "dimensions (zero on the others), so the trailing ones reach the decoder only through the residual "
            "codebooks: each bandwidth step adds detail.")


def model_card(meta: dict, args: CodecTrainingArguments, report: str) -> str:
    import transformers

    from whisper_gpt_hf.publishing.card import (
        render_card,  # imports the evaluation stack: only when rendering
    )

    dataset = Path(str(args.dataset)).name
    final = meta.get("final") or {}
    minutes = meta["train_seconds"] / 60
    stopped = ""
    if meta["step"] < args.max_steps:
        lr_left = warmup_cosine(args.warmup_steps, args.max_steps, MIN_LR_RATIO)(meta["step"])
        stopped = (f" The `--max-minutes` limit stopped it at step {meta['step']} of the {args.max_steps}-step "
                   f"schedule, with the learning rate still at {100 * lr_left:.0f} % of its peak.")
    note = f"\n\n{args.card_note.strip()}" if args.card_note else ""

    values = {
        "dataset": dataset,
        "millions_of_parameters": f"{meta['num_parameters'] / 1e6:.2f}",
        "train_minutes_rounded": f"{minutes:.0f}",
        "sampling_rate": SAMPLING_RATE,
        "num_filters": args.num_filters,
        "hidden_size": args.hidden_size,
        "codebook_size": args.codebook_size,
        "bandwidth_ladder": ladder_text(args),
        "num_parameters": f"{meta['num_parameters']:,}",
        "train_hours": f"{meta['train_hours']:.2f}",
        "segment_seconds": args.segment_seconds,
        "mel_weight": args.mel_weight,
        "stft_weight": args.stft_weight,
        "wave_weight": args.wave_weight,
        "corr_weight": args.corr_weight,
        "commit_weight": args.commit_weight,
        "init": init_text(args),
        "kmeans_seconds": args.kmeans_seconds,
        "kmeans_iters": args.kmeans_iters,
        "ema_decay": args.ema_decay,
        "dead_code_fraction": args.dead_code_fraction,
        "coarse_note": coarse_text(args),
        "lr": args.lr,
        "warmup_steps": args.warmup_steps,
        "batch_size": args.batch_size,
        "grad_clip": args.grad_clip,
        "steps": meta['step'],
        "train_minutes": f"{minutes:.1f}",
        "num_threads": args.num_threads or "default",
        "final_steps_averaged": meta.get("final_steps_averaged", 50),
        "final_loss": f"{final.get('loss', float('nan')):.3f}",
        "final_mel": f"{final.get('mel', float('nan')):.3f}",
        "final_wave": f"{final.get('wave', float('nan')):.4f}",
        "final_commit": f"{final.get('commit', float('nan')):.4f}",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "stopped": stopped,
        "card_note": note,
        "command": meta['command'],
        "report": report,
    }
    # str(): a flag left at None reads "None", as it always has, instead of failing the card
    return render_card("codec", {k: str(v) for k, v in values.items()},  # cards/codec.md
                       optional=("coarse_note", "stopped", "card_note"))


def processor_card(codec_name: str) -> str:
    from whisper_gpt_hf.publishing.card import render_card

    return render_card("processor", {"codec_name": codec_name})  # cards/processor.md


__all__ = [
    "CARD_REPORT_BEGIN",
    "CARD_REPORT_END",
    "coarse_text",
    "init_text",
    "ladder_text",
    "model_card",
    "processor_card",
    "report_section",
    "rewrite_card",
    "update_card_report",
]
