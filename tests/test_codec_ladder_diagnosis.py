"""scripts/codec_ladder_diagnosis.py's "real audio, random phase" row: the audio's own phases give it back, random
phases keep the length and change the waveform, not the spectral envelope much (and the same seed, the same audio)."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "codec_ladder_diagnosis.py"


def load_script():
    spec = importlib.util.spec_from_file_location("codec_ladder_diagnosis", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_phase_keeps_the_spectrum_and_changes_the_waveform():
    diagnosis = load_script()
    t = np.arange(24000) / 24000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)).astype(
        np.float32)
    np.testing.assert_allclose(diagnosis.random_phase(audio, None), audio, atol=1e-5)
    a = diagnosis.random_phase(audio, torch.Generator().manual_seed(0))
    b = diagnosis.random_phase(audio, torch.Generator().manual_seed(0))
    assert a.shape == audio.shape and np.array_equal(a, b)
    correlation = float(np.corrcoef(a[2048:-2048], audio[2048:-2048])[0, 1])
    assert abs(correlation) < 0.2  # the waveform is no longer aligned
    band = lambda x: np.abs(np.fft.rfft(x[2048:-2048]))[180:260].sum()  # noqa: E731  (energy around 220 Hz)
    assert 0.3 < band(a) / band(audio) < 1.5
