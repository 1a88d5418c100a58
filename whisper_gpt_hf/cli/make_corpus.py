"""Interim: the verb registered by `whisper_gpt_hf.audio.corpus.build`."""

from whisper_gpt_hf.audio.corpus.build import add_parser  # noqa: F401
