"""Shared by the codec tests: `tiny_codec(codebook_size, seed)` builds a 4-filter, 8-dim EnCodec in the small codec's
architecture (24 kHz, hop 320, causal), in eval mode."""

import pytest
import torch


def _tiny_codec(codebook_size: int = 16, seed: int = 0):
    from transformers import EncodecModel

    from whisper_gpt_hf.audio.codec.config import small_codec_config

    torch.manual_seed(seed)
    return EncodecModel(small_codec_config(num_filters=4, hidden_size=8, codebook_size=codebook_size)).eval()


@pytest.fixture
def tiny_codec():
    return _tiny_codec
