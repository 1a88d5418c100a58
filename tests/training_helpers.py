"""What the trainer tests share: the tiny architecture, a workspace of audio + a processor, running the CLI."""

import json
import os
import socket
from pathlib import Path

import pytest
import soundfile as sf
from helpers import HOP, SR, test_audio, tiny_config, tiny_processor

from whisper_gpt_hf.cli import main as cli_main

CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "rng_state_0.safetensors", "trainer_state.json")
# tiny_config's architecture; vocab_size / n_mels come from the processor (64 codes, 16 mel bins)
TINY = {k: v for k, v in tiny_config().to_dict().items()
        if k in ("spectrogram_hidden_size", "spectrogram_num_layers", "spectrogram_num_heads",
                 "spectrogram_intermediate_size", "token_embedding_size", "hidden_size", "num_hidden_layers",
                 "num_attention_heads", "intermediate_size", "dropout", "tie_word_embeddings")}
TINY["max_position_embeddings"] = 64


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A saved tiny processor, an audiofolder (train with one corrupt file, validation) and a shared data cache."""
    root = tmp_path_factory.mktemp("training")
    tiny_processor().save_pretrained(root / "processor")
    for split, seeds in (("train", range(6)), ("validation", range(6, 8))):
        (root / "data" / split).mkdir(parents=True)
        for seed in seeds:
            frames = 60 + 10 * (seed % 4)
            sf.write(root / "data" / split / f"clip{seed}.wav", test_audio(2.0, seed)[: frames * HOP], SR)
    (root / "data" / "train" / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt " + bytes(64))
    return root


def base_args(ws: Path) -> list[str]:
    return [
        "--dataset", str(ws / "data"), "--preset", "hybrid-4m", "--processor", str(ws / "processor"),
        "--model-overrides", json.dumps(TINY), "--window-frames", "32", "--min-frames", "8", "--batch-size", "2",
        "--learning-rate", "3e-3", "--warmup-steps", "3", "--log-every", "1", "--data-cache-dir", str(ws / "cache"),
        "--seed", "7",
    ]


def run_cli(args: list[str]) -> None:
    assert cli_main(["train", *args]) == 0


def read_metrics(output_dir: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """(train records, eval records) by step; a step logged twice (re-done after a resume) keeps its last record."""
    train, evals = {}, {}
    for line in (output_dir / "metrics.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
        (evals if "eval/loss" in record else train)[record["step"]] = record
    return train, evals


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
