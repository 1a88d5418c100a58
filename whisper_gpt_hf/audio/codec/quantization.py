"""Residual vector quantization with EMA codebooks: EnCodec's scheme, on the transformers model's own buffers.

k-means at step 0 (`init_codebooks_kmeans`), then exponential moving averages of the assigned encoder outputs
(`ema_update`, Laplace-smoothed) with dead-code replacement (`replace_dead_codes`), optionally keeping the first
codebook to the leading latent dimensions (`restrict_to_coarse`). `residual_quantize` is the training-time quantizer
(straight-through, commitment loss); at inference `EncodecModel.encode` picks the same codes. `residual_energy` is
the diagnostic of how much each level leaves. `tests/helpers.py` (`kmeans_codec`) fits test codecs with `kmeans`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from whisper_gpt_hf.audio.codec.config import codebooks


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


def residual_quantize(model, z: torch.Tensor, n_q: int, update_codebooks: bool = False, decay: float = 0.99,
                      dead_threshold: float = 0.0, generator: torch.Generator | None = None,
                      coarse_dims: int | None = None):
    """Residual VQ of encoder output `z` `[B, D, T]` with the first `n_q` codebooks of `model`.

    Returns `(quantized [B, D, T], codes [n_q, B, T], commitment loss, codes replaced)`. `quantized` is straight-through
    (value of the quantized sum, gradient of `z`). The commitment term of layer i is `|r_i - sg(q_i)|^2` with
    `r_i = z - sg(q_0 + ... + q_{i-1})`, averaged over the `n_q` layers (EnCodec): every layer pulls the encoder toward
    what the codebooks can represent, and a single-codebook step pulls no harder than a four-codebook one.
    With `update_codebooks`, each used codebook gets its EMA update (assignments by the codebook before the update)
    and dead-code replacement, as EnCodec does.
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
        if update_codebooks:
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



__all__ = [
    "ema_update",
    "init_codebooks_kmeans",
    "kmeans",
    "nearest",
    "replace_dead_codes",
    "residual_energy",
    "residual_quantize",
    "restrict_to_coarse",
]
