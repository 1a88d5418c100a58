"""Draw the fusion ablation (scripts/fusion_ablation.sh) from its runs' metrics.jsonl: validation NLL per step.

    python scripts/plot_ablation.py [--runs runs/ablation] [--output docs/fusion-ablation]

Writes `curves.png` and `results.md` (validation NLL at every evaluated step, the relative difference against gpt-s,
parameter counts). Only the validation split is read: the choice is made on it, never on the test split.
"""

from __future__ import annotations

import argparse
import json
import os

# variant -> what it is (the order of the table)
VARIANTS = {
    "gpt-s": "token-only baseline (tied 256-dim embedding)",
    "hybrid-none": "first build: 32-dim code embedding (std 0.02) + 32-dim branch (unit RMS), `fusion_balance=\"none\"`",
    "hybrid-layernorm": "LayerNorm on the 32-dim code embedding: both streams at unit RMS, `\"layernorm\"`",
    "hybrid-scale-spectrogram": "branch output gain starts at 0.02: both streams at the embedding's scale, "
                                "`\"scale_spectrogram\"`",
    "hybrid-wide-codes": "256-dim code embedding tied to the head (gpt-s's) + LayerNorm, 32-dim branch, "
                         "`token_embedding_size=256, tie_word_embeddings=True`",
}


def read(run: str) -> tuple[list[tuple[int, float]], int | None]:
    points = []
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if "eval/loss" in m:
                points.append((int(m["step"]), float(m["eval/loss"])))
    params = None
    summary = os.path.join(run, "training_summary.json")
    if os.path.isfile(summary):
        with open(summary) as f:
            params = json.load(f).get("num_parameters")
    if params is None:
        from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM

        with open(os.path.join(run, "run_config.json")) as f:
            rc = json.load(f)
        preset = rc.get("preset") or rc.get("model_args", {}).get("preset")
        overrides = rc.get("model_overrides") or rc.get("model_args", {}).get("model_overrides")
        overrides = json.loads(overrides) if isinstance(overrides, str) and overrides else (overrides or {})
        if preset:
            params = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset(preset, **overrides)).num_parameters()
    return sorted(dict(points).items()), params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/ablation")
    ap.add_argument("--output", default="docs/fusion-ablation")
    args = ap.parse_args()
    curves = {}
    for name in VARIANTS:
        run = os.path.join(args.runs, name)
        if os.path.isfile(os.path.join(run, "metrics.jsonl")):
            curves[name] = read(run)
    os.makedirs(args.output, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (points, params) in curves.items():
        if points:
            label = f"{name} ({params / 1e6:.2f}M)" if params else name
            ax.plot(*zip(*points), marker="o", markersize=3, label=label, linestyle="--" if name == "gpt-s" else "-")
    ax.set_xlabel("optimizer step (16 x 256 frames)")
    ax.set_ylabel("validation NLL (nats per coarse code)")
    ax.set_title("Fusion ablation: same data, order, budget, seed")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "curves.png"), dpi=120)
    plt.close(fig)

    steps = sorted({s for points, _ in curves.values() for s, _ in points})
    base = dict(curves.get("gpt-s", ([], None))[0])
    lines = ["| variant | params | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for name, (points, params) in curves.items():
        values = dict(points)
        cells = []
        for s in steps:
            if s not in values:
                cells.append("–")
            elif name != "gpt-s" and s in base:
                cells.append(f"{values[s]:.3f} ({100 * (values[s] / base[s] - 1):+.1f} %)")
            else:
                cells.append(f"{values[s]:.3f}")
        lines.append(f"| {name} | {params / 1e6:.2f}M | " + " | ".join(cells) + " |" if params else
                     f"| {name} | ? | " + " | ".join(cells) + " |")
    legend = "\n".join(f"- `{k}`: {v}" for k, v in VARIANTS.items() if k in curves)
    with open(os.path.join(args.output, "results.md"), "w") as f:
        f.write("# Fusion ablation (validation NLL, nats per coarse code; in brackets: vs gpt-s at the same step)\n\n"
                + "\n".join(lines) + "\n\n" + legend + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
