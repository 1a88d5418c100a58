"""`whisper-gpt make-corpus` (`whisper_gpt_hf.cli.make_corpus`): its flags, and that it hands them to `build_corpus`."""

from __future__ import annotations

import argparse
import json

from whisper_gpt_hf.audio.corpus import build
from whisper_gpt_hf.cli import make_corpus


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    make_corpus.add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_verb_is_registered():
    args = _parser().parse_args(["make-corpus", "--size", "large", "--seed", "3", "--workers", "1",
                                 "--speech-minutes", "2"])
    assert (args.size, args.seed, args.workers, args.speech_minutes, args.music_minutes) == ("large", 3, 1, 2.0, None)
    assert args.func is make_corpus.run


def test_cli_held_out_flag():
    parser = _parser()
    assert parser.parse_args(["make-corpus", "--held-out", "--seed", "1001"]).held_out is True
    assert parser.parse_args(["make-corpus"]).held_out is False


def test_cli_builds_the_default_folder_and_prints_the_report(monkeypatch, capsys):
    calls = []

    def fake_build(output, **kwargs):
        calls.append((output, kwargs))
        return {"output_dir": output}

    monkeypatch.setattr(build, "build_corpus", fake_build)
    args = _parser().parse_args(["make-corpus", "--held-out", "--seed", "7", "--music-minutes", "0.5"])
    assert args.func(args) == 0
    assert calls == [("data/whisper-gpt-corpus-small-held-out",
                      dict(size="small", seed=7, num_workers=2, speech_minutes=None, music_minutes=0.5,
                           soundfont=None, held_out=True))]
    assert json.loads(capsys.readouterr().out) == {"output_dir": "data/whisper-gpt-corpus-small-held-out"}
