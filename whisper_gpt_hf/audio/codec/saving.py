"""The codec wing's two `hub/` asset builders: the trained codec as a Hub model folder (`save_codec`:
`save_pretrained`, EnCodec's feature extractor config, `training_summary.json`, `training_args.json`, the model card)
and the package's default processor that bundles it (`save_default_processor`, `hub/whisper-gpt-processor`). The
third asset builder, the corpus, is `whisper_gpt_hf.audio.corpus.build`; `whisper-gpt train-codec
--processor-output-dir` calls both of these."""

from __future__ import annotations

import json
import os
from pathlib import Path

from whisper_gpt_hf.assets import strip_remote_code
from whisper_gpt_hf.audio.codec.arguments import (
    CodecTrainingArguments,
    command_line,
    save_arguments,
)
from whisper_gpt_hf.audio.codec.card import model_card, processor_card, report_section
from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE


WEIGHTS_FILE = "model.safetensors"


def stored_dtype(folder: str | os.PathLike) -> str:
    """`"float16"` if the floating tensors of `folder`'s weights file are stored in half precision, else `"float32"`."""
    from safetensors import safe_open

    with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    return "float16" if "F16" in dtypes and "F32" not in dtypes else "float32"


def store_weights_as(folder: str | os.PathLike, dtype: str) -> None:
    """Rewrite `folder/model.safetensors` with its floating tensors in `dtype` (`"float16"` or `"float32"`).

    The config keeps `dtype: float32`, so `EncodecModel.from_pretrained(folder)` still builds a float32 model: it
    runs in float32 from the rounded weights, and every number measured on the folder is that model's. The new file is
    written next to the old one and renamed over it (never a half-written weights file)."""
    import torch
    from safetensors.torch import load_file, save_file

    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}.")
    path = Path(folder) / WEIGHTS_FILE
    target = getattr(torch, dtype)
    tensors = {k: v.to(target) if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)


def save_codec(model, output_dir: str | os.PathLike, args: CodecTrainingArguments, summary: dict) -> None:
    """`save_pretrained` (weights in `args.save_dtype`) + EnCodec's feature extractor config + a model card + the
    exact training arguments."""
    from transformers import EncodecFeatureExtractor

    out = Path(output_dir)
    model.eval().save_pretrained(out)
    if args.save_dtype != "float32":
        store_weights_as(out, args.save_dtype)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE, padding_value=0.0, chunk_length_s=None,
                            overlap=None).save_pretrained(out)
    meta = {k: v for k, v in summary.items() if k != "history"}
    meta["command"] = command_line(args)
    meta["card_note"] = args.card_note
    (out / "training_summary.json").write_text(json.dumps(meta, indent=2) + "\n")
    save_arguments(args, out)
    old = (out / "README.md").read_text() if (out / "README.md").exists() else ""
    (out / "README.md").write_text(model_card(meta, args, report_section(old)))


def save_default_processor(codec_dir: str | os.PathLike, processor_dir: str | os.PathLike):
    """The package's default processor: the causal mel front end + this codec, bundled in `audio_tokenizer/` (its
    weights stored in the codec folder's precision, so the bundled copy equals the codec)."""
    from transformers import EncodecModel

    from whisper_gpt_hf.modeling import WhisperGPTFeatureExtractor, WhisperGPTProcessor

    codec = EncodecModel.from_pretrained(str(codec_dir)).eval()
    processor = WhisperGPTProcessor(WhisperGPTFeatureExtractor(), audio_tokenizer=codec)
    out = Path(processor_dir)
    processor.save_pretrained(str(out))
    dtype = stored_dtype(codec_dir)
    if dtype != "float32":
        store_weights_as(out / "audio_tokenizer", dtype)
    strip_remote_code(out)  # loaded with the package; `whisper-gpt publish` writes the remote code
    (out / "README.md").write_text(processor_card(Path(codec_dir).name))
    return processor


__all__ = ["save_codec", "save_default_processor", "store_weights_as", "stored_dtype"]
