"""Residual VQ with EMA codebooks on the transformers model's buffers: EMA maths, dead codes, k-means init, the
quantizer's agreement with `EncodecModel.encode`, the straight-through gradient, `--coarse-dims`."""

from __future__ import annotations

import numpy as np
import torch

from whisper_gpt_hf.audio.codec import config as codec_config
from whisper_gpt_hf.audio.codec import quantization as quant


def test_ema_update_moves_codes_toward_assigned_means(tiny_codec):
    cb = tiny_codec().quantizer.layers[0].codebook
    g = torch.Generator().manual_seed(0)
    embed = torch.randn(16, 8, generator=g)
    cb.embed.copy_(embed)
    cb.cluster_size.fill_(2.0)
    cb.embed_avg.copy_(embed * 2.0)
    x = torch.randn(64, 8, generator=g) + 3.0  # far from every code
    codes = quant.nearest(x, cb.embed)
    used = codes.unique()
    means = torch.stack([x[codes == k].mean(0) for k in used])
    before = (cb.embed[used] - means).norm(dim=1)
    decay = 0.8
    quant.ema_update(cb, x, codes, decay=decay, eps=0.0)
    after = (cb.embed[used] - means).norm(dim=1)
    assert (after < before).all()
    # exact EMA: (d * avg + (1 - d) * sum) / (d * size + (1 - d) * count), for every code (eps = 0: no smoothing)
    counts = torch.bincount(codes, minlength=16).float()
    sums = torch.zeros(16, 8).index_add_(0, codes, x)
    expected = (decay * embed * 2.0 + (1 - decay) * sums) / (decay * 2.0 + (1 - decay) * counts)[:, None]
    torch.testing.assert_close(cb.embed, expected, rtol=1e-5, atol=1e-5)
    unused = torch.ones(16, dtype=torch.bool)
    unused[used] = False
    torch.testing.assert_close(cb.embed[unused], embed[unused], rtol=1e-5, atol=1e-5)  # untouched codes stay put


def test_dead_codes_restart_at_batch_vectors(tiny_codec):
    cb = tiny_codec().quantizer.layers[0].codebook
    cb.embed.zero_()
    cb.cluster_size.copy_(torch.tensor([5.0] * 8 + [0.01] * 8))
    x = torch.randn(32, 8)
    assert quant.replace_dead_codes(cb, x, threshold=1.0) == 8
    assert (cb.embed[:8] == 0).all()
    for row in cb.embed[8:]:
        assert (x == row).all(1).any()  # each restarted code is one of the batch vectors
    torch.testing.assert_close(cb.embed_avg[8:] / cb.cluster_size[8:, None], cb.embed[8:])


def test_kmeans_codebooks_are_what_encode_uses(tiny_codec):
    codec = tiny_codec(codebook_size=16)
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 1, 9600)).astype(np.float32) * 0.1)
    codec_config.data_dependent_init(codec.encoder, audio)
    z = codec.encoder(audio)
    assert z.std(-1).mean() > 0.3  # the encoder output has a real spread after data-dependent init
    with torch.no_grad():
        quant.init_codebooks_kmeans(codec, z.permute(0, 2, 1).reshape(-1, 8), iters=5)
        _, codes, _, _ = quant.residual_quantize(codec, z, n_q=2)
        enc = codec.encode(audio, bandwidth=1.5).audio_codes  # 16 codes = 4 bits x 75 Hz: 1.5 kbps -> 5 codebooks
    assert torch.equal(enc[0, :, :2].transpose(0, 1), codes)
    assert codes[0].unique().numel() > 4  # not the all-zero-codebook collapse of a fresh EncodecModel


def test_straight_through_gradient_reaches_encoder(tiny_codec):
    codec = tiny_codec()
    z = torch.randn(1, 8, 10, requires_grad=True)
    with torch.no_grad():
        quant.init_codebooks_kmeans(codec, z.detach().permute(0, 2, 1).reshape(-1, 8), iters=2)
    zq, _, commit, _ = quant.residual_quantize(codec, z, n_q=2)
    (zq.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_coarse_dims_keep_the_first_codebook_off_the_trailing_dimensions(tiny_codec):
    """`--coarse-dims`: codebook 0 stays zero beyond them through k-means, EMA and restarts; encode is unchanged."""
    codec = tiny_codec(codebook_size=16)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 8, 40, generator=g)
    pool = z.permute(0, 2, 1).reshape(-1, 8)
    quant.init_codebooks_kmeans(codec, pool, iters=3, coarse_dims=5)
    first = codec.quantizer.layers[0].codebook
    assert (first.embed[:, 5:] == 0).all() and first.embed[:, :5].abs().sum() > 0
    assert codec.quantizer.layers[1].codebook.embed[:, 5:].abs().sum() > 0  # the residual codebooks see every dim
    for _ in range(3):
        _, codes, _, _ = quant.residual_quantize(codec, z, n_q=2, update_codebooks=True, decay=0.5,
                                                      dead_threshold=1.0, generator=g, coarse_dims=5)
        assert (first.embed[:, 5:] == 0).all()
    # the trailing dimensions reach the quantized latent only through codebook 1: one codebook leaves them whole
    zq1, _, _, _ = quant.residual_quantize(codec, z, n_q=1, coarse_dims=5)
    assert (zq1.detach()[:, 5:] == 0).all()
    left = quant.residual_energy(codec, z)
    assert left[0] > 0.3 and left[1] < left[0]  # 3 of 8 unit-variance dims untouched by codebook 0
    with torch.no_grad():
        _, codes, _, _ = quant.residual_quantize(codec, z, n_q=2, coarse_dims=5)
        # EncodecModel's own quantizer (no notion of coarse dims) picks the same codes
        assert torch.equal(codec.quantizer.encode(z, bandwidth=3.0)[:2], codes)
