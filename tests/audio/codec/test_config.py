"""The small codec's start: `--init-from` copies a codec of the same architecture and refuses another."""

from __future__ import annotations

import pytest
import torch
from transformers import EncodecModel

from whisper_gpt_hf.audio.codec import config as codec_config


def test_init_from_copies_a_codec_and_refuses_another_architecture(tmp_path, tiny_codec):
    source = tiny_codec(codebook_size=16, seed=1)
    source.save_pretrained(tmp_path / "src")
    target = tiny_codec(codebook_size=16, seed=2)
    codec_config.load_initial_weights(target, tmp_path / "src")
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name
    wider = EncodecModel(codec_config.small_codec_config(num_filters=4, hidden_size=12, codebook_size=16))
    with pytest.raises(ValueError, match="does not fit this architecture"):
        codec_config.load_initial_weights(wider, tmp_path / "src")
