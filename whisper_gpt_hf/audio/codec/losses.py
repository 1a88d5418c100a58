"""The codec's reconstruction losses: multi-scale mel + STFT (`MultiScaleMelLoss`) and the waveform correlation
(`correlation_loss`, a bounded SI-SNR surrogate). The waveform L1 and the commitment loss are computed in `train`."""

from __future__ import annotations

import torch
from torch import nn

from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE


class MultiScaleMelLoss(nn.Module):
    """Mean over STFT sizes 2^7..2^11 of L1(log mel) + L1(mel magnitude); mel count n_fft // 16, capped at 64.

    Fewer mel bands at small STFT sizes keep every filter non-empty (64 bands over 65 bins would not be).
    """

    def __init__(self, sampling_rate: int = SAMPLING_RATE, n_ffts=(128, 256, 512, 1024, 2048), max_mels: int = 64):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        self.n_ffts = list(n_ffts)
        for n_fft in self.n_ffts:
            fb = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=min(max_mels, n_fft // 16),
                                 min_frequency=0.0, max_frequency=sampling_rate / 2, sampling_rate=sampling_rate,
                                 norm="slaney", mel_scale="slaney")
            self.register_buffer(f"mel_{n_fft}", torch.from_numpy(fb).float(), persistent=False)
            self.register_buffer(f"win_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def mel(self, audio: torch.Tensor, n_fft: int) -> torch.Tensor:
        spec = torch.stft(audio.float(), n_fft, hop_length=n_fft // 4, window=getattr(self, f"win_{n_fft}"),
                          return_complex=True).abs()
        return torch.einsum("bft,fm->bmt", spec, getattr(self, f"mel_{n_fft}"))

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.losses(y, x)["mel"]

    def spectrum(self, audio: torch.Tensor, n_fft: int) -> torch.Tensor:
        return torch.stft(audio.float(), n_fft, hop_length=n_fft // 4, window=getattr(self, f"win_{n_fft}"),
                          return_complex=True).abs()

    def losses(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """`mel` (as `forward`) and `stft`: the multi-scale STFT loss on the same spectra, averaged over the sizes.

        The STFT loss of one size is spectral convergence `|S_y - S_x|_F / |S_x|_F` plus the L1 of log magnitudes
        (Yamamoto et al., 2020): the linear-frequency detail (harmonics of music) that 64 mel bands blur.
        """
        y, x = y.reshape(-1, y.shape[-1]), x.reshape(-1, x.shape[-1])
        mel_total, stft_total = 0.0, 0.0
        for n_fft in self.n_ffts:
            sy, sx = self.spectrum(y, n_fft), self.spectrum(x, n_fft)
            fb = getattr(self, f"mel_{n_fft}")
            my, mx = torch.einsum("bft,fm->bmt", sy, fb), torch.einsum("bft,fm->bmt", sx, fb)
            mel_total = mel_total + (my - mx).abs().mean() + (torch.log(my + 1e-5) - torch.log(mx + 1e-5)).abs().mean()
            convergence = torch.linalg.vector_norm(sy - sx) / torch.linalg.vector_norm(sx).clamp_min(1e-5)
            stft_total = stft_total + convergence + (torch.log(sy + 1e-5) - torch.log(sx + 1e-5)).abs().mean()
        return {"mel": mel_total / len(self.n_ffts), "stft": stft_total / len(self.n_ffts)}


def correlation_loss(y: torch.Tensor, x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean over the batch of `1 - cos(y, x)` of the zero-mean waveforms: 0 when phase-aligned, 1 when uncorrelated.

    SI-SNR is a monotone function of this cosine (`10 log10(c^2 / (1 - c^2))` for c > 0) but, unlike -SI-SNR, it is
    bounded and its gradient does not blow up where the decode is uncorrelated with the input (where training starts).
    """
    y, x = y.reshape(-1, y.shape[-1]), x.reshape(-1, x.shape[-1])
    y, x = y - y.mean(-1, keepdim=True), x - x.mean(-1, keepdim=True)
    cos = (y * x).sum(-1) / (y.norm(dim=-1) * x.norm(dim=-1) + eps)
    return (1 - cos).mean()



__all__ = ["MultiScaleMelLoss", "correlation_loss"]
