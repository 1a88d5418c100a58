"""Data: reading audio datasets, preparing them once into aligned codes + mel slices, and batching them.

- `loading`: any `datasets` audio source (Hub id, Hub-layout folder, audiofolder, `save_to_disk` folder) -> a dataset
  with an `Audio` column at the codec's rate; one clip's value -> float32 mono (`decode_audio`).
- `preparation`: `prepare_dataset` (shards across processes, merge, resume, cache) and the `PreparationReport`;
  what `whisper-gpt prepare`, `train`, `evaluate` and `experiment` read.
- `collation`: `WhisperGPTDataCollator` (padding into a batch) and the resumable epoch order of training.

    from whisper_gpt_hf.data import load_audio_dataset, prepare_dataset, WhisperGPTDataCollator
"""

from .collation import EpochShuffleSampler, WhisperGPTDataCollator
from .loading import decode_audio, load_audio_dataset
from .preparation import (
    FLOAT16_ABSOLUTE_ERROR,
    FLOAT16_RELATIVE_ERROR,
    PreparationReport,
    encode_clips,
    load_prepared,
    load_prepared_split,
    prepare_dataset,
    prepared_config,
    processor_fingerprint,
    reconstruct_audio,
    save_prepared,
    source_cache_key,
)

__all__ = [
    "FLOAT16_ABSOLUTE_ERROR",
    "FLOAT16_RELATIVE_ERROR",
    "EpochShuffleSampler",
    "PreparationReport",
    "WhisperGPTDataCollator",
    "decode_audio",
    "encode_clips",
    "load_audio_dataset",
    "load_prepared",
    "load_prepared_split",
    "prepare_dataset",
    "prepared_config",
    "processor_fingerprint",
    "reconstruct_audio",
    "save_prepared",
    "source_cache_key",
]
