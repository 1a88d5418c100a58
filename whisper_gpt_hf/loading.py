"""Loading a WHISPER-GPT checkpoint strictly, and the processor that goes with it: one implementation for every verb.

    model, processor, source = load_model_and_processor("runs/h4m")   # source: which processor, in words

`load_model` refuses what `from_pretrained` would only report: missing weights (re-initialised at random: a model
without `lm_head.weight` would be scored at chance), unexpected weights (what the folder holds is not this model),
shape mismatches, non-finite weights, and config values of the wrong type (`WhisperGPTConfig.validate_architecture`).
Each error names the folder, the keys and the fix.

`choose_processor` picks, in this order: an explicit processor, the model's own (`processor_config.json` in the
local folder or the Hub repo), the embedded default; `check_model_processor` then checks that it makes what the
model reads (mel channels, time grid, code vocabulary).
"""

from __future__ import annotations

import json
import logging
import os
import re

import torch

logger = logging.getLogger(__name__)

PROCESSOR_FILE = "processor_config.json"


class CheckpointError(ValueError):
    """A checkpoint that must not be used as it is (the message names the problem and the fix)."""


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _looks_local(path: str) -> bool:
    """A path meant as a folder: it cannot be a Hub repo id (`name` or `namespace/name`), or its first part is a
    local folder (`runs/typo`: a typo, not the Hub user `runs`)."""
    return not _REPO_ID.match(path) or ".." in path or ("/" in path and os.path.isdir(path.split("/")[0]))


def _missing_source(path: str, what: str, error: Exception | None = None) -> FileNotFoundError:
    detail = f" ({error})" if error is not None else ""
    return FileNotFoundError(
        f"{what} {path!r} not found: there is no such local folder, and it is not a Hub repo id that can be reached or "
        f"is cached{detail}. Check the path (a typo?), or pass an existing folder or a Hub repo id."
    )


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", **overrides):
    """`WhisperGPTForCausalLM.from_pretrained(path)` that refuses incomplete, foreign or non-finite checkpoints.

    `overrides` are config values (as `from_pretrained(path, dropout=0.0)`); they are type-checked like config.json.
    """
    from whisper_gpt_hf.modeling import WhisperGPTConfig, WhisperGPTForCausalLM

    path = os.fspath(path)
    local = os.path.isdir(path)
    if not local and _looks_local(path):
        raise _missing_source(path, "Model folder")
    config_file = os.path.join(path, "config.json")
    if local and not os.path.isfile(config_file):
        raise CheckpointError(
            f"{path} has no config.json, so it is not a saved WhisperGPT model. For a training checkpoint "
            "(checkpoint-N/) run `whisper-gpt convert checkpoint`; else pass the folder save_pretrained wrote."
        )
    if local:
        try:
            with open(config_file) as f:
                model_type = json.load(f).get("model_type")
        except (json.JSONDecodeError, AttributeError) as err:
            raise CheckpointError(f"{config_file} is not a JSON object ({err}); restore it from the run.") from err
        if model_type != WhisperGPTConfig.model_type:
            raise CheckpointError(
                f"{config_file} says model_type {model_type!r}, not {WhisperGPTConfig.model_type!r}: this folder holds "
                "another model (or a damaged config). Pass a WhisperGPT checkpoint."
            )
    try:
        config = WhisperGPTConfig.from_pretrained(path, **overrides)
        config.validate_architecture()  # overrides are set after __init__: check them too, before building
        model, info = WhisperGPTForCausalLM.from_pretrained(path, config=config, output_loading_info=True)
    except OSError as err:
        if not local:  # e.g. a typo in a local path that happens to look like a repo id, or no network
            raise _missing_source(path, "Model", err) from err
        raise
    problems = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems["error_msgs"] = list(info.get("error_msgs") or [])
    if any(problems.values()):
        parts = [f"{k.replace('_', ' ')}: {', '.join(map(str, v))}" for k, v in problems.items() if v]
        raise CheckpointError(
            f"{path} does not hold a complete WhisperGPTForCausalLM for its config.json ({'; '.join(parts)}). "
            "Missing weights would be random and unexpected ones ignored: re-save the model with save_pretrained "
            "(or convert the training checkpoint), or fix config.json to match the weights."
        )
    bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(
            f"{path} has non-finite (NaN or inf) weights in {', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}: "
            "the run diverged or the file is damaged. Use an earlier checkpoint."
        )
    return model.to(device).eval()


def choose_processor(model_path: str | None = None, processor_path: str | None = None):
    """`(processor, source)`: `processor_path` if given, else the model's own processor (local folder or Hub repo
    with a `processor_config.json`), else the embedded default. `source` says which, for the user."""
    from whisper_gpt_hf.modeling import WhisperGPTProcessor

    if processor_path:
        if not os.path.isdir(processor_path) and _looks_local(processor_path):
            raise _missing_source(processor_path, "Processor folder")
        return WhisperGPTProcessor.from_pretrained(processor_path), f"{processor_path} (--processor)"
    if model_path and has_own_processor(model_path):
        return WhisperGPTProcessor.from_pretrained(model_path), f"{model_path} (the model's own)"
    from whisper_gpt_hf.assets import PROCESSOR_DEFAULT, default_processor

    reason = f"{model_path} has no {PROCESSOR_FILE}" if model_path else "no model given"
    return default_processor(), f"{PROCESSOR_DEFAULT} (the embedded default: {reason})"


def has_own_processor(model_path: str) -> bool:
    """Whether the model folder or Hub repo ships a processor (`processor_config.json`)."""
    if os.path.isdir(model_path):
        return os.path.isfile(os.path.join(model_path, PROCESSOR_FILE))
    from transformers.utils import cached_file

    try:
        found = cached_file(model_path, PROCESSOR_FILE, _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except OSError:
        return False
    return found is not None


def check_model_processor(model, processor, model_name: str = "the model") -> None:
    """Raise a `ValueError` unless the processor makes what the model reads: mel channels, time grid, vocabulary."""
    c, fe, codec = model.config, processor.feature_extractor, processor.audio_tokenizer
    problems = []
    if c.use_spectrogram and fe.feature_size != c.n_mels:
        problems.append(f"the feature extractor gives {fe.feature_size} mel channels but the model reads {c.n_mels}")
    if fe.sampling_rate != c.codec_sampling_rate or fe.hop_length != c.codec_hop_length:
        problems.append(f"the processor runs at {fe.sampling_rate} Hz / hop {fe.hop_length} but the model at "
                        f"{c.codec_sampling_rate} Hz / hop {c.codec_hop_length}")
    if codec is not None and codec.config.codebook_size != c.vocab_size:
        problems.append(f"the codec has {codec.config.codebook_size} codes but the model's vocabulary is "
                        f"{c.vocab_size}")
    if problems:
        raise ValueError(f"The processor does not belong to {model_name}: " + "; ".join(problems)
                         + ". Pass --processor with the processor the model was trained with.")


def load_model_and_processor(model_path: str, processor_path: str | None = None, device: str = "cpu"):
    """`(model, processor, source)`: the strictly loaded model, its processor (see `choose_processor`) on `device`,
    checked to fit, and a sentence saying which processor was used."""
    model = load_model(model_path, device)
    processor, source = choose_processor(model_path, processor_path)
    check_model_processor(model, processor, model_path)
    if processor.audio_tokenizer is not None:
        processor.audio_tokenizer.to(device)
    return model, processor, source


__all__ = [
    "CheckpointError",
    "check_model_processor",
    "choose_processor",
    "has_own_processor",
    "load_model",
    "load_model_and_processor",
]
