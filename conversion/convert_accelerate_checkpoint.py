"""Convert an Accelerate training checkpoint (an `Accelerator.save_state` folder) into a Hub-ready model folder.

    whisper-gpt convert checkpoint --checkpoint runs/hybrid/checkpoint-2000 --output hub_ready/ \\
        [--config runs/hybrid/config.json] [--processor DIR] [--eval-dataset D | --eval-results J | --no-eval]

An Accelerate checkpoint holds the model's weights (`model.safetensors`, or `pytorch_model.bin` when saved without
safetensors; `model_1.safetensors`, ... for further prepared models) next to optimizer, scheduler and RNG states, but
no model config. The config comes from `--config`, else from the run folder above the checkpoint (`output_dir/` of
`whisper-gpt train`): its `config.json` (written with the final model), else its `run_config.json` (always written
at the start), from which the model is rebuilt exactly as training built it (`training.build_model`). The processor,
the training data id and a training summary for the model card come from the run too. The steps:

1. read the weights without executing anything: `safetensors`, or `torch.load(weights_only=True)` for `.bin`
   (a pickle that would run code is refused; a truncated file fails naming the file);
2. strip wrapper prefixes (`module.` from DDP, `_orig_mod.` from `torch.compile`) and check the keys against a
   freshly built `WhisperGPTForCausalLM`: any unexpected, missing or wrongly shaped key raises `CheckpointKeyError`
   naming every such key (tied weights saved once are filled from their twin);
3. load the weights strictly and hand the model to `make_hub_ready` (processor, evaluation, model card, verification);
4. parity: the written folder, reloaded with `from_pretrained`, holds every checkpoint tensor bit-identical and gives
   the same logits as a model holding the checkpoint's tensors.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from whisper_gpt_hf.conversion.common import (  # noqa: F401  (CheckpointReadError: re-exported)
    CheckpointKeyError,
    CheckpointReadError,
    ConversionError,
    load_original_state_dict,
)
from whisper_gpt_hf.modeling import WhisperGPTConfig, WhisperGPTForCausalLM

# Prefixes wrappers add to parameter names: DistributedDataParallel / DataParallel, torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
RUN_CONFIG_NAME = "run_config.json"  # written by `whisper-gpt train` into its output_dir


def key_mismatch(unexpected: list[str], missing: list[str], mismatched: list[str],
                 source: str = "checkpoint") -> CheckpointKeyError:
    """The error for a checkpoint whose keys do not match the WHISPER-GPT model built from the run's config."""
    hints = ("  (LoRA keys: merge the adapters into the base model before publishing)",) if any(
        "lora_" in k for k in unexpected) else ()
    return CheckpointKeyError(unexpected, missing, mismatched,
                              title=f"{source} does not match the WhisperGPTForCausalLM built from the run's config:",
                              hints=hints)


def find_weights_file(checkpoint_dir: str | os.PathLike, model_index: int = 0) -> Path:
    """The weights of prepared model number `model_index` inside a `save_state` folder."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise CheckpointReadError(f"{folder}: no such checkpoint folder")
    suffix = "" if model_index == 0 else f"_{model_index}"
    for name in (f"model{suffix}.safetensors", f"pytorch_model{suffix}.bin"):
        if (folder / name).is_file():
            return folder / name
    sharded = sorted(folder.glob(f"model{suffix}*.safetensors.index.json")) + sorted(folder.glob("*.index.json"))
    if sharded:
        raise CheckpointReadError(f"{folder}: sharded weights ({sharded[0].name}) are not supported; save unsharded.")
    present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
    raise CheckpointReadError(
        f"{folder}: no model{suffix}.safetensors or pytorch_model{suffix}.bin (an Accelerate save_state folder "
        f"holds them); found: {present}"
    )


@dataclasses.dataclass
class RunInfo:
    """What the run folder says about a checkpoint: its model config and, when known, processor, data and progress."""

    config: WhisperGPTConfig
    config_source: str
    processor: Any = None  # a WhisperGPTProcessor or a folder; None: make_hub_ready's default
    dataset: str | None = None
    summary: str | None = None  # one paragraph for the model card's training-data section


def _config_from_json(path: Path) -> WhisperGPTConfig:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConversionError(f"{path}: not valid JSON: {err}") from err
    if data.get("model_type", WhisperGPTConfig.model_type) != WhisperGPTConfig.model_type:
        raise ConversionError(f"{path}: model_type {data.get('model_type')!r} is not {WhisperGPTConfig.model_type!r}")
    return WhisperGPTConfig.from_dict(data)


def _from_run_config(path: Path):
    """Rebuild the run's model config and processor as `whisper-gpt train` built them (training.build_model)."""
    from whisper_gpt_hf import training

    run = json.loads(path.read_text())
    names = {f.name for f in dataclasses.fields(training.ModelArguments)}
    model_args = training.ModelArguments(**{k: v for k, v in run.items() if k in names})
    processor = training.load_processor(model_args)
    window = int(run.get("window_frames") or 0)
    model = training.build_model(model_args, processor, window)
    return model.config, processor, run


def _training_summary(checkpoint: Path, run: Mapping[str, Any] | None) -> str:
    parts = [f"Converted from the Accelerate checkpoint `{checkpoint.name}`"]
    state_path = checkpoint / "trainer_state.json"
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        if "step" in state:
            total = f" of {state['max_steps']}" if state.get("max_steps") else ""
            parts[0] += f" (optimizer step {state['step']}{total})"
    if run:
        from whisper_gpt_hf.publishing.folder import portable_dataset_name

        start = (f"the preset `{run['preset']}`" if run.get("preset")
                 else f"`{portable_dataset_name(str(run.get('model')))}`")
        data = portable_dataset_name(str(run.get("dataset")))
        parts.append(
            f"trained from {start} on `{data}` (split `{run.get('train_split', 'train')}`), windows of "
            f"{run.get('window_frames')} frames, batch {run.get('batch_size')} x {run.get('gradient_accumulation_steps', 1)} "
            f"accumulation, peak learning rate {run.get('learning_rate')}, seed {run.get('seed')}"
        )
    return "; ".join(parts) + "."


def read_run(checkpoint_dir: str | os.PathLike, config: str | os.PathLike | None = None) -> RunInfo:
    """The model config of the checkpoint's run (see the module docstring for where it is looked for)."""
    folder = Path(checkpoint_dir).resolve()
    run_dir = folder.parent
    run = None
    run_config = run_dir / RUN_CONFIG_NAME
    if run_config.is_file():
        try:
            run = json.loads(run_config.read_text())
        except json.JSONDecodeError as err:
            raise ConversionError(f"{run_config}: not valid JSON: {err}") from err
    dataset = run.get("dataset") if run else None
    processor = next((str(d) for d in (folder, run_dir) if (d / "processor_config.json").is_file()), None)
    if config is not None:
        path = Path(config)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise ConversionError(f"--config {config}: no such file")
        source, model_config = str(path), _config_from_json(path)
    elif (folder / "config.json").is_file():
        source, model_config = str(folder / "config.json"), _config_from_json(folder / "config.json")
    elif (run_dir / "config.json").is_file():
        source, model_config = str(run_dir / "config.json"), _config_from_json(run_dir / "config.json")
    elif run is not None:
        model_config, run_processor, run = _from_run_config(run_config)
        source = f"{run_config} (rebuilt with training.build_model)"
        processor = processor or run_processor
    else:
        tried = ", ".join(str(p) for p in (folder / "config.json", run_dir / "config.json", run_config))
        raise ConversionError(f"No model config for {folder}: tried {tried}. Pass --config (the run's config.json).")
    return RunInfo(model_config, source, processor, dataset, _training_summary(folder, run))


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        new = key
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if new.startswith(prefix):
                    new, changed = new[len(prefix):], True
            new = re.sub(r"\._orig_mod\.", ".", new)
        if new in out:
            raise key_mismatch([f"{key} (-> {new}, given twice)"], [], [])
        out[new] = value
    return out


def match_state_dict(
    state_dict: Mapping[str, torch.Tensor], model: WhisperGPTForCausalLM, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Check `state_dict` against `model` and return it complete; raise `CheckpointKeyError` on any mismatch."""
    expected = model.state_dict()
    unexpected = sorted(k for k in state_dict if k not in expected)
    mismatched = sorted(
        f"{k} (checkpoint {tuple(v.shape)}, model {tuple(expected[k].shape)})"
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    )
    complete = {k: v for k, v in state_dict.items() if k in expected}
    # Tied weights (tie_word_embeddings=True) may have been saved once: fill each from its twin.
    if getattr(model.config, "tie_word_embeddings", False):
        for target, src in (getattr(model, "_tied_weights_keys", None) or {}).items():
            if target not in complete and src in complete:
                complete[target] = complete[src]
            elif src not in complete and target in complete:
                complete[src] = complete[target]
    missing = sorted(k for k in expected if k not in complete)
    if unexpected or missing or mismatched:
        raise key_mismatch(unexpected, missing, mismatched, source=source)
    return complete


def load_accelerate_checkpoint(
    checkpoint_dir: str | os.PathLike, config: str | os.PathLike | WhisperGPTConfig | None = None, model_index: int = 0
) -> WhisperGPTForCausalLM:
    """Build the run's `WhisperGPTForCausalLM` and load the checkpoint's weights into it, strictly."""
    return _load(checkpoint_dir, config, model_index)[0]


def _load(checkpoint_dir, config, model_index):
    weights = find_weights_file(checkpoint_dir, model_index)
    model_config = config if isinstance(config, WhisperGPTConfig) else read_run(checkpoint_dir, config).config
    state_dict = strip_wrapper_prefixes(load_original_state_dict(weights))
    model = WhisperGPTForCausalLM(model_config)
    complete = match_state_dict(state_dict, model, source=str(weights))
    model.load_state_dict(complete, strict=True)
    return model.eval(), complete, weights


def check_parity(state_dict: Mapping[str, torch.Tensor], source: str, output_dir: str | os.PathLike) -> None:
    """The converted folder must reproduce the checkpoint: every tensor bit-identical after reloading it with
    `from_pretrained`, and the same logits as a model holding the checkpoint's tensors directly."""
    reloaded = WhisperGPTForCausalLM.from_pretrained(str(output_dir)).eval()
    reloaded_state = reloaded.state_dict()
    different = sorted(k for k, v in state_dict.items() if not torch.equal(reloaded_state[k], v.to(reloaded_state[k].dtype)))
    if different:
        raise ConversionError(f"{output_dir} does not reproduce {source}: tensors differ: {', '.join(different)}")
    reference = WhisperGPTForCausalLM(reloaded.config).eval()
    reference.load_state_dict(state_dict, strict=True)
    config = reloaded.config
    generator = torch.Generator().manual_seed(0)
    frames = min(32, config.max_position_embeddings)
    input_ids = torch.randint(0, config.vocab_size, (1, frames), generator=generator)
    features = torch.randn(1, frames, config.n_mels, generator=generator) if config.use_spectrogram else None
    with torch.no_grad():
        a = reloaded(input_ids=input_ids, input_features=features).logits
        b = reference(input_ids=input_ids, input_features=features).logits
    if not torch.equal(a, b):
        raise ConversionError(f"{output_dir}: logits differ from {source} by {float((a - b).abs().max()):.3g}")


def convert_accelerate_checkpoint(
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: str | os.PathLike | None = None,
    processor=None,
    model_index: int = 0,
    **hub_ready_kwargs,
) -> Path:
    """Accelerate `save_state` folder -> Hub-ready folder (see `make_hub_ready` for the other arguments).

    Defaults from the run folder: the processor (saved with the final model, else the one the run config names),
    the training dataset's Hub id for the card (when the run trained on a Hub id), a training summary, and
    evaluation numbers from an `eval_results.json` next to the checkpoint.
    """
    from whisper_gpt_hf.publishing.folder import (
        load_card_evaluation,
        make_hub_ready,
        template_dataset_ids,
        training_datasets,
    )

    folder = Path(checkpoint_dir)
    run = read_run(folder, config)
    model, state_dict, weights = _load(folder, run.config, model_index)
    if processor is None:
        processor = run.processor
    if hub_ready_kwargs.get("eval_results") is None and hub_ready_kwargs.get("eval_dataset") is None:
        found = next((d / "eval_results.json" for d in (folder, folder.resolve().parent)
                      if (d / "eval_results.json").is_file()), None)
        if found is not None:
            hub_ready_kwargs["eval_results"] = load_card_evaluation(found)
    if hub_ready_kwargs.get("dataset_ids") is None and run.dataset:  # the card names the run's own data
        hub_ready_kwargs["dataset_ids"], hub_ready_kwargs["local_datasets"] = training_datasets(
            run.dataset, template_dataset_ids(hub_ready_kwargs.get("template")))
    if not hub_ready_kwargs.get("training_summary"):
        hub_ready_kwargs["training_summary"] = run.summary
    if not hub_ready_kwargs.get("model_name"):
        hub_ready_kwargs["model_name"] = (folder.resolve().parent.name if folder.name.startswith("checkpoint")
                                          else folder.name)
    out = make_hub_ready(model, processor, output_dir, **hub_ready_kwargs)
    check_parity(state_dict, str(weights), out)
    return out


__all__ = [
    "CheckpointKeyError",
    "RunInfo",
    "check_parity",
    "convert_accelerate_checkpoint",
    "find_weights_file",
    "load_accelerate_checkpoint",
    "match_state_dict",
    "read_run",
    "strip_wrapper_prefixes",
]
