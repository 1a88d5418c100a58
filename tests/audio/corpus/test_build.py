"""`whisper_gpt_hf.audio.corpus.build`: the committed small folder loads like a Hub dataset; the builder is
deterministic, keeps making the committed corpus, and names the apt-get command when a synthesizer is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from whisper_gpt_hf.audio import corpus
from whisper_gpt_hf.audio.corpus import build, common, music, speech

REPO = Path(__file__).resolve().parents[3]
SMALL = REPO / "hub" / "whisper-gpt-corpus-small"

HAVE_SYNTHS = all(shutil.which(tool) for tool in ("espeak-ng", "fluidsynth", "sox")) and Path(
    os.environ.get("WHISPER_GPT_SOUNDFONT", common.DEFAULT_SOUNDFONT)
).is_file()
needs_synths = pytest.mark.skipif(
    not HAVE_SYNTHS,
    reason=f"espeak-ng, fluidsynth, sox or the GM soundfont is not installed ({common.APT_HINT})",
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


def test_small_corpus_card_declares_the_one_schema(small):
    import yaml

    card = (SMALL / "README.md").read_text()
    assert yaml.safe_load(card.split("---\n")[1])["dataset_info"]["features"] == common.FEATURE_YAML
    assert small["train"].features == common.features()


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
    report = build.build_corpus(tmp_path / "a", seed=0, **tiny)
    build.build_corpus(tmp_path / "b", seed=0, **tiny)
    build.build_corpus(tmp_path / "c", seed=1, **tiny)
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


@needs_synths
def test_default_build_still_makes_the_committed_corpus(tmp_path):
    # the first clips of a tiny seed-0 build are the committed corpus's first clips, byte for byte
    build.build_corpus(tmp_path / "d", size="small", seed=0, speech_minutes=0.1, music_minutes=0.1, progress=False)
    built, committed = _audio_bytes(tmp_path / "d"), _audio_bytes(SMALL)
    assert {"speech-00000", "music-00000"} <= built.keys()
    assert all(built[k] == committed[k] for k in built)


# ----------------------------------------------------------------------------------------------------------------------
# --held-out: a test set that differs in kind (voices, languages, instruments, composition styles)


def test_held_out_pools_list_the_speech_pools_then_the_music_pools():
    pools = build.held_out_pools()
    assert pools == {**speech.held_out_speech_pools(), **music.held_out_music_pools()}
    assert list(pools)[:3] == ["speech_languages", "speech_voices", "speech_variants"]  # the card's key order
    assert corpus.held_out_pools is build.held_out_pools


@needs_synths
def test_held_out_build_uses_no_default_pool_and_is_deterministic(tmp_path):
    import pyarrow.parquet as pq
    import yaml

    tiny = dict(size="small", speech_minutes=0.1, music_minutes=0.1, num_workers=2, progress=False, held_out=True)
    report = build.build_corpus(tmp_path / "a", seed=3, **tiny)
    build.build_corpus(tmp_path / "b", seed=3, **tiny)
    a, b = _audio_bytes(tmp_path / "a"), _audio_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a), "same seed must give byte-identical audio"
    build.build_corpus(tmp_path / "d", size="small", seed=3, speech_minutes=0.1, music_minutes=0.1, progress=False)
    assert not set(a.values()) & set(_audio_bytes(tmp_path / "d").values())  # not the default build of that seed

    rows = [r for s in sorted((tmp_path / "a" / "data").glob("*.parquet")) for r in
            pq.read_table(s, columns=["category", "source"]).to_pylist()]
    default_voices = {v for vs in speech.LANGUAGE_VOICES.values() for v in vs}
    default_names = {name for _, name, _ in music.MELODY + music.CHORDS + music.BASS}
    speech_sources = [r["source"] for r in rows if r["category"] == "speech"]
    music_sources = [r["source"] for r in rows if r["category"] == "music"]
    assert len(speech_sources) >= 3 and len(music_sources) >= 3
    for source in speech_sources:
        voice, variant = source.split("voice=")[1].split()[0].split("+")
        assert voice not in default_voices and variant in speech.HELD_OUT_VARIANTS and variant not in speech.VARIANTS
        assert source.split("lang=")[1].split()[0] in speech.HELD_OUT_LANGUAGE_VOICES
    for source in music_sources:
        fields = dict(f.split("=", 1) for f in source.removeprefix("fluidsynth ").split("; "))
        for part in ("melody", "second", "chords", "drone", "bass"):
            assert fields.get(part) not in default_names
        assert fields["meter"] in ("5/4", "7/4") and fields["texture"] in music.HELD_OUT_TEXTURES
    assert all(report["splits"]["test"][cat]["clips"] > 0 for cat in ("speech", "music"))
    assert report["held_out"] is True and report["pools"] == build.held_out_pools()
    card = (tmp_path / "a" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["held_out"] is True and meta["held_out_pools"] == build.held_out_pools()
    assert "make-corpus --held-out" in card
