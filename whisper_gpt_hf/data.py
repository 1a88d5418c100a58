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

import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import torch

logger = logging.getLogger(__name__)

# Bumped whenever the prepared layout or its computation changes, so stale caches are not reused.
PREPARATION_VERSION = 1
REPORT_NAME = "preparation_report.json"


# ---------------------------------------------------------------------------------------------------- loading
def load_audio_dataset(
    source: str | os.PathLike,
    split: str | None = None,
    audio_column: str = "audio",
    config_name: str | None = None,
    streaming: bool = False,
    sampling_rate: int = 24000,
    **load_kwargs,
):
    """
    Load any `datasets` audio source and cast its audio column to `Audio(sampling_rate=sampling_rate)`.

    Args:
        source: a Hub repo id (`"org/name"`, also through `HF_ENDPOINT`), a local Hub-layout folder (parquet shards +
            card), a folder of audio files (loaded as `audiofolder`: `split/` subfolders or flat), or a folder written
            by `save_to_disk`.
        split: `"train"`, `"validation"`, ... ; `None` returns the whole `DatasetDict`.
        audio_column: the column holding the audio.
        config_name: the dataset configuration (the second argument of `load_dataset`).
        streaming: return an `IterableDataset` (nothing is downloaded up front).
        sampling_rate: the codec's rate; decoding resamples to it.
        **load_kwargs: passed on to `datasets.load_dataset` (e.g. `revision`, `data_files`).
    """
    import datasets
    from datasets import Audio

    source = os.fspath(source)
    if os.path.isdir(source) and _is_saved_to_disk(source):
        dataset = datasets.load_from_disk(source)
        if split is not None:
            if split not in dataset:
                raise ValueError(f"Split {split!r} not found in {source}; it has {sorted(dataset)}.")
            dataset = dataset[split]
        if streaming:
            dataset = (
                datasets.IterableDatasetDict({k: v.to_iterable_dataset() for k, v in dataset.items()})
                if isinstance(dataset, datasets.DatasetDict)
                else dataset.to_iterable_dataset()
            )
    else:
        dataset = datasets.load_dataset(source, config_name, split=split, streaming=streaming, **load_kwargs)

    parts = dataset.values() if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)) else [dataset]
    for part in parts:
        names = part.column_names
        if names is not None and audio_column not in names:
            raise ValueError(
                f"{source} has no column {audio_column!r} (columns: {names}); pass the audio column's name with "
                "--audio-column / audio_column=."
            )
    return dataset.cast_column(audio_column, Audio(sampling_rate=sampling_rate))


def _is_saved_to_disk(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "dataset_dict.json")) or os.path.isfile(os.path.join(path, "state.json"))


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
class _Skip(Exception):
    """A clip that cannot be used; the message is the reason recorded in the report."""


def decode_audio(value: Any, sampling_rate: int) -> np.ndarray:
    """
    One encoded audio value (`{"bytes", "path"}` as stored by `datasets.Audio`) -> float32 mono at `sampling_rate`.

    Mono files already at the target rate are read with `soundfile` (fast, and bit-identical to `datasets`'
    torchcodec decoding for PCM WAV/FLAC); anything else goes through `datasets.Audio(...).decode_example`, i.e.
    exactly the decoding, resampling and downmixing `datasets` itself would apply.
    """
    if isinstance(value, dict) and "array" in value:  # an already decoded value (e.g. a plain dict column)
        if int(value.get("sampling_rate") or sampling_rate) != sampling_rate:
            raise _Skip(f"wrong sampling rate: {value.get('sampling_rate')} Hz, expected {sampling_rate} Hz")
        return np.asarray(value["array"], dtype=np.float32)
    if not isinstance(value, dict) or (value.get("bytes") is None and value.get("path") is None):
        raise _Skip(f"undecodable: no audio bytes or path ({type(value).__name__})")
    try:
        return _decode_soundfile(value, sampling_rate)
    except Exception:
        pass  # not a format/rate soundfile handles here: let datasets (torchcodec + ffmpeg) try
    try:
        from datasets import Audio

        decoder = Audio(sampling_rate=sampling_rate, num_channels=1).decode_example(value)
        samples = decoder.get_all_samples()
        return samples.data.reshape(-1).numpy().astype(np.float32, copy=False)
    except Exception as error:  # noqa: BLE001 - any decoder failure means "skip this clip", with the reason
        raise _Skip(f"undecodable: {type(error).__name__}: {str(error).splitlines()[0][:200]}") from error


def _decode_soundfile(value: dict, sampling_rate: int) -> np.ndarray:
    import soundfile as sf

    source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]
    if isinstance(source, str) and "://" in source:
        raise ValueError("remote path")  # streaming from a URL: datasets' opener knows how to fetch it
    with sf.SoundFile(source) as f:
        if f.samplerate != sampling_rate or f.channels != 1:
            raise ValueError("needs resampling or downmixing")
        return f.read(dtype="float32", always_2d=False)


def _clip_name(example: dict, audio_value: Any, id_column: str | None, index: int) -> str:
    if id_column and example.get(id_column) is not None:
        return str(example[id_column])
    if isinstance(audio_value, dict) and audio_value.get("path"):
        return str(audio_value["path"])
    return f"#{index}"


# ---------------------------------------------------------------------------------------------------- encoding
@torch.no_grad()
def encode_clips(processor, clips: list[np.ndarray]):
    """
    Codes and causal mel slices of clips -> list of (`codes [T]` int64, `features [T, n_mels]` float32).

    This is the processor's own path (one implementation of each transform): each clip is zero-padded to whole
    frames and encoded alone, so prepared data holds exactly the codes and features `processor(audio=clip)` gives.
    Runs where the codec is (move `processor.audio_tokenizer` to a GPU to prepare large corpora faster).
    """
    fe = processor.feature_extractor
    inputs = processor(audio=clips, sampling_rate=fe.sampling_rate, return_tensors="pt")
    lengths = inputs["attention_mask"].sum(-1).tolist()
    return [
        (inputs["input_ids"][i, :n].numpy().astype(np.int64), inputs["input_features"][i, :n].float().numpy())
        for i, n in enumerate(lengths)
    ]


# ---------------------------------------------------------------------------------------------------- preparation
def prepared_features(n_mels: int):
    from datasets import Features, List, Value

    return Features(
        {
            "input_ids": List(Value("int32")),
            "input_features": List(List(Value("float32"), length=n_mels)),
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


def _iter_clips(dataset, audio_column, category_column, id_column, sampling_rate, report, progress, desc,
                category_names=None):
    """Yield (clip name, category, float32 audio) of each usable clip; record every unusable one in `report`."""
    from tqdm.auto import tqdm

    try:
        total = len(dataset)
    except TypeError:
        total = None  # streaming
    bar = tqdm(dataset, total=total, desc=desc or "Preparing", unit="clip", disable=not progress)
    for index, example in enumerate(bar):
        value = example[audio_column]
        name = _clip_name(example, value, id_column, index)
        report.num_clips += 1
        try:
            audio = decode_audio(value, sampling_rate)
            if audio.size == 0:
                raise _Skip("empty: 0 samples")
            if not np.isfinite(audio).all():
                raise _Skip("non-finite: NaN or infinite samples")
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
):
    """
    Turn an audio dataset into training examples of at most `window_frames` frames.

    Each clip is decoded, checked, encoded once (codes + causal mel slices, batched, no grad) and cut into windows
    of `window_frames` frames; a trailing partial window is kept if it has at least `min_frames`. Clips that cannot
    be decoded, are empty, contain NaN/inf or are shorter than `min_frames` are skipped and listed in the report.

    Args:
        dataset: a `datasets.Dataset` or `IterableDataset` (streaming) with an `Audio` column.
        processor: a [`WhisperGPTProcessor`] with its codec.
        audio_column / category_column / id_column: column names; a missing category column gives `"unknown"`,
            a missing id column names clips by their file path (or `#index`).
        window_frames: frames per example (256 = 3.4 s at 75 frames/s); must fit the model's context.
        min_frames: shortest clip / trailing window kept (at least 2: one prediction needs two frames).
        batch_size: clips encoded together.
        desc: progress bar label and cache folder prefix.
        cache_dir: where results are saved (`save_to_disk`) and reused, keyed by a hash of the data, the processor
            (including its codec weights) and these settings; `None` disables caching.
        cache_key: identifies the data in the key; defaults to a non-streaming dataset's fingerprint (a streaming
            dataset has none, so pass e.g. `"source|config|split"`).
        progress: show a tqdm bar.

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
    names = dataset.column_names
    if names is not None and audio_column not in names:
        raise ValueError(f"The dataset has no column {audio_column!r} (columns: {names}); set audio_column=.")

    settings = dict(window_frames=window_frames, min_frames=min_frames, audio_column=audio_column,
                    category_column=category_column, id_column=id_column)
    target = None
    if cache_dir is not None:
        key = cache_key if cache_key is not None else getattr(dataset, "_fingerprint", None)
        if key is None:
            raise ValueError("A streaming dataset has no fingerprint to key the cache on: pass cache_key=.")
        digest = _hash_json({"data": key, "processor": processor_fingerprint(processor), **settings,
                             "version": PREPARATION_VERSION})
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", desc or "prepared")
        target = os.path.join(os.path.expanduser(os.fspath(cache_dir)), f"{name}-{digest[:16]}")
        if os.path.isdir(target):
            logger.info("Reusing prepared data from %s", target)
            return load_prepared(target)

    sampling_rate = processor.sampling_rate
    if isinstance((dataset.features or {}).get(audio_column), Audio) or dataset.features is None:
        dataset = dataset.cast_column(audio_column, Audio(sampling_rate=sampling_rate, decode=False))
    report = PreparationReport()
    features = prepared_features(processor.feature_extractor.feature_size)
    parts, rows = [], []

    def flush():
        if rows:
            columns = {name: [row[name] for row in rows] for name in features}
            parts.append(datasets.Dataset.from_dict(columns, features=features))
            rows.clear()

    labels = (dataset.features or {}).get(category_column) if category_column else None
    class_names = labels.names if isinstance(labels, datasets.ClassLabel) else None  # class ids -> their names
    clips = _iter_clips(dataset, audio_column, category_column, id_column, sampling_rate, report, progress, desc,
                        class_names)
    for batch in _batched(clips, batch_size):
        usable = []
        for name, category, audio in batch:
            frames = processor.feature_extractor.num_frames(len(audio))
            if frames < min_frames:
                report.skip(name, f"too short: {frames} frames < min_frames={min_frames}")
            else:
                usable.append((name, category, audio))
        if not usable:
            continue
        encoded = encode_clips(processor, [audio for _, _, audio in usable])
        for (name, category, _), (codes, mels) in zip(usable, encoded, strict=True):
            report.num_prepared += 1
            kept = 0
            for start, end in _windows(len(codes), window_frames, min_frames):
                rows.append(dict(input_ids=codes[start:end], input_features=mels[start:end], length=end - start,
                                 start_frame=start, category=category, clip_id=name))
                kept += end - start
                report.num_examples += 1
            report.num_frames += kept
            report.num_dropped_frames += len(codes) - kept
        if len(rows) >= 256:  # keep Python-side buffers small: Arrow stores the floats compactly
            flush()
    flush()
    if parts:
        prepared = datasets.concatenate_datasets(parts)
    else:
        prepared = datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    logger.info("%s", report.summary())
    if target is not None:
        prepared = save_prepared(prepared, report, target)
    return prepared, report


def save_prepared(prepared, report: PreparationReport, target: str):
    """Write `target/dataset` + `target/preparation_report.json` atomically (temp folder, then `os.replace`)."""
    import datasets

    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    prepared.save_to_disk(os.path.join(tmp, "dataset"))
    report.save(os.path.join(tmp, REPORT_NAME))
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished the same preparation first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Saved prepared data to %s", target)
    return datasets.load_from_disk(os.path.join(target, "dataset"))


def load_prepared(path: str | os.PathLike):
    """Load a folder written by `prepare_dataset(..., cache_dir=...)` -> `(Dataset, PreparationReport)`."""
    import datasets

    path = os.fspath(path)
    dataset = datasets.load_from_disk(os.path.join(path, "dataset"))
    return dataset, PreparationReport.load(os.path.join(path, REPORT_NAME))


def processor_fingerprint(processor) -> str:
    """A hash of everything in the processor that changes the prepared data: front-end settings and codec weights."""
    h = hashlib.sha256()
    h.update(processor.feature_extractor.to_json_string().encode())
    codec = processor.audio_tokenizer
    if codec is not None:
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


# ---------------------------------------------------------------------------------------------------- collation
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


__all__ = [
    "PreparationReport",
    "WhisperGPTDataCollator",
    "decode_audio",
    "encode_clips",
    "load_audio_dataset",
    "load_prepared",
    "prepare_dataset",
    "processor_fingerprint",
    "source_cache_key",
]
