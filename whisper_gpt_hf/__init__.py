"""whisper-gpt-hf: WHISPER-GPT (hybrid log-mel + EnCodec-token audio LM) for Hugging Face Transformers.

Importing the package registers the classes with the Auto classes, so ``AutoModelForCausalLM.from_pretrained(dir)``
and ``AutoProcessor.from_pretrained(dir)`` work without ``trust_remote_code`` when the package is installed.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
)

from . import modeling
from .modeling import (
    PRESETS,
    WhisperGPTConfig,
    WhisperGPTFeatureExtractor,
    WhisperGPTForCausalLM,
    WhisperGPTModel,
    WhisperGPTPreTrainedModel,
    WhisperGPTProcessor,
    WhisperGPTSpectrogramFeedback,
    causal_log_mel_spectrogram,
    continue_audio,
    num_codec_frames,
)

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(WhisperGPTConfig.model_type, WhisperGPTConfig, exist_ok=True)
    AutoModel.register(WhisperGPTConfig, WhisperGPTModel, exist_ok=True)
    AutoModelForCausalLM.register(WhisperGPTConfig, WhisperGPTForCausalLM, exist_ok=True)
    AutoFeatureExtractor.register(WhisperGPTConfig, WhisperGPTFeatureExtractor, exist_ok=True)
    AutoProcessor.register(WhisperGPTConfig, WhisperGPTProcessor, exist_ok=True)
    # For trust_remote_code users: save_pretrained writes auto_map entries and copies the modeling files.
    WhisperGPTConfig.register_for_auto_class()
    WhisperGPTModel.register_for_auto_class("AutoModel")
    WhisperGPTForCausalLM.register_for_auto_class("AutoModelForCausalLM")
    WhisperGPTFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")
    WhisperGPTProcessor.register_for_auto_class("AutoProcessor")


_register()

__all__ = list(modeling.__all__)  # the public API is the modeling folder's
