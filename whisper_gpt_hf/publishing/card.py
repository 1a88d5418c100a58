"""Card templates: Markdown files filled with one checkpoint's or corpus's values. One mechanism for every card.

The templates sit next to the model card at the repository root (in a wheel: ``whisper_gpt_hf/embedded/``):

- ``MODEL_CARD.md``           the model card, rendered here by ``render_model_card`` (with the checkpoint's details,
  its evaluation numbers (``CardEvaluation``) and the training data its run recorded)
- ``cards/codec.md``          a trained codec (``whisper_gpt_hf.audio.codec``)
- ``cards/processor.md``      the default processor that bundles it (``whisper_gpt_hf.audio.codec``)
- ``cards/dataset.md``        a synthetic corpus (``whisper_gpt_hf.audio.corpus``), with ``cards/dataset_how.md`` or
  ``cards/dataset_how_held_out.md`` as its "How it was made" part

Every ``{{ name }}`` is replaced by its value; a name without a value is an error (a card never ships with holes)
unless the caller lists it as optional; ``<!-- template: ... -->`` comments (notes for the template's editors) are
dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from whisper_gpt_hf.assets import (
    ASSETS_ROOT,
    CARD_TEMPLATES_DIR,
    MODEL_CARD_TEMPLATE,
    REPO_ROOT,
)
from whisper_gpt_hf.evaluation import (
    EvalResult,
    evaluate_model,
    format_params,
    prepare_for_scoring,
    results_table,
)
from whisper_gpt_hf.modeling import WhisperGPTForCausalLM, WhisperGPTProcessor

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TEMPLATE_COMMENT = re.compile(r"<!--\s*template:.*?-->\n?", re.S)


class CardTemplateError(ValueError):
    """A template names a value that was not given (or given empty)."""


def template_placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(TEMPLATE_COMMENT.sub("", template)))


def render_template(template: str, values: Mapping[str, object], optional: Collection[str] = ()) -> str:
    """Replace every `{{ name }}` with `values[name]`; a missing or empty value raises unless `name` is optional."""
    body = TEMPLATE_COMMENT.sub("", template)
    missing = sorted(name for name in set(PLACEHOLDER.findall(body))
                     if values.get(name) is None or (values.get(name) == "" and name not in optional))
    if missing:
        raise CardTemplateError(f"The card template needs values for: {', '.join(missing)}.")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body)


def card_template(name: str) -> str:
    """The text of `cards/<name>.md`."""
    path = CARD_TEMPLATES_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"The card template {path} is missing; reinstall the package (the wheel ships it in "
                                "whisper_gpt_hf/embedded/cards/) or restore cards/ in the checkout.")
    return path.read_text(encoding="utf-8")


def render_card(name: str, values: Mapping[str, object], optional: Collection[str] = ()) -> str:
    """`cards/<name>.md` filled with `values`."""
    return render_template(card_template(name), values, optional)


class HubReadyError(Exception):
    """The model, processor, evaluation numbers or output folder cannot make a consistent Hub-ready folder."""



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




def load_card_evaluation(source) -> CardEvaluation:
    """Accept a `CardEvaluation`, the JSON (dict or file path) of `whisper-gpt evaluate --json` or of
    `CardEvaluation.to_dict`, or bare `EvalResult`(s) (dataset then "unknown")."""
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
            [r if isinstance(r, EvalResult) else EvalResult.from_dict(r) for r in source["results"]],
            dataset=str(source.get("dataset", "unknown")),
            split=str(source.get("split", "unknown")),
            window_frames=source.get("window_frames"),
            dataset_id=source.get("dataset_id"),
        )
    if isinstance(source, Mapping) and "nll" in source:
        return CardEvaluation([EvalResult.from_dict(source)], dataset="unknown", split="unknown")
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
    window = min(window_frames, model.config.max_position_embeddings)
    prepared, _report = prepare_for_scoring(
        processor, dataset, split, window_frames=window, max_windows=max_windows or None,
        dataset_config=dataset_config, audio_column=audio_column, category_column=category_column,
        progress=progress, **load_kwargs,
    )
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



def select_own_results(evaluation: CardEvaluation, model: WhisperGPTForCausalLM) -> CardEvaluation:
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




def eval_table_markdown(evaluation: CardEvaluation | None, model_name: str) -> str:
    """The per-checkpoint evaluation section: where it was measured and the results table (one row per category)."""
    if evaluation is None:
        return "This checkpoint was published without evaluation numbers."
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






FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)



def render_model_template(template: str, values: Mapping[str, str]) -> str:
    """`render_template` for the model card: a missing value raises `HubReadyError` (a card never ships with holes)."""
    try:
        return render_template(template, values)
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
    match = FRONT_MATTER.match(text)
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
    body = render_model_template(text[match.end():], values)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.lstrip()}"


__all__ = [
    "CardEvaluation",
    "CardTemplateError",
    "HubReadyError",
    "card_template",
    "load_card_evaluation",
    "evaluate_for_card",
    "read_run_config",
    "render_card",
    "render_model_card",
    "render_model_template",
    "render_template",
    "template_dataset_ids",
    "template_placeholders",
    "training_datasets",
]
