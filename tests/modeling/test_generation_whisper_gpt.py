import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import HOP, SR, test_audio, tiny_model, tiny_processor

from whisper_gpt_hf import WhisperGPTSpectrogramFeedback, continue_audio
from whisper_gpt_hf.cli import main as cli_main


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.fixture(scope="module")
def prompt(processor):
    return processor(audio=test_audio(0.4), sampling_rate=SR)


def feedback(processor, context_frames=20):
    return WhisperGPTSpectrogramFeedback(processor.audio_tokenizer, processor.feature_extractor, context_frames)


def test_cached_greedy_equals_uncached_token_only(prompt):
    model = tiny_model(False)
    kwargs = dict(input_ids=prompt["input_ids"], attention_mask=prompt["attention_mask"], max_new_tokens=12,
                  do_sample=False, pad_token_id=0)
    cached = model.generate(**kwargs)
    uncached = model.generate(**kwargs, use_cache=False)
    assert cached.shape == (1, prompt["input_ids"].shape[1] + 12)
    assert torch.equal(cached, uncached)


def test_cached_greedy_equals_uncached_hybrid_with_feedback(processor, prompt):
    model = tiny_model(True)
    kwargs = dict(**prompt, spectrogram_feedback=feedback(processor), max_new_tokens=12, do_sample=False,
                  pad_token_id=0)
    cached = model.generate(**kwargs)
    uncached = model.generate(**kwargs, use_cache=False)
    assert torch.equal(cached, uncached)


def test_feedback_is_the_front_end_on_decoded_codes(processor, prompt):
    # The slice fed for a generated frame equals the front end applied to the full decode of all codes so far:
    # the 20-frame decode window reproduces the full decode (EnCodec decodes causally).
    model = tiny_model(True)
    codes = model.generate(**prompt, spectrogram_feedback=feedback(processor), max_new_tokens=30, do_sample=True,
                           top_k=5, pad_token_id=0)
    start = prompt["input_ids"].shape[1]
    full_audio = torch.from_numpy(processor.decode(codes[0]))[None]
    reference = processor.feature_extractor.extract(full_audio)[:, start:]
    fed = feedback(processor)(codes, start)
    torch.testing.assert_close(fed, reference, rtol=0, atol=2e-3)


def test_generated_frames_change_with_the_fed_back_slices(processor, prompt):
    # Feedback matters: a different (wrong) feedback track changes the hybrid's continuation.
    model = tiny_model(True)

    class Silence(WhisperGPTSpectrogramFeedback):
        def __call__(self, codes, start, **kwargs):
            return torch.full((codes.shape[0], codes.shape[1] - start, 16), -1.5)

    good = model.generate(**prompt, spectrogram_feedback=feedback(processor), max_new_tokens=25, do_sample=False)
    bad = model.generate(**prompt, spectrogram_feedback=Silence(processor.audio_tokenizer, processor.feature_extractor),
                         max_new_tokens=25, do_sample=False)
    assert not torch.equal(good, bad)


def test_decoding_options_run(processor, prompt):
    model = tiny_model(True)
    fb = feedback(processor)
    beams = model.generate(**prompt, spectrogram_feedback=fb, max_new_tokens=6, num_beams=3, num_return_sequences=2)
    assert beams.shape == (2, prompt["input_ids"].shape[1] + 6)
    sampled = model.generate(**prompt, spectrogram_feedback=fb, max_new_tokens=6, do_sample=True, top_p=0.9,
                             temperature=0.8, num_return_sequences=3)
    assert sampled.shape[0] == 3 and int(sampled.max()) < 64
    # a left-padded batch of two prompts
    batch = processor(audio=[test_audio(0.4, 0), test_audio(0.25, 1)], sampling_rate=SR)
    n = batch["attention_mask"].sum(1)
    shift = int(n[0] - n[1])
    for key in ("input_ids", "input_features", "attention_mask"):
        batch[key][1] = torch.roll(batch[key][1], shift, 0)  # right padding -> left padding
    out = model.generate(**batch, spectrogram_feedback=fb, max_new_tokens=5, do_sample=False, pad_token_id=0)
    alone = model.generate(**processor(audio=test_audio(0.25, 1), sampling_rate=SR), spectrogram_feedback=fb,
                           max_new_tokens=5, do_sample=False)
    assert torch.equal(out[1, -5:], alone[0, -5:])


def test_hybrid_without_feedback_raises(prompt):
    with pytest.raises(ValueError, match="spectrogram_feedback=WhisperGPTSpectrogramFeedback"):
        tiny_model(True).generate(**prompt, max_new_tokens=3)


def test_continue_audio_same_seed_same_audio(processor):
    model = tiny_model(True)
    audio = test_audio(0.3)
    a = continue_audio(model, processor, audio, SR, seconds=0.2, seed=3)
    b = continue_audio(model, processor, audio, SR, seconds=0.2, seed=3)
    c = continue_audio(model, processor, audio, SR, seconds=0.2, seed=4)
    frames = int(np.ceil(len(audio) / HOP)) + 15
    assert a.shape == (frames * HOP,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="exceed the model's context"):  # generate() itself does not slide
        model.generate(**processor(audio=audio, sampling_rate=SR), spectrogram_feedback=feedback(processor),
                       max_new_tokens=300)


def test_generate_cli_writes_a_wav(processor, tmp_path):
    model_dir = tmp_path / "model"
    tiny_model(True).save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    stereo = np.stack([test_audio(0.3, 0), test_audio(0.3, 1)], axis=1)
    sf.write(tmp_path / "in.wav", stereo, SR)  # stereo: the CLI averages channels to mono
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for path in paths:
        assert cli_main(["generate", "--model", str(model_dir), "--prompt", str(tmp_path / "in.wav"),
                         "--seconds", "0.2", "--output", str(path), "--seed", "7"]) == 0
    a, rate = sf.read(paths[0])
    b, _ = sf.read(paths[1])
    assert rate == SR and a.shape == ((23 + 15) * HOP,)
    np.testing.assert_array_equal(a, b)
