"""Speech: ``espeak-ng`` reading the public-domain texts of ``texts.py``, resampled to 24 kHz by ``sox``.

- the voice pools: ``LANGUAGE_VOICES`` / ``LANGUAGE_WEIGHTS`` / ``VARIANTS`` for the default build, their disjoint
  ``HELD_OUT_*`` counterparts for ``--held-out`` (``held_out_speech_pools`` lists them), ``RATE_WPM``, ``PITCH``;
- ``_split_units`` and ``_Deck``: the texts cut into units of at most ``MAX_WORDS`` words, dealt without repeats;
- ``SpeechPlanner``: draws each clip's plan (voice, rate, pitch, word gap, text units) from a seeded RNG;
- ``render_speech``: synthesizes one planned clip (``_espeak``) and trims it to its maximum length.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np

from whisper_gpt_hf.audio.corpus.common import (
    APT_HINT,
    SAMPLE_RATE,
    Clip,
    MissingToolError,
    _finish,
    _run,
    _trim_silence,
)
from whisper_gpt_hf.audio.corpus.texts import TEXTS

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


def held_out_speech_pools() -> dict:
    """The languages, voices and variants a --held-out build speaks with (for the dataset card and the report)."""
    return {
        "speech_languages": sorted(HELD_OUT_LANGUAGE_VOICES),
        "speech_voices": sorted(v for vs in HELD_OUT_LANGUAGE_VOICES.values() for v in vs),
        "speech_variants": list(HELD_OUT_VARIANTS),
    }


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


def _espeak(text: str, plan: dict) -> np.ndarray:
    """Synthesize with espeak-ng (22.05 kHz) and resample to 24 kHz float with sox (float output: no dither)."""
    with tempfile.TemporaryDirectory(prefix="wgpt-speech-") as tmp:
        wav = os.path.join(tmp, "speech.wav")
        _run(["espeak-ng", "-v", plan["voice"], "-s", str(plan["rate"]), "-p", str(plan["pitch"]),
              "-g", str(plan["gap"]), "-b", "1", "-w", wav, "--stdin"], stdin=text.encode("utf-8"))
        raw = _run(["sox", "-D", wav, "-t", "f32", "-r", str(SAMPLE_RATE), "-", "rate", "-v"])
    return np.frombuffer(raw, dtype=np.float32)


def render_speech(clip: Clip) -> Clip:
    """Read ``clip``'s planned text units aloud (``params``: the SpeechPlanner's plan); fills text, source, audio."""
    plan = clip.params
    units = list(plan["units"])
    while True:
        audio = _trim_silence(_espeak(" ".join(units), plan))
        # the planner's duration estimate is rough: if the clip came out too long, drop its last unit and re-read
        if len(audio) <= plan["max_seconds"] * SAMPLE_RATE or len(units) == 1:
            break
        units = units[:-1]
    clip.text = " ".join(units)
    clip.source = (f"espeak-ng voice={plan['voice']} lang={plan['language']} rate={plan['rate']}wpm "
                   f"pitch={plan['pitch']} gap={plan['gap']}")
    clip.flac, clip.seconds = _finish(audio[: int(plan["max_seconds"] * SAMPLE_RATE)], plan["peak_db"])
    return clip


__all__ = [
    "HELD_OUT_LANGUAGE_VOICES",
    "HELD_OUT_LANGUAGE_WEIGHTS",
    "HELD_OUT_VARIANTS",
    "LANGUAGE_VOICES",
    "LANGUAGE_WEIGHTS",
    "MAX_WORDS",
    "PITCH",
    "RATE_WPM",
    "VARIANTS",
    "SpeechPlanner",
    "held_out_speech_pools",
    "render_speech",
]
