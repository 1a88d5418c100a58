"""The committed codec and default processor: real codes (entropy), real reconstructions (vs a random baseline)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, EncodecModel

import whisper_gpt_hf  # noqa: F401  (registers WhisperGPTProcessor with AutoProcessor)
from whisper_gpt_hf import codec_report as cr
from whisper_gpt_hf.assets import CODEC_SMALL, CORPUS_SMALL, PROCESSOR_DEFAULT, require
from whisper_gpt_hf.codec_training import load_clips, to_float
from whisper_gpt_hf.modeling import WhisperGPTFeatureExtractor, WhisperGPTProcessor

SUBSET_SECONDS = 90.0  # reconstruction metrics on 45 s per category (half the split): fast on 2 cores


@pytest.fixture(scope="module")
def codec():
    torch.set_num_threads(1)  # tiny convolutions: a second thread only adds contention on a 2-core runner
    return EncodecModel.from_pretrained(str(require(CODEC_SMALL, "The small codec"))).eval()


@pytest.fixture(scope="module")
def test_clips():
    return load_clips(require(CORPUS_SMALL, "The small corpus"), "test")


def test_metric_helpers():
    x = np.sin(np.linspace(0, 100, 4800)).astype(np.float32)
    assert cr.si_snr(3.0 * x, x) > 60  # scale-invariant: a louder copy is a perfect reconstruction
    noisy = x + 0.1 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    assert 15 < cr.si_snr(noisy, x) < 25
    assert cr.code_entropy_bits(np.ones(1024)) == pytest.approx(10.0)
    assert cr.code_entropy_bits(np.array([5, 0, 0])) == 0.0


def test_committed_codec_coarse_codes_carry_at_least_7_bits(codec, test_clips):
    """Entropy of the first codebook over the whole committed test split, per category and pooled."""
    hist = {c: np.zeros(codec.config.codebook_size, np.int64) for c in ("speech", "music", "all")}
    with torch.inference_mode():
        for clip in test_clips:
            wav = torch.from_numpy(to_float(clip["audio"]))[None, None]
            codes = codec.encode(wav, bandwidth=cr.lowest_bandwidth(codec)).audio_codes[0, 0, 0].numpy()
            for key in (clip["category"], "all"):
                hist[key] += np.bincount(codes, minlength=codec.config.codebook_size)
    bits = {k: cr.code_entropy_bits(h) for k, h in hist.items()}
    assert bits["all"] >= 7.0, bits
    assert min(bits["speech"], bits["music"]) >= 6.5, bits  # neither category lives on a handful of codes


def test_committed_codec_halves_the_random_baseline_log_mel_l1(codec, tmp_path):
    """Trained vs same-architecture random weights + k-means codebooks, on the same test clips, honestly computed."""
    report = cr.run_report(str(CODEC_SMALL), str(CORPUS_SMALL), "test", max_seconds=SUBSET_SECONDS,
                           baseline_seconds=30.0, num_threads=1)
    trained, baseline = report["systems"]["trained"], report["systems"]["random_kmeans"]
    for cat in ("speech", "music", "all"):
        assert trained[cat]["log_mel_l1"] <= 0.5 * baseline[cat]["log_mel_l1"], (cat, trained[cat], baseline[cat])
        assert trained[cat]["si_snr_db"] > baseline[cat]["si_snr_db"], cat
    assert report["num_codebooks_decoded"] == 2 and report["bandwidth_kbps"] == 1.5
    assert math.isinf(report["systems"]["input"]["all"]["si_snr_db"])

    paths = cr.write_report(report, tmp_path)
    data = json.loads(open(paths["json"]).read())  # strict JSON: +inf is stored as null
    assert data["systems"]["input"]["all"]["si_snr_db"] is None
    md = open(paths["md"]).read()
    assert "| speech | trained codec |" in md and "| music | random weights + k-means codebooks |" in md
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("loader", ["processor", "auto"])
def test_default_processor_loads_offline_and_tokenizes_corpus_audio(loader, codec, test_clips):
    path = str(require(PROCESSOR_DEFAULT, "The default processor"))
    cls = WhisperGPTProcessor if loader == "processor" else AutoProcessor
    processor = cls.from_pretrained(path)
    assert isinstance(processor, WhisperGPTProcessor)
    assert isinstance(processor.feature_extractor, WhisperGPTFeatureExtractor)
    bundled = processor.audio_tokenizer.quantizer.layers[0].codebook.embed
    torch.testing.assert_close(bundled, codec.quantizer.layers[0].codebook.embed)  # the committed codec, bundled

    clips = [to_float(c["audio"]) for c in (test_clips[0], test_clips[-1])]  # one speech, one music
    batch = processor(audio=clips, sampling_rate=24000)
    for i, clip in enumerate(clips):
        frames = math.ceil(len(clip) / 320)
        assert int(batch["attention_mask"][i].sum()) == frames
        ids = batch["input_ids"][i, :frames]
        assert batch["input_features"].shape[-1] == 64
        assert ids.unique().numel() > 20, "codes are (nearly) constant: the codec's codebooks are not trained"
        padded = np.pad(clip, (0, -len(clip) % 320))  # the processor zero-pads to whole frames, as the mel front end
        direct = codec.encode(torch.from_numpy(padded)[None, None], bandwidth=1.5).audio_codes[0, 0, 0]
        assert torch.equal(ids, direct)
