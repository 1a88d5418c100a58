"""The `train` verb's configuration: three `HfArgumentParser` dataclasses (model, data, training), filled from
flags and a JSON run config (`--config run.json`, keys = the field names; a flag set on the command line wins)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field, fields
from typing import Literal

CONFIG_HELP = "JSON run config (field names as keys, e.g. max_steps); flags set on the command line override it."




@dataclass
class ModelArguments:
    preset: str | None = field(
        default=None, metadata={"help": "Train from scratch: 'hybrid-4m', 'gpt-s' or 'gpt-l' (see PRESETS)."}
    )
    model: str | None = field(
        default=None, metadata={"help": "Fine-tune a pretrained WHISPER-GPT checkpoint (local folder or Hub repo id)."}
    )
    processor: str | None = field(
        default=None,
        metadata={"help": "Processor folder / repo id. Default: the --model's own processor, else the embedded one."},
    )
    model_overrides: str | None = field(
        default=None, metadata={"help": 'JSON object of config overrides, e.g. \'{"dropout": 0.0}\'.'}
    )
    lora_r: int = field(
        default=0,
        metadata={"help": "LoRA rank (needs `peft`): train only low-rank adapters, merged into the saved model. "
                          "0: full fine-tuning."},
    )
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator (update scaled by alpha / r)."})
    lora_target_modules: str | None = field(
        default=None,
        metadata={"help": "Comma-separated module names given LoRA adapters. Default: qkv_proj,out_proj,fc_in,fc_out "
                          "(peft_utils.DEFAULT_TARGET_MODULES)."},
    )



@dataclass
class DataArguments:
    dataset: str | None = field(
        default=None, metadata={"help": "Hub repo id, local Hub-layout folder, audiofolder or save_to_disk folder."}
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset configuration name."})
    audio_column: str = field(default="audio", metadata={"help": "Column holding the audio."})
    category_column: str = field(default="category", metadata={"help": "Optional column with a category label."})
    id_column: str = field(default="id", metadata={"help": "Optional column naming each clip (for the report)."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(
        default="validation", metadata={"help": "Split for periodic evaluation ('' to disable; skipped if missing)."}
    )
    streaming: bool = field(default=False, metadata={"help": "Stream the source while preparing it."})
    window_frames: int = field(default=256, metadata={"help": "Frames per training example (75 frames = 1 s)."})
    min_frames: int = field(default=16, metadata={"help": "Shortest clip / trailing window kept."})
    preprocessing_batch_size: int = field(default=8, metadata={"help": "Clips encoded together."})
    data_cache_dir: str | None = field(
        default=os.path.join("~", ".cache", "whisper-gpt", "prepared"),
        metadata={"help": "Where prepared data is cached and reused ('' to disable)."},
    )
    max_eval_examples: int | None = field(default=None, metadata={"help": "Evaluate on at most this many windows."})
    prepared: str | None = field(
        default=None, metadata={"help": "Read the splits from this `whisper-gpt prepare --output-dir` folder instead "
                                        "of preparing --dataset."}
    )
    features_from: Literal["audio", "reconstruction"] = field(
        default="audio", metadata={"help": "Mel slices of the audio, or of the codec's decode of each clip's own "
                                           "codes (what generation feeds the model); part of the cache key."}
    )
    feature_dtype: Literal["float16", "float32"] = field(
        default="float16", metadata={"help": "Storage of the prepared mel slices (float16: half the bytes, "
                                             "relative error <= 2^-11)."}
    )



@dataclass
class WhisperGPTTrainingArguments:
    output_dir: str | None = field(default=None, metadata={"help": "Checkpoints, logs and the final model."})
    max_steps: int = field(default=1000, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=16, metadata={"help": "Windows per device per micro-batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimizer step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate."})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "Cosine decay ends at this fraction of the peak."})
    warmup_steps: int = field(default=100, metadata={"help": "Linear warmup steps."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (matrices only)."})
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.95)
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping (0 disables)."})
    mixed_precision: Literal["no", "fp16", "bf16"] | None = field(
        default=None, metadata={"help": "no / fp16 (GPU) / bf16. Default: the accelerate launch config's, else no."}
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations to save memory."})
    eval_every: int = field(default=500, metadata={"help": "Evaluate every N steps (0: only at the end)."})
    save_every: int = field(default=500, metadata={"help": "Checkpoint every N steps (0: never)."})
    save_total_limit: int | None = field(default=3, metadata={"help": "Keep only the newest N checkpoints."})
    log_every: int = field(default=10, metadata={"help": "Log training loss and learning rate every N steps."})
    seed: int = field(default=42, metadata={"help": "Seed for initialisation and data order."})
    resume: bool = field(default=False, metadata={"help": "Continue from the newest checkpoint in --output-dir."})
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train into a non-empty --output-dir, removing its previous checkpoints, metrics and logs."},
    )
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    report_to: Literal["tensorboard", "none"] = field(default="tensorboard", metadata={"help": "Tracker."})



ARGUMENT_CLASSES = (ModelArguments, DataArguments, WhisperGPTTrainingArguments)



def argument_parser(**kwargs):
    from transformers import HfArgumentParser

    return HfArgumentParser(ARGUMENT_CLASSES, **kwargs)



def arguments_from_namespace(namespace: argparse.Namespace):
    """Parsed flags (+ the `--config` JSON file) -> the three argument dataclasses."""
    values, given = {}, {}
    for cls in ARGUMENT_CLASSES:
        for f in fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            value = getattr(namespace, f.name, default)
            values[f.name] = value
            if value != default:
                given[f.name] = value  # set on the command line
    config = getattr(namespace, "config", None)
    if config:
        with open(config) as fh:
            values = {**values, **json.load(fh), **given}
    return argument_parser().parse_dict(values)
