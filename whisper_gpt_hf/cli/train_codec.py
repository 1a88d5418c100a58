"""Interim: the verb registered by `whisper_gpt_hf.audio.codec.train`."""

from whisper_gpt_hf.audio.codec.train import add_parser  # noqa: F401
