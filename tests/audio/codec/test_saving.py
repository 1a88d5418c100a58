"""Codec folders stored in half precision (`--save-dtype float16`): loaded as float32, the bundled processor copy
equal to the codec, the rewrite atomic."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import EncodecModel

from whisper_gpt_hf.audio.codec.saving import save_default_processor, store_weights_as, stored_dtype


def test_float16_storage_loads_as_float32_with_the_rounded_weights(tmp_path, tiny_codec):
    codec = tiny_codec(seed=3)
    codec.save_pretrained(tmp_path)
    full_size = (tmp_path / "model.safetensors").stat().st_size
    assert stored_dtype(tmp_path) == "float32"
    store_weights_as(tmp_path, "float16")
    assert stored_dtype(tmp_path) == "float16"
    assert (tmp_path / "model.safetensors").stat().st_size < 0.6 * full_size
    assert not list(tmp_path.glob(".*.tmp"))  # written aside and renamed over
    loaded = EncodecModel.from_pretrained(tmp_path).eval()
    original = codec.state_dict()
    for name, value in loaded.state_dict().items():
        if value.is_floating_point():
            assert value.dtype == torch.float32, name
            torch.testing.assert_close(value, original[name].half().float(), rtol=0, atol=0)
        else:
            assert torch.equal(value, original[name]), name


def test_the_default_processor_bundles_the_codec_in_its_stored_precision(tmp_path, tiny_codec):
    codec_dir, processor_dir = tmp_path / "codec", tmp_path / "processor"
    tiny_codec(seed=4).save_pretrained(codec_dir)
    store_weights_as(codec_dir, "float16")
    processor = save_default_processor(codec_dir, processor_dir)
    assert stored_dtype(processor_dir / "audio_tokenizer") == "float16"
    bundled = load_file(str(processor_dir / "audio_tokenizer" / "model.safetensors"))
    stored = load_file(str(codec_dir / "model.safetensors"))
    assert bundled.keys() == stored.keys()
    assert all(torch.equal(bundled[k], stored[k]) for k in stored)
    audio = torch.randn(1, 1, 3200)
    codes = EncodecModel.from_pretrained(codec_dir).eval().encode(audio, bandwidth=0.75).audio_codes
    assert torch.equal(processor.audio_tokenizer.encode(audio, bandwidth=0.75).audio_codes, codes)


def test_an_unknown_storage_dtype_is_refused(tmp_path, tiny_codec):
    tiny_codec().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="float16"):
        store_weights_as(tmp_path, "bfloat16")
