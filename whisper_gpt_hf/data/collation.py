"""Batches for training and scoring: padding prepared examples, and the resumable epoch order of the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class WhisperGPTDataCollator:
    """
    Pads prepared examples into a batch: `input_ids` `[B, T]` (pad 0), `input_features` `[B, T, n_mels]` (pad 0.0),
    `attention_mask` `[B, T]` (1 = real frame) and `labels` (`input_ids` with padding set to -100; the model shifts
    them). Other keys (`category`, `clip_id`) come back as lists when `return_metadata` is true; set it to false for
    `transformers.Trainer` (or let the Trainer's `remove_unused_columns` drop them first).

    Args:
        pad_to_multiple_of: round the padded length up to a multiple of this (e.g. 8 for tensor cores).
        return_metadata: keep the non-tensor keys.
    """

    pad_to_multiple_of: int | None = None
    return_metadata: bool = True

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if not examples:
            raise ValueError("Cannot collate an empty list of examples.")
        ids = [torch.as_tensor(np.asarray(e["input_ids"]), dtype=torch.long).reshape(-1) for e in examples]
        lengths = [x.shape[0] for x in ids]
        max_len = max(lengths)
        if self.pad_to_multiple_of:
            max_len = -(-max_len // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch_size = len(examples)
        input_ids = torch.zeros(batch_size, max_len, dtype=torch.long)
        attention_mask = torch.zeros(batch_size, max_len, dtype=torch.long)
        for i, (x, n) in enumerate(zip(ids, lengths, strict=True)):
            input_ids[i, :n] = x
            attention_mask[i, :n] = 1
        batch: dict[str, Any] = {"input_ids": input_ids}
        if examples[0].get("fine_input_ids") is not None:  # a num_codebooks > 1 model's codebooks 2..K, pad 0
            fine = [torch.as_tensor(np.asarray(e["fine_input_ids"]), dtype=torch.long) for e in examples]
            for f, n in zip(fine, lengths, strict=True):
                if f.ndim != 2 or f.shape[0] != n:
                    raise ValueError(f"fine_input_ids of shape {tuple(f.shape)} do not match {n} input_ids.")
            batch["fine_input_ids"] = torch.zeros(batch_size, max_len, fine[0].shape[1], dtype=torch.long)
            for i, (f, n) in enumerate(zip(fine, lengths, strict=True)):
                batch["fine_input_ids"][i, :n] = f
        if "input_features" in examples[0] and examples[0]["input_features"] is not None:
            feats = [torch.as_tensor(np.asarray(e["input_features"], dtype=np.float32)) for e in examples]
            for f, n in zip(feats, lengths, strict=True):
                if f.ndim != 2 or f.shape[0] != n:
                    raise ValueError(f"input_features of shape {tuple(f.shape)} do not match {n} input_ids.")
            input_features = torch.zeros(batch_size, max_len, feats[0].shape[-1], dtype=torch.float32)
            for i, (f, n) in enumerate(zip(feats, lengths, strict=True)):
                input_features[i, :n] = f
            batch["input_features"] = input_features
        batch["attention_mask"] = attention_mask
        batch["labels"] = input_ids.masked_fill(attention_mask == 0, -100)
        if self.return_metadata:
            for key in examples[0]:
                if key not in batch:
                    batch[key] = [e.get(key) for e in examples]
        return batch


class EpochShuffleSampler(torch.utils.data.Sampler):
    """Epoch `e` visits the examples in the permutation seeded by `seed + e`: the order is a function of (seed, e)
    alone, so a resumed run can recompute it. Set the epoch with `use_epoch` (deliberately not `set_epoch`, which
    Accelerate's skipping loaders would reset)."""

    def __init__(self, num_examples: int, seed: int):
        self.num_examples, self.seed, self.epoch = num_examples, seed, 0

    def use_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.num_examples, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_examples
