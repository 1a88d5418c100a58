"""Stateful causal codec decoding (issue 9, item 2): frame-by-frame decodes equal one full decode."""

import functools

import pytest
import torch
from helpers import SR, kmeans_codec, test_audio, tiny_processor
from transformers import EncodecConfig, EncodecModel

from whisper_gpt_hf import WhisperGPTSpectrogramFeedback, WhisperGPTStreamingCodecDecoder
from whisper_gpt_hf.assets import PROCESSOR_DEFAULT
from whisper_gpt_hf.modeling.codec_streaming_whisper_gpt import CodecNotStreamableError


@functools.lru_cache(maxsize=None)
def full_size_codec() -> EncodecModel:
    """EnCodec 24 kHz's architecture (14.85M parameters), random weights and random codebooks (nothing downloaded;
    a random EncodecModel's codebooks are all zero, which would decode every code to the same audio)."""
    torch.manual_seed(0)
    codec = EncodecModel(EncodecConfig()).eval()
    with torch.no_grad():
        for layer in codec.quantizer.layers:
            layer.codebook.embed.normal_()
    return codec


def committed_codec() -> EncodecModel:
    return EncodecModel.from_pretrained(str(PROCESSOR_DEFAULT / "audio_tokenizer")).eval()


CODECS = {"committed": committed_codec, "encodec-24khz-size": full_size_codec, "tiny-kmeans": kmeans_codec}


def full_decode(codec, codes):
    with torch.no_grad():
        return codec.decode(codes[None], [None]).audio_values[:, 0]


@pytest.mark.parametrize("name", list(CODECS))
def test_frame_by_frame_equals_full_decode(name):
    codec = CODECS[name]()
    decoder = WhisperGPTStreamingCodecDecoder(codec)
    torch.manual_seed(1)
    codes = torch.randint(0, codec.config.codebook_size, (2, 1, 40))
    reference = full_decode(codec, codes)
    first = max(decoder.min_first_frames, 9)
    audio, state = decoder(codes[..., :first])
    parts = [audio]
    t = first
    while t < 40:  # one frame per call, then chunks of 3
        step = 1 if t < 34 else 3
        audio, state = decoder(codes[..., t : t + step], state)
        parts.append(audio)
        t += step
    streamed = torch.cat(parts, dim=-1)
    assert streamed.shape == reference.shape == (2, 40 * decoder.hop)
    torch.testing.assert_close(streamed, reference, rtol=0, atol=1e-5)
    assert reference.abs().max() > 1e-3  # not trivially silent


def test_all_codebooks_are_decoded():
    # Multi-codebook codes [B, K, T] stream as well (later multi-codebook models pass all of them).
    codec = full_size_codec()
    decoder = WhisperGPTStreamingCodecDecoder(codec)
    codes = torch.randint(0, 1024, (1, 4, 20))
    audio, state = decoder(codes[..., :12])
    rest, _ = decoder(codes[..., 12:], state)
    torch.testing.assert_close(torch.cat([audio, rest], -1), full_decode(codec, codes), rtol=0, atol=1e-5)


def test_reflect_padded_codec_needs_a_long_enough_first_chunk():
    decoder = WhisperGPTStreamingCodecDecoder(full_size_codec())  # pad_mode="reflect" (EnCodec's default)
    assert decoder.min_first_frames > 1
    with pytest.raises(ValueError, match="at least"):
        decoder(torch.zeros(1, 1, decoder.min_first_frames - 1, dtype=torch.long))


def test_non_causal_codec_is_refused_and_feedback_falls_back():
    codec = EncodecModel(EncodecConfig(use_causal_conv=False, num_filters=4, hidden_size=16, num_lstm_layers=1,
                                       codebook_size=64)).eval()
    with pytest.raises(CodecNotStreamableError):
        WhisperGPTStreamingCodecDecoder(codec)
    fe = tiny_processor().feature_extractor
    assert WhisperGPTSpectrogramFeedback(codec, fe).decoder is None  # the window fallback


@pytest.mark.parametrize("name", ["committed", "encodec-24khz-size"])
def test_stateful_feedback_equals_front_end_on_the_full_decode(name):
    # Step by step, the slices fed back equal the mel front end applied to one full decode of all codes.
    codec = CODECS[name]()
    processor = tiny_processor()
    fe = processor.feature_extractor
    feedback = WhisperGPTSpectrogramFeedback(codec, fe)
    assert feedback.decoder is not None
    torch.manual_seed(2)
    codes = torch.randint(0, codec.config.codebook_size, (1, 30))
    prompt = 12
    fed = [feedback(codes[:, : t + 1], t) for t in range(prompt, 30)]  # as generate() calls it
    fed = torch.cat(fed, dim=1)
    reference = fe.extract(full_decode(codec, codes[:, None]))[:, prompt:]
    torch.testing.assert_close(fed, reference, rtol=0, atol=1e-4)


def test_feedback_of_a_left_padded_row_equals_the_row_alone():
    processor = tiny_processor()
    codec, fe = processor.audio_tokenizer, processor.feature_extractor
    torch.manual_seed(3)
    codes = torch.randint(0, 64, (2, 20))
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, :6] = 0  # row 1 starts at frame 6
    batch_fb = WhisperGPTSpectrogramFeedback(codec, fe)
    alone_fb = WhisperGPTSpectrogramFeedback(codec, fe)
    for t in range(14, 20):
        full_mask = torch.ones(2, t + 1, dtype=torch.long)
        full_mask[:, :20] = mask[:, : t + 1]
        batch = batch_fb(codes[:, : t + 1], t, attention_mask=full_mask)
        alone = alone_fb(codes[1:, 6 : t + 1], t - 6)
        torch.testing.assert_close(batch[1:], alone, rtol=0, atol=1e-5)


def test_windowed_and_stateful_feedback_agree_on_the_small_codec():
    processor = tiny_processor()
    audio = test_audio(0.3)
    codes = processor(audio=audio, sampling_rate=SR)["input_ids"]
    codec, fe = processor.audio_tokenizer, processor.feature_extractor
    stateful = WhisperGPTSpectrogramFeedback(codec, fe)
    windowed = WhisperGPTSpectrogramFeedback(codec, fe, stateful=False)
    start = codes.shape[1] - 5
    torch.testing.assert_close(stateful(codes, start), windowed(codes, start), rtol=0, atol=2e-3)


@pytest.mark.parametrize("name", ["committed", "encodec-24khz-size"])
def test_long_continuation_chunks_equal_the_full_decode(name):
    # Chunks long enough for the convolution kernels (not the per-step matmul forms) continue the state too.
    codec = CODECS[name]()
    decoder = WhisperGPTStreamingCodecDecoder(codec)
    codes = torch.randint(0, codec.config.codebook_size, (1, 1, 50))
    audio, state = decoder(codes[..., :10])
    rest, state = decoder(codes[..., 10:40], state)  # 9,600 samples in one call
    last, _ = decoder(codes[..., 40:], state)
    torch.testing.assert_close(torch.cat([audio, rest, last], -1), full_decode(codec, codes), rtol=0, atol=1e-5)
