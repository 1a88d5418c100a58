"""The full-bandwidth model (`num_codebooks = K > 1`): config, depth head, loss, causality, generation, processor."""

import numpy as np
import pytest
import torch

from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM
from whisper_gpt_hf.modeling.generation_whisper_gpt import WhisperGPTSpectrogramFeedback, continue_audio

from helpers import HOP, SR, run_without_package, test_audio, tiny_config, tiny_model, tiny_processor

DEPTH = dict(depth_hidden_size=16, depth_num_layers=2, depth_num_heads=2, depth_intermediate_size=32)


def depth_model(num_codebooks=4, seed=0, **overrides):
    return tiny_model(num_codebooks=num_codebooks, seed=seed, **DEPTH, **overrides)


def random_batch(num_codebooks=4, batch=2, frames=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 64, (batch, frames), generator=g)
    fine = torch.randint(0, 64, (batch, frames, num_codebooks - 1), generator=g)
    features = torch.randn(batch, frames, 16, generator=g)
    return ids, fine, features


# ------------------------------------------------------------------ config


def test_default_is_the_paper_model_bit_for_bit():
    assert WhisperGPTConfig().num_codebooks == 1
    # A saved config without the key (made before it existed) loads as K = 1.
    as_dict = tiny_config().to_dict()
    as_dict.pop("num_codebooks")
    assert WhisperGPTConfig.from_dict(as_dict).num_codebooks == 1
    plain, explicit = tiny_model(seed=3), tiny_model(seed=3, num_codebooks=1)
    assert plain.depth_head is None
    assert not any("depth" in name for name, _ in explicit.named_parameters())
    assert plain.num_parameters() == explicit.num_parameters()
    for (name, a), (_, b) in zip(plain.state_dict().items(), explicit.state_dict().items()):
        assert torch.equal(a, b), name
    ids, _, features = random_batch()
    out = explicit(input_ids=ids, input_features=features, labels=ids)
    assert torch.equal(out.logits, plain(input_ids=ids, input_features=features).logits)
    assert out.fine_losses is None and torch.equal(out.loss, out.coarse_loss)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "4"])
def test_num_codebooks_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match="num_codebooks"):
        tiny_config(num_codebooks=value)


def test_depth_head_shape_is_validated():
    with pytest.raises(ValueError, match="depth_hidden_size"):
        tiny_config(num_codebooks=4, depth_hidden_size=10, depth_num_heads=4)
    with pytest.raises(ValueError, match="fine_loss_weight"):
        tiny_config(num_codebooks=4, fine_loss_weight=-1.0)


def test_save_load_round_trip(tmp_path):
    model = depth_model()
    model.save_pretrained(tmp_path)
    loaded = WhisperGPTForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.num_codebooks == 4
    ids, fine, features = random_batch()
    a = model(input_ids=ids, input_features=features, fine_input_ids=fine)
    b = loaded(input_ids=ids, input_features=features, fine_input_ids=fine)
    torch.testing.assert_close(a.fine_logits, b.fine_logits)


# ------------------------------------------------------------------ loss


def test_loss_is_coarse_plus_weighted_mean_fine():
    ids, fine, features = random_batch()
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # padding never enters either loss
    for weight in (1.0, 0.5):
        model = depth_model(fine_loss_weight=weight)
        out = model(input_ids=ids, input_features=features, fine_input_ids=fine, labels=ids, attention_mask=mask)
        assert out.fine_logits.shape == (2, 9, 3, 64)
        assert out.fine_losses.shape == (3,)
        torch.testing.assert_close(out.loss, out.coarse_loss + weight * out.fine_losses.mean())
        # The coarse loss is exactly the K = 1 model's loss on the same positions.
        labels = ids.masked_fill(mask == 0, -100)
        coarse = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, 64), labels[:, 1:].reshape(-1))
        torch.testing.assert_close(out.coarse_loss, coarse)
        # Fine codebook j's NLL, by hand, over the frames whose coarse label counts.
        valid = mask[:, 1:].bool()
        for j in range(3):
            by_hand = torch.nn.functional.cross_entropy(out.fine_logits[:, :, j][valid], fine[:, 1:, j][valid])
            torch.testing.assert_close(out.fine_losses[j], by_hand)


def test_training_without_fine_codes_is_refused():
    model = depth_model().train()
    ids, fine, features = random_batch()
    with pytest.raises(ValueError, match="fine_input_ids"):
        model(input_ids=ids, input_features=features, labels=ids)
    with pytest.raises(ValueError, match="fine_input_ids has shape"):
        model(input_ids=ids, input_features=features, labels=ids, fine_input_ids=fine[..., :2])
    out = model(input_ids=ids, input_features=features, labels=ids, fine_input_ids=fine)
    out.loss.backward()
    assert model.depth_head.heads[2].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ causality


@pytest.mark.parametrize("use_spectrogram", [True, False])
@pytest.mark.parametrize("k", [1, 2, 3, 4])  # 1-based codebook changed in frame t + 1 (1 = coarse)
def test_depth_head_causality(use_spectrogram, k):
    """Changing codebook k of frame t + 1 moves no logit of codebooks <= k of that frame, nor anything at frames
    <= t; the logits of codebooks > k of frame t + 1 do move."""
    K, t = 4, 5
    model = depth_model(K, use_spectrogram=use_spectrogram)
    ids, fine, features = random_batch(K, batch=1, frames=9)
    ids2, fine2 = ids.clone(), fine.clone()
    if k == 1:
        ids2[0, t + 1] = (ids[0, t + 1] + 7) % 64
    else:
        fine2[0, t + 1, k - 2] = (fine[0, t + 1, k - 2] + 7) % 64
    a = model(input_ids=ids, input_features=features, fine_input_ids=fine)
    b = model(input_ids=ids2, input_features=features, fine_input_ids=fine2)
    # Coarse logits (codebook 1) of frames <= t + 1 come from positions <= t.
    assert torch.equal(a.logits[:, : t + 1], b.logits[:, : t + 1])
    if k > 1:  # the trunk never reads fine codes
        assert torch.equal(a.logits, b.logits)
    # Fine logits of frames <= t (positions < t) are untouched.
    assert torch.equal(a.fine_logits[:, :t], b.fine_logits[:, :t])
    # fine_logits[:, t, j] are codebook j + 2 of frame t + 1: those <= k stay, those > k move.
    for j in range(K - 1):
        same = torch.equal(a.fine_logits[:, t, j], b.fine_logits[:, t, j])
        assert same == (j + 2 <= k), (k, j + 2)


# ------------------------------------------------------------------ generation


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def _generate(model, processor, inputs, use_cache, seed=0, **kwargs):
    feedback = WhisperGPTSpectrogramFeedback(processor.audio_tokenizer, processor.feature_extractor)
    torch.manual_seed(seed)
    out = model.generate(**inputs, spectrogram_feedback=feedback, max_new_tokens=6, use_cache=use_cache, **kwargs)
    return out, feedback


def test_codec_codebooks_come_from_the_codec_config(processor):
    codec = processor.audio_tokenizer
    top = max(codec.config.target_bandwidths)
    assert processor.num_codebooks == min(len(codec.quantizer.layers),
                                          codec.quantizer.get_num_quantizers_for_bandwidth(top))
    assert processor.num_codebooks > 1


def test_generate_returns_all_codebooks_cached_equals_uncached(processor):
    K = processor.num_codebooks
    model = depth_model(K)
    inputs = processor(audio=test_audio(0.25), sampling_rate=SR, num_codebooks=K)
    prompt = inputs["input_ids"].shape[1]
    greedy, _ = _generate(model, processor, inputs, use_cache=True, do_sample=False)
    assert greedy.shape == (1, prompt + 6, K)
    assert torch.equal(greedy, _generate(model, processor, inputs, use_cache=False, do_sample=False)[0])
    assert torch.equal(greedy[:, :prompt, 0], inputs["input_ids"])
    assert torch.equal(greedy[:, :prompt, 1:], inputs["fine_input_ids"])
    sampled, _ = _generate(model, processor, inputs, use_cache=True, do_sample=True, top_k=8)
    assert torch.equal(sampled, _generate(model, processor, inputs, use_cache=False, do_sample=True, top_k=8)[0])
    assert not torch.equal(sampled, greedy)
    # The warpers apply to the fine levels too: top_k=1 sampling is greedy on every codebook.
    top1, _ = _generate(model, processor, inputs, use_cache=True, do_sample=True, top_k=1)
    assert torch.equal(top1, greedy)


def test_greedy_fine_codes_are_the_depth_heads_argmax(processor):
    K = processor.num_codebooks
    model = depth_model(K, use_spectrogram=False)
    inputs = processor(audio=test_audio(0.2), sampling_rate=SR, num_codebooks=K)
    inputs.pop("input_features")
    prompt = inputs["input_ids"].shape[1]
    codes = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    out = model(input_ids=codes[..., 0], fine_input_ids=codes[..., 1:])
    # Teacher-forced with the generated codes, every generated code is the argmax of its logits.
    assert torch.equal(out.logits[0, prompt - 1 : -1].argmax(-1), codes[0, prompt:, 0])
    assert torch.equal(out.fine_logits[0, prompt - 1 :].argmax(-1), codes[0, prompt:, 1:])


def test_feedback_decodes_all_codebooks(processor):
    K = processor.num_codebooks
    model = depth_model(K)
    inputs = processor(audio=test_audio(0.25), sampling_rate=SR, num_codebooks=K)
    prompt = inputs["input_ids"].shape[1]
    codes, feedback = _generate(model, processor, inputs, use_cache=True, do_sample=False)
    fed = feedback.features(prompt)[:, : codes.shape[1] - 1 - prompt]  # slices fed for generated frames
    fe = processor.feature_extractor
    full = fe(processor.batch_decode(codes), sampling_rate=SR, return_tensors="pt")["input_features"]
    coarse = fe(processor.batch_decode(codes[..., 0]), sampling_rate=SR, return_tensors="pt")["input_features"]
    torch.testing.assert_close(fed, full[:, prompt : prompt + fed.shape[1]], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(fed, coarse[:, prompt : prompt + fed.shape[1]], atol=1e-3)


def test_generate_refuses_missing_prompt_fine_codes_and_beams(processor):
    K = processor.num_codebooks
    model = depth_model(K, use_spectrogram=False)
    inputs = processor(audio=test_audio(0.2), sampling_rate=SR)
    with pytest.raises(ValueError, match=f"num_codebooks={K}"):
        model.generate(input_ids=inputs["input_ids"], max_new_tokens=2)
    inputs = processor(audio=test_audio(0.2), sampling_rate=SR, num_codebooks=K)
    with pytest.raises(ValueError, match="Beam search"):
        model.generate(input_ids=inputs["input_ids"], fine_input_ids=inputs["fine_input_ids"], max_new_tokens=2,
                       num_beams=2, do_sample=False)


def test_continue_audio_decodes_all_codebooks(processor):
    K = processor.num_codebooks
    model = depth_model(K)
    clip = test_audio(0.25)
    audio = continue_audio(model, processor, clip, SR, seconds=0.08, seed=3)
    frames = -(-len(clip) // HOP) + 6
    assert audio.shape == (frames * HOP,) and np.isfinite(audio).all()
    # Same seed: the same codes by generate(); their full-bandwidth decode is the returned audio.
    inputs = processor(audio=clip, sampling_rate=SR, num_codebooks=K, padding_side="left")
    codes, _ = _generate(model, processor, inputs, use_cache=True, seed=3, do_sample=True, top_k=50)
    np.testing.assert_allclose(audio, processor.batch_decode(codes)[0], atol=1e-5)
    assert np.abs(audio - processor.batch_decode(codes[..., 0])[0]).max() > 1e-4
    # A batch of two, left-padded, each row as the clip alone (greedy).
    clips = [test_audio(0.25), test_audio(0.15, seed=2)]
    batch = continue_audio(model, processor, clips, SR, seconds=0.04, do_sample=False)
    alone = continue_audio(model, processor, clips[1], SR, seconds=0.04, do_sample=False)
    np.testing.assert_allclose(batch[1], alone, atol=1e-5)


def test_continue_audio_slides_past_the_context_with_all_codebooks(processor):
    K = processor.num_codebooks
    model = depth_model(K, max_position_embeddings=24)
    audio = continue_audio(model, processor, test_audio(0.2), SR, seconds=0.4, do_sample=False, extend_stride=0.1)
    assert audio.shape == ((-(-int(0.2 * SR) // HOP) + 30) * HOP,) and np.isfinite(audio).all()


# ------------------------------------------------------------------ processor


def test_processor_returns_fine_codes_when_asked(processor):
    K = processor.num_codebooks
    clips = [test_audio(0.2), test_audio(0.1, seed=4)]
    coarse = processor(audio=clips, sampling_rate=SR)
    full = processor(audio=clips, sampling_rate=SR, num_codebooks=K)
    assert "fine_input_ids" not in coarse
    assert torch.equal(full["input_ids"], coarse["input_ids"])
    assert full["fine_input_ids"].shape == (*coarse["input_ids"].shape, K - 1)
    codec = processor.audio_tokenizer
    wav = torch.from_numpy(np.pad(clips[1], (0, -len(clips[1]) % HOP)))[None, None]
    direct = codec.encode(wav, bandwidth=max(codec.config.target_bandwidths)).audio_codes[0, 0, :K].T
    n = direct.shape[0]
    assert torch.equal(full["fine_input_ids"][1, :n], direct[:, 1:])
    assert (full["fine_input_ids"][1, n:] == 0).all()
    left = processor(audio=clips, sampling_rate=SR, num_codebooks=K, padding_side="left")
    assert torch.equal(left["fine_input_ids"][1, -n:], direct[:, 1:])
    with pytest.raises(ValueError, match="at most"):
        processor(audio=clips, sampling_rate=SR, num_codebooks=K + 1)
    with pytest.raises(ValueError, match="positive integer"):
        processor(audio=clips, sampling_rate=SR, num_codebooks=0)


def test_batch_decode_accepts_coarse_and_all_codebooks(processor):
    K = processor.num_codebooks
    inputs = processor(audio=[test_audio(0.2), test_audio(0.1, seed=4)], sampling_rate=SR, num_codebooks=K)
    codes = torch.cat([inputs["input_ids"][..., None], inputs["fine_input_ids"]], dim=-1)
    codec = processor.audio_tokenizer
    mask = inputs["attention_mask"]
    decoded = processor.batch_decode(codes, attention_mask=mask)
    n = int(mask[1].sum())
    direct = codec.decode(codes[1:2, :n].transpose(1, 2)[None], [None]).audio_values[0, 0, : n * HOP].detach().numpy()
    np.testing.assert_allclose(decoded[1], direct, atol=1e-6)
    # [B, T, 1] is the coarse decode; the coarse decode differs from the full one.
    coarse = processor.batch_decode(codes[..., 0], attention_mask=mask)
    np.testing.assert_allclose(processor.batch_decode(codes[..., :1], attention_mask=mask)[1], coarse[1], atol=1e-6)
    assert np.abs(coarse[1] - decoded[1]).max() > 1e-4
    np.testing.assert_allclose(processor.decode(codes[1:2, :n]), direct, atol=1e-6)
    with pytest.raises(ValueError, match="codebooks"):
        processor.batch_decode(torch.zeros(1, 4, len(codec.quantizer.layers) + 1, dtype=torch.long))


def test_streamer_gets_all_codebooks(processor):
    """The streamed chunks are the full-bandwidth decode of the generated frames, in generate() and continue_audio."""
    from whisper_gpt_hf import WhisperGPTAudioStreamer

    K = processor.num_codebooks
    model = depth_model(K)
    clip = test_audio(0.25)
    inputs = processor(audio=clip, sampling_rate=SR, num_codebooks=K)
    prompt = inputs["input_ids"].shape[1]
    streamer = WhisperGPTAudioStreamer(processor, chunk_frames=2)
    codes, _ = _generate(model, processor, {**inputs, "streamer": streamer}, use_cache=True, do_sample=False)
    streamed = np.concatenate(list(streamer))
    full = processor.batch_decode(codes)[0][prompt * HOP :]
    assert streamed.shape == full.shape == (6 * HOP,)
    np.testing.assert_allclose(streamed, full, atol=1e-5)
    streamer = WhisperGPTAudioStreamer(processor)
    audio = continue_audio(model, processor, clip, SR, seconds=0.08, do_sample=False, streamer=streamer)
    np.testing.assert_allclose(np.concatenate(list(streamer)), audio[prompt * HOP :], atol=1e-5)


REMOTE_CHILD = """
import numpy as np, torch
from transformers import AutoModelForCausalLM, AutoProcessor
folder = sys.argv[1]
proc = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
lm = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
inputs = proc(audio=np.load(folder + "/audio.npy"), sampling_rate=24000, num_codebooks=lm.config.num_codebooks)
inputs.pop("input_features")
np.save(folder + "/child_codes.npy", lm.generate(**inputs, max_new_tokens=5, do_sample=False).numpy())
print(type(lm).__module__)
"""


def test_remote_code_generates_all_codebooks(processor, tmp_path):
    K = processor.num_codebooks
    model = depth_model(K, use_spectrogram=False)
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    audio = test_audio(0.2)
    np.save(folder / "audio.npy", audio)
    result = run_without_package(REMOTE_CHILD, folder, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformers_modules" in result.stdout
    inputs = processor(audio=audio, sampling_rate=SR, num_codebooks=K)
    inputs.pop("input_features")
    expected = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    np.testing.assert_array_equal(np.load(folder / "child_codes.npy"), expected.numpy())
    assert expected.shape[-1] == K
