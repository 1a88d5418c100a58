"""`whisper-gpt train` reliability (probe rows 4.02, 4.17, 4.18, 5.05; issue 11 items 3, 4, 6): resuming never runs code
from the checkpoint folder, a resumed run with dropout 0.1 ends bit-identical to an uninterrupted one, a finished
output folder is never overwritten or appended to by accident, and two runs never share one folder.

Same tiny runs as `test_trainer.py` (its `workspace` fixture: prepared data cached once per module).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import pytest
import torch
from training_helpers import TINY, read_metrics, run_cli, workspace  # noqa: F401  (workspace is a fixture)

from whisper_gpt_hf.training.checkpointing import CheckpointReadError
from whisper_gpt_hf.training import OutputDirLock

# 14 windows in batches of 2: 7 steps per epoch, so resuming at step 5 lands mid-epoch (skipped batches).
STEPS, SAVE = 12, 5


def common_args(ws, dropout: float = 0.1) -> list[str]:
    return [
        "--dataset", str(ws / "data"), "--preset", "hybrid-4m", "--processor", str(ws / "processor"),
        "--model-overrides", json.dumps({**TINY, "dropout": dropout}), "--window-frames", "32", "--min-frames", "8",
        "--batch-size", "2", "--learning-rate", "3e-3", "--warmup-steps", "3", "--log-every", "1",
        "--data-cache-dir", str(ws / "cache"), "--seed", "7", "--eval-split", "", "--report-to", "none",
    ]


@pytest.fixture(scope="module")
def reference(workspace, tmp_path_factory):  # noqa: F811
    """An uninterrupted 12-step run with dropout 0.1, checkpoints at 5 and 10."""
    out = tmp_path_factory.mktemp("reliability") / "reference"
    run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--save-every", str(SAVE), "--output-dir", str(out)])
    return out


def checksum(out) -> float:
    return json.loads((out / "training_summary.json").read_text())["parameter_checksums"][0]


def test_resume_with_dropout_is_bit_exact(workspace, reference, tmp_path):  # noqa: F811
    """Probe 4.02: 218.29 vs 222.44 with dropout 0.1. Every generator is restored, and the data loader draws from its
    own generator, so the resumed run's dropout masks, losses and final weights are the uninterrupted run's."""
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copytree(reference / f"checkpoint-{SAVE}", out / f"checkpoint-{SAVE}")
    run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--save-every", str(SAVE), "--output-dir", str(out),
             "--resume"])
    train, ref = read_metrics(out)[0], read_metrics(reference)[0]
    assert sorted(train) == list(range(SAVE + 1, STEPS + 1))
    assert [train[s]["train/loss"] for s in train] == [ref[s]["train/loss"] for s in train]  # exactly
    assert checksum(out) == checksum(reference)


class Payload:
    """Unpickling this writes `marker`: what a malicious checkpoint file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


PICKLE_NAMES = ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl", "optimizer.bin",
                "scheduler.bin", "pytorch_model.bin", "scaler.pt", "sampler.bin")


def test_resume_never_unpickles_anything_in_the_checkpoint(workspace, reference, tmp_path):  # noqa: F811
    """Probe 5.05: Accelerate's load_state ran code from custom_checkpoint_*.pkl. Payloads are planted under every
    name Accelerate would unpickle, and in place of each of our own files: no code runs, ever; planted extras are
    ignored, and a replaced file is refused as unreadable."""
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(Payload(marker))
    pickle.loads(payload)  # positive control: the payload is live
    assert marker.read_text() == "code ran"
    marker.unlink()

    out = tmp_path / "planted"
    out.mkdir()
    ckpt = out / f"checkpoint-{SAVE}"
    shutil.copytree(reference / f"checkpoint-{SAVE}", ckpt)
    for name in PICKLE_NAMES:
        (ckpt / name).write_bytes(payload)
    run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--save-every", "0", "--output-dir", str(out),
             "--resume"])
    assert not marker.exists()
    assert checksum(out) == checksum(reference)  # the planted files changed nothing

    for name in ("model.safetensors", "optimizer.safetensors", "rng_state_0.safetensors", "trainer_state.json"):
        broken = tmp_path / f"broken-{name}"
        broken.mkdir()
        shutil.copytree(reference / f"checkpoint-{SAVE}", broken / f"checkpoint-{SAVE}")
        torch.save({"state": Payload(marker)}, broken / f"checkpoint-{SAVE}" / name)  # a pickle under our name
        with pytest.raises(CheckpointReadError, match=name.split(".")[0]):
            run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--output-dir", str(broken), "--resume"])
        assert not marker.exists(), name


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_a_finished_output_dir_is_never_overwritten_or_appended_to(workspace, tmp_path):  # noqa: F811
    """Probe 4.17: a rerun without checkpoints overwrote model.safetensors and appended to metrics.jsonl."""
    out = tmp_path / "run"
    args = [*common_args(workspace), "--max-steps", "2", "--save-every", "0", "--output-dir", str(out)]
    run_cli(args)
    model, metrics = md5(out / "model.safetensors"), (out / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match="is not empty.*--resume.*--overwrite-output-dir"):
        run_cli([*args, "--seed", "8"])
    with pytest.raises(ValueError, match="finished run without checkpoints: there is nothing to resume"):
        run_cli([*args, "--resume"])
    assert md5(out / "model.safetensors") == model and (out / "metrics.jsonl").read_text() == metrics

    run_cli([*args, "--seed", "8", "--overwrite-output-dir"])  # replaced as a whole: nothing of the first run mixes
    assert md5(out / "model.safetensors") != model
    train, _ = read_metrics(out)
    assert sorted(train) == [1, 2] and len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "run_config.json").read_text())["seed"] == 8


def test_a_second_run_into_a_busy_output_dir_is_refused(workspace, tmp_path):  # noqa: F811
    """Probe 4.18: two runs into one folder interleaved 402 lines of metrics. The lock is a real flock: a second
    holder is refused while the first lives; it goes with its holder (kill -9 included: test_training's resume)."""
    out = tmp_path / "busy"
    out.mkdir()
    holder = OutputDirLock(str(out))  # a run in progress
    try:
        with pytest.raises(RuntimeError, match="Another training run .* is using --output-dir"):
            run_cli([*common_args(workspace), "--max-steps", "2", "--output-dir", str(out), "--resume"])
        assert sorted(p.name for p in out.iterdir()) == [".train.lock"]  # the refused run wrote nothing
    finally:
        holder.release()
    run_cli([*common_args(workspace), "--max-steps", "2", "--save-every", "0", "--output-dir", str(out), "--resume"])
    assert (out / "model.safetensors").is_file()


def test_every_clip_unusable_is_a_clear_error(workspace, tmp_path):  # noqa: F811
    """Probe 4.11: an IndexError from datasets; now the clips and the reasons are named."""
    for split in ("train", "validation"):
        (tmp_path / "bad" / split).mkdir(parents=True)
        (tmp_path / "bad" / split / "x.wav").write_bytes(b"RIFF....WAVEfmt " + bytes(64))
    args = common_args(workspace)
    args[args.index("--dataset") + 1] = str(tmp_path / "bad")
    args[args.index("--data-cache-dir") + 1] = str(tmp_path / "cache")
    with pytest.raises(ValueError, match=r"No usable clips.*0/1 clips prepared.*undecodable"):
        run_cli([*args, "--max-steps", "1", "--output-dir", str(tmp_path / "out")])


def test_a_truncated_prepared_cache_names_the_folder_and_the_fix(workspace, tmp_path):  # noqa: F811
    """Probe 4.12: a raw pyarrow 'Expected to be able to read N bytes'."""
    args = common_args(workspace)
    args[args.index("--data-cache-dir") + 1] = str(tmp_path / "cache")
    run_cli([*args, "--max-steps", "1", "--save-every", "0", "--output-dir", str(tmp_path / "a")])
    arrow = sorted((tmp_path / "cache").rglob("*.arrow"))[0]
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"prepared data at .* is damaged.*delete that folder.*--data-cache-dir ''"):
        run_cli([*args, "--max-steps", "1", "--save-every", "0", "--output-dir", str(tmp_path / "b")])


def test_bad_model_overrides_json_names_the_flag(workspace, tmp_path):  # noqa: F811
    """Probe 4.20: a raw JSONDecodeError traceback."""
    args = common_args(workspace)
    args[args.index("--model-overrides") + 1] = "{bad"
    with pytest.raises(ValueError, match="--model-overrides is not valid JSON"):
        run_cli([*args, "--max-steps", "1", "--output-dir", str(tmp_path / "out")])


def test_a_full_disk_during_a_checkpoint_says_so_and_keeps_the_earlier_ones(workspace, tmp_path):  # noqa: F811
    """Probe 4.03: 'basic_ios::clear: iostream error'. A real full filesystem: a 1.6 MB tmpfs (needs root)."""
    import subprocess

    from whisper_gpt_hf.training import list_checkpoints

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        out = disk / "run"
        with pytest.raises(OSError, match=r"Writing checkpoint-\d+ .* failed .*No space left.*--resume"):
            run_cli([*common_args(workspace), "--max-steps", "200", "--save-every", "1", "--save-total-limit", "0",
                     "--output-dir", str(out)])
        kept = list_checkpoints(str(out))
        assert kept and not [p for p in out.iterdir() if p.name.endswith(".tmp")]
        assert (disk / "run" / f"checkpoint-{kept[-1][0]}" / "trainer_state.json").is_file()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def legacy_copy(src, dst, step: int) -> None:
    """`src` (this format) rewritten as the earlier Accelerate `save_state` layout, file by file as Accelerate writes
    it with torch.save: optimizer.bin, custom_checkpoint_0.pkl (scheduler), _1.pkl (step), random_states_0.pkl."""
    import random

    import numpy as np
    from safetensors.torch import load_file

    from whisper_gpt_hf.training.checkpointing import _read_safetensors, set_rng_state

    dst.mkdir(parents=True)
    shutil.copy(src / "model.safetensors", dst / "model.safetensors")
    record = json.loads((src / "trainer_state.json").read_text())
    state: dict = {}
    for key, value in load_file(str(src / "optimizer.safetensors")).items():
        _, index, name = key.split("/", 2)
        state.setdefault(int(index), {})[name] = value
    groups = [{**g, "betas": tuple(g["betas"])} for g in record["optimizer"]["param_groups"]]
    torch.save({"state": state, "param_groups": groups}, dst / "optimizer.bin")
    torch.save(record["scheduler"], dst / "custom_checkpoint_0.pkl")
    torch.save({"step": step}, dst / "custom_checkpoint_1.pkl")
    set_rng_state(*_read_safetensors(str(src / "rng_state_0.safetensors"), metadata=True))
    torch.save({"step": 0, "random_state": random.getstate(), "numpy_random_seed": np.random.get_state(),
                "torch_manual_seed": torch.get_rng_state()}, dst / "random_states_0.pkl")
    (dst / "trainer_state.json").write_text(json.dumps({"step": step}))


def test_earlier_accelerate_checkpoints_resume_and_refuse_payloads(workspace, reference, tmp_path):  # noqa: F811
    """Runs checkpointed before this format (Accelerate's pickles) still resume, bit-exactly, read with
    torch.load(weights_only=True); a payload in any of their pickles is refused and never runs."""
    out = tmp_path / "legacy"
    legacy_copy(reference / f"checkpoint-{SAVE}", out / f"checkpoint-{SAVE}", SAVE)
    run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--save-every", "0", "--output-dir", str(out),
             "--resume"])
    assert checksum(out) == checksum(reference)

    marker = tmp_path / "MARKER"
    for name in ("optimizer.bin", "custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl"):
        evil = tmp_path / f"evil-{name}"
        legacy_copy(reference / f"checkpoint-{SAVE}", evil / f"checkpoint-{SAVE}", SAVE)
        torch.save({"state": Payload(marker)}, evil / f"checkpoint-{SAVE}" / name)
        with pytest.raises(CheckpointReadError, match=f"Refused .*{name}.*could run code"):
            run_cli([*common_args(workspace), "--max-steps", str(STEPS), "--output-dir", str(evil), "--resume"])
        assert not marker.exists(), name


def test_a_full_disk_during_the_final_save_leaves_no_half_model(workspace, tmp_path):  # noqa: F811
    """Probe 4.04: the final save ran out of space and left processor_config.json pointing at an audio_tokenizer/
    without weights. Now the model and processor appear together or not at all, and the error says what to do."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        (disk / "filler").write_bytes(bytes(1024 * 1024 - 80 * 1024))  # ~80 KB left: the run's logs fit, the model not
        out = disk / "run"
        with pytest.raises(OSError, match=r"Saving the final model .* failed .*No space left.*--resume"):
            run_cli([*common_args(workspace), "--max-steps", "2", "--save-every", "0", "--output-dir", str(out)])
        left = sorted(p.name for p in out.iterdir())
        assert not {"model.safetensors", "processor_config.json", "config.json", ".final.tmp"} & set(left), left
        assert "metrics.jsonl" in left
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
