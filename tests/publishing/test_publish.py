"""`whisper-gpt publish` (whisper_gpt_hf/publish.py): the dry run writes exactly what would be uploaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import huggingface_hub
import pytest

from hub_helpers import accelerate_checkpoint, card_evaluation, saved_model_dir, tiny_model, tiny_processor, write_audio_dataset
from whisper_gpt_hf.cli import main as cli_main
from whisper_gpt_hf.publishing.folder import HUB_READY_FILES, remote_code_files, verify_hub_ready


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="module")
def dataset(workdir) -> Path:
    return write_audio_dataset(workdir / "audio")


@pytest.fixture(scope="module")
def saved(workdir):
    """A model folder as training leaves it: weights, config and processor, no evaluation numbers."""
    model, processor = tiny_model(seed=3), tiny_processor()
    return saved_model_dir(workdir / "run-final", model, processor), model, processor


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dry_run_writes_every_file_with_an_evaluated_card(saved, dataset, workdir, capsys):
    folder, model, processor = saved
    out = workdir / "dry"
    code = cli_main(["publish", str(folder), "--repo-id", "my-org/whisper-gpt-tiny", "--dry-run", "--output", str(out),
                     "--eval-dataset", str(dataset), "--eval-window-frames", "64", "--dataset-id", "my-org/corpus"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "dry run" in printed and "model.safetensors" in printed

    files = set(_tree(out))
    assert set(HUB_READY_FILES) | set(remote_code_files()) <= files
    verify_hub_ready(out, model=model, processor=processor)

    # the card's evaluation table holds the numbers the evaluation module gives on that dataset
    expected = card_evaluation(model, processor, dataset).results[0]
    readme = (out / "README.md").read_text()
    section = readme.split("## Evaluation results")[1].split("## Limitations")[0]
    assert "Measured on `audio`, split `test` in windows of 64 frames" in section  # no local absolute path
    assert str(workdir) not in readme and str(workdir) not in (out / "eval_results.json").read_text()
    assert "| model | params | category | tokens | NLL (nats) | PPL | top-1 acc |" in section
    for category, numbers in expected.rows().items():
        row = (f"| whisper-gpt-tiny | 13.5k | {category} | {numbers.num_tokens} | {numbers.nll:.4f} | "
               f"{numbers.ppl:.3f} | {100 * numbers.accuracy:.2f} % |")
        assert row in section, row
    meta = huggingface_hub.ModelCard(readme).data
    assert meta.datasets == ["my-org/corpus"]
    assert meta.eval_results[0].metric_value == pytest.approx(round(expected.ppl, 4))
    assert 'repo_id = "my-org/whisper-gpt-tiny"' in readme


class _RecordingApi:
    """Stands in for `huggingface_hub.HfApi`: records the calls and keeps a copy of the uploaded folder."""

    calls: list = []
    uploaded: dict[str, bytes] = {}

    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, repo_id, folder_path, **kwargs):
        self.calls.append(("upload_folder", repo_id, kwargs))
        type(self).uploaded = _tree(Path(folder_path))
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{'0' * 40}", commit_message=kwargs.get("commit_message", ""),
            commit_description="", oid="0" * 40, pr_url=None,
        )


def test_upload_is_exactly_the_dry_run_folder(saved, dataset, workdir, monkeypatch, capsys):
    folder, model, processor = saved
    results = workdir / "eval.json"
    results.write_text(json.dumps(card_evaluation(model, processor, dataset).to_dict()))
    args = [str(folder), "--repo-id", "my-org/whisper-gpt-tiny", "--eval-results", str(results)]

    assert cli_main(["publish", *args, "--dry-run", "--output", str(workdir / "dry2")]) == 0
    monkeypatch.setattr(huggingface_hub, "HfApi", _RecordingApi)
    assert cli_main(["publish", *args, "--private"]) == 0
    assert f"uploaded to https://huggingface.co/my-org/whisper-gpt-tiny/commit/{'0' * 40}" in capsys.readouterr().out

    (create, repo, create_kwargs), (upload, repo2, upload_kwargs) = _RecordingApi.calls
    assert (create, repo, upload, repo2) == ("create_repo", "my-org/whisper-gpt-tiny", "upload_folder",
                                             "my-org/whisper-gpt-tiny")
    assert create_kwargs["private"] is True and create_kwargs["exist_ok"] is True
    assert upload_kwargs["repo_type"] == "model"
    dry = _tree(workdir / "dry2")
    assert sorted(_RecordingApi.uploaded) == sorted(dry)
    for name, data in dry.items():
        assert _RecordingApi.uploaded[name] == data, name


def test_publish_an_accelerate_checkpoint(workdir, dataset, capsys):
    model, processor = tiny_model(seed=4), tiny_processor()
    ckpt = accelerate_checkpoint(workdir / "acc-run", model, step=3)
    processor.save_pretrained(ckpt.parent)  # the run folder keeps its processor next to the checkpoints
    out = workdir / "dry-ckpt"
    code = cli_main(["publish", str(ckpt), "--repo-id", "my-org/from-ckpt", "--dry-run", "--output", str(out),
                     "--eval-dataset", str(dataset), "--eval-window-frames", "64"])
    assert code == 0, capsys.readouterr().err
    verify_hub_ready(out, model=model, processor=processor)
    assert re.search(r"\| from-ckpt \| 13\.5k \| all \| \d+ \|", (out / "README.md").read_text())


def test_publish_errors_exit_1(saved, workdir, capsys):
    folder = str(saved[0])
    assert cli_main(["publish", folder, "--repo-id", "my-org/x", "--dry-run", "--no-eval"]) == 1
    assert "--dry-run needs --output" in capsys.readouterr().err
    assert cli_main(["publish", folder, "--repo-id", "no_org_given", "--dry-run", "--output", "x", "--no-eval"]) == 1
    assert "ORG/NAME" in capsys.readouterr().err
    assert cli_main(["publish", folder, "--repo-id", "my-org/x", "--dry-run", "--output", str(workdir / "e")]) == 1
    assert "No evaluation numbers" in capsys.readouterr().err
