import json
import warnings

import numpy as np
import pytest
import torch
from helpers import HOP, SR, test_audio

from whisper_gpt_hf import WhisperGPTFeatureExtractor, num_codec_frames


@pytest.fixture(scope="module")
def fe():
    return WhisperGPTFeatureExtractor()


@pytest.mark.parametrize("n", [1, HOP - 1, HOP, HOP + 1, 7 * HOP + 13, 24000, 24001])
def test_frames_equal_codec_frames(fe, n):
    audio = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    out = fe(audio, sampling_rate=SR, return_tensors="pt")
    assert out["input_features"].shape == (1, -(-n // HOP), 64)
    assert num_codec_frames(n, HOP) == -(-n // HOP)


def test_random_lengths_match_ceil(fe):
    rng = np.random.default_rng(0)
    for n in rng.integers(1, 5 * SR, size=10):
        out = fe(rng.standard_normal(n).astype(np.float32), sampling_rate=SR, return_tensors="np")
        assert out["input_features"].shape[1] == int(np.ceil(n / HOP))


def test_no_future_leak(fe):
    rng = np.random.default_rng(1)
    audio = test_audio(2.0)
    for t in rng.integers(0, len(audio) // HOP - 1, size=5):
        changed = audio.copy()
        changed[(t + 1) * HOP :] = rng.standard_normal(len(audio) - (t + 1) * HOP).astype(np.float32)
        a = fe(audio, sampling_rate=SR, return_tensors="pt")["input_features"]
        b = fe(changed, sampling_rate=SR, return_tensors="pt")["input_features"]
        assert torch.equal(a[:, : t + 1], b[:, : t + 1])
        assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])  # and the change is visible right after


@pytest.mark.parametrize("num_frames, last", [(4, 1), (4, 4), (9, 3), (40, 2)])
def test_last_frames_equal_the_tail_of_all_frames(fe, num_frames, last):
    # Generation computes only the new frames' slices (last_frames): the same values as the full front end's tail.
    audio = torch.stack([torch.from_numpy(test_audio(0.2, 3)), torch.from_numpy(test_audio(0.2, 4))])
    audio = audio[:, : num_frames * HOP - 17]  # a partial last frame: zero-padded as in the full front end
    full = fe.extract(audio, num_frames=num_frames)
    tail = fe.extract(audio, num_frames=num_frames, last_frames=last)
    assert tail.shape == (2, last, 64)
    torch.testing.assert_close(tail, full[:, -last:], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="last_frames must be between 1 and num_frames"):
        fe.extract(audio, num_frames=num_frames, last_frames=num_frames + 1)


def test_batch_gives_each_clip_what_it_gives_alone(fe):
    clips = [test_audio(1.0, 0), test_audio(0.37, 1), test_audio(0.011, 2)]
    batch = fe(clips, sampling_rate=SR, return_tensors="pt")
    for i, clip in enumerate(clips):
        alone = fe(clip, sampling_rate=SR, return_tensors="pt")["input_features"][0]
        n = alone.shape[0]
        assert batch["attention_mask"][i].sum() == n
        torch.testing.assert_close(batch["input_features"][i, :n], alone, rtol=0, atol=1e-6)
        assert torch.all(batch["input_features"][i, n:] == fe.padding_value)


def test_numpy_torch_and_list_outputs_agree(fe):
    clips = [test_audio(0.5, 0), test_audio(0.25, 1)]
    pt = fe(clips, sampling_rate=SR, return_tensors="pt")
    np_out = fe(clips, sampling_rate=SR, return_tensors="np")
    lists = fe(clips, sampling_rate=SR)
    assert isinstance(np_out["input_features"], np.ndarray)
    np.testing.assert_array_equal(np_out["input_features"], pt["input_features"].numpy())
    assert lists["input_features"][1].shape == (int(np.ceil(0.25 * SR / HOP)), 64)
    # a 2-D array is never a batch (the stereo rule, tests/test_stereo_rule.py): a list of clips is
    with pytest.raises(ValueError, match="pass a list of 1-D arrays for a batch"):
        fe(np.stack([clips[0], clips[0]]), sampling_rate=SR, return_tensors="pt")
    assert fe([clips[0], clips[0]], sampling_rate=SR, return_tensors="pt")["input_features"].shape[0] == 2


def test_int16_is_scaled_by_dtype_range(fe):
    audio = test_audio(0.5)
    pcm = np.round(audio * 32768).astype(np.int16)
    a = fe(pcm, sampling_rate=SR, return_tensors="pt")["input_features"]
    b = fe(pcm.astype(np.float32) / 32768, sampling_rate=SR, return_tensors="pt")["input_features"]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "audio,kwargs,match",
    [
        (np.zeros(1000, np.float32), dict(sampling_rate=16000), "sampled at 16000 Hz.*Resample first"),
        (np.array([0.0, np.nan, 0.1], np.float32), {}, "NaN or infinite.*nan_to_num"),
        (np.array([0.0, np.inf], np.float32), {}, "NaN or infinite"),
        (np.zeros(0, np.float32), {}, "empty"),
        ([np.zeros((2, 1000), np.float32)], {}, r"Audio #0 has shape \(2, 1000\).*mean\(axis=0\)"),
        (np.zeros((1, 2, 1000), np.float32), {}, r"shape \(1, 2, 1000\).*mono clips"),
        ([], {}, "empty batch"),
        (np.zeros(100, np.uint8), {}, "unsigned"),
    ],
)
def test_bad_input_raises_a_clear_value_error(fe, audio, kwargs, match):
    kwargs.setdefault("sampling_rate", SR)
    with pytest.raises(ValueError, match=match):
        fe(audio, **kwargs)


def test_missing_sampling_rate_warns(fe):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fe(np.zeros(400, np.float32))
    assert any("No sampling_rate" in str(w.message) for w in caught)


def test_save_load_round_trip(fe, tmp_path):
    fe.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert "mel_filters" not in saved and "window" not in saved and "_torch_cache" not in saved
    loaded = WhisperGPTFeatureExtractor.from_pretrained(tmp_path)
    audio = test_audio(0.3)
    torch.testing.assert_close(
        loaded(audio, sampling_rate=SR, return_tensors="pt")["input_features"],
        fe(audio, sampling_rate=SR, return_tensors="pt")["input_features"],
    )


def test_silence_is_the_floor_and_loud_is_higher(fe):
    silent = fe(np.zeros(3200, np.float32), sampling_rate=SR, return_tensors="pt")["input_features"]
    assert torch.all(silent == (np.log10(1e-10) + 4) / 4)  # a fixed affine map, no clip statistics
    loud = fe(test_audio(0.2), sampling_rate=SR, return_tensors="pt")["input_features"]
    assert loud.max() > silent.max() + 1
