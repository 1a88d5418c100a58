"""Balanced early fusion (config.fusion_balance): both streams count from the first step, the spectrogram path
carries information the codes lack, and checkpoints made before the field existed keep their logits."""

import json

import pytest
import torch
from helpers import tiny_config

from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM


def fused_stream_rms(model: WhisperGPTForCausalLM, frames: int = 64, seed: int = 0) -> tuple[float, float]:
    """RMS of the two parts of the fused input (code part, spectrogram part) on random codes and unit-scale mels."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    ids = torch.randint(0, cfg.vocab_size, (2, frames), generator=g)
    feats = torch.randn(2, frames, cfg.n_mels, generator=g)
    inner = model.model
    captured = {}
    handle = (inner.input_proj or inner.layers[0]).register_forward_pre_hook(
        lambda module, args: captured.setdefault("fused", args[0])
    )
    try:
        with torch.no_grad():
            model(input_ids=ids, input_features=feats)
    finally:
        handle.remove()
    fused = captured["fused"]
    tokens, spec = fused[..., : cfg.token_embedding_size], fused[..., cfg.token_embedding_size :]
    return float(tokens.pow(2).mean().sqrt()), float(spec.pow(2).mean().sqrt())


@pytest.mark.parametrize("balance", ["layernorm", "scale_spectrogram"])
def test_fused_streams_have_comparable_rms_at_initialisation(balance):
    torch.manual_seed(0)
    model = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m", fusion_balance=balance)).eval()
    tokens, spec = fused_stream_rms(model)
    assert 0.5 <= tokens / spec <= 2.0, (tokens, spec)


def test_unbalanced_fusion_is_what_the_first_build_had():
    # The measured defect this field fixes: ~50x between the streams with fusion_balance="none".
    torch.manual_seed(0)
    model = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m", fusion_balance="none")).eval()
    tokens, spec = fused_stream_rms(model)
    assert spec / tokens > 20


def test_presets_use_the_balanced_fusion_and_keep_their_sizes():
    assert WhisperGPTConfig.from_preset("hybrid-4m").fusion_balance == "layernorm"
    assert WhisperGPTConfig().fusion_balance == "layernorm"
    sizes = {"hybrid-4m": 4e6, "gpt-s": 3.7e6, "gpt-l": 40e6}
    for preset, paper in sizes.items():
        n = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset(preset)).num_parameters()
        assert abs(n / paper - 1) <= 0.10, (preset, n)


def test_unknown_fusion_balance_is_refused():
    with pytest.raises(ValueError, match="fusion_balance"):
        tiny_config(fusion_balance="gated")


def test_config_without_the_field_loads_as_the_old_fusion_with_the_same_logits(tmp_path):
    torch.manual_seed(0)
    old = WhisperGPTForCausalLM(tiny_config(fusion_balance="none")).eval()
    old.save_pretrained(tmp_path)
    config_path = tmp_path / "config.json"
    stored = json.loads(config_path.read_text())
    del stored["fusion_balance"]  # what a checkpoint saved before the field existed looks like
    config_path.write_text(json.dumps(stored))
    loaded = WhisperGPTForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.fusion_balance == "none"
    assert loaded.model.token_norm is None
    g = torch.Generator().manual_seed(1)
    inputs = dict(input_ids=torch.randint(0, 64, (2, 10), generator=g), input_features=torch.randn(2, 10, 16, generator=g))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, old(**inputs).logits, rtol=0, atol=0)
    # A config that states the field keeps it (the new default round-trips as itself).
    new = WhisperGPTForCausalLM(tiny_config())
    new.save_pretrained(tmp_path / "new")
    assert WhisperGPTConfig.from_pretrained(tmp_path / "new").fusion_balance == "layernorm"


def _information_path_nll(use_spectrogram: bool, steps: int = 250, vocab: int = 16, frames: int = 32) -> float:
    """Train a tiny model on random codes whose mel slice t carries code t + 1 (one-hot over the first `vocab`
    channels): only the spectrogram path can predict the next code. Returns the final held-out NLL (nats)."""
    torch.manual_seed(0)
    cfg = tiny_config(use_spectrogram, vocab_size=vocab, n_mels=vocab, max_position_embeddings=frames)
    model = WhisperGPTForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)

    def batch(n):
        ids = torch.randint(0, vocab, (n, frames), generator=g)
        nxt = torch.cat([ids[:, 1:], torch.zeros_like(ids[:, :1])], dim=1)
        feats = torch.nn.functional.one_hot(nxt, vocab).float() * 2 - 1
        return dict(input_ids=ids, input_features=feats, labels=ids)

    model.train()
    for _ in range(steps):
        loss = model(**batch(16)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float(model(**batch(64)).loss)


def test_hybrid_learns_what_only_the_spectrogram_carries_and_token_only_cannot():
    chance = torch.log(torch.tensor(16.0)).item()  # 2.77 nats: random codes are unpredictable from codes alone
    hybrid, gpt = _information_path_nll(True), _information_path_nll(False)
    assert hybrid < 0.25 * chance, hybrid
    assert gpt > 0.95 * chance, gpt
