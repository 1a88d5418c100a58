"""The Hugging Face-facing WHISPER-GPT code: config, models, feature extractor, processor, generation helpers.

How it installs: this folder sits at the repository root (the project's stated layout), and ``pyproject.toml``
(``[tool.setuptools.package-dir]``) installs it as ``whisper_gpt_hf.modeling``, in the wheel and with
``pip install -e .`` alike: import it as ``from whisper_gpt_hf.modeling import ...`` (the package root re-exports
its public names), never as ``modeling``. The files in this folder import each other only with
``from .x import y``: ``save_pretrained`` copies them flat next to the weights for ``trust_remote_code`` users.
"""

from .codec_streaming_whisper_gpt import WhisperGPTStreamingCodecDecoder
from .configuration_whisper_gpt import PRESETS, WhisperGPTConfig
from .feature_extraction_whisper_gpt import WhisperGPTFeatureExtractor, causal_log_mel_spectrogram, num_codec_frames
from .generation_whisper_gpt import WhisperGPTSpectrogramFeedback, continue_audio
from .modeling_whisper_gpt import WhisperGPTForCausalLM, WhisperGPTModel, WhisperGPTPreTrainedModel
from .pipeline_whisper_gpt import WhisperGPTAudioContinuationPipeline
from .processing_whisper_gpt import WhisperGPTProcessor
from .streamer_whisper_gpt import WhisperGPTAudioStreamer

__all__ = [
    "PRESETS",
    "WhisperGPTAudioContinuationPipeline",
    "WhisperGPTAudioStreamer",
    "WhisperGPTConfig",
    "WhisperGPTFeatureExtractor",
    "WhisperGPTForCausalLM",
    "WhisperGPTModel",
    "WhisperGPTPreTrainedModel",
    "WhisperGPTProcessor",
    "WhisperGPTSpectrogramFeedback",
    "WhisperGPTStreamingCodecDecoder",
    "causal_log_mel_spectrogram",
    "continue_audio",
    "num_codec_frames",
]
