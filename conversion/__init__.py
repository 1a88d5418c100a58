"""Converters from other checkpoint formats into Hugging Face folders, each with a parity check.

- `convert_encodec_checkpoint`: original `encodec` package checkpoints -> transformers `EncodecModel` folder
  (`whisper-gpt convert encodec --checkpoint FILE --output DIR`).
"""
