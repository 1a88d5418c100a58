"""The paper's experiment command (whisper_gpt_hf/experiment.py) end to end on tiny models, and `whisper-gpt evaluate`
on its outputs: same data, budget and seed for every preset; tables with every preset and its parameter count."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict

import datasets
import numpy as np
import pytest

from helpers import SR, test_audio, tiny_processor
from whisper_gpt_hf.cli import main


PRESETS = ["hybrid-4m", "gpt-s", "gpt-l"]


def _split(n: int, offset: int) -> datasets.Dataset:
    clips = [test_audio(0.8, seed=offset + i) for i in range(n)]
    return datasets.Dataset.from_dict(
        {
            "audio": [{"array": c, "sampling_rate": SR} for c in clips],
            "category": ["speech" if i % 2 else "music" for i in range(n)],
            "id": [f"clip-{offset + i}" for i in range(n)],
        }
    ).cast_column("audio", datasets.Audio(sampling_rate=SR))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A tiny dataset (train / test, speech + music), a tiny processor, and one `whisper-gpt experiment --tiny` run."""
    root = tmp_path_factory.mktemp("experiment")
    dataset_dir, processor_dir, out = root / "dataset", root / "processor", root / "run"
    datasets.DatasetDict({"train": _split(6, 0), "test": _split(4, 100)}).save_to_disk(dataset_dir)
    tiny_processor().save_pretrained(processor_dir)
    argv = ["experiment", "--dataset", str(dataset_dir), "--output-dir", str(out), "--processor", str(processor_dir),
            "--tiny", "--max-steps", "4", "--seed", "3"]
    assert main(argv) == 0
    return dict(dataset=dataset_dir, processor=processor_dir, out=out, argv=argv)


def test_experiment_writes_tables_with_every_preset(experiment):
    out = experiment["out"]
    for name in ("results.md", "results.json", "loss_curves.png", "position_nll.png"):
        assert (out / name).is_file(), name
    for png in ("loss_curves.png", "position_nll.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    payload = json.loads((out / "results.json").read_text())
    results = {r["name"]: r for r in payload["results"]}
    assert list(results) == PRESETS
    # Same test codes for every model (the fair-baseline invariant), per category too.
    assert len({r["num_tokens"] for r in results.values()}) == 1 and results["gpt-s"]["num_tokens"] > 0
    for r in results.values():
        assert set(r["per_category"]) == {"speech", "music"}
        assert r["ppl"] == pytest.approx(np.exp(r["nll"]))
        assert 0 <= r["accuracy"] <= 1
    assert len({json.dumps({k: v["num_tokens"] for k, v in r["per_category"].items()}) for r in results.values()}) == 1
    # Hybrid has a spectrogram branch, the GPTs do not; gpt-l stays the biggest.
    assert results["hybrid-4m"]["use_spectrogram"] and not results["gpt-s"]["use_spectrogram"]
    assert results["gpt-l"]["num_parameters"] > max(results["gpt-s"]["num_parameters"],
                                                    results["hybrid-4m"]["num_parameters"])
    assert payload["budget"] == {**payload["budget"], "max_steps": 4, "batch_size": 4, "window_frames": 32, "seed": 3}

    # The markdown: paper layout, each model's parameter count in its column header, one row per category.
    md = (out / "results.md").read_text()
    from whisper_gpt_hf.evaluation import format_params

    header = next(line for line in md.splitlines() if line.startswith("| data"))
    for name, r in results.items():
        assert f"{name} ({format_params(r['num_parameters'])})" in header
    for cat in ("speech", "music", "all"):
        assert any(line.startswith(f"| {cat} NLL / acc / PPL") for line in md.splitlines())
    assert f"{results['gpt-s']['per_category']['music']['nll']:.3f}" in md
    # The exact command, every budget value spelled out: parsing it gives back the run's configuration.
    from whisper_gpt_hf.cli import build_parser
    from whisper_gpt_hf.cli.experiment import arguments_from_namespace
    from whisper_gpt_hf.evaluation.experiment import config_from_argv

    assert payload["command"] in md
    argv = shlex.split(payload["command"])
    assert argv[:2] == ["whisper-gpt", "experiment"] and "--tiny" not in argv
    assert asdict(config_from_argv(argv[2:])) == payload["config"]
    assert asdict(arguments_from_namespace(build_parser().parse_args(argv[1:])).to_config()) == payload["config"]

    # Every preset trained with the same data, budget and seed; loss curves come from the logs.
    configs = [json.loads((out / "models" / p / "run_config.json").read_text()) for p in PRESETS]
    shared = ("dataset", "max_steps", "batch_size", "window_frames", "seed", "learning_rate", "warmup_steps")
    for key in shared:
        assert len({json.dumps(c[key]) for c in configs}) == 1, key
    assert [c["preset"] for c in configs] == PRESETS
    for p in PRESETS:
        losses = [m["train/loss"] for m in payload["training"][p] if "train/loss" in m]
        assert len(losses) == 4 and all(np.isfinite(losses))
        card = json.loads((out / "models" / p / "eval_results.json").read_text())
        assert card["results"][0]["nll"] == results[p]["nll"]


def test_data_prepared_once_and_rerun_reuses_models(experiment, capsys):
    out = experiment["out"]
    prepared = sorted(os.listdir(out / "prepared"))
    assert len([d for d in prepared if d.startswith("train-")]) == 1  # one cache entry, shared by all trainings
    assert len([d for d in prepared if d.startswith("test-")]) == 1
    weights = out / "models" / "gpt-s" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    first = json.loads((out / "results.json").read_text())
    assert main(experiment["argv"]) == 0  # finished runs are reused, not retrained
    assert weights.stat().st_mtime_ns == before
    again = json.loads((out / "results.json").read_text())
    assert [r["nll"] for r in again["results"]] == pytest.approx([r["nll"] for r in first["results"]], rel=1e-6)
    capsys.readouterr()


def test_evaluate_cli_reproduces_the_experiment_numbers(experiment, capsys, tmp_path):
    out = experiment["out"]
    png = tmp_path / "positions.png"
    capsys.readouterr()
    code = main(["evaluate", "--model", str(out / "models" / "hybrid-4m"), "--compare", str(out / "models" / "gpt-s"),
                 "--dataset", str(experiment["dataset"]), "--split", "test", "--window-frames", "32",
                 "--min-frames", "8", "--batch-size", "3", "--json", "--plot-positions", str(png)])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["split"] == "test" and payload["window_frames"] == 32
    got = {r["name"]: r for r in payload["results"]}
    want = {r["name"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    for name in ("hybrid-4m", "gpt-s"):
        assert got[name]["num_tokens"] == want[name]["num_tokens"]
        assert got[name]["nll"] == pytest.approx(want[name]["nll"], rel=1e-5)
        assert got[name]["num_parameters"] == want[name]["num_parameters"]
    assert png.read_bytes()[:4] == b"\x89PNG"

    # The human-readable table: the parameter count on every row.
    main(["evaluate", "--model", str(out / "models" / "gpt-s"), "--dataset", str(experiment["dataset"]),
          "--window-frames", "32", "--min-frames", "8"])
    text = capsys.readouterr().out
    from whisper_gpt_hf.evaluation import format_params

    rows = [line for line in text.splitlines() if line.startswith("gpt-s")]
    assert len(rows) == 3 and all(format_params(want["gpt-s"]["num_parameters"]) in line for line in rows)
