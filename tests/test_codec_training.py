"""The small-codec trainer: EMA codebooks, the quantizer's agreement with `EncodecModel.encode`, a tiny run, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import EncodecModel

from whisper_gpt_hf.audio.codec import train as ct
from whisper_gpt_hf.assets import CORPUS_SMALL, require


def tiny_codec(codebook_size: int = 16, seed: int = 0) -> EncodecModel:
    torch.manual_seed(seed)
    return EncodecModel(ct.small_codec_config(num_filters=4, hidden_size=8, codebook_size=codebook_size)).eval()


def test_ema_update_moves_codes_toward_assigned_means():
    cb = tiny_codec().quantizer.layers[0].codebook
    g = torch.Generator().manual_seed(0)
    embed = torch.randn(16, 8, generator=g)
    cb.embed.copy_(embed)
    cb.cluster_size.fill_(2.0)
    cb.embed_avg.copy_(embed * 2.0)
    x = torch.randn(64, 8, generator=g) + 3.0  # far from every code
    codes = ct.nearest(x, cb.embed)
    used = codes.unique()
    means = torch.stack([x[codes == k].mean(0) for k in used])
    before = (cb.embed[used] - means).norm(dim=1)
    decay = 0.8
    ct.ema_update(cb, x, codes, decay=decay, eps=0.0)
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


def test_dead_codes_restart_at_batch_vectors():
    cb = tiny_codec().quantizer.layers[0].codebook
    cb.embed.zero_()
    cb.cluster_size.copy_(torch.tensor([5.0] * 8 + [0.01] * 8))
    x = torch.randn(32, 8)
    assert ct.replace_dead_codes(cb, x, threshold=1.0) == 8
    assert (cb.embed[:8] == 0).all()
    for row in cb.embed[8:]:
        assert (x == row).all(1).any()  # each restarted code is one of the batch vectors
    torch.testing.assert_close(cb.embed_avg[8:] / cb.cluster_size[8:, None], cb.embed[8:])


def test_kmeans_codebooks_are_what_encode_uses():
    codec = tiny_codec(codebook_size=16)
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 1, 9600)).astype(np.float32) * 0.1)
    ct.data_dependent_init(codec.encoder, audio)
    z = codec.encoder(audio)
    assert z.std(-1).mean() > 0.3  # the encoder output has a real spread after data-dependent init
    with torch.no_grad():
        ct.init_codebooks_kmeans(codec, z.permute(0, 2, 1).reshape(-1, 8), iters=5)
        _, codes, _, _ = ct.residual_quantize(codec, z, n_q=2)
        enc = codec.encode(audio, bandwidth=1.5).audio_codes  # 16 codes = 4 bits x 75 Hz: 1.5 kbps -> 5 codebooks
    assert torch.equal(enc[0, :, :2].transpose(0, 1), codes)
    assert codes[0].unique().numel() > 4  # not the all-zero-codebook collapse of a fresh EncodecModel


def test_straight_through_gradient_reaches_encoder():
    codec = tiny_codec()
    z = torch.randn(1, 8, 10, requires_grad=True)
    with torch.no_grad():
        ct.init_codebooks_kmeans(codec, z.detach().permute(0, 2, 1).reshape(-1, 8), iters=2)
    zq, _, commit, _ = ct.residual_quantize(codec, z, n_q=2)
    (zq.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def _args(tmp_path, **overrides):
    argv = [
        "--dataset", str(require(CORPUS_SMALL, "The small corpus")), "--output-dir", str(tmp_path / "codec"),
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--max-steps", "24", "--batch-size", "4",
        "--segment-seconds", "0.32", "--lr", "3e-3", "--warmup-steps", "2", "--seed", "0", "--save-every", "12",
        "--num-filters", "4", "--hidden-size", "16", "--codebook-size", "64", "--kmeans-seconds", "4",
        "--max-train-seconds", "8", "--num-threads", "1", "--no-progress", "--cpu",
    ]
    args = ct.parse_args(argv)
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_tiny_training_run_lowers_the_loss_and_resumes(tmp_path):
    summary = ct.train(_args(tmp_path))
    losses = [h["loss"] for h in summary["history"]]
    assert summary["start_step"] == 0 and summary["step"] == 24
    assert np.mean(losses[-6:]) < np.mean(losses[:6])
    checkpoints = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert checkpoints == ["checkpoint-0000012", "checkpoint-0000024"]  # written atomically: no .tmp- leftovers
    assert json.loads((tmp_path / "ckpt" / "checkpoint-0000024" / "trainer_state.json").read_text())["step"] == 24

    resumed = ct.train(_args(tmp_path, max_steps=30, resume=True))
    assert resumed["start_step"] == 24 and resumed["step"] == 30
    assert resumed["resumed_from"].endswith("checkpoint-0000024")
    assert [h["step"] for h in resumed["history"]] == list(range(25, 31))

    out = tmp_path / "codec"
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md"):
        assert (out / name).exists(), name
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers") and "facebook/encodec_24khz" in card
    assert "--resume" in card and "No adversarial loss" in card
    codec = EncodecModel.from_pretrained(str(out))
    assert codec.quantizer.layers[0].codebook.embed.abs().sum() > 0  # trained codebooks were saved and reloaded


def test_coarse_dims_keep_the_first_codebook_off_the_trailing_dimensions():
    """`--coarse-dims`: codebook 0 stays zero beyond them through k-means, EMA and restarts; encode is unchanged."""
    codec = tiny_codec(codebook_size=16)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 8, 40, generator=g)
    pool = z.permute(0, 2, 1).reshape(-1, 8)
    ct.init_codebooks_kmeans(codec, pool, iters=3, coarse_dims=5)
    first = codec.quantizer.layers[0].codebook
    assert (first.embed[:, 5:] == 0).all() and first.embed[:, :5].abs().sum() > 0
    assert codec.quantizer.layers[1].codebook.embed[:, 5:].abs().sum() > 0  # the residual codebooks see every dim
    for _ in range(3):
        _, codes, commit, _ = ct.residual_quantize(codec, z, n_q=2, train=True, decay=0.5, dead_threshold=1.0,
                                                   generator=g, coarse_dims=5)
        assert (first.embed[:, 5:] == 0).all()
    # the trailing dimensions reach the quantized latent only through codebook 1: one codebook leaves them whole
    zq1, _, _, _ = ct.residual_quantize(codec, z, n_q=1, coarse_dims=5)
    assert (zq1.detach()[:, 5:] == 0).all()
    left = ct.residual_energy(codec, z)
    assert left[0] > 0.3 and left[1] < left[0]  # 3 of 8 unit-variance dims untouched by codebook 0
    with torch.no_grad():
        _, codes, _, _ = ct.residual_quantize(codec, z, n_q=2, coarse_dims=5)
        # EncodecModel's own quantizer (no notion of coarse dims) picks the same codes
        assert torch.equal(codec.quantizer.encode(z, bandwidth=3.0)[:2], codes)


def test_spectral_and_correlation_losses():
    loss_fn = ct.MultiScaleMelLoss(n_ffts=(128, 256))
    x = torch.randn(2, 1, 2400) * 0.1
    same = loss_fn.losses(x, x)
    assert float(same["mel"]) == 0.0 and float(same["stft"]) == 0.0
    other = loss_fn.losses(0.5 * x, x)
    assert float(other["stft"]) > 0.4 and float(other["mel"]) > 0  # spectral convergence of a half-scale copy: 0.5
    assert float(ct.correlation_loss(3 * x, x)) < 1e-6  # scale-invariant, like SI-SNR
    assert float(ct.correlation_loss(-x, x)) == pytest.approx(2.0, abs=1e-5)
    noise = torch.randn(2, 1, 2400, generator=torch.Generator().manual_seed(1))
    assert 0.9 < float(ct.correlation_loss(noise, x)) < 1.1


def test_init_from_copies_a_codec_and_refuses_another_architecture(tmp_path):
    source = tiny_codec(codebook_size=16, seed=1)
    source.save_pretrained(tmp_path / "src")
    target = tiny_codec(codebook_size=16, seed=2)
    ct.load_initial_weights(target, tmp_path / "src")
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name
    wider = EncodecModel(ct.small_codec_config(num_filters=4, hidden_size=12, codebook_size=16))
    with pytest.raises(ValueError, match="does not fit this architecture"):
        ct.load_initial_weights(wider, tmp_path / "src")


def test_continuous_step_decodes_the_unquantized_latent_and_still_updates_codebooks():
    codec = tiny_codec(codebook_size=16)
    audio = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 1, 3200)).astype(np.float32) * 0.1)
    with torch.no_grad():
        z = codec.encoder(audio)
        ct.init_codebooks_kmeans(codec, z.permute(0, 2, 1).reshape(-1, 8), iters=2)
    args = ct.parse_args(["--output-dir", "unused", "--codebook-size", "16"])
    before = codec.quantizer.layers[3].codebook.embed.clone()
    out = ct.training_step(codec, ct.MultiScaleMelLoss(n_ffts=(128, 256)), audio, 0, args)
    assert not torch.equal(codec.quantizer.layers[3].codebook.embed, before)  # all codebooks keep tracking the latent
    with torch.no_grad():
        y = codec.decoder(codec.encoder(audio))[..., :3200]
        expected = (y - audio).abs().mean()
    assert float(out["wave"]) == pytest.approx(float(expected), rel=1e-5)  # the decoder got z itself, not its codes
