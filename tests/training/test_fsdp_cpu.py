"""FSDP on CPU: torch's FSDP2 (`fully_shard`) over gloo with two processes trains the model and the saved model equals
the gathered parameters; `train` under an FSDP launch config on CPU refuses clearly, because Accelerate (1.15) never
sets up FSDP for CPU processes (it would silently run plain data parallel)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from helpers import HOP, SR, test_audio, tiny_model, tiny_processor
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fsdp2_on_gloo_trains_and_saves_the_gathered_parameters(tmp_path):
    from whisper_gpt_hf import WhisperGPTForCausalLM

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "tests" / "distributed" / "fsdp_gloo_worker.py"), str(tmp_path), "3"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    gathered = [load_file(str(tmp_path / f"gathered-{r}.safetensors")) for r in (0, 1)]
    saved = WhisperGPTForCausalLM.from_pretrained(tmp_path / "model")
    initial = tiny_model(seed=0)
    total = sum(p.numel() for p in initial.parameters())
    assert [int((tmp_path / f"local-{r}.txt").read_text()) for r in (0, 1)] != [total, total]  # really sharded
    for name, tensor in saved.state_dict().items():
        torch.testing.assert_close(tensor, gathered[0][name], rtol=0, atol=0)  # the saved model = the gathered one
        torch.testing.assert_close(gathered[1][name], gathered[0][name], rtol=0, atol=0)  # same on both ranks
    moved = [n for n, p in initial.named_parameters() if not torch.equal(p, saved.state_dict()[n])]
    assert len(moved) > len(list(initial.parameters())) // 2  # training changed the weights


def test_train_under_an_fsdp_config_on_cpu_refuses_instead_of_running_without_sharding(tmp_path):
    tiny_processor().save_pretrained(tmp_path / "processor")
    (tmp_path / "data" / "train").mkdir(parents=True)
    sf.write(tmp_path / "data" / "train" / "a.wav", test_audio(2.0, 0)[: 60 * HOP], SR)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "configs" / "accelerate" / "fsdp.yaml"), "--num_processes", "2", "--mixed_precision", "no",
           "--main_process_port", str(free_port()), "-m", "whisper_gpt_hf.cli", "train", "--dataset",
           str(tmp_path / "data"), "--preset", "gpt-s", "--processor", str(tmp_path / "processor"),
           "--model-overrides", json.dumps({"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                            "intermediate_size": 32, "max_position_embeddings": 64}),
           "--window-frames", "32", "--max-steps", "1", "--eval-split", "", "--report-to", "none",
           "--data-cache-dir", "", "--output-dir", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240, cwd=REPO)
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: Accelerate would set up FSDP for real")
    assert proc.returncode != 0
    assert "runs FSDP on GPUs / accelerators only" in proc.stdout + proc.stderr
