"""Strict checkpoint loading and processor choice (`whisper_gpt_hf.loading`), through the API and the `generate` /
`evaluate` verbs: the reliability probe's broken-checkpoint rows (3.04-3.08, 3.15-3.22, 3.25, 1.77) and issue 12's
"right processor" rule. Every case checks the error names the key / the type / the fix, or the value used."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from helpers import SR, test_audio, tiny_model, tiny_processor
from safetensors.torch import load_file, save_file

from whisper_gpt_hf.loading import (
    check_model_processor,
    choose_processor,
    load_model,
    load_model_and_processor,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny hybrid saved with its own processor, and one saved without a processor."""
    root = tmp_path_factory.mktemp("loading")
    model = tiny_model()
    model.save_pretrained(root / "with_processor")
    tiny_processor().save_pretrained(root / "with_processor")
    model.save_pretrained(root / "bare")
    return root, model


def copy_model(src: Path, dst: Path, drop: str | None = None, add: dict | None = None, nan: str | None = None,
               config: dict | None = None) -> Path:
    """A copy of a saved model with one tensor removed / added / set to NaN, or config.json values replaced."""
    dst.mkdir()
    weights = load_file(str(src / "model.safetensors"))
    if drop:
        del weights[drop]
    if nan:
        weights[nan] = torch.full_like(weights[nan], float("nan"))
    weights.update(add or {})
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(config or {})
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def test_a_complete_checkpoint_loads_with_identical_logits(saved):
    root, model = saved
    loaded = load_model(root / "bare")
    ids = torch.randint(0, 64, (1, 20))
    feats = torch.randn(1, 20, 16)
    torch.testing.assert_close(loaded(input_ids=ids, input_features=feats).logits,
                               model(input_ids=ids, input_features=feats).logits, rtol=0, atol=0)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(drop="lm_head.weight"), r"missing keys: lm_head\.weight"),
        (dict(drop="model.layers.1.ln_attn.bias"), r"missing keys: model\.layers\.1\.ln_attn\.bias"),
        (dict(add={"model.extra.weight": torch.zeros(3)}), r"unexpected keys: model\.extra\.weight"),
        (dict(nan="lm_head.weight"), r"non-finite .*lm_head\.weight"),
        (dict(config={"use_spectrogram": "false"}), r"use_spectrogram must be bool, got str 'false'"),
        (dict(config={"hidden_size": "16"}), r"hidden_size must be int, got str"),
        (dict(config={"num_hidden_layers": 2.0}), r"num_hidden_layers must be int, got float 2\.0"),
        (dict(config={"vocab_size": None}), r"vocab_size must be int, got NoneType"),
        (dict(config={"dropout": "0.1"}), r"dropout must be int or float, got str"),
        (dict(config={"activation_function": "nope"}), r"activation_function='nope' is not a transformers activation"),
        (dict(config={"num_attention_heads": 0}), r"num_attention_heads must be positive"),
        (dict(config={"num_attention_heads": -2}), r"num_attention_heads must be positive"),
        (dict(config={"model_type": "gpt2"}), r"model_type 'gpt2'"),
    ],
)
def test_broken_checkpoints_are_refused_naming_the_problem(saved, tmp_path, change, match):
    root, _ = saved
    if change.get("drop"):
        assert change["drop"] in load_file(str(root / "bare" / "model.safetensors"))  # really there before
    broken = copy_model(root / "bare", tmp_path / "broken", **change)
    with pytest.raises(ValueError, match=match):
        load_model(broken)


def test_use_spectrogram_false_string_on_a_token_only_checkpoint_is_refused(tmp_path):
    """Probe 3.22: the truthy string built a hybrid with a random branch; now the key and its type are named."""
    model = tiny_model(use_spectrogram=False)
    model.save_pretrained(tmp_path / "gpt")
    broken = copy_model(tmp_path / "gpt", tmp_path / "broken", config={"use_spectrogram": "false"})
    with pytest.raises(ValueError, match="use_spectrogram must be bool"):
        load_model(broken)
    assert load_model(tmp_path / "gpt").config.use_spectrogram is False


def test_overrides_are_type_checked_too(saved):
    root, _ = saved
    with pytest.raises(ValueError, match="dropout must be int or float"):
        load_model(root / "bare", dropout="0.0")
    assert load_model(root / "bare", dropout=0.0).config.dropout == 0.0


@pytest.mark.parametrize("path", ["./no-such-model", "/no/such/model", "tests/no-such-model"])
def test_a_local_path_typo_says_the_folder_does_not_exist(path):
    """Probe 1.77: 'Repo id must be in the form ...' for a local typo."""
    with pytest.raises(FileNotFoundError, match="no such local folder"):
        load_model(path)


def test_a_folder_without_config_points_at_convert(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="convert checkpoint"):
        load_model(tmp_path)


def test_processor_choice_explicit_then_own_then_default(saved, tmp_path):
    root, _ = saved
    own, source = choose_processor(str(root / "with_processor"))
    assert "the model's own" in source and own.audio_tokenizer.config.codebook_size == 64
    default, source = choose_processor(str(root / "bare"))
    assert "embedded default" in source and "has no processor_config.json" in source
    explicit, source = choose_processor(str(root / "bare"), str(root / "with_processor"))
    assert "--processor" in source and explicit.feature_extractor.feature_size == 16
    with pytest.raises(FileNotFoundError):
        choose_processor(str(root / "bare"), str(tmp_path / "nope"))


def test_a_processor_that_does_not_fit_the_model_is_refused(saved):
    """The default processor makes 64 mel bins and 1024 codes; the tiny model reads 16 and 64."""
    root, model = saved
    with pytest.raises(ValueError, match="16 mel.*|mel channels"):
        load_model_and_processor(str(root / "bare"))
    with pytest.raises(ValueError, match="hop 160"):
        shifted = tiny_model(codec_hop_length=160)
        check_model_processor(shifted, tiny_processor())
    model2, processor, source = load_model_and_processor(str(root / "with_processor"))
    assert "the model's own" in source and model2.config.vocab_size == 64


def test_hub_model_uses_its_own_processor(saved, tmp_path, monkeypatch):
    """A Hub repo id that ships processor_config.json gets its own processor, not the embedded default: served from
    the local Hub cache layout (offline), as `from_pretrained(repo_id)` reads it."""
    root, _ = saved
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    snapshot = cache / "models--someone--tiny" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for item in (root / "with_processor").rglob("*"):
        if item.is_file():
            target = snapshot / item.relative_to(root / "with_processor")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    (cache / "models--someone--tiny" / "refs").mkdir()
    (cache / "models--someone--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        model, processor, source = load_model_and_processor("someone/tiny", None)
    except OSError as err:  # the cache location is read at import time by some versions
        pytest.skip(f"Hub cache redirection not honoured here: {err}")
    assert source == "someone/tiny (the model's own)"
    assert processor.feature_extractor.feature_size == 16 and model.config.vocab_size == 64


# ---------------------------------------------------------------------------------------------------- the verbs
def generate_args(**kw) -> argparse.Namespace:
    """The `generate` verb's own parser (so new flags keep their defaults), then the test's values."""
    from whisper_gpt_hf.cli.generate import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["generate", "--model", "m", "--prompt", "p", "--seconds", "0.1", "--output", "o",
                              "--greedy", "--threads", "1"])
    for key, value in kw.items():
        setattr(args, key, value)
    return args


def test_generate_refuses_to_write_over_the_prompt(saved, tmp_path):
    """Probe 1.78: the prompt WAV was overwritten; now refused before any work, the file byte-identical."""
    from whisper_gpt_hf.cli.generate import generate_file

    root, _ = saved
    prompt = tmp_path / "prompt.wav"
    sf.write(prompt, test_audio(0.2), SR)
    before = prompt.read_bytes()
    for output in (prompt, tmp_path / "." / "prompt.wav"):
        with pytest.raises(ValueError, match="is the --prompt file"):
            generate_file(generate_args(model=str(root / "with_processor"), prompt=str(prompt), output=str(output)))
    os.link(prompt, tmp_path / "hardlink.wav")
    with pytest.raises(ValueError, match="is the --prompt file"):
        generate_file(generate_args(model=str(root / "with_processor"), prompt=str(prompt),
                                    output=str(tmp_path / "hardlink.wav")))
    assert prompt.read_bytes() == before


def test_generate_refuses_bad_paths_and_seconds(saved, tmp_path):
    from whisper_gpt_hf.cli.generate import generate_file

    root, _ = saved
    prompt = tmp_path / "prompt.wav"
    sf.write(prompt, test_audio(0.2), SR)
    model = str(root / "with_processor")
    with pytest.raises(FileNotFoundError, match="does not exist"):  # probe 1.67
        generate_file(generate_args(model=model, prompt=str(tmp_path / "nope.wav"), output=str(tmp_path / "o.wav")))
    with pytest.raises(IsADirectoryError, match="is a folder"):  # probe 1.76
        generate_file(generate_args(model=model, prompt=str(prompt), output=str(tmp_path)))
    for kw in (dict(prompt_seconds=-1.0), dict(prompt_seconds=0.0), dict(seconds=float("nan")), dict(seconds=0.0)):
        with pytest.raises(ValueError, match="must be a positive number"):  # probe 1.74, 1.54
            generate_file(generate_args(model=model, prompt=str(prompt), output=str(tmp_path / "o.wav"), **kw))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompt.wav"]  # nothing written, no stray temp file


def test_generate_says_which_processor_it_used(saved, tmp_path, capsys):
    from whisper_gpt_hf.cli.generate import generate_file

    root, _ = saved
    prompt = tmp_path / "prompt.wav"
    sf.write(prompt, test_audio(0.2), SR)
    out = tmp_path / "out" / "gen.wav"
    assert generate_file(generate_args(model=str(root / "with_processor"), prompt=str(prompt), output=str(out))) == 0
    assert f"processor: {root / 'with_processor'} (the model's own)" in capsys.readouterr().out
    audio, rate = sf.read(out)
    assert rate == SR and len(audio) >= 0.2 * SR + 0.1 * SR - 320
    assert sorted(p.name for p in out.parent.iterdir()) == ["gen.wav"]


def test_generate_refuses_a_checkpoint_without_its_head(saved, tmp_path):
    """Probe 3.05: audio from a randomly initialised head, exit 0."""
    from whisper_gpt_hf.cli.generate import generate_file

    root, _ = saved
    broken = copy_model(root / "with_processor", tmp_path / "broken", drop="lm_head.weight")
    tiny_processor().save_pretrained(broken)
    prompt = tmp_path / "prompt.wav"
    sf.write(prompt, test_audio(0.2), SR)
    with pytest.raises(ValueError, match=r"missing keys: lm_head\.weight"):
        generate_file(generate_args(model=str(broken), prompt=str(prompt), output=str(tmp_path / "o.wav")))
    assert not (tmp_path / "o.wav").exists()


def test_evaluate_cli_on_a_checkpoint_without_lm_head_exits_non_zero_naming_the_key(saved, tmp_path):
    """Probe 3.06 through the installed entry point: non-zero exit and the key named (was NLL 6.96 at chance)."""
    root, _ = saved
    broken = copy_model(root / "with_processor", tmp_path / "broken", drop="lm_head.weight")
    tiny_processor().save_pretrained(broken)
    (tmp_path / "data" / "test").mkdir(parents=True)
    sf.write(tmp_path / "data" / "test" / "a.wav", test_audio(0.5), SR)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "whisper_gpt_hf.cli", "evaluate", "--model", str(broken),
                           "--dataset", str(tmp_path / "data"), "--split", "test", "--json"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode != 0
    assert "lm_head.weight" in proc.stderr and '"nll"' not in proc.stdout


def test_evaluate_max_windows_zero_is_refused():
    """Probe 6.05: `--max-windows 0` meant 'no limit' and scored every window."""
    from whisper_gpt_hf.cli.evaluate import evaluate_command

    args = argparse.Namespace(threads=None, batch_size=8, max_windows=0, model="unused", processor=None)
    with pytest.raises(ValueError, match="--max-windows must be >= 1"):
        evaluate_command(args)


# ---------------------------------------------------------------------------------------------------- processor folders
def test_processor_folder_without_its_codec_says_so(tmp_path):
    """Probe 3.30: 'Unrecognized model ... Should have a model_type key' for a missing audio_tokenizer/."""
    import shutil

    from whisper_gpt_hf import WhisperGPTProcessor

    tiny_processor().save_pretrained(tmp_path / "proc")
    shutil.rmtree(tmp_path / "proc" / "audio_tokenizer")
    with pytest.raises(FileNotFoundError, match=r"codec in audio_tokenizer/.*config\.json is missing"):
        WhisperGPTProcessor.from_pretrained(tmp_path / "proc")


@pytest.mark.parametrize("subfolder", ["../other/audio_tokenizer", "/etc", "a/../../b"])
def test_processor_codec_subfolder_cannot_leave_the_folder(tmp_path, subfolder):
    """Probe 3.36: codec_source.subfolder = '../..' loaded a codec from outside the processor folder."""
    from whisper_gpt_hf import WhisperGPTProcessor

    tiny_processor().save_pretrained(tmp_path / "proc")
    tiny_processor().save_pretrained(tmp_path / "other")
    config_path = tmp_path / "proc" / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["codec_source"] = {"subfolder": subfolder}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="leaves the processor folder"):
        WhisperGPTProcessor.from_pretrained(tmp_path / "proc")


def test_batch_decode_of_zero_frames_is_a_clear_error():
    """Probe 1.42: 'Kernel size can't be greater than actual input size'."""
    with pytest.raises(ValueError, match="no frame to decode"):
        tiny_processor().batch_decode(torch.zeros(1, 0, dtype=torch.long))
