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
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import yaml

from whisper_gpt_hf import loading
from whisper_gpt_hf.assets import MODEL_CARD_TEMPLATE
from whisper_gpt_hf.publishing.card import (  # noqa: F401  (the card names callers of this module used)
    FRONT_MATTER,
    PLACEHOLDER,
    CardEvaluation,
    HubReadyError,
    evaluate_for_card,
    load_card_evaluation,
    read_run_config,
    portable_dataset_name,
    render_model_card,
    select_own_results,
    template_dataset_ids,
    training_datasets,
)
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
    if processor is None or isinstance(processor, (str, os.PathLike)):  # the model folder's own, else the default
        try:
            return loading.choose_processor(model_dir, str(processor) if processor is not None else None)[0]
        except FileNotFoundError as err:
            raise HubReadyError(f"No processor: {err} Pass the processor the model was trained with.") from err
    if getattr(processor, "feature_extractor", None) is not None and hasattr(processor, "audio_tokenizer"):
        # a remote-code processor class: rebuild it from the package's classes
        fe = WhisperGPTFeatureExtractor(**{k: v for k, v in processor.feature_extractor.to_dict().items()
                                           if k not in ("feature_extractor_type", "auto_map", "processor_class")})
        return WhisperGPTProcessor(fe, audio_tokenizer=processor.audio_tokenizer)
    raise HubReadyError(f"Expected a WhisperGPTProcessor or a folder, got {type(processor).__name__}.")


def check_model_processor(model: WhisperGPTForCausalLM, processor: WhisperGPTProcessor) -> None:
    """`whisper_gpt_hf.loading.check_model_processor` (mel channels, time grid, vocabulary), plus: a published model
    needs its codec. Raises `HubReadyError`."""
    if processor.audio_tokenizer is None:
        raise HubReadyError("The processor has no audio_tokenizer (codec); a published model needs its codec.")
    try:
        loading.check_model_processor(model, processor, "this model")
    except ValueError as err:
        raise HubReadyError(str(err)) from err


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
    match = FRONT_MATTER.match(readme)
    if match is None or not isinstance(yaml.safe_load(match.group(1)), dict):
        raise HubReadyError(f"{folder}/README.md: no YAML metadata block.")
    if PLACEHOLDER.search(readme):
        raise HubReadyError(f"{folder}/README.md: unfilled placeholder {PLACEHOLDER.search(readme).group(0)}.")
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
        evaluation = select_own_results(evaluation, model)
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
    "training_datasets",
    "verify_hub_ready",
]
