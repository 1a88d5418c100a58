"""The committed codec and default processor: real codes (entropy), real reconstructions (vs a random baseline)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, EncodecModel

import whisper_gpt_hf  # noqa: F401  (registers WhisperGPTProcessor with AutoProcessor)
from whisper_gpt_hf.assets import CODEC_SMALL, CORPUS_SMALL, PROCESSOR_DEFAULT, require
from whisper_gpt_hf.audio.codec import report as cr
from whisper_gpt_hf.audio.codec.data import load_clips, to_float
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
    bandwidths = sorted(codec.config.target_bandwidths)
    n_q = [codec.quantizer.get_num_quantizers_for_bandwidth(b) for b in bandwidths]
    assert report["bandwidth_kbps"] == bandwidths[0] and report["num_codebooks_decoded"] == n_q[0]  # lowest rung
    assert report["bandwidths_kbps"] == bandwidths
    assert math.isinf(report["systems"]["input"]["all"]["si_snr_db"])
    # the ladder's lowest rung is the top-level table
    assert report["ladder"]["trained"][f"{bandwidths[0]:g}"]["categories"]["all"]["log_mel_l1"] == pytest.approx(
        trained["all"]["log_mel_l1"])

    paths = cr.write_report(report, tmp_path)
    data = json.loads(open(paths["json"]).read())  # strict JSON: +inf is stored as null
    assert data["systems"]["input"]["all"]["si_snr_db"] is None
    assert [data["ladder"]["trained"][f"{b:g}"]["num_codebooks"] for b in bandwidths] == n_q
    md = open(paths["md"]).read()
    assert "| speech | trained codec |" in md and "| music | random weights + k-means codebooks |" in md
    assert f"| music | {bandwidths[-1]:g} | {n_q[-1]} |" in md  # the quality-vs-bandwidth table
    for key in ("png", "bandwidth_png"):
        assert open(paths[key], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_committed_codec_bandwidth_ladder_is_monotone(codec, test_clips):
    """Every bandwidth step lowers the log-mel L1, for speech and for music, on the whole committed test split.

    Each residual codebook must carry detail: the first committed codec gave the same L1 with 1, 2 or 4 codebooks.
    """
    if len(codec.config.target_bandwidths) < 3:
        # issue 10: a retrained codec with >= 3 bandwidths replaces this one; until then the check cannot hold
        pytest.xfail("the committed codec predates the bandwidth ladder (2 bandwidths, residual codebooks unused)")
    result = cr.measure_codec(codec, test_clips, WhisperGPTFeatureExtractor())
    ladder = result["ladder"]
    assert len(ladder) >= 3
    assert cr.ladder_is_monotone(ladder) == {"speech": True, "music": True, "all": True}, ladder
    # the size target (top <= 0.85x lowest on held-out audio) is measured by `codec-report`, not asserted here


def test_decoding_a_code_prefix_is_encoding_at_that_bandwidth(codec, test_clips):
    """The ladder decodes the first n codebooks of one top-bandwidth encoding: the same as encoding at bandwidth b."""
    audio = to_float(test_clips[-1]["audio"])[: 24000]
    codes, recons = cr.reconstruct_ladder(codec, audio)
    with torch.inference_mode():
        for b in cr.bandwidths(codec):
            enc = codec.encode(torch.from_numpy(audio)[None, None], bandwidth=b)
            n_q = enc.audio_codes.shape[2]
            assert torch.equal(enc.audio_codes[0, 0], torch.from_numpy(codes[:n_q]))
            direct = codec.decode(enc.audio_codes, enc.audio_scales).audio_values[0, 0, : audio.shape[0]].numpy()
            np.testing.assert_allclose(recons[b], direct, atol=1e-6)


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


def test_ladder_helpers():
    def ladder(speech, music):
        return {f"{b:g}": {"bandwidth_kbps": b, "num_codebooks": n,
                           "categories": {"speech": {"log_mel_l1": s}, "music": {"log_mel_l1": m}}}
                for b, n, s, m in zip((0.75, 1.5, 3.0), (1, 2, 4), speech, music)}

    good = ladder((0.40, 0.35, 0.30), (0.20, 0.19, 0.18))
    assert cr.ladder_is_monotone(good) == {"speech": True, "music": True}
    assert cr.ladder_ratios(good) == pytest.approx({"speech": 0.75, "music": 0.9})
    flat = ladder((0.40, 0.40, 0.30), (0.20, 0.21, 0.18))  # a step that does not lower the L1 breaks the ladder
    assert cr.ladder_is_monotone(flat) == {"speech": False, "music": False}
