"""Data preparation for WHISPER-GPT: any `datasets` audio source -> fixed windows of aligned codes and mel slices.

    from whisper_gpt_hf.data import load_audio_dataset, prepare_dataset, WhisperGPTDataCollator

    raw = load_audio_dataset("hub/whisper-gpt-corpus-small", split="train")          # or a Hub id, an audiofolder
    train, report = prepare_dataset(raw, processor, window_frames=256, cache_dir="~/.cache/whisper-gpt/prepared")
    print(report.summary())
    batch = WhisperGPTDataCollator()([train[0], train[1]])                        # input_ids, input_features, ...

The expensive part (EnCodec codes and causal mel slices) runs once per clip, on the whole clip, and is cached with
`save_to_disk`; windows are cut afterwards, so a window's first mel slices still see the audio before the window (the
front end is causal, so nothing leaks from after it). Audio is decoded here, one clip at a time inside a try/except,
rather than by `datasets` while iterating: one corrupt file then costs one line in the `PreparationReport` instead
of killing the iterator.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from whisper_gpt_hf.data.loading import _Skip, decode_audio

logger = logging.getLogger(__name__)

# Bumped whenever the prepared layout or its computation changes, so stale caches are not reused.
PREPARATION_VERSION = 1
REPORT_NAME = "preparation_report.json"
CONFIG_NAME = "prepare_config.json"  # the settings and key of a prepared folder (written next to dataset/)
FEATURE_DTYPES = ("float16", "float32")
FEATURES_FROM = ("audio", "reconstruction")
# float16 keeps 11 significant bits: rounding moves a value x by at most 2^-11 |x| (half an ulp) in float16's normal
# range |x| >= 2^-14, and by at most 2^-25 below it. The features are (log10(mel power) + 4) / 4, in about [-1.5, 3],
# so a stored slice is within 2^-11 * |x| <= 1.5e-3 of the float32 value (tests/data/test_prepare_processes.py checks the bound).
FLOAT16_RELATIVE_ERROR = 2.0**-11
FLOAT16_ABSOLUTE_ERROR = 2.0**-25
DEFAULT_SHARD_SIZE = 256  # clips per shard: the unit a killed preparation loses and a rerun reuses


# ---------------------------------------------------------------------------------------------------- report
@dataclass
class PreparationReport:
    """What `prepare_dataset` did: clips seen, prepared and skipped (with the reason for each skip)."""

    num_clips: int = 0
    num_prepared: int = 0
    num_examples: int = 0
    num_frames: int = 0
    num_dropped_frames: int = 0  # frames of trailing partial windows shorter than min_frames
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip id or file path, reason)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def skip(self, clip: str, reason: str) -> None:
        logger.warning("Skipping clip %s: %s", clip, reason)
        self.skipped.append((clip, reason))

    def reasons(self) -> Counter:
        """Skips counted by kind (the text before the first colon of each reason)."""
        return Counter(reason.split(":", 1)[0] for _, reason in self.skipped)

    def summary(self) -> str:
        seconds = self.num_frames / 75.0  # 24 kHz / hop 320; for humans only
        lines = [
            f"{self.num_prepared}/{self.num_clips} clips prepared into {self.num_examples} examples "
            f"({self.num_frames} frames, ~{seconds / 60:.1f} min); {self.num_skipped} skipped"
            + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.reasons().items()))})" if self.skipped else "")
        ]
        lines += [f"  skipped {clip}: {reason}" for clip, reason in self.skipped[:20]]
        if self.num_skipped > 20:
            lines.append(f"  ... and {self.num_skipped - 20} more (see {REPORT_NAME})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skipped": [list(s) for s in self.skipped], "num_skipped": self.num_skipped}

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PreparationReport":
        with open(path) as f:
            data = json.load(f)
        data.pop("num_skipped", None)
        data["skipped"] = [tuple(s) for s in data.get("skipped", [])]
        return cls(**data)


# ---------------------------------------------------------------------------------------------------- decoding
def _clip_name(example: dict, audio_value: Any, id_column: str | None, index: int) -> str:
    if id_column and example.get(id_column) is not None:
        return str(example[id_column])
    if isinstance(audio_value, dict) and audio_value.get("path"):
        return str(audio_value["path"])
    return f"#{index}"


# ---------------------------------------------------------------------------------------------------- encoding
def _codec_device(processor) -> torch.device:
    codec = processor.audio_tokenizer
    return next(codec.parameters()).device if codec is not None else torch.device("cpu")


# Batching changes float rounding (other kernels for other shapes): the encoder output of a clip moves by ~1e-6 of
# its norm (measured: 1.2e-7 on values of 0.15). A frame whose two nearest codes are closer than such a move could
# flip; `_encode_codes_batched` re-encodes alone every clip with a frame inside this margin (10x the measured move).
TIE_MARGIN = 1e-5


@torch.no_grad()
def _encode_codes_batched(processor, clips: list[np.ndarray], stats: dict | None = None) -> list[np.ndarray]:
    """Coarse codes of validated clips, the whole list in one encoder call (right-padded with zeros to whole frames),
    equal to `processor.encode` of each clip alone.

    EnCodec 24 kHz is causal (causal convolutions, a unidirectional LSTM), so the zeros after a clip never reach its
    frames; what batching does change is float rounding. The first codebook's nearest-code search is therefore done
    here with its margin: a frame whose best and second-best codes differ by less than the largest distance change a
    `TIE_MARGIN` (relative) move of the encoder output could make is a possible flip, and its clip is re-encoded
    alone (`processor.encode`, the reference). `stats` (optional) counts clips and re-encoded clips."""
    codec = processor._require_codec()
    if codec.config.normalize or codec.config.chunk_length_s is not None:  # per-clip scales / chunks: no shortcut
        return [c.numpy().astype(np.int64) for c in processor.encode(clips)]
    hop = processor.feature_extractor.hop_length
    frames = [processor.feature_extractor.num_frames(len(c)) for c in clips]
    batch = torch.zeros(len(clips), 1, max(frames) * hop)
    for i, clip in enumerate(clips):
        batch[i, 0, : len(clip)] = torch.from_numpy(clip)
    device = _codec_device(processor)
    emb = codec.encoder(batch.to(device=device, dtype=codec.dtype)).transpose(1, 2).float()  # [B, T, D]
    embed = codec.quantizer.layers[0].codebook.embed.float()  # [K, D]
    square = emb.pow(2).sum(-1, keepdim=True)
    dist = -(square - 2 * emb @ embed.T + embed.pow(2).sum(-1))  # EnCodec's own expression: -|x - e|^2
    best = dist.topk(2, dim=-1)
    codes = best.indices[..., 0]
    gap = best.values[..., 0] - best.values[..., 1]
    spread = (embed[best.indices[..., 0]] - embed[best.indices[..., 1]]).norm(dim=-1)
    # |d dist| <= 2 |dx| |e1 - e2| for a move dx of x, plus the rounding of the expression itself (a few float32 eps)
    scale = square[..., 0] + embed.pow(2).sum(-1).max()
    risky = gap <= 2 * TIE_MARGIN * emb.norm(dim=-1) * spread + 4 * torch.finfo(torch.float32).eps * scale
    codes, risky = codes.cpu().numpy().astype(np.int64), risky.cpu().numpy()
    out = []
    for i, n in enumerate(frames):
        if risky[i, :n].any():
            out.append(processor.encode([clips[i]])[0].numpy().astype(np.int64))
        else:
            out.append(codes[i, :n])
    if stats is not None:
        stats["clips"] = stats.get("clips", 0) + len(clips)
        stats["re_encoded"] = stats.get("re_encoded", 0) + sum(bool(risky[i, :n].any()) for i, n in enumerate(frames))
    return out


@torch.no_grad()
def reconstruct_audio(processor, codes: list[np.ndarray], batched: bool = False) -> list[np.ndarray]:
    """What generation hears: the codec's decode of each clip's coarse codes (`processor.decode`, first codebook
    only, as the processor gives them; all K codebooks for codes `[T, K]`, what a `num_codebooks = K` model's
    generation decodes), `len(codes) * hop` samples per clip. `batched` decodes the list in one call
    (the decoder is causal, so the padding after a clip does not reach it; equal to float rounding)."""
    if not batched or len(codes) == 1:
        return [processor.decode(torch.as_tensor(c)[None] if np.ndim(c) == 2 else torch.as_tensor(c)) for c in codes]
    lengths = [len(c) for c in codes]
    padded = torch.zeros(len(codes), max(lengths), *np.shape(codes[0])[1:], dtype=torch.long)
    mask = torch.zeros(len(codes), max(lengths), dtype=torch.long)
    for i, c in enumerate(codes):
        padded[i, : len(c)] = torch.as_tensor(c)
        mask[i, : len(c)] = 1
    return processor.batch_decode(padded, attention_mask=mask)


@torch.no_grad()
def encode_clips(processor, clips: list[np.ndarray], features_from: str = "audio", batched: bool = False,
                 num_codebooks: int = 1):
    """
    Codes and causal mel slices of clips -> list of (`codes [T]` int64, `features [T, n_mels]` float32); with
    `num_codebooks = K > 1` (a full-bandwidth model) the codes are `[T, K]`, coarse first.

    This is the processor's own path (one implementation of each transform): each clip is zero-padded to whole
    frames, so prepared data holds exactly the codes and features `processor(audio=clip)` gives.
    Runs where the codec is (move `processor.audio_tokenizer` to a GPU to prepare large corpora faster).

    Args:
        features_from: `"audio"`: the mel slices of the clip itself (what `processor(audio=clip)` gives);
            `"reconstruction"`: the mel slices of `processor.decode(codes)`, the codec's decode of the clip's own
            coarse codes, i.e. what generation feeds the model (the same front end, `causal_log_mel_spectrogram`).
        batched: encode the list in one codec call instead of one call per clip (same codes; faster on a GPU,
            not on a CPU: see benchmarks/bench_prepare.py).
    """
    if features_from not in FEATURES_FROM:
        raise ValueError(f"features_from must be one of {FEATURES_FROM}, got {features_from!r}.")
    fe = processor.feature_extractor
    clips = fe.to_clips(clips, fe.sampling_rate)
    if batched and len(clips) > 1 and num_codebooks == 1:  # the batched shortcut searches the first codebook only
        codes = _encode_codes_batched(processor, clips)
    else:
        codes = [c.numpy().astype(np.int64) for c in processor.encode(clips, num_codebooks=num_codebooks)]
    device = _codec_device(processor)
    source = clips if features_from == "audio" else reconstruct_audio(processor, codes, batched=batched)
    features = fe(source, sampling_rate=fe.sampling_rate, return_tensors=None, device=device)["input_features"]
    for c, f in zip(codes, features, strict=True):
        if len(c) != len(f):
            raise RuntimeError(f"Codec gave {len(c)} frames but the front end {len(f)} for the same clip.")
    return [(c, np.asarray(f, dtype=np.float32)) for c, f in zip(codes, features, strict=True)]


# ---------------------------------------------------------------------------------------------------- preparation
def prepared_features(n_mels: int, feature_dtype: str = "float32", num_codebooks: int = 1):
    from datasets import Features, List, Value

    if feature_dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}.")
    fine = {"fine_input_ids": List(List(Value("int32"), length=num_codebooks - 1))} if num_codebooks > 1 else {}
    return Features(
        {
            "input_ids": List(Value("int32")),
            **fine,
            "input_features": List(List(Value(feature_dtype), length=n_mels)),
            "length": Value("int32"),
            "start_frame": Value("int32"),
            "category": Value("string"),
            "clip_id": Value("string"),
        }
    )


def _windows(num_frames: int, window_frames: int, min_frames: int) -> Iterator[tuple[int, int]]:
    for start in range(0, num_frames, window_frames):
        end = min(start + window_frames, num_frames)
        if end - start >= min_frames:
            yield start, end


def _iter_clips(examples, audio_column, category_column, id_column, sampling_rate, report, bar, min_frames,
                num_frames, category_names=None, first_index: int = 0):
    """Yield (clip name, category, float32 audio) of each usable clip; record every unusable one in `report` (in
    the order of the examples, so a report never depends on how clips were batched or sharded)."""
    for index, example in enumerate(examples, start=first_index):
        bar.update(1)
        value = example[audio_column]
        name = _clip_name(example, value, id_column, index)
        report.num_clips += 1
        try:
            audio = decode_audio(value, sampling_rate)
            if audio.size == 0:
                raise _Skip("empty: 0 samples")
            if not np.isfinite(audio).all():
                raise _Skip("non-finite: NaN or infinite samples")
            frames = num_frames(len(audio))
            if frames < min_frames:
                raise _Skip(f"too short: {frames} frames < min_frames={min_frames}")
        except _Skip as skip:
            report.skip(name, str(skip))
            continue
        category = example.get(category_column) if category_column else None
        if category_names is not None and isinstance(category, int):
            category = category_names[category]
        yield name, ("unknown" if category is None else str(category)), audio


def _batched(iterable: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Settings:
    """Everything that shapes the prepared rows (all of it is part of the cache key)."""

    audio_column: str
    window_frames: int
    min_frames: int
    category_column: str | None
    id_column: str | None
    feature_dtype: str
    features_from: str
    num_codebooks: int = 1

    def key(self) -> dict[str, Any]:
        # The fields of PREPARATION_VERSION 1, unchanged: a float32 / audio preparation keeps the key (and reuses
        # the caches) written before float16 storage and reconstruction features existed, which hold the same rows.
        key = dict(window_frames=self.window_frames, min_frames=self.min_frames, audio_column=self.audio_column,
                   category_column=self.category_column, id_column=self.id_column)
        if self.feature_dtype != "float32":
            key["feature_dtype"] = self.feature_dtype
        if self.features_from != "audio":
            key["features_from"] = self.features_from
        if self.num_codebooks != 1:
            key["num_codebooks"] = self.num_codebooks
        return key


def _prepare_examples(examples, processor, settings: _Settings, report: PreparationReport, bar, batch_size: int,
                      batched_encoding: bool, category_names=None, first_index: int = 0):
    """Examples (raw rows, audio not decoded) -> an in-memory `datasets.Dataset` of windows, in example order.

    Clips are taken `16 * batch_size` at a time, sorted by length and encoded `batch_size` at a time (length
    buckets: little padding when `batched_encoding`), then written back in their original order."""
    import datasets

    features = prepared_features(processor.feature_extractor.feature_size, settings.feature_dtype,
                                 settings.num_codebooks)
    store = np.float16 if settings.feature_dtype == "float16" else np.float32
    parts, rows = [], []

    def flush():
        if rows:
            columns = {name: [row[name] for row in rows] for name in features}
            parts.append(datasets.Dataset.from_dict(columns, features=features))
            rows.clear()

    clips = _iter_clips(examples, settings.audio_column, settings.category_column, settings.id_column,
                        processor.sampling_rate, report, bar, settings.min_frames,
                        processor.feature_extractor.num_frames, category_names, first_index)
    for buffer in _batched(clips, 16 * batch_size):
        order = sorted(range(len(buffer)), key=lambda i: len(buffer[i][2]))
        encoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for bucket in _batched(order, batch_size):
            results = encode_clips(processor, [buffer[i][2] for i in bucket], settings.features_from,
                                   batched=batched_encoding, num_codebooks=settings.num_codebooks)
            encoded.update(zip(bucket, results, strict=True))
        for i, (name, category, _) in enumerate(buffer):
            codes, mels = encoded.pop(i)
            report.num_prepared += 1
            kept = 0
            for start, end in _windows(len(codes), settings.window_frames, settings.min_frames):
                fine = {"fine_input_ids": codes[start:end, 1:]} if codes.ndim == 2 else {}
                rows.append(dict(input_ids=codes[start:end] if codes.ndim == 1 else codes[start:end, 0], **fine,
                                 input_features=mels[start:end].astype(store), length=end - start,
                                 start_frame=start, category=category, clip_id=name))
                kept += end - start
                report.num_examples += 1
            report.num_frames += kept
            report.num_dropped_frames += len(codes) - kept
            if len(rows) >= 256:  # keep Python-side buffers small: Arrow stores the floats compactly
                flush()
    flush()
    if parts:
        return datasets.concatenate_datasets(parts)
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def prepare_dataset(
    dataset,
    processor,
    audio_column: str = "audio",
    window_frames: int = 256,
    min_frames: int = 16,
    batch_size: int = 8,
    category_column: str | None = "category",
    desc: str | None = None,
    *,
    id_column: str | None = "id",
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    progress: bool = True,
    feature_dtype: str = "float16",
    features_from: str = "audio",
    batched_encoding: bool | None = None,
    process_index: int = 0,
    num_processes: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    output_dir: str | os.PathLike | None = None,
    num_codebooks: int = 1,
):
    """
    Turn an audio dataset into training examples of at most `window_frames` frames.

    Each clip is decoded, checked, encoded once (codes + causal mel slices, batched, no grad) and cut into windows
    of `window_frames` frames; a trailing partial window is kept if it has at least `min_frames`. Clips that cannot
    be decoded, are empty, contain NaN/inf or are shorter than `min_frames` are skipped and listed in the report.

    With a cache (`cache_dir` or `output_dir`) the work is split into shards of at most `shard_size` clips, each
    written to disk as soon as it is done (a killed run reruns only the unfinished shards); `num_processes`
    processes (e.g. `accelerate launch`) each call this with their `process_index` and take every
    `num_processes`-th shard (`Dataset.shard`, contiguous, in a multiple of `num_processes` shards so that each
    process gets as many clips; a streaming dataset is split with `datasets.distributed.split_dataset_by_node`).
    The main process (`process_index == 0`) merges the shards; every process returns the merged dataset. The
    processes meet through the file system only (no collective that could time out during a long preparation).

    Args:
        dataset: a `datasets.Dataset` or `IterableDataset` (streaming) with an `Audio` column.
        processor: a [`WhisperGPTProcessor`] with its codec (encoding runs on the codec's device).
        audio_column / category_column / id_column: column names; a missing category column gives `"unknown"`,
            a missing id column names clips by their file path (or `#index`).
        window_frames: frames per example (256 = 3.4 s at 75 frames/s); must fit the model's context.
        min_frames: shortest clip / trailing window kept (at least 2: one prediction needs two frames).
        batch_size: clips encoded together (from length-sorted buckets of `16 * batch_size` clips).
        desc: progress bar label and cache folder prefix.
        cache_dir: where results are saved (`save_to_disk`) and reused, keyed by a hash of the data, the processor
            (including its codec weights) and these settings; `None` disables caching.
        cache_key: identifies the data in the key; defaults to a non-streaming dataset's fingerprint (a streaming
            dataset has none, so pass e.g. `"source|config|split"`).
        progress: show a tqdm bar (one per process).
        feature_dtype: `"float16"` (default: half the bytes; each value within `FLOAT16_RELATIVE_ERROR` = 2^-11 of
            its float32 value, relative) or `"float32"`.
        features_from: `"audio"` (default) or `"reconstruction"`: mel slices of the codec's decode of the clip's
            own codes, what generation feeds the model (see `encode_clips`).
        batched_encoding: one codec call per batch instead of per clip (same codes). Default: on when the codec is
            on an accelerator, off on CPU (where it is slower; benchmarks/bench_prepare.py).
        process_index / num_processes: this process and how many share the work (needs a cache).
        shard_size: clips per shard at most (the unit a killed run loses; each shard costs one `save_to_disk`).
        output_dir: write to exactly this folder instead of a keyed folder under `cache_dir` (what
            `whisper-gpt prepare` uses); an existing folder is reused only if it was prepared with the same key.
        num_codebooks: the model's `config.num_codebooks`; with K > 1 the examples also hold `fine_input_ids`
            `[T, K - 1]` (codebooks 2..K of the same encode) and, with `features_from="reconstruction"`, the
            features are those of the decode of all K codebooks (what that model's generation feeds).

    Returns:
        `(datasets.Dataset, PreparationReport)`; the examples have `input_ids` (list[int]), `input_features`
        (list[list[float]] `[T, n_mels]`), `length`, `start_frame`, `category` and `clip_id`.
    """
    import datasets
    from datasets import Audio

    if min_frames < 2:
        raise ValueError(f"min_frames must be at least 2 (a next-token loss needs two frames), got {min_frames}.")
    if window_frames < min_frames:
        raise ValueError(f"window_frames ({window_frames}) must be at least min_frames ({min_frames}).")
    if feature_dtype not in FEATURE_DTYPES:
        raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}.")
    if features_from not in FEATURES_FROM:
        raise ValueError(f"features_from must be one of {FEATURES_FROM}, got {features_from!r}.")
    if not 0 <= process_index < num_processes:
        raise ValueError(f"process_index must be in [0, {num_processes}), got {process_index}.")
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}.")
    names = dataset.column_names
    if names is not None and audio_column not in names:
        raise ValueError(f"The dataset has no column {audio_column!r} (columns: {names}); set audio_column=.")
    if batched_encoding is None:
        batched_encoding = _codec_device(processor).type != "cpu"

    settings = _Settings(audio_column=audio_column, window_frames=window_frames, min_frames=min_frames,
                         category_column=category_column, id_column=id_column, feature_dtype=feature_dtype,
                         features_from=features_from, num_codebooks=num_codebooks)
    target = None
    if cache_dir is not None or output_dir is not None:
        key = cache_key if cache_key is not None else getattr(dataset, "_fingerprint", None)
        if key is None:
            raise ValueError("A streaming dataset has no fingerprint to key the cache on: pass cache_key=.")
        key_fields = {"data": key, "processor": processor_fingerprint(processor), **settings.key(),
                      "version": PREPARATION_VERSION}
        digest = _hash_json(key_fields)
        if output_dir is not None:
            target = os.path.abspath(os.path.expanduser(os.fspath(output_dir)))
        else:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", desc or "prepared")
            target = os.path.join(os.path.expanduser(os.fspath(cache_dir)), f"{name}-{digest[:16]}")
        if os.path.isdir(target):
            _check_key(target, digest)
            logger.info("Reusing prepared data from %s", target)
            if process_index == 0:  # a run killed between the merge and the clean-up left its shards
                shutil.rmtree(f"{target}.partial", ignore_errors=True)
            return load_prepared(target)
    elif num_processes > 1:
        raise ValueError("Several processes share a preparation through its shards on disk: pass cache_dir= "
                         "(or output_dir=), or prepare in one process.")

    if isinstance((dataset.features or {}).get(audio_column), Audio) or dataset.features is None:
        dataset = dataset.cast_column(audio_column, Audio(sampling_rate=processor.sampling_rate, decode=False))
    labels = (dataset.features or {}).get(category_column) if category_column else None
    class_names = labels.names if isinstance(labels, datasets.ClassLabel) else None  # class ids -> their names
    run = dict(processor=processor, settings=settings, batch_size=batch_size, batched_encoding=batched_encoding,
               category_names=class_names)

    if target is None:
        report = PreparationReport()
        with _progress_bar(dataset, desc, progress, 0, 1) as bar:
            prepared = _prepare_examples(dataset, report=report, bar=bar, **run)
        logger.info("%s", report.summary())
        return prepared, report

    work = f"{target}.partial"
    _start_work_folder(work, digest, key_fields, settings)
    if isinstance(dataset, datasets.IterableDataset):
        _prepare_stream_shards(dataset, work, process_index, num_processes, shard_size, desc, progress, run)
        expected = [os.path.join(f"rank-{r:05d}-of-{num_processes:05d}", COMPLETE_NAME) for r in range(num_processes)]
    else:
        num_shards = _num_index_shards(len(dataset), num_processes, shard_size)
        _prepare_index_shards(dataset, work, process_index, num_processes, num_shards, desc, progress, run)
        expected = [_shard_name(s, num_shards) for s in range(num_shards)]
    if process_index == 0:
        # Another, independent preparation of the same key (e.g. a hybrid and a gpt-s run started together on one
        # dataset) shares the shards, and may merge them first and remove the work folder: then use its result.
        missing = list(expected)

        def shards_done() -> bool:  # checks only the shards not yet seen: thousands of stats per poll on a big corpus
            missing[:] = [e for e in missing if not os.path.exists(os.path.join(work, e))]
            return os.path.isdir(target) or not missing

        _wait_for(shards_done, "the other processes' shards")
        if os.path.isdir(target):
            _check_key(target, digest)
            shutil.rmtree(work, ignore_errors=True)  # shards this process wrote after the other one's merge
            logger.info("Another preparation of the same data finished first: reusing %s", target)
            return load_prepared(target)
        prepared, report = _merge_shards(work, num_processes, expected, settings, processor)
        _write_prepared(prepared, report, target, {"key": key_fields, "digest": digest,
                                                   "processor": processor_fingerprint(processor, portable=True)})
        shutil.rmtree(work, ignore_errors=True)
        logger.info("%s", report.summary())
    else:
        _wait_for(lambda: os.path.isdir(target), f"the main process to merge the shards into {target}")
    return load_prepared(target)


COMPLETE_NAME = "complete.json"  # a streaming rank's marker: all of its chunks are written
EMPTY_NAME = "empty_dataset_features.json"  # stands in for dataset/ when no clip gave an example


def _shard_name(index: int, count: int) -> str:
    return f"shard-{index:05d}-of-{count:05d}"


@contextlib.contextmanager
def _progress_bar(dataset, desc, progress, process_index, num_processes):
    from tqdm.auto import tqdm

    try:
        total = len(dataset)
    except TypeError:
        total = None  # streaming
    label = desc or "Preparing"
    if num_processes > 1:
        label = f"{label} [process {process_index}/{num_processes}]"
    bar = tqdm(total=total, desc=label, unit="clip", disable=not progress, position=process_index)
    try:
        yield bar
    finally:
        bar.close()


def _check_key(folder: str, digest: str) -> None:
    """A prepared (or partial) folder is reused only by the preparation that wrote it."""
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        return  # written before prepare_config.json existed: only ever under its own keyed cache name
    with open(path) as f:
        found = json.load(f).get("digest")
    if found != digest:
        raise ValueError(
            f"{folder} holds data prepared with other settings, data or processor (key {str(found)[:16]} != "
            f"{digest[:16]}); choose another output folder, or delete it to prepare again."
        )


def _start_work_folder(work: str, digest: str, key_fields: dict, settings: _Settings) -> None:
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, CONFIG_NAME)
    if os.path.isfile(path):
        _check_key(work, digest)
        return
    _atomic_write_json(path, {"key": key_fields, "digest": digest, "settings": asdict(settings)})


def _atomic_write_json(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=str)
    os.replace(tmp, path)


def _prepare_index_shards(dataset, work, process_index, num_processes, num_shards, desc, progress, run):
    """A map-style dataset: shards `process_index, process_index + num_processes, ...` of `num_shards` contiguous
    shards; finished ones (from an earlier, killed run) are skipped."""
    mine = range(process_index, num_shards, num_processes)
    bounds = {s: _shard_bounds(len(dataset), num_shards, s) for s in mine}
    with _progress_bar(range(sum(end - start for start, end in bounds.values())), desc, progress, process_index,
                       num_processes) as bar:
        for s in mine:
            first, end = bounds[s]
            folder = os.path.join(work, _shard_name(s, num_shards))
            if os.path.isdir(folder):
                bar.update(end - first)
                continue
            part = dataset.shard(num_shards, s, contiguous=True)
            if len(part) != end - first:
                raise RuntimeError(f"Shard {s} of {num_shards} has {len(part)} rows, expected {end - first}.")
            report = PreparationReport()
            prepared = _prepare_examples(part, report=report, bar=bar, first_index=first, **run)
            _write_prepared(prepared, report, folder)


def _num_index_shards(num_rows: int, num_processes: int, shard_size: int) -> int:
    """Shards of at most `shard_size` rows, as few as that allows, in a multiple of `num_processes`: every process
    then gets the same number of rows (+-1) and none works through a last round alone (5 shards of 256 clips on 2
    processes would cap the speed-up at 5/3 = 1.67x; 6 smaller ones give each process half). One process keeps
    `ceil(num_rows / shard_size)` shards, the count a single-process rerun reuses."""
    return num_processes * max(1, -(-num_rows // (shard_size * num_processes)))


def _shard_bounds(num_rows: int, num_shards: int, index: int) -> tuple[int, int]:
    """Rows `[start, end)` of `Dataset.shard(num_shards, index, contiguous=True)` (its documented split: the first
    `num_rows % num_shards` shards get one row more)."""
    div, mod = divmod(num_rows, num_shards)
    start = div * index + min(index, mod)
    return start, start + div + (1 if index < mod else 0)


def _prepare_stream_shards(dataset, work, process_index, num_processes, shard_size, desc, progress, run):
    """A streaming dataset: this process's part (`split_dataset_by_node`) in chunks of `shard_size` clips; a rerun
    skips the finished chunks (reading past them without decoding) and continues."""
    import itertools

    from datasets.distributed import split_dataset_by_node

    rank_dir = os.path.join(work, f"rank-{process_index:05d}-of-{num_processes:05d}")
    os.makedirs(rank_dir, exist_ok=True)
    if os.path.isfile(os.path.join(rank_dir, COMPLETE_NAME)):
        return
    part = split_dataset_by_node(dataset, rank=process_index, world_size=num_processes) if num_processes > 1 \
        else dataset
    done = 0
    while os.path.isdir(os.path.join(rank_dir, f"chunk-{done:05d}")):
        done += 1
    stream = iter(part.skip(done * shard_size) if done else part)
    chunk = done
    with _progress_bar(part, desc, progress, process_index, num_processes) as bar:
        bar.update(done * shard_size)
        while True:
            examples = list(itertools.islice(stream, shard_size))  # raw rows: the audio is not decoded yet
            if not examples:
                break
            report = PreparationReport()
            prepared = _prepare_examples(examples, report=report, bar=bar, first_index=chunk * shard_size, **run)
            _write_prepared(prepared, report, os.path.join(rank_dir, f"chunk-{chunk:05d}"))
            chunk += 1
    _atomic_write_json(os.path.join(rank_dir, COMPLETE_NAME), {"chunks": chunk})


def _merge_shards(work, num_processes, expected, settings, processor):
    """Concatenate the shards in order (map-style: the dataset's own order; streaming: rank by rank) and merge
    their reports (counts added, skipped clips listed shard by shard)."""
    import datasets

    folders = []
    for entry in expected:
        if entry.endswith(COMPLETE_NAME):
            rank_dir = os.path.join(work, os.path.dirname(entry))
            with open(os.path.join(work, entry)) as f:
                chunks = json.load(f)["chunks"]
            folders += [os.path.join(rank_dir, f"chunk-{c:05d}") for c in range(chunks)]
        else:
            folders.append(os.path.join(work, entry))
    parts, report = [], PreparationReport()
    for folder in folders:
        part_report = PreparationReport.load(os.path.join(folder, REPORT_NAME))
        if not os.path.isfile(os.path.join(folder, EMPTY_NAME)):  # a shard of only unusable clips has no rows
            parts.append(load_prepared(folder)[0])
        for name in ("num_clips", "num_prepared", "num_examples", "num_frames", "num_dropped_frames"):
            setattr(report, name, getattr(report, name) + getattr(part_report, name))
        report.skipped += part_report.skipped
    parts = [p for p in parts if len(p)]
    if parts:
        return datasets.concatenate_datasets(parts), report
    features = prepared_features(processor.feature_extractor.feature_size, settings.feature_dtype,
                                 settings.num_codebooks)
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features), report


def _wait_for(condition, what: str, poll_s: float = 0.2) -> None:
    """Poll the file system until `condition()` (the processes of a launch live and die together: torchrun ends
    them all when one fails). The first polls come after 5 ms and the interval doubles up to `poll_s`: a fixed 1 s
    poll cost each of the two waits of a preparation up to a second (measured: a 2-process preparation of 2 min of
    audio spent 1.0 s and 2.0 s of its 3.4 s waiting), while a few cheap `stat`s per second cost nothing."""
    start, interval, reported = time.monotonic(), 0.005, 0
    while not condition():
        time.sleep(interval)
        interval = min(2 * interval, poll_s)
        waited = time.monotonic() - start
        if waited // 300 > reported:
            reported = int(waited // 300)
            logger.info("Still waiting for %s (%.0f s)", what, waited)


def _write_prepared(prepared, report: PreparationReport, target: str, config: dict | None = None) -> None:
    """Write `target/dataset` + `target/preparation_report.json` (+ `prepare_config.json`) atomically: a temp
    folder, then `os.replace`; a folder that exists is complete."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    if len(prepared):
        prepared.save_to_disk(os.path.join(tmp, "dataset"))
    else:  # `datasets` writes no Arrow file for 0 rows and then cannot load it: keep the columns only
        os.makedirs(tmp)
        with open(os.path.join(tmp, EMPTY_NAME), "w") as f:
            json.dump(prepared.features.to_dict(), f)
    report.save(os.path.join(tmp, REPORT_NAME))
    if config is not None:
        with open(os.path.join(tmp, CONFIG_NAME), "w") as f:
            json.dump(config, f, indent=2, default=str)
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished the same preparation first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)


def save_prepared(prepared, report: PreparationReport, target: str):
    """Write `target/dataset` + `target/preparation_report.json` atomically (temp folder, then `os.replace`)."""
    _write_prepared(prepared, report, target)
    logger.info("Saved prepared data to %s", target)
    return load_prepared(target)[0]


def load_prepared(path: str | os.PathLike):
    """Load a folder written by `prepare_dataset(..., cache_dir=...)` -> `(Dataset, PreparationReport)`."""
    import datasets

    path = os.fspath(path)
    report = PreparationReport.load(os.path.join(path, REPORT_NAME))
    if os.path.isfile(os.path.join(path, EMPTY_NAME)):
        raise ValueError(f"No usable clips in the prepared data at {path}: {report.summary()}. Fix or replace the "
                         "source clips (the report says why each was skipped); a cached copy of this empty result "
                         "is re-read until its folder is deleted.")
    try:
        dataset = datasets.load_from_disk(os.path.join(path, "dataset"))
    except IndexError as err:  # datasets cannot load a split saved with no rows
        raise ValueError(f"No usable clips in the prepared data at {path}: {report.summary()}. Fix or replace the "
                         "source clips (the report says why each was skipped); a cached copy of this empty result "
                         "is re-read until its folder is deleted.") from err
    except (OSError, ValueError) as err:  # truncated or damaged arrow files (pyarrow raises OSError / ArrowInvalid)
        raise ValueError(f"The prepared data at {path} is damaged ({err}); delete that folder to prepare it again, "
                         "or pass --data-cache-dir '' to prepare without the cache.") from err
    return dataset, report


def prepared_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The `prepare_config.json` of a prepared folder (`{"key": ..., "digest": ...}`), or `None` for an older one."""
    file = os.path.join(os.fspath(path), CONFIG_NAME)
    if not os.path.isfile(file):
        return None
    with open(file) as f:
        return json.load(f)


def load_prepared_split(prepared_dir: str | os.PathLike, split: str, processor=None, features_from: str | None = None,
                        max_window_frames: int | None = None):
    """
    One split of a `whisper-gpt prepare --output-dir P` folder (`P/<split>/`) -> `(Dataset, PreparationReport)`,
    checked against what the caller will do with it.

    Args:
        processor: if given, the data must have been prepared with this processor (front end + codec weights).
        features_from: if given, the data's features must be of this kind (`"audio"` / `"reconstruction"`).
        max_window_frames: if given, the prepared windows must not be longer (the model's context).

    Raises:
        FileNotFoundError: no such split in the folder (the message lists the ones there).
        ValueError: the data was prepared with another processor, kind of features or a longer window.
    """
    root = os.fspath(prepared_dir)
    folder = os.path.join(root, split)
    if not os.path.isfile(os.path.join(folder, REPORT_NAME)):
        found = sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, REPORT_NAME))) \
            if os.path.isdir(root) else []
        raise FileNotFoundError(f"No prepared split {split!r} in {root} (it has {found}); run `whisper-gpt prepare "
                                f"--split {split} --output-dir {root} ...` first.")
    config = prepared_config(folder) or {}
    key = config.get("key", {})
    if processor is not None and config.get("processor") not in (None, processor_fingerprint(processor, True)):
        raise ValueError(f"{folder} was prepared with another processor (front end or codec weights); prepare it "
                         "again with this one (`whisper-gpt prepare --processor ...`) or train with that processor.")
    kind = key.get("features_from", "audio")
    if features_from is not None and kind != features_from:
        raise ValueError(f"{folder} holds {kind!r} features but {features_from!r} were asked for: pass "
                         f"--features-from {kind}, or prepare the data again with --features-from {features_from}.")
    window = key.get("window_frames")
    if max_window_frames is not None and window is not None and window > max_window_frames:
        raise ValueError(f"{folder} holds windows of {window} frames, longer than {max_window_frames}: pass "
                         f"--window-frames {window}, or prepare again with --window-frames {max_window_frames}.")
    return load_prepared(folder)


def processor_fingerprint(processor, portable: bool = False) -> str:
    """A hash of everything in the processor that changes the prepared data: front-end settings and codec weights.

    The cache key includes the codec config's `_name_or_path` (where the codec was loaded from; kept so that the
    caches already written stay valid); `portable=True` leaves it out, so the same processor saved and loaded
    elsewhere has the same hash (what `load_prepared_split` compares)."""
    h = hashlib.sha256()
    h.update(processor.feature_extractor.to_json_string().encode())
    codec = processor.audio_tokenizer
    if codec is not None:
        config = codec.config.to_dict() if portable else None
        if config is not None:
            config.pop("_name_or_path", None)
            h.update(json.dumps(config, sort_keys=True, default=str).encode())
        else:
            h.update(codec.config.to_json_string(use_diff=False).encode())
        for name, tensor in sorted(codec.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def source_cache_key(source: str | os.PathLike, config_name: str | None, split: str | None) -> str:
    """Cache key of a dataset source: the name, and for a local folder the names, sizes and times of its files."""
    source = os.fspath(source)
    if not os.path.isdir(source):
        return f"{source}|{config_name}|{split}"
    h = hashlib.sha256()
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            h.update(f"{os.path.relpath(os.path.join(root, name), source)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"{os.path.abspath(source)}|{config_name}|{split}|{h.hexdigest()}"


def _hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


__all__ = [
    "PreparationReport",
    "encode_clips",
    "load_prepared",
    "load_prepared_split",
    "prepare_dataset",
    "prepared_config",
    "reconstruct_audio",
    "processor_fingerprint",
    "source_cache_key",
]
