"""`whisper-gpt make-corpus`: synthesize the speech + music corpus as a Hub dataset folder (see
`whisper_gpt_hf.audio.corpus`)."""

from __future__ import annotations

import argparse
import json

from whisper_gpt_hf.audio.corpus import build
from whisper_gpt_hf.audio.corpus.common import DEFAULT_SOUNDFONT, SIZES


def add_parser(subparsers) -> None:
    """Register `whisper-gpt make-corpus`."""
    parser = subparsers.add_parser(
        "make-corpus",
        help="synthesize the speech + music corpus (espeak-ng, fluidsynth) as a Hub dataset folder",
        description=build.__doc__.split("\n\n")[0],
    )
    parser.add_argument("--output", default=None, help="output folder (default: data/whisper-gpt-corpus-SIZE)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="parallel synthesizer processes")
    parser.add_argument("--speech-minutes", type=float, default=None, help="override the size's speech minutes")
    parser.add_argument("--music-minutes", type=float, default=None, help="override the size's music minutes")
    parser.add_argument("--soundfont", default=None, help=f"General MIDI .sf2 (default: {DEFAULT_SOUNDFONT})")
    parser.add_argument("--held-out", action="store_true",
                        help="draw every clip from voices, languages, instruments and composition styles the default "
                             "build never uses: a test set that differs in kind from the training corpus")
    parser.set_defaults(func=run)


def run(namespace: argparse.Namespace) -> int:
    """Build the corpus the flags describe and print its report as JSON."""
    held_out = getattr(namespace, "held_out", False)
    output = namespace.output or f"data/whisper-gpt-corpus-{namespace.size}{'-held-out' if held_out else ''}"
    report = build.build_corpus(output, size=namespace.size, seed=namespace.seed, num_workers=namespace.workers,
                                speech_minutes=namespace.speech_minutes, music_minutes=namespace.music_minutes,
                                soundfont=namespace.soundfont, held_out=held_out)
    print(json.dumps(report, indent=2))
    return 0


__all__ = ["add_parser", "run"]
