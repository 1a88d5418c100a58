"""Factories shared by the Hub-ready / publish / Hub round-trip tests: a tiny audio dataset, real evaluation numbers,
saved model folders and Accelerate checkpoints of the tiny models. Nothing here downloads anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from helpers import SR, test_audio, tiny_config, tiny_model, tiny_processor

CATEGORIES = ("speech", "music")


def write_audio_dataset(folder: Path, clips_per_split: int = 4, seconds: float = 0.8) -> Path:
    """An `audiofolder` dataset (train/ and test/ WAVs + metadata.csv with a `category` column)."""
    for split, offset in (("train", 100), ("test", 200)):
        split_dir = folder / split
        split_dir.mkdir(parents=True, exist_ok=True)
        rows = ["file_name,category"]
        for i in range(clips_per_split):
            name = f"clip{i}.wav"
            sf.write(split_dir / name, test_audio(seconds, seed=offset + i), SR, subtype="FLOAT")
            rows.append(f"{name},{CATEGORIES[i % 2]}")
        (split_dir / "metadata.csv").write_text("\n".join(rows) + "\n")
    return folder


def card_evaluation(model, processor, dataset: Path):
    """Real numbers for the model card: the evaluation module on `dataset`'s test split."""
    from whisper_gpt_hf.publishing.folder import evaluate_for_card

    return evaluate_for_card(model, processor, str(dataset), split="test", window_frames=64,
                             cache_dir=str(dataset.parent / "datasets-cache"))


def saved_model_dir(folder: Path, model, processor=None, evaluation=None) -> Path:
    """A plain `save_pretrained` folder (what training writes), optionally with its processor and eval_results.json."""
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    if evaluation is not None:
        (folder / "eval_results.json").write_text(json.dumps(evaluation.to_dict()))
    return folder


def accelerate_checkpoint(run_dir: Path, model, step: int = 1, safe_serialization: bool = True) -> Path:
    """A real `Accelerator.save_state` checkpoint of `model` (+ an AdamW state) in `run_dir/checkpoint-{step}`,
    with the run's model config written to `run_dir/config.json`, as a training run lays it out."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    ckpt = run_dir / f"checkpoint-{step}"
    accelerator.save_state(str(ckpt), safe_serialization=safe_serialization)
    model.config.to_json_file(str(run_dir / "config.json"))
    accelerator.free_memory()
    return ckpt


def reference_logits(model, processor, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, logits) of `audio` through `processor` and `model`, as numpy."""
    inputs = processor(audio=audio, sampling_rate=SR)
    with torch.no_grad():
        logits = model(**inputs).logits
    return inputs["input_ids"].numpy(), logits.numpy()


__all__ = [
    "CATEGORIES",
    "accelerate_checkpoint",
    "card_evaluation",
    "reference_logits",
    "saved_model_dir",
    "tiny_config",
    "tiny_model",
    "tiny_processor",
    "write_audio_dataset",
]
