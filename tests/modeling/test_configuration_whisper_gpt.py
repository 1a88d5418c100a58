import pytest
import torch

from whisper_gpt_hf import PRESETS, WhisperGPTConfig, WhisperGPTForCausalLM


# Paper parameter counts (arXiv 2412.11449): hybrid 4M, GPT-S 3.7M, GPT-L 40M; the issue allows +-10 %.
@pytest.mark.parametrize("name,target", [("hybrid-4m", 4.0e6), ("gpt-s", 3.7e6), ("gpt-l", 40e6)])
def test_preset_parameter_counts(name, target):
    with torch.device("meta"):  # counting only: no memory, no init time for the 40M model
        model = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset(name))
    params = model.num_parameters()
    assert abs(params - target) / target <= 0.10, f"{name}: {params / 1e6:.2f}M vs {target / 1e6:.1f}M"


def test_presets_share_the_decoder_shape():
    # Fair baseline: hybrid-4m and gpt-s differ only on the input side.
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    assert {k: PRESETS["hybrid-4m"][k] for k in keys} == {k: PRESETS["gpt-s"][k] for k in keys}


def test_token_only_model_has_no_spectrogram_parameters():
    config = WhisperGPTConfig.from_preset("gpt-s")
    model = WhisperGPTForCausalLM(config)
    assert model.model.spectrogram_encoder is None
    assert not [n for n, _ in model.named_parameters() if "spectrogram" in n]
    hybrid = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m"))
    spec = [n for n, _ in hybrid.named_parameters() if "spectrogram" in n]
    assert spec and all(n.startswith("model.spectrogram_encoder.") for n in spec)


def test_unknown_preset_and_overrides():
    with pytest.raises(ValueError, match="Unknown preset 'gpt-xl'"):
        WhisperGPTConfig.from_preset("gpt-xl")
    config = WhisperGPTConfig.from_preset("gpt-s", max_position_embeddings=512)
    assert config.max_position_embeddings == 512 and config.use_spectrogram is False


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(fusion="add"), "fusion='add' is not supported"),
        (dict(hidden_size=30, num_attention_heads=4), "divisible by num_attention_heads"),
        (dict(spectrogram_hidden_size=30, spectrogram_num_heads=4), "divisible by spectrogram_num_heads"),
        (dict(tie_word_embeddings=True, token_embedding_size=32, hidden_size=256), "tie_word_embeddings=True needs"),
        (dict(vocab_size=0), "vocab_size must be positive"),
    ],
)
def test_invalid_configs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WhisperGPTConfig(**kwargs)


def test_config_round_trip(tmp_path):
    config = WhisperGPTConfig.from_preset("hybrid-4m", dropout=0.05)
    config.save_pretrained(tmp_path)
    loaded = WhisperGPTConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.model_type == "whisper_gpt"
    assert loaded.frame_rate == 75.0 and loaded.fused_input_size == 256 + 32
