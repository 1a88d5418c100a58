"""Interim: the verb registered by `whisper_gpt_hf.audio.codec.report`."""

from whisper_gpt_hf.audio.codec.report import add_parser  # noqa: F401
