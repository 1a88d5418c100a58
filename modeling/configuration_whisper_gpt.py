"""WHISPER-GPT model configuration."""

from __future__ import annotations

from transformers import PretrainedConfig

# Paper models (arXiv 2412.11449, Tables 1-2). The paper gives parameter counts only; the shapes are ours, chosen so
# that the hybrid and GPT-S share the same decoder and differ only in the input side, and measured by
# `tests/modeling/test_configuration_whisper_gpt.py::test_preset_parameter_counts`.
PRESETS: dict[str, dict] = {
    # 3.82M parameters: gpt-s's 256-dim code embedding (tied to the head) + a 32-dim spectrogram branch, fused by
    # concatenation (288 channels, projected to 256), the same decoder as gpt-s. The paper's parts are 32-dim each;
    # widening the code part won the fusion ablation on validation (docs/fusion-ablation/): with 32 dims the codes
    # pass a bottleneck the token-only baseline does not have. `token_embedding_size=32, tie_word_embeddings=False`
    # is the paper's shape (3.79M).
    "hybrid-4m": dict(
        use_spectrogram=True,
        token_embedding_size=256,
        tie_word_embeddings=True,
        fusion_balance="layernorm",
        spectrogram_hidden_size=32,
        spectrogram_num_layers=2,
        spectrogram_num_heads=2,
        spectrogram_intermediate_size=128,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
    ),
    # 3.68M parameters: the token-only baseline at the hybrid's size (tied head, as GPT-2).
    "gpt-s": dict(
        use_spectrogram=False,
        tie_word_embeddings=True,
        token_embedding_size=256,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
    ),
    # 40.7M parameters: the 10x larger token-only baseline (tied head).
    "gpt-l": dict(
        use_spectrogram=False,
        tie_word_embeddings=True,
        token_embedding_size=640,
        hidden_size=640,
        num_hidden_layers=8,
        num_attention_heads=10,
        intermediate_size=2560,
    ),
}


def _pipeline_registered_here() -> bool:
    from transformers.pipelines import PIPELINE_REGISTRY

    return "audio-continuation" in PIPELINE_REGISTRY.get_supported_tasks()


FUSION_BALANCES = ("layernorm", "scale_spectrogram", "none")

# The type of every architectural field (checked on load: a JSON string "false" is truthy, "128" breaks shapes).
_INT, _BOOL, _FLOAT, _STR = (int,), (bool,), (int, float), (str,)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("vocab_size", "n_mels", "spectrogram_hidden_size", "spectrogram_num_layers",
                     "spectrogram_num_heads", "spectrogram_intermediate_size", "token_embedding_size", "hidden_size",
                     "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
                     "codec_sampling_rate", "codec_hop_length", "num_codebooks", "depth_hidden_size",
                     "depth_num_layers", "depth_num_heads", "depth_intermediate_size"), _INT),
    **dict.fromkeys(("use_spectrogram", "tie_word_embeddings", "use_cache"), _BOOL),
    **dict.fromkeys(("dropout", "attention_dropout", "layer_norm_eps", "initializer_range", "fine_loss_weight"),
                    _FLOAT),
    **dict.fromkeys(("fusion", "fusion_balance", "activation_function"), _STR),
}
_FIELD_EXAMPLES = {_INT: "a JSON integer such as 4", _BOOL: "true or false, unquoted", _FLOAT: "a JSON number such as 0.1",
                   _STR: "a quoted string"}


class WhisperGPTConfig(PretrainedConfig):
    r"""
    Configuration of a WHISPER-GPT model: a decoder-only transformer over EnCodec coarse codes that, in its hybrid form,
    also reads one causal log-mel slice per codec frame through a few lightweight causal decoder blocks and fuses it
    with the token embedding by concatenation. With `use_spectrogram=False` it is the token-only GPT baseline and has
    no spectrogram parameters at all.

    The defaults build the paper's `hybrid-4m` model. Use [`WhisperGPTConfig.from_preset`] for the paper's three models.

    Args:
        vocab_size (`int`, *optional*, defaults to 1024):
            Size of the coarse (first) EnCodec codebook: the token vocabulary.
        n_mels (`int`, *optional*, defaults to 64):
            Mel channels per spectrogram slice (`input_features[..., n_mels]`).
        use_spectrogram (`bool`, *optional*, defaults to `True`):
            Whether the spectrogram branch exists. `False` is the token-only GPT baseline.
        spectrogram_hidden_size (`int`, *optional*, defaults to 32):
            Width of the spectrogram branch, and of its part of the fused input.
        spectrogram_num_layers (`int`, *optional*, defaults to 2):
            Number of causal decoder blocks (masked self-attention + MLP) over the mel slices.
        spectrogram_num_heads (`int`, *optional*, defaults to 2):
            Attention heads in the spectrogram blocks.
        spectrogram_intermediate_size (`int`, *optional*, defaults to 128):
            MLP width of the spectrogram blocks.
        token_embedding_size (`int`, *optional*, defaults to 32):
            Width of the code embedding. The fused input has `token_embedding_size + spectrogram_hidden_size`
            channels (just `token_embedding_size` without the branch) and is projected linearly to `hidden_size`
            when the two differ.
        fusion (`str`, *optional*, defaults to `"concat"`):
            How the spectrogram and token views are combined: `"concat"` (early fusion, as in the paper) is the only
            supported value.
        fusion_balance (`str`, *optional*, defaults to `"layernorm"`):
            How the two fused streams are brought to a comparable scale, so that the main transformer can use both
            from the first step (invariant 6 of the design brief). Only used when `use_spectrogram=True`.

            - `"layernorm"`: a LayerNorm on the code embedding, so it enters the fusion at unit RMS like the
              spectrogram branch (which ends in a LayerNorm).
            - `"scale_spectrogram"`: the spectrogram branch's final LayerNorm gain starts at `initializer_range`, so
              it enters at the code embedding's scale (an initialisation choice; no extra parameters).
            - `"none"`: the first build's fusion (code embedding std 0.02 next to a unit-RMS branch, ~50x apart).
              A saved config *without* this key loads as `"none"`, so checkpoints made before the field existed
              keep their exact logits.
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the main causal transformer.
        num_hidden_layers (`int`, *optional*, defaults to 4):
            Number of decoder blocks in the main transformer.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads in the main transformer.
        intermediate_size (`int`, *optional*, defaults to 1024):
            MLP width of the main transformer.
        max_position_embeddings (`int`, *optional*, defaults to 1024):
            Context length in codec frames (1024 frames = 13.65 s at 75 frames/s); learned absolute positions.
        activation_function (`str`, *optional*, defaults to `"gelu_new"`):
            MLP activation (a key of `transformers.activations.ACT2FN`).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout on embeddings and residual branches.
        attention_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on attention probabilities.
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of every LayerNorm.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation; residual output projections are scaled by
            `1/sqrt(2 * num_layers)` as in GPT-2.
        tie_word_embeddings (`bool`, *optional*, defaults to `False`):
            Tie the output head to the code embedding (only possible when `token_embedding_size == hidden_size`).
        use_cache (`bool`, *optional*, defaults to `True`):
            Whether `forward` returns the key/value cache by default.
        codec_sampling_rate (`int`, *optional*, defaults to 24000):
            Sampling rate of the codec whose codes the model reads.
        codec_hop_length (`int`, *optional*, defaults to 320):
            Samples per codec frame (75 frames/s at 24 kHz): the model's time grid.
        num_codebooks (`int`, *optional*, defaults to 1):
            Codec codebooks the model predicts per frame. 1 is the paper's model (coarse codes only; no depth head, so
            its parameters and logits are exactly those of a config without this key). With K > 1 a small depth head
            (a causal transformer over the K - 1 fine levels, as CSM's depth decoder) predicts codebooks 2..K of frame
            t + 1 from the trunk's hidden state at t and the codebooks already chosen for frame t + 1 (teacher-forced
            in training). The trunk still reads only the coarse code (and the mel slice): one position per frame.
            Fine codes enter as `fine_input_ids` `[batch, frames, K - 1]`; `generate()` returns `[batch, frames, K]`.
            Use the codec's number of codebooks at its top bandwidth for the full-bandwidth model.
        depth_hidden_size (`int`, *optional*, defaults to 128):
            Width of the depth head (only built when `num_codebooks > 1`).
        depth_num_layers (`int`, *optional*, defaults to 2):
            Causal transformer blocks in the depth head.
        depth_num_heads (`int`, *optional*, defaults to 4):
            Attention heads in the depth head.
        depth_intermediate_size (`int`, *optional*, defaults to 512):
            MLP width of the depth head's blocks.
        fine_loss_weight (`float`, *optional*, defaults to 1.0):
            With `num_codebooks > 1` the loss is `coarse NLL + fine_loss_weight * mean over codebooks 2..K of their
            NLL` (each in nats per code); the output also carries `coarse_loss` (the paper's metric) and
            `fine_losses` (one NLL per fine codebook) separately.
        pad_token_id / bos_token_id / eos_token_id (`int`, *optional*):
            Special ids. Codec streams have none; generation stops on length.

    Example:

    ```python
    >>> from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM
    >>> config = WhisperGPTConfig.from_preset("hybrid-4m")
    >>> model = WhisperGPTForCausalLM(config)
    >>> round(model.num_parameters() / 1e6, 2)
    3.82
    ```
    """

    model_type = "whisper_gpt"
    keys_to_ignore_at_inference = ["cache"]

    def __init__(
        self,
        vocab_size: int = 1024,
        n_mels: int = 64,
        use_spectrogram: bool = True,
        spectrogram_hidden_size: int = 32,
        spectrogram_num_layers: int = 2,
        spectrogram_num_heads: int = 2,
        spectrogram_intermediate_size: int = 128,
        token_embedding_size: int = 32,
        fusion: str = "concat",
        fusion_balance: str = "layernorm",
        hidden_size: int = 256,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 1024,
        max_position_embeddings: int = 1024,
        activation_function: str = "gelu_new",
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        tie_word_embeddings: bool = False,
        use_cache: bool = True,
        codec_sampling_rate: int = 24000,
        codec_hop_length: int = 320,
        num_codebooks: int = 1,
        depth_hidden_size: int = 128,
        depth_num_layers: int = 2,
        depth_num_heads: int = 4,
        depth_intermediate_size: int = 512,
        fine_loss_weight: float = 1.0,
        pad_token_id: int | None = None,
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.n_mels = n_mels
        self.use_spectrogram = use_spectrogram
        self.spectrogram_hidden_size = spectrogram_hidden_size
        self.spectrogram_num_layers = spectrogram_num_layers
        self.spectrogram_num_heads = spectrogram_num_heads
        self.spectrogram_intermediate_size = spectrogram_intermediate_size
        self.token_embedding_size = token_embedding_size
        self.fusion = fusion
        self.fusion_balance = fusion_balance
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.activation_function = activation_function
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.tie_word_embeddings = tie_word_embeddings
        self.use_cache = use_cache
        self.codec_sampling_rate = codec_sampling_rate
        self.codec_hop_length = codec_hop_length
        self.num_codebooks = num_codebooks
        self.depth_hidden_size = depth_hidden_size
        self.depth_num_layers = depth_num_layers
        self.depth_num_heads = depth_num_heads
        self.depth_intermediate_size = depth_intermediate_size
        self.fine_loss_weight = fine_loss_weight
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        super().__init__(**kwargs)
        self.validate_architecture()

    def validate_architecture(self) -> None:
        """Raise a `ValueError` naming the field for any inconsistent architectural choice."""
        self._validate_types()
        if self.fusion != "concat":
            raise ValueError(f"fusion={self.fusion!r} is not supported; WHISPER-GPT fuses by 'concat'.")
        if self.fusion_balance not in FUSION_BALANCES:
            raise ValueError(f"fusion_balance={self.fusion_balance!r} is not supported; choose one of {FUSION_BALANCES}.")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})."
            )
        if self.use_spectrogram and self.spectrogram_hidden_size % self.spectrogram_num_heads:
            raise ValueError(
                f"spectrogram_hidden_size ({self.spectrogram_hidden_size}) must be divisible by "
                f"spectrogram_num_heads ({self.spectrogram_num_heads})."
            )
        if self.tie_word_embeddings and self.token_embedding_size != self.hidden_size:
            raise ValueError(
                "tie_word_embeddings=True needs token_embedding_size == hidden_size "
                f"(got {self.token_embedding_size} and {self.hidden_size})."
            )
        if self.num_codebooks > 1 and self.depth_hidden_size % self.depth_num_heads:
            raise ValueError(
                f"depth_hidden_size ({self.depth_hidden_size}) must be divisible by depth_num_heads "
                f"({self.depth_num_heads})."
            )
        if not self.fine_loss_weight >= 0.0:
            raise ValueError(f"fine_loss_weight must be >= 0, got {self.fine_loss_weight!r}.")
        for name in ("vocab_size", "n_mels", "hidden_size", "num_hidden_layers", "max_position_embeddings",
                     "codec_sampling_rate", "codec_hop_length", "token_embedding_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")

    def _validate_types(self) -> None:
        """Each field has the type its docstring gives (a JSON `"false"` is not `False`); counts are positive."""
        for name, kinds in _FIELD_TYPES.items():
            value = getattr(self, name, None)
            ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
            if not ok:
                wanted = " or ".join(k.__name__ for k in kinds)
                raise ValueError(f"config field {name} must be {wanted}, got {type(value).__name__} {value!r}; "
                                 f"write {_FIELD_EXAMPLES[kinds]} in config.json.")
            if kinds is _INT and value <= 0:
                raise ValueError(f"config field {name} must be positive, got {value!r}.")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"config field {name} must lie in [0, 1), got {getattr(self, name)!r}.")
        from transformers.activations import ACT2FN

        if self.activation_function not in ACT2FN:
            raise ValueError(f"config field activation_function={self.activation_function!r} is not a transformers "
                             "activation; use e.g. 'gelu_new' or 'gelu' (transformers.activations.ACT2FN).")

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        # A config saved before `fusion_balance` existed describes the first build's fusion: keep its logits.
        if config_dict.get("model_type", cls.model_type) == cls.model_type and "fusion_balance" not in config_dict:
            config_dict = {**config_dict, "fusion_balance": "none"}
        if "custom_pipelines" in config_dict and _pipeline_registered_here():
            # The package is imported, so its own audio-continuation pipeline is registered: let pipeline() use it
            # instead of asking for trust_remote_code to import the folder's copy (save_pretrained writes it back).
            config_dict = {k: v for k, v in config_dict.items() if k != "custom_pipelines"}
        return super().from_dict(config_dict, **kwargs)

    @property
    def fused_input_size(self) -> int:
        """Channels of the fused per-frame input before the projection to `hidden_size`."""
        return self.token_embedding_size + (self.spectrogram_hidden_size if self.use_spectrogram else 0)

    @property
    def frame_rate(self) -> float:
        """Codec frames (model positions) per second."""
        return self.codec_sampling_rate / self.codec_hop_length

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "WhisperGPTConfig":
        """Build one of the paper's models: `"hybrid-4m"`, `"gpt-s"` or `"gpt-l"`; keyword overrides win (in the
        tied presets a `hidden_size` override also sets `token_embedding_size`, unless that is given too)."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        values = {**PRESETS[name], **overrides}
        if values.get("tie_word_embeddings") and "hidden_size" in overrides and "token_embedding_size" not in overrides:
            # A tied preset's code embedding is as wide as the decoder: follow a hidden_size override.
            values["token_embedding_size"] = values["hidden_size"]
        return cls(**values)


__all__ = ["WhisperGPTConfig", "PRESETS"]
