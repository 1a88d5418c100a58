"""The small-codec trainer: a tiny run lowers the loss, resumes from its checkpoints (safetensors + JSON), and a
resumed run equals an uninterrupted one; the continuous step."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import EncodecModel

from whisper_gpt_hf.assets import CORPUS_SMALL, require
from whisper_gpt_hf.audio.codec import train as ct
from whisper_gpt_hf.audio.codec.arguments import parse_arguments
from whisper_gpt_hf.audio.codec.losses import MultiScaleMelLoss
from whisper_gpt_hf.audio.codec.quantization import init_codebooks_kmeans
from whisper_gpt_hf.training.checkpointing import CheckpointReadError


def _args(tmp_path, **overrides):
    argv = [
        "--dataset", str(require(CORPUS_SMALL, "The small corpus")), "--output-dir", str(tmp_path / "codec"),
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--max-steps", "24", "--batch-size", "4",
        "--segment-seconds", "0.32", "--lr", "3e-3", "--warmup-steps", "2", "--seed", "0", "--save-every", "12",
        "--num-filters", "4", "--hidden-size", "16", "--codebook-size", "64", "--kmeans-seconds", "4",
        "--max-train-seconds", "8", "--num-threads", "1", "--no-progress", "--cpu",
    ]
    return dataclasses.replace(parse_arguments(argv), **overrides)


def test_tiny_training_run_lowers_the_loss_and_resumes(tmp_path):
    summary = ct.train(_args(tmp_path))
    losses = [h["loss"] for h in summary["history"]]
    assert summary["start_step"] == 0 and summary["step"] == 24
    assert np.mean(losses[-6:]) < np.mean(losses[:6])
    checkpoints = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert checkpoints == ["checkpoint-12", "checkpoint-24"]  # written atomically: no .tmp leftovers
    newest = tmp_path / "ckpt" / "checkpoint-24"
    state = json.loads((newest / "trainer_state.json").read_text())
    assert state["step"] == 24 and {"train_seconds", "sampler", "generator"} <= set(state)
    # one checkpoint mechanism: safetensors + JSON, nothing pickled
    assert sorted(p.name for p in newest.iterdir()) == [
        "model.safetensors", "optimizer.safetensors", "rng_state_0.safetensors", "trainer_state.json"]
    # the EMA codebooks are model buffers: they are in the checkpoint's weights
    weights = load_file(str(newest / "model.safetensors"))
    assert {"quantizer.layers.0.codebook.embed", "quantizer.layers.0.codebook.embed_avg",
            "quantizer.layers.0.codebook.cluster_size"} <= set(weights)

    resumed = ct.train(_args(tmp_path, max_steps=30, resume=True))
    assert resumed["start_step"] == 24 and resumed["step"] == 30
    assert resumed["resumed_from"].endswith("checkpoint-24")
    assert [h["step"] for h in resumed["history"]] == list(range(25, 31))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["checkpoint-24", "checkpoint-30"]  # rotated

    out = tmp_path / "codec"
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "training_args.json"):
        assert (out / name).exists(), name
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers") and "facebook/encodec_24khz" in card
    assert "--resume" in card and "No adversarial loss" in card
    stored = json.loads((out / "training_args.json").read_text())
    assert stored["max_steps"] == 30 and stored["resume"] is True and stored["codebook_size"] == 64
    codec = EncodecModel.from_pretrained(str(out))
    assert codec.quantizer.layers[0].codebook.embed.abs().sum() > 0  # trained codebooks were saved and reloaded


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    """N steps in one go vs N/2, a checkpoint, and --resume for the other N/2: the same weights, codebooks and losses.

    The interruption is simulated by deleting the final checkpoint of the uninterrupted run: what is left is exactly
    what a run killed after step N/2 leaves (the same flags, so the same schedule)."""
    common = {"max_steps": 8, "save_every": 4, "continuous_fraction": 0.3, "dead_code_fraction": 0.5, "log_every": 2}
    whole = ct.train(_args(tmp_path, output_dir=str(tmp_path / "whole"), checkpoint_dir=str(tmp_path / "a"),
                           **common))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoint-8")
    second = ct.train(_args(tmp_path, output_dir=str(tmp_path / "resumed"), checkpoint_dir=str(tmp_path / "b"),
                            resume=True, **common))
    assert second["start_step"] == 4 and second["resumed_from"].endswith("checkpoint-4")
    assert [h["n_q"] for h in second["history"]] == [h["n_q"] for h in whole["history"][4:]]  # bandwidth draws
    for a, b in zip(whole["history"][4:], second["history"]):
        assert a["loss"] == b["loss"] and a["replaced"] == b["replaced"] and a["lr"] == b["lr"], (a, b)
    expected = load_file(str(tmp_path / "whole" / "model.safetensors"))
    got = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name  # weights and codebook buffers, bit for bit


def test_resume_refuses_a_checkpoint_of_the_earlier_pickled_format(tmp_path):
    old = tmp_path / "ckpt" / "checkpoint-0000012"
    old.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.bin", "custom_checkpoint_0.pkl", "trainer_state.json"):
        (old / name).write_bytes(b"{}")
    with pytest.raises(CheckpointReadError, match="earlier train-codec"):
        ct.newest_checkpoint(tmp_path / "ckpt")
    assert ct.newest_checkpoint(tmp_path / "nothing-here") is None


def test_continuous_step_decodes_the_unquantized_latent_and_still_updates_codebooks(tiny_codec):
    codec = tiny_codec(codebook_size=16)
    audio = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 1, 3200)).astype(np.float32) * 0.1)
    with torch.no_grad():
        z = codec.encoder(audio)
        init_codebooks_kmeans(codec, z.permute(0, 2, 1).reshape(-1, 8), iters=2)
    args = parse_arguments(["--output-dir", "unused", "--codebook-size", "16"])
    before = codec.quantizer.layers[3].codebook.embed.clone()
    out = ct.training_step(codec, MultiScaleMelLoss(n_ffts=(128, 256)), audio, 0, args)
    assert not torch.equal(codec.quantizer.layers[3].codebook.embed, before)  # all codebooks keep tracking the latent
    with torch.no_grad():
        y = codec.decoder(codec.encoder(audio))[..., :3200]
        expected = (y - audio).abs().mean()
    assert float(out["wave"]) == pytest.approx(float(expected), rel=1e-5)  # the decoder got z itself, not its codes
