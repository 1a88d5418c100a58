"""Train a small codec in the EnCodec architecture on the synthesized corpus: the package's offline audio tokenizer.

A randomly initialised transformers `EncodecModel` has all-zero codebooks (every frame encodes to code 0) and
`facebook/encodec_24khz` cannot be downloaded here, so this trains a reduced `EncodecModel` (24 kHz, hop 8*5*4*2 =
320, causal convolutions, 1024-code codebooks, 1 codebook at 0.75 kbps / 2 at 1.5 kbps / 4 at 3 kbps, ~0.7 M parameters)
with:

- reconstruction losses: multi-scale mel L1 (log and linear magnitude, STFT sizes 128..2048), multi-scale STFT loss
  (spectral convergence + log-magnitude L1 on the same STFTs) and waveform L1 (optionally a negative SI-SNR term);
- a commitment loss (each residual layer's input -> stop-gradient of its quantized value, averaged over the layers
  used, as EnCodec);
- weight-norm data-dependent init of the encoder (its output starts with unit spread, so codebooks can follow it);
- codebooks as EnCodec trains them: k-means on encoder outputs at step 0, then exponential moving averages of the
  assigned encoder outputs (`cluster_size` / `embed_avg`, Laplace-smoothed) with dead-code replacement, all on the
  model's own `quantizer.layers[i].codebook` buffers, so `model.encode` / `model.decode` use exactly what was trained.
  Gradients pass the quantizer by the straight-through estimator. Each step uses the codebooks of one of the
  configured `target_bandwidths`, drawn at random (EnCodec's bandwidth sampling), so every bandwidth decodes and each
  residual level learns what the levels before it leave.

Why the bandwidth ladder needs care: the first committed codec (sampling 2 or 4 codebooks, the commitment summed over
the layers) let its encoder collapse onto the first codebook's 1024 points (0.6 % of the encoder output's energy left
for the residual levels, measured), so decoding 1, 2 or 4 codebooks gave the same log-mel L1. Drawing a single
codebook too, and a commitment averaged over the layers (EnCodec's recipe), was not enough in short runs (3-minute
pilots from scratch, in 64 and 16 latent dims: the same L1 at every bandwidth). `--coarse-dims N` keeps the first
codebook to the leading N latent dimensions, so the others reach the decoder only through codebooks 2..: the decoder
must learn to read them (see `restrict_to_coarse`). `--init-from` starts from an existing codec's weights.

There is **no adversarial loss** (EnCodec's multi-scale STFT discriminator) and no loss balancer: that, the tiny size
and ~25 CPU-minutes of training put it far below `facebook/encodec_24khz`. It exists so that tests and demos run
offline with codes that mean something; online users should use `facebook/encodec_24khz`.

Train a codec from scratch with the bandwidth ladder (and save the default processor that bundles it):

    nice -n 5 whisper-gpt train-codec --dataset data/whisper-gpt-corpus-large \
        --output-dir hub/whisper-gpt-codec-small --processor-output-dir hub/whisper-gpt-processor \
        --checkpoint-dir runs/codec-small --max-steps 2000 --max-minutes 40 --batch-size 16 \
        --segment-seconds 0.64 --lr 1.5e-3 --seed 0 --save-every 100 --num-threads 1 \
        --coarse-dims 32 --continuous-fraction 0.3 --corr-weight 0.2 --commit-weight 0.05
    # interrupted? the same command with --resume continues from the newest checkpoint and its step count

The committed codec was not trained by that one command but in three stages (first codec, then two retrainings with
`--init-from`); its model card lists them with their exact commands.

Then measure it and put the numbers into its model card:

    whisper-gpt codec-report --codec hub/whisper-gpt-codec-small --dataset hub/whisper-gpt-corpus-small \
        --split test --output-dir docs --update-card

Single process only (the EMA codebook statistics are not all-reduced across processes).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLING_RATE = 24_000
UPSAMPLING_RATIOS = [8, 5, 4, 2]  # hop 320: one frame per 13.3 ms, 75 frames/s, as facebook/encodec_24khz
CARD_REPORT_BEGIN = "<!-- codec-report:begin -->"
CARD_REPORT_END = "<!-- codec-report:end -->"
LOSS_KEYS = ("loss", "mel", "stft", "wave", "corr", "commit")


# ----------------------------------------------------------------------------------------------------------------------
# the model


def small_codec_config(num_filters: int = 8, hidden_size: int = 64, codebook_size: int = 1024,
                       target_bandwidths=(0.75, 1.5, 3.0), num_lstm_layers: int = 1):
    """A reduced 24 kHz EnCodec config; the defaults give ~0.73 M parameters (EnCodec 24 kHz: 14.9 M)."""
    from transformers import EncodecConfig

    return EncodecConfig(
        sampling_rate=SAMPLING_RATE,
        audio_channels=1,
        upsampling_ratios=list(UPSAMPLING_RATIOS),
        use_causal_conv=True,  # a frame's code depends only on the past: decoding can stream (DESIGN.md, invariant 4)
        # zero (not reflect) left padding: reflecting would show the first frames a few *later* frames at clip start
        pad_mode="constant",
        normalize=False,
        chunk_length_s=None,
        num_filters=num_filters,
        hidden_size=hidden_size,  # = codebook_dim
        num_lstm_layers=num_lstm_layers,
        codebook_size=codebook_size,
        # 750 bit/s per 1024-code codebook at 75 Hz: 0.75 kbps -> 1 codebook (the coarse one, what the LM predicts),
        # 1.5 kbps -> 2, 3 kbps -> 4
        target_bandwidths=sorted(float(b) for b in target_bandwidths),
    )


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def data_dependent_init(encoder: nn.Module, audio: torch.Tensor) -> None:
    """Weight-norm data-dependent init (Salimans & Kingma, 2016) of every encoder convolution, in forward order.

    Each conv's gain and bias are set so its output has zero mean and unit variance per channel on `audio`. Why: at
    the default init the encoder output is a tiny cloud (std ~0.002) around a large offset (~0.04), so the first
    optimizer steps move the whole cloud farther than its own width, every frame lands on one code and the EMA
    codebooks never catch up (all frames -> one code within 3 steps, measured). Normalised, the cloud has unit width
    and k-means codebooks stay in it.
    """
    from transformers.models.encodec.modeling_encodec import EncodecConv1d

    done, handles = set(), []

    def normalise(module, _inputs, out):
        if module in done:
            return None
        done.add(module)
        mean, std = out.mean((0, 2)), out.std((0, 2)).clamp_min(1e-5)
        module.conv.parametrizations.weight.original0.div_(std.view(-1, 1, 1))  # weight = g * v / |v|, per channel
        module.conv.bias.sub_(mean).div_(std)
        return (out - mean[:, None]) / std[:, None]

    for module in encoder.modules():
        if isinstance(module, EncodecConv1d):
            handles.append(module.register_forward_hook(normalise))
    try:
        encoder(audio)
    finally:
        for h in handles:
            h.remove()


def codebooks(model) -> list:
    """The `EncodecEuclideanCodebook` modules; their buffers (`embed`, `embed_avg`, `cluster_size`) are the codebooks."""
    return [layer.codebook for layer in model.quantizer.layers]


def quantizers_per_bandwidth(model) -> list[int]:
    return sorted({model.quantizer.get_num_quantizers_for_bandwidth(b) for b in model.config.target_bandwidths})


def load_initial_weights(model, codec_dir: str | os.PathLike) -> None:
    """Copy every weight and codebook buffer of a trained codec (`--init-from`) into `model`; shapes must agree.

    Only the architecture has to match (channels, codebook size and count): the target bandwidths may differ, so an
    older codec can be retrained with a new bandwidth ladder.
    """
    from transformers import EncodecModel

    source = EncodecModel.from_pretrained(str(codec_dir))
    theirs, ours = source.state_dict(), model.state_dict()
    mismatched = sorted(k for k in ours if k in theirs and theirs[k].shape != ours[k].shape)
    missing, unexpected = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    if mismatched or missing or unexpected:
        raise ValueError(
            f"--init-from {codec_dir} does not fit this architecture (shape mismatch: {mismatched[:3]}, missing: "
            f"{missing[:3]}, unexpected: {unexpected[:3]}); pass the same --num-filters / --hidden-size / "
            f"--codebook-size and a top bandwidth with the same number of codebooks as that codec.")
    model.load_state_dict(theirs)


# ----------------------------------------------------------------------------------------------------------------------
# data: whole clips in memory as int16, random crops


def load_clips(dataset: str | os.PathLike, split: str, max_seconds: float | None = None,
               categories: tuple[str, ...] = ("speech", "music")) -> list[dict]:
    """Clips of one split as `{"id", "category", "audio": int16 array}`; `max_seconds` is split evenly by category.

    `dataset` is a local Hub-layout folder or a Hub repo id (`datasets.load_dataset`). The FLAC bytes are decoded with
    soundfile rather than by `datasets` (no torchcodec round trip; int16 keeps the large corpus at ~0.6 GB in memory).
    """
    import soundfile as sf
    from datasets import Audio, load_dataset

    ds = load_dataset(str(dataset), split=split).cast_column("audio", Audio(decode=False))
    budget = {c: (max_seconds / len(categories) if max_seconds else math.inf) for c in categories}
    clips = []
    for row in ds:
        cat = row["category"]
        if cat not in budget or budget[cat] <= 0:
            continue
        src = row["audio"]["bytes"] or row["audio"]["path"]
        audio, rate = sf.read(io.BytesIO(src) if isinstance(src, bytes) else src, dtype="int16", always_2d=True)
        if rate != SAMPLING_RATE:
            raise ValueError(f"{row.get('id')} is {rate} Hz; the codec trains on {SAMPLING_RATE} Hz audio.")
        clips.append({"id": row.get("id", str(len(clips))), "category": cat, "audio": audio.mean(1).astype(np.int16)})
        budget[cat] -= audio.shape[0] / rate
    if not clips:
        raise ValueError(f"No {categories} clips in split {split!r} of {dataset}.")
    return clips


def to_float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32768.0


class SegmentSampler:
    """Random fixed-length crops; a clip is drawn proportionally to its length, so every second is equally likely.

    Its RNG state is saved in checkpoints (`accelerator.register_for_checkpointing`), so `--resume` continues the same
    stream of crops instead of replaying the first ones.
    """

    def __init__(self, clips: list[dict], segment_samples: int, seed: int, gain_db: tuple[float, float] = (-6.0, 0.0)):
        self.clips = [c["audio"] for c in clips]
        lengths = np.array([len(a) for a in self.clips], dtype=np.float64)
        self.p = lengths / lengths.sum()
        self.segment = segment_samples
        self.gain_db = gain_db  # the corpus is peak-normalised to -6..-1 dB: a little gain variety for robustness
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int) -> torch.Tensor:
        out = np.zeros((batch_size, 1, self.segment), dtype=np.float32)
        for b, i in enumerate(self.rng.choice(len(self.clips), size=batch_size, p=self.p)):
            clip = self.clips[i]
            start = int(self.rng.integers(0, max(1, len(clip) - self.segment + 1)))
            piece = to_float(clip[start: start + self.segment])
            out[b, 0, : len(piece)] = piece * 10 ** (self.rng.uniform(*self.gain_db) / 20)
        return torch.from_numpy(out)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


class TrainState:
    """Step count and training time; checkpointed with the model so `--resume` continues both."""

    def __init__(self):
        self.step = 0
        self.train_seconds = 0.0

    def state_dict(self) -> dict:
        return {"step": self.step, "train_seconds": self.train_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.train_seconds = int(state["step"]), float(state["train_seconds"])


# ----------------------------------------------------------------------------------------------------------------------
# residual vector quantization with EMA codebooks (EnCodec's scheme, on the transformers model's buffers)


def nearest(x: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (squared Euclidean) for each row of `x` `[N, D]`; `embed` is `[K, D]`."""
    dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1)[None]
    return dist.argmin(-1)


@torch.no_grad()
def kmeans(x: torch.Tensor, k: int, iters: int = 10, generator: torch.Generator | None = None):
    """Lloyd's k-means from `k` random rows of `x`; returns centroids `[k, D]` and cluster sizes `[k]`."""
    n = x.shape[0]
    pick = torch.randperm(n, generator=generator)[:k] if n >= k else torch.randint(0, n, (k,), generator=generator)
    centroids = x[pick].clone()
    for _ in range(iters):
        assign = nearest(x, centroids)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        # an empty cluster keeps its old centroid (as EnCodec's k-means does)
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
    counts = torch.bincount(nearest(x, centroids), minlength=k).to(x.dtype)
    return centroids, counts


@torch.no_grad()
def init_codebooks_kmeans(model, embeddings: torch.Tensor, iters: int = 10, seed: int = 0,
                          batch_frames: int | None = None, coarse_dims: int | None = None) -> None:
    """Fit every codebook by k-means: layer i on the residual left by layers < i. `embeddings` is `[N, D]`.

    `coarse_dims`: the first codebook is fitted on (and kept to) the leading `coarse_dims` dimensions only.

    `batch_frames` (frames per training batch) rescales the k-means cluster sizes into the units of the per-batch EMA
    counts, and `embed_avg = embed * cluster_size` keeps `embed_avg / cluster_size == embed` from the first EMA step on
    (EnCodec stores `embed_avg = embed`, which shrinks the codes at the first update until the average forgets it).
    """
    generator = torch.Generator().manual_seed(seed)
    residual = embeddings.detach().float().cpu()
    scale = (batch_frames or residual.shape[0]) / residual.shape[0]
    for i, cb in enumerate(codebooks(model)):
        source = residual
        if i == 0 and coarse_dims:
            source = residual.clone()
            source[:, coarse_dims:] = 0
        centroids, counts = kmeans(source, cb.codebook_size, iters, generator)
        cb.embed.copy_(centroids)
        cb.cluster_size.copy_(counts * scale)
        cb.embed_avg.copy_(centroids * cb.cluster_size[:, None])
        cb.inited.fill_(1)
        residual = residual - centroids[nearest(residual, centroids)]


@torch.no_grad()
def ema_update(cb, x: torch.Tensor, codes: torch.Tensor, decay: float = 0.99, eps: float = 1e-5) -> None:
    """Move each code toward the mean of the vectors assigned to it (exponential moving averages).

    `cluster_size` tracks how many vectors a code gets per batch, `embed_avg` their sum; the code is their ratio, with
    Laplace smoothing so a rarely used code never divides by ~0.
    """
    k = cb.codebook_size
    counts = torch.bincount(codes, minlength=k).to(x.dtype)
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, codes, x)
    cb.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
    cb.embed_avg.mul_(decay).add_(sums, alpha=1 - decay)
    total = cb.cluster_size.sum()
    smoothed = (cb.cluster_size + eps) / (total + k * eps) * total
    cb.embed.copy_(cb.embed_avg / smoothed[:, None])


@torch.no_grad()
def replace_dead_codes(cb, x: torch.Tensor, threshold: float, generator: torch.Generator | None = None) -> int:
    """Codes used less than `threshold` times per batch (EMA) restart at random vectors of the current batch.

    Unlike EnCodec, which only overwrites `embed` (the next EMA step then recomputes it from the stale `embed_avg`),
    the replacement also resets the averages, so a restarted code really starts where it was put.
    """
    dead = cb.cluster_size < threshold
    n = int(dead.sum())
    if n:
        pick = x[torch.randint(0, x.shape[0], (n,), generator=generator, device="cpu").to(x.device)]
        cb.embed[dead] = pick
        cb.cluster_size[dead] = threshold
        cb.embed_avg[dead] = pick * threshold
    return n


@torch.no_grad()
def restrict_to_coarse(cb, coarse_dims: int) -> None:
    """Zero the first codebook outside its `coarse_dims` leading dimensions (`--coarse-dims`).

    Why: left alone, a short run lets the encoder put everything it encodes on a low-dimensional set that one
    1024-code codebook already quantizes to ~1 % of its variance, so the residual codebooks have nothing to carry
    (measured: identical log-mel L1 with 1, 2 or 4 codebooks, in 64 and in 16 dimensions). With the first codebook
    zero on the trailing dimensions, those dimensions reach the decoder only through codebooks 2.., so the decoder
    learns to read them and the encoder to fill them. Nothing changes at inference: the nearest code of the first
    codebook is still the nearest in all dimensions (the zero dimensions add the same distance to every code), and
    `EncodecModel.encode` / `decode` run unchanged.
    """
    cb.embed[:, coarse_dims:] = 0
    cb.embed_avg[:, coarse_dims:] = 0


def residual_quantize(model, z: torch.Tensor, n_q: int, train: bool = False, decay: float = 0.99,
                      dead_threshold: float = 0.0, generator: torch.Generator | None = None,
                      coarse_dims: int | None = None):
    """Residual VQ of encoder output `z` `[B, D, T]` with the first `n_q` codebooks of `model`.

    Returns `(quantized [B, D, T], codes [n_q, B, T], commitment loss, codes replaced)`. `quantized` is straight-through
    (value of the quantized sum, gradient of `z`). The commitment term of layer i is `|r_i - sg(q_i)|^2` with
    `r_i = z - sg(q_0 + ... + q_{i-1})`, averaged over the `n_q` layers (EnCodec): every layer pulls the encoder toward
    what the codebooks can represent, and a single-codebook step pulls no harder than a four-codebook one.
    With `train`, each used codebook gets its EMA update (assignments by the codebook before the update) and
    dead-code replacement, as EnCodec does.
    """
    b, d, t = z.shape
    x = z.permute(0, 2, 1).reshape(-1, d)
    quantized = torch.zeros_like(x)
    commit = z.new_zeros(())
    all_codes, replaced = [], 0
    for i, cb in enumerate(codebooks(model)[:n_q]):
        residual = x - quantized.detach()
        codes = nearest(residual.detach(), cb.embed)
        q = F.embedding(codes, cb.embed).detach()
        if i == 0 and coarse_dims:  # the first codebook only sees (and only commits) the coarse dimensions
            commit = commit + F.mse_loss(residual[:, :coarse_dims], q[:, :coarse_dims])
        else:
            commit = commit + F.mse_loss(residual, q)
        quantized = quantized + q
        all_codes.append(codes.view(b, t))
        if train:
            ema_update(cb, residual.detach(), codes, decay)
            if dead_threshold > 0:
                replaced += replace_dead_codes(cb, residual.detach(), dead_threshold, generator)
            if i == 0 and coarse_dims:
                restrict_to_coarse(cb, coarse_dims)
    out = x + (quantized - x).detach()  # straight-through estimator
    return out.view(b, t, d).permute(0, 2, 1), torch.stack(all_codes), commit / max(1, n_q), replaced


@torch.no_grad()
def residual_energy(model, z: torch.Tensor) -> list[float]:
    """Share of the encoder output's variance left after 1, 2, ... codebooks (all of them): the ladder's raw material.

    Relative to the variance around the batch mean (a constant offset carries no information). Near 0 after the
    first codebook means the encoder has collapsed onto its codes and the finer levels carry nothing.
    """
    x = z.permute(0, 2, 1).reshape(-1, z.shape[1]).float()
    total = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
    residual, shares = x.clone(), []
    for cb in codebooks(model):
        residual = residual - F.embedding(nearest(residual, cb.embed), cb.embed)
        shares.append(float(residual.pow(2).sum() / total))
    return shares


# ----------------------------------------------------------------------------------------------------------------------
# losses


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


def training_step(model, loss_fn, audio: torch.Tensor, n_q: int, args, generator=None) -> dict:
    """One forward pass: encode, quantize (EMA-updating the codebooks), decode; returns the losses.

    `n_q = 0` is a continuous step (`--continuous-fraction`): the codebooks are updated and the commitment computed
    with all of them, but the decoder gets the unquantized encoder output. Why: the finer codebooks only help if the
    decoder reads detail the coarse code lacks; trained on quantized latents alone, a small decoder learns to render
    what one codebook carries and ignores the rest (measured: equal L1 at every bandwidth). Trained on the continuous
    latent too, it reads all of it, and each added codebook brings the quantized latent closer to it.
    """
    z = model.encoder(audio)
    quantize_n_q = n_q or model.config.num_quantizers
    zq, codes, commit, replaced = residual_quantize(model, z, quantize_n_q, train=True, decay=args.ema_decay,
                                                    dead_threshold=dead_code_threshold(args, z), generator=generator,
                                                    coarse_dims=getattr(args, "coarse_dims", None))
    y = model.decoder(zq if n_q else z)[..., : audio.shape[-1]]
    spectral = loss_fn.losses(y, audio)
    mel, stft = spectral["mel"], spectral["stft"]
    wave = (y - audio).abs().mean()
    corr = correlation_loss(y, audio)
    loss = (args.mel_weight * mel + getattr(args, "stft_weight", 0.0) * stft + args.wave_weight * wave
            + getattr(args, "corr_weight", 0.0) * corr + args.commit_weight * commit)
    return {"loss": loss, "mel": mel.detach(), "stft": stft.detach(), "wave": wave.detach(), "corr": corr.detach(),
            "commit": commit.detach(), "replaced": replaced, "distinct": int(codes[0].unique().numel()),
            "z": z.detach()}


def dead_code_threshold(args, z: torch.Tensor) -> float:
    # in units of the uniform share (batch frames / codebook size): independent of batch size and segment length
    return args.dead_code_fraction * z.shape[0] * z.shape[-1] / args.codebook_size


# ----------------------------------------------------------------------------------------------------------------------
# checkpoints: written to a temporary folder, then renamed, so a crash never leaves a half-written checkpoint


def save_checkpoint(accelerator, checkpoint_dir: Path, step: int, extra: dict, keep: int = 2) -> Path:
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir / f"checkpoint-{step:07d}"
    tmp = checkpoint_dir / f".tmp-checkpoint-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.save_state(str(tmp))
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **extra}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in sorted(checkpoint_dir.glob("checkpoint-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    found = sorted(Path(checkpoint_dir).glob("checkpoint-*")) if Path(checkpoint_dir).exists() else []
    return found[-1] if found else None


# ----------------------------------------------------------------------------------------------------------------------
# training


@torch.no_grad()
def encoder_outputs(model, sampler: SegmentSampler, seconds: float, batch_size: int, device) -> torch.Tensor:
    """Encoder output vectors `[N, D]` of `seconds` of random training crops (the k-means pool)."""
    chunks, n = [], 0
    while n < seconds * SAMPLING_RATE:
        audio = sampler.sample(batch_size).to(device)
        chunks.append(model.encoder(audio).permute(0, 2, 1).reshape(-1, model.config.hidden_size).float().cpu())
        n += audio.numel()
    return torch.cat(chunks)


def lr_lambda(warmup: int, total: int, floor: float = 0.1):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def train(args) -> dict:
    """Train (or resume) and save the codec to `args.output_dir`; returns a summary (also used by the tests)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import EncodecModel

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    accelerator = Accelerator(mixed_precision=args.mixed_precision, cpu=args.cpu)
    if accelerator.num_processes > 1:
        raise RuntimeError("train-codec runs in one process: the EMA codebook statistics are not all-reduced.")
    set_seed(args.seed)
    config = small_codec_config(args.num_filters, args.hidden_size, args.codebook_size,
                                target_bandwidths=getattr(args, "target_bandwidths", None) or (0.75, 1.5, 3.0))
    model = EncodecModel(config)
    init_from = getattr(args, "init_from", None)
    if init_from and not args.resume:
        load_initial_weights(model, init_from)
    clips = load_clips(args.dataset, "train", max_seconds=args.max_train_seconds)
    train_hours = sum(len(c["audio"]) for c in clips) / SAMPLING_RATE / 3600
    sampler = SegmentSampler(clips, int(args.segment_seconds * SAMPLING_RATE), args.seed)
    state = TrainState()
    loss_fn = MultiScaleMelLoss().to(accelerator.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.5, 0.9), weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(args.warmup_steps, args.max_steps))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    accelerator.register_for_checkpointing(sampler, state)
    raw = accelerator.unwrap_model(model)
    checkpoint_dir = Path(args.checkpoint_dir)

    resumed_from = latest_checkpoint(checkpoint_dir) if args.resume else None
    if resumed_from is not None:
        accelerator.load_state(str(resumed_from))  # model (codebook buffers included), optimizer, RNGs, sampler, step
        accelerator.print(f"resumed from {resumed_from} at step {state.step}")
    elif init_from and not getattr(args, "refit_codebooks", False):
        accelerator.print(f"starting from the weights and codebooks of {init_from}")
    else:
        if not init_from:
            data_dependent_init(raw.encoder, sampler.sample(args.batch_size).to(accelerator.device))
        pool = encoder_outputs(raw, sampler, args.kmeans_seconds, args.batch_size, accelerator.device)
        batch_frames = args.batch_size * math.ceil(args.segment_seconds * SAMPLING_RATE / raw.config.hop_length)
        init_codebooks_kmeans(raw, pool, iters=args.kmeans_iters, seed=args.seed, batch_frames=batch_frames,
                              coarse_dims=getattr(args, "coarse_dims", None))
    start_step = state.step
    choices = quantizers_per_bandwidth(raw)
    generator = torch.Generator().manual_seed(args.seed + start_step)  # bandwidth draws and dead-code restarts
    history = []
    model.train()
    bar = tqdm(total=args.max_steps, initial=start_step, desc="train-codec", unit="step",
               disable=not accelerator.is_local_main_process or args.no_progress)
    t0, deadline = time.perf_counter(), time.perf_counter() + args.max_minutes * 60 if args.max_minutes else math.inf
    while state.step < args.max_steps and time.perf_counter() < deadline:
        tick = time.perf_counter()
        audio = sampler.sample(args.batch_size).to(accelerator.device)
        n_q = choices[int(torch.randint(len(choices), (1,), generator=generator))]
        if getattr(args, "continuous_fraction", 0.0) > 0 and float(torch.rand(1, generator=generator)) < \
                args.continuous_fraction:
            n_q = 0  # a continuous step (see training_step)
        with accelerator.autocast():
            out = training_step(raw, loss_fn, audio, n_q, args, generator)
        accelerator.backward(out["loss"])
        accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.train_seconds += time.perf_counter() - tick
        record = {"step": state.step, "n_q": n_q, "replaced": out["replaced"], "distinct": out["distinct"],
                  "lr": scheduler.get_last_lr()[0],
                  **{k: float(out[k].detach()) for k in LOSS_KEYS}}
        if args.log_every and state.step % args.log_every == 0:
            record["residual_energy"] = [round(v, 4) for v in residual_energy(raw, out["z"])]
        history.append(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.3f}", mel=f"{record['mel']:.3f}", codes=record["distinct"],
                        dead=record["replaced"])
        if args.log_file and (state.step % args.log_every == 0 or state.step == args.max_steps):
            with open(args.log_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        if args.save_every and state.step % args.save_every == 0:
            save_checkpoint(accelerator, checkpoint_dir, state.step, {"train_seconds": state.train_seconds})
    bar.close()
    # always leave a checkpoint at the last step, so `--resume` with a larger --max-steps continues from here
    save_checkpoint(accelerator, checkpoint_dir, state.step, {"train_seconds": state.train_seconds})
    summary = {
        "start_step": start_step,
        "step": state.step,
        "train_seconds": round(state.train_seconds, 1),
        "wall_seconds_this_run": round(time.perf_counter() - t0, 1),
        "resumed_from": str(resumed_from) if resumed_from else None,
        "train_hours": round(train_hours, 3),
        "num_parameters": num_parameters(raw),
        "final": {k: float(np.mean([h[k] for h in history[-50:]])) for k in LOSS_KEYS} if history else None,
        "final_residual_energy": next((h["residual_energy"] for h in reversed(history) if "residual_energy" in h),
                                      None),
        "init_from": str(init_from) if init_from else None,
        "final_steps_averaged": min(50, len(history)),
        "history": history,
    }
    if args.output_dir:
        save_codec(raw, args.output_dir, args, summary)
        if args.processor_output_dir:
            save_default_processor(args.output_dir, args.processor_output_dir)
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# saving: the codec as a Hub model folder, and the default processor that bundles it


def save_codec(model, output_dir: str | os.PathLike, args, summary: dict) -> None:
    """`save_pretrained` + EnCodec's feature extractor config + a model card + the exact training arguments."""
    from transformers import EncodecFeatureExtractor

    out = Path(output_dir)
    model.eval().save_pretrained(out)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE, padding_value=0.0, chunk_length_s=None,
                            overlap=None).save_pretrained(out)
    meta = {k: v for k, v in summary.items() if k != "history"}
    meta["command"] = command_line(args)
    meta["card_note"] = getattr(args, "card_note", None)
    (out / "training_summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    old = (out / "README.md").read_text() if (out / "README.md").exists() else ""
    (out / "README.md").write_text(model_card(meta, args, report_section(old)))


def rewrite_card(codec_dir: str | os.PathLike, card_note: str | None = None) -> None:
    """Re-render a trained codec's model card from its `training_summary.json` (keeps the report block)."""
    import shlex

    out = Path(codec_dir)
    meta = json.loads((out / "training_summary.json").read_text())
    if card_note is not None:
        meta["card_note"] = card_note
        (out / "training_summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    args = parse_args(shlex.split(meta["command"].replace("\\\n", " "))[2:])
    args.card_note = meta.get("card_note")
    old = (out / "README.md").read_text() if (out / "README.md").exists() else ""
    (out / "README.md").write_text(model_card(meta, args, report_section(old)))


def command_line(args) -> str:
    """The `whisper-gpt train-codec` command that reproduces this run (every training flag spelled out)."""
    flags = ["dataset", "output_dir", "processor_output_dir", "checkpoint_dir", "max_steps", "max_minutes",
             "batch_size", "segment_seconds", "lr", "warmup_steps", "seed", "save_every", "num_filters", "hidden_size",
             "codebook_size", "kmeans_seconds", "kmeans_iters", "ema_decay", "dead_code_fraction", "mel_weight",
             "stft_weight", "wave_weight", "corr_weight", "commit_weight", "grad_clip", "max_train_seconds",
             "num_threads", "target_bandwidths", "init_from", "coarse_dims", "continuous_fraction"]
    parts = ["whisper-gpt train-codec"]
    for name in flags:
        value = getattr(args, name, None)
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        if value is not None:
            parts.append(f"--{name.replace('_', '-')} {value}")
    if getattr(args, "refit_codebooks", False):
        parts.append("--refit-codebooks")
    if getattr(args, "resume", False):
        parts.append("--resume")
    return " \\\n    ".join(parts)


def report_section(card: str) -> str:
    """The codec-report block of an existing card (kept when the codec is re-saved), else a placeholder."""
    if CARD_REPORT_BEGIN in card and CARD_REPORT_END in card:
        return card[card.index(CARD_REPORT_BEGIN): card.index(CARD_REPORT_END) + len(CARD_REPORT_END)]
    return (f"{CARD_REPORT_BEGIN}\n_Not measured yet: run `whisper-gpt codec-report --codec DIR --dataset DIR "
            f"--update-card`._\n{CARD_REPORT_END}")


def update_card_report(codec_dir: str | os.PathLike, markdown: str) -> None:
    """Replace the report block of the codec's model card with `markdown` (used by `codec-report --update-card`)."""
    path = Path(codec_dir) / "README.md"
    card = path.read_text()
    block = f"{CARD_REPORT_BEGIN}\n{markdown.strip()}\n{CARD_REPORT_END}"
    old = report_section(card)
    path.write_text(card.replace(old, block) if old in card else card.rstrip() + "\n\n" + block + "\n")


def ladder_text(args) -> str:
    bandwidths = sorted(getattr(args, "target_bandwidths", None) or (1.5, 3.0))
    per_codebook = math.log2(args.codebook_size) * SAMPLING_RATE / math.prod(UPSAMPLING_RATIOS) / 1000
    return ", ".join(f"{b:g} kbps = {max(1, math.floor(b / per_codebook + 1e-9))} codebook"
                     f"{'s' if math.floor(b / per_codebook + 1e-9) > 1 else ''}" for b in bandwidths)


def init_text(args) -> str:
    if getattr(args, "init_from", None):
        refit = (" with every codebook refitted by k-means on its encoder outputs" if getattr(args, "refit_codebooks",
                                                                                              False) else "")
        return f"the weights of the codec in `{args.init_from}` (the same architecture){refit}."
    return "weight-norm data-dependent init of the encoder convolutions (unit-spread encoder output)."


def coarse_text(args) -> str:
    if not getattr(args, "coarse_dims", None):
        return ""
    return (f" The first codebook is kept to the leading {args.coarse_dims} of the {args.hidden_size} latent "
            "dimensions (zero on the others), so the trailing ones reach the decoder only through the residual "
            "codebooks: each bandwidth step adds detail.")


def model_card(meta: dict, args, report: str) -> str:
    import transformers

    from whisper_gpt_hf.publishing.card import render_card

    dataset = Path(str(args.dataset)).name
    final = meta.get("final") or {}
    minutes = meta["train_seconds"] / 60
    stopped = ""
    if meta["step"] < args.max_steps:
        lr_left = lr_lambda(args.warmup_steps, args.max_steps)(meta["step"])
        stopped = (f" The `--max-minutes` limit stopped it at step {meta['step']} of the {args.max_steps}-step "
                   f"schedule, with the learning rate still at {100 * lr_left:.0f} % of its peak.")
    note = f"\n\n{args.card_note.strip()}" if getattr(args, "card_note", None) else ""

    values = {
        "dataset": dataset,
        "millions_of_parameters": f"{meta['num_parameters'] / 1e6:.2f}",
        "train_minutes_rounded": f"{minutes:.0f}",
        "sampling_rate": SAMPLING_RATE,
        "num_filters": args.num_filters,
        "hidden_size": args.hidden_size,
        "codebook_size": args.codebook_size,
        "bandwidth_ladder": ladder_text(args),
        "num_parameters": f"{meta['num_parameters']:,}",
        "train_hours": f"{meta['train_hours']:.2f}",
        "segment_seconds": args.segment_seconds,
        "mel_weight": args.mel_weight,
        "stft_weight": getattr(args, "stft_weight", 0.0),
        "wave_weight": args.wave_weight,
        "corr_weight": getattr(args, "corr_weight", 0.0),
        "commit_weight": args.commit_weight,
        "init": init_text(args),
        "kmeans_seconds": args.kmeans_seconds,
        "kmeans_iters": args.kmeans_iters,
        "ema_decay": args.ema_decay,
        "dead_code_fraction": args.dead_code_fraction,
        "coarse_note": coarse_text(args),
        "lr": args.lr,
        "warmup_steps": args.warmup_steps,
        "batch_size": args.batch_size,
        "grad_clip": args.grad_clip,
        "steps": meta['step'],
        "train_minutes": f"{minutes:.1f}",
        "num_threads": args.num_threads or "default",
        "final_steps_averaged": meta.get("final_steps_averaged", 50),
        "final_loss": f"{final.get('loss', float('nan')):.3f}",
        "final_mel": f"{final.get('mel', float('nan')):.3f}",
        "final_wave": f"{final.get('wave', float('nan')):.4f}",
        "final_commit": f"{final.get('commit', float('nan')):.4f}",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "stopped": stopped,
        "card_note": note,
        "command": meta['command'],
        "report": report,
    }
    # str(): a flag left at None reads "None", as it always has, instead of failing the card
    return render_card("codec", {k: str(v) for k, v in values.items()},  # cards/codec.md
                       optional=("coarse_note", "stopped", "card_note"))


def save_default_processor(codec_dir: str | os.PathLike, processor_dir: str | os.PathLike):
    """The package's default processor: the causal mel front end + this codec, bundled in `audio_tokenizer/`."""
    from transformers import EncodecModel

    from whisper_gpt_hf.assets import strip_remote_code
    from whisper_gpt_hf.modeling import WhisperGPTFeatureExtractor, WhisperGPTProcessor

    codec = EncodecModel.from_pretrained(str(codec_dir)).eval()
    processor = WhisperGPTProcessor(WhisperGPTFeatureExtractor(), audio_tokenizer=codec)
    out = Path(processor_dir)
    processor.save_pretrained(str(out))
    strip_remote_code(out)  # loaded with the package; `whisper-gpt publish` writes the remote code
    (out / "README.md").write_text(processor_card(Path(codec_dir).name))
    return processor


def processor_card(codec_name: str) -> str:
    from whisper_gpt_hf.publishing.card import render_card

    return render_card("processor", {"codec_name": codec_name})  # cards/processor.md


# ----------------------------------------------------------------------------------------------------------------------
# command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    from whisper_gpt_hf.assets import CORPUS_SMALL

    p.add_argument("--dataset", default=str(CORPUS_SMALL), help="corpus folder or Hub repo id (train split is used)")
    p.add_argument("--output-dir", required=True, help="where the trained codec is saved (save_pretrained)")
    p.add_argument("--processor-output-dir", default=None, help="also save the default processor bundling the codec")
    p.add_argument("--checkpoint-dir", default="runs/train-codec", help="Accelerate checkpoints (keep out of hub/)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --checkpoint-dir")
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--max-minutes", type=float, default=None, help="also stop after this much wall time")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--segment-seconds", type=float, default=0.64)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--num-filters", type=int, default=8)
    p.add_argument("--hidden-size", type=int, default=64, help="encoder output = codebook dimension")
    p.add_argument("--codebook-size", type=int, default=1024)
    p.add_argument("--kmeans-seconds", type=float, default=240.0, help="audio for the k-means codebook init")
    p.add_argument("--kmeans-iters", type=int, default=10)
    p.add_argument("--ema-decay", type=float, default=0.95,
                   help="EnCodec uses 0.99 over 300k steps; a short run needs codebooks that keep up with the encoder")
    p.add_argument("--dead-code-fraction", type=float, default=0.2,
                   help="restart codes whose EMA usage is below this fraction of the uniform share")
    p.add_argument("--target-bandwidths", type=float, nargs="+", default=[0.75, 1.5, 3.0],
                   help="kbps; 750 bit/s per 1024-code codebook: 0.75 1.5 3.0 = 1, 2, 4 codebooks (one drawn per step)")
    p.add_argument("--init-from", default=None,
                   help="start from this trained codec's weights and codebooks (same architecture) instead of scratch")
    p.add_argument("--refit-codebooks", action="store_true",
                   help="with --init-from: refit every codebook by k-means on the loaded encoder's outputs")
    p.add_argument("--coarse-dims", type=int, default=None,
                   help="keep the first codebook to the leading N latent dimensions, so the rest reach the decoder "
                        "only through the residual codebooks (default: all, plain EnCodec)")
    p.add_argument("--continuous-fraction", type=float, default=0.0,
                   help="share of steps that decode the unquantized latent (codebooks still updated), so the decoder "
                        "learns to read the detail the finer codebooks carry")
    p.add_argument("--mel-weight", type=float, default=1.0)
    p.add_argument("--stft-weight", type=float, default=0.5, help="multi-scale STFT loss (spectral convergence + log)")
    p.add_argument("--wave-weight", type=float, default=0.1)
    p.add_argument("--corr-weight", type=float, default=0.0,
                   help="1 - cosine of decoded and input waveform (a bounded SI-SNR surrogate)")
    p.add_argument("--commit-weight", type=float, default=0.1,
                   help="higher weights collapsed the encoder onto a few codes in the first steps (measured)")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--max-train-seconds", type=float, default=None, help="use at most this much training audio")
    p.add_argument("--num-threads", type=int, default=None,
                   help="torch CPU threads (1 on a busy 2-core machine: 2 threads ran ~6x slower per step, measured)")
    p.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if an accelerator is present")
    p.add_argument("--card-note", default=None, help="a paragraph about the training data for the model card")
    p.add_argument("--log-file", default=None, help="append JSON lines of losses here")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--no-progress", action="store_true")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train-codec", help="train the small EnCodec-architecture codec on the corpus",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.set_defaults(func=_main)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="whisper-gpt train-codec")
    add_arguments(p)
    return p.parse_args(argv)


def _main(args) -> int:
    summary = train(args)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(parse_args(sys.argv[1:])))
