"""What every part of the corpus builder shares: the audio format, the sizes and splits, the parquet schema, the
``Clip`` a planner makes and a renderer fills, and the plumbing around the external synthesizers.

- ``SAMPLE_RATE`` (24 kHz mono), ``SIZES`` (the ``small`` and ``large`` presets), ``SPLITS``;
- ``COLUMNS``: the parquet schema, written once; ``FEATURE_YAML`` (the dataset card's ``dataset_info.features``) and
  ``features()`` (the ``datasets.Features`` the shards are written with) are both made from it;
- ``check_tools`` / ``MissingToolError`` / ``APT_HINT``: fail early, naming the apt-get command, when espeak-ng, sox,
  fluidsynth or the General MIDI soundfont is missing; ``_run`` runs one of them, ``_tool_version`` names its version;
- ``_trim_silence`` and ``_finish``: the post-processing both categories share (fades, peak level, 16-bit FLAC).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24_000
APT_HINT = "sudo apt-get update && sudo apt-get install -y espeak-ng fluidsynth fluid-soundfont-gm sox"
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SizePreset:
    speech_minutes: float
    music_minutes: float
    clip_seconds: tuple[float, float]
    split_fractions: tuple[float, float, float]  # train, validation, test


SIZES = {
    # small: fits in the repository (~14 MB); tests, demos and codec reports want a test split with a few dozen clips
    # per category, hence short clips and a large test share
    "small": SizePreset(4.5, 4.5, (3.0, 6.0), (0.50, 0.10, 0.40)),
    "large": SizePreset(120.0, 120.0, (5.0, 15.0), (0.90, 0.05, 0.05)),
}

# the parquet schema, in column order: name -> dtype ("audio": the 24 kHz `datasets.Audio` column, FLAC bytes)
COLUMNS = {"id": "string", "audio": "audio", "category": "string", "text": "string", "source": "string",
           "duration": "float32"}
# the same schema as the dataset card's YAML `dataset_info.features` writes it
FEATURE_YAML = [
    {"name": name, "dtype": {"audio": {"sampling_rate": SAMPLE_RATE}} if dtype == "audio" else dtype}
    for name, dtype in COLUMNS.items()
]


def features():
    """The same schema as `datasets.Features`, for writing the parquet shards."""
    from datasets import Audio, Features, Value

    return Features({name: Audio(sampling_rate=SAMPLE_RATE) if dtype == "audio" else Value(dtype)
                     for name, dtype in COLUMNS.items()})


class MissingToolError(RuntimeError):
    """A synthesizer (or the soundfont) needed to build the corpus is not installed."""


# ----------------------------------------------------------------------------------------------------------------------
# tools


def check_tools(speech: bool = True, music: bool = True, soundfont: str | None = None) -> str:
    """Fail early, naming the apt-get command, if a synthesizer is missing. Returns the soundfont path."""
    needed = (["espeak-ng", "sox"] if speech else []) + (["fluidsynth"] if music else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise MissingToolError(
            f"{', '.join(missing)} not found on PATH (needed to build the corpus). Install with: {APT_HINT}"
        )
    soundfont = soundfont or os.environ.get("WHISPER_GPT_SOUNDFONT", DEFAULT_SOUNDFONT)
    if music and not Path(soundfont).is_file():
        raise MissingToolError(
            f"General MIDI soundfont not found at {soundfont}. Install it with: {APT_HINT} "
            "(or pass --soundfont / set WHISPER_GPT_SOUNDFONT)"
        )
    return soundfont


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout


def _tool_version(name: str) -> str:
    """e.g. "espeak-ng 1.51", for the dataset card (a missing tool was already reported by check_tools)."""
    try:
        out = _run([name, "--version"]).decode(errors="replace")
    except (OSError, RuntimeError):
        return name
    version = re.search(r"\d+\.\d+(\.\d+)?", out)
    return f"{name} {version.group(0)}" if version else name


# ----------------------------------------------------------------------------------------------------------------------
# audio post-processing shared by both categories


def _trim_silence(audio: np.ndarray, rel_threshold: float = 3e-3, pad: float = 0.08) -> np.ndarray:
    """Cut the leading/trailing silence espeak-ng leaves around an utterance, keeping a short natural pad."""
    loud = np.flatnonzero(np.abs(audio) > rel_threshold * np.abs(audio).max())
    if loud.size == 0:
        return audio
    pad_n = int(pad * SAMPLE_RATE)
    return audio[max(loud[0] - pad_n, 0) : loud[-1] + pad_n + 1]


def _finish(audio: np.ndarray, peak_db: float) -> tuple[bytes, float]:
    """Peak-normalise, quantise to 16 bit and encode FLAC. Returns (flac bytes, seconds)."""
    import soundfile as sf

    audio = audio.astype(np.float64)
    fade = min(int(0.01 * SAMPLE_RATE), len(audio) // 2)  # 10 ms fades: no clicks at cut points
    ramp = np.linspace(0.0, 1.0, fade)
    audio[:fade] *= ramp
    audio[len(audio) - fade :] *= ramp[::-1]
    peak = np.abs(audio).max()
    if peak > 0:
        audio *= 10 ** (peak_db / 20) / peak
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue(), len(pcm) / SAMPLE_RATE


@dataclass
class Clip:
    """One planned clip: a planner fills ``params`` (what to synthesize), a renderer ``flac`` and ``seconds``;
    the build assigns the ``split``."""

    category: str
    index: int
    text: str
    source: str
    params: dict
    flac: bytes = b""
    seconds: float = 0.0
    split: str = ""

    @property
    def id(self) -> str:
        return f"{self.category}-{self.index:05d}"


__all__ = [
    "APT_HINT",
    "COLUMNS",
    "DEFAULT_SOUNDFONT",
    "FEATURE_YAML",
    "SAMPLE_RATE",
    "SIZES",
    "SPLITS",
    "Clip",
    "MissingToolError",
    "SizePreset",
    "check_tools",
    "features",
]
