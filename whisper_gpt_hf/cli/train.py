"""`whisper-gpt train` (see `whisper_gpt_hf.training.trainer` for what it does)."""

from __future__ import annotations

import argparse

from whisper_gpt_hf.training import trainer
from whisper_gpt_hf.training.arguments import CONFIG_HELP, argument_parser, arguments_from_namespace


def add_parser(subparsers) -> None:
    """Register `whisper-gpt train`."""
    parser = subparsers.add_parser(
        "train",
        parents=[argument_parser(add_help=False)],
        help="Train or fine-tune a WHISPER-GPT model with Accelerate.",
        description=trainer.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default=None, help=CONFIG_HELP)
    parser.set_defaults(func=run)


def run(namespace: argparse.Namespace) -> int:
    try:
        trainer.train(*arguments_from_namespace(namespace))
    finally:
        trainer.shutdown_distributed()
    return 0
