"""WhisperGPTAudioStreamer (issue 9, item 3): chunks as generate() makes them, equal to one decode."""

from threading import Thread

import numpy as np
import pytest
import torch
from helpers import HOP, SR, test_audio, tiny_model, tiny_processor

from whisper_gpt_hf import WhisperGPTAudioStreamer, WhisperGPTSpectrogramFeedback, continue_audio


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.mark.parametrize("hybrid", [False, True])
def test_streamed_chunks_equal_the_decode_of_the_generated_frames(processor, hybrid):
    model = tiny_model(hybrid)
    inputs = processor(audio=test_audio(0.3), sampling_rate=SR)
    prompt_frames = inputs["input_ids"].shape[1]
    streamer = WhisperGPTAudioStreamer(processor, chunk_frames=4)
    kwargs = dict(**inputs, max_new_tokens=18, do_sample=True, top_k=8, streamer=streamer)
    if hybrid:
        kwargs["spectrogram_feedback"] = WhisperGPTSpectrogramFeedback(processor.audio_tokenizer,
                                                                        processor.feature_extractor)
    result = {}
    torch.manual_seed(0)
    thread = Thread(target=lambda: result.setdefault("codes", model.generate(**kwargs)))
    thread.start()
    chunks = list(streamer)  # iterated from this thread while generate() runs in the other
    thread.join()
    assert [c.dtype for c in chunks] == [np.float32] * len(chunks)
    assert [c.shape[0] // HOP for c in chunks] == [4, 4, 4, 4, 2]
    reference = processor.batch_decode(result["codes"])[0][prompt_frames * HOP :]
    np.testing.assert_allclose(np.concatenate(chunks), reference, rtol=0, atol=1e-4)


def test_streamer_through_continue_audio_past_the_context(processor):
    # The sliding window's later prompts are not streamed again: the chunks are exactly the continuation.
    model = tiny_model(False, max_position_embeddings=30)
    clip = test_audio(0.1)
    streamer = WhisperGPTAudioStreamer(processor, chunk_frames=5, include_prompt=True)
    result = {}
    thread = Thread(target=lambda: result.setdefault("audio", continue_audio(
        model, processor, clip, SR, seconds=50 / 75, seed=1, streamer=streamer)))
    thread.start()
    streamed = np.concatenate(list(streamer))
    thread.join()
    np.testing.assert_allclose(streamed, result["audio"], rtol=0, atol=1e-4)


def test_batches_of_more_than_one_are_refused(processor):
    streamer = WhisperGPTAudioStreamer(processor)
    with pytest.raises(ValueError, match="batches of one"):
        streamer.put(torch.zeros(2, 5, dtype=torch.long))


def test_generate_cli_stream_past_the_context_equals_the_plain_write(processor, tmp_path):
    import soundfile as sf

    from whisper_gpt_hf.cli import main as cli_main

    model_dir = tmp_path / "model"
    tiny_model(True, max_position_embeddings=40).save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    sf.write(tmp_path / "in.wav", test_audio(0.1), SR)
    common = ["generate", "--model", str(model_dir), "--prompt", str(tmp_path / "in.wav"), "--seconds", "1.0",
              "--seed", "3"]
    assert cli_main([*common, "--output", str(tmp_path / "plain.wav")]) == 0
    assert cli_main([*common, "--output", str(tmp_path / "streamed.wav"), "--stream"]) == 0
    plain, rate = sf.read(tmp_path / "plain.wav", dtype="int16")
    streamed, _ = sf.read(tmp_path / "streamed.wav", dtype="int16")
    assert rate == SR and plain.shape == ((8 + 75) * HOP,)  # 1 s = 75 frames past a 40-frame context
    assert np.abs(plain.astype(int) - streamed.astype(int)).max() <= 2  # the same audio, to 16-bit rounding
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []  # no temporary file left
