"""Batches, long-form and defaults of generation (issue 9, items 1, 4, 5 and 7)."""

import numpy as np
import pytest
import torch
from helpers import HOP, SR, test_audio, tiny_model, tiny_processor
from transformers import GenerationConfig

from whisper_gpt_hf import WhisperGPTForCausalLM, WhisperGPTSpectrogramFeedback, continue_audio
from whisper_gpt_hf.modeling.modeling_whisper_gpt import GENERATION_DEFAULTS


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


CLIPS = [test_audio(0.4, 0), test_audio(0.25, 1), test_audio(0.33, 2)]


def test_left_padding_moves_codes_features_and_mask(processor):
    right = processor(audio=CLIPS, sampling_rate=SR)
    left = processor(audio=CLIPS, sampling_rate=SR, padding_side="left")
    for b, clip in enumerate(CLIPS):
        n = int(np.ceil(len(clip) / HOP))
        assert int(left["attention_mask"][b].sum()) == n and bool(left["attention_mask"][b, -n:].all())
        for key in ("input_ids", "input_features"):
            torch.testing.assert_close(left[key][b, -n:], right[key][b, :n], rtol=0, atol=0)
    with pytest.raises(ValueError, match="padding_side"):
        processor(audio=CLIPS, sampling_rate=SR, padding_side="middle")


@pytest.mark.parametrize("hybrid", [False, True])
def test_left_padded_batch_equals_each_prompt_alone(processor, hybrid):
    model = tiny_model(hybrid)
    batch = processor(audio=CLIPS, sampling_rate=SR, padding_side="left")
    kwargs = dict(max_new_tokens=15, do_sample=False)
    if hybrid:
        kwargs["spectrogram_feedback"] = WhisperGPTSpectrogramFeedback(processor.audio_tokenizer,
                                                                        processor.feature_extractor)
    out = model.generate(**batch, **kwargs)
    for b, clip in enumerate(CLIPS):
        alone = model.generate(**processor(audio=clip, sampling_rate=SR), **kwargs)
        assert torch.equal(out[b, -15:], alone[0, -15:]), b


def test_right_padded_batch_is_refused(processor):
    batch = processor(audio=CLIPS, sampling_rate=SR)  # right-padded (the default)
    with pytest.raises(ValueError, match='padding_side="left"'):
        tiny_model(False).generate(**batch, max_new_tokens=3)


def test_continue_audio_list_in_list_out(processor):
    model = tiny_model(True)
    outs = continue_audio(model, processor, CLIPS, SR, seconds=0.1, do_sample=False)
    assert isinstance(outs, list) and len(outs) == 3
    for clip, out in zip(CLIPS, outs):
        alone = continue_audio(model, processor, clip, SR, seconds=0.1, do_sample=False)
        assert isinstance(alone, np.ndarray)
        assert out.shape == ((int(np.ceil(len(clip) / HOP)) + 8) * HOP,)
        np.testing.assert_allclose(out, alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hybrid", [False, True])
def test_continuation_past_the_context(processor, hybrid):
    # Context 40 frames, prompt 10 (0.13 s): 60 new frames need two slides of the default stride (20 frames).
    model = tiny_model(hybrid, max_position_embeddings=40)
    clip = test_audio(0.13)
    prompt_frames = int(np.ceil(len(clip) / HOP))
    long = continue_audio(model, processor, clip, SR, seconds=60 / 75, seed=5)
    assert long.shape == ((prompt_frames + 60) * HOP,)
    fits = continue_audio(model, processor, clip, SR, seconds=(40 - prompt_frames) / 75, seed=5)
    # The part that fits in the context equals one in-context call with the same seed.
    np.testing.assert_allclose(long[: fits.shape[0]], fits, rtol=0, atol=1e-5)
    assert np.abs(long[fits.shape[0]:]).max() > 0
    with pytest.raises(ValueError, match="extend_stride"):
        continue_audio(model, processor, clip, SR, seconds=1.0, extend_stride=1.0)


def test_sliding_feedback_continues_the_codec_stream(processor):
    # With greedy decoding, the window slide only changes what the *model* sees: the slices fed back for frames of
    # later rounds are the front end on one full decode of all codes (the codec state carries across rounds).
    model = tiny_model(True, max_position_embeddings=30)
    fb_calls = []

    class Recording(WhisperGPTSpectrogramFeedback):
        def __call__(self, codes, start, attention_mask=None):
            out = super().__call__(codes, start, attention_mask)
            fb_calls.append(out)
            return out

    clip = test_audio(0.1)
    from whisper_gpt_hf.modeling import generation_whisper_gpt as gen

    original = gen.WhisperGPTSpectrogramFeedback
    gen.WhisperGPTSpectrogramFeedback = Recording
    try:
        audio = continue_audio(model, processor, clip, SR, seconds=40 / 75, do_sample=False)
    finally:
        gen.WhisperGPTSpectrogramFeedback = original
    frames = audio.shape[0] // HOP
    assert frames == int(np.ceil(len(clip) / HOP)) + 40
    assert len(fb_calls) > 30  # several rounds (context 30 frames, stride 15)
    fed = torch.cat(fb_calls, dim=1)[0]  # one slice per generated frame except the last
    reference = processor.feature_extractor.extract(torch.from_numpy(audio)[None])[0]
    start = frames - 40
    torch.testing.assert_close(fed, reference[start : start + fed.shape[0]], rtol=0, atol=1e-4)


def test_generation_defaults_are_saved(tmp_path, processor):
    model = tiny_model(False)
    model.save_pretrained(tmp_path)
    config = GenerationConfig.from_pretrained(tmp_path)
    for key, value in GENERATION_DEFAULTS.items():
        assert getattr(config, key) == value
    loaded = WhisperGPTForCausalLM.from_pretrained(tmp_path)
    out = loaded.generate(**processor(audio=CLIPS[0], sampling_rate=SR))
    assert out.shape[1] - int(np.ceil(len(CLIPS[0]) / HOP)) == GENERATION_DEFAULTS["max_new_tokens"]


def test_checkpoints_without_defaults_get_them_and_user_configs_are_kept(tmp_path):
    model = tiny_model(False)
    model.generation_config = GenerationConfig.from_model_config(model.config)  # as a checkpoint saved before
    model.save_pretrained(tmp_path / "old")
    assert GenerationConfig.from_pretrained(tmp_path / "old").max_new_tokens == GENERATION_DEFAULTS["max_new_tokens"]
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=7)  # the user's own choice
    model.save_pretrained(tmp_path / "mine")
    mine = GenerationConfig.from_pretrained(tmp_path / "mine")
    assert (mine.do_sample, mine.max_new_tokens, mine.top_k) == (False, 7, GenerationConfig().top_k)
