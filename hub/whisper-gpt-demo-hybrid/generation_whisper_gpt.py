"""Generation with spectrogram feedback: the mel slice of a generated frame is computed from that frame's audio.

The hybrid model reads a mel slice per frame, but a generated frame has no audio until it is decoded. Each step,
`WhisperGPTSpectrogramFeedback` decodes the newest codes with the codec (EnCodec decodes causally: a window of
`context_frames` earlier frames reproduces the full decode), runs the same causal mel front end as for real audio,
and the model's `prepare_inputs_for_generation` feeds the result. Only the positions a step feeds are computed, so
with the KV cache each step costs O(1) in the past length.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class WhisperGPTSpectrogramFeedback:
    """
    Computes mel slices for generated codes: `feedback(codes [B, L], start) -> [B, L - start, n_mels]` (frames
    `start..L-1`).

    Args:
        audio_tokenizer: a transformers `EncodecModel` (the processor's `audio_tokenizer`).
        feature_extractor: the `WhisperGPTFeatureExtractor` whose front end made the training features.
        context_frames: earlier frames decoded with the new ones. The decoded window must also cover the STFT
            window (`n_fft - hop` samples, 3 frames at the defaults); 20 frames reproduce the full decode to ~1e-7
            on EnCodec's architecture.
    """

    def __init__(self, audio_tokenizer, feature_extractor, context_frames: int = 20):
        history = -(-(feature_extractor.n_fft - feature_extractor.hop_length) // feature_extractor.hop_length)
        if context_frames < history:
            raise ValueError(f"context_frames must be >= {history} to cover the STFT window, got {context_frames}.")
        self.audio_tokenizer = audio_tokenizer
        self.feature_extractor = feature_extractor
        self.context_frames = context_frames

    @torch.no_grad()
    def decode(self, codes: torch.LongTensor) -> torch.Tensor:
        """Coarse codes `[B, T]` -> audio `[B, T * hop]` (first codebook only, as the model generates it)."""
        device = next(self.audio_tokenizer.parameters()).device
        out = self.audio_tokenizer.decode(codes[None, :, None, :].to(device), [None])
        return out.audio_values[:, 0].float()

    @torch.no_grad()
    def __call__(self, codes: torch.LongTensor, start: int) -> torch.Tensor:
        first = max(0, start - self.context_frames)
        audio = self.decode(codes[:, first:])
        # Only frames start..L-1 are wanted: keep the samples their STFT windows cover, and let the front end's own
        # zero history stand in before them only when the window reaches the clip start.
        hop, n_fft = self.feature_extractor.hop_length, self.feature_extractor.n_fft
        history_frames = min(start - first, -(-(n_fft - hop) // hop))
        audio = audio[:, (start - first - history_frames) * hop :]
        features = self.feature_extractor.extract(audio, num_frames=codes.shape[1] - start + history_frames)
        return features[:, history_frames:]


def features_for_generation_step(
    input_ids: torch.LongTensor,
    input_features: torch.Tensor | None,
    spectrogram_feedback: Any,
    next_sequence_length: int | None,
) -> torch.Tensor:
    """The mel slices for the positions one generation step feeds (all of them without a cache, the new ones with).

    Positions covered by the prompt's `input_features` take them; later positions come from `spectrogram_feedback`.
    """
    length = input_ids.shape[1]
    start = 0 if next_sequence_length is None else length - next_sequence_length
    have = 0 if input_features is None else input_features.shape[1]
    parts = []
    if start < have:
        parts.append(input_features[:, start : min(have, length)])
    if length > max(start, have):
        if spectrogram_feedback is None:
            raise ValueError(
                "Generating with a hybrid WHISPER-GPT model needs the mel slice of every generated frame: pass "
                "`spectrogram_feedback=WhisperGPTSpectrogramFeedback(processor.audio_tokenizer, "
                "processor.feature_extractor)` to generate(), or use `whisper_gpt_hf.continue_audio`."
            )
        new = spectrogram_feedback(input_ids, max(start, have))
        reference = input_features if input_features is not None else new
        parts.append(new.to(device=input_ids.device, dtype=reference.dtype))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


@torch.no_grad()
def continue_audio(
    model,
    processor,
    audio: np.ndarray,
    sampling_rate: int,
    seconds: float,
    seed: int | None = 0,
    do_sample: bool = True,
    top_k: int | None = 50,
    temperature: float = 1.0,
    context_frames: int = 20,
    **generate_kwargs,
) -> np.ndarray:
    """
    Continue a mono audio prompt by `seconds` and return prompt + continuation as float32 audio at the codec rate.

    The prompt is tokenized by the processor (codes + causal mel slices); the hybrid model's generated frames are
    fed back through the codec and the mel front end. The same `seed` gives the same audio.
    """
    config = model.config
    inputs = processor(audio=audio, sampling_rate=sampling_rate, return_tensors="pt")
    prompt_frames = inputs["input_ids"].shape[1]
    new_frames = int(round(seconds * config.frame_rate))
    if new_frames <= 0:
        raise ValueError(f"seconds must give at least one frame (1/{config.frame_rate:g} s), got {seconds}.")
    if prompt_frames + new_frames > config.max_position_embeddings:
        raise ValueError(
            f"Prompt ({prompt_frames} frames) + continuation ({new_frames}) exceed the model's context of "
            f"{config.max_position_embeddings} frames ({config.max_position_embeddings / config.frame_rate:.2f} s); "
            "shorten the prompt or the continuation."
        )
    device = model.device
    kwargs: dict[str, Any] = dict(
        input_ids=inputs["input_ids"].to(device),
        attention_mask=inputs["attention_mask"].to(device),
        max_new_tokens=new_frames,
        min_new_tokens=new_frames,
        do_sample=do_sample,
        pad_token_id=0,
    )
    if do_sample:
        kwargs.update(top_k=top_k, temperature=temperature)
    if config.use_spectrogram:
        kwargs["input_features"] = inputs["input_features"].to(device)
        kwargs["spectrogram_feedback"] = WhisperGPTSpectrogramFeedback(
            processor.audio_tokenizer, processor.feature_extractor, context_frames=context_frames
        )
    kwargs.update(generate_kwargs)
    generator_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        codes = model.generate(**kwargs)
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)
    return processor.batch_decode(codes.cpu())[0]


__all__ = ["WhisperGPTSpectrogramFeedback", "features_for_generation_step", "continue_audio"]
