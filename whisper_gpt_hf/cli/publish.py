"""`whisper-gpt publish`: build a Hub-ready folder from a checkpoint and upload it (see `whisper_gpt_hf.publishing`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisper_gpt_hf.publishing import publish as lib
from whisper_gpt_hf.publishing.publish import DEFAULT_COMMIT_MESSAGE, describe_folder, publish


def add_hub_ready_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by `publish`, `convert checkpoint` and `convert hub-ready`: processor, evaluation, card."""
    parser.add_argument("--processor", default=None,
                        help="processor folder (default: the model/run folder's own, else the embedded default)")
    group = parser.add_argument_group("evaluation numbers for the model card (one of them is required)")
    group.add_argument("--eval-dataset", default=None, metavar="D",
                       help="evaluate now on this dataset (Hub id or Hub-layout folder) with whisper_gpt_hf.evaluation")
    group.add_argument("--eval-split", default="test", help="split of --eval-dataset (default: test)")
    group.add_argument("--eval-window-frames", type=int, default=256, help="frames per scored window (default: 256)")
    group.add_argument("--eval-max-windows", type=int, default=None, help="score only the first N windows")
    group.add_argument("--eval-results", default=None, metavar="JSON",
                       help="numbers measured before: the JSON of `whisper-gpt evaluate --json`")
    group.add_argument("--no-eval", action="store_true", help="publish a card without evaluation numbers")
    parser.add_argument("--dataset-id", action="append", default=None, metavar="ORG/NAME",
                        help="Hub id of the training data for the card metadata (repeatable; default: what the "
                             "run's run_config.json records, else the template's)")
    parser.add_argument("--model-name", default=None, help="name in the card (default: the repo or folder name)")
    parser.add_argument("--training-summary", default=None, help="a sentence on how the checkpoint was trained")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")



def hub_ready_kwargs_from_args(args: argparse.Namespace) -> dict:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.eval_results and args.eval_dataset:
        raise SystemExit("error: pass --eval-dataset or --eval-results, not both")
    kwargs = dict(
        processor=args.processor,
        eval_results=args.eval_results,
        eval_dataset=args.eval_dataset,
        eval_split=args.eval_split,
        eval_window_frames=args.eval_window_frames,
        eval_max_windows=args.eval_max_windows,
        dataset_ids=args.dataset_id,
        training_summary=args.training_summary,
        require_eval=not args.no_eval,
    )
    if args.model_name:
        kwargs["model_name"] = args.model_name
    return kwargs



def publish_command(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.conversion.convert_encodec_checkpoint import ConversionError
    from whisper_gpt_hf.publishing.folder import HubReadyError

    try:
        folder, commit = publish(
            args.dir, args.repo_id, private=args.private, dry_run=args.dry_run, output=args.output,
            token=args.token, commit_message=args.commit_message, config=args.config,
            **hub_ready_kwargs_from_args(args),
        )
    except (HubReadyError, ConversionError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if commit is None:
        print(f"dry run: wrote the folder that would be uploaded to {args.repo_id} "
              f"({'private' if args.private else 'public'}) to {folder}:")
        print(describe_folder(Path(folder)))
    else:
        print(f"uploaded to {getattr(commit, 'commit_url', None) or args.repo_id}")
        if folder is not None:
            print(f"(the uploaded folder is kept at {folder})")
    return 0



def add_parser(subparsers) -> None:
    p = subparsers.add_parser("publish", help="upload a checkpoint to the Hub as a ready-to-use model repository",
                              description=lib.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="saved model folder or Accelerate checkpoint folder")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub model repository")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--dry-run", action="store_true", help="write the upload to --output; upload nothing")
    p.add_argument("--output", default=None, help="where the folder to upload is written (kept)")
    p.add_argument("--config", default=None, help="the run's model config.json (Accelerate checkpoints only)")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the stored login)")
    p.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE)
    add_hub_ready_arguments(p)
    p.set_defaults(func=publish_command)
