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

from whisper_gpt_hf.audio import corpus

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


# ----------------------------------------------------------------------------------------------------------------------
# --held-out: a test set that differs in kind (voices, languages, instruments, composition styles)


def _midi_events(midi: bytes):
    """(status, data) of every channel event in one of the composer's format-0 files (no running status)."""
    data, i, events = midi[22:], 0, []
    while i < len(data):
        while data[i] & 0x80:  # delta time
            i += 1
        i += 1
        status = data[i]
        if status == 0xFF:
            length, j = 0, i + 2
            while data[j] & 0x80:
                length, j = (length << 7) | (data[j] & 0x7F), j + 1
            length, j = (length << 7) | data[j], j + 1
            events.append((status, data[i + 1 : j + length]))
            i = j + length
        else:
            size = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            events.append((status, data[i + 1 : i + 1 + size]))
            i += 1 + size
    return events


def test_held_out_pools_are_disjoint_from_the_default_pools():
    default_voices = {v for vs in corpus.LANGUAGE_VOICES.values() for v in vs}
    held_voices = {v for vs in corpus.HELD_OUT_LANGUAGE_VOICES.values() for v in vs}
    assert not default_voices & held_voices
    assert not set(corpus.LANGUAGE_VOICES) & set(corpus.HELD_OUT_LANGUAGE_VOICES)
    assert len(corpus.HELD_OUT_LANGUAGE_VOICES) >= 2
    assert not set(corpus.VARIANTS) & set(corpus.HELD_OUT_VARIANTS) and "" not in corpus.HELD_OUT_VARIANTS
    default_programs = {p for p, _, _ in corpus.MELODY + corpus.CHORDS + corpus.BASS}
    assert not default_programs & set(corpus.held_out_pools()["music_programs"])
    assert not {tuple(s) for s in corpus.MODES.values()} & {tuple(s) for s in corpus.HELD_OUT_MODES.values()}
    assert not set(corpus.RHYTHMS) & set(corpus.HELD_OUT_RHYTHMS)
    assert not {tuple(p) for p in corpus.PROGRESSIONS} & {tuple(p) for p in corpus.HELD_OUT_PROGRESSIONS}
    assert not set(corpus.CHORD_PATTERNS) & set(corpus.HELD_OUT_CHORD_PATTERNS)
    assert not set(corpus.BASS_PATTERNS) & set(corpus.HELD_OUT_BASS_PATTERNS)
    assert 0 not in {kit for kit, _ in corpus.HELD_OUT_KITS}  # the Standard kit is the default build's
    for lang in corpus.HELD_OUT_LANGUAGE_VOICES:  # each held-out language reads its own text
        assert sum(len(p.split()) for p in corpus.TEXTS[lang]) >= 200


def test_held_out_composer_uses_only_held_out_programs_kits_metres_and_tempi():
    default_programs = {p for p, _, _ in corpus.MELODY + corpus.CHORDS + corpus.BASS}
    held_programs = set(corpus.held_out_pools()["music_programs"])
    kits = {kit for kit, _ in corpus.HELD_OUT_KITS}
    textures = set()
    for i in range(150):
        midi, description, source, extra = corpus.compose_held_out(f"held-out-test/{i}", seconds=5.0)
        assert corpus.compose_held_out(f"held-out-test/{i}", seconds=5.0)[0] == midi  # seeded
        events = _midi_events(midi)
        programs = [(status & 0x0F, data[0]) for status, data in events if status & 0xF0 == 0xC0]
        assert {p for ch, p in programs if ch != 9} <= held_programs
        assert {p for ch, p in programs if ch == 9} <= kits
        meta = {data[0]: data for status, data in events if status == 0xFF}
        assert meta[0x58][2] in (5, 7)  # time signature numerator: 5/4 or 7/4 only
        bpm = 60_000_000 / int.from_bytes(meta[0x51][2:5], "big")
        assert bpm < 64 or bpm > 181, description
        assert any(status & 0xF0 == 0x90 for status, _ in events)
        textures.add(extra["ensemble"])
    assert textures == set(corpus.HELD_OUT_TEXTURES)
    for i in range(150):  # and the default composer never plays a held-out instrument
        events = _midi_events(corpus.compose(f"default-test/{i}", seconds=5.0)[0])
        assert {data[0] for status, data in events if status & 0xF0 == 0xC0 and status != 0xC9} <= default_programs


@needs_synths
def test_default_build_still_makes_the_committed_corpus(tmp_path):
    # the first clips of a tiny seed-0 build are the committed corpus's first clips, byte for byte
    corpus.build_corpus(tmp_path / "d", size="small", seed=0, speech_minutes=0.1, music_minutes=0.1, progress=False)
    built, committed = _audio_bytes(tmp_path / "d"), _audio_bytes(SMALL)
    assert {"speech-00000", "music-00000"} <= built.keys()
    assert all(built[k] == committed[k] for k in built)


@needs_synths
def test_held_out_build_uses_no_default_pool_and_is_deterministic(tmp_path):
    import pyarrow.parquet as pq
    import yaml

    tiny = dict(size="small", speech_minutes=0.1, music_minutes=0.1, num_workers=2, progress=False, held_out=True)
    report = corpus.build_corpus(tmp_path / "a", seed=3, **tiny)
    corpus.build_corpus(tmp_path / "b", seed=3, **tiny)
    a, b = _audio_bytes(tmp_path / "a"), _audio_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "same seed must give byte-identical audio"
    corpus.build_corpus(tmp_path / "d", size="small", seed=3, speech_minutes=0.1, music_minutes=0.1, progress=False)
    assert not set(a.values()) & set(_audio_bytes(tmp_path / "d").values())  # not the default build of that seed

    rows = [r for s in sorted((tmp_path / "a" / "data").glob("*.parquet")) for r in
            pq.read_table(s, columns=["category", "source"]).to_pylist()]
    default_voices = {v for vs in corpus.LANGUAGE_VOICES.values() for v in vs}
    default_names = {name for _, name, _ in corpus.MELODY + corpus.CHORDS + corpus.BASS}
    speech = [r["source"] for r in rows if r["category"] == "speech"]
    music = [r["source"] for r in rows if r["category"] == "music"]
    assert len(speech) >= 3 and len(music) >= 3
    for source in speech:
        voice, variant = source.split("voice=")[1].split()[0].split("+")
        assert voice not in default_voices and variant in corpus.HELD_OUT_VARIANTS and variant not in corpus.VARIANTS
        assert source.split("lang=")[1].split()[0] in corpus.HELD_OUT_LANGUAGE_VOICES
    for source in music:
        fields = dict(f.split("=", 1) for f in source.removeprefix("fluidsynth ").split("; "))
        for part in ("melody", "second", "chords", "drone", "bass"):
            assert fields.get(part) not in default_names
        assert fields["meter"] in ("5/4", "7/4") and fields["texture"] in corpus.HELD_OUT_TEXTURES
    assert all(report["splits"]["test"][cat]["clips"] > 0 for cat in ("speech", "music"))
    assert report["held_out"] is True and report["pools"] == corpus.held_out_pools()
    card = (tmp_path / "a" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["held_out"] is True and meta["held_out_pools"] == corpus.held_out_pools()
    assert "make-corpus --held-out" in card


def test_cli_held_out_flag():
    parser = argparse.ArgumentParser()
    corpus.add_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["make-corpus", "--held-out", "--seed", "1001"]).held_out is True
    assert parser.parse_args(["make-corpus"]).held_out is False
