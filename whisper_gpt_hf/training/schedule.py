"""The learning-rate schedule every trainer here uses (model and codec): linear warmup to the peak, then cosine decay
to a floor at the last step (nanoGPT's `get_lr`)."""

from __future__ import annotations

import math
from typing import Callable

import torch


def warmup_cosine(warmup_steps: int, max_steps: int, min_lr_ratio: float) -> Callable[[int], float]:
    """The factor of the peak learning rate at update `step` (0-based): `(step + 1) / (warmup_steps + 1)` during the
    warmup, then a cosine from 1 down to `min_lr_ratio` at `max_steps` (and `min_lr_ratio` after it)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def warmup_cosine_scheduler(optimizer, warmup_steps: int, max_steps: int,
                            min_lr_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """`warmup_cosine` as a `LambdaLR` on `optimizer` (step it once per update, not per micro-batch)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup_steps, max_steps, min_lr_ratio))


__all__ = ["warmup_cosine", "warmup_cosine_scheduler"]
