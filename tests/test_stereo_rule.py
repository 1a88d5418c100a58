"""The stereo rule, at every entry point (probe rows 1.04, 1.05, 1.29, 1.30, 1.45, 1.46, 1.60; issue 11 item 1).

Arrays must be 1-D mono clips or a list of 1-D clips: any 2-D array (`[samples, channels]` as `soundfile.read`
returns it, `[channels, samples]`, a stacked batch) is refused with a `ValueError` that names the fix, before any
work is done (the probe's `[N, 2]` took 8.4 s for 0.1 s of audio in the processor). Audio *files* are downmixed by
averaging their channels. Plus the other input rows of the feature extractor: 1.03, 1.17, 1.23, 1.24.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import SR, test_audio, tiny_model, tiny_processor

from whisper_gpt_hf import WhisperGPTFeatureExtractor, continue_audio
from whisper_gpt_hf.audio.io import load_audio, read_audio
from whisper_gpt_hf.modeling.feature_extraction_whisper_gpt import as_mono_clips

FIX = r"audio\.mean\(axis=1\).*list of 1-D arrays for a batch"


def stereo_inputs():
    left, right = test_audio(0.5, 0), test_audio(0.5, 1)
    return {
        "[N, 2] numpy": np.stack([left, right], axis=1),
        "[2, N] numpy": np.stack([left, right]),
        "[N, 2] torch": torch.from_numpy(np.stack([left, right], axis=1)),
        "[2, N] torch": torch.from_numpy(np.stack([left, right])),
        "[1, N]": left[None],
        "[N, 1]": left[:, None],
        "[1, 2, N]": np.stack([left, right])[None],
    }


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


@pytest.mark.parametrize("name", list(stereo_inputs()))
def test_feature_extractor_refuses_2d_arrays_naming_the_fix(name):
    fe = WhisperGPTFeatureExtractor(feature_size=16)
    with pytest.raises(ValueError, match=FIX):
        fe(stereo_inputs()[name], sampling_rate=SR)


@pytest.mark.parametrize("name", list(stereo_inputs()))
def test_processor_refuses_2d_arrays_before_encoding(processor, name):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=FIX):
        processor(audio=stereo_inputs()[name], sampling_rate=SR)
    assert time.perf_counter() - started < 1.0  # refused up front, not after encoding thousands of clips


def test_a_2d_list_element_gets_the_same_error(processor):
    good, bad = test_audio(0.2, 0), np.stack([test_audio(0.2, 1)] * 2, axis=1)
    with pytest.raises(ValueError, match="Audio #1 has shape " + r"\(4800, 2\).*" + FIX):
        processor(audio=[good, bad], sampling_rate=SR)
    with pytest.raises(ValueError, match="Audio #1 has shape"):
        as_mono_clips([good, torch.from_numpy(bad)])


def test_continue_audio_refuses_stereo_before_generating(processor):
    """Probe 1.45 / 1.46: `[2, N]` dropped the right channel, `[N, 2]` ran a 1 200-row generation."""
    model = tiny_model()
    started = time.perf_counter()
    for audio in (stereo_inputs()["[N, 2] numpy"], stereo_inputs()["[2, N] numpy"]):
        with pytest.raises(ValueError, match=FIX):
            continue_audio(model, processor, audio, sampling_rate=SR, seconds=0.05, seed=0)
    assert time.perf_counter() - started < 2.0


def test_mono_clips_and_lists_stay_as_they_are(processor):
    clip = test_audio(0.3, 0)
    one = processor(audio=clip, sampling_rate=SR)
    listed = processor(audio=[clip, test_audio(0.2, 1)], sampling_rate=SR)
    assert one["input_ids"].shape == (1, 23) and listed["input_ids"].shape == (2, 23)
    torch.testing.assert_close(listed["input_features"][0], one["input_features"][0], rtol=0, atol=1e-6)
    assert torch.equal(listed["input_ids"][0], one["input_ids"][0])
    clips, batched = as_mono_clips(clip, return_batched=True)
    assert not batched and len(clips) == 1 and clips[0].dtype == np.float32
    clips, batched = as_mono_clips([clip], return_batched=True)
    assert batched and len(clips) == 1
    clips, batched = as_mono_clips([0.0, 0.5, -0.5], return_batched=True)  # a plain list of samples: one clip
    assert not batched and clips[0].shape == (3,)


def test_audio_files_are_downmixed_by_averaging_channels(tmp_path):
    """The documented rule for files (CLI --prompt, dataset preparation): the mean of the channels."""
    left, right = test_audio(0.3, 0), test_audio(0.3, 1)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    sf.write(tmp_path / "six.wav", np.stack([left] * 3 + [right] * 3, axis=1), SR, subtype="FLOAT")
    mono, rate = read_audio(tmp_path / "stereo.wav")
    assert rate == SR and mono.shape == left.shape
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    np.testing.assert_allclose(load_audio(tmp_path / "six.wav", SR), (left + right) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="2 channels"):
        read_audio(tmp_path / "stereo.wav", mono="error")


@pytest.mark.parametrize(
    "audio,kwargs,match",
    [
        (np.zeros(100, np.float32), dict(sampling_rate=24000.5), "must be an integer number of Hz"),  # 1.03
        (np.full(100, 1e30, np.float32), {}, r"samples up to 1e\+30.*scale it"),  # 1.17
        (np.full(100, 32767.0, np.float32), {}, "divide by 32768"),
        ("clip.wav", {}, "is a str; pass a numpy array.*soundfile.read"),  # 1.24
        ({"array": np.zeros(10), "sampling_rate": SR}, {}, r"is a dict.*row\['audio'\]\['array'\]"),
        (None, {}, "is a NoneType"),
    ],
)
def test_other_bad_inputs_name_the_problem(audio, kwargs, match):
    fe = WhisperGPTFeatureExtractor(feature_size=16)
    with pytest.raises(ValueError, match=match):
        fe(audio, **{"sampling_rate": SR, **kwargs})


def test_bfloat16_tensor_and_integral_float_rate_are_accepted():
    """Probe 1.23 crashed inside `.numpy()`; a rate of 24000.0 is the same rate."""
    fe = WhisperGPTFeatureExtractor(feature_size=16)
    clip = torch.from_numpy(test_audio(0.2))
    a = fe(clip.to(torch.bfloat16), sampling_rate=24000.0, return_tensors="pt")["input_features"]
    b = fe(clip.to(torch.bfloat16).float(), sampling_rate=SR, return_tensors="pt")["input_features"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
