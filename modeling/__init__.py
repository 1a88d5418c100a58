"""The Hugging Face-facing WHISPER-GPT code: config, models, feature extractor, processor, generation helpers.

Installed as ``whisper_gpt_hf.modeling``. The files in this folder import each other only with ``from .x import y``:
``save_pretrained`` copies them flat next to the weights for ``trust_remote_code`` users.
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
