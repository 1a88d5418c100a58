"""What every converter here shares: its errors, and reading a checkpoint file without running anything in it.

- `ConversionError` and its kinds: `CheckpointReadError` (missing, truncated, not a state dict, or would run code
  when unpickled) and `CheckpointKeyError` (keys that do not match the target model, every one named).
- `load_original_state_dict`: `.safetensors` through safetensors; `.th` / `.pt` / `.bin` through
  `torch.load(weights_only=True)` (a pickle that would execute code is refused); training-state wrappers
  (`{"best_state": ...}`, `{"model": ...}`, `{"state_dict": ...}`) are unwrapped.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file

# Keys under which training code (audiocraft's `best_state`, generic `model` / `state_dict`) nests the weights.
_WRAPPER_KEYS = ("best_state", "model", "state_dict")





class ConversionError(Exception):
    """A checkpoint could not be converted; the message says which file, key or value and why."""



class CheckpointReadError(ConversionError):
    """The checkpoint file is missing, truncated, not a state dict, or would run code when unpickled."""



class CheckpointKeyError(ConversionError):
    """The checkpoint's keys do not match the model: unexpected, missing or wrongly shaped keys (all are named)."""

    def __init__(
        self,
        unexpected: list[str],
        missing: list[str],
        mismatched: list[str],
        title: str = "the checkpoint does not match the model:",
        hints: tuple[str, ...] = (),
    ):
        self.unexpected, self.missing, self.mismatched = unexpected, missing, mismatched
        lines = [title]
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected key(s): " + ", ".join(unexpected))
        if missing:
            lines.append(f"  {len(missing)} missing key(s): " + ", ".join(missing))
        if mismatched:
            lines.append(f"  {len(mismatched)} key(s) with the wrong shape: " + ", ".join(mismatched))
        super().__init__("\n".join([*lines, *hints]))



def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())



def unwrap_state_dict(obj, path: Path) -> dict[str, torch.Tensor]:
    """Return the flat `{name: tensor}` dict, descending into `_WRAPPER_KEYS` of a training-state checkpoint."""
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        wrapper = next((key for key in _WRAPPER_KEYS if isinstance(obj.get(key), Mapping)), None)
        if wrapper is None:
            keys = ", ".join(map(str, list(obj)[:10]))
            raise CheckpointReadError(
                f"{path}: no state dict found: the top-level keys ({keys}) are neither all tensors nor one of the "
                f"wrappers {_WRAPPER_KEYS}"
            )
        obj = obj[wrapper]
    if not _is_state_dict(obj):
        raise CheckpointReadError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    return dict(obj)



def _unpickler_reason(err: pickle.UnpicklingError) -> str:
    """The one informative sentence of torch's long weights-only message ("Unsupported global: GLOBAL ...")."""
    message = str(err)
    if "WeightsUnpickler error:" in message:
        reason = message.split("WeightsUnpickler error:", 1)[1].strip()
        return reason.splitlines()[0].split(". ")[0]
    return message.splitlines()[0]



def load_original_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an original EnCodec checkpoint without executing anything it contains."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointReadError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        try:
            return load_safetensors_file(str(path), device="cpu")
        except (SafetensorError, OSError) as err:
            raise CheckpointReadError(
                f"{path}: not a readable safetensors file (truncated or corrupt?): {err}"
            ) from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointReadError(
            f"{path}: refused: the file is not a plain tensor checkpoint and unpickling it would execute code "
            f"(torch.load(weights_only=True): {_unpickler_reason(err)}). Only load it with weights_only=False if "
            "you trust its origin, then re-save its state dict."
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointReadError(f"{path}: could not be read by torch.load (truncated or corrupt?): {err}") from err
    return unwrap_state_dict(obj, path)


__all__ = ["CheckpointKeyError", "CheckpointReadError", "ConversionError", "load_original_state_dict", "unwrap_state_dict"]
