import json

import pytest
import torch
from helpers import HOP, SR, test_audio, tiny_config, tiny_model, tiny_processor
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
from transformers.cache_utils import DynamicCache

from whisper_gpt_hf import WhisperGPTForCausalLM, WhisperGPTModel


def random_inputs(batch=2, frames=12, n_mels=16, vocab=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        input_ids=torch.randint(0, vocab, (batch, frames), generator=g),
        input_features=torch.randn(batch, frames, n_mels, generator=g),
    )


@pytest.mark.parametrize("use_spectrogram", [True, False])
def test_forward_shapes_and_loss_is_shifted_nll(use_spectrogram):
    model = tiny_model(use_spectrogram)
    inputs = random_inputs()
    labels = inputs["input_ids"].clone()
    labels[0, 5:] = -100
    out = model(**inputs, labels=labels)
    assert out.logits.shape == (2, 12, 64)
    # position t predicts code t + 1; -100 is ignored
    logp = out.logits[:, :-1].log_softmax(-1)
    target = labels[:, 1:]
    keep = target != -100
    manual = -logp[keep].gather(-1, target[keep][:, None]).mean()
    torch.testing.assert_close(out.loss, manual)


@pytest.mark.parametrize("use_spectrogram", [True, False])
def test_return_dict_false_gives_the_output_as_a_tuple(use_spectrogram):
    """`return_dict=False` (transformers' convention) returns `output.to_tuple()`: loss first when labels are given."""
    model = tiny_model(use_spectrogram).eval()
    inputs = random_inputs()
    full = model(**inputs, labels=inputs["input_ids"])
    as_tuple = model(**inputs, labels=inputs["input_ids"], return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(full.to_tuple())
    torch.testing.assert_close(as_tuple[0], full.loss)
    torch.testing.assert_close(as_tuple[1], full.logits)  # (loss, logits, past_key_values, coarse_loss)
    base = model.model(**inputs, return_dict=False)
    assert isinstance(base, tuple)
    torch.testing.assert_close(base[0], model.model(**inputs).last_hidden_state)


def test_no_future_leak_in_logits():
    # Real audio through the real front end and codec, then the hybrid model: changing audio at >= (t+1)*hop
    # must leave features, codes and logits at positions <= t unchanged.
    processor = tiny_processor()
    model = tiny_model(True)
    audio = test_audio(1.0)
    rng = torch.Generator().manual_seed(0)
    for t in torch.randint(1, len(audio) // HOP - 2, (3,), generator=rng).tolist():
        changed = audio.copy()
        changed[(t + 1) * HOP :] = torch.randn(len(audio) - (t + 1) * HOP, generator=rng).numpy() * 0.3
        a, b = processor(audio=audio, sampling_rate=SR), processor(audio=changed, sampling_rate=SR)
        assert torch.equal(a["input_features"][:, : t + 1], b["input_features"][:, : t + 1])
        assert torch.equal(a["input_ids"][:, : t + 1], b["input_ids"][:, : t + 1])  # EnCodec is causal too
        la, lb = model(**a).logits, model(**b).logits
        torch.testing.assert_close(la[:, : t + 1], lb[:, : t + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(la[:, t + 1 :], lb[:, t + 1 :])


def test_spectrogram_changes_hybrid_but_not_token_only_logits():
    inputs = random_inputs()
    other = dict(inputs, input_features=inputs["input_features"] + 1.0)
    hybrid, gpt = tiny_model(True), tiny_model(False)
    assert not torch.allclose(hybrid(**inputs).logits, hybrid(**other).logits)
    assert torch.equal(gpt(**inputs).logits, gpt(**other).logits)


def test_sdpa_and_eager_agree():
    model = tiny_model(True)
    assert model.config._attn_implementation == "sdpa"
    inputs = random_inputs()
    inputs["attention_mask"] = torch.ones(2, 12, dtype=torch.long)
    inputs["attention_mask"][1, 8:] = 0
    sdpa = model(**inputs).logits
    model.set_attn_implementation("eager")
    eager = model(**inputs).logits
    torch.testing.assert_close(sdpa[0], eager[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sdpa[1, :8], eager[1, :8], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_spectrogram", [True, False])
def test_cache_covers_both_branches(use_spectrogram):
    model = tiny_model(use_spectrogram)
    inputs = random_inputs(batch=1, frames=10)
    full = model(**inputs, use_cache=False).logits
    cache = DynamicCache()
    first = model(input_ids=inputs["input_ids"][:, :6], input_features=inputs["input_features"][:, :6],
                  cache=cache, use_cache=True)
    expected_layers = 2 + (2 if use_spectrogram else 0)
    assert len(first.cache.layers) == expected_layers and first.cache.get_seq_length() == 6
    logits = [first.logits]
    for t in range(6, 10):
        step = model(input_ids=inputs["input_ids"][:, t : t + 1], input_features=inputs["input_features"][:, t : t + 1],
                     cache=first.cache, use_cache=True)
        logits.append(step.logits)
    torch.testing.assert_close(torch.cat(logits, 1), full, rtol=1e-4, atol=1e-5)


def test_left_padded_batch_matches_single_clip():
    model = tiny_model(True)
    inputs = random_inputs(batch=1, frames=8)
    pad = 3
    ids = torch.cat([torch.zeros(1, pad, dtype=torch.long), inputs["input_ids"]], 1)
    feats = torch.cat([torch.zeros(1, pad, 16), inputs["input_features"]], 1)
    mask = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.ones(1, 8, dtype=torch.long)], 1)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    padded = model(input_ids=ids, input_features=feats, attention_mask=mask, position_ids=position_ids).logits
    torch.testing.assert_close(padded[:, pad:], model(**inputs).logits, rtol=1e-4, atol=1e-5)


def test_gradient_checkpointing_gives_same_gradients():
    inputs = random_inputs()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(True).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        grads.append(model.model.spectrogram_encoder.input_proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_init_weights_scales_residual_projections():
    model = WhisperGPTForCausalLM(tiny_config(True, num_hidden_layers=8, hidden_size=64, intermediate_size=256))
    std = model.model.layers[0].self_attn.out_proj.weight.std().item()
    assert abs(std - 0.02 / 4) < 0.002  # 0.02 / sqrt(2 * 8)
    assert torch.all(model.model.layers[0].self_attn.out_proj.bias == 0)
    assert torch.all(model.model.norm.weight == 1)


def test_tied_embeddings_option():
    tied = tiny_model(False, tie_word_embeddings=True)
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    untied = tiny_model(False)
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


@pytest.mark.parametrize("use_spectrogram", [True, False])
def test_save_load_round_trip_and_auto_classes(tmp_path, use_spectrogram):
    model = tiny_model(use_spectrogram)
    inputs = random_inputs()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not (tmp_path / "pytorch_model.bin").exists()
    assert set(load_file(tmp_path / "model.safetensors")) <= set(model.state_dict())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "whisper_gpt"
    assert config["auto_map"]["AutoModelForCausalLM"].endswith("WhisperGPTForCausalLM")
    for loader in (WhisperGPTForCausalLM, AutoModelForCausalLM):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert type(loaded) is WhisperGPTForCausalLM
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)
    assert type(AutoConfig.from_pretrained(tmp_path)).__name__ == "WhisperGPTConfig"
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is WhisperGPTModel
    torch.testing.assert_close(base(**inputs).last_hidden_state, model.model(**inputs).last_hidden_state)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda x: x.update(input_ids=x["input_ids"] + 64), r"outside the codebook \[0, 64\)"),
        (lambda x: x.update(input_ids=x["input_ids"] - 100), "outside the codebook"),
        (lambda x: x.pop("input_features"), "needs input_features"),
        (lambda x: x.update(input_features=x["input_features"][:, :-1]), "one mel slice of 16 channels per code"),
        (lambda x: x.update(input_features=x["input_features"][..., :8]), "one mel slice"),
        (lambda x: x.update(input_ids=x["input_ids"][0]), r"must be \[batch, frames\]"),
        (lambda x: x.update(input_ids=torch.zeros(1, 300, dtype=torch.long), input_features=torch.zeros(1, 300, 16)),
         "past the context of 256 frames"),
    ],
)
def test_bad_inputs_raise(change, match):
    model = tiny_model(True)
    inputs = random_inputs()
    change(inputs)
    with pytest.raises(ValueError, match=match):
        model(**inputs)
