"""The codec's training data: whole clips in memory as int16 (`load_clips`), random fixed-length crops
(`SegmentSampler`, whose RNG state travels in the training checkpoints)."""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE
from whisper_gpt_hf.data.loading import decode_audio, load_audio_dataset


def _to_int16(audio: np.ndarray) -> np.ndarray:
    # exact for 16-bit PCM sources (their float32 samples are k / 32768); anything else is rounded to 16 bits
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def load_clips(dataset: str | os.PathLike, split: str, max_seconds: float | None = None,
               categories: tuple[str, ...] = ("speech", "music"), audio_column: str = "audio") -> list[dict]:
    """Clips of one split as `{"id", "category", "audio": int16 array}`; `max_seconds` is split evenly by category.

    `dataset` is anything `whisper_gpt_hf.data.load_audio_dataset` reads: a Hub repo id, a local Hub-layout folder, an
    audiofolder or a `save_to_disk` folder. Each clip is decoded by the shared reader (`data.decode_audio`: soundfile
    for mono files at 24 kHz, bit-identical to reading the corpus' 16-bit FLAC as int16; `datasets` resamples and
    downmixes anything else) and kept as int16, so the large corpus takes ~0.6 GB in memory. Without a `category`
    column (an audiofolder) every clip is used, and `max_seconds` bounds them all together.
    """
    from datasets import Audio

    ds = load_audio_dataset(dataset, split=split, audio_column=audio_column, sampling_rate=SAMPLING_RATE)
    ds = ds.cast_column(audio_column, Audio(decode=False))  # the encoded bytes: decode_audio reads them
    has_category = "category" in ds.column_names
    groups = categories if has_category else (None,)
    budget = {c: (max_seconds / len(groups) if max_seconds else math.inf) for c in groups}
    clips = []
    for row in ds:
        cat = row["category"] if has_category else None
        if cat not in budget or budget[cat] <= 0:
            continue
        name = row.get("id", str(len(clips)))
        try:
            audio = _to_int16(decode_audio(row[audio_column], SAMPLING_RATE))
        except Exception as err:
            raise ValueError(f"Cannot read clip {name} of {dataset} ({split}): {err}") from err
        clips.append({"id": name, "category": cat, "audio": audio})
        budget[cat] -= len(audio) / SAMPLING_RATE
    if not clips:
        raise ValueError(f"No {categories} clips in split {split!r} of {dataset}.")
    return clips


def to_float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32768.0


class SegmentSampler:
    """Random fixed-length crops; a clip is drawn proportionally to its length, so every second is equally likely.

    Its RNG state (`state_dict`, JSON-ready) is saved in the training checkpoints, so `--resume` continues the same
    stream of crops instead of replaying the first ones.
    """

    def __init__(self, clips: list[dict], segment_samples: int, seed: int, gain_db: tuple[float, float] = (-6.0, 0.0)):
        self.clips = [c["audio"] for c in clips]
        lengths = np.array([len(a) for a in self.clips], dtype=np.float64)
        self.p = lengths / lengths.sum()
        self.segment = segment_samples
        self.gain_db = gain_db  # the corpus is peak-normalised to -6..-1 dB: a little gain variety for robustness
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> torch.Tensor:
        out = np.zeros((batch_size, 1, self.segment), dtype=np.float32)
        for b, i in enumerate(self.rng.choice(len(self.clips), size=batch_size, p=self.p)):
            clip = self.clips[i]
            start = int(self.rng.integers(0, max(1, len(clip) - self.segment + 1)))
            piece = to_float(clip[start: start + self.segment])
            out[b, 0, : len(piece)] = piece * 10 ** (self.rng.uniform(*self.gain_db) / 20)
        return torch.from_numpy(out)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


__all__ = ["SegmentSampler", "load_clips", "to_float"]
