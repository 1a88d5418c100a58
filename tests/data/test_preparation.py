"""Data preparation (`whisper_gpt_hf.data`): decoding, skipping with a report, windows, streaming parity, caching,
and the collator's padding and masks. Everything runs on a few seconds of audio written to tmp folders."""

from __future__ import annotations

import json
import os

import datasets
import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import HOP, SR, test_audio, tiny_model, tiny_processor

from whisper_gpt_hf.data import preparation as data_module
from whisper_gpt_hf.assets import CORPUS_SMALL, PROCESSOR_DEFAULT
from whisper_gpt_hf.data import (
    PreparationReport,
    WhisperGPTDataCollator,
    decode_audio,
    load_audio_dataset,
    prepare_dataset,
)

WINDOW, MIN_FRAMES = 32, 8
# name -> frames of clean 24 kHz mono clips (whole frames, so the codec needs no padding of its own)
CLEAN = {"a.wav": 75, "b.wav": 90, "c.flac": 40, "d.wav": 70}


def clip(frames: int, seed: int) -> np.ndarray:
    return test_audio(2.0, seed)[: frames * HOP]


def write_audiofolder(root, with_bad: bool = True) -> dict[str, np.ndarray]:
    """An audiofolder `root/train/` of clean clips (+ one of every kind of bad clip); returns the clean audio."""
    split = root / "train"
    split.mkdir(parents=True)
    audio, rows = {}, []
    for seed, (name, frames) in enumerate(CLEAN.items()):
        audio[name] = clip(frames, seed)
        sf.write(split / name, audio[name], SR)
        rows.append((name, "speech" if seed % 2 else "music"))
    if with_bad:
        (split / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" * 8)
        sf.write(split / "empty.wav", np.zeros(0, dtype=np.float32), SR)
        sf.write(split / "short.wav", clip(4, 9), SR)  # 4 frames < MIN_FRAMES
        nan = clip(20, 10)
        nan[100] = np.nan
        sf.write(split / "nan.wav", nan, SR, subtype="FLOAT")
        sf.write(split / "resampled.flac", test_audio(1.0, 11)[:16000], 16000)  # 1 s at 16 kHz: resampled on decode
        rows += [(n, "music") for n in ("broken.wav", "empty.wav", "short.wav", "nan.wav", "resampled.flac")]
    with open(split / "metadata.csv", "w") as f:
        f.write("file_name,category\n" + "".join(f"{n},{c}\n" for n, c in rows))
    return audio


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def audiofolder(tmp_path_factory):
    root = tmp_path_factory.mktemp("audiofolder")
    return root, write_audiofolder(root)


@pytest.fixture(scope="module")
def prepared(audiofolder, processor):
    root, _ = audiofolder
    raw = load_audio_dataset(str(root), split="train")
    return prepare_dataset(raw, processor, window_frames=WINDOW, min_frames=MIN_FRAMES, batch_size=3, progress=False)


def by_clip(dataset) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in dataset:
        rows.setdefault(os.path.basename(row["clip_id"]), []).append(row)
    return rows


def test_windows_match_the_processor_on_the_whole_clip(prepared, audiofolder, processor):
    """Codes and mel slices are computed once on the whole clip, then cut: the windows put back together equal
    `processor(audio=clip)`; every window but the last is full, the last keeps >= min_frames."""
    dataset, _ = prepared
    root, audio = audiofolder
    rows = by_clip(dataset)
    for name in audio:
        wave, rate = sf.read(root / "train" / name, dtype="float32")  # the file as stored (16-bit PCM)
        assert rate == SR
        ref = processor(audio=wave, sampling_rate=SR, return_tensors="pt")
        windows = rows[name]
        assert [w["start_frame"] for w in windows] == list(range(0, CLEAN[name], WINDOW))[: len(windows)]
        lengths = [w["length"] for w in windows]
        assert all(n == WINDOW for n in lengths[:-1]) and MIN_FRAMES <= lengths[-1] <= WINDOW
        assert all(len(w["input_ids"]) == w["length"] == len(w["input_features"]) for w in windows)
        ids = np.concatenate([w["input_ids"] for w in windows])
        feats = np.concatenate([np.asarray(w["input_features"], dtype=np.float32) for w in windows])
        tail = CLEAN[name] % WINDOW
        kept = CLEAN[name] - (tail if 0 < tail < MIN_FRAMES else 0)  # a too-short tail window is dropped
        assert len(ids) == kept
        # Preparation runs the processor's own path clip by clip: exactly the same codes, and the same features
        # stored as float16 (within its documented rounding bound).
        np.testing.assert_array_equal(ids, ref["input_ids"][0, :kept].numpy())
        np.testing.assert_allclose(feats, ref["input_features"][0, :kept].numpy(),
                                   rtol=data_module.FLOAT16_RELATIVE_ERROR, atol=data_module.FLOAT16_ABSOLUTE_ERROR)
        assert {w["category"] for w in windows} == {"speech" if list(CLEAN).index(name) % 2 else "music"}
    # the 16 kHz clip is resampled to 24 kHz: 1 s = 75 frames (give or take the resampler's edge samples)
    assert 70 <= sum(w["length"] for w in rows["resampled.flac"]) <= 76


def test_bad_clips_are_skipped_counted_and_named(prepared):
    dataset, report = prepared
    reasons = dict((os.path.basename(name), reason) for name, reason in report.skipped)
    assert set(reasons) == {"broken.wav", "empty.wav", "short.wav", "nan.wav"}
    assert reasons["broken.wav"].startswith("undecodable")
    assert reasons["empty.wav"].startswith("empty")
    assert reasons["nan.wav"].startswith("non-finite")
    assert reasons["short.wav"].startswith("too short")
    assert report.num_clips == len(CLEAN) + 5 and report.num_prepared == len(CLEAN) + 1
    assert report.num_skipped == 4 and report.num_examples == len(dataset)
    assert report.num_frames == sum(dataset["length"])
    assert "broken.wav" in report.summary() and "4 skipped" in report.summary()
    assert {os.path.basename(c) for c in dataset["clip_id"]}.isdisjoint(reasons)


def test_report_json_round_trip(prepared, tmp_path):
    _, report = prepared
    report.save(tmp_path / "r.json")
    again = PreparationReport.load(tmp_path / "r.json")
    assert again == report
    assert json.loads((tmp_path / "r.json").read_text())["num_skipped"] == 4


def test_streaming_and_non_streaming_give_the_same_examples(audiofolder, processor, prepared):
    root, _ = audiofolder
    stream = load_audio_dataset(str(root), split="train", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    streamed, report = prepare_dataset(stream, processor, window_frames=WINDOW, min_frames=MIN_FRAMES, batch_size=3,
                                       progress=False)
    dataset, reference_report = prepared
    assert streamed.to_list() == dataset.to_list()
    assert report == reference_report


def test_hub_layout_parquet_streaming_parity_and_ids(tmp_path, audiofolder, processor):
    """A Hub-style folder (parquet shards with embedded FLAC/WAV bytes, `id` and `category` columns)."""
    root, audio = audiofolder
    (tmp_path / "data").mkdir()
    names = list(audio)
    table = datasets.Dataset.from_dict(
        {"id": [f"clip-{i}" for i in range(len(names))],
         "audio": [{"bytes": (root / "train" / n).read_bytes(), "path": n} for n in names],
         "category": ["speech"] * len(names)},
        features=datasets.Features({"id": datasets.Value("string"), "audio": datasets.Audio(),
                                    "category": datasets.Value("string")}),
    )
    table.to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    full = load_audio_dataset(str(tmp_path))
    assert isinstance(full, datasets.DatasetDict) and full["train"].features["audio"].sampling_rate == SR
    results = [
        prepare_dataset(load_audio_dataset(str(tmp_path), split="train", streaming=s), processor,
                        window_frames=WINDOW, min_frames=MIN_FRAMES, progress=False)[0].to_list()
        for s in (False, True)
    ]
    assert results[0] == results[1]
    assert {r["clip_id"] for r in results[0]} == {f"clip-{i}" for i in range(len(names))}  # named by the id column


def test_soundfile_fast_path_matches_datasets_decoding(audiofolder):
    root, audio = audiofolder
    for name in ("a.wav", "c.flac"):
        value = {"path": str(root / "train" / name), "bytes": None}
        ours = decode_audio(value, SR)
        theirs = datasets.Audio(sampling_rate=SR, num_channels=1).decode_example(value).get_all_samples().data[0]
        np.testing.assert_array_equal(ours, theirs.numpy())
        np.testing.assert_allclose(ours, audio[name], atol=1 / 32768)  # 16-bit PCM


def test_cache_is_reused_and_keyed_on_settings(audiofolder, processor, tmp_path, monkeypatch):
    root, _ = audiofolder
    raw = load_audio_dataset(str(root), split="train")
    first, report = prepare_dataset(raw, processor, window_frames=WINDOW, min_frames=MIN_FRAMES, desc="train",
                                    cache_dir=tmp_path, progress=False)
    (folder,) = [p for p in tmp_path.iterdir()]
    assert folder.name.startswith("train-") and (folder / "preparation_report.json").is_file()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(data_module, "encode_clips", no_encoding)
    again, again_report = prepare_dataset(raw, processor, window_frames=WINDOW, min_frames=MIN_FRAMES, desc="train",
                                          cache_dir=tmp_path, progress=False)
    assert again.to_list() == first.to_list() and again_report == report
    with pytest.raises(AssertionError, match="cache"):  # another window is another cache entry
        prepare_dataset(raw, processor, window_frames=WINDOW * 2, min_frames=MIN_FRAMES, desc="train",
                        cache_dir=tmp_path, progress=False)
    stream = load_audio_dataset(str(root), split="train", streaming=True)
    with pytest.raises(ValueError, match="cache_key"):
        prepare_dataset(stream, processor, cache_dir=tmp_path, progress=False)


def test_missing_audio_column_is_a_clear_error(audiofolder):
    root, _ = audiofolder
    with pytest.raises(ValueError, match="audio-column"):
        load_audio_dataset(str(root), split="train", audio_column="speech")


def test_collator_pads_and_masks_values():
    examples = [
        {"input_ids": [5, 6, 7], "input_features": np.full((3, 4), 1.5, np.float32), "category": "speech",
         "clip_id": "x"},
        {"input_ids": [1, 2, 3, 4, 9], "input_features": np.arange(20, dtype=np.float32).reshape(5, 4).tolist(),
         "category": "music", "clip_id": "y"},
    ]
    batch = WhisperGPTDataCollator()(examples)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[5, 6, 7, -100, -100], [1, 2, 3, 4, 9]]
    assert batch["input_features"].shape == (2, 5, 4) and batch["input_features"].dtype == torch.float32
    assert torch.equal(batch["input_features"][0, :3], torch.full((3, 4), 1.5))
    assert torch.equal(batch["input_features"][0, 3:], torch.zeros(2, 4))
    assert torch.equal(batch["input_features"][1], torch.arange(20.0).reshape(5, 4))
    assert batch["category"] == ["speech", "music"] and batch["clip_id"] == ["x", "y"]

    padded = WhisperGPTDataCollator(pad_to_multiple_of=8, return_metadata=False)(examples)
    assert set(padded) == {"input_ids", "input_features", "attention_mask", "labels"}
    assert padded["input_ids"].shape == (2, 8) and padded["attention_mask"][1].tolist() == [1] * 5 + [0] * 3
    assert (padded["labels"][:, 5:] == -100).all() and (padded["input_features"][:, 5:] == 0).all()


def test_collated_loss_is_the_token_weighted_mean_of_the_examples(prepared):
    """Padding changes nothing: the batch loss equals the per-example NLL sums over the per-example counts."""
    dataset, _ = prepared
    model = tiny_model()
    rows = [dataset[i] for i in range(len(dataset)) if dataset[i]["length"] < WINDOW][:2] + [dataset[0]]
    collate = WhisperGPTDataCollator(return_metadata=False)
    with torch.no_grad():
        batch_loss = model(**collate(rows)).loss
        sums = [model(**collate([r])).loss * (r["length"] - 1) for r in rows]
    assert len({r["length"] for r in rows}) > 1
    torch.testing.assert_close(batch_loss, sum(sums) / sum(r["length"] - 1 for r in rows), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not (CORPUS_SMALL / "README.md").exists(), reason="hub/whisper-gpt-corpus-small not built yet")
def test_committed_corpus_streaming_parity(processor):
    proc = processor
    if PROCESSOR_DEFAULT.exists():
        from whisper_gpt_hf.assets import default_processor

        proc = default_processor()
    rows = []
    for streaming in (False, True):
        raw = load_audio_dataset(str(CORPUS_SMALL), split="validation", streaming=streaming)
        raw = raw.take(3) if streaming else raw.select(range(3))
        dataset, report = prepare_dataset(raw, proc, window_frames=128, progress=False)
        assert report.num_skipped == 0 and set(dataset["category"]) <= {"speech", "music"}
        rows.append(dataset.to_list())
    assert rows[0] == rows[1] and len(rows[0]) >= 3
