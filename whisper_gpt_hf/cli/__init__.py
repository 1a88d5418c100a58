"""The ``whisper-gpt`` command line (also ``python -m whisper_gpt_hf.cli``).

Each verb lives in its own thin module here (`cli/train.py` for `whisper-gpt train`, ...): it registers the verb's
flags with ``add_parser(subparsers)`` and sets ``func`` to a callable taking the parsed ``argparse.Namespace``; the
work itself is library code in the other sub-packages, which never import this one. ``VERBS`` below names each
verb's module and one-line help, so ``whisper-gpt --help`` imports no verb module and ``whisper-gpt VERB ...`` imports
only that verb's (and the library it calls). When the process is the ``whisper-gpt`` console script,
``import whisper_gpt_hf`` itself defers the model classes until the arguments are parsed
(``whisper_gpt_hf/__init__.py``).

On the command line an error prints one ``error: ...`` line and exits 1 (2 for a usage error) instead of a
traceback; ``--debug`` or ``WHISPER_GPT_DEBUG=1`` shows the traceback. ``main(argv)`` called from Python raises.

    whisper-gpt --help
    whisper-gpt demo --help
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# verb -> (module that registers it, one-line help shown by `whisper-gpt --help`; the module registers the same help)
VERBS: dict[str, tuple[str, str]] = {
    "make-corpus": ("whisper_gpt_hf.cli.make_corpus",
                    "synthesize the speech + music corpus (espeak-ng, fluidsynth) as a Hub dataset folder"),
    "train-codec": ("whisper_gpt_hf.cli.train_codec", "train the small EnCodec-architecture codec on the corpus"),
    "codec-report": ("whisper_gpt_hf.cli.codec_report",
                     "codebook usage and reconstruction quality of a codec, per category"),
    "prepare": ("whisper_gpt_hf.cli.prepare", "encode a dataset once into a prepared folder (across processes)"),
    "train": ("whisper_gpt_hf.cli.train", "Train or fine-tune a WHISPER-GPT model with Accelerate."),
    "evaluate": ("whisper_gpt_hf.cli.evaluate", "NLL / PPL / accuracy of one or more models on a dataset"),
    "experiment": ("whisper_gpt_hf.cli.experiment", "the paper's Tables 1-2: train hybrid + GPT baselines, evaluate"),
    "generate": ("whisper_gpt_hf.cli.generate", "continue an audio prompt and write a WAV file"),
    "demo": ("whisper_gpt_hf.cli.demo", "offline end-to-end demo on the committed corpus and checkpoints"),
    "convert": ("whisper_gpt_hf.cli.convert", "convert checkpoints from other formats into Hugging Face folders"),
    "publish": ("whisper_gpt_hf.cli.publish", "upload a checkpoint to the Hub as a ready-to-use model repository"),
}

DEBUG_ENV = "WHISPER_GPT_DEBUG"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error: `error: ... (see whisper-gpt VERB --help)`, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser(verbs=None) -> argparse.ArgumentParser:
    """The `whisper-gpt` parser. `verbs`: the verbs whose modules register their real flags (default: all); the
    others are listed with their help only (parsing one of them needs its module: `main` builds it as needed)."""
    parser = _Parser(
        prog="whisper-gpt",
        description="WHISPER-GPT: hybrid log-mel + EnCodec-token audio language model tools.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=20, width=100),
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (also {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for verb, (module, help) in VERBS.items():
        if verbs is None or verb in verbs:
            importlib.import_module(module).add_parser(subparsers)
        else:
            subparsers.add_parser(verb, help=help, add_help=False)
    return parser


def _requested_verb(argv: list[str]) -> str | None:
    """The verb on the command line: the first argument that is not a top-level option."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def format_error(err: BaseException) -> str:
    """The one line printed for an error: its message, led by its type unless the message says it all."""
    message = str(err).strip()
    if not message:
        return f"error: {type(err).__name__}"
    own = type(err).__module__.startswith("whisper_gpt_hf")
    if own or isinstance(err, (ValueError, RuntimeError, OSError)):
        return f"error: {message}"
    return f"error: {type(err).__name__}: {message}"


def main(argv: list[str] | None = None) -> int:
    """Run one command. From the command line (`argv` None: the console script, `python -m`) an error prints one
    `error: ...` line and returns 1 (`--debug` / WHISPER_GPT_DEBUG=1: the traceback); called from Python with an
    explicit `argv`, errors propagate as exceptions. A usage error exits 2 either way (argparse's SystemExit)."""
    from_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = _requested_verb(argv)
    args = build_parser([verb] if verb else []).parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    import whisper_gpt_hf

    whisper_gpt_hf._import_and_register()  # deferred by the console script until the arguments were parsed
    if not from_command_line or debug:
        return int(args.func(args) or 0)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (one line instead of a traceback; --debug shows it)
        print(format_error(err), file=sys.stderr)
        return 1
    return int(result or 0)

