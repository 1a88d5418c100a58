"""The synthetic speech + music corpus (`whisper-gpt make-corpus`)."""

from . import build as _build

globals().update({k: v for k, v in vars(_build).items() if not k.startswith("__")})  # interim, while split
