"""Training (`whisper_gpt_hf.training`): a real tiny run through the CLI and a JSON config, a 2-process CPU run under
`accelerate launch`, kill -9 + resume, and the schedule / data-order pieces on their own.

The runs use a hidden-16 model (`helpers.tiny_config`) on a few seconds of audio; prepared data is cached once per
module so the subprocess runs only train.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_config
from training_helpers import (  # noqa: F401  (workspace is a fixture)
    CHECKPOINT_FILES,
    TINY,
    base_args,
    free_port,
    read_metrics,
    run_cli,
    subprocess_env,
    workspace,
)

from whisper_gpt_hf.cli import main as cli_main
from whisper_gpt_hf.data import EpochShuffleSampler
from whisper_gpt_hf.training import (
    WhisperGPTTrainingArguments,
    build_scheduler,
    list_checkpoints,
    train_batches,
)

REPO = Path(__file__).resolve().parents[2]


def test_train_from_json_config_with_a_corrupt_file(workspace, tmp_path):
    """A full in-process run from a JSON config (flags win over it): the corrupt file is skipped and named, the
    schedule is warmup + cosine, checkpoints rotate, eval and TensorBoard logs are written, the model is saved."""
    from whisper_gpt_hf import WhisperGPTForCausalLM, WhisperGPTProcessor

    out = tmp_path / "run"
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"max_steps": 100, "save_every": 2, "save_total_limit": 2, "eval_every": 3,
                                  "output_dir": str(out)}))
    run_cli(["--config", str(config), *base_args(workspace), "--max-steps", "6"])

    report = json.loads((out / "preparation_report-train.json").read_text())
    assert [os.path.basename(name) for name, _ in report["skipped"]] == ["corrupt.wav"]
    assert report["skipped"][0][1].startswith("undecodable") and report["num_prepared"] == 6
    train, evals = read_metrics(out)
    assert sorted(train) == list(range(1, 7)) and sorted(evals) == [3, 6]
    peak, warmup, total, floor = 3e-3, 3, 6, 0.1
    for step, record in train.items():
        i = step - 1  # the update index whose learning rate is logged at `step`
        expected = peak * ((i + 1) / (warmup + 1) if i < warmup else
                           floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (i - warmup) / (total - warmup))))
        assert record["train/lr"] == pytest.approx(expected, rel=1e-6)
        assert math.isfinite(record["train/loss"])
    assert math.isfinite(evals[6]["eval/loss"]) and evals[6]["eval/tokens"] > 0
    assert [step for step, _ in list_checkpoints(str(out))] == [4, 6]  # save_total_limit=2
    assert not [p for p in out.iterdir() if p.name.endswith((".tmp", ".deleting"))]
    assert list((out / "logs").rglob("events.out.tfevents.*"))
    model = WhisperGPTForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 16 and model.config.vocab_size == 64
    assert WhisperGPTProcessor.from_pretrained(out).audio_tokenizer is not None
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["step"] == 6 and summary["eval/loss"] == pytest.approx(evals[6]["eval/loss"])

    # --model fine-tunes that checkpoint (its saved processor comes along): on the same first batch (same seed,
    # same order) it starts where the first run ended, not from scratch.
    tuned = tmp_path / "tuned"
    run_cli(["--dataset", str(workspace / "data"), "--model", str(out), "--output-dir", str(tuned), "--max-steps", "2",
             "--batch-size", "2", "--window-frames", "32", "--min-frames", "8", "--seed", "7", "--log-every", "1",
             "--data-cache-dir", str(workspace / "cache"), "--eval-split", "", "--report-to", "none"])
    tuned_train, _ = read_metrics(tuned)
    assert sorted(tuned_train) == [1, 2]
    assert tuned_train[1]["train/loss"] < train[1]["train/loss"] - 0.05


def test_two_cpu_processes_train_and_agree(workspace, tmp_path):
    """`accelerate launch` with 2 CPU processes: both ranks step together and end with identical weights (with
    gradient accumulation over an epoch boundary, bf16 autocast and activation checkpointing on)."""
    from safetensors.torch import load_file

    from whisper_gpt_hf import WhisperGPTForCausalLM
    from whisper_gpt_hf.training import parameter_checksum

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "configs" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(free_port()),
           "-m", "whisper_gpt_hf.cli", "train", *base_args(workspace),
           "--max-steps", "4", "--save-every", "2", "--eval-every", "4", "--report-to", "none",
           "--gradient-accumulation-steps", "2", "--mixed-precision", "bf16", "--gradient-checkpointing",
           "--output-dir", str(out)]
    # Own session, so a hang can be cleaned up whole (torchrun's workers included).
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
    assert proc.returncode == 0, output[-6000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["step"] == 4
    first, second = summary["parameter_checksums"]
    assert first == second  # every rank holds the same weights
    # the saved model is those weights, and training moved them
    saved = WhisperGPTForCausalLM.from_pretrained(out)
    assert parameter_checksum(saved) == pytest.approx(first, rel=1e-12)
    assert (out / "checkpoint-4" / "rng_state_1.safetensors").is_file()  # each rank's RNG state is checkpointed
    initial = load_file(str(out / "checkpoint-2" / "model.safetensors"))
    assert not torch.equal(initial["lm_head.weight"], saved.lm_head.weight.detach())
    train, evals = read_metrics(out)
    assert sorted(train) == [1, 2, 3, 4] and 4 in evals


def test_kill_9_then_resume_continues_steps_schedule_and_data_order(workspace, tmp_path):
    """SIGKILL after the first checkpoint, then --resume: the steps, learning rates and losses are those of an
    uninterrupted run (the losses only match if the data order continues), the final weights too; a half-written
    `checkpoint-N.tmp` is never loaded and gets cleaned up."""
    common = [*base_args(workspace), "--max-steps", "60", "--save-every", "10", "--save-total-limit", "2",
              "--eval-split", "", "--report-to", "none"]
    reference = tmp_path / "reference"
    run_cli([*common, "--output-dir", str(reference)])

    out = tmp_path / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        cmd = [sys.executable, "-m", "whisper_gpt_hf.cli", "train", *common, "--output-dir", str(out)]
        proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            deadline = time.time() + 240
            while not list_checkpoints(str(out)):
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                assert time.time() < deadline, "no checkpoint within the time limit"
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)  # kill -9, right after the first checkpoint (or on a failure)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_train, _ = read_metrics(out)
    assert max(killed_train) < 60, "the run finished before the kill"

    checkpoints = list_checkpoints(str(out))
    for name in os.listdir(out):  # every checkpoint-N folder is whole
        if re.fullmatch(r"checkpoint-\d+", name):
            assert all((out / name / f).is_file() for f in CHECKPOINT_FILES), name
    resumed_from = checkpoints[-1][0]
    # What a kill in the middle of `save_state` leaves behind (numbered past every real one, so that a resume that
    # took unfinished folders into account would pick it): it must be ignored, not loaded, and removed.
    half = out / "checkpoint-999.tmp"
    half.mkdir(exist_ok=True)
    (half / "model.safetensors").write_bytes(b"half written")

    with pytest.raises(ValueError, match="--resume"):
        run_cli([*common, "--output-dir", str(out)])
    run_cli([*common, "--output-dir", str(out), "--resume"])

    assert not half.exists()
    train, _ = read_metrics(out)
    ref_train, _ = read_metrics(reference)
    assert sorted(train) == sorted(ref_train) == list(range(1, 61))
    for step in range(1, 61):
        assert train[step]["train/lr"] == ref_train[step]["train/lr"], step
    # Several epochs (14 windows, batches of 2: 7 steps each) are crossed after the resume point.
    after = range(resumed_from + 1, 61)
    np.testing.assert_allclose([train[s]["train/loss"] for s in after], [ref_train[s]["train/loss"] for s in after],
                               rtol=1e-4)
    summary = json.loads((out / "training_summary.json").read_text())
    ref_summary = json.loads((reference / "training_summary.json").read_text())
    assert summary["step"] == 60
    assert summary["parameter_checksums"][0] == pytest.approx(ref_summary["parameter_checksums"][0], rel=1e-5)
    assert [s for s, _ in list_checkpoints(str(out))] == [50, 60]


def test_schedule_warmup_then_cosine_to_the_floor():
    args = WhisperGPTTrainingArguments(output_dir="unused", learning_rate=1.0, warmup_steps=4, max_steps=24,
                                       min_lr_ratio=0.1)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=args.learning_rate)
    scheduler = build_scheduler(optimizer, args)
    lrs = []
    for _ in range(args.max_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # cosine decay is monotone
    assert lrs[14] == pytest.approx(0.55)  # halfway through the decay: (1 + 0.1) / 2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # at max_steps: the floor


def test_data_order_is_a_function_of_the_step():
    """Starting the batch stream at micro-step k gives exactly the tail of the stream started at 0, across epochs."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    accelerator = Accelerator()
    sampler = EpochShuffleSampler(10, seed=3)
    loader = accelerator.prepare(DataLoader(list(range(10)), batch_size=3, sampler=sampler, drop_last=True))
    stream = train_batches(loader, sampler, accelerator, 0)
    full = [next(stream).tolist() for _ in range(10)]  # 3 batches per epoch -> 3+ epochs
    assert full[:3] != full[3:6]  # reshuffled every epoch
    for start in (1, 3, 4, 8):
        resumed = train_batches(loader, sampler, accelerator, start)
        assert [next(resumed).tolist() for _ in range(10 - start)] == full[start:]


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--dataset", "--audio-column", "--preset", "--model", "--processor", "--max-steps", "--output-dir",
                 "--batch-size", "--learning-rate", "--warmup-steps", "--weight-decay", "--gradient-accumulation-steps",
                 "--max-grad-norm", "--mixed-precision", "--gradient-checkpointing", "--eval-every", "--save-every",
                 "--save-total-limit", "--seed", "--window-frames", "--train-split", "--eval-split", "--resume",
                 "--config", "--lora-r", "--lora-alpha", "--lora-target-modules"):
        assert flag in text, flag


def test_lora_fine_tuning_trains_only_adapters_resumes_and_saves_a_merged_model(workspace, tmp_path):
    """`--lora-r 4` from a saved tiny model: only the adapters train (far fewer trainable parameters, LoRA-only
    optimizer state), a checkpoint resumes, and the output folder is a plain merged model: no `lora_` keys, loads
    with `from_pretrained`, and differs from the start model only in the adapted linear layers."""
    pytest.importorskip("peft")
    from safetensors.torch import load_file

    from whisper_gpt_hf import WhisperGPTForCausalLM

    start = tmp_path / "start"
    torch.manual_seed(0)
    WhisperGPTForCausalLM(tiny_config(max_position_embeddings=64)).save_pretrained(start)
    out = tmp_path / "lora"
    common = ["--dataset", str(workspace / "data"), "--model", str(start), "--processor", str(workspace / "processor"),
              "--output-dir", str(out), "--lora-r", "4", "--lora-alpha", "8", "--batch-size", "2",
              "--window-frames", "32", "--min-frames", "8", "--learning-rate", "1e-2", "--warmup-steps", "0",
              "--seed", "7", "--log-every", "1", "--save-every", "2", "--data-cache-dir", str(workspace / "cache"),
              "--eval-split", "", "--report-to", "none"]
    run_cli([*common, "--max-steps", "2"])
    checkpoint = load_file(str(out / "checkpoint-2" / "model.safetensors"))
    assert any("lora_" in key for key in checkpoint)  # the checkpoint holds the PEFT-wrapped model
    run_cli([*common, "--max-steps", "4", "--resume"])  # Accelerate load_state into the wrapped model

    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["step"] == 4 and 0 < summary["num_trainable_parameters"] < summary["num_parameters"] / 4
    train, _ = read_metrics(out)
    assert sorted(train) == [1, 2, 3, 4] and all(math.isfinite(r["train/loss"]) for r in train.values())

    saved = load_file(str(out / "model.safetensors"))
    assert saved and not [key for key in saved if "lora_" in key or "base_layer" in key]
    before = WhisperGPTForCausalLM.from_pretrained(start).state_dict()
    merged = WhisperGPTForCausalLM.from_pretrained(out).state_dict()
    assert merged.keys() == before.keys()
    adapted = ("qkv_proj.weight", "out_proj.weight", "fc_in.weight", "fc_out.weight")
    changed = {k for k in before if not torch.equal(before[k], merged[k])}
    assert changed and all(k.endswith(adapted) for k in changed), sorted(changed)  # only the merged LoRA layers
