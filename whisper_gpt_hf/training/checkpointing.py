"""Training checkpoints that cannot carry code: tensors in safetensors, everything else in JSON.

Accelerate's `save_state` / `load_state` pickle the optimizer, the RNG states and every registered object, and
`load_state` unpickles them with `weights_only=False`: a checkpoint folder from someone else could run any code on
`--resume`. A checkpoint here is instead

    checkpoint-N/
        model.safetensors            the (unwrapped) model's state dict, every tensor its own copy
        optimizer.safetensors        the optimizer's per-parameter tensors, keys `state/<param index>/<name>`
        rng_state_<rank>.safetensors each process's Python, NumPy, torch and CUDA generator states
        trainer_state.json           written last (its presence marks the folder complete): step, optimizer
                                     param_groups and scalar state, scheduler and grad-scaler state, caller extras

and is read back with `safetensors.torch.load_file` and `json.load` only. Nothing is ever unpickled: a `.pkl` /
`.bin` planted in the folder is ignored, a pickle renamed `*.safetensors` is refused as unreadable. Checkpoints of
the earlier Accelerate format still resume, read with `torch.load(weights_only=True)` (tensors, numbers and NumPy's
RNG arrays only: a file that needs any other object is refused).

Exact resume: restoring every generator a training step draws from (dropout on CPU and CUDA, NumPy, Python) makes a
resumed run's dropout masks those of the uninterrupted run. The data loader must not draw from the global generator
(give it its own `generator=`), or the extra iterator a resumed run creates mid-epoch would shift the stream.

Implemented for one process and data parallel (DDP), where every rank holds the whole model and optimizer. FSDP and
DeepSpeed shard them; `check_supported` refuses checkpointing there rather than writing an incomplete state.
"""

from __future__ import annotations

import json
import re
import shutil
import logging
import os
import random
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
RNG_FILE = "rng_state_{}.safetensors"


class CheckpointReadError(ValueError):
    """A checkpoint folder that cannot be resumed from (the message names the file and the fix)."""


def check_supported(accelerator) -> None:
    from accelerate.utils import DistributedType

    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise ValueError(
            f"Checkpoints are safetensors + JSON (never pickles: see the README's security section) and are "
            f"implemented for one process and DDP, not for {accelerator.distributed_type.value}'s sharded optimizer "
            "state. Pass --save-every 0 (the final model is still saved), or train with DDP."
        )


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Own copies: safetensors refuses tensors that share storage (tied weights), and CPU for the file.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _json_ready(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where} is a {type(value).__name__}, which a JSON training state cannot hold.")


# ---------------------------------------------------------------------------------------------------- RNG
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """This process's generator states as (tensors, string metadata) for one safetensors file."""
    version, python_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {
        "python": torch.tensor(python_state, dtype=torch.int64),
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = state
    meta = {"python_version": str(version), "python_gauss": repr(gauss), "numpy_kind": kind, "numpy_pos": str(pos),
            "numpy_has_gauss": str(has_gauss), "numpy_cached": repr(float(cached))}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    gauss = None if meta["python_gauss"] == "None" else float(meta["python_gauss"])
    random.setstate((int(meta["python_version"]), tuple(int(x) for x in tensors["python"].tolist()), gauss))
    np.random.set_state((meta["numpy_kind"], tensors["numpy"].numpy().astype(np.uint32), int(meta["numpy_pos"]),
                         int(meta["numpy_has_gauss"]), float(meta["numpy_cached"])))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors)) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def _read_safetensors(path: str, metadata: bool = False):
    if not os.path.isfile(path):
        raise CheckpointReadError(f"{path} is missing: the checkpoint is incomplete. Resume from an earlier one "
                                  "(delete this folder) or start a new run.")
    try:
        tensors = load_file(path)
        if not metadata:
            return tensors
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            return tensors, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointReadError(f"{path} is not a readable safetensors file ({err}); it was truncated or replaced. "
                                  "Resume from an earlier checkpoint (delete this folder).") from err


# ---------------------------------------------------------------------------------------------------- save / load
def save_training_state(accelerator, folder: str, model, optimizer, scheduler, extra: dict[str, Any]) -> None:
    """Write the training state into `folder` (every rank its RNG file, the main process the rest, the JSON last).
    Call on every process; the caller renames the folder into place once this returns."""
    check_supported(accelerator)
    os.makedirs(folder, exist_ok=True)
    tensors, meta = rng_state()
    save_file(tensors, os.path.join(folder, RNG_FILE.format(accelerator.process_index)), metadata=meta)
    state_dict = accelerator.get_state_dict(model, unwrap=True)
    if accelerator.is_main_process:
        save_file(_tensors(state_dict), os.path.join(folder, MODEL_FILE), metadata={"format": "pt"})
        opt = optimizer.state_dict()
        opt_tensors, scalars = {}, {}
        for index, per_param in opt["state"].items():
            for name, value in per_param.items():
                if isinstance(value, torch.Tensor):
                    opt_tensors[f"state/{index}/{name}"] = value
                else:
                    scalars.setdefault(str(index), {})[name] = value
        save_file(_tensors(opt_tensors), os.path.join(folder, OPTIMIZER_FILE))
        scaler = getattr(accelerator, "scaler", None)
        record = {
            **extra,
            "num_processes": accelerator.num_processes,
            "optimizer": {"param_groups": opt["param_groups"], "scalar_state": scalars},
            "scheduler": scheduler.state_dict(),
            "grad_scaler": scaler.state_dict() if scaler is not None else None,
        }
        text = json.dumps(_json_ready(record, "trainer_state"), indent=2)
        with open(os.path.join(folder, STATE_FILE), "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    accelerator.wait_for_everyone()


def load_training_state(accelerator, folder: str, model, optimizer, scheduler) -> dict[str, Any]:
    """Restore what `save_training_state` wrote into the prepared `model`, `optimizer` and `scheduler` and this
    process's generators; returns the trainer_state.json record. Reads safetensors and JSON only."""
    check_supported(accelerator)
    state_path = os.path.join(folder, STATE_FILE)
    legacy = os.path.isfile(os.path.join(folder, "optimizer.bin"))
    if legacy and not os.path.isfile(os.path.join(folder, OPTIMIZER_FILE)):
        return _load_accelerate_checkpoint(accelerator, folder, model, optimizer, scheduler)
    try:
        with open(state_path) as f:
            record = json.load(f)
    except (OSError, ValueError) as err:  # ValueError: not JSON, or not even text
        raise CheckpointReadError(f"{state_path} is not a readable JSON file ({err}); resume from an earlier "
                                  "checkpoint (delete this folder).") from err
    if not isinstance(record, dict) or not {"step", "optimizer", "scheduler"} <= set(record):
        raise CheckpointReadError(f"{state_path} is not a training state (no step / optimizer / scheduler); resume "
                                  "from an earlier checkpoint (delete this folder).")
    unwrapped = accelerator.unwrap_model(model)
    weights = _read_safetensors(os.path.join(folder, MODEL_FILE))
    result = unwrapped.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointReadError(
            f"{folder}/{MODEL_FILE} does not match the model being trained (missing: {result.missing_keys[:8]}, "
            f"unexpected: {result.unexpected_keys[:8]}): resume with the same --preset / --model / --model-overrides "
            "/ LoRA flags as the run that wrote it."
        )
    tensors = _read_safetensors(os.path.join(folder, OPTIMIZER_FILE))
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split("/", 2)
        per_param.setdefault(int(index), {})[name] = value
    for index, values in record["optimizer"]["scalar_state"].items():
        per_param.setdefault(int(index), {}).update(values)
    groups = record["optimizer"]["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    scheduler.load_state_dict(record["scheduler"])
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and record.get("grad_scaler"):
        scaler.load_state_dict(record["grad_scaler"])
    rng_path = os.path.join(folder, RNG_FILE.format(accelerator.process_index))
    if os.path.isfile(rng_path):
        set_rng_state(*_read_safetensors(rng_path, metadata=True))
    else:
        logger.warning("%s has no RNG state for process %d (it was written by %s processes): the random streams "
                       "(dropout) continue from the seed, not bit-exactly.", folder, accelerator.process_index,
                       record.get("num_processes"))
    accelerator.wait_for_everyone()
    return record


def _weights_only_load(path: str, extra_globals=()):
    """`torch.load(weights_only=True)`: tensors, containers and numbers only (plus the listed data types); anything
    that would construct another object (a `__reduce__` payload) is refused, never run."""
    import pickle

    from torch.serialization import safe_globals

    if not os.path.isfile(path):
        raise CheckpointReadError(f"{path} is missing: the checkpoint is incomplete. Resume from an earlier one.")
    try:
        with safe_globals(list(extra_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise CheckpointReadError(
            f"Refused {path}: it is not a plain tensor/number file that can be read without unpickling objects "
            f"({str(err).splitlines()[0][:200]}); unpickling it could run code. Resume from another checkpoint."
        ) from err


def _numpy_globals():
    return [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.UInt32DType]


def _load_accelerate_checkpoint(accelerator, folder: str, model, optimizer, scheduler) -> dict[str, Any]:
    """A checkpoint of the earlier Accelerate `save_state` format (`optimizer.bin`, `custom_checkpoint_0.pkl` = the
    scheduler, `custom_checkpoint_1.pkl` = the step, `random_states_<rank>.pkl`), read with `weights_only=True` only:
    a file holding anything but tensors, numbers and NumPy's RNG arrays is refused, so no code can run."""
    logger.warning("%s is in the earlier Accelerate format; reading it with weights_only=True (the next checkpoint "
                   "is written as safetensors + JSON).", folder)
    unwrapped = accelerator.unwrap_model(model)
    result = unwrapped.load_state_dict(_read_safetensors(os.path.join(folder, MODEL_FILE)), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointReadError(f"{folder}/{MODEL_FILE} does not match the model being trained (missing: "
                                  f"{result.missing_keys[:8]}, unexpected: {result.unexpected_keys[:8]}).")
    optimizer.load_state_dict(_weights_only_load(os.path.join(folder, "optimizer.bin")))
    scheduler.load_state_dict(_weights_only_load(os.path.join(folder, "custom_checkpoint_0.pkl")))
    step = _weights_only_load(os.path.join(folder, "custom_checkpoint_1.pkl"))
    if not isinstance(step, dict) or not isinstance(step.get("step"), int):
        raise CheckpointReadError(f"{folder}/custom_checkpoint_1.pkl does not hold the step count.")
    rng_path = os.path.join(folder, f"random_states_{accelerator.process_index}.pkl")
    if os.path.isfile(rng_path):
        states = _weights_only_load(rng_path, _numpy_globals())
        random.setstate(states["random_state"])
        np.random.set_state(states["numpy_random_seed"])
        torch.set_rng_state(states["torch_manual_seed"])
        if "torch_cuda_manual_seed" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["torch_cuda_manual_seed"])
    accelerator.wait_for_everyone()
    return {"step": step["step"]}


__all__ = [
    "CheckpointReadError",
    "check_supported",
    "load_training_state",
    "rng_state",
    "save_training_state",
    "set_rng_state",
]


CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")



TRAINER_STATE_NAME = "trainer_state.json"  # written last into a checkpoint: its presence marks it complete



class TrainState:
    """The step count, saved in every checkpoint's trainer_state.json."""

    def __init__(self):
        self.step = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step = int(state["step"])



def list_checkpoints(output_dir: str) -> list[tuple[int, str]]:
    """Complete checkpoints `(step, path)`, oldest first; `.tmp` (unfinished) and other folders are ignored."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = CHECKPOINT_PATTERN.match(name)
        path = os.path.join(output_dir, name)
        if match and os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)):
            found.append((int(match.group(1)), path))
    return sorted(found)



def save_checkpoint(accelerator, output_dir: str, step: int, save_total_limit: int | None, extra: dict,
                    model=None, optimizer=None, scheduler=None) -> str:
    """`checkpointing.save_training_state` into `checkpoint-N.tmp` (trainer_state.json last), then rename to
    `checkpoint-N` in one `os.replace`; rotate old ones."""
    from whisper_gpt_hf.training.checkpointing import save_training_state

    final = os.path.join(output_dir, f"checkpoint-{step}")
    tmp = final + ".tmp"
    if accelerator.is_main_process and os.path.exists(tmp):
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    try:
        save_training_state(accelerator, tmp, model, optimizer, scheduler, {"step": step, **extra})
    except Exception as err:  # e.g. a full disk: safetensors and torch word it as a low-level I/O error
        shutil.rmtree(tmp, ignore_errors=True)
        free = shutil.disk_usage(output_dir).free if os.path.isdir(output_dir) else 0
        raise OSError(
            f"Writing checkpoint-{step} into {output_dir} failed ({type(err).__name__}: {err}; {free / 1e6:.1f} MB "
            "free there). The earlier checkpoints are intact: free some space (or lower --save-total-limit), then "
            "run the same command with --resume."
        ) from err
    if accelerator.is_main_process:
        if os.path.exists(final):  # only after a crash that rewound past it; the new one replaces it
            shutil.rmtree(final)
        os.replace(tmp, final)
        if save_total_limit:
            for _, old in list_checkpoints(output_dir)[:-save_total_limit]:
                doomed = old + ".deleting"  # rename first: a kill mid-delete never leaves a half checkpoint-N
                os.replace(old, doomed)
                shutil.rmtree(doomed)
    accelerator.wait_for_everyone()
    return final



def remove_unfinished(output_dir: str) -> None:
    """Delete leftovers of a killed run: unfinished `checkpoint-N.tmp`, half-deleted `.deleting` folders and an
    unfinished final save."""
    for name in os.listdir(output_dir):
        if (name.startswith("checkpoint-") and name.endswith((".tmp", ".deleting"))) or name == FINAL_TMP:
            logger.warning("Removing unfinished %s", name)
            shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)



FINAL_TMP = ".final.tmp"
