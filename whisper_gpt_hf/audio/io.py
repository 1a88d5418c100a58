"""Reading and writing audio files for the command line tools (the library itself takes arrays)."""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import soundfile as sf
import torch


def read_audio(path: str | os.PathLike, mono: str = "mean") -> tuple[np.ndarray, int]:
    """`(float32 mono samples, sampling rate)` of an audio file, at its own rate: the one file reader of the package.

    Audio files are downmixed by averaging their channels (`mono="mean"`, the documented rule for files; arrays passed
    to the feature extractor must already be mono) or refused (`mono="error"`). Raises `FileNotFoundError` for a
    missing path and a `ValueError` naming the file when it cannot be decoded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Audio file {path} does not exist; check the path.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not an audio file; pass a WAV/FLAC/MP3/OGG file.")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)  # [samples, channels]
    except Exception as err:  # soundfile raises its own error types for unreadable files
        raise ValueError(f"Cannot read audio file {path}: {err}") from err
    if audio.shape[1] > 1:
        if mono != "mean":
            raise ValueError(f"{path} has {audio.shape[1]} channels; WHISPER-GPT takes mono audio.")
        audio = audio.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(audio[:, 0], dtype=np.float32), int(rate)


def load_audio(path: str | os.PathLike, sampling_rate: int, mono: str = "mean") -> np.ndarray:
    """Read `path` as float32 mono at `sampling_rate` (`read_audio`, then resampling).

    Multi-channel files are downmixed by averaging the channels (`mono="mean"`) or refused (`mono="error"`); other
    rates are resampled with torchaudio (band-limited sinc). Raises a `ValueError` naming the file for empty or
    non-finite audio.
    """
    audio, rate = read_audio(path, mono=mono)
    if audio.size == 0:
        raise ValueError(f"{path} contains no samples.")
    if not np.isfinite(audio).all():
        raise ValueError(f"{path} contains NaN or infinite samples.")
    if rate != sampling_rate:
        import torchaudio.functional as AF

        audio = AF.resample(torch.from_numpy(audio), rate, sampling_rate).numpy()
    return np.ascontiguousarray(audio, dtype=np.float32)


def save_audio(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> None:
    """Write float audio as 16-bit PCM WAV, atomically: into a temporary file with a unique name next to `path`,
    flushed to disk, then renamed into place. Concurrent writers never see each other's half files (the last rename
    wins), and a failed write leaves `path` as it was and no temporary file behind."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder; pass a file name for the WAV (e.g. {path}/out.wav).")
    with atomic_output(path, suffix=".tmp") as tmp:
        with open(tmp, "wb") as f:
            sf.write(f, np.clip(audio, -1.0, 1.0), sampling_rate, subtype="PCM_16", format="WAV")
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a uniquely named temporary file next to `path`; when the block ends normally it is renamed to `path`
    (readable like any other output), when it raises it is removed. The one write-then-rename of every audio file
    this package writes (`save_audio`, `whisper-gpt generate --stream`)."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644 & ~_umask())  # mkstemp makes 0600 files; a WAV is as readable as any other output
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
