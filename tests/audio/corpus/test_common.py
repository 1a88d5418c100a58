"""`whisper_gpt_hf.audio.corpus.common`: the one parquet schema, and the tool check naming what to install."""

from __future__ import annotations

import stat

import pytest

from whisper_gpt_hf.audio.corpus import common


def test_schema_is_written_once():
    features = common.features()
    assert list(features) == [column["name"] for column in common.FEATURE_YAML] == list(common.COLUMNS)
    assert features["audio"].sampling_rate == common.SAMPLE_RATE == 24_000
    assert common.FEATURE_YAML[1] == {"name": "audio", "dtype": {"audio": {"sampling_rate": 24_000}}}
    assert {name: features[name].dtype for name in common.COLUMNS if name != "audio"} == {
        name: dtype for name, dtype in common.COLUMNS.items() if name != "audio"}


def test_missing_soundfont_names_the_package(tmp_path, monkeypatch):
    fake = tmp_path / "fluidsynth"  # a stand-in executable, so only the soundfont is missing
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(common.MissingToolError, match="fluid-soundfont-gm"):
        common.check_tools(speech=False, music=True, soundfont=str(tmp_path / "missing.sf2"))
