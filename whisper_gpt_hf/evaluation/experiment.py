"""The paper's experiment (arXiv 2412.11449, Tables 1-2): train the hybrid and the token-only baselines on the same
data, budget and seed, score them on the same test windows per category, and write the tables and plots.

    # the full run (scheduled on the large corpus; see README "Results")
    whisper-gpt experiment --dataset data/whisper-gpt-corpus-large --output-dir runs/paper \\
        --presets hybrid-4m gpt-s gpt-l --max-steps 20000 --batch-size 16 --window-frames 256 --seed 0
    # a smoke run (tiny models, a few clips and steps; well under a minute on a 2-core CPU)
    whisper-gpt experiment --dataset hub/whisper-gpt-corpus-small --output-dir /tmp/smoke --tiny

What it does, in order:
1. prepares the train / validation / test splits **once** (codes + causal mel slices, cut into windows) into
   `OUTPUT/prepared/`, the cache that every training run then reuses (`whisper_gpt_hf.training` keys it the same way);
2. trains each preset with `whisper_gpt_hf.training.train` into `OUTPUT/models/PRESET/`: the same prepared windows,
   the same seed (initialisation and data order), the same budget of `max_steps x batch_size x window_frames`
   frames and the same optimiser schedule; a preset whose folder already holds a finished run is not retrained, and
   one with checkpoints resumes;
3. scores every model on the same prepared test windows with `whisper_gpt_hf.evaluation` (positions 1..L-1 of each
   window, per category), and refuses to write a table if the models were scored on different codes;
4. writes `results.md` (the paper's layout: NLL / accuracy / PPL per category, the parameter count next to every
   model), `results.json` (everything, with the budget and the exact command), `loss_curves.png` (from each run's
   `metrics.jsonl`), `position_nll.png`, and each model's `eval_results.json` (read by `whisper-gpt publish`).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from whisper_gpt_hf.evaluation import (
    EvalResult,
    check_same_positions,
    evaluate_model,
    format_params,
    plot_position_nll,
    results_table,
)

logger = logging.getLogger(__name__)

PAPER_PRESETS = ("hybrid-4m", "gpt-s", "gpt-l")

# --tiny: each preset shrunk but kept in character (the hybrid keeps its two-branch input, the GPTs their tied head,
# gpt-l stays the larger token model), so the smoke run exercises the real code paths in seconds.
TINY_MODEL_OVERRIDES: dict[str, dict] = {
    "hybrid-4m": dict(token_embedding_size=16, spectrogram_hidden_size=8, spectrogram_num_layers=1,
                      spectrogram_num_heads=2, spectrogram_intermediate_size=16, hidden_size=16, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=64),
    "gpt-s": dict(token_embedding_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=64),
    "gpt-l": dict(token_embedding_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64),
}
# --tiny defaults for the run itself (any flag given explicitly wins).
TINY_RUN = dict(max_steps=6, batch_size=4, window_frames=32, min_frames=8, warmup_steps=2, max_clips=8, log_every=1,
                eval_every=0, report_to="none")
FULL_RUN = dict(max_steps=2000, batch_size=16, window_frames=256, min_frames=16, warmup_steps=100, max_clips=None,
                log_every=10, eval_every=500, report_to="tensorboard")


@dataclass
class ExperimentConfig:
    """Everything that defines a run; written to `results.json` so the table can be reproduced."""

    dataset: str
    output_dir: str
    presets: list[str] = field(default_factory=lambda: list(PAPER_PRESETS))
    max_steps: int = FULL_RUN["max_steps"]
    batch_size: int = FULL_RUN["batch_size"]
    window_frames: int = FULL_RUN["window_frames"]
    min_frames: int = FULL_RUN["min_frames"]
    learning_rate: float = 1e-3
    warmup_steps: int = FULL_RUN["warmup_steps"]
    seed: int = 0
    # Several seeds (initialisation and data order): every preset is trained once per seed into
    # OUTPUT/models/seed-S/PRESET and the table shows the mean and spread. None: the single `seed`, OUTPUT/models/PRESET.
    seeds: list[int] | None = None
    processor: str | None = None
    dataset_config: str | None = None
    audio_column: str = "audio"
    category_column: str = "category"
    id_column: str = "id"
    train_split: str = "train"
    eval_split: str | None = "validation"
    test_split: str = "test"
    max_clips: int | None = None  # per split, for quick runs: the first N clips
    model_overrides: dict[str, dict] = field(default_factory=dict)  # preset -> config overrides
    eval_batch_size: int = 8
    log_every: int = FULL_RUN["log_every"]
    eval_every: int = FULL_RUN["eval_every"]
    save_every: int = 0
    mixed_precision: str | None = None
    report_to: str = FULL_RUN["report_to"]
    data_cache_dir: str | None = None  # default OUTPUT/prepared
    features_from: str = "audio"  # or "reconstruction": mel slices of the codec's decode of each clip's codes
    prepared: str | None = None  # read the splits from a `whisper-gpt prepare` folder instead of preparing

    @property
    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds else [self.seed]

    @property
    def frames_per_model(self) -> int:
        """The training budget in frames: steps x batch x window (an upper bound: trailing windows are shorter)."""
        return self.max_steps * self.batch_size * self.window_frames


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class ExperimentArguments:
    """The flags of `whisper-gpt experiment` (an `HfArgumentParser` dataclass, like `whisper-gpt train`'s).

    The budget fields left at `None` take the full-run defaults (`FULL_RUN`) or, with `tiny`, the smoke-run ones
    (`TINY_RUN`); `to_config()` resolves them into the `ExperimentConfig` that the run records in `results.json`."""

    dataset: str = field(metadata=_help("Hub repo id, Hub-layout folder, audiofolder or save_to_disk folder"))
    output_dir: str = field(metadata=_help("the experiment's folder (prepared data, models, report)"))
    presets: list[str] = field(default_factory=lambda: list(PAPER_PRESETS),
                               metadata=_help("presets to train", choices=list(PAPER_PRESETS)))
    tiny: bool = field(default=False, metadata=_help(
        f"smoke run: tiny versions of the presets and small run defaults {TINY_RUN}"))
    max_steps: int | None = field(default=None, metadata=_help(
        f"optimizer steps per model (default {FULL_RUN['max_steps']} / --tiny {TINY_RUN['max_steps']})"))
    batch_size: int | None = field(default=None, metadata=_help(
        f"windows per step (default {FULL_RUN['batch_size']} / {TINY_RUN['batch_size']})"))
    window_frames: int | None = field(default=None, metadata=_help(
        f"frames per window (default {FULL_RUN['window_frames']} / {TINY_RUN['window_frames']})"))
    min_frames: int | None = field(default=None, metadata=_help(
        f"shortest clip / trailing window kept (default {FULL_RUN['min_frames']} / {TINY_RUN['min_frames']})"))
    warmup_steps: int | None = field(default=None, metadata=_help(
        f"default {FULL_RUN['warmup_steps']} / {TINY_RUN['warmup_steps']}"))
    max_clips: int | None = field(default=None, metadata=_help(
        f"only the first N clips per split (default {FULL_RUN['max_clips']} / {TINY_RUN['max_clips']})"))
    log_every: int | None = field(default=None, metadata=_help(
        f"default {FULL_RUN['log_every']} / {TINY_RUN['log_every']}"))
    eval_every: int | None = field(default=None, metadata=_help(
        f"validation loss every N steps (default {FULL_RUN['eval_every']} / {TINY_RUN['eval_every']})"))
    report_to: str | None = field(default=None, metadata=_help(
        f"default {FULL_RUN['report_to']} / {TINY_RUN['report_to']}", choices=["tensorboard", "none"]))
    learning_rate: float = field(default=1e-3, metadata=_help("peak learning rate"))
    seed: int = field(default=0, metadata=_help("initialisation and data order seed (the same for all)"))
    seeds: list[int] | None = field(default=None, metadata=_help(
        "train every preset once per seed (OUTPUT/models/seed-S/PRESET); the table shows the mean and spread"))
    save_every: int = field(default=0, metadata=_help("checkpoint every N steps (a rerun then resumes)"))
    mixed_precision: str | None = field(default=None, metadata=_help("", choices=["no", "fp16", "bf16"]))
    model_overrides: str | None = field(default=None, metadata=_help(
        'JSON config overrides: {"dropout": 0.0} for every preset or {"gpt-l": {...}} for one'))
    processor: str | None = field(default=None, metadata=_help("processor folder (default: the embedded one)"))
    dataset_config: str | None = field(default=None, metadata=_help("dataset configuration name"))
    audio_column: str = "audio"
    category_column: str = "category"
    train_split: str = "train"
    eval_split: str = field(default="validation", metadata=_help(
        "validation split for training curves ('' for none)"))
    test_split: str = "test"
    eval_batch_size: int = 8
    data_cache_dir: str | None = field(default=None, metadata=_help("prepared-data cache (default OUTPUT/prepared)"))
    prepared: str | None = field(default=None, metadata=_help(
        "read the splits from a `whisper-gpt prepare` folder (--dataset then only names the corpus)"))
    features_from: str = field(default="audio", metadata=_help(
        "mel slices of the audio, or of the codec's decode of each clip's own codes",
        choices=["audio", "reconstruction"]))
    threads: int | None = field(default=None, metadata=_help("torch CPU threads"))

    def to_config(self) -> ExperimentConfig:
        """The run's resolved configuration: budget defaults filled in, model overrides per preset."""
        run_defaults = TINY_RUN if self.tiny else FULL_RUN
        values = {k: (getattr(self, k) if getattr(self, k) is not None else run_defaults[k]) for k in FULL_RUN}
        extra = json.loads(self.model_overrides) if self.model_overrides else {}
        if not isinstance(extra, dict):
            raise ValueError(f"--model-overrides must be a JSON object, got {self.model_overrides!r}.")
        per_preset = {}
        for preset in self.presets:
            base = dict(TINY_MODEL_OVERRIDES.get(preset, {})) if self.tiny else {}
            # Either one object for every preset, or {"preset": {...}} per preset.
            specific = extra.get(preset) if isinstance(extra.get(preset), dict) else None
            shared = {k: v for k, v in extra.items() if k not in PAPER_PRESETS}
            per_preset[preset] = {**base, **shared, **(specific or {})}
        return ExperimentConfig(
            dataset=self.dataset, output_dir=self.output_dir, presets=list(self.presets),
            learning_rate=self.learning_rate, seed=self.seed, seeds=list(self.seeds) if self.seeds else None,
            processor=self.processor, dataset_config=self.dataset_config, audio_column=self.audio_column,
            category_column=self.category_column, train_split=self.train_split,
            eval_split=self.eval_split or None, test_split=self.test_split,
            model_overrides={k: v for k, v in per_preset.items() if v}, eval_batch_size=self.eval_batch_size,
            save_every=self.save_every, mixed_precision=self.mixed_precision, data_cache_dir=self.data_cache_dir,
            features_from=self.features_from, prepared=self.prepared, **values,
        )


def argument_parser(**kwargs):
    """The `HfArgumentParser` of `whisper-gpt experiment`."""
    from transformers import HfArgumentParser

    return HfArgumentParser((ExperimentArguments,), **kwargs)


def config_from_argv(argv: list[str]) -> ExperimentConfig:
    """`whisper-gpt experiment` flags (without the verb) -> the resolved `ExperimentConfig`."""
    (arguments,) = argument_parser().parse_args_into_dataclasses(argv)
    return arguments.to_config()


# ---------------------------------------------------------------------------------------------------- steps
def canonical_command(config: ExperimentConfig) -> str:
    """The command that reproduces `config` with every budget value spelled out (no reliance on --tiny defaults)."""
    defaults = ExperimentConfig(dataset="", output_dir="")
    argv = ["whisper-gpt", "experiment", "--dataset", config.dataset, "--output-dir", config.output_dir,
            "--presets", *config.presets]
    for key in ("max_steps", "batch_size", "window_frames", "min_frames", "warmup_steps", "learning_rate", "seed",
                "log_every", "eval_every", "report_to"):
        argv += ["--" + key.replace("_", "-"), str(getattr(config, key))]
    optional = ("max_clips", "processor", "dataset_config", "audio_column", "category_column", "train_split",
                "test_split", "eval_batch_size", "save_every", "mixed_precision", "data_cache_dir", "features_from",
                "prepared")
    for key in optional:
        value = getattr(config, key)
        if value is not None and value != getattr(defaults, key):
            argv += ["--" + key.replace("_", "-"), str(value)]
    if config.eval_split != defaults.eval_split:
        argv += ["--eval-split", config.eval_split or ""]
    if config.seeds:
        argv += ["--seeds", *map(str, config.seeds)]
    if config.model_overrides:
        argv += ["--model-overrides", json.dumps(config.model_overrides, separators=(",", ":"))]
    return shlex.join(argv)


def _first_clips(part, n: int, category_column: str):
    """The first `n` clips, taken in turn from each category when there is a category column, so a small subset
    still has every category (sorted corpora would otherwise give one)."""
    if category_column not in part.column_names:
        return part.select(range(min(n, len(part))))
    by_category: dict[str, list[int]] = {}
    for i, cat in enumerate(part[category_column]):
        by_category.setdefault(str(cat), []).append(i)
    chosen, queues = [], [list(reversed(v)) for _, v in sorted(by_category.items())]
    while len(chosen) < n and any(queues):
        for q in queues:
            if q and len(chosen) < n:
                chosen.append(q.pop())
    return part.select(sorted(chosen))


def subset_source(config: ExperimentConfig) -> str:
    """With `max_clips`, write the first N clips (balanced over categories) of each split to
    `OUTPUT/data-subset-N` (save_to_disk) and train on that; otherwise return the source as given."""
    if not config.max_clips:
        return config.dataset
    import datasets

    from whisper_gpt_hf.data import load_audio_dataset

    target = os.path.join(config.output_dir, f"data-subset-{config.max_clips}")
    if os.path.isdir(target):
        return target
    splits = {}
    for split in dict.fromkeys(s for s in (config.train_split, config.eval_split, config.test_split) if s):
        try:
            part = load_audio_dataset(config.dataset, split=split, audio_column=config.audio_column,
                                      config_name=config.dataset_config)
        except ValueError:
            if split in (config.train_split, config.test_split):
                raise
            continue  # no validation split: training runs without periodic evaluation
        # The stored (encoded) audio is copied as is; decoding happens once, in preparation.
        part = part.cast_column(config.audio_column, datasets.Audio(decode=False))
        splits[split] = _first_clips(part, config.max_clips, config.category_column)
    tmp = target + ".tmp"
    datasets.DatasetDict(splits).save_to_disk(tmp)
    os.replace(tmp, target)
    return target


def data_arguments(config: ExperimentConfig, source: str):
    from whisper_gpt_hf.training import DataArguments

    return DataArguments(
        dataset=source, dataset_config=config.dataset_config, audio_column=config.audio_column,
        category_column=config.category_column, id_column=config.id_column, train_split=config.train_split,
        eval_split=config.eval_split or "", window_frames=config.window_frames, min_frames=config.min_frames,
        data_cache_dir=config.data_cache_dir or os.path.join(config.output_dir, "prepared"),
        features_from=config.features_from, prepared=config.prepared,
    )


def prepare_splits(config: ExperimentConfig, data_args, processor) -> dict:
    """Prepare every split once, into the cache the training runs read (`training.prepare_split`, same keys)."""
    from whisper_gpt_hf.training import prepare_split

    prepared = {}
    for split in dict.fromkeys(s for s in (config.train_split, config.eval_split, config.test_split) if s):
        result = prepare_split(data_args, processor, split, progress=True)
        if result is None:
            continue
        prepared[split] = result
        logger.info("%s: %s", split, result[1].summary())
    if config.test_split not in prepared or len(prepared[config.test_split][0]) == 0:
        raise ValueError(f"No test windows in split {config.test_split!r} of {config.dataset}.")
    return prepared


def run_dir(config: ExperimentConfig, preset: str, seed: int) -> str:
    """`OUTPUT/models/PRESET` for a single-seed experiment, `OUTPUT/models/seed-S/PRESET` with `seeds`."""
    if config.seeds:
        return os.path.join(config.output_dir, "models", f"seed-{seed}", preset)
    return os.path.join(config.output_dir, "models", preset)


def run_name(config: ExperimentConfig, preset: str, seed: int) -> str:
    return f"{preset} seed {seed}" if config.seeds else preset


def train_preset(config: ExperimentConfig, preset: str, data_args, seed: int | None = None) -> tuple[str, bool]:
    """Train one preset with one seed into `run_dir(...)` (skip if finished, resume if checkpointed).
    Returns the folder and whether a finished run was reused."""
    from whisper_gpt_hf.training import ModelArguments, WhisperGPTTrainingArguments, train

    seed = config.seed if seed is None else seed
    out = run_dir(config, preset, seed)
    summary_path = os.path.join(out, "training_summary.json")
    if os.path.isfile(summary_path) and os.path.isfile(os.path.join(out, "config.json")):
        with open(summary_path) as f:
            if json.load(f).get("step") == config.max_steps:
                logger.info("%s already trained for %d steps in %s; reusing it.", preset, config.max_steps, out)
                return out, True
    overrides = config.model_overrides.get(preset) or {}
    model_args = ModelArguments(preset=preset, processor=config.processor,
                                model_overrides=json.dumps(overrides) if overrides else None)
    args = WhisperGPTTrainingArguments(
        output_dir=out, max_steps=config.max_steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps, seed=seed, log_every=config.log_every, eval_every=config.eval_every,
        save_every=config.save_every, mixed_precision=config.mixed_precision, report_to=config.report_to,
        resume=os.path.isdir(out),  # continue a cut-off run (from its newest checkpoint, else from scratch)
    )
    logger.info("Training %s for %d steps (seed %d) into %s", preset, config.max_steps, seed, out)
    train(model_args, data_args, args)
    return out, False


def read_metrics(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_loss_curves(runs: dict[str, str], path: str, num_parameters: dict[str, int]) -> str:
    """Training loss (solid) and validation loss (dashed, when logged) against the step, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, run_dir) in enumerate(runs.items()):
        metrics = read_metrics(run_dir)
        colour = f"C{i}"
        label = f"{name} ({format_params(num_parameters[name])})"
        train_pts = [(m["step"], m["train/loss"]) for m in metrics if "train/loss" in m]
        eval_pts = [(m["step"], m["eval/loss"]) for m in metrics if "eval/loss" in m]
        if train_pts:
            ax.plot(*zip(*train_pts), color=colour, label=f"{label} train")
        if eval_pts:
            ax.plot(*zip(*eval_pts), color=colour, linestyle="--", marker="o", markersize=3,
                    label=f"{label} validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL (nats per coarse token)")
    ax.set_title("Training curves (same data, budget and seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def paper_table(results: list[EvalResult], categories: list[str]) -> str:
    """Tables 1-2 layout: one row per category, one column per model (its parameter count in the header),
    each cell `NLL / top-1 accuracy / PPL`."""
    header = ["data"] + [f"{r.name} ({format_params(r.num_parameters)})" for r in results]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for cat in categories:
        cells = []
        for r in results:
            c = r.rows().get(cat)
            cells.append("n/a" if c is None else f"{c.nll:.3f} / {100 * c.accuracy:.2f} % / {c.ppl:.2f}")
        lines.append("| " + " | ".join([f"{cat} NLL / acc / PPL"] + cells) + " |")
    return "\n".join(lines)


def seed_table(results: list[EvalResult], config: ExperimentConfig, categories: list[str]) -> str:
    """The paper's layout over several seeds: per category and preset, NLL mean ± sample standard deviation over the
    seeds (and each seed's NLL), accuracy mean, PPL of the mean NLL; then the relative NLL difference of every other
    preset against gpt-s (else the first preset), per seed (same seed against same seed)."""
    by_preset: dict[str, list[EvalResult]] = {}
    for r in results:
        by_preset.setdefault(r.name.split(" seed ")[0], []).append(r)
    presets = list(by_preset)
    # The reference of the relative column: the token-only baseline when it was trained, else the first preset.
    ref = "gpt-s" if "gpt-s" in presets else presets[0]
    others = [p for p in presets if p != ref]
    header = ["data"] + [f"{p} ({format_params(by_preset[p][0].num_parameters)})" for p in presets]
    header += [f"{p} vs {ref}" for p in others]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for cat in categories:
        cells = []
        stats = {}
        for p in presets:
            nll = np.array([r.rows()[cat].nll for r in by_preset[p]])
            acc = np.array([r.rows()[cat].accuracy for r in by_preset[p]])
            sd = float(nll.std(ddof=1)) if len(nll) > 1 else 0.0
            stats[p] = nll
            seeds = ", ".join(f"{x:.3f}" for x in nll)
            cells.append(f"{nll.mean():.3f} ± {sd:.3f} ({seeds}) / {100 * acc.mean():.2f} % / {np.exp(nll.mean()):.2f}")
        for p in others:
            rel = 100 * (stats[p] / stats[ref] - 1)
            cells.append(f"{rel.mean():+.1f} % ({', '.join(f'{x:+.1f}' for x in rel)})")
        lines.append("| " + " | ".join([f"{cat} NLL / acc / PPL"] + cells) + " |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def write_report(config: ExperimentConfig, results: list[EvalResult], prepared: dict, runs: dict[str, str],
                 command: str, seconds: dict[str, float | None]) -> dict[str, str]:
    test_set, test_report = prepared[config.test_split]
    categories = sorted({c for r in results for c in r.per_category}) + ["all"]
    train_windows = len(prepared[config.train_split][0])
    seeds = ", ".join(map(str, config.seed_list))
    budget = (f"{config.max_steps} steps x {config.batch_size} windows x {config.window_frames} frames = "
              f"{config.frames_per_model:,} frames per model ({_duration(config.frames_per_model / 75)} of audio; "
              f"{train_windows} training windows), AdamW lr {config.learning_rate:g}, {config.warmup_steps} warmup "
              f"steps, cosine decay, seed{'s' if config.seeds else ''} {seeds}")
    scored = (f"{results[0].num_tokens:,} codes in {len(test_set)} windows of <= {config.window_frames} frames "
              f"(positions 1..L-1 of each window; " + ", ".join(
                  f"{k}: {v.num_tokens:,}" for k, v in results[0].per_category.items()) + ")")
    md = [
        f"# WHISPER-GPT experiment: {config.dataset}",
        "",
        "NLL in nats per coarse token, top-1 accuracy, PPL = exp(NLL), on the test split; lower NLL is better."
        + (" Over seeds: NLL mean ± standard deviation (each seed's NLL in brackets), mean accuracy, PPL of the mean"
           " NLL; the last column is the relative NLL difference per seed." if config.seeds else ""),
        "",
        seed_table(results, config, categories) if config.seeds else paper_table(results, categories),
        "",
        "Every model was scored on the same codes: " + scored + ".",
        "",
        "## All numbers",
        "",
        results_table(results),
        "",
        "## Setup",
        "",
        f"- Data: `{config.dataset}` (train `{config.train_split}`, test `{config.test_split}`"
        + (f", first {config.max_clips} clips per split" if config.max_clips else "") + ")",
        f"- Budget (identical for every model): {budget}",
        f"- Test preparation: {test_report.summary().splitlines()[0]}",
        "- Training time (this invocation): "
        + ", ".join(f"{k} {'reused' if v is None else _duration(v)}" for k, v in seconds.items()),
        "- Plots: `loss_curves.png`, `position_nll.png`",
        "",
        "Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    paths = {
        "markdown": os.path.join(config.output_dir, "results.md"),
        "json": os.path.join(config.output_dir, "results.json"),
        "loss_curves": os.path.join(config.output_dir, "loss_curves.png"),
        "position_nll": os.path.join(config.output_dir, "position_nll.png"),
    }
    with open(paths["markdown"], "w") as f:
        f.write("\n".join(md))
    payload = {
        "command": command,
        "config": asdict(config),
        "budget": {"max_steps": config.max_steps, "batch_size": config.batch_size,
                   "window_frames": config.window_frames, "frames_per_model": config.frames_per_model,
                   "train_windows": train_windows, "seed": config.seed, "seeds": config.seed_list},
        "dataset": config.dataset,
        "split": config.test_split,
        "window_frames": config.window_frames,
        "test_windows": len(test_set),
        "training_seconds": seconds,
        "results": [r.to_dict() for r in results],
        "training": {name: read_metrics(run) for name, run in runs.items()},
    }
    with open(paths["json"], "w") as f:
        json.dump(payload, f, indent=2)
    plot_loss_curves(runs, paths["loss_curves"], {r.name: r.num_parameters for r in results})
    plot_position_nll(results, paths["position_nll"], title=f"{config.dataset} [{config.test_split}]",
                      smooth=max(1, config.window_frames // 32))
    return paths


# ---------------------------------------------------------------------------------------------------- run
def run_experiment(config: ExperimentConfig, command: str | None = None) -> tuple[list[EvalResult], dict[str, str]]:
    """Prepare once, train every preset on the same budget, evaluate on the same test windows, write the report."""
    from whisper_gpt_hf.modeling import WhisperGPTForCausalLM
    from whisper_gpt_hf.training import ModelArguments, load_processor

    unknown = [p for p in config.presets if p not in TINY_MODEL_OVERRIDES]
    if unknown:
        raise ValueError(f"Unknown presets {unknown}; choose from {list(PAPER_PRESETS)}.")
    os.makedirs(config.output_dir, exist_ok=True)
    command = command or canonical_command(config)
    processor = load_processor(ModelArguments(processor=config.processor))
    source = subset_source(config)
    data_args = data_arguments(config, source)
    prepared = prepare_splits(config, data_args, processor)
    test_set = prepared[config.test_split][0]

    runs, seconds = {}, {}
    for seed in config.seed_list:
        for preset in config.presets:
            name = run_name(config, preset, seed)
            started = time.time()
            runs[name], reused = train_preset(config, preset, data_args, seed)
            seconds[name] = None if reused else time.time() - started

    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = []
    for name, folder in runs.items():
        model = WhisperGPTForCausalLM.from_pretrained(folder).to(device)
        result = evaluate_model(model, test_set, batch_size=config.eval_batch_size,
                                category_column=config.category_column, name=name, progress=True)
        results.append(result)
        with open(os.path.join(folder, "eval_results.json"), "w") as f:  # what `whisper-gpt publish` reads
            json.dump({"dataset": config.dataset, "split": config.test_split, "window_frames": config.window_frames,
                       "results": [result.to_dict()]}, f, indent=2)
        del model
    check_same_positions(results)  # the fair-baseline invariant, checked before anything is written
    paths = write_report(config, results, prepared, runs, command, seconds)
    return results, paths


# ---------------------------------------------------------------------------------------------------- CLI






__all__ = [
    "ExperimentArguments",
    "ExperimentConfig",
    "argument_parser",
    "config_from_argv",
    "PAPER_PRESETS",
    "TINY_MODEL_OVERRIDES",
    "canonical_command",
    "paper_table",
    "plot_loss_curves",
    "run_experiment",
]
