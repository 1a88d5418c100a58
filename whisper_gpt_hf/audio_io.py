"""Reading and writing audio files for the command line tools (the library itself takes arrays)."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import torch


def load_audio(path: str | os.PathLike, sampling_rate: int, mono: str = "mean") -> np.ndarray:
    """Read `path` as float32 mono at `sampling_rate`.

    Multi-channel files are downmixed by averaging the channels (`mono="mean"`) or refused (`mono="error"`); other
    rates are resampled with torchaudio (band-limited sinc). Raises a `ValueError` naming the file for empty or
    non-finite audio.
    """
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [samples, channels]
    except Exception as err:  # soundfile raises its own error types for unreadable files
        raise ValueError(f"Cannot read audio file {path}: {err}") from err
    if audio.shape[1] > 1:
        if mono != "mean":
            raise ValueError(f"{path} has {audio.shape[1]} channels; WHISPER-GPT takes mono audio.")
        audio = audio.mean(axis=1, keepdims=True)
    audio = audio[:, 0]
    if audio.size == 0:
        raise ValueError(f"{path} contains no samples.")
    if not np.isfinite(audio).all():
        raise ValueError(f"{path} contains NaN or infinite samples.")
    if rate != sampling_rate:
        import torchaudio.functional as AF

        audio = AF.resample(torch.from_numpy(audio), rate, sampling_rate).numpy()
    return np.ascontiguousarray(audio, dtype=np.float32)


def save_audio(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> None:
    """Write float audio as 16-bit PCM WAV (atomically: a temporary file renamed into place)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    sf.write(tmp, np.clip(audio, -1.0, 1.0), sampling_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
