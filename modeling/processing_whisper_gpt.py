"""WHISPER-GPT processor: causal mel features + EnCodec coarse codes of the same audio, aligned frame by frame."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers import AutoModel, BatchFeature, ProcessorMixin
from transformers.modeling_utils import PreTrainedAudioTokenizerBase

from .feature_extraction_whisper_gpt import WhisperGPTFeatureExtractor  # noqa: F401  (copied with the processor for remote code)

AUDIO_TOKENIZER_SUBFOLDER = "audio_tokenizer"
_HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "local_files_only", "revision")


class WhisperGPTProcessor(ProcessorMixin):
    r"""
    Wraps a [`WhisperGPTFeatureExtractor`] and an EnCodec `audio_tokenizer` (a transformers `EncodecModel`).

    `processor(audio=..., sampling_rate=24000, return_tensors="pt")` returns `input_features` `[B, T, n_mels]`,
    `input_ids` `[B, T]` (the codec's first codebook) and `attention_mask` `[B, T]`, with `T = ceil(samples / 320)`
    for both streams. Each clip is encoded on its own, so a clip gives exactly the same codes in any batch.
    `processor.batch_decode(codes)` turns coarse codes back into audio.

    Saving: the codec is written next to the processor files in an `audio_tokenizer/` subfolder, so a saved or
    published folder is self-contained and loads anywhere (`save_pretrained(..., bundle_audio_tokenizer=False)`
    stores only a reference to the codec's Hub repo id instead, e.g. `facebook/encodec_24khz`).

    Args:
        feature_extractor ([`WhisperGPTFeatureExtractor`]): the causal mel front end.
        audio_tokenizer (`EncodecModel`, *optional*): the codec; required for `__call__` on audio and for decoding.
        codec_source (`dict`, *optional*): where `from_pretrained` finds the codec; set when saving.
    """

    def __init__(self, feature_extractor, audio_tokenizer=None, codec_source: dict | None = None):
        super().__init__(feature_extractor, audio_tokenizer=audio_tokenizer)
        self.codec_source = codec_source
        if audio_tokenizer is None:
            self.audio_tokenizer = None  # the base class only sets it when given
        else:
            self._check_codec(audio_tokenizer)

    # transformers 5 hard-codes the allowed audio tokenizer classes (DAC, ...); EnCodec is one too.
    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "audio_tokenizer":
            if not isinstance(argument, PreTrainedAudioTokenizerBase):
                raise TypeError(f"audio_tokenizer must be a transformers audio tokenizer, got {type(argument).__name__}.")
            return type(argument)
        return super().check_argument_for_proper_class(argument_name, argument)

    def _check_codec(self, codec) -> None:
        rate = getattr(codec.config, "sampling_rate", None)
        fe = self.feature_extractor
        hop = int(np.prod(getattr(codec.config, "upsampling_ratios", [fe.hop_length])))
        if rate != fe.sampling_rate or hop != fe.hop_length:
            raise ValueError(
                f"The codec runs at {rate} Hz with hop {hop} but the feature extractor expects {fe.sampling_rate} Hz "
                f"with hop {fe.hop_length}; they must share one time grid."
            )

    @property
    def sampling_rate(self) -> int:
        return self.feature_extractor.sampling_rate

    def _require_codec(self):
        if self.audio_tokenizer is None:
            raise ValueError(
                "This processor has no audio_tokenizer: pass `audio_tokenizer=EncodecModel.from_pretrained(...)`."
            )
        return self.audio_tokenizer

    # ------------------------------------------------------------------ encode / decode
    @property
    def num_codebooks(self) -> int:
        """Codebooks the codec gives at its top bandwidth (the `num_codebooks` of a full-bandwidth model)."""
        return _codebooks_at(self._require_codec(), None)

    @torch.no_grad()
    def encode(self, clips: list[np.ndarray], num_codebooks: int = 1) -> list[torch.LongTensor]:
        """Coarse codes `[ceil(n / hop)]` of each validated float32 mono clip, encoded one clip at a time; with
        `num_codebooks = K > 1`, the first K codebooks `[ceil(n / hop), K]` (coarse first).

        Clips are zero-padded to whole frames first, exactly as the mel front end pads them (EnCodec would otherwise
        reflect-pad the last partial frame), and encoded alone so that batching never changes a code."""
        codec = self._require_codec()
        device = next(codec.parameters()).device
        hop = self.feature_extractor.hop_length
        bandwidth = _lowest_bandwidth(codec) if num_codebooks == 1 else _bandwidth_for(codec, num_codebooks)
        codes = []
        for clip in clips:
            clip = np.pad(clip, (0, -len(clip) % hop))
            wav = torch.from_numpy(clip).to(device=device, dtype=codec.dtype)[None, None]
            out = codec.encode(wav, bandwidth=bandwidth)
            if num_codebooks == 1:
                codes.append(out.audio_codes[0, 0, 0].cpu())  # [chunk=1, batch, n_q, T] -> first codebook
            else:
                codes.append(out.audio_codes[0, 0, :num_codebooks].T.cpu())  # [T, K]
        return codes

    def __call__(
        self,
        audio: Any = None,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        padding_side: str = "right",
        num_codebooks: int | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            audio: one 1-D mono clip or a list of them at `sampling_rate` (24 kHz); a 2-D array (stereo, or a
                stacked batch) is refused with the fix (`as_mono_clips`, the feature extractor's input rule).
            sampling_rate: the audio's rate; a mismatch raises a `ValueError` saying how to resample.
            return_tensors: `"pt"` (default) or `"np"`.
            padding_side: `"right"` (default: training and evaluation) or `"left"` (generation: every prompt then
                ends at the last column, so `generate()` continues each clip right after its own last frame).
                Codes, features and mask are padded alike.
            num_codebooks: for a full-bandwidth model (`config.num_codebooks = K > 1`): also return
                `fine_input_ids` `[B, T, K - 1]`, codebooks 2..K of the same encode (at the codec's smallest bandwidth
                with K codebooks). `input_ids` stay the coarse codes either way.

        Returns:
            `BatchFeature` with `input_features`, `input_ids` (padded with 0, masked) and `attention_mask`
            (and `fine_input_ids` when `num_codebooks > 1`).
        """
        if audio is None:
            raise ValueError("Pass `audio=` (mono clips at the codec's sampling rate).")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}.")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
        if num_codebooks is not None and (
            isinstance(num_codebooks, bool) or not isinstance(num_codebooks, int) or num_codebooks < 1
        ):
            raise ValueError(f"num_codebooks must be a positive integer (the model's config.num_codebooks), got "
                             f"{num_codebooks!r}.")
        fe = self.feature_extractor
        clips = fe.to_clips(audio, sampling_rate)
        features = fe(clips, sampling_rate=fe.sampling_rate, return_tensors="pt", **kwargs)
        levels = num_codebooks or 1
        codes = self.encode(clips, num_codebooks=levels)
        fine_input_ids = None
        if levels > 1:
            fine_input_ids = torch.zeros((*features["attention_mask"].shape, levels - 1), dtype=torch.long)
            for i, c in enumerate(codes):
                fine_input_ids[i, : c.shape[0]] = c[:, 1:]
            codes = [c[:, 0] for c in codes]
        input_ids = torch.zeros(features["attention_mask"].shape, dtype=torch.long)
        for i, c in enumerate(codes):
            if c.shape[0] != int(features["attention_mask"][i].sum()):
                raise RuntimeError(
                    f"Codec gave {c.shape[0]} frames but the front end {int(features['attention_mask'][i].sum())} "
                    "for the same clip: the codec's hop does not match the feature extractor's."
                )
            input_ids[i, : c.shape[0]] = c
        data = {
            "input_features": features["input_features"],
            "input_ids": input_ids,
            "attention_mask": features["attention_mask"],
        }
        if fine_input_ids is not None:
            data["fine_input_ids"] = fine_input_ids
        if padding_side == "left":  # move each row's padding from its end to its start
            lengths = data["attention_mask"].sum(-1)
            width = data["attention_mask"].shape[1]
            for key, value in data.items():
                data[key] = torch.stack([torch.roll(row, int(width - n), 0) for row, n in zip(value, lengths)])
        if return_tensors == "np":
            data = {k: v.numpy() for k, v in data.items()}
        return BatchFeature(data=data)

    @torch.no_grad()
    def batch_decode(self, codes, attention_mask=None, **kwargs) -> list[np.ndarray]:
        """Coarse codes `[B, T]`, or all codebooks `[B, T, K]` (a `num_codebooks = K` model's `generate()`), and an
        optional `[B, T]` mask -> list of float32 mono clips at the codec rate.

        With an `attention_mask` (left or right padding) each row's real frames are decoded alone, exactly as the
        clip by itself; without one the whole batch is decoded as is."""
        codec = self._require_codec()
        codes = torch.as_tensor(codes)
        if codes.ndim == 1:
            codes = codes[None]
        if codes.ndim not in (2, 3):
            raise ValueError(f"codes must be [batch, frames] or [batch, frames, codebooks], got shape "
                             f"{tuple(codes.shape)}.")
        if codes.ndim == 3:
            available = len(codec.quantizer.layers)
            if not 1 <= codes.shape[2] <= available:
                raise ValueError(f"codes have {codes.shape[2]} codebooks but this codec has {available}.")
        if codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"codes of shape {tuple(codes.shape)} hold no frame to decode; pass at least one.")
        vocab = codec.config.codebook_size
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= vocab):
            raise ValueError(f"codes must lie in [0, {vocab}) for this codec.")
        device = next(codec.parameters()).device
        hop = self.feature_extractor.hop_length
        if attention_mask is not None:
            mask = torch.as_tensor(attention_mask).bool()
            if mask.shape != codes.shape[:2]:
                raise ValueError(f"attention_mask {tuple(mask.shape)} must match codes {tuple(codes.shape[:2])}.")
            clips = []
            for row, keep in zip(codes, mask):
                row = row[keep]
                if row.shape[0] == 0:
                    clips.append(np.zeros(0, dtype=np.float32))
                    continue
                audio = codec.decode(_codec_codes(row[None]).to(device), [None]).audio_values[0, 0]
                clips.append(audio[: row.shape[0] * hop].float().cpu().numpy())
            return clips
        audio = codec.decode(_codec_codes(codes).to(device), [None]).audio_values[:, 0]
        return [audio[i, : codes.shape[1] * hop].float().cpu().numpy() for i in range(codes.shape[0])]

    def decode(self, codes, **kwargs) -> np.ndarray:
        """Coarse codes `[T]` or `[1, T]`, or all codebooks `[1, T, K]` -> one float32 mono clip."""
        codes = torch.as_tensor(codes)
        return self.batch_decode(codes if codes.ndim == 3 else codes.reshape(1, -1), **kwargs)[0]

    # ------------------------------------------------------------------ save / load
    def to_dict(self) -> dict[str, Any]:
        # Hide the codec from the base class: it would deep-copy the model and store its (absolute, local)
        # name_or_path; where the codec lives is `codec_source`, written by save_pretrained.
        codec = self.__dict__.pop("audio_tokenizer", None)
        try:
            output = super().to_dict()
        finally:
            self.audio_tokenizer = codec
        output.pop("audio_tokenizer", None)
        return output

    def save_pretrained(self, save_directory, push_to_hub: bool = False, bundle_audio_tokenizer: bool = True, **kwargs):
        """Save the processor; with `bundle_audio_tokenizer` (default) the codec goes to `audio_tokenizer/`."""
        codec = self.audio_tokenizer
        previous = self.codec_source
        if codec is not None:
            if bundle_audio_tokenizer:
                self.codec_source = {"subfolder": AUDIO_TOKENIZER_SUBFOLDER}
            else:
                repo_id = codec.name_or_path
                if not repo_id or os.path.isdir(repo_id):
                    raise ValueError(
                        "bundle_audio_tokenizer=False stores a reference to the codec's Hub repo id, but this codec "
                        f"was loaded from {repo_id!r}, which is not portable. Bundle it, or load it by repo id."
                    )
                self.codec_source = {"repo_id": repo_id}
        try:
            files = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        finally:
            if codec is None:
                self.codec_source = previous
        if codec is not None and bundle_audio_tokenizer:
            codec.save_pretrained(os.path.join(save_directory, AUDIO_TOKENIZER_SUBFOLDER))
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, audio_tokenizer=None, **kwargs):
        """Load the processor and, unless `audio_tokenizer=` is given, the codec it was saved with."""
        processor = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        source = processor.codec_source or {}
        if audio_tokenizer is None and source:
            hub_kwargs = {k: kwargs[k] for k in _HUB_KWARGS if k in kwargs}
            if "subfolder" in source:
                inner = str(source["subfolder"])
                if os.path.isabs(inner) or ".." in inner.replace("\\", "/").split("/"):
                    raise ValueError(
                        f"processor_config.json's codec_source.subfolder {inner!r} leaves the processor folder; it "
                        f"must be a folder inside it (normally {AUDIO_TOKENIZER_SUBFOLDER!r})."
                    )
                subfolder = "/".join(p for p in (kwargs.get("subfolder", ""), inner) if p)
                local = os.path.join(str(pretrained_model_name_or_path), subfolder)
                if os.path.isdir(str(pretrained_model_name_or_path)) and not os.path.isfile(
                    os.path.join(local, "config.json")
                ):
                    raise FileNotFoundError(
                        f"{pretrained_model_name_or_path} is a processor saved with its codec in {subfolder}/, but "
                        f"{local}/config.json is missing: copy the whole processor folder (save_pretrained writes "
                        "the codec there), or pass audio_tokenizer=EncodecModel.from_pretrained(...)."
                    )
                audio_tokenizer = AutoModel.from_pretrained(
                    pretrained_model_name_or_path, subfolder=subfolder, **hub_kwargs
                )
            else:
                hub_kwargs.pop("revision", None)  # the revision belongs to this repo, not the codec's
                audio_tokenizer = AutoModel.from_pretrained(source["repo_id"], **hub_kwargs)
        if audio_tokenizer is not None:
            processor.check_argument_for_proper_class("audio_tokenizer", audio_tokenizer)
            processor._check_codec(audio_tokenizer)
            processor.audio_tokenizer = audio_tokenizer.eval()
        return processor


def _codec_codes(codes: torch.Tensor) -> torch.Tensor:
    """`[B, T]` or `[B, T, K]` -> EnCodec's `[chunks=1, B, K, T]`."""
    return codes[None, :, None, :] if codes.ndim == 2 else codes.transpose(1, 2)[None]


def _codebooks_at(codec, bandwidth) -> int:
    """Codebooks EnCodec uses at `bandwidth` (None: the top one), read from the codec's config and quantizer."""
    bandwidths = getattr(codec.config, "target_bandwidths", None) or [None]
    bandwidth = max(bandwidths) if bandwidth is None and bandwidths[0] is not None else bandwidth
    return min(len(codec.quantizer.layers), codec.quantizer.get_num_quantizers_for_bandwidth(bandwidth))


def _bandwidth_for(codec, num_codebooks: int) -> float | None:
    """The smallest target bandwidth at which the codec gives at least `num_codebooks` codebooks."""
    bandwidths = sorted(getattr(codec.config, "target_bandwidths", None) or [])
    for bandwidth in bandwidths:
        if _codebooks_at(codec, bandwidth) >= num_codebooks:
            return bandwidth
    raise ValueError(
        f"num_codebooks={num_codebooks} but this codec gives at most {_codebooks_at(codec, None)} codebooks (at "
        f"{max(bandwidths) if bandwidths else 'its only'} kbps); build the model with num_codebooks <= that."
    )


def _lowest_bandwidth(codec) -> float | None:
    """The smallest configured bandwidth: the model only needs the first codebook."""
    bandwidths = getattr(codec.config, "target_bandwidths", None)
    return min(bandwidths) if bandwidths else None


__all__ = ["WhisperGPTProcessor"]
