"""whisper-gpt-hf: WHISPER-GPT (hybrid log-mel + EnCodec-token audio LM) for Hugging Face Transformers.

Importing the package registers the classes with the Auto classes, so ``AutoModelForCausalLM.from_pretrained(dir)``
and ``AutoProcessor.from_pretrained(dir)`` work without ``trust_remote_code`` when the package is installed.

One exception keeps ``whisper-gpt --help`` fast: when the process is the ``whisper-gpt`` console script, this import
defers the model classes (transformers' model and processor machinery takes seconds to import); they load on first
attribute access, and ``whisper_gpt_hf.cli`` calls ``_import_and_register()`` once the arguments are parsed, before
any verb runs.
"""

import sys
from pathlib import Path

__version__ = "0.1.0"


def _import_and_register() -> None:
    """Bind the modeling folder's public names here and register the classes (idempotent)."""
    if "__all__" in globals():
        return
    from whisper_gpt_hf import modeling

    globals().update({name: getattr(modeling, name) for name in modeling.__all__})
    _register()
    globals()["__all__"] = list(modeling.__all__)  # the public API is the modeling folder's


def _register() -> None:
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForCausalLM, AutoProcessor

    from whisper_gpt_hf.modeling import (
        WhisperGPTConfig,
        WhisperGPTFeatureExtractor,
        WhisperGPTForCausalLM,
        WhisperGPTModel,
        WhisperGPTProcessor,
    )

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


def _is_console_script() -> bool:
    argv = getattr(sys, "argv", None) or [""]
    return Path(argv[0]).stem in ("whisper-gpt", "whisper-gpt-script")


if _is_console_script():

    def __getattr__(name: str):
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)
        from importlib.util import find_spec

        if name != "__all__" and find_spec(f"{__name__}.{name}") is not None:
            raise AttributeError(name)  # a submodule: `from whisper_gpt_hf import data` imports it as usual
        _import_and_register()
        try:
            return globals()[name]
        except KeyError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

else:
    _import_and_register()
