"""The `audio-continuation` pipeline: one call from a prompt (array, file or dict) to prompt + continuation.

    >>> from transformers import pipeline
    >>> pipe = pipeline("audio-continuation", model="path/or/repo", trust_remote_code=True)
    >>> out = pipe("prompt.wav", seconds=3.0)            # or {"array": a, "sampling_rate": 24000}, or a 1-D array
    >>> out["audio"].shape, out["sampling_rate"]          # float32 mono at 24 kHz: prompt + 3 s

Registered with transformers' `PIPELINE_REGISTRY` on import; a saved model folder lists it under `custom_pipelines`
in `config.json` and carries this file, so remote-code users get it without this package.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from transformers import AutoModelForCausalLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .generation_whisper_gpt import continue_audio
from .processing_whisper_gpt import WhisperGPTProcessor

TASK = "audio-continuation"


def _default_processor():
    """The processor embedded in the installed package (the small offline codec), if the package is installed."""
    try:
        from whisper_gpt_hf.assets import default_processor
    except ImportError:
        return None
    try:
        return default_processor()
    except (FileNotFoundError, OSError):
        return None


def _read_audio_file(path: str, sampling_rate: int) -> np.ndarray:
    """A sound file as float32 mono at `sampling_rate` (channels averaged, resampled when needed)."""
    try:
        import soundfile
    except ImportError as error:  # pragma: no cover - soundfile is a dependency of the package
        raise ImportError("Reading audio files needs `soundfile` (pip install soundfile); or pass an array.") from error
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)  # [frames, channels] -> mono
    if rate != sampling_rate:
        try:
            import torch
            import torchaudio
        except ImportError as error:
            raise ValueError(
                f"{path} is sampled at {rate} Hz, the model at {sampling_rate} Hz; install torchaudio to resample, or "
                "resample the file first."
            ) from error
        audio = torchaudio.functional.resample(torch.from_numpy(audio), rate, sampling_rate).numpy()
    return audio.astype(np.float32, copy=False)


class WhisperGPTAudioContinuationPipeline(Pipeline):
    """
    `pipe(prompt, seconds=S)` -> `{"audio": np.ndarray, "sampling_rate": 24000}`: the prompt (whole frames) followed
    by S seconds of continuation, via `continue_audio` (any S: past the context a window slides).

    Prompts: a path to a sound file (any rate: averaged to mono, resampled), a dict `{"array": a, "sampling_rate":
    sr}` or a 1-D float array at the codec's rate. Call parameters: `seconds` (default: the model's
    `generation_config.max_new_tokens` frames), `seed` (0), `do_sample`, `top_k`, `temperature`, `extend_stride`.
    The processor is the `processor=` argument, else the model folder's own, else the package's embedded default.
    """

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, model, processor=None, **kwargs):
        kwargs.pop("tokenizer", None)
        kwargs.pop("feature_extractor", None)
        super().__init__(model, **kwargs)
        if processor is None:
            source = getattr(model, "name_or_path", "") or ""
            if os.path.isfile(os.path.join(source, "processor_config.json")):
                # Running as the folder's remote code means its code is trusted already: its processor is too.
                remote = __name__.startswith("transformers_modules")
                trust = {"trust_remote_code": True} if remote else {}
                processor = WhisperGPTProcessor.from_pretrained(source, **trust)
            else:
                processor = _default_processor()
        if processor is None:
            raise ValueError(
                "No processor for this model: its folder has no processor_config.json and the whisper_gpt_hf package "
                "(with its embedded default processor) is not installed. Pass processor=WhisperGPTProcessor."
                "from_pretrained(...)."
            )
        self.audio_processor = processor
        codec = processor.audio_tokenizer
        if codec is not None:
            codec.to(self.model.device)

    def _sanitize_parameters(self, seconds=None, seed=None, do_sample=None, top_k=None, temperature=None,
                             extend_stride=None, sampling_rate=None, **generate_kwargs):
        preprocess = {} if sampling_rate is None else {"sampling_rate": sampling_rate}
        forward: dict[str, Any] = dict(generate_kwargs)
        for name, value in (("seconds", seconds), ("seed", seed), ("do_sample", do_sample), ("top_k", top_k),
                            ("temperature", temperature), ("extend_stride", extend_stride)):
            if value is not None:
                forward[name] = value
        return preprocess, forward, {}

    def preprocess(self, inputs, sampling_rate: int | None = None):
        rate = self.audio_processor.sampling_rate
        if isinstance(inputs, (str, os.PathLike)):
            return {"audio": _read_audio_file(os.fspath(inputs), rate), "sampling_rate": rate}
        if isinstance(inputs, dict):
            if "array" not in inputs or "sampling_rate" not in inputs:
                raise ValueError('A dict prompt needs "array" and "sampling_rate" keys (as datasets.Audio gives).')
            return {"audio": np.asarray(inputs["array"]), "sampling_rate": int(inputs["sampling_rate"])}
        return {"audio": np.asarray(inputs), "sampling_rate": sampling_rate or rate}

    def _forward(self, model_inputs, seconds=None, generation_config=None, **kwargs):
        config = self.model.generation_config
        defaults = {"do_sample": config.do_sample, "top_k": config.top_k, "temperature": config.temperature}
        for key, value in defaults.items():
            if value is not None:
                kwargs.setdefault(key, value)
        if seconds is None:
            seconds = (config.max_new_tokens or 150) / self.model.config.frame_rate
        audio = continue_audio(
            self.model, self.audio_processor, model_inputs["audio"], model_inputs["sampling_rate"], seconds=seconds,
            **kwargs,
        )
        return {"audio": audio}

    def postprocess(self, model_outputs):
        return {"audio": model_outputs["audio"], "sampling_rate": self.audio_processor.sampling_rate}


if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=WhisperGPTAudioContinuationPipeline, pt_model=AutoModelForCausalLM, type="audio"
    )


__all__ = ["WhisperGPTAudioContinuationPipeline"]
