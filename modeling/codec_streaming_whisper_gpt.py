"""Stateful causal decoding of a transformers `EncodecModel`: decode only the new frames, carry the decoder's state.

EnCodec's SEANet decoder (24 kHz model) is causal: stride-1 convolutions padded on the left, transposed convolutions
trimmed on the right, one LSTM. So the audio of frame t depends on codes <= t only, and a decode can be continued
frame by frame if every layer keeps what it needs from the past:

- a causal `Conv1d` keeps its last `(kernel - 1) * dilation` input samples (its left padding on the next call);
- a causal `ConvTranspose1d` keeps the `kernel - stride` output samples that the next input still adds to (its
  overlap), and emits only complete samples;
- the LSTM keeps its `(h, c)`.

Each call then costs the same whatever came before (no re-decoded window), and the concatenated outputs equal one
decode of all the codes (float rounding aside: ~1e-7). The first call of a stream sees the clip start: it pads there
exactly as `EncodecModel.decode` does, which with `pad_mode="reflect"` reads a few samples *after* the start, so a
stream's first call needs at least `min_first_frames` frames (shorter starts are buffered, see `decode_stream`).

Codes are `[batch, num_codebooks, frames]`: any number of codebooks (the model generates the first; a
multi-codebook model can pass all of them).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


_SMALL = 4096  # input samples up to which a layer uses the matmul forms below (a step decodes a frame or a few)


class CodecNotStreamableError(ValueError):
    """The codec's decoder has a layer that cannot be continued causally (e.g. a non-causal or group-norm codec)."""


def _plain_weight(conv: nn.Module) -> torch.Tensor:
    # weight_norm (parametrizations or the legacy hook) computes `weight` from g and v: compute it once.
    return conv.weight.detach().clone()


class _Conv:
    def __init__(self, module):
        if not module.causal:
            raise CodecNotStreamableError("the codec uses non-causal convolutions (use_causal_conv=False).")
        if getattr(module, "norm_type", "weight_norm") == "time_group_norm":
            raise CodecNotStreamableError("the codec normalises over time (norm_type='time_group_norm').")
        conv = module.conv
        if conv.stride[0] != 1:
            raise CodecNotStreamableError("the codec decoder has a strided Conv1d.")
        self.module = module
        self.weight, self.bias = _plain_weight(conv), conv.bias.detach().clone() if conv.bias is not None else None
        # [C_out, C_in * k], inputs ordered channel-major, tap-minor: the order of `unfold` windows (see __call__).
        self.matrix = self.weight.flatten(1).contiguous()
        self.dilation = conv.dilation[0]
        self.history = (conv.kernel_size[0] - 1) * self.dilation
        self.pad_mode = module.pad_mode

    def __call__(self, x, state, first):
        p = self.history
        if p == 0 and x.shape[1] <= _SMALL:  # a 1x1 convolution (half of the decoder's): one matmul, no state
            return F.linear(x, self.matrix, self.bias), None
        if first:  # exactly EncodecConv1d's causal padding (it pads the time axis of [B, C, T])
            x = self.module._pad1d(x.transpose(1, 2), (p, 0), mode=self.pad_mode).transpose(1, 2)
        elif p:
            x = torch.cat([state, x], dim=1)
        new_state = x[:, x.shape[1] - p :] if p else None  # a 1x1 convolution keeps no state
        if x.shape[1] - p > _SMALL:
            y = F.conv1d(x.transpose(1, 2), self.weight, self.bias, dilation=self.dilation)
            return y.transpose(1, 2), new_state
        # Short inputs (a step): one matmul over unfolded windows beats the conv kernels' fixed cost on CPU.
        windows = x.unfold(1, p + 1, 1)  # [B, L, C_in, p + 1]
        if self.dilation > 1:
            windows = windows[..., :: self.dilation]  # [B, L, C_in, k]
        return F.linear(windows.flatten(2), self.matrix, self.bias), new_state


class _ConvTranspose:
    def __init__(self, module):
        if not module.causal:
            raise CodecNotStreamableError("the codec uses non-causal transposed convolutions.")
        if module.trim_right_ratio != 1.0:
            raise CodecNotStreamableError("trim_right_ratio != 1 trims samples at the start of the decode.")
        if getattr(module, "norm_type", "weight_norm") == "time_group_norm":
            raise CodecNotStreamableError("the codec normalises over time (norm_type='time_group_norm').")
        conv = module.conv
        self.weight, self.bias = _plain_weight(conv), conv.bias.detach().clone() if conv.bias is not None else None
        self.stride, self.kernel = conv.stride[0], conv.kernel_size[0]
        self.overlap = self.kernel - self.stride
        c_in, c_out, k = self.weight.shape
        # The matmul form: [k * C_out, C_in], output columns tap-major, so that one input sample's k output samples
        # are k rows of [k, C_out]. The bias sits on the first `stride` taps only (every output sample is the first
        # half of one input's taps plus the second half of the previous input's): one add per sample, in the matmul.
        self.matrix = self.weight.permute(2, 1, 0).reshape(k * c_out, c_in).contiguous()
        self.matrix_bias = None
        if self.bias is not None:
            self.matrix_bias = torch.cat([self.bias.repeat(self.stride), self.bias.new_zeros((k - self.stride) * c_out)])

    def __call__(self, x, state, first):
        b, n, _ = x.shape
        s = self.stride
        if self.kernel == 2 * s and n <= _SMALL:
            # Short inputs: each input sample writes kernel outputs (one matmul), halves overlap-added in place.
            z = F.linear(x, self.matrix, self.matrix_bias).view(b, n, self.kernel, -1)  # [B, n, k, C_out]
            out, tail = z[:, :, :s].contiguous(), z[:, :, s:]  # [B, n, s, C_out]; `out` is a view of z when n == 1
            if n > 1:
                out[:, 1:] += tail[:, :-1]
            if not first:
                out[:, 0] += state
            return out.view(b, n * s, -1), tail[:, -1]
        y = F.conv_transpose1d(x.transpose(1, 2), self.weight, None, stride=s).transpose(1, 2)  # [B, (n-1)s + k, C]
        if not first and self.overlap:
            y = torch.cat([y[:, : self.overlap] + state, y[:, self.overlap :]], dim=1)
        complete = n * s
        out, new_state = y[:, :complete], y[:, complete:]
        if self.bias is not None:
            out = out + self.bias
        return out, new_state


class _LSTM:
    def __init__(self, module):
        self.lstm = module.lstm
        self.hidden = hidden = self.lstm.hidden_size  # read here: the step path must not touch the nn.LSTM (compile)
        # One matmul per cell step: [W_ih | W_hh] on [x_t, h], gate rows reordered from PyTorch's (i, f, g, o) to
        # (i, f, o, g), so that one sigmoid covers the three gates and one tanh the candidate.
        order = torch.cat([torch.arange(2 * hidden), torch.arange(3 * hidden, 4 * hidden), torch.arange(2 * hidden, 3 * hidden)])
        self.cells = [
            (
                torch.cat(
                    [getattr(self.lstm, f"weight_ih_l{i}"), getattr(self.lstm, f"weight_hh_l{i}")], dim=1
                ).detach()[order].contiguous(),
                (getattr(self.lstm, f"bias_ih_l{i}") + getattr(self.lstm, f"bias_hh_l{i}")).detach()[order],
            )
            for i in range(self.lstm.num_layers)
        ]

    def __call__(self, x, state, first):
        seq = x.transpose(0, 1)  # [T, B, C]
        if first or seq.shape[0] > 4:
            out, new_state = self.lstm(seq, None if first else state)
            return (out + seq).transpose(0, 1), new_state
        # A few steps: the cell equations by hand (the fused CPU LSTM kernel costs ~2 ms per call at any length).
        h_all, c_all = state
        hidden = self.hidden
        hs, cs, layer_in = [], [], seq
        for i, (weight, bias) in enumerate(self.cells):
            h, c, outs = h_all[i], c_all[i], []
            for t in range(layer_in.shape[0]):
                gates = F.linear(torch.cat([layer_in[t], h], dim=-1), weight, bias)
                i_g, f_g, o_g = torch.sigmoid(gates[:, : 3 * hidden]).chunk(3, dim=-1)
                c = torch.addcmul(f_g * c, i_g, torch.tanh(gates[:, 3 * hidden :]))
                h = o_g * torch.tanh(c)
                outs.append(h)
            layer_in = torch.stack(outs)
            hs.append(h)
            cs.append(c)
        return (layer_in + seq).transpose(0, 1), (torch.stack(hs), torch.stack(cs))


class _Stateless:
    def __init__(self, module):
        self.module = module
        self.alpha = module.alpha if isinstance(module, nn.ELU) else None

    def __call__(self, x, state, first):
        if self.alpha is not None:  # the functional form skips nn.Module's call overhead (~10 ELUs per step)
            return F.elu(x, self.alpha), None
        return self.module(x), None


class _Residual:
    def __init__(self, module, build):
        self.block = [build(layer) for layer in module.block]
        self.shortcut = build(module.shortcut)
        # The block's last layer and the shortcut are both 1x1 convolutions in EnCodec: one matmul over the channels
        # of [h, x] side by side gives their sum (no state, so nothing else changes).
        last, short = self.block[-1], self.shortcut
        self.fused = None
        if isinstance(last, _Conv) and isinstance(short, _Conv) and last.history == 0 and short.history == 0:
            biases = [b for b in (last.bias, short.bias) if b is not None]
            self.fused = (torch.cat([last.matrix, short.matrix], dim=1), sum(biases) if biases else None)

    def __call__(self, x, state, first):
        state = state or [None] * (len(self.block) + 1)
        if self.fused is not None:
            h, new_state = x, []
            for layer, s in zip(self.block[:-1], state):
                h, s = layer(h, s, first)
                new_state.append(s)
            return F.linear(torch.cat([h, x], dim=-1), *self.fused), new_state + [None, None]
        h, new_state = x, []
        for layer, s in zip(self.block, state):
            h, s = layer(h, s, first)
            new_state.append(s)
        short, s = self.shortcut(x, state[-1], first)
        new_state.append(s)
        return short + h, new_state


def _build(module):
    name = type(module).__name__
    if name == "EncodecConv1d":
        return _Conv(module)
    if name == "EncodecConvTranspose1d":
        return _ConvTranspose(module)
    if name == "EncodecLSTM":
        return _LSTM(module)
    if name == "EncodecResnetBlock":
        return _Residual(module, _build)
    if isinstance(module, (nn.ELU, nn.Identity)):
        return _Stateless(module)
    raise CodecNotStreamableError(f"the codec decoder has a {name} layer, which this streaming decoder does not know.")


class WhisperGPTStreamingCodecDecoder:
    """
    Continues an `EncodecModel` decode chunk by chunk: `audio, state = decoder(codes, state)`.

    Args:
        codec: a causal transformers `EncodecModel` (`use_causal_conv=True`, `trim_right_ratio=1`, weight norm,
            `chunk_length=None`: the 24 kHz architecture). Other codecs raise `CodecNotStreamableError`.

    The layer weights are read once, here (weight norm folded in): build a new decoder after changing the codec's
    weights.

    Example:

    ```python
    >>> decoder = WhisperGPTStreamingCodecDecoder(codec)
    >>> audio_a, state = decoder(codes[:, :, :10])          # [B, 10 * hop]; first call of the stream
    >>> audio_b, state = decoder(codes[:, :, 10:11], state)  # [B, hop]: only the new frame is decoded
    ```
    """

    def __init__(self, codec):
        config = codec.config
        if getattr(config, "chunk_length", None) is not None:
            raise CodecNotStreamableError("the codec decodes in overlapping chunks (chunk_length is set).")
        self.codec = codec
        self.hop = int(math.prod(config.upsampling_ratios))
        self.layers = [_build(layer) for layer in codec.decoder.layers]
        self.codebooks = [layer.codebook.embed.detach() for layer in codec.quantizer.layers]
        # The first call pads the clip start like a full decode; with reflect padding that reads up to `history`
        # samples after the start of each layer's input, so those must already be in the first chunk.
        rate, need = 1, 1
        for layer in self.layers:
            if isinstance(layer, _ConvTranspose):
                rate *= layer.stride
            convs = [layer] if isinstance(layer, _Conv) else getattr(layer, "block", [])
            for conv in (c for c in convs if isinstance(c, _Conv)):
                if conv.pad_mode == "reflect":
                    need = max(need, math.ceil((conv.history + 1) / rate))
        self.min_first_frames = need

    @property
    def device(self) -> torch.device:
        return self.layers[0].weight.device

    @torch.no_grad()
    def embed(self, codes: torch.LongTensor) -> torch.Tensor:
        """`[B, K, T]` codes (K codebooks, K >= 1) -> `[B, D, T]` quantized latents (sum over the codebooks)."""
        if codes.ndim == 2:
            codes = codes[:, None]
        codes = codes.to(self.device)
        # EncodecResidualVectorQuantizer.decode: the sum of each codebook's embedding of its codes.
        latent = None
        for k in range(codes.shape[1]):
            embedded = F.embedding(codes[:, k], self.codebooks[k])  # [B, T, D]
            latent = embedded if latent is None else latent + embedded
        return latent.transpose(1, 2)

    @torch.no_grad()
    def __call__(self, codes: torch.LongTensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """Decode `codes` `[B, T]` or `[B, K, T]` that follow `state` (None: the stream starts here).

        Returns `(audio [B, T * hop], new_state)`."""
        first = state is None
        if first and codes.shape[-1] < self.min_first_frames:
            raise ValueError(
                f"The first chunk of a stream needs at least {self.min_first_frames} frames with this codec "
                "(reflect padding at the clip start reads ahead); buffer more frames first."
            )
        # The layers work time-major, [B, T, C]: a step's few samples then need no transposes between matmuls.
        x = self.embed(codes).transpose(1, 2).to(self.layers[0].weight.dtype)
        state = state or [None] * len(self.layers)
        new_state = []
        for layer, s in zip(self.layers, state):
            x, s = layer(x, s, first)
            new_state.append(s)
        return x[..., 0].float(), new_state


def select_state(state, index: torch.Tensor):
    """The state of the batch rows `index` (LSTM states have the batch on dim 1)."""
    if state is None:
        return None
    if isinstance(state, list):
        return [select_state(s, index) for s in state]
    if isinstance(state, tuple):  # (h, c) of the LSTM: [layers, B, H]
        return tuple(s.index_select(1, index.to(s.device)) for s in state)
    return state.index_select(0, index.to(state.device))


def cat_states(states: list):
    """Stack the states of single streams along the batch."""
    first = states[0]
    if first is None:
        return None
    if isinstance(first, list):
        return [cat_states([s[i] for s in states]) for i in range(len(first))]
    if isinstance(first, tuple):
        return tuple(torch.cat([s[j] for s in states], dim=1) for j in range(len(first)))
    return torch.cat(states, dim=0)


__all__ = ["CodecNotStreamableError", "WhisperGPTStreamingCodecDecoder", "cat_states", "select_state"]
