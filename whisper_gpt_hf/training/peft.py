"""LoRA fine-tuning of WHISPER-GPT through the `peft` library (`pip install whisper-gpt-hf[peft]`).

    >>> from whisper_gpt_hf import WhisperGPTConfig, WhisperGPTForCausalLM
    >>> from whisper_gpt_hf.training.peft import apply_lora
    >>> base = WhisperGPTForCausalLM(WhisperGPTConfig.from_preset("hybrid-4m"))  # or .from_pretrained("runs/hybrid")
    >>> model = apply_lora(base, r=8, alpha=16)
    >>> # ... train `model` as usual (only the adapters have requires_grad) ...
    >>> merged = model.merge_and_unload()  # a plain WhisperGPTForCausalLM again; save_pretrained as usual

**Target modules.** Every transformer block of the model is a `WhisperGPTBlock` with the same four linear layers:

| module | class | shape |
|---|---|---|
| `self_attn.qkv_proj` | `WhisperGPTAttention` | `width -> 3 * width` (query, key, value fused) |
| `self_attn.out_proj` | `WhisperGPTAttention` | `width -> width` |
| `mlp.fc_in` | `WhisperGPTMLP` | `width -> intermediate` |
| `mlp.fc_out` | `WhisperGPTMLP` | `intermediate -> width` |

They live in the main decoder (`model.layers.{i}`) and, for the hybrid, in the spectrogram branch
(`model.spectrogram_encoder.layers.{i}`). `DEFAULT_TARGET_MODULES` adapts both; `DECODER_ONLY_TARGET_MODULES` (a
regular expression, peft's full-match syntax) adapts only the main decoder and leaves the spectrogram branch frozen.
The embeddings, the input projection, the LayerNorms and the LM head stay frozen (pass `modules_to_save=[...]` to
train one of them fully).
"""

from __future__ import annotations

DEFAULT_TARGET_MODULES = ["qkv_proj", "out_proj", "fc_in", "fc_out"]
DECODER_ONLY_TARGET_MODULES = r"model\.layers\.\d+\.(self_attn\.(qkv_proj|out_proj)|mlp\.(fc_in|fc_out))"


def lora_config(
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: list[str] | str | None = None,
    modules_to_save: list[str] | None = None,
):
    """A `peft.LoraConfig` for WHISPER-GPT (default targets: `DEFAULT_TARGET_MODULES`)."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(DEFAULT_TARGET_MODULES) if target_modules is None else target_modules,
        modules_to_save=modules_to_save,
        bias="none",
        # No task_type: the generic PeftModel forwards every keyword (input_features included) to the model unchanged.
    )


def apply_lora(
    model,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: list[str] | str | None = None,
    modules_to_save: list[str] | None = None,
):
    """Wrap `model` (a `WhisperGPTForCausalLM`) in a `peft.PeftModel` with LoRA adapters; only they train.

    Args:
        r: adapter rank.
        alpha: LoRA scaling numerator (the update is scaled by `alpha / r`).
        dropout: dropout on the adapter input.
        target_modules: module names or a full-match regex; default `DEFAULT_TARGET_MODULES` (decoder and
            spectrogram branch); `DECODER_ONLY_TARGET_MODULES` keeps the spectrogram branch frozen.
        modules_to_save: modules trained in full and saved with the adapter (e.g. `["lm_head"]`).

    Returns:
        The `PeftModel`. `model.print_trainable_parameters()` shows the split; `model.save_pretrained(dir)` writes
        only the adapter; `model.merge_and_unload()` returns a plain `WhisperGPTForCausalLM` with the update merged.
    """
    from peft import get_peft_model

    return get_peft_model(model, lora_config(r, alpha, dropout, target_modules, modules_to_save))


def trainable_parameters(model) -> tuple[int, int]:
    """`(trainable, total)` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


__all__ = ["DECODER_ONLY_TARGET_MODULES", "DEFAULT_TARGET_MODULES", "apply_lora", "lora_config", "trainable_parameters"]
