"""The synthetic corpus: the committed small folder loads like a Hub dataset; the builder is deterministic and says
which apt-get command to run when a synthesizer is missing."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from whisper_gpt_hf import corpus

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "hub" / "whisper-gpt-corpus-small"

HAVE_SYNTHS = all(shutil.which(tool) for tool in ("espeak-ng", "fluidsynth", "sox")) and Path(
    os.environ.get("WHISPER_GPT_SOUNDFONT", corpus.DEFAULT_SOUNDFONT)
).is_file()
needs_synths = pytest.mark.skipif(
    not HAVE_SYNTHS,
    reason=f"espeak-ng, fluidsynth, sox or the GM soundfont is not installed ({corpus.APT_HINT})",
)


# ----------------------------------------------------------------------------------------------------------------------
# the committed small corpus


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from datasets import load_dataset

    return load_dataset(str(SMALL), cache_dir=str(tmp_path_factory.mktemp("hf-cache")))


def test_small_corpus_has_three_splits_with_both_categories(small):
    assert set(small) == {"train", "validation", "test"}
    for split in small.values():
        assert set(split["category"]) == {"speech", "music"}
        assert split.column_names == ["id", "audio", "category", "text", "source", "duration"]
    # the test split is what codec reports and demos use: a few dozen clips per category
    test_categories = small["test"]["category"]
    assert min(test_categories.count("speech"), test_categories.count("music")) >= 20


def test_small_corpus_decodes_to_24khz_float_audio(small):
    for name, split in small.items():
        for category in ("speech", "music"):
            row = split[split["category"].index(category)]
            samples = row["audio"].get_all_samples()
            audio = samples.data.numpy()
            assert samples.sample_rate == corpus.SAMPLE_RATE == 24_000
            assert audio.dtype == np.float32 and audio.shape[0] == 1  # mono
            assert abs(audio.shape[1] / 24_000 - row["duration"]) < 1e-3
            rms = float(np.sqrt(np.mean(audio**2)))
            assert rms > 0.01, f"{name}/{row['id']} is (nearly) silent"
            assert row["text"] and row["source"]


def test_small_corpus_fits_in_the_repository():
    size = sum(f.stat().st_size for f in SMALL.rglob("*") if f.is_file())
    assert size < 16 * 2**20
    card = (SMALL / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "make-corpus" in card


# ----------------------------------------------------------------------------------------------------------------------
# building


def _audio_bytes(folder: Path) -> dict[str, bytes]:
    import pyarrow.parquet as pq

    out = {}
    for shard in sorted((folder / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["id", "audio"]).to_pylist():
            out[row["id"]] = row["audio"]["bytes"]
    return out


@needs_synths
def test_build_is_deterministic(tmp_path):
    tiny = dict(size="small", speech_minutes=1 / 3, music_minutes=1 / 3, num_workers=2, progress=False)
    report = corpus.build_corpus(tmp_path / "a", seed=0, **tiny)
    corpus.build_corpus(tmp_path / "b", seed=0, **tiny)
    corpus.build_corpus(tmp_path / "c", seed=1, **tiny)
    a, b, c = (_audio_bytes(tmp_path / name) for name in "abc")

    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "same seed must give byte-identical audio"
    assert {k.split("-")[0] for k in a} == {"speech", "music"}
    assert not set(a.values()) & set(c.values()), "another seed must give other audio"
    for split in ("train", "validation", "test"):
        assert {cat: v["clips"] > 0 for cat, v in report["splits"][split].items()} == {"speech": True, "music": True}
    speech_minutes = sum(v["speech"]["minutes"] for v in report["splits"].values())
    assert speech_minutes >= 1 / 3 - 0.01


def test_missing_synthesizer_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, sox or fluidsynth here
    with pytest.raises(corpus.MissingToolError, match="apt-get install -y espeak-ng fluidsynth fluid-soundfont-gm sox"):
        corpus.build_corpus(tmp_path / "out", speech_minutes=0.1, music_minutes=0.1)
    assert not (tmp_path / "out").exists()


def test_missing_soundfont_names_the_package(tmp_path, monkeypatch):
    fake = tmp_path / "fluidsynth"  # a stand-in executable, so only the soundfont is missing
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(corpus.MissingToolError, match="fluid-soundfont-gm"):
        corpus.check_tools(speech=False, music=True, soundfont=str(tmp_path / "missing.sf2"))


# ----------------------------------------------------------------------------------------------------------------------
# pieces


def test_midi_writer():
    assert [corpus._vlq(v) for v in (0, 127, 128, 0x3FFF, 0x4000)] == [
        b"\x00", b"\x7f", b"\x81\x00", b"\xff\x7f", b"\x81\x80\x00"]
    midi, description, source, _ = corpus.compose("test-piece", seconds=4.0)
    assert midi[:4] == b"MThd" and midi[14:18] == b"MTrk"
    assert int.from_bytes(midi[18:22], "big") == len(midi) - 22  # track length field matches
    assert midi.endswith(b"\xff\x2f\x00")
    assert "BPM" in description and "melody=" in source
    assert corpus.compose("test-piece", seconds=4.0)[0] == midi  # composing is seeded


def test_text_units_are_short_and_cover_the_text():
    for passages in corpus.TEXTS.values():
        for passage in passages:
            units = corpus._split_units(passage)
            assert all(len(u.split()) <= corpus.MAX_WORDS for u in units)
            assert " ".join(units).split() == passage.split()


def test_cli_verb_is_registered():
    parser = argparse.ArgumentParser()
    corpus.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["make-corpus", "--size", "large", "--seed", "3", "--workers", "1",
                              "--speech-minutes", "2"])
    assert (args.size, args.seed, args.workers, args.speech_minutes, args.music_minutes) == ("large", 3, 1, 2.0, None)
    assert args.func is corpus._main
