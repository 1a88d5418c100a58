import json

import numpy as np
import pytest
import torch
from helpers import HOP, SR, kmeans_codec, test_audio, tiny_processor
from transformers import AutoProcessor, EncodecModel

from whisper_gpt_hf import WhisperGPTFeatureExtractor, WhisperGPTProcessor


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_outputs_are_aligned_and_codes_not_constant(processor):
    audio = test_audio(1.3)
    out = processor(audio=audio, sampling_rate=SR, return_tensors="pt")
    frames = int(np.ceil(len(audio) / HOP))
    assert out["input_features"].shape == (1, frames, 16)
    assert out["input_ids"].shape == out["attention_mask"].shape == (1, frames)
    assert out["input_ids"].dtype == torch.long
    assert len(torch.unique(out["input_ids"])) > 5  # a degenerate codec would give one code


def test_codes_are_the_codecs_first_codebook(processor):
    audio = test_audio(0.5)  # 37.5 frames: the last one is partial
    out = processor(audio=audio, sampling_rate=SR)
    # zero-padded to whole frames, as the mel front end pads (EnCodec alone would reflect-pad the tail)
    padded = np.pad(audio, (0, -len(audio) % HOP))
    with torch.no_grad():  # the processor's inference path (autograd can change float rounding at near-ties)
        codec_out = processor.audio_tokenizer.encode(torch.from_numpy(padded)[None, None], bandwidth=1.5)
    assert out["input_ids"].shape[1] == 38
    assert torch.equal(out["input_ids"][0], codec_out.audio_codes[0, 0, 0])


def test_batch_gives_each_clip_exactly_what_it_gives_alone(processor):
    clips = [test_audio(1.0, 0), test_audio(0.41, 1), test_audio(0.7, 2)]
    batch = processor(audio=clips, sampling_rate=SR)
    for i, clip in enumerate(clips):
        alone = processor(audio=clip, sampling_rate=SR)
        n = alone["input_ids"].shape[1]
        assert torch.equal(batch["input_ids"][i, :n], alone["input_ids"][0])
        assert int(batch["attention_mask"][i].sum()) == n
        torch.testing.assert_close(batch["input_features"][i, :n], alone["input_features"][0], rtol=0, atol=1e-6)


def test_decode_returns_audio_of_the_frames(processor):
    out = processor(audio=[test_audio(0.5, 0), test_audio(0.3, 1)], sampling_rate=SR)
    audio = processor.batch_decode(out["input_ids"], attention_mask=out["attention_mask"])
    assert [a.shape[0] for a in audio] == [int(m.sum()) * HOP for m in out["attention_mask"]]
    assert all(a.dtype == np.float32 and np.isfinite(a).all() and np.abs(a).max() > 0 for a in audio)
    single = processor.decode(out["input_ids"][1, : int(out["attention_mask"][1].sum())])
    np.testing.assert_allclose(single, audio[1], atol=1e-5)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 64\)"):
        processor.batch_decode(torch.tensor([[0, 64]]))


def test_wrong_rate_and_missing_codec_raise(processor):
    with pytest.raises(ValueError, match="Resample first"):
        processor(audio=test_audio(0.2), sampling_rate=16000)
    bare = WhisperGPTProcessor(WhisperGPTFeatureExtractor(feature_size=16))
    with pytest.raises(ValueError, match="no audio_tokenizer"):
        bare(audio=test_audio(0.2), sampling_rate=SR)
    with pytest.raises(TypeError, match="audio_tokenizer must be a transformers audio tokenizer"):
        WhisperGPTProcessor(WhisperGPTFeatureExtractor(), audio_tokenizer=torch.nn.Linear(2, 2))


def test_codec_and_front_end_must_share_the_time_grid():
    fe = WhisperGPTFeatureExtractor(feature_size=16, hop_length=240)
    with pytest.raises(ValueError, match="share one time grid"):
        WhisperGPTProcessor(fe, audio_tokenizer=kmeans_codec())


def test_save_load_bundles_the_codec(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["codec_source"] == {"subfolder": "audio_tokenizer"}
    assert "audio_tokenizer" not in config  # no machine-specific absolute path
    assert (tmp_path / "audio_tokenizer" / "model.safetensors").exists()
    audio = test_audio(0.6)
    expected = processor(audio=audio, sampling_rate=SR)
    for loader in (WhisperGPTProcessor, AutoProcessor):
        loaded = loader.from_pretrained(tmp_path)
        assert isinstance(loaded.audio_tokenizer, EncodecModel)
        got = loaded(audio=audio, sampling_rate=SR)
        assert torch.equal(got["input_ids"], expected["input_ids"])
        torch.testing.assert_close(got["input_features"], expected["input_features"])


def test_reference_instead_of_bundle_needs_a_repo_id(processor, tmp_path):
    with pytest.raises(ValueError, match="not portable"):
        processor.audio_tokenizer.name_or_path = str(tmp_path)
        processor.save_pretrained(tmp_path / "p", bundle_audio_tokenizer=False)
    processor.audio_tokenizer.name_or_path = "facebook/encodec_24khz"
    processor.save_pretrained(tmp_path / "q", bundle_audio_tokenizer=False)
    config = json.loads((tmp_path / "q" / "processor_config.json").read_text())
    assert config["codec_source"] == {"repo_id": "facebook/encodec_24khz"}
    assert not (tmp_path / "q" / "audio_tokenizer").exists()
    # offline: loading a referenced codec must go to the Hub, so it fails here rather than silently differing
    with pytest.raises(OSError):
        WhisperGPTProcessor.from_pretrained(tmp_path / "q", local_files_only=True)
    processor.audio_tokenizer.name_or_path = ""
