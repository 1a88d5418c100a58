"""Hub-ready folders (whisper_gpt_hf/publishing/folder.py), the MODEL_CARD.md template and the Accelerate-checkpoint converter."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from helpers import test_audio
from hub_helpers import (
    accelerate_checkpoint,
    card_evaluation,
    reference_logits,
    saved_model_dir,
    tiny_model,
    tiny_processor,
    write_audio_dataset,
)
from whisper_gpt_hf import WhisperGPTForCausalLM, WhisperGPTProcessor
from whisper_gpt_hf.cli import main as cli_main
from whisper_gpt_hf.conversion.convert_accelerate_checkpoint import (
    CheckpointKeyError,
    convert_accelerate_checkpoint,
    load_accelerate_checkpoint,
)
from whisper_gpt_hf.conversion.convert_encodec_checkpoint import CheckpointReadError
from whisper_gpt_hf.publishing.folder import (
    HUB_READY_FILES,
    MODEL_CARD_TEMPLATE,
    HubReadyError,
    load_card_evaluation,
    make_hub_ready,
    remote_code_files,
    verify_hub_ready,
)
from whisper_gpt_hf.publishing.card import render_model_template as render_template
from whisper_gpt_hf.publishing.card import template_placeholders

CARD_PLACEHOLDERS = {"model_name", "repo_id", "variant", "params", "model_details", "training_data", "eval_table"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hub_ready")


@pytest.fixture(scope="module")
def dataset(workdir) -> Path:
    return write_audio_dataset(workdir / "audio")


@pytest.fixture(scope="module")
def hybrid():
    return tiny_model(seed=0), tiny_processor()


@pytest.fixture(scope="module")
def hybrid_eval(hybrid, dataset):
    return card_evaluation(*hybrid, dataset)


@pytest.fixture(scope="module")
def hub_folder(workdir, hybrid, hybrid_eval) -> Path:
    model, processor = hybrid
    return make_hub_ready(model, processor, workdir / "hybrid-hub", eval_results=hybrid_eval, repo_id="org/tiny-hybrid")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------------- the template


def test_template_is_a_readable_card_with_metadata():
    text = MODEL_CARD_TEMPLATE.read_text()
    meta = yaml.safe_load(re.match(r"\A---\n(.*?)\n---\n", text, re.S).group(1))
    assert meta["library_name"] == "transformers"
    assert meta["license"] == "apache-2.0"
    assert {"audio", "audio-language-model", "encodec", "whisper-gpt"} <= set(meta["tags"])
    assert set(meta["metrics"]) == {"perplexity", "accuracy"}
    assert meta["pipeline_tag"] and meta["datasets"]
    for section in ("Model details", "Intended use", "Metrics", "Training data", "Evaluation results",
                    "Limitations and biases", "How to use"):
        assert f"\n## {section}\n" in text, section
    assert template_placeholders(text) == CARD_PLACEHOLDERS
    # per-checkpoint values live in marked blocks (the rest of the file is the repository's own card)
    assert text.count("<!-- BEGIN per-checkpoint") == text.count("<!-- END per-checkpoint") == 3


def test_render_template_refuses_holes():
    with pytest.raises(HubReadyError, match="eval_table"):
        render_template("a {{ eval_table }} b", {"eval_table": ""})
    with pytest.raises(HubReadyError, match="nonsense"):
        render_template("{{ nonsense }}", {})
    assert render_template("<!-- template: gone -->\nx={{ a }}", {"a": "1"}) == "x=1"


# ---------------------------------------------------------------------------------------------------- the folder


def test_hub_folder_has_every_file(hub_folder):
    files = _files(hub_folder)
    assert set(HUB_READY_FILES) <= files
    assert set(remote_code_files()) <= files
    assert "eval_results.json" in files
    assert not any(name.startswith(".") and name != ".gitattributes" for name in files)  # no staging leftovers
    assert not list(hub_folder.parent.glob(".hybrid-hub.*"))
    assert "*.safetensors filter=lfs" in (hub_folder / ".gitattributes").read_text()


def test_config_has_complete_auto_map(hub_folder):
    config = json.loads((hub_folder / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_whisper_gpt.WhisperGPTConfig",
        "AutoModel": "modeling_whisper_gpt.WhisperGPTModel",
        "AutoModelForCausalLM": "modeling_whisper_gpt.WhisperGPTForCausalLM",
    }
    processor_config = json.loads((hub_folder / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_whisper_gpt.WhisperGPTProcessor"
    assert processor_config["codec_source"] == {"subfolder": "audio_tokenizer"}
    assert json.loads((hub_folder / "preprocessor_config.json").read_text())["feature_size"] == 16


def test_folder_reloads_with_identical_outputs(hub_folder, hybrid):
    model, processor = hybrid
    audio = test_audio(0.7, seed=5)
    ids, logits = reference_logits(model, processor, audio)
    model2 = WhisperGPTForCausalLM.from_pretrained(hub_folder).eval()
    processor2 = WhisperGPTProcessor.from_pretrained(hub_folder)
    ids2, logits2 = reference_logits(model2, processor2, audio)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(logits, logits2)
    assert getattr(model.config, "auto_map", None) in (None, {})  # the caller's model is left as it was


def test_card_carries_the_real_evaluation_numbers(hub_folder, hybrid_eval, hybrid):
    model, _ = hybrid
    readme = (hub_folder / "README.md").read_text()
    assert "{{" not in readme and "template:" not in readme
    result = hybrid_eval.results[0]
    assert result.num_tokens > 0 and np.isfinite(result.nll)
    # the table: a row per category with the parameter count next to the numbers
    for category, numbers in result.rows().items():
        assert re.search(
            rf"\| {re.escape(category)} \| {numbers.num_tokens} \| {numbers.nll:.4f} \| {numbers.ppl:.3f} \| "
            rf"{100 * numbers.accuracy:.2f} % \|", readme
        ), category
    assert "13.5k" in readme and f"{model.num_parameters():,}" in readme
    assert "org/tiny-hybrid" in readme  # usage snippet
    card = ModelCard(readme)  # the Hub's own parser
    assert card.data.library_name == "transformers"
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values["perplexity"] == pytest.approx(result.ppl, abs=1e-4)
    assert values["accuracy"] == pytest.approx(result.accuracy, abs=1e-4)
    assert card.data.eval_results[0].dataset_split == "test"
    # eval_results.json round-trips into the same numbers
    again = load_card_evaluation(hub_folder / "eval_results.json").results[0]
    assert again.nll == pytest.approx(result.nll) and again.num_tokens == result.num_tokens


def test_refuses_numbers_of_another_model(workdir, hybrid, hybrid_eval):
    token_only = tiny_model(use_spectrogram=False)
    with pytest.raises(HubReadyError, match="None of the evaluation results belongs"):
        make_hub_ready(token_only, hybrid[1], workdir / "wrong-numbers", eval_results=hybrid_eval)
    with pytest.raises(HubReadyError, match="No evaluation numbers"):
        make_hub_ready(token_only, hybrid[1], workdir / "no-numbers")
    assert not (workdir / "wrong-numbers").exists() and not (workdir / "no-numbers").exists()


def test_refuses_a_processor_of_another_model(workdir, hybrid):
    with pytest.raises(HubReadyError, match="mel channels"):
        make_hub_ready(tiny_model(n_mels=8), hybrid[1], workdir / "mismatch", require_eval=False)


def test_refuses_to_overwrite(hub_folder, hybrid):
    with pytest.raises(HubReadyError, match="not empty"):
        make_hub_ready(*hybrid, hub_folder, require_eval=False)


def test_tied_token_only_model_from_a_saved_folder_via_cli(workdir, hybrid, dataset, capsys):
    """`whisper-gpt convert hub-ready` on a plain save_pretrained folder (processor + eval_results.json inside)."""
    model = tiny_model(use_spectrogram=False, tie_word_embeddings=True, token_embedding_size=16)
    processor = hybrid[1]
    saved = saved_model_dir(workdir / "gpt-saved", model, processor, card_evaluation(model, processor, dataset))
    out = workdir / "gpt-hub"
    assert cli_main(["convert", "hub-ready", "--model", str(saved), "--output", str(out)]) == 0
    assert "wrote the Hub-ready folder" in capsys.readouterr().out
    verify_hub_ready(out, model=model, processor=processor)
    reloaded = WhisperGPTForCausalLM.from_pretrained(out)
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr()
    readme = (out / "README.md").read_text()
    assert "token-only" in readme and "| all |" in readme


def test_verify_names_a_broken_folder(hub_folder, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(hub_folder, broken)
    (broken / "generation_whisper_gpt.py").unlink()
    with pytest.raises(HubReadyError, match="generation_whisper_gpt.py"):
        verify_hub_ready(broken)
    shutil.copy(hub_folder / "generation_whisper_gpt.py", broken)
    source = (broken / "modeling_whisper_gpt.py").read_text()
    (broken / "modeling_whisper_gpt.py").write_text("from ..common import x\n" + source)
    with pytest.raises(HubReadyError, match="flat remote-code folder"):
        verify_hub_ready(broken)


# ---------------------------------------------------------------------------------------------------- Accelerate


@pytest.fixture(scope="module")
def checkpoint(workdir):
    model = tiny_model(seed=7)
    return accelerate_checkpoint(workdir / "run", model), model


def test_accelerate_checkpoint_to_hub_ready(checkpoint, workdir, hybrid, dataset):
    ckpt, model = checkpoint
    processor = hybrid[1]
    out = convert_accelerate_checkpoint(ckpt, workdir / "from-ckpt", processor=processor,
                                        eval_results=card_evaluation(model, processor, dataset))
    verify_hub_ready(out, model=model, processor=processor)
    reloaded = WhisperGPTForCausalLM.from_pretrained(out)
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key
    assert "# WHISPER-GPT: run" in (out / "README.md").read_text()  # named after the run folder


def test_accelerate_checkpoint_cli(checkpoint, workdir, hybrid, dataset, capsys):
    ckpt, model = checkpoint
    processor_dir = workdir / "proc"
    hybrid[1].save_pretrained(processor_dir)
    results = workdir / "ckpt-eval.json"
    results.write_text(json.dumps(card_evaluation(model, hybrid[1], dataset).to_dict()))
    out = workdir / "from-ckpt-cli"
    code = cli_main(["convert", "checkpoint", "--checkpoint", str(ckpt), "--output", str(out),
                     "--processor", str(processor_dir), "--eval-results", str(results), "--repo-id", "org/x"])
    assert code == 0, capsys.readouterr().err
    verify_hub_ready(out, model=model)


def _write_state(ckpt_dir: Path, state: dict) -> None:
    ckpt_dir.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(ckpt_dir / "model.safetensors"))


def test_checkpoint_key_mismatch_names_the_keys(checkpoint, tmp_path, capsys):
    ckpt, model = checkpoint
    state = load_file(str(ckpt / "model.safetensors"))
    (tmp_path / "config.json").write_text((ckpt.parent / "config.json").read_text())

    extra = dict(state, **{"model.surprise.weight": torch.zeros(2)})
    _write_state(tmp_path / "checkpoint-extra", extra)
    with pytest.raises(CheckpointKeyError, match=r"unexpected key\(s\): model\.surprise\.weight"):
        load_accelerate_checkpoint(tmp_path / "checkpoint-extra")

    missing = {k: v for k, v in state.items() if k != "model.norm.weight"}
    _write_state(tmp_path / "checkpoint-missing", missing)
    code = cli_main(["convert", "checkpoint", "--checkpoint", str(tmp_path / "checkpoint-missing"),
                     "--output", str(tmp_path / "out"), "--no-eval"])
    assert code == 1
    err = capsys.readouterr().err
    assert "missing key(s): model.norm.weight" in err
    assert not (tmp_path / "out").exists()

    wrong = dict(state, **{"lm_head.weight": torch.zeros(3, 3)})
    _write_state(tmp_path / "checkpoint-shape", wrong)
    with pytest.raises(CheckpointKeyError, match=r"lm_head\.weight \(checkpoint \(3, 3\)"):
        load_accelerate_checkpoint(tmp_path / "checkpoint-shape")

    prefixed = {f"module._orig_mod.{k}": v for k, v in state.items()}  # DDP + torch.compile wrappers
    _write_state(tmp_path / "checkpoint-wrapped", prefixed)
    loaded = load_accelerate_checkpoint(tmp_path / "checkpoint-wrapped")
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)


class _RunsCode:
    def __reduce__(self):
        return (print, ("pwned",))


def test_unsafe_or_truncated_weights_are_refused(checkpoint, tmp_path):
    ckpt, model = checkpoint
    (tmp_path / "config.json").write_text((ckpt.parent / "config.json").read_text())

    evil = tmp_path / "checkpoint-evil"
    evil.mkdir()
    with open(evil / "pytorch_model.bin", "wb") as f:
        pickle.dump({"model.norm.weight": _RunsCode()}, f, protocol=2)
    with pytest.raises(CheckpointReadError, match="pytorch_model.bin: refused"):
        load_accelerate_checkpoint(evil)

    bin_ok = tmp_path / "checkpoint-bin"
    bin_ok.mkdir()
    torch.save(model.state_dict(), bin_ok / "pytorch_model.bin")
    assert torch.equal(load_accelerate_checkpoint(bin_ok).lm_head.weight, model.lm_head.weight)

    truncated = tmp_path / "checkpoint-truncated"
    truncated.mkdir()
    data = (ckpt / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointReadError, match=r"checkpoint-truncated/model\.safetensors"):
        load_accelerate_checkpoint(truncated)

    empty = tmp_path / "checkpoint-empty"
    empty.mkdir()
    with pytest.raises(CheckpointReadError, match="no model.safetensors"):
        load_accelerate_checkpoint(empty)


def test_checkpoints_of_a_real_training_run(workdir, dataset, hybrid):
    """`whisper-gpt train` checkpoints: with the final model's config.json, and (a killed run) with only
    run_config.json, from which the converter rebuilds the model as training did."""
    import shutil


    processor = hybrid[1]
    start = saved_model_dir(workdir / "finetune-start", tiny_model(seed=11), processor)
    run = workdir / "train-run"
    cli_main(["train", "--model", str(start), "--dataset", str(dataset), "--output-dir", str(run), "--max-steps", "2",
                   "--save-every", "1", "--batch-size", "2", "--window-frames", "32", "--eval-split", "",
                   "--report-to", "none", "--data-cache-dir", "", "--warmup-steps", "0", "--log-every", "1"])
    final = WhisperGPTForCausalLM.from_pretrained(run)
    out = convert_accelerate_checkpoint(run / "checkpoint-2", workdir / "train-run-hub", require_eval=False)
    verify_hub_ready(out, model=final)
    card = (out / "README.md").read_text()
    assert "`checkpoint-2` (optimizer step 2 of 2)" in card and "trained from `finetune-start` on `audio`" in card
    assert str(workdir) not in card

    killed = workdir / "killed-run"  # what a run killed after its first checkpoint leaves behind
    killed.mkdir()
    shutil.copy(run / "run_config.json", killed)
    shutil.copytree(run / "checkpoint-1", killed / "checkpoint-1")
    model = load_accelerate_checkpoint(killed / "checkpoint-1")
    saved = load_file(str(run / "checkpoint-1" / "model.safetensors"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert not torch.equal(model.lm_head.weight, final.lm_head.weight)  # step 1 is not the final model
    assert model.config.to_diff_dict() == final.config.to_diff_dict()


def test_a_folder_without_the_head_is_refused(workdir, hybrid):
    base_dir = workdir / "base-only"
    hybrid[0].model.save_pretrained(base_dir)  # a WhisperGPTModel: loading the causal LM would invent lm_head
    with pytest.raises(HubReadyError, match="missing keys: lm_head.weight"):
        make_hub_ready(base_dir, hybrid[1], workdir / "base-hub", require_eval=False)


def test_parity_check_catches_a_changed_tensor(hub_folder, hybrid):
    from whisper_gpt_hf.conversion.convert_accelerate_checkpoint import check_parity
    from whisper_gpt_hf.conversion.convert_encodec_checkpoint import ConversionError

    state = {k: v.clone() for k, v in hybrid[0].state_dict().items()}
    check_parity(state, "the source", hub_folder)
    state["model.norm.bias"] += 1e-6
    with pytest.raises(ConversionError, match="tensors differ: model.norm.bias"):
        check_parity(state, "the source", hub_folder)


# ---------------------------------------------------------------------------------------------------- the card's data and usage


def _card_section(readme: str, title: str) -> str:
    return readme.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "recorded, hub_ids, trained_on",
    [
        ("org/other-corpus", ["org/other-corpus"], "[`org/other-corpus`](https://huggingface.co/datasets/org/other-corpus)"),
        ("hub/whisper-gpt-corpus-small", ["whisper-gpt-hf/whisper-gpt-corpus-small"],
         "[`whisper-gpt-hf/whisper-gpt-corpus-small`]"),  # the embedded copy of a published dataset
        ("LOCAL", None, "the local dataset `audio` (not on the Hub)"),
    ],
    ids=["hub-id", "embedded-corpus", "local-folder"],
)
def test_card_names_the_runs_own_training_data(workdir, hybrid, dataset, recorded, hub_ids, trained_on):
    model, processor = hybrid
    folder = saved_model_dir(workdir / f"run-{hash(recorded) & 0xffff}", model, processor)
    (folder / "run_config.json").write_text(json.dumps({"dataset": str(dataset) if recorded == "LOCAL" else recorded}))
    out = make_hub_ready(folder, output_dir=folder.parent / f"{folder.name}-hub", require_eval=False, overwrite=True)
    readme = (out / "README.md").read_text()
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert meta.get("datasets") == hub_ids
    training = _card_section(readme, "Training data")
    assert f"Trained on {trained_on}" in training
    template_ids = yaml.safe_load(MODEL_CARD_TEMPLATE.read_text().split("---\n")[1])["datasets"]
    if recorded != "hub/whisper-gpt-corpus-small":
        assert not any(t in training for t in template_ids)


def test_card_counts_are_grammatical(workdir, hybrid):
    model = tiny_model(num_hidden_layers=1, spectrogram_num_layers=1, num_attention_heads=1, spectrogram_num_heads=1)
    out = make_hub_ready(model, hybrid[1], workdir / "one-layer", require_eval=False)
    details = _card_section((out / "README.md").read_text(), "Model details")
    assert "1 layer," in details and "1 causal block," in details and "1 head," in details
    assert not re.search(r"\b1 (layers|heads|causal blocks)\b", details)


def test_the_cards_usage_lines_run(workdir, hybrid, dataset, tmp_path):
    """Every usage line of the rendered card, as a user would paste it: the Python snippet in a fresh process
    (trust_remote_code, repo_id = the folder), then the two command lines."""
    import shlex
    import subprocess
    import sys

    import soundfile as sf

    model, processor = hybrid
    out = make_hub_ready(model, processor, workdir / "usage-hub", require_eval=False, repo_id="REPO")
    readme = (out / "README.md").read_text().replace("REPO", str(out))
    usage = _card_section(readme, "How to use")
    python, *more_python = re.findall(r"```python\n(.*?)```", usage, re.S)
    commands = [line for line in usage.split("```bash\n", 1)[1].split("```", 1)[0].splitlines() if line.strip()]
    assert "continue_audio(" in python and "sf.write(" in python  # the snippet makes audio, not only logits
    assert [shlex.split(c)[:2] for c in commands] == [["whisper-gpt", "generate"], ["whisper-gpt", "evaluate"]]

    run = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    audio, rate = sf.read(tmp_path / "continuation.wav")
    assert rate == 24_000 and audio.shape == (72_000,)  # 1 s prompt (75 whole frames) + 2 s
    assert np.abs(audio[24_000:]).max() > 0

    sf.write(tmp_path / "prompt.wav", test_audio(0.5), 24_000)
    for block in more_python:  # e.g. the audio-continuation pipeline, on prompt.wav
        check = "\nassert out['sampling_rate'] == 24_000 and out['audio'].size > 0\n" if "pipe(" in block else ""
        run = subprocess.run([sys.executable, "-c", block + check], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
    generate = shlex.split(commands[0].replace("prompt.wav", str(tmp_path / "prompt.wav"))
                           .replace("continuation.wav", str(tmp_path / "cli.wav")))
    assert "--seconds" in generate
    assert cli_main(generate[1:]) == 0
    assert sf.info(str(tmp_path / "cli.wav")).duration == pytest.approx(0.5 + 3, abs=2 / 75)
    evaluate = shlex.split(commands[1].replace("DATASET", str(dataset)))
    assert cli_main(evaluate[1:] + ["--split", "test"]) == 0
