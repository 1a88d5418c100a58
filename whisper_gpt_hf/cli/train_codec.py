"""`whisper-gpt train-codec` (see `whisper_gpt_hf.audio.codec.train` for what it does); the flags are the fields of
`whisper_gpt_hf.audio.codec.arguments.CodecTrainingArguments`."""

from __future__ import annotations

import argparse
import json
import sys

from whisper_gpt_hf.audio.codec import train as codec_train
from whisper_gpt_hf.audio.codec.arguments import (
    argument_parser,
    arguments_from_namespace,
    parse_arguments,
)


def add_parser(subparsers) -> None:
    """Register `whisper-gpt train-codec`."""
    parser = subparsers.add_parser(
        "train-codec",
        parents=[argument_parser(add_help=False)],
        help="train the small EnCodec-architecture codec on the corpus",
        description=codec_train.__doc__.split("\n\n")[0],
    )
    parser.set_defaults(func=run)


def parse_args(argv: list[str]):
    """`whisper-gpt train-codec` flags (without the verb) -> `CodecTrainingArguments`."""
    return parse_arguments(argv)


def run(namespace: argparse.Namespace) -> int:
    summary = codec_train.train(arguments_from_namespace(namespace))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    summary = codec_train.train(parse_args(sys.argv[1:]))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
