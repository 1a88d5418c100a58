"""Audio streaming for `generate()`: the audio of generated frames as they are made, like `TextIteratorStreamer`."""

from __future__ import annotations

from queue import Queue

import numpy as np
import torch
from transformers.generation.streamers import BaseStreamer

from .codec_streaming_whisper_gpt import WhisperGPTStreamingCodecDecoder


class WhisperGPTAudioStreamer(BaseStreamer):
    """
    Pass as `model.generate(..., streamer=streamer)` (or `continue_audio(..., streamer=streamer)`) and iterate it,
    from another thread, to receive float32 mono audio chunks of the generated frames as they are made.

    The codec decodes statefully ([`WhisperGPTStreamingCodecDecoder`]): the prompt once, then only the new frames, so
    the concatenated chunks equal `processor.batch_decode(codes)[0][prompt_frames * hop:]` (float rounding aside).
    Batches of one prompt only (as transformers' text streamers). A `num_codebooks = K` model's `generate()` puts
    whole frames `[1, n, K]` (each one step late: its fine codes follow its coarse code), so all K are decoded.

    Args:
        processor: the `WhisperGPTProcessor` whose `audio_tokenizer` decodes the codes.
        chunk_frames: frames per chunk (1 frame = 320 samples = 13.3 ms at 24 kHz); the last chunk may be shorter.
        include_prompt: also yield the prompt's audio first.
        timeout: seconds the iterator waits for a chunk before `queue.Empty` is raised (`None`: forever).

    Example:

    ```python
    >>> from threading import Thread
    >>> streamer = WhisperGPTAudioStreamer(processor)
    >>> thread = Thread(target=model.generate, kwargs={**inputs, "streamer": streamer, "max_new_tokens": 75})
    >>> thread.start()
    >>> audio = np.concatenate([chunk for chunk in streamer])  # chunks arrive while generate() runs
    >>> thread.join()
    ```
    """

    def __init__(self, processor, chunk_frames: int = 3, include_prompt: bool = False, timeout: float | None = None):
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}.")
        self.processor = processor
        self.decoder = WhisperGPTStreamingCodecDecoder(processor._require_codec())
        self.chunk_frames = chunk_frames
        self.include_prompt = include_prompt
        self.timeout = timeout
        self.queue: Queue = Queue()
        self.stop_signal = None
        self.sampling_rate = processor.sampling_rate
        self._reset()

    def _reset(self) -> None:
        self._state = None
        self._pending: list[torch.Tensor] = []  # codes not decoded yet
        self._prompt_done = False
        self._skip_samples = 0  # prompt audio still to drop (include_prompt=False)

    # ------------------------------------------------------------------ generate() side
    def put(self, value) -> None:
        value = torch.as_tensor(value)
        if value.ndim == 3:  # all codebooks [1, frames, K] (a num_codebooks = K model): frames [n, K]
            if value.shape[0] > 1:
                raise ValueError("WhisperGPTAudioStreamer supports batches of one prompt only.")
            codes = value[0].cpu()
        else:
            if value.ndim == 2 and value.shape[0] > 1 or (value.ndim == 1 and value.shape[0] > 1 and self._prompt_done):
                raise ValueError("WhisperGPTAudioStreamer supports batches of one prompt only.")
            codes = value.reshape(-1).cpu()
        if not self._prompt_done:  # the first put of generate() is the prompt
            self._prompt_done = True
            if not self.include_prompt:
                self._skip_samples = codes.shape[0] * self.decoder.hop
            self._pending.append(codes)
            self._flush(force=True)
            return
        self._pending.append(codes)
        self._flush(force=False)

    def end(self) -> None:
        self._flush(force=True, final=True)
        self._reset()
        self.on_audio_chunk(None, stream_end=True)

    def _flush(self, force: bool, final: bool = False) -> None:
        if not self._pending:
            return
        codes = torch.cat(self._pending)  # [frames] or [frames, K]
        frames = codes.shape[0]
        if not force and frames < self.chunk_frames:
            return
        if self._state is None and frames < self.decoder.min_first_frames and not final:
            return  # the stream's first chunk must reach past the codec's start padding
        self._pending = []
        if self._state is None and frames < self.decoder.min_first_frames:  # a very short stream
            audio = self.processor.decode(codes if codes.ndim == 1 else codes[None])
        else:
            out, self._state = self.decoder(codes[None] if codes.ndim == 1 else codes.T[None], self._state)
            audio = out[0].cpu().numpy()
        if self._skip_samples:
            drop = min(self._skip_samples, audio.shape[0])
            audio, self._skip_samples = audio[drop:], self._skip_samples - drop
        if audio.shape[0]:
            self.on_audio_chunk(audio.astype(np.float32, copy=False), stream_end=False)

    def on_audio_chunk(self, audio: np.ndarray | None, stream_end: bool = False) -> None:
        """Called with each chunk (and `None` at the end); queues it for the iterator. Override to consume
        chunks in the generating thread instead."""
        if audio is not None:
            self.queue.put(audio, timeout=self.timeout)
        if stream_end:
            self.queue.put(self.stop_signal, timeout=self.timeout)

    # ------------------------------------------------------------------ consumer side
    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        value = self.queue.get(timeout=self.timeout)
        if value is self.stop_signal:
            raise StopIteration()
        return value


__all__ = ["WhisperGPTAudioStreamer"]
