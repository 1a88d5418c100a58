"""Model inputs refused or handled clearly (issue 11, item 7) and a compilable decode step (issue 9, item 7)."""

import pytest
import torch
from helpers import tiny_model
from transformers.cache_utils import StaticCache, StaticLayer


def batch(b=2, t=12, vocab=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (b, t), generator=g)
    feats = torch.randn(b, t, 16, generator=g)
    return ids, feats


@pytest.mark.parametrize("hybrid", [False, True])
def test_all_zero_attention_mask_row_is_refused(hybrid):
    ids, feats = batch()
    mask = torch.ones_like(ids)
    mask[1] = 0
    with pytest.raises(ValueError, match=r"all zeros for batch row\(s\) \[1\]"):
        tiny_model(hybrid)(input_ids=ids, input_features=feats, attention_mask=mask)


def test_wrong_length_attention_mask_is_refused():
    ids, feats = batch()
    with pytest.raises(ValueError, match="attention_mask has shape"):
        tiny_model(True)(input_ids=ids, input_features=feats, attention_mask=torch.ones(2, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        tiny_model(True)(input_ids=ids, input_features=feats, attention_mask=torch.ones(3, 12, dtype=torch.long))
    with pytest.raises(ValueError, match="only 0"):
        tiny_model(False)(input_ids=ids, attention_mask=torch.full_like(ids, 2))


def test_labels_are_masked_where_the_attention_mask_is_zero():
    # labels=input_ids on a right-padded batch: the padding never enters the loss (documented behaviour).
    model = tiny_model(True)
    ids, feats = batch()
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    padded = ids.clone()
    padded[1, 7:] = 0
    loss = model(input_ids=padded, input_features=feats, attention_mask=mask, labels=padded).loss
    explicit = padded.masked_fill(mask == 0, -100)
    reference = model(input_ids=padded, input_features=feats, attention_mask=mask, labels=explicit).loss
    torch.testing.assert_close(loss, reference, rtol=0, atol=0)
    unmasked = model(input_ids=padded, input_features=feats, labels=padded).loss  # no mask: padding counts
    assert not torch.allclose(loss, unmasked)


def test_all_ignored_labels_raise_instead_of_nan():
    ids, feats = batch()
    with pytest.raises(ValueError, match="NaN"):
        tiny_model(True)(input_ids=ids, input_features=feats, labels=torch.full_like(ids, -100))
    # one-frame clips: nothing to predict after the shift
    with pytest.raises(ValueError, match="No position has a label"):
        tiny_model(False)(input_ids=ids[:, :1], labels=ids[:, :1])


@pytest.mark.parametrize("shape", [(0, 12), (2, 0)])
def test_empty_batch_or_sequence_is_refused(shape):
    ids = torch.zeros(shape, dtype=torch.long)
    with pytest.raises(ValueError, match="at least one clip of at least one frame"):
        tiny_model(False)(input_ids=ids)
    with pytest.raises(ValueError, match="at least one clip of at least one frame"):
        tiny_model(False).generate(input_ids=ids, max_new_tokens=2)


def test_out_of_range_codes_are_refused_once_per_generate_call():
    ids, _ = batch()
    ids[0, 3] = 64
    with pytest.raises(ValueError, match="outside the codebook"):
        tiny_model(False).generate(input_ids=ids, max_new_tokens=2)
    with pytest.raises(ValueError, match="outside the codebook"):
        tiny_model(False)(input_ids=ids)


def _static_cache(model, batch_size, length):
    cache = StaticCache(config=model.config, max_cache_len=length)
    return cache


@pytest.mark.parametrize("hybrid", [False, True])
def test_static_cache_covers_the_spectrogram_layers_and_matches_dynamic(hybrid):
    model = tiny_model(hybrid)
    ids, feats = batch(1, 10)
    cache = _static_cache(model, 1, 16)
    with torch.no_grad():
        static = model(input_ids=ids[:, :9], input_features=feats[:, :9], cache=cache, use_cache=True)
        assert len(cache.layers) == model.model.num_cache_layers
        assert all(isinstance(layer, StaticLayer) for layer in cache.layers)
        step = model(input_ids=ids[:, 9:], input_features=feats[:, 9:], cache=cache, use_cache=True,
                     position_ids=torch.tensor([[9]]))
        full = model(input_ids=ids, input_features=feats, use_cache=False)
    torch.testing.assert_close(static.logits, full.logits[:, :9], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(step.logits[:, -1], full.logits[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hybrid", [False, True])
def test_decode_step_compiles_with_fullgraph(hybrid):
    # A decode step (one frame, static cache) traces into one graph: no data-dependent checks on the traced path.
    torch._dynamo.reset()
    model = tiny_model(hybrid)
    assert model._can_compile_fullgraph
    ids, feats = batch(1, 10)
    cache = _static_cache(model, 1, 16)
    with torch.no_grad():
        model(input_ids=ids[:, :9], input_features=feats[:, :9], cache=cache, use_cache=True)  # eager prefill
        reference_cache = _static_cache(model, 1, 16)
        model(input_ids=ids[:, :9], input_features=feats[:, :9], cache=reference_cache, use_cache=True)
        compiled = torch.compile(model.forward, fullgraph=True, backend="eager")
        kwargs = dict(input_ids=ids[:, 9:], input_features=feats[:, 9:], use_cache=True,
                      position_ids=torch.tensor([[9]]))
        out = compiled(cache=cache, **kwargs)
        eager = model(cache=reference_cache, **kwargs)
    torch.testing.assert_close(out.logits, eager.logits, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("hybrid", [False, True])
def test_generate_with_static_cache_equals_dynamic(hybrid):
    from helpers import SR, test_audio, tiny_processor

    from whisper_gpt_hf import WhisperGPTSpectrogramFeedback

    processor = tiny_processor()
    model = tiny_model(hybrid)
    inputs = processor(audio=[test_audio(0.3), test_audio(0.2, 1)], sampling_rate=SR, padding_side="left")
    kwargs = dict(max_new_tokens=10, do_sample=False)
    if hybrid:
        kwargs["spectrogram_feedback"] = WhisperGPTSpectrogramFeedback(processor.audio_tokenizer,
                                                                        processor.feature_extractor)
    dynamic = model.generate(**inputs, **kwargs)
    static = model.generate(**inputs, **kwargs, cache_implementation="static")
    assert torch.equal(dynamic, static)


def test_non_finite_features_and_negative_positions_are_refused():
    ids, feats = batch()
    feats[0, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        tiny_model(True)(input_ids=ids, input_features=feats)
    ids, feats = batch()
    with pytest.raises(ValueError, match="position_ids must be >= 0"):
        tiny_model(True)(input_ids=ids, input_features=feats, position_ids=torch.arange(-1, 11)[None].repeat(2, 1))


@pytest.mark.parametrize("seconds", ["1", float("nan"), -1.0, float("inf")])
def test_continue_audio_refuses_bad_seconds(seconds):
    from helpers import SR, test_audio, tiny_processor

    from whisper_gpt_hf import continue_audio

    with pytest.raises(ValueError, match="seconds must be a positive, finite number"):
        continue_audio(tiny_model(False), tiny_processor(), test_audio(0.1), SR, seconds=seconds)


def test_continue_audio_refuses_a_processor_on_another_time_grid():
    from helpers import SR, test_audio, tiny_processor

    from whisper_gpt_hf import continue_audio

    with pytest.raises(ValueError, match="one time grid"):
        continue_audio(tiny_model(False, codec_hop_length=240), tiny_processor(), test_audio(0.1), SR, seconds=0.1)


def test_continue_audio_refuses_a_path_with_the_fix():
    from helpers import SR, tiny_processor

    from whisper_gpt_hf import continue_audio

    with pytest.raises(ValueError, match="is a str; pass .*Load the file first"):
        continue_audio(tiny_model(False), tiny_processor(), "x.wav", SR, seconds=0.1)
