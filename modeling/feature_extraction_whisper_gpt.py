"""Causal log-mel front end of WHISPER-GPT: one mel slice per EnCodec frame, computed from the past only."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.audio_utils import mel_filter_bank


def num_codec_frames(num_samples: int, hop_length: int) -> int:
    """Codec frames for a clip: EnCodec pads the last partial frame, so ceil(n / hop)."""
    return math.ceil(num_samples / hop_length)


# Float audio is expected in [-1, 1]; far beyond, the mel power overflows float32 (1e30 gave all-NaN features).
MAX_ABS_SAMPLE = 1e4
MONO_RULE = (
    "WHISPER-GPT takes mono clips of shape [samples]: downmix a [samples, channels] array (what soundfile.read "
    "returns) with audio.mean(axis=1), a [channels, samples] one with audio.mean(axis=0), take audio[0] for a "
    "[1, samples] clip, and pass a list of 1-D arrays for a batch."
)


def _float_clip(clip: Any, index: int) -> np.ndarray:
    """One validated float32 mono clip (integer PCM scaled by its dtype range)."""
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu()
        if clip.dtype == torch.bfloat16:  # numpy has no bfloat16
            clip = clip.float()
        clip = clip.numpy()
    elif isinstance(clip, (str, bytes, dict)) or clip is None:
        hint = (" For a datasets row pass row['audio']['array'] (cast the column to "
                "datasets.Audio(sampling_rate=24000))." if isinstance(clip, dict) else
                " Read a file first, e.g. soundfile.read(path)." if isinstance(clip, (str, bytes)) else "")
        raise ValueError(f"Audio #{index} is a {type(clip).__name__}; pass a numpy array or torch tensor of samples."
                         + hint)
    clip = np.asarray(clip)
    if clip.ndim != 1:
        raise ValueError(f"Audio #{index} has shape {clip.shape}. {MONO_RULE}")
    if clip.size == 0:
        raise ValueError(f"Audio #{index} is empty; pass at least one sample.")
    if np.issubdtype(clip.dtype, np.integer):
        info = np.iinfo(clip.dtype)
        if info.min == 0:
            raise ValueError(f"Audio #{index} is unsigned {clip.dtype}; pass signed PCM or float audio.")
        clip = clip.astype(np.float32) / float(-int(info.min))  # int16 -> / 32768
    elif not np.issubdtype(clip.dtype, np.floating):
        raise ValueError(f"Audio #{index} has dtype {clip.dtype}; pass float or signed integer PCM.")
    clip = clip.astype(np.float32, copy=False)
    if not np.isfinite(clip).all():
        raise ValueError(
            f"Audio #{index} contains NaN or infinite samples; clean the signal (e.g. np.nan_to_num) first."
        )
    peak = float(np.abs(clip).max())
    if peak > MAX_ABS_SAMPLE:
        raise ValueError(
            f"Audio #{index} has samples up to {peak:.3g}, but float audio lies in [-1, 1]: scale it first (int16 "
            "values stored as float: divide by 32768; else audio / np.abs(audio).max())."
        )
    return clip


def as_mono_clips(raw_audio: Any, return_batched: bool = False):
    """
    The one input rule of the package's audio entry points (feature extractor, processor, `continue_audio`): one 1-D
    mono clip, or a list / tuple of 1-D clips (numpy arrays, torch tensors or plain lists of samples). A 2-D or
    higher array, alone or as a list element, is refused with a `ValueError` that says how to downmix or split it:
    `[samples, channels]` and `[channels, samples]` cannot be told from a batch safely.

    Returns:
        a list of float32 1-D clips (integer PCM scaled by its dtype range); with `return_batched=True`,
        `(clips, batched)`, where `batched` is False for a single clip.
    """
    if isinstance(raw_audio, (np.ndarray, torch.Tensor)) and raw_audio.ndim >= 2:
        raise ValueError(f"Got audio of shape {tuple(raw_audio.shape)}. {MONO_RULE}")
    batched = isinstance(raw_audio, (list, tuple))
    if not batched:
        raw_audio = [raw_audio]
    elif len(raw_audio) > 0 and all(np.isscalar(x) for x in raw_audio):
        raw_audio, batched = [np.asarray(raw_audio, dtype=np.float32)], False  # a plain list of samples: one clip
    if len(raw_audio) == 0:
        raise ValueError("Got an empty batch; pass at least one clip.")
    clips = [_float_clip(clip, i) for i, clip in enumerate(raw_audio)]
    return (clips, batched) if return_batched else clips


def causal_log_mel_spectrogram(
    waveform: torch.Tensor,
    mel_filters: torch.Tensor,
    window: torch.Tensor,
    hop_length: int,
    num_frames: int | None = None,
    log_floor: float = 1e-10,
    last_frames: int | None = None,
) -> torch.Tensor:
    """
    The one mel front end of the package (feature extractor, generation feedback and data preparation all call it).

    Frame `t` is the STFT of samples `[(t + 1) * hop - win, (t + 1) * hop)`: the window *ends* where codec frame `t`
    ends, with zeros before the clip start, so slice `t` never sees a sample of frame `t + 1`. Centred windows
    (Whisper, librosa defaults) would leak half a window of the frame the model must predict.

    Args:
        waveform: `[batch, samples]` float audio at the codec rate.
        mel_filters: `[n_fft // 2 + 1, n_mels]` filterbank.
        window: `[n_fft]` analysis window.
        hop_length: samples per codec frame.
        num_frames: frames to return; defaults to `ceil(samples / hop)` (the codec's frame count). Samples past
            `num_frames * hop` are ignored, missing ones are zeros (as EnCodec pads).
        log_floor: power floor before the log.
        last_frames: compute only the last `last_frames` of the `num_frames` frames (generation feeds one new frame
            per step); the same values as `[:, -last_frames:]` of the full output.

    Returns:
        `[batch, num_frames, n_mels]` (`[batch, last_frames, n_mels]` with `last_frames`) float32, `(log10(mel power) + 4) / 4`: a fixed affine map, never a statistic of
        the clip (a clip-wide max, as Whisper uses, would leak the future).
    """
    if waveform.ndim != 2:
        raise ValueError(f"waveform must be [batch, samples], got shape {tuple(waveform.shape)}.")
    n_fft = window.shape[0]
    if num_frames is None:
        num_frames = num_codec_frames(waveform.shape[-1], hop_length)
    if last_frames is not None and not 1 <= last_frames <= num_frames:
        raise ValueError(f"last_frames must be between 1 and num_frames ({num_frames}), got {last_frames}.")
    waveform = waveform.to(torch.float32)
    # Left history of n_fft - hop zeros, right padding up to the codec's frame grid.
    total = num_frames * hop_length
    if waveform.shape[-1] >= total:
        waveform = waveform[:, :total]
    padded = torch.nn.functional.pad(waveform, (n_fft - hop_length, total - waveform.shape[-1]))
    if last_frames is not None:  # frame t's window is padded[t * hop : t * hop + n_fft]
        padded = padded[:, (num_frames - last_frames) * hop_length :]
    stft = torch.stft(
        padded, n_fft=n_fft, hop_length=hop_length, window=window.to(padded), center=False, return_complex=True
    )  # [B, n_fft//2+1, num_frames]
    power = stft.real.square() + stft.imag.square()
    mel = torch.matmul(power.transpose(1, 2), mel_filters.to(power))  # [B, T, n_mels]
    return (torch.log10(torch.clamp(mel, min=log_floor)) + 4.0) / 4.0


class WhisperGPTFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns mono audio at the codec's sampling rate into causal log-mel `input_features` of shape
    `[batch, frames, n_mels]`, one slice per EnCodec frame (`frames = ceil(samples / hop_length)`), with an
    `attention_mask` of shape `[batch, frames]` for padded batches.

    Each slice is computed from samples that end at its frame's end (see [`causal_log_mel_spectrogram`]), so features
    of frames `<= t` do not change when audio after frame `t` changes.

    Input conventions ([`as_mono_clips`]): a 1-D array is one clip, a list of 1-D arrays is a batch. Any 2-D array is
    refused with a message saying how to fix it: `[samples, channels]` stereo (what `soundfile.read` returns) and
    `[channels, samples]` cannot be told from a batch safely, so downmix first (`audio.mean(axis=1)` for
    `[samples, channels]`). Integer PCM (e.g. int16) is scaled to [-1, 1) by its dtype range.

    Args:
        feature_size (`int`, *optional*, defaults to 64): mel channels.
        sampling_rate (`int`, *optional*, defaults to 24000): the codec's sampling rate; other rates are refused.
        hop_length (`int`, *optional*, defaults to 320): the codec's hop (samples per frame).
        n_fft (`int`, *optional*, defaults to 1024): STFT size = window length (42.7 ms at 24 kHz).
        f_min (`float`, *optional*, defaults to 0.0), f_max (`float`, *optional*, defaults to 12000.0): mel range.
        padding_value (`float`, *optional*, defaults to 0.0): value of padded feature frames.
        return_attention_mask (`bool`, *optional*, defaults to `True`).

    Example:

    ```python
    >>> import numpy as np
    >>> from whisper_gpt_hf import WhisperGPTFeatureExtractor
    >>> fe = WhisperGPTFeatureExtractor()
    >>> out = fe(np.zeros(24000, dtype=np.float32), sampling_rate=24000, return_tensors="pt")
    >>> tuple(out["input_features"].shape)
    (1, 75, 64)
    ```
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 64,
        sampling_rate: int = 24000,
        hop_length: int = 320,
        n_fft: int = 1024,
        f_min: float = 0.0,
        f_max: float = 12000.0,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        if n_fft < hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be at least hop_length ({hop_length}).")
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.f_min = f_min
        self.f_max = f_max
        # Stored under the names FeatureExtractionMixin.to_dict() leaves out of the JSON.
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=1 + n_fft // 2,
            num_mel_filters=feature_size,
            min_frequency=f_min,
            max_frequency=f_max,
            sampling_rate=sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        ).astype(np.float32)
        self.window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
        self._torch_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------ helpers
    def _filters(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        key = str(device)
        if key not in self._torch_cache:
            self._torch_cache[key] = (
                torch.from_numpy(self.mel_filters).to(device),
                torch.from_numpy(self.window).to(device),
            )
        return self._torch_cache[key]

    def extract(
        self, waveform: torch.Tensor, num_frames: int | None = None, last_frames: int | None = None
    ) -> torch.Tensor:
        """Tensor in, tensor out (`[B, samples]` -> `[B, frames, n_mels]`), on the waveform's device; no checks.
        `last_frames`: only the last frames (see [`causal_log_mel_spectrogram`])."""
        mel_filters, window = self._filters(waveform.device)
        if waveform.device.type == "cpu" and waveform.shape[0] > 1:
            # On CPU one clip at a time is 2-3x faster than the whole batch (the batched complex STFT does not fit
            # in cache; benchmarks/bench_features.py), and gives each clip exactly what it gives alone.
            return torch.cat(
                [
                    causal_log_mel_spectrogram(w[None], mel_filters, window, self.hop_length, num_frames,
                                               last_frames=last_frames)
                    for w in waveform
                ]
            )
        return causal_log_mel_spectrogram(
            waveform, mel_filters, window, self.hop_length, num_frames=num_frames, last_frames=last_frames
        )

    def num_frames(self, num_samples: int) -> int:
        return num_codec_frames(num_samples, self.hop_length)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("_torch_cache", None)
        return output

    # ------------------------------------------------------------------ validation
    def _check_sampling_rate(self, sampling_rate: int | None) -> None:
        if sampling_rate is None:
            warnings.warn(
                f"No sampling_rate passed to {type(self).__name__}; assuming {self.sampling_rate} Hz. Pass "
                "`sampling_rate=` to catch silent mismatches.",
                stacklevel=3,
            )
        elif isinstance(sampling_rate, bool) or not (
            isinstance(sampling_rate, (int, np.integer))
            or (isinstance(sampling_rate, (float, np.floating)) and float(sampling_rate).is_integer())
        ):
            raise ValueError(
                f"sampling_rate must be an integer number of Hz, got {type(sampling_rate).__name__} {sampling_rate!r}; "
                f"pass sampling_rate={self.sampling_rate}."
            )
        elif int(sampling_rate) != self.sampling_rate:
            raise ValueError(
                f"The audio is sampled at {sampling_rate} Hz but WHISPER-GPT's codec works at {self.sampling_rate} Hz. "
                f"Resample first, e.g. `datasets.Audio(sampling_rate={self.sampling_rate})` or "
                f"`torchaudio.functional.resample(x, {sampling_rate}, {self.sampling_rate})`."
            )

    def to_clips(self, raw_audio: Any, sampling_rate: int | None = None) -> list[np.ndarray]:
        """Validate and normalise any accepted input into a list of float32 mono clips."""
        self._check_sampling_rate(sampling_rate)
        return as_mono_clips(raw_audio)

    # ------------------------------------------------------------------ call
    def __call__(
        self,
        raw_audio: np.ndarray | list[np.ndarray] | torch.Tensor,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            raw_audio: one 1-D mono clip or a list of them, at `sampling_rate` (see [`as_mono_clips`]).
            sampling_rate: must equal `self.sampling_rate` (24 kHz): there is no silent resampling.
            return_tensors: `"pt"`, `"np"` or `None` (lists of arrays).
            return_attention_mask: defaults to `self.return_attention_mask`.
            device: where the torch computation runs (e.g. `"cuda"` for large batches).

        Returns:
            `BatchFeature` with `input_features` `[batch, frames, n_mels]` (right-padded with `padding_value`) and
            `attention_mask` `[batch, frames]` (1 = real frame).
        """
        clips = self.to_clips(raw_audio, sampling_rate)
        lengths = [self.num_frames(len(c)) for c in clips]
        max_frames = max(lengths)
        # Right-pad the batch with zeros: the front end is causal, so a clip's frames never see the padding
        # (beyond the zeros EnCodec itself pads the last frame with).
        batch = torch.zeros(len(clips), max_frames * self.hop_length, dtype=torch.float32)
        for i, clip in enumerate(clips):
            batch[i, : len(clip)] = torch.from_numpy(clip)
        with torch.inference_mode():
            features = self.extract(batch.to(device))
        mask = torch.arange(max_frames, device=features.device)[None, :] < torch.tensor(lengths, device=features.device)[:, None]
        features = features.masked_fill(~mask[..., None], self.padding_value)

        data: dict[str, Any] = {"input_features": features}
        if return_attention_mask if return_attention_mask is not None else self.return_attention_mask:
            data["attention_mask"] = mask.to(torch.long)
        if return_tensors in (None, "np"):
            data = {k: v.cpu().numpy() for k, v in data.items()}
            if return_tensors is None:
                data = {k: [row[:n] for row, n in zip(v, lengths)] for k, v in data.items()}
        elif return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r} is not supported; use 'pt', 'np' or None.")
        return BatchFeature(data=data, tensor_type=None)


__all__ = ["WhisperGPTFeatureExtractor", "as_mono_clips", "causal_log_mel_spectrogram", "num_codec_frames"]
