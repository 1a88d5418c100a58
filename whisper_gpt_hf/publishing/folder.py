"""Turn a WHISPER-GPT model into a *Hub-ready folder*: exactly what a Hub model repository should contain.

    whisper-gpt convert hub-ready --model runs/hybrid/final --output hub_ready/ [--eval-dataset D | --eval-results J]

`make_hub_ready(model_or_dir, processor, output_dir, ...)` writes:

- `config.json` with a complete `auto_map` (`AutoConfig`, `AutoModel`, `AutoModelForCausalLM`: `save_pretrained`
  alone records only the saved class, and `AutoModel(..., trust_remote_code=True)` then fails), `model.safetensors`
  (one unsharded file) and `generation_config.json`;
- the processor: `processor_config.json` (with the feature extractor nested and `auto_map.AutoProcessor`),
  `preprocessor_config.json` (the feature extractor alone, for `AutoFeatureExtractor` readers) and the EnCodec codec
  in `audio_tokenizer/` (`config.json`, `model.safetensors`), so the folder is self-contained;
- the remote-code files `configuration_whisper_gpt.py`, `modeling_whisper_gpt.py`, `generation_whisper_gpt.py`,
  `feature_extraction_whisper_gpt.py`, `processing_whisper_gpt.py` (copied by `save_pretrained`; checked here to
  import only each other);
- `README.md` rendered from the repository's `MODEL_CARD.md` template with this checkpoint's details and its real
  evaluation numbers (computed here with `whisper_gpt_hf.evaluation` when a dataset is given, or passed in);
- `.gitattributes`: the Hub's default LFS patterns (what `create_repo` would write), so a `git push` of the folder
  stores weights in LFS as the Hub expects.

The folder is built in a temporary sibling and moved into place only once it is complete and verified (every file
present, the weights reload bit-identical, the processor reloads with the same codec). `whisper-gpt publish`
builds its upload with this same function.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from whisper_gpt_hf.assets import ASSETS_ROOT, MODEL_CARD_TEMPLATE, PROCESSOR_DEFAULT, REPO_ROOT
from whisper_gpt_hf.publishing.card import PLACEHOLDER, CardTemplateError
from whisper_gpt_hf.publishing.card import render_template as _render_card_template
from whisper_gpt_hf.modeling import (
    WhisperGPTConfig,
    WhisperGPTFeatureExtractor,
    WhisperGPTForCausalLM,
    WhisperGPTModel,
    WhisperGPTProcessor,
)
from whisper_gpt_hf.modeling.processing_whisper_gpt import AUDIO_TOKENIZER_SUBFOLDER

# auto_map written into config.json: every Auto class a Hub user may call, for the remote-code path.
AUTO_MAP_CLASSES = {
    "AutoConfig": WhisperGPTConfig,
    "AutoModel": WhisperGPTModel,
    "AutoModelForCausalLM": WhisperGPTForCausalLM,
}

# The Hub's default .gitattributes for a new model repository (LFS for weights, archives and other binaries).
HUB_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
"""


def remote_code_files() -> list[str]:
    """The `.py` files a `trust_remote_code` user needs: the files defining the classes that `save_pretrained` writes
    into `auto_map` (config, models, feature extractor, processor) and, recursively, what they import (`from .x`)."""
    import sys

    entry = [WhisperGPTConfig, WhisperGPTModel, WhisperGPTForCausalLM, WhisperGPTFeatureExtractor, WhisperGPTProcessor]
    files = {Path(sys.modules[cls.__module__].__file__) for cls in entry}
    folder = next(iter(files)).parent
    todo = list(files)
    while todo:
        for module in _relative_imports(todo.pop()):
            path = folder / f"{module}.py"
            if path not in files:
                files.add(path)
                todo.append(path)
    return sorted(p.name for p in files)


# Every file of a Hub-ready folder (paths relative to it).
HUB_READY_FILES = (
    "README.md",
    ".gitattributes",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "processor_config.json",
    "preprocessor_config.json",
    f"{AUDIO_TOKENIZER_SUBFOLDER}/config.json",
    f"{AUDIO_TOKENIZER_SUBFOLDER}/model.safetensors",
)


class HubReadyError(Exception):
    """The model, processor, evaluation numbers or output folder cannot make a consistent Hub-ready folder."""


# ---------------------------------------------------------------------------------------------------- evaluation


@dataclasses.dataclass
class CardEvaluation:
    """Evaluation numbers for the model card: `whisper_gpt_hf.evaluation.EvalResult`s and where they were measured."""

    results: list  # list[whisper_gpt_hf.evaluation.EvalResult]
    dataset: str
    split: str = "test"
    window_frames: int | None = None
    dataset_id: str | None = None  # the dataset's Hub id, for the model-index metadata (default: `dataset`)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "dataset_id": self.dataset_id,
            "split": self.split,
            "window_frames": self.window_frames,
            "results": [r.to_dict() for r in self.results],
        }


def eval_result_from_dict(data: Mapping[str, Any]):
    """Inverse of `EvalResult.to_dict` (JSON written by `whisper-gpt evaluate --json`)."""
    from whisper_gpt_hf.evaluation import CategoryResult, EvalResult

    def number(x):
        return float("nan") if x is None else float(x)

    return EvalResult(
        nll=number(data["nll"]),
        ppl=number(data["ppl"]),
        accuracy=number(data["accuracy"]),
        num_tokens=int(data["num_tokens"]),
        num_parameters=int(data["num_parameters"]),
        per_category={k: CategoryResult(**v) for k, v in (data.get("per_category") or {}).items()},
        position_nll=np.array([number(x) for x in data.get("position_nll") or []], dtype=np.float64),
        position_count=np.array(data.get("position_count") or [], dtype=np.int64),
        name=data.get("name", "model"),
        use_spectrogram=data.get("use_spectrogram"),
    )


def load_card_evaluation(source) -> CardEvaluation:
    """Accept a `CardEvaluation`, the JSON (dict or file path) of `whisper-gpt evaluate --json` or of
    `CardEvaluation.to_dict`, or bare `EvalResult`(s) (dataset then "unknown")."""
    from whisper_gpt_hf.evaluation import EvalResult

    if isinstance(source, CardEvaluation):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            source = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise HubReadyError(f"{path}: cannot read evaluation results JSON: {err}") from err
    if isinstance(source, EvalResult):
        return CardEvaluation([source], dataset="unknown", split="unknown")
    if isinstance(source, Sequence) and source and all(isinstance(r, EvalResult) for r in source):
        return CardEvaluation(list(source), dataset="unknown", split="unknown")
    if isinstance(source, Mapping) and "results" in source:
        return CardEvaluation(
            [r if isinstance(r, EvalResult) else eval_result_from_dict(r) for r in source["results"]],
            dataset=str(source.get("dataset", "unknown")),
            split=str(source.get("split", "unknown")),
            window_frames=source.get("window_frames"),
            dataset_id=source.get("dataset_id"),
        )
    if isinstance(source, Mapping) and "nll" in source:
        return CardEvaluation([eval_result_from_dict(source)], dataset="unknown", split="unknown")
    raise HubReadyError(
        f"Cannot read evaluation results from a {type(source).__name__}: pass the JSON of `whisper-gpt evaluate "
        "--json`, an EvalResult, or a CardEvaluation."
    )


def evaluate_for_card(
    model: WhisperGPTForCausalLM,
    processor: WhisperGPTProcessor,
    dataset: str,
    split: str = "test",
    window_frames: int = 256,
    max_windows: int | None = None,
    batch_size: int = 8,
    dataset_config: str | None = None,
    audio_column: str = "audio",
    category_column: str = "category",
    name: str | None = None,
    progress: bool = False,
    **load_kwargs,
) -> CardEvaluation:
    """Score `model` on `dataset[split]` with the evaluation module (the same code as `whisper-gpt evaluate`).
    `load_kwargs` go to `datasets.load_dataset` (e.g. `revision`, `cache_dir`)."""
    from whisper_gpt_hf import data
    from whisper_gpt_hf.evaluation import evaluate_model

    window = min(window_frames, model.config.max_position_embeddings)
    raw = data.load_audio_dataset(dataset, split=split, audio_column=audio_column, config_name=dataset_config,
                                  **load_kwargs)
    prepared, _report = data.prepare_dataset(
        raw, processor, audio_column=audio_column, window_frames=window, category_column=category_column,
        desc=f"prepare {split}", progress=progress,
    )
    if max_windows:
        prepared = prepared.select(range(min(max_windows, len(prepared))))
    result = evaluate_model(
        model, prepared, batch_size=batch_size, category_column=category_column, name=name, progress=progress
    )
    return CardEvaluation([result], dataset=str(dataset), split=split, window_frames=window)


def portable_dataset_name(name: str, dataset_ids: Sequence[str] | None = None) -> str:
    """How a card names an evaluation dataset: a Hub id stays; a local folder becomes the Hub id of the same name in
    `dataset_ids`, else its path inside this repository, else its folder name (never a machine's absolute path)."""
    path = Path(name)
    if not path.exists():
        return name
    path = path.resolve()
    same = [d for d in dataset_ids or [] if d.split("/")[-1] == path.name]
    if same:
        return same[0]
    for root in (ASSETS_ROOT, REPO_ROOT):  # the embedded folders are named as in the repository (hub/...)
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


RUN_CONFIG_NAME = "run_config.json"  # written by `whisper-gpt train` into its output_dir, next to the final model


def read_run_config(model_dir: str | os.PathLike | None) -> dict | None:
    """The `run_config.json` of the training run that saved this model folder, if it has one."""
    path = Path(model_dir) / RUN_CONFIG_NAME if model_dir else None
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise HubReadyError(f"{path}: not valid JSON: {err}") from err


def training_datasets(dataset: str, known_ids: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """What a card says a run was trained on, from the `dataset` its run_config.json records: (Hub ids for the
    `datasets:` metadata, local datasets named in "Trained on"). A local folder with the name of a dataset in
    `known_ids` (the template's, the published copies of the embedded corpora) is that Hub dataset."""
    dataset = str(dataset)
    local = None
    for base in (Path.cwd(), ASSETS_ROOT, REPO_ROOT):  # run_config paths are relative to where training ran
        candidate = Path(dataset) if os.path.isabs(dataset) else base / dataset
        if candidate.exists():
            local = candidate.resolve()
            break
    if local is None and re.fullmatch(r"[\w.-]+/[\w.-]+", dataset) and not os.path.isabs(dataset):
        return [dataset], []
    name = local.name if local is not None else Path(dataset).name
    same = [d for d in known_ids if d.split("/")[-1] == name]
    if same:
        return same[:1], []
    return [], [portable_dataset_name(str(local)) if local is not None else name]


def _select_own_results(evaluation: CardEvaluation, model: WhisperGPTForCausalLM) -> CardEvaluation:
    """Keep the results measured on this checkpoint (same parameter count and variant); refuse numbers of another model."""
    n_params = int(model.num_parameters())
    own = [
        r for r in evaluation.results
        if int(r.num_parameters) == n_params
        and (r.use_spectrogram is None or bool(r.use_spectrogram) == bool(model.config.use_spectrogram))
    ]
    if not own:
        found = ", ".join(f"{r.name} ({r.num_parameters} params)" for r in evaluation.results) or "none"
        raise HubReadyError(
            f"None of the evaluation results belongs to this checkpoint ({n_params} parameters, "
            f"{'hybrid' if model.config.use_spectrogram else 'token-only'}); got: {found}. The model card only carries "
            "the numbers of the checkpoint it describes."
        )
    return dataclasses.replace(evaluation, results=own[:1])


# ---------------------------------------------------------------------------------------------------- model card


def format_params(n: int) -> str:
    from whisper_gpt_hf.evaluation import format_params as _format

    return _format(int(n))


def eval_table_markdown(evaluation: CardEvaluation | None, model_name: str) -> str:
    """The per-checkpoint evaluation section: where it was measured and the results table (one row per category)."""
    if evaluation is None:
        return "This checkpoint was published without evaluation numbers."
    from whisper_gpt_hf.evaluation import results_table

    results = [dataclasses.replace(r, name=model_name) for r in evaluation.results]
    if evaluation.dataset == "unknown":
        where = "Measured on data that was not recorded with the numbers"
    else:
        where = f"Measured on `{evaluation.dataset}`, split `{evaluation.split}`"
    window = (
        f" in windows of {evaluation.window_frames} frames ({evaluation.window_frames / 75:.2f} s)"
        if evaluation.window_frames
        else ""
    )
    return (
        f"{where}{window}; every window scores positions 1 .. L-1 (see *Metrics*). NLL in nats per coarse "
        "token, PPL = exp(NLL), top-1 accuracy of the next code; `all` is over every scored code, the other rows per "
        "category.\n\n" + results_table(results, markdown=True)
    )


def model_details_markdown(model: WhisperGPTForCausalLM, processor: WhisperGPTProcessor) -> str:
    c = model.config
    codec = processor.audio_tokenizer
    rows = [
        ("variant", "hybrid (causal log-mel branch + coarse codes)" if c.use_spectrogram else "token-only GPT baseline"),
        ("parameters", f"{format_params(model.num_parameters())} ({model.num_parameters():,})"),
        ("main transformer", f"{_count(c.num_hidden_layers, 'layer')}, width {c.hidden_size}, "
                             f"{_count(c.num_attention_heads, 'head')}, MLP {c.intermediate_size}"),
    ]
    if c.use_spectrogram:
        rows.append(("spectrogram branch", f"{_count(c.spectrogram_num_layers, 'causal block')}, width "
                                           f"{c.spectrogram_hidden_size}, {_count(c.spectrogram_num_heads, 'head')}, "
                                           f"MLP {c.spectrogram_intermediate_size}; "
                                           f"{c.n_mels} mel channels per frame"))
    rows += [
        ("fused input", f"{c.token_embedding_size}-dim code embedding"
                        + (f" ++ {c.spectrogram_hidden_size}-dim mel branch output" if c.use_spectrogram else "")),
        ("vocabulary", f"{c.vocab_size} codes (the codec's first codebook)"),
        ("context", f"{c.max_position_embeddings} frames ({c.max_position_embeddings / c.frame_rate:.2f} s at "
                    f"{c.frame_rate:g} frames/s)"),
        ("codec (audio_tokenizer/)", f"EnCodec architecture, {codec.config.sampling_rate} Hz, hop "
                                     f"{int(np.prod(codec.config.upsampling_ratios))}, codebook size "
                                     f"{codec.config.codebook_size}, {codec.num_parameters():,} parameters"),
        ("weights", f"`model.safetensors`, {next(model.parameters()).dtype}".replace("torch.", "")),
    ]
    lines = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def training_data_markdown(dataset_ids: Sequence[str], training_summary: str | None,
                           local_datasets: Sequence[str] = ()) -> str:
    """"Trained on" the Hub datasets (linked) and the local ones (named, not linked); `training_summary` after it."""
    parts = []
    names = [f"[`{d}`](https://huggingface.co/datasets/{d})" for d in dataset_ids]
    names += [f"the local dataset `{d}` (not on the Hub)" for d in local_datasets]
    if names:
        parts.append("Trained on " + ", ".join(names) + ".")
    else:
        parts.append("The training data of this checkpoint was not recorded.")
    if training_summary:
        parts.append(training_summary.strip())
    return "\n\n".join(parts)


_PLACEHOLDER = PLACEHOLDER  # the model card uses the same template mechanism as every card (whisper_gpt_hf.publishing.card)
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Replace every `{{ name }}`; an unknown name or one without a value raises (a card never ships with holes)."""
    try:
        return _render_card_template(template, values)
    except CardTemplateError as err:
        raise HubReadyError(str(err).replace("The card template", "The model card template")) from err


def card_metadata(
    base: Mapping[str, Any],
    model_name: str,
    dataset_ids: Sequence[str] | None,
    evaluation: CardEvaluation | None,
) -> dict:
    """The template's YAML with this checkpoint's datasets and a `model-index` of its evaluation numbers."""
    from huggingface_hub import EvalResult as HubEvalResult
    from huggingface_hub import ModelCardData

    meta = dict(base)
    if dataset_ids:
        meta["datasets"] = list(dataset_ids)
    elif dataset_ids is not None:  # trained on local data only: no Hub dataset to name
        meta.pop("datasets", None)
    meta.pop("model-index", None)
    if evaluation is not None and evaluation.results:
        result = evaluation.results[0]
        dataset_id = evaluation.dataset_id or evaluation.dataset
        common = dict(
            task_type="audio-to-audio",
            task_name="Next coarse-token prediction",
            dataset_type=dataset_id,
            dataset_name=dataset_id,
            dataset_split=evaluation.split,
        )
        hub_results = [
            HubEvalResult(metric_type="perplexity", metric_name="Perplexity", metric_value=round(result.ppl, 4), **common),
            HubEvalResult(metric_type="accuracy", metric_name="Top-1 accuracy", metric_value=round(result.accuracy, 4),
                          **common),
            HubEvalResult(metric_type="loss", metric_name="NLL (nats per token)", metric_value=round(result.nll, 4),
                          **common),
        ]
        data = ModelCardData(model_name=model_name, eval_results=hub_results).to_dict()
        meta["model-index"] = data["model-index"]
    return meta


def _read_template(template: str | os.PathLike | None) -> tuple[str, re.Match, dict]:
    path = Path(template or MODEL_CARD_TEMPLATE)
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise HubReadyError(f"{path}: the template has no YAML front matter (--- ... ---).")
    try:
        base = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as err:
        raise HubReadyError(f"{path}: invalid YAML front matter: {err}") from err
    return text, match, base


def template_dataset_ids(template: str | os.PathLike | None = None) -> list[str]:
    """The training datasets the template's metadata names (the default for every card)."""
    return list(_read_template(template)[2].get("datasets") or [])


def render_model_card(
    model: WhisperGPTForCausalLM,
    processor: WhisperGPTProcessor,
    evaluation: CardEvaluation | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    dataset_ids: Sequence[str] | None = None,
    training_summary: str | None = None,
    template: str | os.PathLike | None = None,
    local_datasets: Sequence[str] = (),
) -> str:
    """README.md for `model`: the `MODEL_CARD.md` template filled with this checkpoint's values."""
    text, match, base = _read_template(template)
    model_name = model_name or (repo_id.split("/")[-1] if repo_id else "whisper-gpt")
    if dataset_ids is None:
        dataset_ids = list(base.get("datasets") or [])
    meta = card_metadata(base, model_name, dataset_ids, evaluation)
    values = {
        "model_name": model_name,
        "repo_id": repo_id or f"<your-org>/{model_name}",
        "variant": "hybrid" if model.config.use_spectrogram else "token-only",
        "params": format_params(model.num_parameters()),
        "model_details": model_details_markdown(model, processor),
        "training_data": training_data_markdown(dataset_ids, training_summary, local_datasets),
        "eval_table": eval_table_markdown(evaluation, model_name),
    }
    body = render_template(text[match.end():], values)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.lstrip()}"


# ---------------------------------------------------------------------------------------------------- loading


def _resolve_model(model_or_dir) -> tuple[WhisperGPTForCausalLM, str | None]:
    """A package `WhisperGPTForCausalLM` (a remote-code class is rebuilt as the package's own) and its folder."""
    if isinstance(model_or_dir, (str, os.PathLike)):
        folder = str(model_or_dir)
        config_path = Path(folder) / "config.json"
        if not config_path.is_file():
            raise HubReadyError(
                f"{folder}: no config.json. For an Accelerate `save_state` checkpoint use "
                "`whisper-gpt convert checkpoint` (convert_accelerate_checkpoint)."
            )
        model_type = json.loads(config_path.read_text()).get("model_type")
        if model_type != WhisperGPTConfig.model_type:
            raise HubReadyError(f"{config_path}: model_type is {model_type!r}, not {WhisperGPTConfig.model_type!r}.")
        model, info = WhisperGPTForCausalLM.from_pretrained(folder, output_loading_info=True)
        bad = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        if any(bad.values()):  # e.g. a base WhisperGPTModel folder: its head would be random
            raise HubReadyError(
                f"{folder} does not hold a complete WhisperGPTForCausalLM: "
                + "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v))}" for k, v in bad.items() if v)
            )
        return model.eval(), folder
    model = model_or_dir
    if isinstance(model, WhisperGPTForCausalLM):
        return model, None
    if getattr(getattr(model, "config", None), "model_type", None) != WhisperGPTConfig.model_type:
        raise HubReadyError(f"Expected a WhisperGPTForCausalLM, got {type(model).__name__}.")
    if not hasattr(model, "lm_head"):
        raise HubReadyError(f"{type(model).__name__} has no next-code head; publish a WhisperGPTForCausalLM.")
    # e.g. a class loaded with trust_remote_code: save the package's classes so the copied code is the package's.
    rebuilt = WhisperGPTForCausalLM(WhisperGPTConfig(**model.config.to_dict()))
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    return rebuilt.eval(), None


def _resolve_processor(processor, model_dir: str | None) -> WhisperGPTProcessor:
    if isinstance(processor, WhisperGPTProcessor):
        return processor
    if processor is None:
        if model_dir and (Path(model_dir) / "processor_config.json").is_file():
            processor = model_dir
        elif PROCESSOR_DEFAULT.exists():
            processor = str(PROCESSOR_DEFAULT)
        else:
            raise HubReadyError(
                "No processor: the model folder has no processor_config.json and the embedded default processor "
                f"({PROCESSOR_DEFAULT}) is missing. Pass the processor the model was trained with."
            )
    if isinstance(processor, (str, os.PathLike)):
        return WhisperGPTProcessor.from_pretrained(str(processor))
    if getattr(processor, "feature_extractor", None) is not None and hasattr(processor, "audio_tokenizer"):
        # a remote-code processor class: rebuild it from the package's classes
        fe = WhisperGPTFeatureExtractor(**{k: v for k, v in processor.feature_extractor.to_dict().items()
                                           if k not in ("feature_extractor_type", "auto_map", "processor_class")})
        return WhisperGPTProcessor(fe, audio_tokenizer=processor.audio_tokenizer)
    raise HubReadyError(f"Expected a WhisperGPTProcessor or a folder, got {type(processor).__name__}.")


def check_model_processor(model: WhisperGPTForCausalLM, processor: WhisperGPTProcessor) -> None:
    """The processor must produce what the model reads: same mel channels, time grid and code vocabulary."""
    c, fe, codec = model.config, processor.feature_extractor, processor.audio_tokenizer
    if codec is None:
        raise HubReadyError("The processor has no audio_tokenizer (codec); a published model needs its codec.")
    problems = []
    if c.use_spectrogram and fe.feature_size != c.n_mels:
        problems.append(f"the feature extractor gives {fe.feature_size} mel channels but the model reads {c.n_mels}")
    if fe.sampling_rate != c.codec_sampling_rate or fe.hop_length != c.codec_hop_length:
        problems.append(
            f"the processor runs at {fe.sampling_rate} Hz / hop {fe.hop_length} but the model at "
            f"{c.codec_sampling_rate} Hz / hop {c.codec_hop_length}"
        )
    if codec.config.codebook_size != c.vocab_size:
        problems.append(f"the codec has {codec.config.codebook_size} codes but the model's vocabulary is {c.vocab_size}")
    if problems:
        raise HubReadyError("The processor does not belong to this model: " + "; ".join(problems) + ".")


# ---------------------------------------------------------------------------------------------------- checks


def _relative_imports(py_file: Path) -> set[str]:
    tree = ast.parse(py_file.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > 1 or not node.module or "." in node.module:
                raise HubReadyError(
                    f"{py_file.name}: `from {'.' * node.level}{node.module or ''} import ...` cannot work in a flat "
                    "remote-code folder; the modeling files may only use `from .x import y`."
                )
            names.add(node.module)
    return names


def verify_hub_ready(folder: str | os.PathLike, model: WhisperGPTForCausalLM | None = None,
                     processor: WhisperGPTProcessor | None = None) -> list[str]:
    """Check a Hub-ready folder; return its files. Raises `HubReadyError` naming what is wrong.

    Checks: every file of `HUB_READY_FILES` and of `remote_code_files()`; the complete `auto_map`; the remote-code
    files import only each other; the README has YAML metadata and no unfilled `{{ }}`; and, when `model` /
    `processor` are given, that the saved weights and codec reload bit-identical.
    """
    folder = Path(folder)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    expected = list(HUB_READY_FILES) + remote_code_files()
    missing = [f for f in expected if f not in files]
    if missing:
        raise HubReadyError(f"{folder}: missing {', '.join(missing)}.")
    config = json.loads((folder / "config.json").read_text())
    auto_map = config.get("auto_map") or {}
    want = {k: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for k, cls in AUTO_MAP_CLASSES.items()}
    wrong = {k: v for k, v in want.items() if auto_map.get(k) != v}
    if wrong:
        raise HubReadyError(f"{folder}/config.json: auto_map lacks or differs on {wrong} (has {auto_map}).")
    proc = json.loads((folder / "processor_config.json").read_text())
    if "AutoProcessor" not in (proc.get("auto_map") or {}):
        raise HubReadyError(f"{folder}/processor_config.json: no auto_map.AutoProcessor.")
    for name in remote_code_files():
        for module in _relative_imports(folder / name):
            if f"{module}.py" not in files:
                raise HubReadyError(f"{folder}/{name} imports .{module}, which is not in the folder.")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(readme)
    if match is None or not isinstance(yaml.safe_load(match.group(1)), dict):
        raise HubReadyError(f"{folder}/README.md: no YAML metadata block.")
    if _PLACEHOLDER.search(readme):
        raise HubReadyError(f"{folder}/README.md: unfilled placeholder {_PLACEHOLDER.search(readme).group(0)}.")
    if model is not None:
        from safetensors.torch import load_file

        saved = load_file(str(folder / "model.safetensors"))
        _compare_state_dicts(model.state_dict(), saved, "model.safetensors", tied=_tied_keys(model))
    if processor is not None and processor.audio_tokenizer is not None:
        from safetensors.torch import load_file

        saved = load_file(str(folder / AUDIO_TOKENIZER_SUBFOLDER / "model.safetensors"))
        _compare_state_dicts(processor.audio_tokenizer.state_dict(), saved, f"{AUDIO_TOKENIZER_SUBFOLDER}/model.safetensors")
    return files


def _tied_keys(model) -> set[str]:
    if getattr(model.config, "tie_word_embeddings", False):
        return set(getattr(model, "_tied_weights_keys", None) or {})
    return set()


def _compare_state_dicts(expected: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor], what: str,
                         tied: set[str] = frozenset()) -> None:
    missing = sorted(k for k in expected if k not in saved and k not in tied)
    unexpected = sorted(k for k in saved if k not in expected)
    different = sorted(k for k in expected if k in saved and not torch.equal(expected[k].cpu(), saved[k]))
    if missing or unexpected or different:
        raise HubReadyError(
            f"{what} does not hold the model's weights: missing {missing}, unexpected {unexpected}, different {different}."
        )


# ---------------------------------------------------------------------------------------------------- writing


def make_hub_ready(
    model_or_dir,
    processor=None,
    output_dir: str | os.PathLike = "hub_ready",
    eval_results=None,
    eval_dataset: str | None = None,
    eval_split: str = "test",
    eval_window_frames: int = 256,
    eval_max_windows: int | None = None,
    dataset_ids: Sequence[str] | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    training_summary: str | None = None,
    template: str | os.PathLike | None = None,
    require_eval: bool = True,
    overwrite: bool = False,
    local_datasets: Sequence[str] | None = None,
) -> Path:
    """Write the Hub-ready folder of a WHISPER-GPT model (see the module docstring); return its path.

    Args:
        model_or_dir: a `WhisperGPTForCausalLM` or a folder saved by `save_pretrained` (any WHISPER-GPT folder).
        processor: a `WhisperGPTProcessor` or its folder; default: the model folder's own processor, else the
            embedded default processor. It must match the model (mel channels, time grid, vocabulary).
        output_dir: where to write; must not exist or be empty unless `overwrite`.
        eval_results: this checkpoint's evaluation numbers: `whisper-gpt evaluate --json` output (dict or path),
            `EvalResult`(s) or a `CardEvaluation`.
        eval_dataset: instead, evaluate now on this dataset (Hub id or Hub-layout folder), split `eval_split`.
        dataset_ids: Hub ids of the training data for the card's metadata (default: what the model folder's
            `run_config.json` records, see `training_datasets`; without one, the template's `datasets`).
        local_datasets: training data that is not on the Hub, named in the card's "Trained on"; with
            `dataset_ids` None it comes from `run_config.json` too.
        repo_id: the Hub repo the folder is meant for (used in the card's usage snippet).
        require_eval: refuse to write a card without evaluation numbers (default).
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise HubReadyError(f"{output_dir} exists and is not empty; choose another folder or pass overwrite=True.")
    model, model_dir = _resolve_model(model_or_dir)
    processor = _resolve_processor(processor, model_dir)
    check_model_processor(model, processor)
    run = read_run_config(model_dir)
    if dataset_ids is None and local_datasets is None and run and run.get("dataset"):
        dataset_ids, local_datasets = training_datasets(run["dataset"], template_dataset_ids(template))
    if not model_name:
        model_name = (repo_id.split("/")[-1] if repo_id
                      else Path(model_dir).resolve().name if model_dir else "whisper-gpt")

    evaluation = None
    if eval_results is not None and eval_dataset is not None:
        raise HubReadyError("Pass either eval_results or eval_dataset, not both.")
    if eval_results is not None:
        evaluation = load_card_evaluation(eval_results)
    elif eval_dataset is not None:
        evaluation = evaluate_for_card(model, processor, eval_dataset, split=eval_split,
                                       window_frames=eval_window_frames, max_windows=eval_max_windows)
    elif model_dir and (Path(model_dir) / "eval_results.json").is_file():
        evaluation = load_card_evaluation(Path(model_dir) / "eval_results.json")
    if evaluation is not None:
        evaluation = _select_own_results(evaluation, model)
        card_dataset_ids = dataset_ids if dataset_ids is not None else template_dataset_ids(template)
        evaluation = dataclasses.replace(
            evaluation,
            dataset=portable_dataset_name(evaluation.dataset, card_dataset_ids),
            results=[dataclasses.replace(r, name=model_name) for r in evaluation.results],  # not a local path
        )
    elif require_eval:
        raise HubReadyError(
            "No evaluation numbers for the model card: pass eval_dataset (evaluate now), eval_results (the JSON of "
            "`whisper-gpt evaluate --json`), put eval_results.json next to the model, or allow a card without "
            "numbers (require_eval=False / --no-eval)."
        )

    readme = render_model_card(model, processor, evaluation, repo_id=repo_id, model_name=model_name,
                               dataset_ids=dataset_ids, training_summary=training_summary, template=template,
                               local_datasets=local_datasets or ())

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        _write_folder(model, processor, staging, readme, evaluation)
        verify_hub_ready(staging, model=model, processor=processor)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


def _write_folder(model, processor, folder: Path, readme: str, evaluation: CardEvaluation | None) -> None:
    auto_map = {k: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for k, cls in AUTO_MAP_CLASSES.items()}
    previous = getattr(model.config, "auto_map", None)
    model.config.auto_map = dict(auto_map)  # transformers adds the saved class's entry to what is already there
    try:
        # One unsharded safetensors file: the layout every Hub loader and the model card's size assume.
        model.save_pretrained(folder, max_shard_size="1000GB")
    finally:
        if previous is None:
            try:
                del model.config.auto_map
            except AttributeError:
                pass
        else:
            model.config.auto_map = previous
    if not (folder / "generation_config.json").is_file():
        from transformers import GenerationConfig

        GenerationConfig.from_model_config(model.config).save_pretrained(folder)
    processor.save_pretrained(folder)  # processor_config.json, audio_tokenizer/, processing + feature .py files
    processor.feature_extractor.save_pretrained(folder)  # preprocessor_config.json
    (folder / "README.md").write_text(readme, encoding="utf-8")
    (folder / ".gitattributes").write_text(HUB_GITATTRIBUTES, encoding="utf-8")
    if evaluation is not None:  # the numbers behind the card, readable by `load_card_evaluation`
        (folder / "eval_results.json").write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n", encoding="utf-8")


__all__ = [
    "AUTO_MAP_CLASSES",
    "CardEvaluation",
    "HUB_READY_FILES",
    "HubReadyError",
    "MODEL_CARD_TEMPLATE",
    "check_model_processor",
    "evaluate_for_card",
    "load_card_evaluation",
    "make_hub_ready",
    "read_run_config",
    "remote_code_files",
    "render_model_card",
    "render_template",
    "training_datasets",
    "verify_hub_ready",
]
