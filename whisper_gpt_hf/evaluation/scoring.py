"""Next-code evaluation: NLL (nats per coarse token), perplexity and top-1 accuracy, overall, per category and per
position, scored identically for every model.

    whisper-gpt evaluate --model runs/hybrid --dataset hub/whisper-gpt-corpus-small --split test
    whisper-gpt evaluate --model runs/hybrid --compare runs/gpt-s --dataset D --plot-positions positions.png --json

**Scoring positions** (the fair-baseline invariant): every prepared window of `L` real frames scores the codes at
window positions `1 .. L-1`, each predicted from the frames before it (the logits at `p - 1`). Position 0 has no
context and is never scored; padding is never scored. Which positions count depends only on the prepared dataset,
never on the model, so a hybrid and a token-only model evaluated on the same prepared dataset are scored on the same
codes; the token-only model simply ignores `input_features` in the same batches.

**Exact sums**: the NLL is the sum of `-log p(code)` over all scored codes divided by their count (summed in
float64), not a mean of batch means, so the batch size does not change the result (beyond float32 noise in the
forward pass).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from whisper_gpt_hf import data

ALL = "all"  # the key of the overall numbers in `EvalResult.per_category`-style tables


@dataclasses.dataclass
class CategoryResult:
    """Numbers over one set of scored codes."""

    nll: float  # nats per coarse token
    ppl: float  # exp(nll)
    accuracy: float  # top-1, in [0, 1]
    num_tokens: int

    @classmethod
    def from_sums(cls, nll_sum: float, correct: int, count: int) -> "CategoryResult":
        nll = nll_sum / count if count else float("nan")
        return cls(nll=nll, ppl=math.exp(nll) if count else float("nan"),
                   accuracy=correct / count if count else float("nan"), num_tokens=int(count))


@dataclasses.dataclass
class EvalResult:
    """What `evaluate_model` measures. `position_nll[p]` is the mean NLL of the code at window position `p`
    (NaN at 0, which is never scored, and past the longest window); `position_count[p]` how many codes it averages."""

    nll: float
    ppl: float
    accuracy: float
    num_tokens: int
    num_parameters: int
    per_category: dict[str, CategoryResult]
    position_nll: np.ndarray
    position_count: np.ndarray
    name: str = "model"
    use_spectrogram: bool | None = None
    # A full-bandwidth model (num_codebooks = K > 1) scored on data with fine codes: the NLL (nats per code) of
    # codebooks 2..K of the same scored frames, each given the codes before it (`nll` stays the coarse one).
    fine_nll: list[float] | None = None

    @property
    def overall(self) -> CategoryResult:
        return CategoryResult(self.nll, self.ppl, self.accuracy, self.num_tokens)

    def rows(self) -> dict[str, CategoryResult]:
        """`{"all": overall, category: ...}`: what the tables print."""
        return {ALL: self.overall, **self.per_category}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "num_parameters": self.num_parameters,
            "use_spectrogram": self.use_spectrogram,
            "nll": self.nll,
            "ppl": self.ppl,
            "accuracy": self.accuracy,
            "num_tokens": self.num_tokens,
            "per_category": {k: dataclasses.asdict(v) for k, v in self.per_category.items()},
            # JSON has no NaN: unscored positions are null.
            "position_nll": [None if not np.isfinite(x) else float(x) for x in self.position_nll],
            "position_count": [int(x) for x in self.position_count],
            **({"fine_nll": self.fine_nll} if self.fine_nll is not None else {}),
        }

    @classmethod
    def from_dict(cls, data) -> "EvalResult":
        """The inverse of `to_dict` (the JSON of `whisper-gpt evaluate --json`; null positions come back NaN)."""

        def number(x):
            return float("nan") if x is None else float(x)

        return cls(
            nll=number(data["nll"]),
            ppl=number(data["ppl"]),
            accuracy=number(data["accuracy"]),
            num_tokens=int(data["num_tokens"]),
            num_parameters=int(data["num_parameters"]),
            per_category={k: CategoryResult(**v) for k, v in (data.get("per_category") or {}).items()},
            position_nll=np.array([number(x) for x in data.get("position_nll") or []], dtype=np.float64),
            position_count=np.array(data.get("position_count") or [], dtype=np.int64),
            name=data.get("name", "model"),
            use_spectrogram=data.get("use_spectrogram"),
            fine_nll=data.get("fine_nll"),
        )


def _batches(dataset, batch_size: int, collator) -> Iterable[dict]:
    if hasattr(dataset, "with_format"):  # a datasets.Dataset: rows as numpy arrays, not nested Python lists
        dataset = dataset.with_format("numpy")
    for start in range(0, len(dataset), batch_size):
        yield collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])


def _fine_levels(config, batch: dict) -> int:
    """Fine codebooks scored for this model on this batch (0 for K = 1 models or data without fine codes)."""
    levels = getattr(config, "num_codebooks", 1) - 1
    fine = batch.get("fine_input_ids")
    return levels if levels > 0 and fine is not None and fine.shape[-1] >= levels else 0


@torch.inference_mode()
def score_batch(model, batch: dict, device, fine_sums: np.ndarray | None = None, config=None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward one collated batch; return `(nll [B, T], correct [B, T], scored [B, T])` indexed by the *target*
    position (column 0 is never scored). `scored` is `labels != -100` at the target, shifted like the model's loss.
    `fine_sums` (`[K - 1]` float64, a `num_codebooks = K` model on data with `fine_input_ids`): each fine codebook's
    NLL over the same scored frames is added to it. `config`: the model's config when `model` is a wrapper without
    one (DDP / FSDP during training)."""
    config = config if config is not None else model.config
    input_ids = batch["input_ids"].to(device)
    attention_mask = batch["attention_mask"].to(device)
    labels = batch["labels"].to(device)
    kwargs = {}
    if config.use_spectrogram:
        kwargs["input_features"] = batch["input_features"].to(device)
    levels = _fine_levels(config, batch) if fine_sums is not None else 0
    if levels:  # the trunk never reads them, so the coarse logits are the same with or without
        kwargs["fine_input_ids"] = batch["fine_input_ids"][..., :levels].to(device)
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs)
    logits = out.logits
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position p-1 predicts code p
    targets = labels[:, 1:]
    scored = (targets != -100) & attention_mask[:, 1:].bool() & attention_mask[:, :-1].bool()
    if levels:
        fine_log_probs = torch.log_softmax(out.fine_logits.float(), dim=-1)  # [B, T-1, K-1, V]
        fine_targets = kwargs["fine_input_ids"][:, 1:]
        fine_nll = -fine_log_probs.gather(-1, fine_targets[..., None])[..., 0]  # [B, T-1, K-1]
        fine_sums += (fine_nll * scored[..., None]).double().sum((0, 1)).cpu().numpy()
    safe = targets.clamp_min(0)
    nll = -log_probs.gather(-1, safe[..., None])[..., 0]
    correct = log_probs.argmax(-1) == safe
    pad = torch.zeros_like(nll[:, :1])
    return (
        torch.cat([pad, nll], 1).masked_fill(~torch.cat([pad.bool(), scored], 1), 0.0),
        torch.cat([pad.bool(), correct & scored], 1),
        torch.cat([pad.bool(), scored], 1),
    )


def evaluate_model(
    model,
    dataset_prepared,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    collator=None,
    category_column: str = "category",
    name: str | None = None,
    progress: bool = False,
) -> EvalResult:
    """Score `model` on a prepared dataset (`data.prepare_dataset` output: `input_ids`, `input_features`, `length`,
    `category`, ...) in its stored order, with the module docstring's scoring positions.

    Args:
        model: a `WhisperGPTForCausalLM` (hybrid or token-only); put in eval mode here.
        dataset_prepared: a `datasets.Dataset` (or any sequence of example dicts with the same keys).
        batch_size: windows per forward pass; the result does not depend on it.
        device: where to run (default: the model's device).
        collator: default `data.WhisperGPTDataCollator()`: right padding, labels -100 on padding.
        category_column: per-category numbers are grouped by this column when the dataset has it.
        name: the label used in tables and plots (default: the model's `name_or_path` or "model").
        progress: show a tqdm bar.
    """
    if collator is None:
        collator = data.WhisperGPTDataCollator()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    columns = getattr(dataset_prepared, "column_names", None)
    has_category = columns is None or category_column in columns

    max_len = max(1, model.config.max_position_embeddings)
    pos_sum = np.zeros(max_len, dtype=np.float64)
    pos_count = np.zeros(max_len, dtype=np.int64)
    sums: dict[str, list] = {}  # category -> [nll_sum (float64), correct, count]
    total = [0.0, 0, 0]
    fine_sums = np.zeros(max(0, getattr(model.config, "num_codebooks", 1) - 1), dtype=np.float64)
    fine_scored = False

    batches = _batches(dataset_prepared, batch_size, collator)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=math.ceil(len(dataset_prepared) / batch_size), desc="evaluate", unit="batch")
    try:
        for batch in batches:
            nll, correct, scored = score_batch(model, batch, device, fine_sums if fine_sums.size else None)
            fine_scored = fine_scored or bool(fine_sums.size and _fine_levels(model.config, batch))
            nll64 = nll.double().cpu().numpy()
            correct_np = correct.cpu().numpy()
            scored_np = scored.cpu().numpy()
            width = nll64.shape[1]
            if width > pos_sum.size:
                raise ValueError(f"A window of {width} frames is longer than the model's context ({max_len}).")
            pos_sum[:width] += nll64.sum(0)
            pos_count[:width] += scored_np.sum(0)
            categories = batch.get(category_column) if has_category else None
            for i in range(nll64.shape[0]):
                row = (float(nll64[i].sum()), int(correct_np[i].sum()), int(scored_np[i].sum()))
                for j in range(3):
                    total[j] += row[j]
                if categories is not None and categories[i] not in (None, ""):
                    acc = sums.setdefault(str(categories[i]), [0.0, 0, 0])
                    for j in range(3):
                        acc[j] += row[j]
    finally:
        model.train(was_training)

    overall = CategoryResult.from_sums(*total)
    with np.errstate(invalid="ignore", divide="ignore"):
        position_nll = np.where(pos_count > 0, pos_sum / np.maximum(pos_count, 1), np.nan)
    last = int(np.nonzero(pos_count)[0].max()) + 1 if pos_count.any() else 1
    return EvalResult(
        nll=overall.nll,
        ppl=overall.ppl,
        accuracy=overall.accuracy,
        num_tokens=overall.num_tokens,
        num_parameters=int(model.num_parameters()),
        per_category={k: CategoryResult.from_sums(*sums[k]) for k in sorted(sums)},
        position_nll=position_nll[:last],
        position_count=pos_count[:last],
        name=name or getattr(model, "name_or_path", None) or "model",
        use_spectrogram=bool(model.config.use_spectrogram),
        fine_nll=[float(x) / overall.num_tokens for x in fine_sums] if fine_scored and overall.num_tokens else None,
    )


def prepare_for_scoring(processor, dataset: str, split: str = "test", window_frames: int = 256,
                        min_frames: int = 16, max_windows: int | None = None, num_codebooks: int = 1,
                        dataset_config: str | None = None, audio_column: str = "audio",
                        category_column: str = "category", features_from: str = "audio", progress: bool = False,
                        **load_kwargs):
    """`(prepared windows, PreparationReport)` of `dataset[split]` for scoring: the one preparation behind
    `whisper-gpt evaluate` and the model card's numbers. `window_frames` should already be capped by the models'
    context; `max_windows` keeps the first N windows; `load_kwargs` go to `datasets.load_dataset`."""
    if max_windows is not None and max_windows < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}; pass None to score every window.")
    raw = data.load_audio_dataset(dataset, split=split, audio_column=audio_column, config_name=dataset_config,
                                  **load_kwargs)
    prepared, report = data.prepare_dataset(
        raw, processor, audio_column=audio_column, window_frames=window_frames,
        min_frames=min(min_frames, window_frames), category_column=category_column, desc=f"prepare {split}",
        progress=progress, features_from=features_from, num_codebooks=num_codebooks,
    )
    if max_windows is not None:
        prepared = prepared.select(range(min(max_windows, len(prepared))))
    return prepared, report


def check_same_positions(results: Sequence[EvalResult]) -> None:
    """Raise if the results were not scored on the same codes (the fair-baseline invariant): same total, same count
    per category and per position."""
    if not results:
        return
    def counts(r: EvalResult) -> dict[str, int]:
        return {k: v.num_tokens for k, v in r.per_category.items()}

    ref = results[0]
    for r in results[1:]:
        same = (
            r.num_tokens == ref.num_tokens
            and counts(r) == counts(ref)
            and np.array_equal(r.position_count, ref.position_count)
        )
        if not same:
            raise ValueError(
                f"{r.name} was scored on {r.num_tokens} codes but {ref.name} on {ref.num_tokens} (or their categories "
                "or positions differ): evaluate every model on the same prepared dataset."
            )


# ---------------------------------------------------------------------------------------------------- reporting


def format_params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def results_table(results: Sequence[EvalResult], markdown: bool = True) -> str:
    """One row per (model, category); the parameter count sits on every row next to the numbers it explains."""
    header = ["model", "params", "category", "tokens", "NLL (nats)", "PPL", "top-1 acc"]
    rows = []
    for r in results:
        for cat, c in r.rows().items():
            rows.append([r.name, format_params(r.num_parameters), cat, str(c.num_tokens), f"{c.nll:.4f}",
                         f"{c.ppl:.3f}", f"{100 * c.accuracy:.2f} %"])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in rows])


def plot_position_nll(results: Sequence[EvalResult], path: str, title: str | None = None, smooth: int = 1) -> str:
    """Per-position NLL of several models on one axis (a PNG; matplotlib's Agg backend, no display needed).
    `smooth` > 1 averages the curve over that many positions (count-weighted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        count = r.position_count.astype(np.float64)
        total = np.nan_to_num(r.position_nll) * count
        if smooth > 1:
            kernel = np.ones(smooth)
            total, count = np.convolve(total, kernel, "same"), np.convolve(count, kernel, "same")
        with np.errstate(invalid="ignore", divide="ignore"):
            curve = np.where(count > 0, total / count, np.nan)
        ax.plot(np.arange(curve.size), curve, label=f"{r.name} ({format_params(r.num_parameters)})")
    ax.set_xlabel("position in window (codec frames of context)")
    ax.set_ylabel("NLL (nats per coarse token)")
    ax.set_title(title or "Next-code NLL by position")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------- CLI






__all__ = [
    "CategoryResult",
    "EvalResult",
    "check_same_positions",
    "evaluate_model",
    "plot_position_nll",
    "prepare_for_scoring",
    "results_table",
    "score_batch",
]
