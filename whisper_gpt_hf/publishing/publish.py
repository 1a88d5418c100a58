"""`whisper-gpt publish`: build a checkpoint's Hub-ready folder and upload it to a Hub model repository.

    whisper-gpt publish runs/hybrid/final --repo-id my-org/whisper-gpt-hybrid-4m --eval-dataset my-org/corpus
    whisper-gpt publish runs/hybrid/checkpoint-2000 --repo-id my-org/w --dry-run --output upload/ --eval-results e.json

DIR is a saved WHISPER-GPT model folder (`save_pretrained`; its `processor_config.json` and `eval_results.json` are
used when present) or an Accelerate `save_state` checkpoint folder (converted with
`whisper_gpt_hf.conversion.convert_accelerate_checkpoint`). The upload is exactly the folder that
`whisper_gpt_hf.publishing.folder.make_hub_ready` builds: weights, config with a complete `auto_map`, processor
with its bundled codec, remote-code files and a README.md rendered from MODEL_CARD.md with this checkpoint's
evaluation numbers. `--dry-run --output OUT` writes that folder to OUT and uploads nothing.

The upload goes through `huggingface_hub` (`create_repo`, then `upload_folder` as one commit), so `HF_ENDPOINT` and
`HF_TOKEN` / `hf auth login` apply as for every Hub call.
"""

from __future__ import annotations

import os
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
    from whisper_gpt_hf.publishing.folder import make_hub_ready

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










__all__ = ["build_hub_folder", "is_accelerate_checkpoint", "publish"]
