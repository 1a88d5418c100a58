"""`whisper-gpt convert FORMAT ...`: convert checkpoints from other formats into Hugging Face folders.

    whisper-gpt convert encodec --checkpoint encodec_24khz-d7cc33bc.th --output encodec_24khz_hf
    whisper-gpt convert checkpoint --checkpoint runs/h4m/checkpoint-2000 --output h4m_hub --eval-dataset D
    whisper-gpt convert hub-ready --model runs/h4m --output h4m_hub --eval-results eval.json

Each format is a sub-verb: a function `_add_<format>_parser(formats)` registering its flags and its `func`, listed
once in `_FORMAT_PARSERS`. The converters themselves live in `whisper_gpt_hf.conversion` and are imported inside
`func`, so that `whisper-gpt --help` stays fast. A conversion error prints one `error: ...` paragraph (naming the
file or keys at fault) and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys


def _add_encodec_parser(formats) -> None:
    parser = formats.add_parser(
        "encodec",
        help="original `encodec` package checkpoint (.th/.pt/.bin/.safetensors) -> transformers EncodecModel folder",
        description="Convert an original EnCodec checkpoint (the `encodec` package's state dict, e.g. "
        "encodec_24khz-d7cc33bc.th) into a transformers EncodecModel folder (model.safetensors, config.json, "
        "preprocessor_config.json), after checking that both models give identical codes and the same audio.",
    )
    parser.add_argument("--checkpoint", required=True, help="the original checkpoint file")
    parser.add_argument("--output", required=True, help="folder to write the transformers model to")
    parser.add_argument(
        "--model",
        default="encodec_24khz",
        choices=["encodec_24khz", "encodec_48khz"],
        help="which original EnCodec the checkpoint is (default: %(default)s)",
    )
    parser.add_argument(
        "--bandwidth",
        type=float,
        nargs="+",
        default=None,
        metavar="KBPS",
        help="bandwidth(s) the parity check encodes at (default: all the model supports; 24 kHz: 1.5 3 6 12 24)",
    )
    parser.add_argument(
        "--skip-parity",
        action="store_true",
        help="do not compare against the original `encodec` model (the key checks still run)",
    )
    parser.set_defaults(func=_run_encodec)


def _run_encodec(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.conversion.convert_encodec_checkpoint import (
        ConversionError,
        convert_encodec_checkpoint,
        format_parity_table,
    )

    try:
        results = convert_encodec_checkpoint(
            args.checkpoint,
            args.output,
            model_name=args.model,
            bandwidths=args.bandwidth,
            check_parity_against_original=not args.skip_parity,
        )
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if results:
        print(format_parity_table(results))
    else:
        print("parity check skipped (--skip-parity)")
    print(f"saved the transformers EncodecModel and its feature extractor to {args.output}")
    return 0


def _add_checkpoint_parser(formats) -> None:
    from whisper_gpt_hf.cli.publish import add_hub_ready_arguments

    parser = formats.add_parser(
        "checkpoint",
        help="Accelerate training checkpoint (save_state folder) -> Hub-ready WHISPER-GPT folder",
        description="Convert an Accelerate `save_state` checkpoint (checkpoint-N/ with model.safetensors or "
        "pytorch_model.bin) into a Hub-ready folder: weights checked key by key against the run's config, "
        "config.json with auto_map, processor with its codec, remote-code files and a model card with evaluation "
        "numbers.",
    )
    parser.add_argument("--checkpoint", required=True, help="the checkpoint-N folder")
    parser.add_argument("--output", required=True, help="folder to write the Hub-ready model to")
    parser.add_argument("--config", default=None,
                        help="the run's model config.json (default: found in the checkpoint or the run folder)")
    parser.add_argument("--model-index", type=int, default=0,
                        help="which prepared model of the checkpoint (model_N.safetensors; default 0)")
    parser.add_argument("--repo-id", default=None, help="the Hub repo it is meant for (the card's usage snippet)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    add_hub_ready_arguments(parser)
    parser.set_defaults(func=_run_checkpoint)


def _run_checkpoint(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.conversion.convert_accelerate_checkpoint import convert_accelerate_checkpoint
    from whisper_gpt_hf.conversion.convert_encodec_checkpoint import ConversionError
    from whisper_gpt_hf.publishing.folder import HubReadyError
    from whisper_gpt_hf.cli.publish import describe_folder, hub_ready_kwargs_from_args

    try:
        folder = convert_accelerate_checkpoint(
            args.checkpoint, args.output, config=args.config, model_index=args.model_index, repo_id=args.repo_id,
            overwrite=args.overwrite, **hub_ready_kwargs_from_args(args),
        )
    except (ConversionError, HubReadyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote the Hub-ready folder {folder}:")
    print(describe_folder(folder))
    return 0


def _add_hub_ready_parser(formats) -> None:
    from whisper_gpt_hf.cli.publish import add_hub_ready_arguments

    parser = formats.add_parser(
        "hub-ready",
        help="any saved WHISPER-GPT model folder -> Hub-ready folder (auto_map, processor, code, model card)",
        description="Rewrite a saved WHISPER-GPT model (save_pretrained folder) as a Hub-ready folder: config.json "
        "with a complete auto_map, model.safetensors, processor with its codec, remote-code files, "
        "generation_config.json and a README.md rendered from MODEL_CARD.md with evaluation numbers.",
    )
    parser.add_argument("--model", required=True, help="the saved model folder")
    parser.add_argument("--output", required=True, help="folder to write the Hub-ready model to")
    parser.add_argument("--repo-id", default=None, help="the Hub repo it is meant for (the card's usage snippet)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    add_hub_ready_arguments(parser)
    parser.set_defaults(func=_run_hub_ready)


def _run_hub_ready(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.publishing.folder import HubReadyError, make_hub_ready
    from whisper_gpt_hf.cli.publish import describe_folder, hub_ready_kwargs_from_args

    kwargs = hub_ready_kwargs_from_args(args)
    processor = kwargs.pop("processor")
    try:
        folder = make_hub_ready(args.model, processor, args.output, repo_id=args.repo_id, overwrite=args.overwrite,
                                **kwargs)
    except (HubReadyError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote the Hub-ready folder {folder}:")
    print(describe_folder(folder))
    return 0


# One line per `convert` sub-verb.
_FORMAT_PARSERS = [
    _add_encodec_parser,
    _add_checkpoint_parser,
    _add_hub_ready_parser,
]


def add_parser(subparsers) -> None:
    convert = subparsers.add_parser(
        "convert",
        help="convert checkpoints from other formats into Hugging Face folders",
        description="Convert checkpoints from other formats into Hugging Face folders, with parity checks.",
    )
    formats = convert.add_subparsers(dest="convert_format", metavar="FORMAT")
    formats.required = True
    for add_format_parser in _FORMAT_PARSERS:
        add_format_parser(formats)


__all__ = ["add_parser"]
