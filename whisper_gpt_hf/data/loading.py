"""Reading audio datasets: any `datasets` source (a Hub id, a Hub-layout folder, an audiofolder, a `save_to_disk`
folder) as a dataset with an `Audio` column at the codec's rate, and one clip's encoded value -> float32 mono.

Audio is decoded here, one clip at a time, rather than by `datasets` while iterating: one corrupt file then costs
one line in the preparation report instead of killing the iterator.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np


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
