"""Generation with spectrogram feedback: the mel slice of a generated frame is computed from that frame's audio.

The hybrid model reads a mel slice per frame, but a generated frame has no audio until it is decoded. Each step,
`WhisperGPTSpectrogramFeedback` decodes the newest codes with the codec (EnCodec decodes causally: a window of
`context_frames` earlier frames reproduces the full decode), runs the same causal mel front end as for real audio,
and the model's `prepare_inputs_for_generation` feeds the result. Only the positions a step feeds are computed, so
with the KV cache each step costs O(1) in the past length.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np
import torch

from .codec_streaming_whisper_gpt import (
    CodecNotStreamableError,
    WhisperGPTStreamingCodecDecoder,
    cat_states,
    select_state,
)


class WhisperGPTSpectrogramFeedback:
    """
    Computes mel slices for generated codes: `feedback(codes [B, L], start) -> [B, L - start, n_mels]` (frames
    `start..L-1`). A `num_codebooks = K` model passes all its codebooks, `codes [B, L, K]`, and they are all decoded
    (the full-bandwidth audio).

    With a causal EnCodec (the 24 kHz architecture) the codec decode is *stateful*: each call decodes only the frames
    it has not decoded yet and carries the decoder's convolution and LSTM state from step to step
    ([`WhisperGPTStreamingCodecDecoder`]), so a step's codec cost does not depend on any window, and the audio equals
    one decode of all codes. Each row of a left-padded batch is decoded from its own first real frame (the
    `attention_mask` says where), exactly as the row alone. The state follows the codes it has seen: a call whose
    codes do not continue them (a new `generate()` call, beams reordered) matches rows by their prefix or starts over.
    Codecs that cannot be continued (non-causal) fall back to re-decoding a window of `context_frames` frames.

    Args:
        audio_tokenizer: a transformers `EncodecModel` (the processor's `audio_tokenizer`).
        feature_extractor: the `WhisperGPTFeatureExtractor` whose front end made the training features.
        context_frames: only for the window fallback: earlier frames decoded with the new ones (>= the STFT window's
            `n_fft - hop` samples, 3 frames at the defaults).
        stateful: `False` forces the window fallback (for comparisons).
    """

    def __init__(self, audio_tokenizer, feature_extractor, context_frames: int = 20, stateful: bool = True):
        history = -(-(feature_extractor.n_fft - feature_extractor.hop_length) // feature_extractor.hop_length)
        if context_frames < history:
            raise ValueError(f"context_frames must be >= {history} to cover the STFT window, got {context_frames}.")
        self.audio_tokenizer = audio_tokenizer
        self.feature_extractor = feature_extractor
        self.context_frames = context_frames
        self.history_frames = history  # frames of audio before a slice that its STFT window reads
        self.decoder = None
        if stateful:
            try:
                self.decoder = WhisperGPTStreamingCodecDecoder(audio_tokenizer)
            except CodecNotStreamableError:
                self.decoder = None  # window fallback
        self.reset()

    def reset(self) -> None:
        """Forget the stream (the next call starts from the clip start)."""
        self._codes = None  # [B, n] codes decoded so far
        self._state = None  # the codec decoder's state after them
        self._tail = None  # [B, history_frames * hop] last decoded samples (zeros before a row's start)
        self._features = None  # [B, n - _first, n_mels] slices computed so far, frames _first..n-1
        self._first = 0

    # ------------------------------------------------------------------ codec
    @torch.no_grad()
    def decode(self, codes: torch.LongTensor) -> torch.Tensor:
        """Codes `[B, T]` (coarse) or `[B, T, K]` (all codebooks a `num_codebooks = K` model generates) -> audio
        `[B, T * hop]`."""
        device = next(self.audio_tokenizer.parameters()).device
        out = self.audio_tokenizer.decode(_codec_layout(codes)[None].to(device), [None])
        return out.audio_values[:, 0].float()

    def decode_stream(self, codes: torch.LongTensor, state):
        """One stateful decode call (`state=None` starts a stream): `(audio [B, T * hop], new_state)`."""
        return self.decoder(codes if codes.ndim == 2 else _codec_layout(codes), state)

    def _slices(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        """Slices of the last `frames` frames of `audio`, which starts `history_frames` frames before them."""
        return self.feature_extractor.extract(audio, num_frames=frames + self.history_frames, last_frames=frames)

    # ------------------------------------------------------------------ stream bookkeeping
    def _continues(self, codes: torch.LongTensor) -> bool:
        """True if `codes` continue the decoded ones; reorders the stored rows when beams were reordered."""
        if self._codes is None:
            return False
        n = self._codes.shape[1]
        if codes.shape[1] < n:
            return False
        if codes.ndim != self._codes.ndim:
            return False
        prefix = codes[:, :n].to(self._codes.device)
        if prefix.shape == self._codes.shape and torch.equal(prefix, self._codes):
            return True
        match = (prefix[:, None] == self._codes[None]).flatten(2).all(-1)  # [B_new, B_old]
        if not bool(match.any(-1).all()):
            return False
        index = match.to(torch.int8).argmax(-1)
        self._codes, self._tail = self._codes[index], self._tail[index]
        self._features = self._features[index]
        self._state = select_state(self._state, index)
        return True

    def slide(self, frames: int) -> None:
        """The caller dropped the first `frames` frames of the sequence (a sliding window): shift the stream's frame
        indices so that the next call, on the shorter codes, continues it."""
        if self._codes is None:
            return
        self._codes = self._codes[:, frames:]
        self._first -= frames
        if self._first < 0:
            self._features, self._first = self._features[:, -self._first :], 0

    def features(self, start: int) -> torch.Tensor:
        """The slices computed so far for frames `start..n-1` (n = frames decoded)."""
        if self._features is None or start < self._first:
            raise ValueError(f"No slices stored from frame {start}.")
        return self._features[:, start - self._first :]

    def _start_stream(self, codes: torch.LongTensor, attention_mask) -> torch.Tensor | None:
        """Decode each row from its first real frame; returns `[B, (history + L - start) ...]` or None if a row is
        too short for a first stream chunk (then nothing is stored and the caller decodes without state)."""
        length = codes.shape[1]
        starts = [0] * codes.shape[0] if attention_mask is None else _first_real_frames(attention_mask)
        if any(length - s < self.decoder.min_first_frames for s in starts):
            return None
        hop, history = self.feature_extractor.hop_length, self.history_frames
        rows, states = [], []
        for b, s in enumerate(starts):
            audio, state = self.decode_stream(codes[b : b + 1, s:], None)
            # Audio aligned with the frames s - history .. L-1: zeros before the row's start, as the clip alone.
            audio = torch.nn.functional.pad(audio, ((history + s) * hop, 0))
            rows.append(audio)
            states.append(state)
        self._state = states[0] if len(states) == 1 else cat_states(states)
        return torch.cat(rows)  # [B, (history + L) * hop]

    @torch.no_grad()
    def __call__(self, codes: torch.LongTensor, start: int, attention_mask=None) -> torch.Tensor:
        if self.decoder is None:
            return self._windowed(codes, start)
        hop, history = self.feature_extractor.hop_length, self.history_frames
        length = codes.shape[1]
        if self._continues(codes) and start >= self._first:
            n = self._codes.shape[1]
            if length > n:
                audio, self._state = self.decode_stream(codes[:, n:], self._state)
                audio = torch.cat([self._tail, audio.to(self._tail)], dim=1)  # frames n - history .. L-1
                new = self._slices(audio, length - n)
                self._features = torch.cat([self._features, new.to(self._features)], dim=1)
                self._tail = audio[:, -history * hop :]
                self._codes = codes.to(self._codes.device)
            return self._features[:, start - self._first : length - self._first]
        self.reset()
        audio = self._start_stream(codes, attention_mask)
        if audio is None:  # a row shorter than a first stream chunk: decode it whole, store nothing
            return self._windowed(codes, start, attention_mask)
        self._codes, self._first = codes.clone(), start
        self._features = self._slices(audio[:, start * hop :], length - start)
        self._tail = audio[:, -history * hop :]
        return self._features

    @torch.no_grad()
    def _windowed(self, codes: torch.LongTensor, start: int, attention_mask=None) -> torch.Tensor:
        """Re-decode a window of `context_frames` frames before `start` (the fallback; rows from their own start)."""
        starts = [0] * codes.shape[0] if attention_mask is None else _first_real_frames(attention_mask)
        hop, history = self.feature_extractor.hop_length, self.history_frames
        rows = []
        for b in range(codes.shape[0]) if len(set(starts)) > 1 else [None]:
            row = codes if b is None else codes[b : b + 1]
            row_start = starts[0] if b is None else starts[b]
            first = max(row_start, start - self.context_frames)
            audio = self.decode(row[:, first:])
            # Keep the samples the slices' STFT windows cover; zeros stand in before the row's start.
            audio = torch.nn.functional.pad(audio, (max(0, history - (start - first)) * hop, 0))
            rows.append(audio[:, audio.shape[1] - (codes.shape[1] - start + history) * hop :])
        return self._slices(torch.cat(rows), codes.shape[1] - start)


class WhisperGPTFineCodeSampler:
    """
    The fine codebooks 2..K of one `generate()` call on a `num_codebooks = K > 1` model.

    `GenerationMixin` samples the coarse code of frame t + 1 from the trunk's logits at t; the model's forward leaves
    its last hidden state (frame t) in `hidden`, and `extend` (called from `prepare_inputs_for_generation` with the
    sequence that now holds the new coarse code, and once more after generation) runs the depth head codebook by
    codebook: codebook k of frame t + 1 from that state and codebooks 1..k-1, greedy or sampled with the call's
    `temperature`, `top_k` and `top_p` (transformers' own warpers, as for the coarse code).

    Args:
        depth_head: the model's `WhisperGPTDepthHead`.
        fine_input_ids: the prompt's fine codes `[B, P, K - 1]`.
        generation_config: the call's resolved `GenerationConfig` (`do_sample`, `temperature`, `top_k`, `top_p`).
    """

    def __init__(self, depth_head, fine_input_ids: torch.LongTensor, generation_config):
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        self.depth_head = depth_head
        self.codes = fine_input_ids.long()  # [B, n, K - 1]
        self.hidden = None  # the trunk's last hidden state [B, hidden_size], written by the model's forward
        config = generation_config
        self.do_sample = bool(config.do_sample)
        self.warpers = LogitsProcessorList()
        if self.do_sample:
            if config.temperature is not None and config.temperature != 1.0:
                self.warpers.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k is not None and config.top_k != 0:
                self.warpers.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
            if config.top_p is not None and config.top_p < 1.0:
                self.warpers.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))

    @torch.no_grad()
    def sample(self, hidden: torch.Tensor, coarse: torch.LongTensor) -> torch.LongTensor:
        """Fine codes `[B, K - 1]` of one frame from the trunk state before it `[B, H]` and its coarse code `[B]`."""
        chosen = coarse[:, None]
        for _ in range(self.depth_head.levels):
            scores = self.depth_head(hidden, chosen)[:, -1].float()  # logits of the next codebook
            if self.do_sample:
                scores = self.warpers(chosen, scores)
                code = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)
            else:
                code = scores.argmax(-1, keepdim=True)
            chosen = torch.cat([chosen, code], dim=1)
        return chosen[:, 1:]

    def extend(self, input_ids: torch.LongTensor) -> None:
        """Bring the fine codes up to `input_ids`' length (at most one new frame per call)."""
        if self.codes.shape[0] != input_ids.shape[0]:  # num_return_sequences expands the prompt rows
            if input_ids.shape[0] % self.codes.shape[0]:
                raise ValueError(f"{input_ids.shape[0]} sequences for {self.codes.shape[0]} prompts' fine codes.")
            self.codes = self.codes.repeat_interleave(input_ids.shape[0] // self.codes.shape[0], dim=0)
        have, length = self.codes.shape[1], input_ids.shape[1]
        if length == have:
            return
        if length != have + 1 or self.hidden is None:
            raise RuntimeError(f"fine codes for {have} frames cannot be extended to {length} frames in one step.")
        new = self.sample(self.hidden, input_ids[:, -1].to(self.hidden.device))
        self.codes = torch.cat([self.codes, new[:, None].to(self.codes.device)], dim=1)

    def full(self, input_ids: torch.LongTensor) -> torch.LongTensor:
        """All codebooks `[B, L, K]`: the coarse `input_ids` first."""
        return torch.cat([input_ids[..., None], self.codes.to(input_ids.device)], dim=-1)


class _FullFrameStreamer:
    """Hands a `num_codebooks = K` model's streamer whole frames `[B, n, K]`: GenerationMixin puts a frame's coarse
    code before the depth head has chosen its fine codes (the next step does), so each frame is held one step."""

    def __init__(self, streamer, sampler: WhisperGPTFineCodeSampler):
        self.streamer, self.sampler = streamer, sampler
        self._pending: list[torch.Tensor] = []  # coarse codes [B, 1] put but not yet forwarded
        self._sent = None  # frames forwarded so far

    def put(self, value):
        value = torch.as_tensor(value)
        if self._sent is None:  # the prompt: its fine codes are given
            prompt = value if value.ndim == 2 else value[None]
            self._sent = prompt.shape[1]
            self.streamer.put(torch.cat([prompt[..., None].cpu(), self.sampler.codes[:, : self._sent].cpu()], -1))
            return
        self._pending.append(value.reshape(-1, 1).cpu())
        self.flush()

    def flush(self):
        ready = min(len(self._pending), self.sampler.codes.shape[1] - self._sent)
        if ready > 0:
            coarse = torch.cat(self._pending[:ready], dim=1)
            fine = self.sampler.codes[:, self._sent : self._sent + ready].cpu()
            self._pending, self._sent = self._pending[ready:], self._sent + ready
            self.streamer.put(torch.cat([coarse[..., None], fine], dim=-1))

    def end(self):
        pass  # the last frame's fine codes come after generation: see finish()

    def finish(self):
        self.flush()
        self.streamer.end()


def _codec_layout(codes: torch.LongTensor) -> torch.LongTensor:
    """`[B, T]` or `[B, T, K]` model-side codes -> the codec's `[B, K, T]`."""
    return codes[:, None, :] if codes.ndim == 2 else codes.transpose(1, 2)


def _first_real_frames(attention_mask) -> list[int]:
    """Index of each row's first real frame in a left-padded `attention_mask` `[B, L]`."""
    mask = torch.as_tensor(attention_mask).bool()
    return [int(i) for i in mask.to(torch.int8).argmax(-1).tolist()]


def features_for_generation_step(
    input_ids: torch.LongTensor,
    input_features: torch.Tensor | None,
    spectrogram_feedback: Any,
    next_sequence_length: int | None,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mel slices for the positions one generation step feeds (all of them without a cache, the new ones with).

    Positions covered by the prompt's `input_features` take them; later positions come from `spectrogram_feedback`
    (given the `attention_mask`, so that each left-padded row is decoded from its own first frame).
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
        if attention_mask is not None and isinstance(spectrogram_feedback, WhisperGPTSpectrogramFeedback):
            new = spectrogram_feedback(input_ids, max(start, have), attention_mask=attention_mask)
        else:  # any callable (codes, start) -> slices
            new = spectrogram_feedback(input_ids, max(start, have))
        reference = input_features if input_features is not None else new
        parts.append(new.to(device=input_ids.device, dtype=reference.dtype))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


class _RoundStreamer:
    """Forwards one `generate()` round's tokens to the user's streamer: the prompt of the first round only (later
    rounds' prompts are the sliding window, already streamed), and `end()` only when `continue_audio` finishes."""

    def __init__(self, streamer):
        self.streamer, self.rounds, self._prompt_pending = streamer, 0, True

    def new_round(self):
        self.rounds += 1
        self._prompt_pending = True

    def put(self, value):
        if self._prompt_pending:
            self._prompt_pending = False
            if self.rounds > 1:
                return
        self.streamer.put(value)

    def end(self):
        pass


def _is_batch(audio) -> bool:
    """A list or tuple of clips is a batch (a plain list of numbers is one clip)."""
    return isinstance(audio, (list, tuple)) and not (len(audio) > 0 and np.isscalar(audio[0]))


def _extend_stride_frames(extend_stride: float | None, context: int, frame_rate: float) -> int:
    stride = context // 2 if extend_stride is None else int(round(extend_stride * frame_rate))
    if not 1 <= stride <= context - 1:
        raise ValueError(
            f"extend_stride must give between 1 and {context - 1} frames (the context is {context} frames, "
            f"{context / frame_rate:.2f} s), got {extend_stride} s = {stride} frames."
        )
    return stride


@torch.no_grad()
def continue_audio(
    model,
    processor,
    audio,
    sampling_rate: int,
    seconds: float,
    seed: int | None = 0,
    do_sample: bool = True,
    top_k: int | None = 50,
    temperature: float = 1.0,
    context_frames: int = 20,
    extend_stride: float | None = None,
    streamer=None,
    **generate_kwargs,
):
    """
    Continue mono audio prompt(s) by `seconds` and return prompt + continuation as float32 audio at the codec rate.

    Args:
        audio: one clip (1-D array) or a list of clips. One clip gives one array back, a list gives a list, each
            item its own prompt (whole frames) + continuation. A list is generated as one left-padded batch, and
            each item equals what the clip alone gives (greedy; with sampling the rows share one random stream).
        seconds: continuation length, any length: when prompt + continuation exceed the model's context
            (`max_position_embeddings` frames), generation slides a window, as audiocraft's `extend_stride`: once
            the context is full, the last `context - stride` frames become the prompt of the next round (positions
            restart at 0) and `stride` new frames are generated, until `seconds` are made. The model therefore sees
            at most `context` frames, and at least `context - stride` frames of the past. The part that fits in the
            context equals one in-context call with the same seed. A prompt longer than the context is cut to its
            last `context - stride` frames for the model (the output still holds the whole prompt).
        extend_stride: seconds generated per round after the first (default: half the context).
        seed: seeds torch's global generator for this call (restored afterwards); `None` leaves it alone.
        streamer: a `WhisperGPTAudioStreamer` (batch of one): receives the generated frames as they are made,
            across rounds.
        context_frames: the window of the spectrogram feedback's fallback for non-causal codecs.

    The prompt is tokenized by the processor (codes + causal mel slices); the hybrid model's generated frames are
    fed back through the codec (stateful causal decode) and the mel front end. The same `seed` gives the same audio.
    """
    config = model.config
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive, finite number of seconds to generate, got {seconds!r}.")
    fe = processor.feature_extractor
    if (fe.sampling_rate, fe.hop_length) != (config.codec_sampling_rate, config.codec_hop_length):
        raise ValueError(
            f"The model was built for {config.codec_sampling_rate} Hz audio with hop {config.codec_hop_length} "
            f"(codec_sampling_rate, codec_hop_length) but the processor works at {fe.sampling_rate} Hz with hop "
            f"{fe.hop_length}: they must share one time grid. Use the processor the model was trained with."
        )
    if isinstance(audio, (str, bytes, os.PathLike)):
        raise ValueError(
            f"audio is a {type(audio).__name__}; pass a 1-D float array (or a list of them): continue_audio takes "
            f"arrays, not paths like {audio!r}. Load the file first (e.g. soundfile.read, mono at 24 kHz), or pass "
            'the path to pipeline("audio-continuation", ...), which reads files.'
        )
    single = not _is_batch(audio)
    clips = [audio] if single else list(audio)
    levels = getattr(config, "num_codebooks", 1)
    extra = {"num_codebooks": levels} if levels > 1 else {}  # a full-bandwidth model continues all K codebooks
    inputs = processor(audio=clips, sampling_rate=sampling_rate, return_tensors="pt", padding_side="left", **extra)
    new_frames = int(round(seconds * config.frame_rate))
    if new_frames <= 0:
        raise ValueError(f"seconds must give at least one frame (1/{config.frame_rate:g} s), got {seconds}.")
    context = config.max_position_embeddings
    stride = _extend_stride_frames(extend_stride, context, config.frame_rate)
    keep = context - stride
    device = model.device
    prompt_ids, prompt_mask = inputs["input_ids"], inputs["attention_mask"]
    ids, mask = prompt_ids.to(device), prompt_mask.to(device)
    features = inputs["input_features"].to(device) if config.use_spectrogram else None
    fine = inputs["fine_input_ids"].to(device) if levels > 1 else None
    if ids.shape[1] >= context:  # only the last `keep` frames of a long prompt fit as context
        ids, mask = ids[:, -keep:], mask[:, -keep:]
        features = features[:, -keep:] if features is not None else None
        fine = fine[:, -keep:] if fine is not None else None
    feedback = None
    if config.use_spectrogram:
        feedback = WhisperGPTSpectrogramFeedback(
            processor.audio_tokenizer, processor.feature_extractor, context_frames=context_frames
        )
    rounds = _RoundStreamer(streamer) if streamer is not None else None
    generator_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    generated, remaining = [], new_frames
    try:
        while remaining > 0:
            n = min(remaining, context - ids.shape[1])
            kwargs: dict[str, Any] = dict(
                input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=do_sample,
            )
            if do_sample:
                kwargs.update(top_k=top_k, temperature=temperature)
            if feedback is not None:
                kwargs.update(input_features=features, spectrogram_feedback=feedback)
            if fine is not None:
                kwargs["fine_input_ids"] = fine
            if rounds is not None:
                rounds.new_round()
                kwargs["streamer"] = rounds
            kwargs.update(generate_kwargs)
            out = model.generate(**kwargs)
            generated.append(out[:, ids.shape[1] :])
            remaining -= n
            if remaining > 0:  # slide: keep the last `keep` frames as the next round's prompt
                drop = out.shape[1] - keep
                if feedback is not None:
                    features = torch.cat([features, feedback.features(ids.shape[1]).to(features)], dim=1)[:, drop:]
                    feedback.slide(drop)
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], n)], dim=1)[:, drop:]
                ids = out[:, drop:]
                if fine is not None:  # out is [B, L, K]
                    ids, fine = ids[..., 0], ids[..., 1:]
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)
        if streamer is not None:
            streamer.end()
    if levels > 1:  # all K codebooks of the prompt and of the continuation
        prompt_ids = torch.cat([prompt_ids[..., None], inputs["fine_input_ids"]], dim=-1)
    codes = torch.cat([prompt_ids, *[g.cpu() for g in generated]], dim=1)
    full_mask = torch.cat([prompt_mask, prompt_mask.new_ones(prompt_mask.shape[0], new_frames)], dim=1)
    audio_out = processor.batch_decode(codes, attention_mask=full_mask)
    return audio_out[0] if single else audio_out


__all__ = [
    "WhisperGPTSpectrogramFeedback",
    "WhisperGPTFineCodeSampler",
    "features_for_generation_step",
    "continue_audio",
]
