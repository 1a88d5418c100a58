"""The small codec's architecture and its start: the reduced 24 kHz `EncodecConfig`, the weight-norm data-dependent
init of the encoder, `--init-from` (copy a trained codec's weights), and the model's codebook modules / bandwidths."""

from __future__ import annotations

import os

import torch
from torch import nn

SAMPLING_RATE = 24_000
UPSAMPLING_RATIOS = [8, 5, 4, 2]  # hop 320: one frame per 13.3 ms, 75 frames/s, as facebook/encodec_24khz


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
    """The `EncodecEuclideanCodebook` modules; their buffers (`embed`, `embed_avg`, `cluster_size`) are the codebooks.

    They are persistent buffers of the model: `save_pretrained` and the training checkpoints' `model.safetensors`
    carry the EMA statistics with the weights."""
    return [layer.codebook for layer in model.quantizer.layers]


def quantizers_per_bandwidth(model) -> list[int]:
    """The codebook counts of the model's `target_bandwidths`, ascending (one is drawn per training step)."""
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


__all__ = [
    "SAMPLING_RATE",
    "UPSAMPLING_RATIOS",
    "codebooks",
    "data_dependent_init",
    "load_initial_weights",
    "num_parameters",
    "quantizers_per_bandwidth",
    "small_codec_config",
]
