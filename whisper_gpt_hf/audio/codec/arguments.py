"""The `train-codec` configuration: one `HfArgumentParser` dataclass, `CodecTrainingArguments` (as
`whisper_gpt_hf.training.arguments` for `train`). Its field names are the flags (`--num-threads` and `--num_threads`
both parse); a trained codec keeps them as `training_args.json` (`save_arguments` / `load_arguments`), and
`command_line` spells them out as the `whisper-gpt train-codec` command the model card shows."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from whisper_gpt_hf.assets import CORPUS_SMALL

ARGUMENTS_FILE = "training_args.json"  # next to the trained codec: what `rewrite_card` re-renders the card from
MIN_LR_RATIO = 0.1  # not a flag: the cosine schedule (`training.schedule.warmup_cosine`) ends at 10 % of --lr


@dataclass
class CodecTrainingArguments:
    output_dir: str = field(metadata={"help": "where the trained codec is saved (save_pretrained)"})
    dataset: str = field(default=str(CORPUS_SMALL),
                         metadata={"help": "corpus folder or Hub repo id (train split is used)"})
    processor_output_dir: str | None = field(
        default=None, metadata={"help": "also save the default processor bundling the codec"})
    checkpoint_dir: str = field(default="runs/train-codec",
                                metadata={"help": "training checkpoints, safetensors + JSON (keep out of hub/)"})
    resume: bool = field(default=False, metadata={"help": "continue from the newest checkpoint in --checkpoint-dir"})
    max_steps: int = field(default=2000)
    max_minutes: float | None = field(default=None, metadata={"help": "also stop after this much wall time"})
    batch_size: int = field(default=16)
    segment_seconds: float = field(default=0.64)
    lr: float = field(default=1.5e-3)
    warmup_steps: int = field(default=30)
    seed: int = field(default=0)
    save_every: int = field(default=100, metadata={"help": "checkpoint every N steps (0: only at the end)"})
    num_filters: int = field(default=8)
    hidden_size: int = field(default=64, metadata={"help": "encoder output = codebook dimension"})
    codebook_size: int = field(default=1024)
    kmeans_seconds: float = field(default=240.0, metadata={"help": "audio for the k-means codebook init"})
    kmeans_iters: int = field(default=10)
    ema_decay: float = field(
        default=0.95,
        metadata={"help": "EnCodec uses 0.99 over 300k steps; a short run needs codebooks that keep up with the "
                          "encoder"})
    dead_code_fraction: float = field(
        default=0.2, metadata={"help": "restart codes whose EMA usage is below this fraction of the uniform share"})
    target_bandwidths: list[float] = field(
        default_factory=lambda: [0.75, 1.5, 3.0],
        metadata={"help": "kbps; 750 bit/s per 1024-code codebook: 0.75 1.5 3.0 = 1, 2, 4 codebooks (one drawn per "
                          "step)"})
    init_from: str | None = field(
        default=None,
        metadata={"help": "start from this trained codec's weights and codebooks (same architecture) instead of "
                          "scratch"})
    refit_codebooks: bool = field(
        default=False, metadata={"help": "with --init-from: refit every codebook by k-means on the loaded encoder's "
                                         "outputs"})
    coarse_dims: int | None = field(
        default=None,
        metadata={"help": "keep the first codebook to the leading N latent dimensions, so the rest reach the decoder "
                          "only through the residual codebooks (default: all, plain EnCodec)"})
    continuous_fraction: float = field(
        default=0.0,
        metadata={"help": "share of steps that decode the unquantized latent (codebooks still updated), so the "
                          "decoder learns to read the detail the finer codebooks carry"})
    mel_weight: float = field(default=1.0)
    stft_weight: float = field(default=0.5,
                               metadata={"help": "multi-scale STFT loss (spectral convergence + log)"})
    wave_weight: float = field(default=0.1)
    corr_weight: float = field(
        default=0.0, metadata={"help": "1 - cosine of decoded and input waveform (a bounded SI-SNR surrogate)"})
    commit_weight: float = field(
        default=0.1, metadata={"help": "higher weights collapsed the encoder onto a few codes in the first steps "
                                       "(measured)"})
    grad_clip: float = field(default=1.0)
    max_train_seconds: float | None = field(default=None,
                                            metadata={"help": "use at most this much training audio"})
    num_threads: int | None = field(
        default=None,
        metadata={"help": "torch CPU threads (1 on a busy 2-core machine: 2 threads ran ~6x slower per step, "
                          "measured)"})
    mixed_precision: Literal["no", "fp16", "bf16"] = field(default="no")
    save_dtype: Literal["float32", "float16"] = field(
        default="float32",
        metadata={"help": "precision of the saved weights file (float16 halves it; the config stays float32, so "
                          "the codec loads and runs in float32 from the rounded weights)"})
    cpu: bool = field(default=False, metadata={"help": "train on the CPU even if an accelerator is present"})
    card_note: str | None = field(default=None,
                                  metadata={"help": "a paragraph about the training data for the model card"})
    log_file: str | None = field(default=None, metadata={"help": "append JSON lines of losses here"})
    log_every: int = field(default=10)
    no_progress: bool = field(default=False)


# the flags `command_line` spells out, in this order (the run's outputs and logging are not part of the recipe)
COMMAND_FLAGS = ("dataset", "output_dir", "processor_output_dir", "checkpoint_dir", "max_steps", "max_minutes",
                 "batch_size", "segment_seconds", "lr", "warmup_steps", "seed", "save_every", "num_filters",
                 "hidden_size", "codebook_size", "kmeans_seconds", "kmeans_iters", "ema_decay", "dead_code_fraction",
                 "mel_weight", "stft_weight", "wave_weight", "corr_weight", "commit_weight", "grad_clip",
                 "max_train_seconds", "num_threads", "target_bandwidths", "init_from", "coarse_dims",
                 "continuous_fraction", "save_dtype")


def argument_parser(**kwargs):
    """The `HfArgumentParser` of `CodecTrainingArguments` (`kwargs` go to argparse, e.g. `add_help=False`)."""
    from transformers import HfArgumentParser

    return HfArgumentParser(CodecTrainingArguments, **kwargs)


def parse_arguments(argv: list[str]) -> CodecTrainingArguments:
    """`whisper-gpt train-codec` flags (without the verb) -> `CodecTrainingArguments`."""
    (args,) = argument_parser(prog="whisper-gpt train-codec").parse_args_into_dataclasses(list(argv))
    return args


def arguments_from_namespace(namespace: argparse.Namespace) -> CodecTrainingArguments:
    """The namespace of a parser built on `argument_parser` (the CLI's sub-parser) -> `CodecTrainingArguments`."""
    return CodecTrainingArguments(**{f.name: getattr(namespace, f.name) for f in fields(CodecTrainingArguments)})


def command_line(args: CodecTrainingArguments) -> str:
    """The `whisper-gpt train-codec` command that reproduces this run (every training flag spelled out)."""
    parts = ["whisper-gpt train-codec"]
    for name in COMMAND_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        if name == "save_dtype" and value == "float32":
            continue  # the default, left out so commands from before the flag existed read back unchanged
        if value is not None:
            parts.append(f"--{name.replace('_', '-')} {value}")
    if args.refit_codebooks:
        parts.append("--refit-codebooks")
    if args.resume:
        parts.append("--resume")
    return " \\\n    ".join(parts)


def parse_command_line(command: str) -> CodecTrainingArguments:
    """The arguments of a stored `command_line` string (codecs trained before `training_args.json` existed, such as
    the committed `hub/whisper-gpt-codec-small`, keep only that)."""
    words = shlex.split(command.replace("\\\n", " "))
    if words[:2] != ["whisper-gpt", "train-codec"]:
        raise ValueError(f"Not a `whisper-gpt train-codec` command: {command[:80]!r}")
    return parse_arguments(words[2:])


def save_arguments(args: CodecTrainingArguments, folder: str | os.PathLike) -> Path:
    """Write `training_args.json` (every field, by name) into `folder`."""
    path = Path(folder) / ARGUMENTS_FILE
    path.write_text(json.dumps(dataclasses.asdict(args), indent=2) + "\n")
    return path


def load_arguments(folder: str | os.PathLike, summary: dict | None = None) -> CodecTrainingArguments:
    """The arguments a codec folder was trained with: its `training_args.json`, else the command stored in its
    `training_summary.json` (`summary`, read from the folder when not given)."""
    path = Path(folder) / ARGUMENTS_FILE
    if path.is_file():
        known = {f.name for f in fields(CodecTrainingArguments)}
        values = json.loads(path.read_text())
        return CodecTrainingArguments(**{k: v for k, v in values.items() if k in known})
    if summary is None:
        summary = json.loads((Path(folder) / "training_summary.json").read_text())
    return parse_command_line(summary["command"])


__all__ = [
    "ARGUMENTS_FILE",
    "COMMAND_FLAGS",
    "MIN_LR_RATIO",
    "CodecTrainingArguments",
    "argument_parser",
    "arguments_from_namespace",
    "command_line",
    "load_arguments",
    "parse_arguments",
    "parse_command_line",
    "save_arguments",
]
