"""The codec's reconstruction losses: multi-scale mel + STFT and the waveform correlation."""

from __future__ import annotations

import pytest
import torch

from whisper_gpt_hf.audio.codec import losses


def test_spectral_and_correlation_losses():
    loss_fn = losses.MultiScaleMelLoss(n_ffts=(128, 256))
    x = torch.randn(2, 1, 2400) * 0.1
    same = loss_fn.losses(x, x)
    assert float(same["mel"]) == 0.0 and float(same["stft"]) == 0.0
    other = loss_fn.losses(0.5 * x, x)
    assert float(other["stft"]) > 0.4 and float(other["mel"]) > 0  # spectral convergence of a half-scale copy: 0.5
    assert float(losses.correlation_loss(3 * x, x)) < 1e-6  # scale-invariant, like SI-SNR
    assert float(losses.correlation_loss(-x, x)) == pytest.approx(2.0, abs=1e-5)
    noise = torch.randn(2, 1, 2400, generator=torch.Generator().manual_seed(1))
    assert 0.9 < float(losses.correlation_loss(noise, x)) < 1.1
