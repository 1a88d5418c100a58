"""WHISPER-GPT: a decoder-only audio LM over EnCodec coarse codes with an optional causal log-mel branch.

Position t is codec frame t. The hybrid model embeds code t (`token_embedding_size` channels), runs the mel slice
sequence through a few causal decoder blocks (`spectrogram_hidden_size` channels), concatenates the two per frame
(early fusion), projects to `hidden_size` and runs the main causal transformer, which predicts code t + 1.
The token-only GPT baseline is the same code path without the spectrogram branch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, StaticLayer
from transformers.masking_utils import create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import can_return_tuple

from .configuration_whisper_gpt import WhisperGPTConfig
from .generation_whisper_gpt import WhisperGPTFineCodeSampler, _FullFrameStreamer, features_for_generation_step
from .pipeline_whisper_gpt import WhisperGPTAudioContinuationPipeline  # noqa: F401  (copied with the model)
from .streamer_whisper_gpt import WhisperGPTAudioStreamer  # noqa: F401  (likewise)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
):
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class WhisperGPTAttention(nn.Module):
    """Causal multi-head self-attention; used by both the spectrogram blocks and the main decoder."""

    def __init__(self, config: WhisperGPTConfig, hidden_size: int, num_heads: int, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx  # index into the shared cache (decoder first, then spectrogram blocks)
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.is_causal = True
        self.num_key_value_groups = 1
        self.qkv_proj = nn.Linear(hidden_size, 3 * hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.out_proj.is_residual_projection = True  # see _init_weights

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, _ = hidden_states.shape
        qkv = self.qkv_proj(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, D]
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(batch, length, -1)
        return self.out_proj(attn_output), attn_weights


class WhisperGPTMLP(nn.Module):
    def __init__(self, config: WhisperGPTConfig, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.fc_in = nn.Linear(hidden_size, intermediate_size)
        self.fc_out = nn.Linear(intermediate_size, hidden_size)
        self.fc_out.is_residual_projection = True  # see _init_weights
        self.act = ACT2FN[config.activation_function]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(hidden_states)))


class WhisperGPTBlock(GradientCheckpointingLayer):
    """Pre-LayerNorm transformer block (GPT-2 layout): x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(
        self, config: WhisperGPTConfig, hidden_size: int, num_heads: int, intermediate_size: int, layer_idx: int
    ):
        super().__init__()
        self.ln_attn = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.self_attn = WhisperGPTAttention(config, hidden_size, num_heads, layer_idx)
        self.ln_mlp = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = WhisperGPTMLP(config, hidden_size, intermediate_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_output, attn_weights = self.self_attn(self.ln_attn(hidden_states), attention_mask, cache=cache, **kwargs)
        hidden_states = hidden_states + self.dropout(attn_output)
        hidden_states = hidden_states + self.dropout(self.mlp(self.ln_mlp(hidden_states)))
        return hidden_states, attn_weights


class WhisperGPTSpectrogramEncoder(nn.Module):
    """The lightweight causal decoder blocks over mel slices: [B, T, n_mels] -> [B, T, spectrogram_hidden_size]."""

    def __init__(self, config: WhisperGPTConfig):
        super().__init__()
        width = config.spectrogram_hidden_size
        self.input_proj = nn.Linear(config.n_mels, width)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, width)
        self.dropout = nn.Dropout(config.dropout)
        # Their cache slots come after the main decoder's, so `cache.get_seq_length()` (layer 0) is the decoder's.
        self.layers = nn.ModuleList(
            WhisperGPTBlock(
                config,
                width,
                config.spectrogram_num_heads,
                config.spectrogram_intermediate_size,
                layer_idx=config.num_hidden_layers + i,
            )
            for i in range(config.spectrogram_num_layers)
        )
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.norm.is_spectrogram_output = True  # see _init_weights (fusion_balance="scale_spectrogram")

    def forward(self, input_features, position_ids, attention_mask, cache=None, **kwargs) -> torch.Tensor:
        hidden_states = self.input_proj(input_features) + self.embed_positions(position_ids)
        hidden_states = self.dropout(hidden_states)
        for layer in self.layers:
            hidden_states, _ = layer(hidden_states, attention_mask=attention_mask, cache=cache, **kwargs)
        return self.norm(hidden_states)


class WhisperGPTDepthHead(nn.Module):
    """
    Predicts the fine codebooks 2..K of frame t + 1 (`config.num_codebooks = K > 1`), as CSM's depth decoder.

    A tiny causal transformer over K - 1 depth positions. Position 0 reads the trunk's hidden state at frame t
    (projected) plus the embedding of frame t + 1's coarse code; position j >= 1 reads the embedding of codebook j + 1
    of frame t + 1. Position j predicts codebook j + 2, so the logits of codebook k depend on the trunk state and on
    codebooks < k of the same frame only (causal attention over depth). One embedding table per input codebook
    (1..K-1) and one output head per predicted codebook (2..K).
    """

    def __init__(self, config: WhisperGPTConfig):
        super().__init__()
        width, levels = config.depth_hidden_size, config.num_codebooks - 1
        self.levels = levels
        self.vocab_size = config.vocab_size
        self.input_proj = nn.Linear(config.hidden_size, width)
        # Codebook j (0 = coarse) of the frame being predicted, at offset j * vocab_size: inputs are codebooks 1..K-1.
        self.embed_codes = nn.Embedding(levels * config.vocab_size, width)
        self.layers = nn.ModuleList(
            WhisperGPTBlock(config, width, config.depth_num_heads, config.depth_intermediate_size, layer_idx=i)
            for i in range(config.depth_num_layers)
        )
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.heads = nn.ModuleList(nn.Linear(width, config.vocab_size, bias=False) for _ in range(levels))

    def forward(self, trunk_hidden: torch.Tensor, codes: torch.LongTensor) -> torch.Tensor:
        """`trunk_hidden` `[N, hidden_size]` (frame t), `codes` `[N, J]` codebooks 1..J of frame t + 1 (1 <= J <= K - 1,
        coarse first) -> logits `[N, J, vocab]` of codebooks 2..J+1."""
        length = codes.shape[1]
        offsets = torch.arange(length, device=codes.device) * self.vocab_size
        hidden = self.embed_codes(codes + offsets)
        hidden = torch.cat([hidden[:, :1] + self.input_proj(trunk_hidden)[:, None], hidden[:, 1:]], dim=1)
        # An explicit additive causal mask (eager and sdpa both honour it; no cache over depth).
        mask = torch.full((length, length), torch.finfo(hidden.dtype).min, device=hidden.device, dtype=hidden.dtype)
        mask = torch.triu(mask, diagonal=1)[None, None]
        for layer in self.layers:
            hidden, _ = layer(hidden, attention_mask=mask)
        hidden = self.norm(hidden)
        return torch.stack([self.heads[j](hidden[:, j]) for j in range(length)], dim=1)


@dataclass
class WhisperGPTCausalLMOutput(CausalLMOutputWithPast):
    """
    `CausalLMOutputWithPast` plus, for `num_codebooks > 1`:

    coarse_loss (`torch.FloatTensor`): NLL (nats) of the coarse codes, the paper's metric (equals `loss` for K = 1).
    fine_losses (`torch.FloatTensor` of shape `[K - 1]`): NLL of each fine codebook 2..K.
    fine_logits (`torch.FloatTensor` of shape `[batch, frames - 1, K - 1, vocab]`): teacher-forced logits of
        codebooks 2..K of frame t + 1 at position t.
    """

    coarse_loss: torch.FloatTensor | None = None
    fine_losses: torch.FloatTensor | None = None
    fine_logits: torch.FloatTensor | None = None


class WhisperGPTPreTrainedModel(PreTrainedModel):
    config_class = WhisperGPTConfig
    config: WhisperGPTConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["WhisperGPTBlock"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # Value checks (code range, masks, labels) run once per generate() call and, outside generate, in eager forward
    # only (never while torch.compile traces), so a decode step compiles with fullgraph=True.
    _can_compile_fullgraph = True

    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes auto_map only for the class being saved; remote-code users need both heads.
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.setdefault("AutoModel", "modeling_whisper_gpt.WhisperGPTModel")
        auto_map.setdefault("AutoModelForCausalLM", "modeling_whisper_gpt.WhisperGPTForCausalLM")
        self.config.auto_map = auto_map
        # The audio-continuation pipeline travels with the remote code (pipeline_whisper_gpt.py is copied because
        # modeling_whisper_gpt imports it), so `pipeline("audio-continuation", model=folder, trust_remote_code=True)`
        # works without this package.
        self.config.custom_pipelines = {
            "audio-continuation": {
                "impl": "pipeline_whisper_gpt.WhisperGPTAudioContinuationPipeline",
                "pt": ["AutoModelForCausalLM"],
                "tf": [],
                "type": "audio",
            }
        }
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            # GPT-2's scheme: projections that write into the residual stream get std / sqrt(2 * n_layers), so the
            # stream's variance does not grow with depth.
            if getattr(module, "is_residual_projection", False):
                std = std / math.sqrt(2 * self.config.num_hidden_layers)
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            if getattr(module, "is_spectrogram_output", False) and self.config.fusion_balance == "scale_spectrogram":
                init.constant_(module.weight, std)  # balanced by scale: the branch starts at the code embedding's std
            else:
                init.ones_(module.weight)
            init.zeros_(module.bias)


class WhisperGPTModel(WhisperGPTPreTrainedModel):
    """The WHISPER-GPT trunk: fused inputs -> causal transformer -> final hidden states (no LM head)."""

    def __init__(self, config: WhisperGPTConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.token_embedding_size)
        self.spectrogram_encoder = WhisperGPTSpectrogramEncoder(config) if config.use_spectrogram else None
        # Balanced early fusion (config.fusion_balance): the code embedding enters at unit RMS, like the branch.
        self.token_norm = (
            nn.LayerNorm(config.token_embedding_size, eps=config.layer_norm_eps)
            if config.use_spectrogram and config.fusion_balance == "layernorm"
            else None
        )
        # The fused input is projected only when its width differs from the decoder's (never for GPT presets).
        fused = config.fused_input_size
        self.input_proj = nn.Linear(fused, config.hidden_size) if fused != config.hidden_size else None
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            WhisperGPTBlock(config, config.hidden_size, config.num_attention_heads, config.intermediate_size, i)
            for i in range(config.num_hidden_layers)
        )
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    @property
    def num_cache_layers(self) -> int:
        return self.config.num_hidden_layers + (self.config.spectrogram_num_layers if self.config.use_spectrogram else 0)

    @staticmethod
    def _check_ids_shape(input_ids) -> None:
        if input_ids is None:
            raise ValueError("input_ids (coarse codec codes, shape [batch, frames]) are required.")
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, frames], got shape {tuple(input_ids.shape)}.")
        if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
            raise ValueError(
                f"input_ids has shape {tuple(input_ids.shape)}: a batch needs at least one clip of at least one frame."
            )

    def _check_shapes(self, input_ids, input_features, attention_mask, past_length) -> None:
        """Shape checks: static under torch.compile, so they stay in forward."""
        self._check_ids_shape(input_ids)
        if attention_mask is not None and attention_mask.ndim != 4:  # 4-D: already prepared (generate, static cache)
            expected = None if past_length is None else past_length + input_ids.shape[1]
            if attention_mask.ndim != 2 or attention_mask.shape[0] != input_ids.shape[0] or (
                expected is not None and attention_mask.shape[1] != expected
            ):
                raise ValueError(
                    f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids {tuple(input_ids.shape)} "
                    f"(with {past_length or 0} cached frames) needs [batch, cached + frames] = "
                    f"[{input_ids.shape[0]}, {expected if expected is not None else 'cached + frames'}]: 1 for real "
                    "frames, 0 for padding (processor(...)['attention_mask'])."
                )
        if not self.config.use_spectrogram:
            return  # the token-only baseline ignores input_features, so one batch can feed both models
        if input_features is None:
            raise ValueError(
                "This hybrid WHISPER-GPT model (use_spectrogram=True) needs input_features [batch, frames, n_mels] "
                "aligned with input_ids; compute both with WhisperGPTProcessor(audio=...)."
            )
        expected = (*input_ids.shape, self.config.n_mels)
        if tuple(input_features.shape) != expected:
            raise ValueError(
                f"input_features has shape {tuple(input_features.shape)} but input_ids {tuple(input_ids.shape)} needs "
                f"{expected}: one mel slice of {self.config.n_mels} channels per code. Features and codes of one clip "
                "must come from the same audio (the processor aligns them)."
            )

    def check_input_values(self, input_ids, attention_mask=None, position_ids=None, input_features=None) -> None:
        """Value checks (they read tensors back to the host): once per generate() call, else in eager forward."""
        if int(input_ids.min()) < 0 or int(input_ids.max()) >= self.config.vocab_size:
            raise ValueError(
                f"input_ids hold codes outside the codebook [0, {self.config.vocab_size}): min {int(input_ids.min())}, "
                f"max {int(input_ids.max())}. Pass the codec's first-codebook codes (processor(...)['input_ids'])."
            )
        if attention_mask is not None and attention_mask.ndim == 2:
            if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
                raise ValueError("attention_mask must hold only 0 (padding) and 1 (real frames).")
            empty = (attention_mask.sum(-1) == 0).nonzero().flatten().tolist()
            if empty:
                raise ValueError(
                    f"attention_mask is all zeros for batch row(s) {empty}: every clip needs at least one real frame."
                )
        if position_ids is not None and int(position_ids.min()) < 0:
            raise ValueError(f"position_ids must be >= 0, got {int(position_ids.min())}.")
        if input_features is not None and not bool(torch.isfinite(input_features).all()):
            raise ValueError(
                "input_features contain NaN or infinite values; compute them with the processor from finite audio."
            )
        if position_ids is not None and int(position_ids.max()) >= self.config.max_position_embeddings:
            raise ValueError(
                f"Position {int(position_ids.max())} is past the context of {self.config.max_position_embeddings} "
                f"frames ({self.config.max_position_embeddings / self.config.frame_rate:.2f} s); shorten the input, "
                "or use continue_audio(...), which slides a window past the context."
            )

    def _should_check_values(self) -> bool:
        return not torch.compiler.is_compiling() and not getattr(self, "_values_checked", False)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `[batch, frames]`): coarse EnCodec codes.
            input_features (`torch.FloatTensor` of shape `[batch, frames, n_mels]`): causal log-mel slices aligned
                with `input_ids`; required when `config.use_spectrogram`, ignored otherwise.
            attention_mask (`torch.Tensor` of shape `[batch, past + frames]`): 1 for real frames, 0 for padding.
            position_ids (`torch.LongTensor` of shape `[batch, frames]`): defaults to the cache length onward.
            cache (`Cache`): a `DynamicCache` holding keys/values of the decoder and the spectrogram blocks.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False
        legacy_cache = kwargs.pop("past_key_values", None)  # the 4.x name; honoured rather than silently dropped
        cache = cache if cache is not None else legacy_cache
        self._check_ids_shape(input_ids)

        if use_cache and cache is None:
            cache = DynamicCache()
        static = cache is not None and len(cache.layers) > 0 and isinstance(cache.layers[0], StaticLayer)
        if cache is not None:
            # generate() sizes its cache from num_hidden_layers; add the spectrogram blocks' slots, of the same kind
            # (a static cache stays static, and compilable, over all layers).
            while len(cache.layers) < self.num_cache_layers:
                layer = StaticLayer(max_cache_len=cache.layers[0].max_cache_len) if static else DynamicLayer()
                cache.layers.append(layer)
        past_length = None if static else (cache.get_seq_length() if cache is not None else 0)
        if position_ids is None:
            past_seen = cache.get_seq_length() if cache is not None else 0
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :] + past_seen
        self._check_shapes(input_ids, input_features, attention_mask, past_length)
        if self._should_check_values():
            self.check_input_values(input_ids, attention_mask, position_ids, input_features)

        token_embeds = self.embed_tokens(input_ids)
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=token_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        if self.spectrogram_encoder is not None:
            spec = self.spectrogram_encoder(
                input_features.to(token_embeds.dtype), position_ids, causal_mask, cache=cache, **kwargs
            )
            if self.token_norm is not None:
                token_embeds = self.token_norm(token_embeds)
            fused = torch.cat([token_embeds, spec], dim=-1)  # early fusion by concatenation
        else:
            fused = token_embeds
        if self.input_proj is not None:
            fused = self.input_proj(fused)
        hidden_states = self.dropout(fused + self.embed_positions(position_ids))

        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, attn_weights = layer(hidden_states, attention_mask=causal_mask, cache=cache, **kwargs)
            if output_attentions:
                all_attentions += (attn_weights,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)

        return BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            cache=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )


# What a saved model's generation_config.json holds (a loaded model keeps its own file's values): top-k sampling, as
# audio LMs generate (greedy decoding of codes falls into loops), 2 s of continuation (150 frames at 75 frames/s).
GENERATION_DEFAULTS = {"do_sample": True, "top_k": 50, "temperature": 1.0, "max_new_tokens": 150}


class WhisperGPTForCausalLM(WhisperGPTPreTrainedModel, GenerationMixin):
    """WHISPER-GPT with its next-code head; `labels` are shifted inside (position t predicts code t + 1)."""

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: WhisperGPTConfig):
        super().__init__(config)
        self.model = WhisperGPTModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        # Codebooks 2..K of the next frame (num_codebooks > 1 only: the paper's model has no extra parameters).
        self.depth_head = WhisperGPTDepthHead(config) if config.num_codebooks > 1 else None
        self._fine_sampler = None  # set by generate() on a num_codebooks > 1 model
        self.post_init()
        self._apply_generation_defaults()  # written to generation_config.json on save

    def _apply_generation_defaults(self) -> None:
        """GENERATION_DEFAULTS for a generation config nobody set (derived from the model config: a new model, or a
        checkpoint saved before the defaults existed); a saved or user-made generation config is left as it is."""
        config = self.generation_config
        if config is None or not getattr(config, "_from_model_config", False):
            return
        blank = GenerationConfig()
        for key, value in GENERATION_DEFAULTS.items():
            if getattr(config, key, None) == getattr(blank, key, None):
                setattr(config, key, value)

    def save_pretrained(self, save_directory, *args, **kwargs):
        self._apply_generation_defaults()
        return super().save_pretrained(save_directory, *args, **kwargs)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        logits_to_keep: int = 0,
        fine_input_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""
        labels (`torch.LongTensor` of shape `[batch, frames]`): usually `input_ids`; the shift happens inside, so
            the loss is the mean NLL (nats) of code t+1 given frames <= t. Positions where `attention_mask` is 0 are
            ignored (set to -100) whatever `labels` holds there, so `labels=input_ids` on a padded batch is right.
            Labels that are all -100 (after the shift) raise a `ValueError` instead of giving a NaN loss.
        logits_to_keep (`int`): if > 0, only the last `logits_to_keep` positions get logits (generation).
        fine_input_ids (`torch.LongTensor` of shape `[batch, frames, num_codebooks - 1]`): codebooks 2..K of each
            frame (`processor(audio=..., num_codebooks=K)["fine_input_ids"]`), for `num_codebooks > 1` models. The
            trunk never reads them; the depth head reads those of frame t + 1 (teacher forcing) and returns
            `fine_logits`. With `labels` the loss is `coarse_loss + config.fine_loss_weight * fine_losses.mean()`;
            a fine code is scored where the coarse label of its frame is. Without `fine_input_ids` (evaluation of
            the coarse codes only) the loss is the coarse NLL; training a K > 1 model needs them.
        """
        outputs = self.model(
            input_ids=input_ids,
            input_features=input_features,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if self._fine_sampler is not None:  # generate(): the depth head samples the next frame's fine codes from it
            self._fine_sampler.hidden = hidden_states[:, -1]
        trunk_hidden = hidden_states
        if logits_to_keep > 0:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self.lm_head(hidden_states)

        loss = None
        if labels is not None:
            if labels.shape != input_ids.shape:
                raise ValueError(
                    f"labels {tuple(labels.shape)} must have the shape of input_ids {tuple(input_ids.shape)}."
                )
            if attention_mask is not None:  # padding never enters the loss
                labels = labels.masked_fill(attention_mask[:, -labels.shape[1] :] == 0, -100)
            if not torch.compiler.is_compiling() and not bool((labels[:, 1:] != -100).any()):
                raise ValueError(
                    "No position has a label to predict: after the shift (position t predicts code t + 1) every label "
                    "is -100 or padding, which would give a NaN loss. Use clips of at least two frames."
                )
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        coarse_loss, fine_losses, fine_logits = loss, None, None
        if self.depth_head is not None:
            if fine_input_ids is None and labels is not None and self.training:
                raise ValueError(
                    f"This model predicts {self.config.num_codebooks} codebooks (num_codebooks), so training needs "
                    "fine_input_ids [batch, frames, num_codebooks - 1]: processor(audio=..., "
                    f"num_codebooks={self.config.num_codebooks})['fine_input_ids'] (or data prepared for this model)."
                )
            if fine_input_ids is not None:
                fine_logits = self._fine_logits(trunk_hidden, input_ids, fine_input_ids)
                if labels is not None:
                    fine_losses = self._fine_losses(fine_logits, fine_input_ids, labels)
                    loss = coarse_loss + self.config.fine_loss_weight * fine_losses.mean()

        return WhisperGPTCausalLMOutput(
            loss=loss,
            coarse_loss=coarse_loss,
            fine_losses=fine_losses,
            fine_logits=fine_logits,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def _fine_logits(self, trunk_hidden, input_ids, fine_input_ids) -> torch.Tensor:
        """Teacher-forced depth-head logits `[B, T - 1, K - 1, vocab]`: position t predicts codebooks 2..K of frame
        t + 1 from the trunk state at t and the codebooks 1..K-1 of frame t + 1."""
        levels = self.config.num_codebooks - 1
        batch, frames = input_ids.shape
        if fine_input_ids.shape != (batch, frames, levels):
            raise ValueError(
                f"fine_input_ids has shape {tuple(fine_input_ids.shape)} but input_ids {tuple(input_ids.shape)} with "
                f"num_codebooks={self.config.num_codebooks} needs [{batch}, {frames}, {levels}]: codebooks 2..K of "
                "each frame (processor(audio=..., num_codebooks=K)['fine_input_ids'])."
            )
        if trunk_hidden.shape[1] != frames:
            raise ValueError("fine_input_ids need the hidden state of every frame: call forward with logits_to_keep=0.")
        if not torch.compiler.is_compiling() and fine_input_ids.numel() and (
            int(fine_input_ids.min()) < 0 or int(fine_input_ids.max()) >= self.config.vocab_size
        ):
            raise ValueError(f"fine_input_ids hold codes outside the codebook [0, {self.config.vocab_size}).")
        if frames < 2:
            return trunk_hidden.new_zeros(batch, 0, levels, self.config.vocab_size)
        # Inputs of the depth positions: frame t + 1's codebooks 1..K-1 (coarse first).
        next_codes = torch.cat([input_ids[:, 1:, None], fine_input_ids[:, 1:, :-1]], dim=-1)
        states = trunk_hidden[:, :-1].reshape(-1, trunk_hidden.shape[-1])
        logits = self.depth_head(states, next_codes.reshape(-1, levels))
        return logits.view(batch, frames - 1, levels, -1)

    @staticmethod
    def _fine_losses(fine_logits, fine_input_ids, labels) -> torch.Tensor:
        """NLL (nats) of each fine codebook 2..K: `[K - 1]`, over the frames whose coarse label counts."""
        targets = fine_input_ids[:, 1:].masked_fill((labels[:, 1:] == -100)[..., None], -100)
        return torch.stack(
            [
                nn.functional.cross_entropy(
                    fine_logits[:, :, j].reshape(-1, fine_logits.shape[-1]).float(), targets[:, :, j].reshape(-1),
                    ignore_index=-100,
                )
                for j in range(fine_logits.shape[2])
            ]
        )

    def generate(self, inputs=None, generation_config=None, **kwargs):
        """`GenerationMixin.generate`, with the inputs validated once here instead of in every step's forward.

        Batches of prompts must be left-padded (`processor(audio=[...], padding_side="left")`): a right-padded batch
        would continue the shorter prompts after their padding, so it is refused. The hybrid model also needs
        `spectrogram_feedback=WhisperGPTSpectrogramFeedback(...)` (see `continue_audio` for the whole loop)."""
        input_ids = inputs if inputs is not None else kwargs.get("input_ids")
        self._apply_generation_defaults()  # also for checkpoints saved before the defaults existed
        if input_ids is not None:
            self._check_generation_inputs(input_ids, generation_config, kwargs)
        if self.depth_head is not None:
            return self._generate_all_codebooks(inputs, generation_config, kwargs)
        self.model._values_checked = True
        try:
            return super().generate(inputs, generation_config, **kwargs)
        finally:
            self.model._values_checked = False

    def _generate_all_codebooks(self, inputs, generation_config, kwargs):
        """`num_codebooks > 1`: GenerationMixin samples the coarse codes; after each step the depth head samples the
        new frame's fine codes (same do_sample / temperature / top-k / top-p); returns codes `[B, T, K]`."""
        input_ids = inputs if inputs is not None else kwargs.get("input_ids")
        fine = kwargs.pop("fine_input_ids", None)
        levels = self.config.num_codebooks - 1
        if input_ids is None or fine is None or tuple(fine.shape) != (*input_ids.shape, levels):
            raise ValueError(
                f"This model generates {self.config.num_codebooks} codebooks per frame (num_codebooks), so generate() "
                f"needs the prompt's fine codes: fine_input_ids [batch, frames, {levels}] next to input_ids "
                f"(got {None if fine is None else tuple(fine.shape)}); "
                f"processor(audio=..., num_codebooks={self.config.num_codebooks}) returns both."
            )
        if int(fine.min()) < 0 or int(fine.max()) >= self.config.vocab_size:
            raise ValueError(f"fine_input_ids hold codes outside the codebook [0, {self.config.vocab_size}).")
        settings = copy.deepcopy(generation_config if generation_config is not None else self.generation_config)
        settings.update(**{k: v for k, v in kwargs.items() if hasattr(settings, k)})
        if (settings.num_beams or 1) > 1:
            raise ValueError("Beam search is not supported with num_codebooks > 1; use greedy or sampling.")
        self._fine_sampler = WhisperGPTFineCodeSampler(self.depth_head, fine.to(input_ids.device), settings)
        streamer = None
        if kwargs.get("streamer") is not None:  # the streamer gets whole frames [B, n, K]
            streamer = kwargs["streamer"] = _FullFrameStreamer(kwargs["streamer"], self._fine_sampler)
        self.model._values_checked = True
        try:
            out = super().generate(inputs, generation_config, **kwargs)
            sequences = out if isinstance(out, torch.Tensor) else out.sequences
            self._fine_sampler.extend(sequences)  # the last frame's fine codes (no step after it)
            codes = self._fine_sampler.full(sequences)
            if streamer is not None:
                streamer.finish()
        finally:
            self.model._values_checked = False
            self._fine_sampler = None
        if isinstance(out, torch.Tensor):
            return codes
        out.sequences = codes
        return out

    def _check_generation_inputs(self, input_ids, generation_config, kwargs) -> None:
        model = self.model
        model._check_ids_shape(input_ids)
        attention_mask = kwargs.get("attention_mask")
        if attention_mask is not None:
            if tuple(attention_mask.shape) != tuple(input_ids.shape):
                raise ValueError(
                    f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids {tuple(input_ids.shape)}; "
                    "pass the processor's attention_mask with its input_ids."
                )
            model.check_input_values(input_ids, attention_mask, input_features=kwargs.get("input_features"))
            right_padded = (attention_mask[:, -1] == 0).nonzero().flatten().tolist()
            if right_padded:
                raise ValueError(
                    f"Batch row(s) {right_padded} end in padding (right-padded prompts), so generate() would continue "
                    "them after the padding. Left-pad prompts for generation: "
                    'processor(audio=[...], sampling_rate=24000, padding_side="left").'
                )
        else:
            model.check_input_values(input_ids, input_features=kwargs.get("input_features"))
        features = kwargs.get("input_features")
        if self.config.use_spectrogram and features is not None:
            if features.ndim != 3 or features.shape[0] != input_ids.shape[0] or features.shape[2] != self.config.n_mels:
                raise ValueError(
                    f"input_features has shape {tuple(features.shape)}; with input_ids {tuple(input_ids.shape)} it "
                    f"must be [{input_ids.shape[0]}, frames, {self.config.n_mels}] "
                    "(processor(audio=...)['input_features'])."
                )
        config = generation_config if generation_config is not None else self.generation_config
        new = kwargs.get("max_new_tokens", getattr(config, "max_new_tokens", None))
        context = self.config.max_position_embeddings
        if new is not None and input_ids.shape[1] + new > context:
            raise ValueError(
                f"Prompt ({input_ids.shape[1]} frames) + max_new_tokens ({new}) exceed the model's context of "
                f"{context} frames ({context / self.config.frame_rate:.2f} s). Generate less, or use continue_audio(..., "
                "seconds=S), which slides a window past the context."
            )

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        next_sequence_length: int | None = None,
        input_features: torch.FloatTensor | None = None,
        spectrogram_feedback=None,
        **kwargs,
    ):
        """Adds the mel slices of the positions this step feeds: from the prompt's `input_features` where they exist,
        else computed from the generated codes by `spectrogram_feedback` (codec decode -> the same mel front end)."""
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, next_sequence_length=next_sequence_length, **kwargs
        )
        codes = input_ids
        if self._fine_sampler is not None:  # num_codebooks > 1: the new frame's fine codes, then all K are decoded
            self._fine_sampler.extend(input_ids)
            codes = self._fine_sampler.full(input_ids)
        if self.config.use_spectrogram:
            model_inputs["input_features"] = features_for_generation_step(
                codes, input_features, spectrogram_feedback, next_sequence_length, kwargs.get("attention_mask")
            )
        return model_inputs


__all__ = [
    "GENERATION_DEFAULTS",
    "WhisperGPTCausalLMOutput",
    "WhisperGPTDepthHead",
    "WhisperGPTPreTrainedModel",
    "WhisperGPTModel",
    "WhisperGPTForCausalLM",
]
