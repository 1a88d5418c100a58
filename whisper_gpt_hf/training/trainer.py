"""Train WHISPER-GPT with Accelerate: from a preset (from scratch) or a pretrained checkpoint (fine-tuning).

    # one process (CPU or one GPU)
    whisper-gpt train --dataset hub/whisper-gpt-corpus-small --preset hybrid-4m --max-steps 2000 --output-dir runs/h4m
    # any number of processes / GPUs / nodes, through Accelerate's launcher (configs in configs/accelerate/)
    accelerate launch --config_file configs/accelerate/ddp.yaml -m whisper_gpt_hf.cli train --config run.json
    accelerate launch --config_file configs/accelerate/cpu_2proc.yaml -m whisper_gpt_hf.cli train ...  # 2 CPU procs
    # continue after a crash or kill: same command plus --resume
    whisper-gpt train ... --output-dir runs/h4m --resume
    # LoRA fine-tuning (needs peft): only the adapters train; the saved model has them merged in
    whisper-gpt train --dataset ... --model runs/h4m --lora-r 8 --lora-alpha 16 --output-dir runs/h4m-lora

Flags and a JSON run config (`--config run.json`, keys = the flag names with underscores) fill the same dataclasses
(`HfArgumentParser`); a flag set to something other than its default wins over the JSON file.

The loop is nanoGPT's, with Accelerate for devices, precision and processes: AdamW (weight decay on matrices only),
linear warmup then cosine decay to `min_lr_ratio * learning_rate`, gradient accumulation and clipping. Checkpoints
(`checkpointing.py`: safetensors + JSON, never pickles, so resuming cannot run code from the folder) are written to
`checkpoint-N.tmp` and renamed to `checkpoint-N` when complete, so a kill at any moment leaves only whole checkpoints;
`--resume` loads the newest one, every random generator included: a resumed run ends with the weights of an
uninterrupted one, with dropout too. The data order is a function of the seed and the step count alone (epoch `e` is
the permutation seeded by `seed + e`; the first batches of the resumed epoch are skipped), so a resumed run sees
exactly the batches the uninterrupted run would have seen. Resuming with a different number of processes or batch
size continues the step count and schedule but not the exact order.

`--output-dir` must be new or empty unless `--resume` (continue its checkpoints) or `--overwrite-output-dir` (remove
the previous run's checkpoints, metrics and logs first); a lock file (`.train.lock`) refuses a second run into the
same folder while one is going. Outputs in `--output-dir`: the final model (`save_pretrained`) and processor,
`checkpoint-N/` folders, TensorBoard logs in `logs/`, `metrics.jsonl` (one line per logged step),
`preparation_report-<split>.json`, `run_config.json` and `training_summary.json` (final step, eval numbers, and a
parameter checksum per rank: replicas must agree).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict
from typing import Any

import torch

from whisper_gpt_hf.data.collation import EpochShuffleSampler
from whisper_gpt_hf.evaluation.scoring import score_batch
from .arguments import DataArguments, ModelArguments, WhisperGPTTrainingArguments
from whisper_gpt_hf.training.checkpointing import CHECKPOINT_PATTERN, FINAL_TMP, TrainState, list_checkpoints, remove_unfinished, save_checkpoint
from .schedule import warmup_cosine_scheduler

logger = logging.getLogger(__name__)


def shutdown_distributed() -> None:
    """Tear the process group down before interpreter exit: left to the exit-time destructors, gloo can deadlock
    (its worker thread waits for the GIL while the exiting main thread waits for the worker)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # releases the GIL while gloo's threads finish the works still in flight
        torch.distributed.destroy_process_group()




# ---------------------------------------------------------------------------------------------------- setup
def build_accelerator(args: WhisperGPTTrainingArguments):
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, GradientAccumulationPlugin, ProjectConfiguration, get_int_from_env

    if args.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ValueError("--mixed-precision fp16 needs a CUDA GPU; on CPU use bf16 or no.")
    if args.mixed_precision == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ValueError("This GPU has no bf16 support; use --mixed-precision fp16 or no.")
    world_size = get_int_from_env(["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)
    accelerator = Accelerator(
        # Launched as several processes (torchrun / `accelerate launch --multi_gpu`) on a machine without a GPU:
        # run data-parallel on CPU over gloo, instead of N independent single-process runs.
        cpu=world_size > 1 and not torch.cuda.is_available(),
        mixed_precision=args.mixed_precision,
        # Steps happen every N micro-batches, never early at an epoch end: the step -> data position map stays exact.
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=args.gradient_accumulation_steps, sync_with_dataloader=False
        ),
        log_with="tensorboard" if args.report_to == "tensorboard" else None,
        project_config=ProjectConfiguration(project_dir=args.output_dir,
                                            logging_dir=os.path.join(args.output_dir, "logs")),
    )
    if accelerator.num_processes != world_size:
        raise RuntimeError(f"Launched as {world_size} processes but Accelerate set up {accelerator.num_processes}.")
    if world_size == 1 and os.environ.get("MASTER_ADDR") and os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true":
        logger.warning("`accelerate launch --cpu --num_processes N` starts one process unless mpirun is configured; "
                       "for N CPU processes use `accelerate launch --config_file configs/accelerate/cpu_2proc.yaml`.")
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and accelerator.distributed_type != DistributedType.FSDP:
        # accelerate 1.15 (state.py) turns only accelerator process types (MULTI_GPU, ...) into FSDP: CPU processes
        # stay MULTI_CPU, i.e. plain data parallel. Refuse rather than silently train without sharding.
        raise RuntimeError(f"The launch config asks for FSDP, but Accelerate set up {accelerator.distributed_type}: it "
                           "runs FSDP on GPUs / accelerators only, never on CPU processes. On CPU launch with "
                           "configs/accelerate/cpu_2proc.yaml (data parallel); use fsdp.yaml on GPUs.")
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # DeepSpeed clips inside its engine (accelerator.clip_grad_norm_ only reports the norm): hand it our value.
        accelerator.state.deepspeed_plugin.deepspeed_config["gradient_clipping"] = args.max_grad_norm
    return accelerator


def load_processor(model_args: ModelArguments):
    """`--processor`, else the `--model`'s own (local or Hub), else the embedded default (`loading.choose_processor`);
    which one is logged. A model's own processor that fails to load is an error, never a silent fallback."""
    from whisper_gpt_hf.loading import choose_processor

    processor, source = choose_processor(model_args.model, model_args.processor)
    logger.info("Processor: %s", source)
    return processor


def build_model(model_args: ModelArguments, processor, window_frames: int):
    """A fresh model from `--preset` sized to the processor's codec and mel bins, or a pretrained `--model`."""
    from whisper_gpt_hf.modeling import PRESETS, WhisperGPTConfig, WhisperGPTForCausalLM

    try:
        overrides = json.loads(model_args.model_overrides) if model_args.model_overrides else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-overrides is not valid JSON ({err}): pass an object such as "
                         "'{\"dropout\": 0.0}' (double quotes inside single quotes in a shell).") from err
    if not isinstance(overrides, dict):
        raise ValueError(f"--model-overrides must be a JSON object, got {model_args.model_overrides!r}.")
    codec, fe = processor.audio_tokenizer, processor.feature_extractor
    if bool(model_args.model) == bool(model_args.preset):
        raise ValueError("Pass exactly one of --preset (train from scratch) or --model (fine-tune a checkpoint).")
    if model_args.model:
        from whisper_gpt_hf.loading import load_model

        model = load_model(model_args.model, **overrides).train()  # strict: no missing, unexpected or NaN weights
    else:
        if model_args.preset not in PRESETS:
            raise ValueError(f"Unknown --preset {model_args.preset!r}; choose one of {sorted(PRESETS)}.")
        sizes = dict(vocab_size=codec.config.codebook_size, n_mels=fe.feature_size,
                     codec_sampling_rate=fe.sampling_rate, codec_hop_length=fe.hop_length)
        model = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset(model_args.preset, **{**sizes, **overrides}))
    config = model.config
    if config.vocab_size < codec.config.codebook_size:
        raise ValueError(f"The model's vocab_size ({config.vocab_size}) is smaller than the codec's codebook "
                         f"({codec.config.codebook_size}): the processor does not belong to this model.")
    if config.use_spectrogram and config.n_mels != fe.feature_size:
        raise ValueError(f"The model reads {config.n_mels} mel bins but the processor makes {fe.feature_size}.")
    if window_frames > config.max_position_embeddings:
        raise ValueError(f"--window-frames {window_frames} exceeds the model's context of "
                         f"{config.max_position_embeddings} frames; lower it.")
    return model


def wrap_lora(model, model_args: ModelArguments):
    """`model` wrapped in LoRA adapters (`peft_utils.apply_lora`) when `--lora-r` > 0, else unchanged."""
    if model_args.lora_r <= 0:
        return model
    from whisper_gpt_hf.training.peft import apply_lora

    targets = None
    if model_args.lora_target_modules:
        targets = [name.strip() for name in model_args.lora_target_modules.split(",") if name.strip()]
    return apply_lora(model, r=model_args.lora_r, alpha=model_args.lora_alpha, target_modules=targets or None)


def load_data(data_args: DataArguments, processor, accelerator, output_dir: str, num_codebooks: int = 1):
    """Prepare (or reuse from the cache, or read from `--prepared`) the train and eval splits; with a cache the
    processes share the encoding, shard by shard, and the main process merges the shards."""
    splits = {"train": data_args.train_split}
    if data_args.eval_split:
        splits["eval"] = data_args.eval_split
    codec = processor.audio_tokenizer
    codec.to(accelerator.device)  # encode on the GPU when there is one
    prepared = {}
    try:
        # With a cache every process encodes its own shards (data.prepare_dataset); without, each prepares alone.
        layout = (dict(process_index=accelerator.process_index, num_processes=accelerator.num_processes)
                  if data_args.data_cache_dir else {})
        for role, split in splits.items():
            prepared[role] = prepare_split(data_args, processor, split, accelerator.is_local_main_process, **layout,
                                           num_codebooks=num_codebooks)
    finally:
        codec.to("cpu")
    datasets_, reports = {}, {}
    for role, result in prepared.items():
        if result is None:
            continue
        datasets_[role], reports[role] = result
        if accelerator.is_main_process:
            reports[role].save(os.path.join(output_dir, f"preparation_report-{splits[role]}.json"))
            logger.info("Split %r: %s", splits[role], reports[role].summary())
    if len(datasets_["train"]) == 0:
        raise ValueError(f"No training examples in split {data_args.train_split!r}:\n{reports['train'].summary()}")
    eval_dataset = datasets_.get("eval")
    if eval_dataset is not None and data_args.max_eval_examples:
        eval_dataset = eval_dataset.select(range(min(len(eval_dataset), data_args.max_eval_examples)))
    return datasets_["train"], eval_dataset, reports


def prepare_split(data_args: DataArguments, processor, split: str, progress: bool, process_index: int = 0,
                  num_processes: int = 1, num_codebooks: int = 1):
    """One split through `load_audio_dataset` + `prepare_dataset` with the training cache key (or read from
    `--prepared`); `None` if an evaluation split does not exist."""
    from whisper_gpt_hf.data import load_audio_dataset, load_prepared_split, prepare_dataset, source_cache_key

    if data_args.prepared:
        try:
            return load_prepared_split(data_args.prepared, split, processor, data_args.features_from,
                                       data_args.window_frames)
        except FileNotFoundError as error:
            if split == data_args.train_split:
                raise
            logger.warning("%s; training without periodic evaluation.", error)
            return None
    try:
        raw = load_audio_dataset(data_args.dataset, split=split, audio_column=data_args.audio_column,
                                 config_name=data_args.dataset_config, streaming=data_args.streaming,
                                 sampling_rate=processor.sampling_rate)
    except ValueError as error:
        if split == data_args.train_split or "split" not in str(error).lower():
            raise
        logger.warning("No %r split in %s (%s); training without periodic evaluation.", split, data_args.dataset, error)
        return None
    cache_dir = os.path.expanduser(data_args.data_cache_dir) if data_args.data_cache_dir else None
    return prepare_dataset(
        raw, processor, audio_column=data_args.audio_column, window_frames=data_args.window_frames,
        min_frames=data_args.min_frames, batch_size=data_args.preprocessing_batch_size,
        category_column=data_args.category_column, desc=split, id_column=data_args.id_column, cache_dir=cache_dir,
        cache_key=source_cache_key(data_args.dataset, data_args.dataset_config, split), progress=progress,
        feature_dtype=data_args.feature_dtype, features_from=data_args.features_from, process_index=process_index,
        num_processes=num_processes, num_codebooks=num_codebooks,
    )






def build_dataloaders(train_dataset, eval_dataset, args: WhisperGPTTrainingArguments, use_spectrogram: bool = True):
    """Training batches in the epoch-seeded order (full batches only), evaluation batches in stored order."""
    from torch.utils.data import DataLoader

    from whisper_gpt_hf.data import WhisperGPTDataCollator

    # A token-only model never reads the mel slices: do not load, collate and move them.
    columns = ["input_ids", "input_features"] if use_spectrogram else ["input_ids"]
    if "fine_input_ids" in (train_dataset.column_names or []):  # prepared for a num_codebooks > 1 model
        columns.append("fine_input_ids")
    collator = WhisperGPTDataCollator(return_metadata=False)
    sampler = EpochShuffleSampler(len(train_dataset), args.seed)
    # Each loader draws its worker base seed from its own generator, not the global one that dropout uses: a resumed
    # run creates one more iterator (mid-epoch) than the uninterrupted run, which would otherwise shift dropout.
    train_dl = DataLoader(train_dataset.with_format("torch", columns=columns), batch_size=args.batch_size,
                          sampler=sampler, collate_fn=collator, drop_last=True, num_workers=args.num_workers,
                          generator=torch.Generator().manual_seed(args.seed))
    eval_dl = None
    if eval_dataset is not None and len(eval_dataset):
        eval_dl = DataLoader(eval_dataset.with_format("torch", columns=columns), batch_size=args.batch_size,
                             collate_fn=collator, num_workers=args.num_workers,
                             generator=torch.Generator().manual_seed(args.seed))
    return train_dl, eval_dl, sampler


def build_optimizer(model, args: WhisperGPTTrainingArguments) -> torch.optim.Optimizer:
    # As nanoGPT: decay matrices (linear and embedding weights), not biases and LayerNorm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2))


def build_scheduler(optimizer, args: WhisperGPTTrainingArguments):
    """Linear warmup to the peak, then cosine decay to `min_lr_ratio` of it at `max_steps` (a step = an update)."""
    return warmup_cosine_scheduler(optimizer, args.warmup_steps, args.max_steps, args.min_lr_ratio)




# ---------------------------------------------------------------------------------------------------- loop parts
def train_batches(dataloader, sampler, accelerator, start_micro_step: int):
    """Micro-batches forever from `start_micro_step` on: epoch by epoch, skipping what a resumed run already saw."""
    per_epoch = len(dataloader)
    epoch, skip = divmod(start_micro_step, per_epoch)
    while True:
        sampler.use_epoch(epoch)
        for batch in accelerator.skip_first_batches(dataloader, skip) if skip else dataloader:
            yield batch
        epoch, skip = epoch + 1, 0


def train_step(model, batch, optimizer, scheduler, accelerator, max_grad_norm: float):
    """One micro-batch; the optimizer and schedule advance when `accelerator.sync_gradients` (every N micro-batches).
    Returns the loss, the gradient norm before clipping (on update micro-batches) and the learning rate used."""
    lr = optimizer.param_groups[0]["lr"]
    with accelerator.accumulate(model):
        loss = model(**batch).loss
        accelerator.backward(loss)
        grad_norm = None
        if accelerator.sync_gradients and max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        # The schedule is ours, not accelerate-prepared (which steps it once per process): one step per update.
        if accelerator.sync_gradients and not accelerator.optimizer_step_was_skipped:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return loss.detach(), grad_norm, lr


@torch.no_grad()
def evaluate_loss(model, dataloader, accelerator) -> dict[str, float]:
    """Mean next-code NLL (nats per predicted coarse code) over the eval split, scored by the evaluation module's
    `score_batch` (the code `whisper-gpt evaluate` reports with), as a sum over codes divided by their count;
    duplicates that even out the last batch across processes are dropped."""
    model.eval()
    config = accelerator.unwrap_model(model).config
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for batch in dataloader:
        nll, _correct, scored = score_batch(model, batch, accelerator.device, config=config)
        per_example = torch.stack([nll.double().sum(-1), scored.double().sum(-1)], dim=-1)
        totals += accelerator.gather_for_metrics(per_example).sum(0)
    model.train()
    loss = (totals[0] / totals[1].clamp(min=1)).item()
    return {"eval/loss": loss, "eval/ppl": math.exp(min(loss, 50.0)), "eval/tokens": int(totals[1].item())}








def _end_partial_line(path: str) -> None:
    """A kill can cut the last line of `metrics.jsonl` short; end it so the resumed run's lines stay parseable."""
    if os.path.isfile(path) and os.path.getsize(path):
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def parameter_checksum(model) -> float:
    """A float64 fingerprint of all parameters (equal on every rank when replicas agree)."""
    with torch.no_grad():
        return float(sum((p.detach().double() * (1 + (i % 7))).sum() for i, p in enumerate(model.parameters())))




def save_final(accelerator, model, processor, output_dir: str) -> None:
    """The final model and processor, written into `.final.tmp/` and moved into `output_dir` only when both are
    complete: a failed save (a full disk) leaves no half model or processor pointing at a missing codec."""
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    if hasattr(unwrapped, "merge_and_unload"):  # LoRA: merge the adapters, save a plain WhisperGPT checkpoint
        to_save, state_dict = unwrapped.merge_and_unload(), None
    else:
        to_save = unwrapped
        state_dict = accelerator.get_state_dict(model)  # gathers shards under FSDP / ZeRO-3; on every rank
    if accelerator.is_main_process:
        tmp = os.path.join(output_dir, FINAL_TMP)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            to_save.save_pretrained(tmp, state_dict=state_dict)
            processor.save_pretrained(tmp)
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OSError(f"Saving the final model into {output_dir} failed ({type(err).__name__}: {err}). The "
                          "checkpoints are intact: free some space, then run the same command with --resume.") from err
        for name in sorted(os.listdir(tmp)):
            target = os.path.join(output_dir, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            os.replace(os.path.join(tmp, name), target)
        os.rmdir(tmp)
    accelerator.wait_for_everyone()


def log_metrics(accelerator, output_dir: str, step: int, metrics: dict[str, Any]) -> None:
    accelerator.log(metrics, step=step)
    if accelerator.is_main_process:
        with open(os.path.join(output_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")


# ---------------------------------------------------------------------------------------------------- train
def train(model_args: ModelArguments, data_args: DataArguments, args: WhisperGPTTrainingArguments) -> dict[str, Any]:
    """Run training end to end; returns the final summary (also written to `training_summary.json`)."""
    from accelerate.utils import DistributedType

    if not (data_args.dataset or data_args.prepared) or not args.output_dir:
        raise ValueError("Pass --dataset (or --prepared) and --output-dir (or set them in the --config JSON).")
    check_output_dir(args)  # every process, before any of them writes
    os.makedirs(args.output_dir, exist_ok=True)
    accelerator = build_accelerator(args)
    if model_args.lora_r > 0 and accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise ValueError("--lora-r is supported on one device and with DDP, not FSDP / DeepSpeed (the final merge "
                         "needs the whole model on one rank).")
    if args.save_every or args.resume:
        from whisper_gpt_hf.training.checkpointing import check_supported

        check_supported(accelerator)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("whisper_gpt_hf").setLevel(logging.INFO if accelerator.is_local_main_process else logging.WARNING)
    checkpoints = list_checkpoints(args.output_dir)
    resume_from = checkpoints[-1][1] if args.resume and checkpoints else None
    accelerator.wait_for_everyone()  # everyone has checked and chosen the checkpoint before the main process writes
    lock = OutputDirLock(args.output_dir) if accelerator.is_main_process else None
    try:
        if accelerator.is_main_process:
            if args.overwrite_output_dir and not args.resume:
                remove_previous_run(args.output_dir)
            remove_unfinished(args.output_dir)
            _end_partial_line(os.path.join(args.output_dir, "metrics.jsonl"))
            with open(os.path.join(args.output_dir, "run_config.json"), "w") as f:
                json.dump({**asdict(model_args), **asdict(data_args), **asdict(args)}, f, indent=2)
        return _train(model_args, data_args, args, accelerator, resume_from)
    finally:
        if lock is not None:
            lock.release()


LOCK_NAME = ".train.lock"
PREVIOUS_RUN_OUTPUTS = ("metrics.jsonl", "training_summary.json", "run_config.json", "logs")


def check_output_dir(args: WhisperGPTTrainingArguments) -> None:
    """Refuse to mix two runs in one folder: a non-empty `--output-dir` needs `--resume` (continue it) or
    `--overwrite-output-dir` (replace it), and a finished run without checkpoints has nothing to resume."""
    if not os.path.isdir(args.output_dir):
        if os.path.exists(args.output_dir):
            raise NotADirectoryError(f"--output-dir {args.output_dir} is a file; pass a folder.")
        return
    present = sorted(name for name in os.listdir(args.output_dir) if name != LOCK_NAME)
    if not present or args.overwrite_output_dir:
        return
    shown = ", ".join(present[:6]) + (" ..." if len(present) > 6 else "")
    if not args.resume:
        what = "already has checkpoints" if list_checkpoints(args.output_dir) else "is not empty"
        raise ValueError(
            f"--output-dir {args.output_dir} {what} ({shown}): pass --resume to continue that run, "
            "--overwrite-output-dir to replace it, or use a new --output-dir."
        )
    if not list_checkpoints(args.output_dir) and os.path.isfile(os.path.join(args.output_dir, "training_summary.json")):
        raise ValueError(
            f"--output-dir {args.output_dir} holds a finished run without checkpoints: there is nothing to resume. "
            "Pass --overwrite-output-dir to replace it, or use a new --output-dir."
        )


def remove_previous_run(output_dir: str) -> None:
    """`--overwrite-output-dir`: delete the previous run's checkpoints, metrics, summary and logs (the model files
    are replaced by this run's final save), so that nothing of the two runs mixes."""
    for name in os.listdir(output_dir):
        path = os.path.join(output_dir, name)
        if CHECKPOINT_PATTERN.match(name.split(".")[0]) or name in PREVIOUS_RUN_OUTPUTS:
            logger.warning("--overwrite-output-dir: removing %s", path)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


class OutputDirLock:
    """An exclusive `flock` on `<output_dir>/.train.lock` for the run's lifetime (the main process holds it). The OS
    drops it when the process ends, even on kill -9, so a later `--resume` is never blocked by a dead run."""

    def __init__(self, output_dir: str):
        import fcntl

        self.path = os.path.join(output_dir, LOCK_NAME)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            raise RuntimeError(
                f"Another training run (pid {holder}) is using --output-dir {output_dir} (it holds {self.path}). "
                "Wait for it to finish, or use another --output-dir."
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _train(model_args: ModelArguments, data_args: DataArguments, args: WhisperGPTTrainingArguments, accelerator,
           resume_from: str | None) -> dict[str, Any]:
    """The run itself, inside `train`'s output-folder checks and lock."""
    from accelerate.utils import DistributedType, set_seed

    set_seed(args.seed)
    processor = load_processor(model_args)
    model = build_model(model_args, processor, data_args.window_frames)
    train_dataset, eval_dataset, _ = load_data(data_args, processor, accelerator, args.output_dir,
                                               num_codebooks=model.config.num_codebooks)
    if args.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.x
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = wrap_lora(model, model_args)  # after checkpointing is set up, before the optimizer collects parameters
    model.train()
    optimizer = build_optimizer(model, args)  # only requires_grad parameters: with LoRA, the adapters alone
    scheduler = build_scheduler(optimizer, args)
    train_dl, eval_dl, sampler = build_dataloaders(train_dataset, eval_dataset, args, model.config.use_spectrogram)
    if eval_dl is not None:
        model, optimizer, train_dl, eval_dl = accelerator.prepare(model, optimizer, train_dl, eval_dl)
    else:
        model, optimizer, train_dl = accelerator.prepare(model, optimizer, train_dl)
    if len(train_dl) == 0:
        raise ValueError(f"{len(train_dataset)} training windows do not fill one batch of {args.batch_size} per "
                         f"process on {accelerator.num_processes} processes; lower --batch-size.")
    state = TrainState()
    if resume_from:
        from whisper_gpt_hf.training.checkpointing import load_training_state

        record = load_training_state(accelerator, resume_from, model, optimizer, scheduler)
        state.load_state_dict(record)
        logger.info("Resumed from %s at step %d", resume_from, state.step)
    elif args.resume:
        logger.info("No checkpoint in %s to resume from: starting at step 0.", args.output_dir)
    num_params = accelerator.unwrap_model(model).num_parameters()
    num_trainable = sum(p.numel() for p in accelerator.unwrap_model(model).parameters() if p.requires_grad)
    logger.info("%s parameters (%s trainable), %d train windows, %d micro-batches/epoch/process",
                f"{num_params:,}", f"{num_trainable:,}", len(train_dataset), len(train_dl))
    if args.report_to == "tensorboard":
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                   for k, v in {**asdict(model_args), **asdict(data_args), **asdict(args)}.items()}
        accelerator.init_trackers("whisper-gpt", config=hparams)

    batches = train_batches(train_dl, sampler, accelerator, state.step * args.gradient_accumulation_steps)
    losses, tokens, started = [], 0, time.time()
    eval_metrics: dict[str, float] = {}
    while state.step < args.max_steps:
        batch = next(batches)
        loss, grad_norm, lr = train_step(model, batch, optimizer, scheduler, accelerator, args.max_grad_norm)
        losses.append(loss)
        tokens += batch["attention_mask"].sum()  # a tensor: no device sync per micro-batch
        if not accelerator.sync_gradients:
            continue
        state.step += 1
        step = state.step
        if step % args.log_every == 0 or step == args.max_steps:
            train_loss = accelerator.reduce(torch.stack(losses).mean(), reduction="mean").item()
            metrics = {"train/loss": train_loss, "train/lr": lr,
                       "train/tokens_per_s": float(tokens) * accelerator.num_processes / (time.time() - started)}
            if grad_norm is not None:
                metrics["train/grad_norm"] = float(grad_norm)
            log_metrics(accelerator, args.output_dir, step, metrics)
            logger.info("step %d/%d | loss %.4f | lr %.2e | %.0f tok/s", step, args.max_steps, train_loss,
                        metrics["train/lr"], metrics["train/tokens_per_s"])
            losses, tokens, started = [], 0, time.time()
        if eval_dl is not None and ((args.eval_every and step % args.eval_every == 0) or step == args.max_steps):
            eval_metrics = evaluate_loss(model, eval_dl, accelerator)
            log_metrics(accelerator, args.output_dir, step, eval_metrics)
            logger.info("step %d | eval loss %.4f | ppl %.2f", step, eval_metrics["eval/loss"],
                        eval_metrics["eval/ppl"])
        if args.save_every and step % args.save_every == 0:
            save_checkpoint(accelerator, args.output_dir, step, args.save_total_limit,
                            {"max_steps": args.max_steps, "next_lr": optimizer.param_groups[0]["lr"]},
                            model=model, optimizer=optimizer, scheduler=scheduler)

    summary: dict[str, Any] = {"step": state.step, "num_processes": accelerator.num_processes,
                               "num_parameters": num_params,
                               "num_trainable_parameters": num_trainable, **eval_metrics}
    if accelerator.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        # Replicas must agree after training; a mismatch means a broken data-parallel setup.
        checksum = torch.tensor([parameter_checksum(accelerator.unwrap_model(model))], dtype=torch.float64,
                                device=accelerator.device)
        summary["parameter_checksums"] = accelerator.gather(checksum).cpu().tolist()
    save_final(accelerator, model, processor, args.output_dir)
    if accelerator.is_main_process:
        with open(os.path.join(args.output_dir, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    # Not accelerator.end_training(): it also destroys the process group, which a caller training several models in
    # one launch still needs. The command line tears it down in shutdown_distributed().
    for tracker in accelerator.trackers:
        tracker.finish()
    return summary


__all__ = [
    "OutputDirLock",
    "build_accelerator",
    "build_dataloaders",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "check_output_dir",
    "evaluate_loss",
    "load_data",
    "load_processor",
    "parameter_checksum",
    "prepare_split",
    "save_final",
    "shutdown_distributed",
    "train",
    "train_batches",
    "train_step",
    "wrap_lora",
]

