"""Build the WHISPER-GPT audio corpus: speech and music made by real synthesizers, written as a Hub dataset folder.

No dataset can be downloaded on the machines this project runs on, so the corpus is synthesized here, deterministically:

- **speech**: ``espeak-ng`` reads public-domain text (``corpus_texts.py``) in ten languages, with many regional voices,
  voice variants, speaking rates, pitches and word gaps; resampled to 24 kHz by ``sox``.
- **music**: short pieces composed here (melody, optional harmony line, chords, bass, drums on MIDI channel 10, over
  many General MIDI instruments, keys, modes, meters, tempos and accompaniment patterns), written as Standard MIDI
  Files by a tiny writer below and rendered by ``fluidsynth`` with the ``fluid-soundfont-gm`` soundfont at 24 kHz.

Every clip is mono 24 kHz, peak-normalised, stored as 16-bit FLAC bytes in parquet shards with a
``datasets.Audio(sampling_rate=24000)`` column, next to a dataset card with YAML metadata, so that
``datasets.load_dataset(folder)`` loads it exactly as it would from the Hub. The same seed gives byte-identical FLAC
bytes (espeak-ng, sox and fluidsynth are deterministic; sox writes floats, so no dither; fluidsynth's reverb and
chorus are switched off).

Two sizes (``--speech-minutes`` / ``--music-minutes`` override either):

    # small: ~4.5 min each of speech and music, clips of 3-6 s; committed at hub/whisper-gpt-corpus-small
    whisper-gpt make-corpus --size small --seed 0 --output hub/whisper-gpt-corpus-small
    # large: >= 2 h each of speech and music, clips of 5-15 s; made on demand, gitignored
    whisper-gpt make-corpus --size large --seed 0 --output data/whisper-gpt-corpus-large
    # held-out: a test set that differs in kind (other languages, voices, instruments, composition styles)
    whisper-gpt make-corpus --held-out --size small --speech-minutes 6 --music-minutes 6 --seed 1001 \
        --output data/heldout-kind

Needs the Debian packages ``espeak-ng fluidsynth fluid-soundfont-gm sox``. Loading a built corpus needs none of them.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whisper_gpt_hf.audio.corpus.texts import TEXTS

SAMPLE_RATE = 24_000
APT_HINT = "sudo apt-get update && sudo apt-get install -y espeak-ng fluidsynth fluid-soundfont-gm sox"
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SPLITS = ("train", "validation", "test")
SHARD_BYTES = 200 * 2**20  # Hub guidance: parquet shards well under 500 MB


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
    """One planned clip; ``render`` fills ``flac`` and ``seconds``."""

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


# ----------------------------------------------------------------------------------------------------------------------
# speech: espeak-ng reading public-domain text

# espeak-ng voices per text language (filtered at run time by `espeak-ng --voices`)
LANGUAGE_VOICES = {
    "en": ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"],
    "de": ["de"],
    "fr": ["fr-fr", "fr-be", "fr-ch"],
    "es": ["es", "es-419"],
    "it": ["it"],
    "nl": ["nl"],
    "pt": ["pt", "pt-br"],
    "pl": ["pl"],
    "la": ["la"],
    "fi": ["fi"],
}
# roughly the share of text each language has, so no language runs through its sentences much faster than another
LANGUAGE_WEIGHTS = {"en": 4.0, "de": 1.4, "fr": 1.4, "es": 1.0, "it": 1.0, "nl": 0.7, "pt": 0.7, "pl": 0.6, "la": 0.5,
                    "fi": 0.3}
# human-sounding voice variants (espeak-ng-data/voices/!v); robots, croaks and whispers are left out on purpose
VARIANTS = [
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3", "adam",
    "Alicia", "Andrea", "Andy", "Annie", "antonio", "belinda", "benjamin", "boris", "caleb", "david", "Denis", "Diogo",
    "ed", "edward", "Gene", "grandma", "grandpa", "Henrique", "Hugo", "iven", "Jacky", "john", "Lee", "linda",
    "Marco", "Mario", "max", "Michael", "michel", "Mike", "norbert", "pablo", "paul", "pedro", "quincy", "rob",
    "robert", "sandro", "shelby", "steph", "travis", "victor", "zac",
]
# --held-out: voices, languages and variants the pools above never use, for a test set that differs in kind from the
# training data. Every voice here is a language the default build does not speak, read from its own texts; every
# variant is one VARIANTS leaves out (mostly human-sounding; croak and announcer are the two odd ones)
HELD_OUT_LANGUAGE_VOICES = {"sv": ["sv"], "cs": ["cs"], "ro": ["ro"], "id": ["id"]}
HELD_OUT_LANGUAGE_WEIGHTS = {"sv": 1.0, "cs": 1.0, "ro": 1.0, "id": 1.0}
HELD_OUT_VARIANTS = [
    "Alex", "Gene2", "Nguyen", "anika", "aunty", "edward2", "gustave", "iven2", "iven3", "iven4", "kaukovalta",
    "klatt4", "klatt5", "klatt6", "m8", "marcelo", "miguel", "steph2", "steph3", "croak", "announcer",
]
MAX_WORDS = 14  # longest text unit: ~6-7 s even at the slowest rate, so one unit always fits a clip
RATE_WPM = (125, 205)
PITCH = (20, 80)


def _split_units(passage: str) -> list[str]:
    """Sentences, with long ones cut at commas (then at words) into units of at most MAX_WORDS words."""
    units = []
    for sentence in re.split(r"(?<=[.!?;])\s+", passage.strip()):
        pieces, current = re.split(r"(?<=[,:])\s+", sentence), []
        for piece in pieces:
            words = piece.split()
            if current and len(current) + len(words) > MAX_WORDS:
                units.append(" ".join(current))
                current = []
            current += words
            while len(current) > MAX_WORDS:
                units.append(" ".join(current[:MAX_WORDS]))
                current = current[MAX_WORDS:]
        if current:
            units.append(" ".join(current))
    return units


class _Deck:
    """A shuffled deck of text units per language: a unit comes back only once every other unit has been read."""

    def __init__(self, units: list[str], rng: random.Random):
        self.units, self.rng, self.order = units, rng, []

    def draw(self, avoid: list[str]) -> str:
        """The next unit not in ``avoid`` (the clip so far): a reshuffle must not repeat a sentence within a clip."""
        if not self.order:
            self.order = self.rng.sample(self.units, len(self.units))
        for i in reversed(range(len(self.order))):
            if self.order[i] not in avoid:
                return self.order.pop(i)
        return self.order.pop()  # only reachable if the caller asks for more units than the language has

    def put_back(self, unit: str) -> None:
        self.order.insert(0, unit)  # the bottom of the deck: drawn again only after the rest


def _installed_voices() -> set[str]:
    out = _run(["espeak-ng", "--voices"]).decode(errors="replace").splitlines()[1:]
    return {line.split()[1] for line in out if len(line.split()) > 1}


def _installed_variants() -> set[str]:
    data = re.search(r"Data at:\s*(\S+)", _run(["espeak-ng", "--version"]).decode(errors="replace"))
    folder = Path(data.group(1)) / "voices" / "!v" if data else None
    if folder is None or not folder.is_dir():
        return {""}  # only the plain voices then
    return {p.name for p in folder.iterdir()} | {""}


class SpeechPlanner:
    """Draws speech clips (voice, rate, pitch, text) from a seeded RNG; keeps its text decks between rounds."""

    def __init__(self, seed: int, clip_seconds: tuple[float, float], held_out: bool = False):
        self.rng = random.Random(f"whisper-gpt-corpus/{'held-out/' if held_out else ''}{seed}/speech")
        self.clip_seconds = clip_seconds
        language_voices = HELD_OUT_LANGUAGE_VOICES if held_out else LANGUAGE_VOICES
        self.weights = HELD_OUT_LANGUAGE_WEIGHTS if held_out else LANGUAGE_WEIGHTS
        installed = _installed_voices()
        self.voices = {lang: [v for v in vs if v in installed] for lang, vs in language_voices.items()}
        self.voices = {lang: vs for lang, vs in self.voices.items() if vs}
        if not self.voices:
            raise MissingToolError(f"espeak-ng reports none of the voices {sorted(language_voices)}. {APT_HINT}")
        variants = _installed_variants()
        self.variants = [v for v in (HELD_OUT_VARIANTS if held_out else VARIANTS) if v in variants]
        if held_out and not self.variants:  # the plain voice is the default pool's, so held-out speech needs a variant
            raise MissingToolError(f"espeak-ng has none of the voice variants {HELD_OUT_VARIANTS} (espeak-ng-data/"
                                   f"voices/!v). {APT_HINT}")
        self.decks = {
            lang: _Deck([u for passage in TEXTS[lang] for u in _split_units(passage)], self.rng)
            for lang in sorted(self.voices)
        }
        self.next_index = 0

    @staticmethod
    def estimate_seconds(text: str, rate: int) -> float:
        # espeak-ng speaks ~6.5 characters per "word" of its words-per-minute rate; punctuation adds short pauses
        return len(text) / (rate / 60 * 6.5) + 0.25 * len(re.findall(r"[,.;:!?]", text))

    def _fitting_unit(self, deck: _Deck, units: list[str], rate: int, tries: int = 3) -> str | None:
        """A next unit that keeps the clip (by estimate) under its maximum length; a unit that would overflow goes
        back into the deck for a later clip. Without this, re-reading a too-long clip minus its last unit can leave
        a one-word clip."""
        for _ in range(tries):
            unit = deck.draw(units)
            if self.estimate_seconds(" ".join(units + [unit]), rate) <= 0.9 * self.clip_seconds[1]:
                return unit
            deck.put_back(unit)
        return None

    def plan(self, seconds: float) -> list[Clip]:
        """Clips whose estimated durations add up to ``seconds``."""
        langs = sorted(self.decks)
        clips, planned = [], 0.0
        while planned < seconds:
            lang = self.rng.choices(langs, weights=[self.weights[lang] for lang in langs])[0]
            voice = self.rng.choice(self.voices[lang])
            variant = self.rng.choice(self.variants)
            rate = self.rng.randint(*RATE_WPM)
            pitch = self.rng.randint(*PITCH)
            gap = self.rng.choice([0, 0, 0, 1, 2, 3])  # extra pause between words, in 10 ms units
            target = self.rng.uniform(*self.clip_seconds)
            deck = self.decks[lang]
            units = [deck.draw([])]
            while self.estimate_seconds(" ".join(units), rate) < target and len(units) < len(deck.units):
                unit = self._fitting_unit(deck, units, rate)
                if unit is None:
                    break
                units.append(unit)
            params = dict(voice=voice + (f"+{variant}" if variant else ""), language=lang, rate=rate, pitch=pitch,
                          gap=gap, units=units, max_seconds=self.clip_seconds[1],
                          peak_db=round(self.rng.uniform(-6.0, -1.0), 2))
            clips.append(Clip("speech", self.next_index, "", "", params))
            self.next_index += 1
            planned += target
        return clips


def _espeak(text: str, p: dict) -> np.ndarray:
    """Synthesize with espeak-ng (22.05 kHz) and resample to 24 kHz float with sox (float output: no dither)."""
    with tempfile.TemporaryDirectory(prefix="wgpt-speech-") as tmp:
        wav = os.path.join(tmp, "speech.wav")
        _run(["espeak-ng", "-v", p["voice"], "-s", str(p["rate"]), "-p", str(p["pitch"]), "-g", str(p["gap"]),
              "-b", "1", "-w", wav, "--stdin"], stdin=text.encode("utf-8"))
        raw = _run(["sox", "-D", wav, "-t", "f32", "-r", str(SAMPLE_RATE), "-", "rate", "-v"])
    return np.frombuffer(raw, dtype=np.float32)


def render_speech(clip: Clip) -> Clip:
    p = clip.params
    units = list(p["units"])
    while True:
        audio = _trim_silence(_espeak(" ".join(units), p))
        # the planner's duration estimate is rough: if the clip came out too long, drop its last unit and re-read
        if len(audio) <= p["max_seconds"] * SAMPLE_RATE or len(units) == 1:
            break
        units = units[:-1]
    clip.text = " ".join(units)
    clip.source = (f"espeak-ng voice={p['voice']} lang={p['language']} rate={p['rate']}wpm pitch={p['pitch']} "
                   f"gap={p['gap']}")
    clip.flac, clip.seconds = _finish(audio[: int(p["max_seconds"] * SAMPLE_RATE)], p["peak_db"])
    return clip


# ----------------------------------------------------------------------------------------------------------------------
# music: a tiny Standard MIDI File writer


class Midi:
    """Collects channel events and writes a format-0 Standard MIDI File (one track, all channels)."""

    def __init__(self, ticks_per_beat: int = 480):
        self.tpb = ticks_per_beat
        self.events: list[tuple[int, int, bytes]] = []  # (tick, order, bytes): offs sort before ons at one tick

    def meta(self, kind: int, data: bytes) -> None:
        self.events.append((0, 0, bytes([0xFF, kind]) + _vlq(len(data)) + data))

    def tempo(self, bpm: float) -> None:
        self.meta(0x51, struct.pack(">I", round(60_000_000 / bpm))[1:])

    def time_signature(self, beats: int) -> None:
        self.meta(0x58, bytes([beats, 2, 24, 8]))

    def program(self, channel: int, program: int, volume: int) -> None:
        self.events.append((0, 1, bytes([0xC0 | channel, program])))
        self.events.append((0, 1, bytes([0xB0 | channel, 7, volume])))  # channel volume: the mix

    def note(self, channel: int, tick: int, duration: int, pitch: int, velocity: int) -> None:
        pitch, velocity = min(max(pitch, 0), 127), min(max(velocity, 1), 127)
        self.events.append((tick, 3, bytes([0x90 | channel, pitch, velocity])))
        self.events.append((tick + max(duration, 1), 2, bytes([0x80 | channel, pitch, 0])))

    def to_bytes(self) -> bytes:
        track, last = bytearray(), 0
        for tick, _, data in sorted(self.events, key=lambda e: (e[0], e[1])):
            track += _vlq(tick - last) + data
            last = tick
        track += b"\x00\xff\x2f\x00"  # end of track
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, self.tpb)
        return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


# ----------------------------------------------------------------------------------------------------------------------
# music: a small seeded composer

KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MODES = {
    "major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "dorian": [0, 2, 3, 5, 7, 9, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10], "lydian": [0, 2, 4, 6, 7, 9, 11], "phrygian": [0, 1, 3, 5, 7, 8, 10],
    "harmonic minor": [0, 2, 3, 5, 7, 8, 11],
}
# chord roots as 0-based scale degrees, one chord a bar
PROGRESSIONS = [
    [0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [1, 4, 0, 0], [0, 5, 1, 4], [5, 3, 0, 4], [0, 0, 3, 4], [0, 3, 0, 4],
    [0, 6, 5, 4], [0, 2, 3, 4], [0, 3, 5, 4, 0, 3, 4, 0], [0, 1, 0, 1], [0, 6, 0, 6], [3, 4, 0, 0],
]
# (GM program 0-based, name, centre MIDI note of its part)
MELODY = [
    (0, "Acoustic Grand Piano", 72), (4, "Electric Piano 1", 72), (6, "Harpsichord", 72), (8, "Celesta", 84),
    (9, "Glockenspiel", 84), (11, "Vibraphone", 72), (12, "Marimba", 72), (13, "Xylophone", 84),
    (16, "Drawbar Organ", 72), (21, "Accordion", 72), (22, "Harmonica", 72), (24, "Acoustic Guitar (nylon)", 64),
    (25, "Acoustic Guitar (steel)", 64), (26, "Electric Guitar (jazz)", 64), (27, "Electric Guitar (clean)", 64),
    (29, "Overdriven Guitar", 64), (40, "Violin", 76), (41, "Viola", 64), (42, "Cello", 52), (56, "Trumpet", 72),
    (57, "Trombone", 60), (60, "French Horn", 64), (64, "Soprano Sax", 72), (65, "Alto Sax", 70),
    (66, "Tenor Sax", 62), (68, "Oboe", 74), (70, "Bassoon", 52), (71, "Clarinet", 70), (72, "Piccolo", 86),
    (73, "Flute", 76), (74, "Recorder", 76), (75, "Pan Flute", 74), (79, "Ocarina", 76), (80, "Lead 1 (square)", 72),
    (81, "Lead 2 (sawtooth)", 72), (104, "Sitar", 64), (105, "Banjo", 66), (108, "Kalimba", 74),
    (114, "Steel Drums", 72),
]
CHORDS = [
    (0, "Acoustic Grand Piano", 60), (2, "Electric Grand Piano", 60), (4, "Electric Piano 1", 60),
    (5, "Electric Piano 2", 60), (6, "Harpsichord", 60), (11, "Vibraphone", 62), (16, "Drawbar Organ", 60),
    (19, "Church Organ", 60), (24, "Acoustic Guitar (nylon)", 57), (25, "Acoustic Guitar (steel)", 57),
    (27, "Electric Guitar (clean)", 57), (46, "Orchestral Harp", 60), (48, "String Ensemble 1", 60),
    (49, "String Ensemble 2", 60), (50, "Synth Strings 1", 60), (52, "Choir Aahs", 62), (61, "Brass Section", 60),
    (88, "Pad 1 (new age)", 60), (89, "Pad 2 (warm)", 60), (90, "Pad 3 (polysynth)", 60), (94, "Pad 7 (halo)", 60),
]
SUSTAINED = {16, 19, 48, 49, 50, 52, 61, 88, 89, 90, 94}  # instruments that want held chords, not plucked patterns
BASS = [
    (32, "Acoustic Bass", 38), (33, "Electric Bass (finger)", 38), (34, "Electric Bass (pick)", 38),
    (35, "Fretless Bass", 38), (36, "Slap Bass 1", 38), (38, "Synth Bass 1", 38), (39, "Synth Bass 2", 38),
    (43, "Contrabass", 38), (58, "Tuba", 38),
]
# melody rhythms: one bar of note lengths in beats
RHYTHMS = {
    4: [[1, 1, 1, 1], [2, 1, 1], [1.5, 0.5, 1, 1], [0.5, 0.5, 1, 0.5, 0.5, 1], [1, 0.5, 0.5, 2], [3, 1], [0.5] * 8,
        [1, 1, 2], [0.5, 0.5, 0.5, 0.5, 2], [1.5, 1.5, 1], [4]],
    3: [[1, 1, 1], [2, 1], [1.5, 0.5, 1], [0.5, 0.5, 1, 1], [3], [1, 0.5, 0.5, 1], [0.5] * 6],
}
# drum patterns on a 16th-note grid (12 steps for 3/4): {GM drum note: steps}
KICK, SNARE, STICK, CLAP, HAT, PEDAL_HAT, OPEN_HAT, RIDE, CRASH, TAMB, LOW_TOM, HIGH_TOM = (
    36, 38, 37, 39, 42, 44, 46, 51, 49, 54, 45, 50)
DRUMS = {
    4: {
        "rock": {KICK: [0, 8, 10], SNARE: [4, 12], HAT: list(range(0, 16, 2))},
        "disco": {KICK: [0, 4, 8, 12], CLAP: [4, 12], OPEN_HAT: [2, 6, 10, 14], HAT: [0, 4, 8, 12]},
        "half-time": {KICK: [0, 10], SNARE: [8], HAT: list(range(0, 16, 2))},
        "shuffle": {KICK: [0, 8], SNARE: [4, 12], RIDE: [0, 4, 6, 8, 12, 14], PEDAL_HAT: [4, 12]},
        "bossa nova": {KICK: [0, 3, 4, 7, 8, 11, 12, 15], STICK: [0, 3, 6, 10, 13], HAT: list(range(0, 16, 2))},
        "funk": {KICK: [0, 3, 10], SNARE: [4, 12, 7], HAT: list(range(16)), TAMB: [4, 12]},
    },
    3: {
        "waltz": {KICK: [0], STICK: [4, 8], HAT: list(range(0, 12, 2))},
        "jazz waltz": {KICK: [0], RIDE: [0, 4, 6, 8, 10], PEDAL_HAT: [4, 8]},
    },
}
SWUNG = {"shuffle", "jazz waltz"}
CHORD_PATTERNS = ["sustained", "half notes", "on the beat", "off-beat", "arpeggiated", "broken", "strummed"]
BASS_PATTERNS = ["whole notes", "root-fifth", "walking", "eighths"]


def _pick(rng: random.Random, table: list) -> tuple:
    return table[rng.randrange(len(table))]


def _place(pitch_class: int, centre: int) -> int:
    """The MIDI note of ``pitch_class`` nearest ``centre`` (within [centre - 6, centre + 6))."""
    return centre - 6 + (pitch_class - (centre - 6)) % 12


@dataclass
class Piece:
    bpm: int
    beats: int  # per bar, quarter-note beats
    root: int
    mode: str
    bars: int
    tpb: int = 480
    swing: bool = False
    midi: Midi = field(default_factory=Midi)

    def tick(self, bar: int, beat: float) -> int:
        t = round((bar * self.beats + beat) * self.tpb)
        # swing: off-beat eighths land on the third triplet
        if self.swing and t % self.tpb == self.tpb // 2:
            t += self.tpb // 6
        return t

    @property
    def scale(self) -> list[int]:
        return MODES[self.mode] if self.mode in MODES else HELD_OUT_MODES[self.mode]

    def chord_tones(self, degree: int, seventh: bool) -> list[int]:
        scale = self.scale
        steps = [0, 2, 4, 6] if seventh else [0, 2, 4]
        return [(self.root + scale[(degree + s) % len(scale)]) % 12 for s in steps]

    def degree_pitch(self, degree: int, tonic: int) -> int:
        scale = self.scale  # 7 notes for the default modes; 5 or 6 for some held-out scales
        return tonic + scale[degree % len(scale)] + 12 * (degree // len(scale))


def _melody(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
            harmony_channel: int | None) -> None:
    """A 2-bar motif, repeated over the chords with small mutations; strong beats snap to chord tones."""
    tonic = _place(piece.root, centre - 3)
    scale = piece.scale
    rhythms = RHYTHMS[piece.beats] if piece.beats in RHYTHMS else HELD_OUT_RHYTHMS[piece.beats]
    motif = [rng.choice(rhythms) for _ in range(2)]
    degree = rng.choice([0, 2, 4])
    for bar in range(piece.bars):
        rhythm = motif[bar % 2] if rng.random() < 0.75 else rng.choice(rhythms)
        if bar % 4 == 3:
            rhythm = [piece.beats]  # phrase end: one long note
        chord = piece.chord_tones(chords[bar], False)
        beat = 0.0
        for length in rhythm:
            degree += rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])
            degree = min(max(degree, -3), 9)
            if beat == 0 or length >= 2:  # strong beats and long notes rest on the nearest chord tone
                degree += next(d for d in (0, 1, -1, 2, -2, 3)
                               if (piece.root + scale[(degree + d) % len(scale)]) % 12 in chord)
            if rng.random() > 0.08:  # an occasional rest lets the phrase breathe
                start, end = piece.tick(bar, beat), piece.tick(bar, beat + length)
                vel = velocity + (12 if beat == 0 else 0) + rng.randint(-8, 8)
                piece.midi.note(channel, start, int((end - start) * 0.92), piece.degree_pitch(degree, tonic), vel)
                if harmony_channel is not None:  # a parallel line a third below
                    pitch = piece.degree_pitch(degree - 2, tonic)
                    piece.midi.note(harmony_channel, start, int((end - start) * 0.92), pitch, vel - 15)
            beat += length


def _chords(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
            pattern: str) -> None:
    seventh = rng.random() < 0.3
    b, tpb = piece.beats, piece.tpb
    for bar in range(piece.bars):
        notes = sorted(_place(pc, centre) for pc in piece.chord_tones(chords[bar], seventh))

        def play(beat: float, length: float, pitches: list[int], stagger: int = 0, accent: int = 0) -> None:
            for i, pitch in enumerate(pitches):
                start = piece.tick(bar, beat) + i * stagger
                end = piece.tick(bar, beat + length)
                piece.midi.note(channel, start, end - start - tpb // 16, pitch, velocity + accent + rng.randint(-6, 6))

        if pattern == "sustained":
            play(0, b, notes)
        elif pattern == "half notes":
            for beat in range(0, b, 2):
                play(beat, min(2, b - beat), notes)
        elif pattern == "on the beat":
            for beat in range(b):
                play(beat, 0.9, notes, accent=8 if beat == 0 else 0)
        elif pattern == "off-beat":
            for beat in range(b):
                play(beat + 0.5, 0.4, notes)
        elif pattern == "arpeggiated":
            cycle = notes + [notes[0] + 12] + notes[-2:0:-1]
            for step in range(2 * b):
                play(step / 2, 0.5, [cycle[step % len(cycle)]])
        elif pattern == "broken":  # Alberti bass: low, high, middle, high
            for step in range(2 * b):
                play(step / 2, 0.5, [notes[[0, -1, 1, -1][step % 4]]])
        elif pattern == "tremolo":  # held-out: the chord repeated in sixteenths
            for step in range(4 * b):
                play(step / 4, 0.25, notes, accent=-12 + (10 if step % 4 == 0 else 0))
        elif pattern == "stabs":  # held-out: short syncopated chords every dotted quarter
            for beat in [1.5 * k for k in range(math.ceil(b / 1.5))]:
                play(beat, 0.35, notes, accent=6)
        elif pattern == "rolled":  # held-out: the chord's notes enter one by one, an eighth apart, and ring on
            for i, pitch in enumerate(notes + [notes[0] + 12]):
                play(0.5 * i, b - 0.5 * i, [pitch])
        else:  # strummed: a guitar-like spread of the chord on beats 1 and 3
            for beat in range(0, b, 2):
                play(beat, min(2, b - beat), notes + [notes[0] + 12], stagger=tpb // 24)


def _bass(piece: Piece, rng: random.Random, chords: list[int], channel: int, centre: int, velocity: int,
          pattern: str) -> None:
    b = piece.beats
    for bar in range(piece.bars):
        root, third, fifth = (_place(pc, centre) for pc in piece.chord_tones(chords[bar], False))
        next_root = _place(piece.chord_tones(chords[(bar + 1) % len(chords)], False)[0], centre)
        if pattern == "whole notes":
            line = [(0, b, root)]
        elif pattern == "root-fifth":
            line = [(0, 2, root), (2, b - 2, fifth)] if b == 4 else [(0, 1, root), (1, 1, fifth), (2, 1, fifth)]
        elif pattern == "walking":  # chord tones, then a chromatic approach to the next bar's root
            line = [(beat, 1, pitch) for beat, pitch in enumerate([root, third, fifth][: b - 1])]
            line.append((b - 1, 1, next_root + rng.choice([-1, 1])))
        elif pattern == "octaves":  # held-out: eighths leaping between the root and its octave
            line = [(step / 2, 0.5, root + 12 * (step % 2)) for step in range(2 * b)]
        elif pattern == "pedal":  # held-out: the key's tonic on every beat, whatever the chord
            line = [(beat, 1, _place(piece.root, centre)) for beat in range(b)]
        elif pattern == "dotted":  # held-out: root and fifth on a dotted-quarter grid
            line = [(1.5 * k, min(1.5, b - 1.5 * k), [root, fifth][k % 2]) for k in range(math.ceil(b / 1.5))]
        else:
            line = [(step / 2, 0.5, root) for step in range(2 * b)]
        for beat, length, pitch in line:
            start, end = piece.tick(bar, beat), piece.tick(bar, beat + length)
            piece.midi.note(channel, start, int((end - start) * 0.9), pitch, velocity + rng.randint(-6, 6))


def _drums(piece: Piece, rng: random.Random, style: str, velocity: int, table: dict | None = None) -> None:
    pattern = (DRUMS if table is None else table)[piece.beats][style]
    steps = 4 * piece.beats
    for bar in range(piece.bars):
        hits = {note: list(st) for note, st in pattern.items()}
        if bar % 4 == 3 and rng.random() < 0.5:  # a tom/snare fill into the next phrase
            half = steps // 2
            hits = {n: [s for s in st if s < half] for n, st in hits.items()}
            fill = list(range(half, steps, 1 if piece.bpm < 110 else 2))
            hits[SNARE] = hits.get(SNARE, []) + fill[::2]
            hits[HIGH_TOM] = fill[1::4]
            hits[LOW_TOM] = fill[3::4]
        if bar % 8 == 0:
            hits[CRASH] = [0]
        for note, st in hits.items():
            for step in st:
                accent = 10 if step % 4 == 0 else -6 if step % 2 else 0
                vel = velocity + accent + rng.randint(-8, 8)
                piece.midi.note(9, piece.tick(bar, step / 4), piece.tpb // 4, note, vel)


def compose(seed: str, seconds: float) -> tuple[bytes, str, str, dict]:
    """Compose one piece lasting at least ``seconds``. Returns (MIDI bytes, description, source, parameters)."""
    rng = random.Random(seed)
    beats = rng.choice([4, 4, 4, 3])
    bpm = rng.randrange(64, 172, 2) if beats == 4 else rng.randrange(84, 180, 2)
    style = rng.choice(sorted(DRUMS[beats]))
    ensemble = rng.choice(["solo", "duo", "trio", "band", "band", "band with harmony"])
    bars = math.ceil(seconds * bpm / 60 / beats) + 1  # one spare bar: the clip is cut, never short
    piece = Piece(bpm=bpm, beats=beats, root=rng.randrange(12), mode=rng.choice(sorted(MODES)), bars=bars,
                  swing=style in SWUNG and ensemble.startswith("band"))
    progression = rng.choice(PROGRESSIONS)
    chords = [progression[bar % len(progression)] for bar in range(bars)]
    midi = piece.midi
    midi.tempo(bpm)
    midi.time_signature(beats)

    mel = _pick(rng, MELODY)
    if ensemble == "solo":  # one keyboard or guitar plays both the tune and the chords
        keys = _pick(rng, [c for c in CHORDS if c[0] in {0, 2, 4, 5, 6, 24, 25, 27, 46}])
        mel, chord_inst = (keys[0], keys[1], keys[2] + 12), keys
    else:
        chord_inst = _pick(rng, CHORDS)
    mel_vel = rng.randint(80, 100)
    midi.program(0, mel[0], rng.randint(100, 120))
    harmony = None
    if ensemble == "band with harmony":
        harmony = _pick(rng, MELODY)
        midi.program(1, harmony[0], rng.randint(70, 95))
    _melody(piece, rng, chords, 0, mel[2], mel_vel, 1 if harmony else None)

    sustained = chord_inst[0] in SUSTAINED
    pattern = rng.choice(CHORD_PATTERNS[:3] if sustained else CHORD_PATTERNS)
    midi.program(2, chord_inst[0], rng.randint(70, 95))
    _chords(piece, rng, chords, 2, chord_inst[2], mel_vel - 20, pattern)

    parts = [f"{mel[1]} melody"] + ([f"{harmony[1]} harmony"] if harmony else [])
    parts.append(f"{chord_inst[1]} {pattern} chords")
    source = [f"melody={mel[1]}"] + ([f"harmony={harmony[1]}"] if harmony else []) + [f"chords={chord_inst[1]}"]
    if ensemble in ("trio", "band", "band with harmony"):
        bass = _pick(rng, BASS)
        bass_pattern = rng.choice(BASS_PATTERNS)
        midi.program(3, bass[0], rng.randint(95, 115))
        _bass(piece, rng, chords, 3, bass[2], rng.randint(80, 100), bass_pattern)
        parts.append(f"{bass[1]} {bass_pattern} bass")
        source.append(f"bass={bass[1]}")
    if ensemble.startswith("band"):
        midi.events.append((0, 1, bytes([0xB9, 7, rng.randint(80, 105)])))
        _drums(piece, rng, style, rng.randint(70, 95))
        parts.append(f"{style} drums")
        source.append(f"drums={style}")
    key = f"{KEYS[piece.root]} {piece.mode}"
    description = f"{', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]}; " \
                  f"{key}, {beats}/4, {bpm} BPM"
    source += [f"key={key}", f"meter={beats}/4", f"tempo={bpm}"]
    return midi.to_bytes(), description, "fluidsynth " + "; ".join(source), {"ensemble": ensemble}


# ----------------------------------------------------------------------------------------------------------------------
# music, --held-out: instruments, scales, metres, tempi, drum kits and textures the composer above never uses

HELD_OUT_MODES = {
    "locrian": [0, 1, 3, 5, 6, 8, 10], "melodic minor": [0, 2, 3, 5, 7, 9, 11],
    "phrygian dominant": [0, 1, 4, 5, 7, 8, 10], "double harmonic": [0, 1, 4, 5, 7, 8, 11],
    "hungarian minor": [0, 2, 3, 6, 7, 8, 11], "major pentatonic": [0, 2, 4, 7, 9],
    "minor pentatonic": [0, 3, 5, 7, 10],
    "blues": [0, 3, 5, 6, 7, 10], "whole tone": [0, 2, 4, 6, 8, 10],
}
HELD_OUT_PROGRESSIONS = [
    [0, 4, 5, 2, 3, 0, 3, 4], [0, 1, 2, 1], [0, 2, 1, 4], [0, 5, 2, 6], [0, 0, 6, 6], [0, 4, 1, 5], [3, 2, 1, 0],
    [0, 2, 5, 3],
]
HELD_OUT_RHYTHMS = {  # odd metres: 5/4 and 7/4, one bar of note lengths in beats
    5: [[1, 1, 1, 1, 1], [1.5, 1.5, 2], [2, 1, 2], [3, 2], [1, 0.5, 0.5, 1, 2], [0.5] * 6 + [2], [2, 3], [5]],
    7: [[2, 2, 3], [1, 1, 1, 1, 1, 2], [3, 2, 2], [1.5, 0.5, 1, 1, 1, 2], [0.5] * 4 + [1, 1, 1, 2], [4, 3], [7]],
}
HELD_OUT_TEMPI = [(40, 64), (182, 222)]  # BPM ranges either side of the default 64-180
HELD_OUT_MELODY = [
    (1, "Bright Acoustic Piano", 72), (3, "Honky-tonk Piano", 72), (7, "Clavinet", 72), (10, "Music Box", 84),
    (14, "Tubular Bells", 72), (15, "Dulcimer", 72), (17, "Percussive Organ", 72), (18, "Rock Organ", 72),
    (20, "Reed Organ", 72), (23, "Tango Accordion", 72), (28, "Electric Guitar (muted)", 64),
    (30, "Distortion Guitar", 64), (53, "Voice Oohs", 72), (59, "Muted Trumpet", 72), (62, "Synth Brass 1", 64),
    (67, "Baritone Sax", 52), (69, "English Horn", 68), (76, "Blown Bottle", 76), (77, "Shakuhachi", 74),
    (78, "Whistle", 84), (82, "Lead 3 (calliope)", 72), (83, "Lead 4 (chiff)", 72), (84, "Lead 5 (charang)", 64),
    (85, "Lead 6 (voice)", 72), (106, "Shamisen", 64), (107, "Koto", 66), (109, "Bagpipe", 70), (110, "Fiddle", 76),
    (111, "Shanai", 72),
]
HELD_OUT_CHORDS = [
    (1, "Bright Acoustic Piano", 60), (3, "Honky-tonk Piano", 60), (7, "Clavinet", 60), (15, "Dulcimer", 60),
    (17, "Percussive Organ", 60), (18, "Rock Organ", 60), (20, "Reed Organ", 60), (28, "Electric Guitar (muted)", 57),
    (44, "Tremolo Strings", 60), (45, "Pizzicato Strings", 60), (51, "Synth Strings 2", 60), (53, "Voice Oohs", 62),
    (54, "Synth Voice", 62), (62, "Synth Brass 1", 60), (63, "Synth Brass 2", 60), (91, "Pad 4 (choir)", 60),
    (92, "Pad 5 (bowed)", 60), (93, "Pad 6 (metallic)", 60), (95, "Pad 8 (sweep)", 60), (107, "Koto", 60),
]
HELD_OUT_SUSTAINED = {18, 20, 44, 51, 53, 54, 62, 63, 91, 92, 93, 95}
HELD_OUT_BASS = [
    (37, "Slap Bass 2", 38), (87, "Lead 8 (bass + lead)", 38), (47, "Timpani", 45), (67, "Baritone Sax", 40),
    (45, "Pizzicato Strings", 40),
]
# drum kits (bank 128 presets of FluidR3_GM) other than the Standard kit the default build plays
HELD_OUT_KITS = [(8, "Room"), (16, "Power"), (24, "Electronic"), (25, "TR-808"), (32, "Jazz"), (40, "Brush"),
                 (48, "Orchestra")]
COWBELL, HI_BONGO, LO_BONGO, MUTE_CONGA, OPEN_CONGA, LOW_CONGA, CABASA, CLAVES, HI_WOOD, LO_WOOD, SHAKER = (
    56, 60, 61, 62, 63, 64, 69, 75, 76, 77, 82)
HELD_OUT_DRUMS = {  # 16th-note grids of 20 and 28 steps
    5: {
        "five (3+2)": {KICK: [0, 12], SNARE: [6, 16], HAT: list(range(0, 20, 2)), COWBELL: [0, 12]},
        "five (2+3)": {KICK: [0, 8, 14], SNARE: [4, 16], RIDE: list(range(0, 20, 4)), PEDAL_HAT: [4, 12]},
        "five hand percussion": {LOW_CONGA: [0, 12], OPEN_CONGA: [6, 16, 18], MUTE_CONGA: [3, 9, 15],
                                 CLAVES: [0, 6, 12, 16], SHAKER: list(range(0, 20, 2))},
    },
    7: {
        "seven (2+2+3)": {KICK: [0, 8, 16], SNARE: [4, 12, 22], HAT: list(range(0, 28, 2))},
        "seven (3+2+2)": {KICK: [0, 12, 20], SNARE: [6, 16, 24], RIDE: list(range(0, 28, 4)), COWBELL: [0]},
        "seven hand percussion": {LO_BONGO: [0, 8, 16], HI_BONGO: [2, 4, 10, 12, 18, 20, 24],
                                  CABASA: list(range(0, 28, 2)), HI_WOOD: [0, 8, 16, 22], LO_WOOD: [26]},
    },
}
HELD_OUT_CHORD_PATTERNS = ["tremolo", "stabs", "rolled"]
HELD_OUT_BASS_PATTERNS = ["octaves", "pedal", "dotted"]
HELD_OUT_TEXTURES = ["canon", "call and response", "drone", "doubled in octaves", "melody and rhythm section"]


def held_out_pools() -> dict:
    """What a --held-out build draws from (for the dataset card and the report)."""
    return {
        "speech_languages": sorted(HELD_OUT_LANGUAGE_VOICES),
        "speech_voices": sorted(v for vs in HELD_OUT_LANGUAGE_VOICES.values() for v in vs),
        "speech_variants": list(HELD_OUT_VARIANTS),
        "music_programs": sorted({p for p, _, _ in HELD_OUT_MELODY + HELD_OUT_CHORDS + HELD_OUT_BASS}),
        "drum_kits": [name for _, name in HELD_OUT_KITS],
        "modes": sorted(HELD_OUT_MODES),
        "metres": [f"{b}/4" for b in sorted(HELD_OUT_RHYTHMS)],
        "tempo_bpm": [list(r) for r in HELD_OUT_TEMPI],
        "textures": list(HELD_OUT_TEXTURES),
        "drum_styles": sorted(s for styles in HELD_OUT_DRUMS.values() for s in styles),
        "chord_patterns": list(HELD_OUT_CHORD_PATTERNS),
        "bass_patterns": list(HELD_OUT_BASS_PATTERNS),
    }


def compose_held_out(seed: str, seconds: float) -> tuple[bytes, str, str, dict]:
    """Like ``compose``, but every instrument, scale, metre, tempo, drum kit, pattern and texture comes from the
    held-out pools above, none of which ``compose`` ever draws."""
    rng = random.Random(seed)
    beats = rng.choice(sorted(HELD_OUT_RHYTHMS))
    bpm = rng.randrange(*rng.choice(HELD_OUT_TEMPI), 2)
    texture = rng.choice(HELD_OUT_TEXTURES)
    bars = math.ceil(seconds * bpm / 60 / beats) + 1  # one spare bar: the clip is cut, never short
    piece = Piece(bpm=bpm, beats=beats, root=rng.randrange(12), mode=rng.choice(sorted(HELD_OUT_MODES)), bars=bars)
    progression = [0] if texture == "drone" else rng.choice(HELD_OUT_PROGRESSIONS)
    chords = [progression[bar % len(progression)] for bar in range(bars)]
    midi = piece.midi
    midi.tempo(bpm)
    midi.time_signature(beats)

    mel = _pick(rng, HELD_OUT_MELODY)
    mel_vel = rng.randint(80, 100)
    midi.program(0, mel[0], rng.randint(100, 120))
    first = len(midi.events)
    _melody(piece, rng, chords, 0, mel[2], mel_vel, None)
    parts, source = [f"{mel[1]} melody"], [f"melody={mel[1]}"]

    if texture in ("canon", "call and response", "doubled in octaves"):
        notes, del_first = midi.events[first:], []  # the melody's notes only, before anything else is added
        second = _pick(rng, [m for m in HELD_OUT_MELODY if m[0] != mel[0]])
        midi.program(1, second[0], rng.randint(85, 110))
        octave = 12 * round((second[2] - mel[2]) / 12)
        # canon delay and call/response turns, in ticks: short enough that a clip of a few seconds holds both voices
        turn = (1 if bpm < 100 else 2) * piece.tpb if texture == "canon" else (2 if bpm < 100 else beats) * piece.tpb
        for (on_tick, _, on), (off_tick, _, _) in zip(notes[::2], notes[1::2]):  # _melody adds (on, off) pairs
            pitch, vel = on[1], on[2]
            if texture == "canon":  # the second voice follows one or two beats behind
                midi.note(1, on_tick + turn, off_tick - on_tick, pitch + octave, vel - 8)
            elif texture == "doubled in octaves":
                midi.note(1, on_tick, off_tick - on_tick, pitch + (octave or -12), vel - 10)
            elif (on_tick // turn) % 2:  # call and response: the second voice takes every other turn
                del_first.append(on_tick)
                midi.note(1, on_tick, off_tick - on_tick, pitch + octave, vel)
        if del_first:
            answered = set(del_first)
            kept = [pair for pair in zip(notes[::2], notes[1::2]) if pair[0][0] not in answered]
            midi.events[first:first + len(notes)] = [event for pair in kept for event in pair]
        role = {"canon": "canon", "call and response": "answer", "doubled in octaves": "octave doubling"}[texture]
        parts.append(f"{second[1]} {role}")
        source.append(f"second={second[1]}")

    if texture in ("canon", "call and response"):
        chord_inst = _pick(rng, HELD_OUT_CHORDS)
        patterns = ["tremolo", "rolled"] if chord_inst[0] in HELD_OUT_SUSTAINED else HELD_OUT_CHORD_PATTERNS
        pattern = rng.choice(patterns)
        midi.program(2, chord_inst[0], rng.randint(70, 95))
        _chords(piece, rng, chords, 2, chord_inst[2], mel_vel - 20, pattern)
        parts.append(f"{chord_inst[1]} {pattern} chords")
        source.append(f"chords={chord_inst[1]}")
    elif texture == "drone":  # the tonic (and the fifth, where the scale has one) held under the whole piece
        drone = _pick(rng, [c for c in HELD_OUT_CHORDS if c[0] in HELD_OUT_SUSTAINED])
        midi.program(2, drone[0], rng.randint(60, 85))
        tonic = _place(piece.root, drone[2] - 12)
        for bar in range(0, bars, 2):
            start, end = piece.tick(bar, 0), piece.tick(min(bar + 2, bars), 0)
            for pitch in (tonic, tonic + (7 if 7 in piece.scale else 12)):
                midi.note(2, start, end - start - piece.tpb // 16, pitch, mel_vel - 25 + rng.randint(-4, 4))
        parts.append(f"{drone[1]} drone")
        source.append(f"drone={drone[1]}")

    if texture in ("call and response", "doubled in octaves", "melody and rhythm section"):
        bass = _pick(rng, HELD_OUT_BASS)
        bass_pattern = rng.choice(HELD_OUT_BASS_PATTERNS)
        midi.program(3, bass[0], rng.randint(95, 115))
        _bass(piece, rng, chords, 3, bass[2], rng.randint(80, 100), bass_pattern)
        parts.append(f"{bass[1]} {bass_pattern} bass")
        source.append(f"bass={bass[1]}")
    if texture != "canon":
        kit = _pick(rng, HELD_OUT_KITS)
        styles = sorted(HELD_OUT_DRUMS[beats])
        style = next(s for s in styles if "hand" in s) if texture == "drone" else rng.choice(styles)
        midi.program(9, kit[0], rng.randint(80, 105))
        _drums(piece, rng, style, rng.randint(70, 95), HELD_OUT_DRUMS)
        parts.append(f"{style} drums ({kit[1]} kit)")
        source.append(f"drums={style}; kit={kit[1]}")
    key = f"{KEYS[piece.root]} {piece.mode}"
    description = f"{', '.join(parts[:-1]) + ' and ' + parts[-1] if len(parts) > 1 else parts[0]}; " \
                  f"{key}, {beats}/4, {bpm} BPM, {texture}"
    source += [f"key={key}", f"meter={beats}/4", f"tempo={bpm}", f"texture={texture}"]
    return midi.to_bytes(), description, "fluidsynth " + "; ".join(source), {"ensemble": texture}


class MusicPlanner:
    def __init__(self, seed: int, clip_seconds: tuple[float, float], soundfont: str, held_out: bool = False):
        self.seed, self.clip_seconds, self.soundfont, self.held_out = seed, clip_seconds, soundfont, held_out
        self.prefix = f"whisper-gpt-corpus/{'held-out/' if held_out else ''}{seed}/music"
        self.rng = random.Random(self.prefix)
        self.next_index = 0

    def plan(self, seconds: float) -> list[Clip]:
        clips, planned = [], 0.0
        while planned < seconds:
            length = round(self.rng.uniform(*self.clip_seconds), 2)
            # each piece has its own RNG stream: piece i is the same whatever the corpus size
            midi, text, source, extra = (compose_held_out if self.held_out else compose)(
                f"{self.prefix}/{self.next_index}", length)
            params = dict(midi=midi, seconds=length, soundfont=self.soundfont,
                          peak_db=round(self.rng.uniform(-6.0, -1.0), 2), **extra)
            clips.append(Clip("music", self.next_index, text, source, params))
            self.next_index += 1
            planned += length
        return clips


def render_music(clip: Clip) -> Clip:
    p = clip.params
    with tempfile.TemporaryDirectory(prefix="wgpt-music-") as tmp:
        mid, raw = os.path.join(tmp, "piece.mid"), os.path.join(tmp, "piece.raw")
        Path(mid).write_bytes(p["midi"])
        # -R 0 -C 0: no reverb/chorus (keeps the render dry and the bytes reproducible); float output: no dither
        _run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SAMPLE_RATE),
              "-o", "synth.cpu-cores=1", "-O", "float", "-T", "raw", "-E", "little", "-F", raw, p["soundfont"], mid])
        stereo = np.fromfile(raw, dtype="<f4").reshape(-1, 2)
    audio = stereo.mean(axis=1)[: round(p["seconds"] * SAMPLE_RATE)]
    clip.flac, clip.seconds = _finish(audio, p["peak_db"])
    return clip


# ----------------------------------------------------------------------------------------------------------------------
# building and writing the Hub folder


def _render_all(clips: list[Clip], render, num_workers: int, desc: str, progress: bool) -> list[Clip]:
    from tqdm.auto import tqdm

    # the work happens in subprocesses, so threads parallelise it; map keeps the order (determinism)
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        return list(tqdm(pool.map(render, clips), total=len(clips), desc=desc, unit="clip", disable=not progress))


def _assign_splits(clips: list[Clip], fractions: tuple[float, float, float], rng: random.Random) -> None:
    """Exact split counts per category (each split gets at least one clip when there are three or more)."""
    n = len(clips)
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    order = rng.sample(range(n), n)
    for rank, i in enumerate(order):
        clips[i].split = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"


FEATURE_YAML = [
    {"name": "id", "dtype": "string"},
    {"name": "audio", "dtype": {"audio": {"sampling_rate": SAMPLE_RATE}}},
    {"name": "category", "dtype": "string"},
    {"name": "text", "dtype": "string"},
    {"name": "source", "dtype": "string"},
    {"name": "duration", "dtype": "float32"},
]


def _features():
    from datasets import Audio, Features, Value

    return Features({"id": Value("string"), "audio": Audio(sampling_rate=SAMPLE_RATE), "category": Value("string"),
                     "text": Value("string"), "source": Value("string"), "duration": Value("float32")})


@contextlib.contextmanager
def _datasets_progress(enabled: bool):
    """Silence datasets' own progress bars when the caller asked for a quiet build."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    if not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _write_split(clips: list[Clip], split: str, data_dir: Path) -> dict:
    """Write one split as parquet shards; returns its size info for the card."""
    from datasets import Dataset

    total = sum(len(c.flac) for c in clips)
    shards = max(1, math.ceil(total / SHARD_BYTES))
    num_bytes = 0
    for s in range(shards):
        part = clips[s::shards] if shards > 1 else clips
        part = sorted(part, key=lambda c: (c.category != "speech", c.index))
        ds = Dataset.from_dict(
            {
                "id": [c.id for c in part],
                "audio": [{"bytes": c.flac, "path": f"{c.id}.flac"} for c in part],
                "category": [c.category for c in part],
                "text": [c.text for c in part],
                "source": [c.source for c in part],
                "duration": [round(c.seconds, 3) for c in part],
            },
            features=_features(),
        )
        ds.to_parquet(str(data_dir / f"{split}-{s:05d}-of-{shards:05d}.parquet"))
        num_bytes += ds.data.nbytes
    return {"name": split, "num_bytes": num_bytes, "num_examples": len(clips)}


def build_corpus(
    output_dir: str | os.PathLike,
    size: str = "small",
    seed: int = 0,
    num_workers: int = 2,
    speech_minutes: float | None = None,
    music_minutes: float | None = None,
    soundfont: str | None = None,
    progress: bool = True,
    held_out: bool = False,
) -> dict:
    """Synthesize the corpus into ``output_dir`` (a Hub dataset folder) and return a report of what was made.

    ``held_out=True`` draws every clip from pools the default build never uses (other languages and their texts, other
    voice variants; other General MIDI instruments, drum kits, scales, metres, tempi and textures): a test set that
    differs in kind from a default-built training corpus, not only in seed. The default build is unchanged by it."""
    preset = SIZES[size]
    speech_minutes = preset.speech_minutes if speech_minutes is None else speech_minutes
    music_minutes = preset.music_minutes if music_minutes is None else music_minutes
    soundfont = check_tools(speech=speech_minutes > 0, music=music_minutes > 0, soundfont=soundfont)
    start = time.perf_counter()

    speech: list[Clip] = []
    if speech_minutes > 0:
        planner = SpeechPlanner(seed, preset.clip_seconds, held_out=held_out)
        # speech durations are only known after synthesis: plan by estimate, render, top up until the target is met
        while sum(c.seconds for c in speech) < speech_minutes * 60 or len(speech) < 3:
            missing = max(speech_minutes * 60 - sum(c.seconds for c in speech), preset.clip_seconds[0])
            speech += _render_all(planner.plan(missing), render_speech, num_workers, "speech", progress)
    music: list[Clip] = []
    if music_minutes > 0:
        planner = MusicPlanner(seed, preset.clip_seconds, soundfont, held_out=held_out)
        music = planner.plan(music_minutes * 60)
        while len(music) < 3:
            music += planner.plan(preset.clip_seconds[0])
        music = _render_all(music, render_music, num_workers, "music", progress)

    for category, clips in (("speech", speech), ("music", music)):
        _assign_splits(clips, preset.split_fractions,
                       random.Random(f"whisper-gpt-corpus/{'held-out/' if held_out else ''}{seed}/splits/{category}"))

    out = Path(output_dir)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.parquet"):  # a rebuild replaces the previous shards
        old.unlink()
    clips = speech + music
    with _datasets_progress(progress):
        split_infos = [_write_split([c for c in clips if c.split == split], split, data_dir) for split in SPLITS]

    report = {
        "output_dir": str(out),
        "size": size,
        "seed": seed,
        "held_out": held_out,
        "speech_minutes_requested": speech_minutes,
        "music_minutes_requested": music_minutes,
        "splits": {
            split: {
                cat: {
                    "clips": sum(1 for c in clips if c.split == split and c.category == cat),
                    "minutes": round(sum(c.seconds for c in clips if c.split == split and c.category == cat) / 60, 2),
                }
                for cat in ("speech", "music")
            }
            for split in SPLITS
        },
        "clip_seconds": {cat: [round(min((c.seconds for c in clips if c.category == cat), default=0), 2),
                               round(max((c.seconds for c in clips if c.category == cat), default=0), 2)]
                         for cat in ("speech", "music")},
        "languages": sorted({c.params["language"] for c in speech}),
        "voices": len({c.params["voice"] for c in speech}),
        **({"pools": held_out_pools()} if held_out else {}),
        "tools": {
            "espeak-ng": _tool_version("espeak-ng") if speech else None,
            "sox": _tool_version("sox") if speech else None,
            "fluidsynth": _tool_version("fluidsynth") if music else None,
            "soundfont": Path(soundfont).name if music else None,
        },
    }
    (out / "README.md").write_text(_dataset_card(report, split_infos, data_dir), encoding="utf-8")
    report["megabytes"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 2)
    report["build_seconds"] = round(time.perf_counter() - start, 1)
    return report


# ----------------------------------------------------------------------------------------------------------------------
# the dataset card


def _dataset_card(report: dict, split_infos: list[dict], data_dir: Path) -> str:
    import yaml

    from whisper_gpt_hf.publishing.card import render_card

    download_size = sum(f.stat().st_size for f in data_dir.glob("*.parquet"))
    total_examples = sum(s["num_examples"] for s in split_infos)
    size_category = "n<1K" if total_examples < 1000 else "1K<n<10K" if total_examples < 10_000 else "10K<n<100K"
    held_out = report.get("held_out", False)
    label = f"{report['size']}, held-out" if held_out else report["size"]
    meta = {
        "license": "cc0-1.0",
        "pretty_name": f"WHISPER-GPT synthetic speech and music corpus ({label})",
        "language": report["languages"] or ["en"],
        "task_categories": ["audio-to-audio", "audio-classification"],
        "tags": ["audio", "speech", "music", "synthetic", "espeak-ng", "fluidsynth", "midi", "encodec", "24khz"],
        "size_categories": [size_category],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*"} for s in SPLITS]}],
        "dataset_info": {
            "features": FEATURE_YAML,
            "splits": split_infos,
            "download_size": download_size,
            "dataset_size": sum(s["num_bytes"] for s in split_infos),
        },
    }
    if held_out:
        meta["held_out"] = True
        meta["held_out_pools"] = report["pools"]
    rows = "\n".join(
        f"| {split} | {v['speech']['clips']} | {v['speech']['minutes']:.2f} | {v['music']['clips']} | "
        f"{v['music']['minutes']:.2f} |"
        for split, v in report["splits"].items()
    )
    minutes = {cat: sum(v[cat]["minutes"] for v in report["splits"].values()) for cat in ("speech", "music")}
    tools = report["tools"]
    command = (f"whisper-gpt make-corpus {'--held-out ' if held_out else ''}--size {report['size']} "
               f"--seed {report['seed']} --output {Path(report['output_dir']).as_posix()}")
    if report["speech_minutes_requested"] != SIZES[report["size"]].speech_minutes:
        command += f" --speech-minutes {report['speech_minutes_requested']:g}"
    if report["music_minutes_requested"] != SIZES[report["size"]].music_minutes:
        command += f" --music-minutes {report['music_minutes_requested']:g}"
    (speech_lo, speech_hi), (music_lo, music_hi) = report["clip_seconds"]["speech"], report["clip_seconds"]["music"]
    values = {
        "num_languages": len(report["languages"]),
        "languages": ", ".join(report["languages"]),
        "voices": report["voices"],
        "rate_wpm": f"{RATE_WPM[0]}-{RATE_WPM[1]}",
        "pitch": f"{PITCH[0]}-{PITCH[1]}",
    }
    if not held_out:
        values.update(num_melody=len(MELODY), num_chords=len(CHORDS), num_bass=len(BASS), num_modes=len(MODES))
        how = render_card("dataset_how", values, optional=values)  # cards/dataset_how.md
    else:
        pools = report["pools"]
        values.update(
            speech_variants=", ".join(f"`+{v}`" for v in pools["speech_variants"]),
            num_music_programs=len(pools["music_programs"]),
            drum_kits=", ".join(pools["drum_kits"]),
            modes=", ".join(pools["modes"]),
            metres=" and ".join(pools["metres"]),
            tempi=" or ".join(f"{lo}-{hi - 2}" for lo, hi in pools["tempo_bpm"]),
            textures=", ".join(pools["textures"]),
            chord_patterns=", ".join(pools["chord_patterns"]),
            bass_patterns=", ".join(pools["bass_patterns"]),
        )
        how = render_card("dataset_how_held_out", values, optional=values)  # cards/dataset_how_held_out.md
    return render_card("dataset", {  # cards/dataset.md
        "front_matter": yaml.safe_dump(meta, sort_keys=False, allow_unicode=True),
        "label": label,
        "speech_minutes": f"{minutes['speech']:.1f}",
        "music_minutes": f"{minutes['music']:.1f}",
        "num_clips": total_examples,
        "megabytes": f"{download_size / 2**20:.1f}",
        "speech_seconds": f"{speech_lo:g}-{speech_hi:g}",
        "music_seconds": f"{music_lo:g}-{music_hi:g}",
        "split_rows": rows,
        "command": command,
        "espeak_version": str(tools["espeak-ng"]),
        "sox_version": str(tools["sox"]),
        "fluidsynth_version": str(tools["fluidsynth"]),
        "soundfont": str(tools["soundfont"]),
        "how_it_was_made": how.rstrip("\n"),
    }, optional=("split_rows", "how_it_was_made"))


# ----------------------------------------------------------------------------------------------------------------------
# command line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "make-corpus",
        help="synthesize the speech + music corpus (espeak-ng, fluidsynth) as a Hub dataset folder",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--output", default=None, help="output folder (default: data/whisper-gpt-corpus-SIZE)")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="parallel synthesizer processes")
    p.add_argument("--speech-minutes", type=float, default=None, help="override the size's speech minutes")
    p.add_argument("--music-minutes", type=float, default=None, help="override the size's music minutes")
    p.add_argument("--soundfont", default=None, help=f"General MIDI .sf2 (default: {DEFAULT_SOUNDFONT})")
    p.add_argument("--held-out", action="store_true",
                   help="draw every clip from voices, languages, instruments and composition styles the default "
                        "build never uses: a test set that differs in kind from the training corpus")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import json

    held_out = getattr(args, "held_out", False)
    output = args.output or f"data/whisper-gpt-corpus-{args.size}{'-held-out' if held_out else ''}"
    report = build_corpus(output, size=args.size, seed=args.seed, num_workers=args.workers,
                          speech_minutes=args.speech_minutes, music_minutes=args.music_minutes,
                          soundfont=args.soundfont, held_out=held_out)
    print(json.dumps(report, indent=2))
    return 0
