"""The ``whisper-gpt`` command line (also ``python -m whisper_gpt_hf.cli``).

Each verb lives in its own module and contributes ``add_parser(subparsers)``, which registers the verb's flags
and sets ``func`` to a callable taking the parsed ``argparse.Namespace``. Importing is lazy-ish: modules are
imported when the parser is built, but heavy work only happens inside ``func``.

    whisper-gpt --help
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb module (relative to whisper_gpt_hf) -> each registers one or more verbs
_VERB_MODULES = [
    "whisper_gpt_hf.codec_training",
    "whisper_gpt_hf.codec_report",
    "whisper_gpt_hf.corpus",
    "whisper_gpt_hf.generate",
    "whisper_gpt_hf.convert_cli",
    "whisper_gpt_hf.publish",
    "whisper_gpt_hf.training",
    "whisper_gpt_hf.evaluation",
    "whisper_gpt_hf.experiment",
    "whisper_gpt_hf.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whisper-gpt",
        description="WHISPER-GPT: hybrid log-mel + EnCodec-token audio language model tools.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _VERB_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
