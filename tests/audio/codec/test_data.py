"""The codec's training data: `load_clips` reads the Hub-layout corpus, a `save_to_disk` folder and an audiofolder
through `data.load_audio_dataset` and the shared decoder, with the same int16 samples; `SegmentSampler` resumes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from whisper_gpt_hf.assets import CORPUS_SMALL, require
from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE
from whisper_gpt_hf.audio.codec.data import SegmentSampler, load_clips


@pytest.fixture(scope="module")
def hub_clips():
    return load_clips(require(CORPUS_SMALL, "The small corpus"), "test", max_seconds=40)


def test_the_hub_layout_corpus_reads_as_its_flac_int16_samples(hub_clips):
    from datasets import Audio, load_dataset

    rows = load_dataset(str(CORPUS_SMALL), split="test").cast_column("audio", Audio(decode=False))
    by_id = {row["id"]: row for row in rows}
    assert {c["category"] for c in hub_clips} == {"speech", "music"}
    for clip in hub_clips[:4]:
        expected, rate = sf.read(io.BytesIO(by_id[clip["id"]]["audio"]["bytes"]), dtype="int16")
        assert rate == SAMPLING_RATE and clip["audio"].dtype == np.int16
        assert np.array_equal(clip["audio"], expected)
    speech = sum(len(c["audio"]) for c in hub_clips if c["category"] == "speech") / SAMPLING_RATE
    assert 20 <= speech < 20 + max(len(c["audio"]) for c in hub_clips) / SAMPLING_RATE  # half the budget each


def test_save_to_disk_and_audiofolder_give_the_same_clips(tmp_path, hub_clips):
    from datasets import DatasetDict, load_dataset

    source = load_dataset(str(CORPUS_SMALL), split="test")
    DatasetDict({"test": source}).save_to_disk(str(tmp_path / "saved"))
    saved = load_clips(tmp_path / "saved", "test", max_seconds=40)
    assert [c["id"] for c in saved] == [c["id"] for c in hub_clips]
    assert all(np.array_equal(a["audio"], b["audio"]) for a, b in zip(saved, hub_clips))

    folder = tmp_path / "audiofolder" / "test"
    folder.mkdir(parents=True)
    for i, clip in enumerate(hub_clips[:3]):
        sf.write(folder / f"{i:02d}.wav", clip["audio"], SAMPLING_RATE, subtype="PCM_16")
    plain = load_clips(tmp_path / "audiofolder", "test")
    assert len(plain) == 3 and all(c["category"] is None for c in plain)  # no category column: every clip is used
    for got, clip in zip(plain, hub_clips[:3]):
        assert np.array_equal(got["audio"], clip["audio"])


def test_sampler_state_continues_the_same_crops(hub_clips):
    a = SegmentSampler(hub_clips, 4800, seed=3)
    a.sample(2)
    state = a.state_dict()
    b = SegmentSampler(hub_clips, 4800, seed=99)
    b.load_state_dict(state)
    assert np.array_equal(a.sample(4).numpy(), b.sample(4).numpy())
