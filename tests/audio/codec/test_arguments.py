"""`CodecTrainingArguments`: the `train-codec` flags of the argparse version parse unchanged (both spellings), with
the same defaults; the stored command of the committed codec parses; `training_args.json` round-trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from whisper_gpt_hf.assets import CODEC_SMALL, CORPUS_SMALL
from whisper_gpt_hf.audio.codec import arguments as A

# the flags and defaults of `whisper-gpt train-codec` before it moved to HfArgumentParser
OLD_FLAGS = [
    "--batch-size", "--card-note", "--checkpoint-dir", "--coarse-dims", "--codebook-size", "--commit-weight",
    "--continuous-fraction", "--corr-weight", "--cpu", "--dataset", "--dead-code-fraction", "--ema-decay",
    "--grad-clip", "--hidden-size", "--init-from", "--kmeans-iters", "--kmeans-seconds", "--log-every", "--log-file",
    "--lr", "--max-minutes", "--max-steps", "--max-train-seconds", "--mel-weight", "--mixed-precision",
    "--no-progress", "--num-filters", "--num-threads", "--output-dir", "--processor-output-dir", "--refit-codebooks",
    "--resume", "--save-every", "--seed", "--segment-seconds", "--stft-weight", "--target-bandwidths",
    "--warmup-steps", "--wave-weight",
]
OLD_DEFAULTS = {
    "dataset": str(CORPUS_SMALL), "processor_output_dir": None, "checkpoint_dir": "runs/train-codec",
    "resume": False, "max_steps": 2000, "max_minutes": None, "batch_size": 16, "segment_seconds": 0.64, "lr": 0.0015,
    "warmup_steps": 30, "seed": 0, "save_every": 100, "num_filters": 8, "hidden_size": 64, "codebook_size": 1024,
    "kmeans_seconds": 240.0, "kmeans_iters": 10, "ema_decay": 0.95, "dead_code_fraction": 0.2,
    "target_bandwidths": [0.75, 1.5, 3.0], "init_from": None, "refit_codebooks": False, "coarse_dims": None,
    "continuous_fraction": 0.0, "mel_weight": 1.0, "stft_weight": 0.5, "wave_weight": 0.1, "corr_weight": 0.0,
    "commit_weight": 0.1, "grad_clip": 1.0, "max_train_seconds": None, "num_threads": None, "mixed_precision": "no",
    "cpu": False, "card_note": None, "log_file": None, "log_every": 10, "no_progress": False,
}

NEW_DEFAULTS = {"save_dtype": "float32"}  # flags added since, whose defaults keep the old behaviour


def test_every_old_flag_and_default_is_kept():
    options = {o for action in A.argument_parser()._actions for o in action.option_strings}
    assert set(OLD_FLAGS) <= options
    assert {"--" + f[2:].replace("-", "_") for f in OLD_FLAGS} <= options  # HfArgumentParser adds these too
    args = dataclasses.asdict(A.parse_arguments(["--output-dir", "out"]))
    assert args == {"output_dir": "out", **OLD_DEFAULTS, **NEW_DEFAULTS}
    with pytest.raises(SystemExit):
        A.parse_arguments([])  # --output-dir is required, as it was


def test_both_spellings_and_flag_forms_parse():
    dashed = A.parse_arguments(["--output-dir", "o", "--num-threads", "2", "--target-bandwidths", "1.5", "3",
                                "--resume", "--refit-codebooks", "--no-progress", "--cpu", "--mixed-precision",
                                "bf16", "--coarse-dims", "32", "--max-minutes", "2.5"])
    underscored = A.parse_arguments(["--output_dir", "o", "--num_threads", "2", "--target_bandwidths", "1.5", "3",
                                     "--resume", "--refit_codebooks", "--no_progress", "--cpu", "--mixed_precision",
                                     "bf16", "--coarse_dims", "32", "--max_minutes", "2.5"])
    assert dashed == underscored
    assert dashed.num_threads == 2 and dashed.target_bandwidths == [1.5, 3.0] and dashed.resume is True
    assert dashed.refit_codebooks and dashed.no_progress and dashed.cpu and dashed.mixed_precision == "bf16"
    assert dashed.coarse_dims == 32 and dashed.max_minutes == 2.5
    with pytest.raises(SystemExit):
        A.parse_arguments(["--output-dir", "o", "--mixed-precision", "fp8"])


def test_the_cli_sub_parser_gives_the_same_arguments(capsys):
    from whisper_gpt_hf.cli import build_parser, main

    argv = ["--output-dir", "o", "--num-threads", "1", "--lr", "3e-3", "--resume", "--target-bandwidths", "3"]
    namespace = build_parser(["train-codec"]).parse_args(["train-codec", *argv])
    assert A.arguments_from_namespace(namespace) == A.parse_arguments(argv)
    with pytest.raises(SystemExit) as exit_info:
        main(["train-codec", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert "--num-threads" in shown and "--coarse-dims" in shown and "EnCodec" in shown


def test_the_committed_codec_command_parses_and_is_reproduced():
    meta = json.loads((CODEC_SMALL / "training_summary.json").read_text())
    args = A.parse_command_line(meta["command"])
    assert args.coarse_dims == 32 and args.refit_codebooks and args.init_from == "runs/codec-small-stage2"
    assert A.command_line(args) == meta["command"]
    assert A.load_arguments(CODEC_SMALL) == args  # no training_args.json there: the stored command is read
    with pytest.raises(ValueError, match="Not a `whisper-gpt train-codec` command"):
        A.parse_command_line("whisper-gpt train --max-steps 3")


def test_training_args_json_round_trips(tmp_path):
    args = A.parse_arguments(["--output-dir", "o", "--card-note", "a note", "--target-bandwidths", "1.5", "3"])
    A.save_arguments(args, tmp_path)
    assert json.loads((tmp_path / A.ARGUMENTS_FILE).read_text())["card_note"] == "a note"
    (tmp_path / "training_summary.json").write_text(json.dumps({"command": "not read: the JSON file wins"}))
    assert A.load_arguments(tmp_path) == args
    assert A.parse_command_line(A.command_line(args)) == dataclasses.replace(args, card_note=None)
