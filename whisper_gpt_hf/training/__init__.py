"""Training: the Accelerate loop for WHISPER-GPT models and the machinery every trainer here shares.

- `arguments`: the `HfArgumentParser` dataclasses of `whisper-gpt train` (model, data, training).
- `trainer`: the loop (`train`), model/data/optimizer set-up, periodic evaluation, the final save.
- `checkpointing`: crash-safe checkpoints (safetensors + JSON, written to `.tmp` and renamed, rotated) and resuming
  them with every random generator; used by the model and the codec trainers.
- `schedule`: the warmup + cosine learning-rate schedule (model and codec).
- `peft`: LoRA adapters (optional `peft` dependency).

    from whisper_gpt_hf.training import train, ModelArguments, DataArguments, WhisperGPTTrainingArguments
"""

from .arguments import ARGUMENT_CLASSES, DataArguments, ModelArguments, WhisperGPTTrainingArguments, argument_parser
from .checkpointing import TrainState, list_checkpoints, save_checkpoint
from .trainer import (
    OutputDirLock,
    build_accelerator,
    build_dataloaders,
    build_model,
    build_optimizer,
    build_scheduler,
    check_output_dir,
    evaluate_loss,
    load_data,
    load_processor,
    parameter_checksum,
    prepare_split,
    save_final,
    shutdown_distributed,
    train,
    train_batches,
    train_step,
)

__all__ = [
    "ARGUMENT_CLASSES",
    "DataArguments",
    "ModelArguments",
    "OutputDirLock",
    "TrainState",
    "WhisperGPTTrainingArguments",
    "argument_parser",
    "build_accelerator",
    "build_dataloaders",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "check_output_dir",
    "evaluate_loss",
    "list_checkpoints",
    "load_data",
    "load_processor",
    "parameter_checksum",
    "prepare_split",
    "save_checkpoint",
    "save_final",
    "shutdown_distributed",
    "train",
    "train_batches",
    "train_step",
]
