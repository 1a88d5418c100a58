"""`whisper-gpt publish`: build a checkpoint's Hub-ready folder and upload it to a Hub model repository.

    whisper-gpt publish runs/hybrid/final --repo-id my-org/whisper-gpt-hybrid-4m --eval-dataset my-org/corpus
    whisper-gpt publish runs/hybrid/checkpoint-2000 --repo-id my-org/w --dry-run --output upload/ --eval-results e.json

DIR is a saved WHISPER-GPT model folder (`save_pretrained`; its `processor_config.json` and `eval_results.json` are
used when present) or an Accelerate `save_state` checkpoint folder (converted with
`whisper_gpt_hf.conversion.convert_accelerate_checkpoint`). The upload is exactly the folder that
`whisper_gpt_hf.conversion.hub_ready.make_hub_ready` builds: weights, config with a complete `auto_map`, processor
with its bundled codec, remote-code files and a README.md rendered from MODEL_CARD.md with this checkpoint's
evaluation numbers. `--dry-run --output OUT` writes that folder to OUT and uploads nothing.

The upload goes through `huggingface_hub` (`create_repo`, then `upload_folder` as one commit), so `HF_ENDPOINT` and
`HF_TOKEN` / `hf auth login` apply as for every Hub call.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_COMMIT_MESSAGE = "Upload WHISPER-GPT model (whisper-gpt publish)"


def is_accelerate_checkpoint(folder: str | os.PathLike) -> bool:
    """An Accelerate `save_state` folder: weights but no model config.json of their own."""
    folder = Path(folder)
    has_weights = any((folder / n).is_file() for n in ("model.safetensors", "pytorch_model.bin"))
    return has_weights and not (folder / "config.json").is_file()


def build_hub_folder(source: str | os.PathLike, output_dir: str | os.PathLike, config: str | None = None,
                     **hub_ready_kwargs) -> Path:
    """Build the Hub-ready folder of `source` (a saved model folder or an Accelerate checkpoint) in `output_dir`."""
    if is_accelerate_checkpoint(source):
        from whisper_gpt_hf.conversion.convert_accelerate_checkpoint import convert_accelerate_checkpoint

        return convert_accelerate_checkpoint(source, output_dir, config=config, **hub_ready_kwargs)
    if config is not None:
        raise ValueError("--config only applies to Accelerate checkpoints; a saved model folder has its own config.json.")
    from whisper_gpt_hf.conversion.hub_ready import make_hub_ready

    hub_ready_kwargs.setdefault("model_name", Path(source).resolve().name)
    return make_hub_ready(source, output_dir=output_dir, **hub_ready_kwargs)


def publish(
    source: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    dry_run: bool = False,
    output: str | os.PathLike | None = None,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    config: str | None = None,
    api=None,
    **hub_ready_kwargs,
):
    """Build the Hub-ready folder of `source` and upload it to `repo_id` (or, with `dry_run`, only write it to
    `output`). Returns `(folder, commit_info)`; the folder is `output`, or a temporary one (deleted) after an upload
    without `output`; `commit_info` is None for a dry run."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import validate_repo_id

    validate_repo_id(repo_id)
    if "/" not in repo_id:
        raise ValueError(f"--repo-id must be ORG/NAME (or USER/NAME), got {repo_id!r}.")
    if dry_run and output is None:
        raise ValueError("--dry-run needs --output: the folder that would be uploaded is written there.")
    hub_ready_kwargs.setdefault("repo_id", repo_id)
    hub_ready_kwargs.setdefault("model_name", repo_id.split("/")[-1])
    if output is not None:
        folder = build_hub_folder(source, output, config=config, **hub_ready_kwargs)
        if dry_run:
            return folder, None
        return folder, _upload(folder, repo_id, private, token, commit_message, api or HfApi())
    with tempfile.TemporaryDirectory(prefix="whisper-gpt-publish-") as tmp:
        folder = build_hub_folder(source, Path(tmp) / "upload", config=config, **hub_ready_kwargs)
        return None, _upload(folder, repo_id, private, token, commit_message, api or HfApi())


def _upload(folder: Path, repo_id: str, private: bool, token, commit_message: str, api):
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True, token=token)
    return api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                             commit_message=commit_message, token=token)


def describe_folder(folder: Path) -> str:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        lines.append(f"  {path.relative_to(folder)}  ({path.stat().st_size:,} bytes)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- CLI


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
    from whisper_gpt_hf.conversion.hub_ready import HubReadyError

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
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


__all__ = ["add_hub_ready_arguments", "build_hub_folder", "is_accelerate_checkpoint", "publish"]
