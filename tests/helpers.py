"""Shared test factories: tiny models, test audio and a small codec with real (k-means) codebooks.

Nothing here downloads anything. A randomly initialised `EncodecModel` encodes every frame to code 0 (all-zero
codebooks), which would make every codec-based test meaningless, so `kmeans_codec` fits the codebooks to encoder
outputs of test audio, as EnCodec itself initialises them.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from transformers import EncodecConfig, EncodecModel

from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTFeatureExtractor, WhisperGPTForCausalLM, WhisperGPTProcessor
from whisper_gpt_hf.audio.codec.quantization import kmeans

SR = 24000
HOP = 320


def tiny_config(use_spectrogram: bool = True, **overrides) -> WhisperGPTConfig:
    """A tiny model (hidden 16, 2 layers) that keeps every test fast."""
    base = dict(
        vocab_size=64,
        n_mels=16,
        use_spectrogram=use_spectrogram,
        spectrogram_hidden_size=8,
        spectrogram_num_layers=2,
        spectrogram_num_heads=2,
        spectrogram_intermediate_size=16,
        token_embedding_size=8 if use_spectrogram else 16,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=256,
        dropout=0.0,
    )
    base.update(overrides)
    return WhisperGPTConfig(**base)


def tiny_model(use_spectrogram: bool = True, seed: int = 0, **overrides) -> WhisperGPTForCausalLM:
    torch.manual_seed(seed)
    return WhisperGPTForCausalLM(tiny_config(use_spectrogram, **overrides)).eval()


def test_audio(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Deterministic non-trivial audio: a few harmonics with vibrato plus noise bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 400)
    x = sum(np.sin(2 * np.pi * k * f0 * t + 3 * np.sin(2 * np.pi * rng.uniform(2, 6) * t)) / k for k in range(1, 5))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t)) + 0.05 * rng.standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


test_audio.__test__ = False  # a factory, not a test, when imported into test modules


@functools.lru_cache(maxsize=None)
def kmeans_codec(codebook_size: int = 64, seed: int = 0) -> EncodecModel:
    """A small 24 kHz / hop-320 EnCodec whose first codebook is k-means on encoder outputs of test audio."""
    torch.manual_seed(seed)
    config = EncodecConfig(
        num_filters=4, hidden_size=16, codebook_size=codebook_size, num_lstm_layers=1,
        upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[1.5, 3.0], sampling_rate=SR,
    )
    codec = EncodecModel(config).eval()
    audio = torch.from_numpy(np.concatenate([test_audio(2.0, s) for s in range(4)]))[None, None]
    with torch.no_grad():
        emb = codec.encoder(audio)[0].T  # [frames, dim]
        g = torch.Generator().manual_seed(seed)
        centroids, _ = kmeans(emb, codebook_size, iters=10, generator=g)  # the codec trainer's k-means
        for layer in codec.quantizer.layers:
            layer.codebook.embed.copy_(centroids + 1e-3 * torch.randn(centroids.shape, generator=g))
            layer.codebook.inited.fill_(1)
    return codec


def tiny_processor(n_mels: int = 16) -> WhisperGPTProcessor:
    return WhisperGPTProcessor(WhisperGPTFeatureExtractor(feature_size=n_mels), audio_tokenizer=kmeans_codec())


# The preamble of a child process that must not see this package (what a trust_remote_code user without
# `pip install whisper-gpt-hf` has): the editable finder and the repository are dropped from the import routes.
_WITHOUT_PACKAGE = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                 and "editable" not in repr(f).lower()]
sys.path = [p for p in sys.path if p and "whisper" not in p.lower() and p != REPO]
try:
    import whisper_gpt_hf  # noqa: F401
    raise SystemExit("whisper_gpt_hf must not be importable here")
except ImportError:
    pass
"""


def run_without_package(body: str, folder, tmp_path):
    """Run `body` (Python source; `sys.argv[1]` is `folder`) in a fresh interpreter that cannot import
    whisper_gpt_hf, with its own transformers modules cache. Returns the CompletedProcess (stdout, stderr)."""
    import os
    import subprocess
    import sys
    import textwrap

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    script = f"REPO = {repo!r}\n" + _WITHOUT_PACKAGE + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, str(folder)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
