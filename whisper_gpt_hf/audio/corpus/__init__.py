"""The synthetic speech + music corpus (``whisper-gpt make-corpus``): made by real synthesizers, written as a Hub
dataset folder.

No dataset can be downloaded on the machines this project runs on, so the corpus is synthesized here, deterministically:

- **speech**: ``espeak-ng`` reads public-domain text (``texts.py``) in ten languages, with many regional voices,
  voice variants, speaking rates, pitches and word gaps; resampled to 24 kHz by ``sox``.
- **music**: short pieces composed here (melody, optional harmony line, chords, bass, drums on MIDI channel 10, over
  many General MIDI instruments, keys, modes, meters, tempos and accompaniment patterns), written as Standard MIDI
  Files by a tiny writer and rendered by ``fluidsynth`` with the ``fluid-soundfont-gm`` soundfont at 24 kHz.

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
    whisper-gpt make-corpus --held-out --size small --speech-minutes 6 --music-minutes 6 --seed 1001 \\
        --output data/heldout-kind

Needs the Debian packages ``espeak-ng fluidsynth fluid-soundfont-gm sox``. Loading a built corpus needs none of them.

What lives where (each module imports only the ones listed before it):

- ``texts``: the public-domain passages the speech is read from, per language (``TEXTS``).
- ``common``: ``SAMPLE_RATE``, ``SIZES``, ``SPLITS``, the parquet schema (``COLUMNS``, written once; ``FEATURE_YAML``
  and ``features()`` derive from it), the ``Clip`` record, and the synthesizer plumbing (``check_tools``,
  ``MissingToolError``, ``APT_HINT``; running a tool, trimming silence, the final fade/level/FLAC step).
- ``speech``: the voice pools, the text units and their deck, ``SpeechPlanner`` and ``render_speech`` (espeak-ng, sox).
- ``midi``: ``Midi``, the Standard MIDI File writer.
- ``music``: the seeded composer (``compose``) and its tables, the held-out tables and ``compose_held_out``,
  ``MusicPlanner`` and ``render_music`` (fluidsynth).
- ``card``: ``dataset_card``, the folder's README rendered from ``cards/dataset*.md``.
- ``build``: ``build_corpus`` (plan, render, split, write the parquet shards and the card) and ``held_out_pools``.

The command line is ``whisper_gpt_hf.cli.make_corpus``.

    from whisper_gpt_hf.audio.corpus import build_corpus
    report = build_corpus("data/my-corpus", size="small", seed=0)
"""

from whisper_gpt_hf.audio.corpus.build import build_corpus, held_out_pools
from whisper_gpt_hf.audio.corpus.card import dataset_card
from whisper_gpt_hf.audio.corpus.common import (
    APT_HINT,
    COLUMNS,
    DEFAULT_SOUNDFONT,
    FEATURE_YAML,
    SAMPLE_RATE,
    SIZES,
    SPLITS,
    Clip,
    MissingToolError,
    SizePreset,
    check_tools,
    features,
)
from whisper_gpt_hf.audio.corpus.midi import Midi
from whisper_gpt_hf.audio.corpus.music import MusicPlanner, compose, compose_held_out, render_music
from whisper_gpt_hf.audio.corpus.speech import SpeechPlanner, render_speech
from whisper_gpt_hf.audio.corpus.texts import TEXTS

__all__ = [
    "APT_HINT",
    "COLUMNS",
    "DEFAULT_SOUNDFONT",
    "FEATURE_YAML",
    "SAMPLE_RATE",
    "SIZES",
    "SPLITS",
    "TEXTS",
    "Clip",
    "Midi",
    "MissingToolError",
    "MusicPlanner",
    "SizePreset",
    "SpeechPlanner",
    "build_corpus",
    "check_tools",
    "compose",
    "compose_held_out",
    "dataset_card",
    "features",
    "held_out_pools",
    "render_music",
    "render_speech",
]
