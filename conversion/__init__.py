"""Converters from other checkpoint formats into Hugging Face folders, each with a parity check.

How it installs: this folder sits at the repository root (the project's stated layout), and ``pyproject.toml``
(``[tool.setuptools.package-dir]``) installs it as ``whisper_gpt_hf.conversion``, in the wheel and with
``pip install -e .`` alike: import it as ``from whisper_gpt_hf.conversion.<module> import ...``, never as
``conversion``.

- `convert_encodec_checkpoint`: original `encodec` package checkpoints -> transformers `EncodecModel` folder
  (`whisper-gpt convert encodec --checkpoint FILE --output DIR`).
- `convert_accelerate_checkpoint`: an Accelerate `save_state` training checkpoint -> Hub-ready WHISPER-GPT folder
  (`whisper-gpt convert checkpoint --checkpoint DIR --output DIR`); keys checked one by one, safe loading only.
- `common`: the errors every converter raises and the safe checkpoint reader they share.

Making a saved model Hub-ready is not a conversion: it lives in `whisper_gpt_hf.publishing`
(`whisper-gpt convert hub-ready` and `whisper-gpt publish` call it).
"""
