"""Convert an original EnCodec checkpoint (the `encodec` package's state dict) into a transformers `EncodecModel`.

    whisper-gpt convert encodec --checkpoint encodec_24khz-d7cc33bc.th --output encodec_24khz_hf

The steps, in order, each a small function below:

1. read the checkpoint safely: `torch.load(map_location="cpu", weights_only=True)` for `.th`/`.pt`/`.bin` files
   (a pickle that would run code on load is refused), `safetensors` for `.safetensors`; a training-state wrapper
   (`{"best_state": ...}`, `{"model": ...}`, `{"state_dict": ...}`) is unwrapped;
2. rename every key through the explicit map `ENCODEC_KEY_MAP`; any key of the checkpoint that the map or the
   transformers model does not know, any model key the checkpoint does not provide and any shape mismatch raises
   `CheckpointKeyError` naming the keys (the CLI exits with status 1);
3. parity: build the original `encodec.EncodecModel` from the same weights and encode/decode a seeded random
   waveform with both models at each requested bandwidth: the codes must be identical and the decoded audio within
   `PARITY_ATOL`, or `ParityError` is raised;
4. save the model (`save_pretrained`, safetensors) and an `EncodecFeatureExtractor` (`preprocessor_config.json`),
   reload the folder and check that every tensor came back unchanged.

Both published EnCodec models are supported: `encodec_24khz` (mono, causal, weight norm; the one WHISPER-GPT uses)
and `encodec_48khz` (stereo, non-causal, group norm, 1 s chunks with normalisation).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import EncodecConfig, EncodecFeatureExtractor, EncodecModel

from whisper_gpt_hf.conversion.common import (  # noqa: F401  (re-exported: the converter's errors and reader)
    CheckpointKeyError,
    CheckpointReadError,
    ConversionError,
    load_original_state_dict,
    unwrap_state_dict,
)

# Decoded audio of the two implementations must agree to this absolute tolerance (codes must be identical).
PARITY_ATOL = 1e-5
PARITY_SEED = 0

# The two published original models, as transformers configs (fields not listed keep EncodecConfig's defaults, which
# are the 24 kHz model's: hidden size 128, 32 filters, ratios 8-5-4-2, 2 LSTM layers, 1024-entry codebooks).
ENCODEC_CONFIGS = {
    "encodec_24khz": {
        "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
        "sampling_rate": 24_000,
        "audio_channels": 1,
        "normalize": False,
        "chunk_length_s": None,
        "overlap": None,
        "use_causal_conv": True,
        "norm_type": "weight_norm",
    },
    "encodec_48khz": {
        "target_bandwidths": [3.0, 6.0, 12.0, 24.0],
        "sampling_rate": 48_000,
        "audio_channels": 2,
        "normalize": True,
        "chunk_length_s": 1.0,
        "overlap": 0.01,
        "use_causal_conv": False,
        "norm_type": "time_group_norm",
    },
}

# Parameter names inside each kind of module: original name -> transformers name. The original package uses the
# legacy `torch.nn.utils.weight_norm` (weight_g, weight_v); transformers uses `nn.utils.parametrizations.weight_norm`.
_CONV_PARAMS = {
    "weight_g": "parametrizations.weight.original0",
    "weight_v": "parametrizations.weight.original1",
    "weight": "weight",  # convolutions without weight norm (48 kHz, group norm)
    "bias": "bias",
}
_GROUP_NORM_PARAMS = {"weight": "weight", "bias": "bias"}
_LSTM_PARAMS = {
    f"{kind}_{gate}_l{layer}": f"{kind}_{gate}_l{layer}"
    for kind in ("weight", "bias")
    for gate in ("ih", "hh")
    for layer in range(2)  # num_lstm_layers = 2 in both published models
}
_CODEBOOK_PARAMS = {name: name for name in ("inited", "cluster_size", "embed", "embed_avg")}

# Module paths: original `encodec` module -> transformers `EncodecModel` module, and the parameter table that module
# uses. `{n}`/`{m}` are layer indices; the index sets are spelled out where a transformers path alone would be
# ambiguous (the decoder's `layers.{n}.conv` is a plain conv at 0 and 15, a transposed conv at 3, 6, 9, 12).
# In the original each conv is wrapped twice (SConv1d.conv -> NormConv1d.conv -> nn.Conv1d) and the group norm sits
# on NormConv1d; transformers' EncodecConv1d holds `conv` and `norm` directly. SEANet's nn.Sequential indices
# (ELUs included) are the same in both, so they carry over unchanged.
ENCODEC_KEY_MAP = [
    # encoder: stem conv (0), downsampling convs (3, 6, 9, 12) and output projection (15)
    ("encoder.model.{n}.conv.conv", "encoder.layers.{n}.conv", _CONV_PARAMS),
    ("encoder.model.{n}.conv.norm", "encoder.layers.{n}.norm", _GROUP_NORM_PARAMS),
    # decoder: input projection (0) and output conv (15)
    ("decoder.model.{io}.conv.conv", "decoder.layers.{io}.conv", _CONV_PARAMS),
    ("decoder.model.{io}.conv.norm", "decoder.layers.{io}.norm", _GROUP_NORM_PARAMS),
    # decoder: upsampling transposed convs
    ("decoder.model.{up}.convtr.convtr", "decoder.layers.{up}.conv", _CONV_PARAMS),
    ("decoder.model.{up}.convtr.norm", "decoder.layers.{up}.norm", _GROUP_NORM_PARAMS),
    # residual blocks: block.1 and block.3 are convs (block.0 and block.2 are ELUs), shortcut is a 1x1 conv
    ("{part}.model.{n}.block.{m}.conv.conv", "{part}.layers.{n}.block.{m}.conv", _CONV_PARAMS),
    ("{part}.model.{n}.block.{m}.conv.norm", "{part}.layers.{n}.block.{m}.norm", _GROUP_NORM_PARAMS),
    ("{part}.model.{n}.shortcut.conv.conv", "{part}.layers.{n}.shortcut.conv", _CONV_PARAMS),
    ("{part}.model.{n}.shortcut.conv.norm", "{part}.layers.{n}.shortcut.norm", _GROUP_NORM_PARAMS),
    # the LSTM after the last downsampling (encoder 13) / before the first upsampling (decoder 1)
    ("{part}.model.{n}.lstm", "{part}.layers.{n}.lstm", _LSTM_PARAMS),
    # residual vector quantizer: one codebook per quantizer (the buffers EMA training keeps are converted too)
    ("quantizer.vq.layers.{n}._codebook", "quantizer.layers.{n}.codebook", _CODEBOOK_PARAMS),
]

_PLACEHOLDERS = {
    "n": r"\d+",
    "m": r"\d+",
    "io": r"0|15",
    "up": r"3|6|9|12",
    "part": r"encoder|decoder",
}









class ParityError(ConversionError):
    """The converted model does not reproduce the original model's codes or audio."""


# ----------------------------------------------------------------------------------------------------------- key map


def _compile_template(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PLACEHOLDERS[part]})" for i, part in enumerate(parts)
    )
    return re.compile(regex + r"\.(?P<param>.+)")


_FORWARD_RULES = [(_compile_template(src), dst, params) for src, dst, params in ENCODEC_KEY_MAP]
_BACKWARD_RULES = [
    (_compile_template(dst), src, {hf: orig for orig, hf in params.items()}) for src, dst, params in ENCODEC_KEY_MAP
]


def _apply_rules(key: str, rules) -> str | None:
    found = []
    for pattern, template, params in rules:
        match = pattern.fullmatch(key)
        if match is not None and match["param"] in params:
            fields = {name: value for name, value in match.groupdict().items() if name != "param"}
            found.append(f"{template.format(**fields)}.{params[match['param']]}")
    if len(found) > 1:  # a bug in ENCODEC_KEY_MAP, not in the checkpoint
        raise AssertionError(f"ENCODEC_KEY_MAP is ambiguous for {key!r}: {found}")
    return found[0] if found else None


def rename_key(key: str) -> str | None:
    """The transformers name of an original `encodec` state-dict key, or None if the map does not cover it."""
    return _apply_rules(key, _FORWARD_RULES)


def original_key(hf_key: str) -> str | None:
    """The inverse of `rename_key`: the original name of a transformers `EncodecModel` key."""
    return _apply_rules(hf_key, _BACKWARD_RULES)


def convert_state_dict(
    original_state_dict: Mapping[str, torch.Tensor], model_state_dict: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Rename `original_state_dict` into the keys of `model_state_dict`; raise `CheckpointKeyError` on any mismatch.

    Unexpected keys are named as they appear in the checkpoint (with the transformers name they mapped to, if any),
    missing keys by the original name the checkpoint should have had (and the transformers name).
    """
    converted, provided, unexpected, mismatched = {}, set(), [], []
    for key, tensor in original_state_dict.items():
        new_key = rename_key(key)
        if new_key is None:
            unexpected.append(f"{key} (not in the rename map)")
        elif new_key not in model_state_dict:
            unexpected.append(f"{key} (-> {new_key}, not in the model)")
        else:
            provided.add(new_key)
            expected_shape = tuple(model_state_dict[new_key].shape)
            if tuple(tensor.shape) != expected_shape:
                mismatched.append(f"{key} (checkpoint {tuple(tensor.shape)}, model {expected_shape})")
            else:
                converted[new_key] = tensor
    missing = [f"{original_key(key) or '?'} (-> {key})" for key in model_state_dict if key not in provided]
    if unexpected or missing or mismatched:
        raise CheckpointKeyError(sorted(unexpected), sorted(missing), sorted(mismatched),
                                 title="the checkpoint does not match the EnCodec model:")
    return converted


def check_codebooks_initialised(state_dict: Mapping[str, torch.Tensor]) -> None:
    """Refuse checkpoints whose codebooks were never initialised (EnCodec initialises them by k-means on the first
    training batch): their codebooks are all zero, every frame encodes to code 0 and the parity check would be
    vacuous."""
    uninitialised = [key for key, value in state_dict.items() if key.endswith("_codebook.inited") and not value.all()]
    if uninitialised:
        raise ConversionError(
            f"{len(uninitialised)} codebook(s) were never initialised (inited == 0): "
            + ", ".join(sorted(uninitialised))
            + ". This is an untrained model: every frame would encode to code 0."
        )


# ------------------------------------------------------------------------------------------------------- the models


def get_encodec_config(model_name: str) -> EncodecConfig:
    if model_name not in ENCODEC_CONFIGS:
        raise ConversionError(f"unknown EnCodec model {model_name!r}; choose one of {sorted(ENCODEC_CONFIGS)}")
    return EncodecConfig(**ENCODEC_CONFIGS[model_name])


def get_feature_extractor(config: EncodecConfig) -> EncodecFeatureExtractor:
    return EncodecFeatureExtractor(
        feature_size=config.audio_channels,
        sampling_rate=config.sampling_rate,
        padding_value=0.0,
        chunk_length_s=config.chunk_length_s,
        overlap=config.overlap,
    )


def build_original_model(model_name: str, state_dict: Mapping[str, torch.Tensor]):
    """The original `encodec.EncodecModel` (its public constructor, no download) holding `state_dict`."""
    import encodec  # only needed for the parity check

    constructors = {
        "encodec_24khz": encodec.EncodecModel.encodec_model_24khz,
        "encodec_48khz": encodec.EncodecModel.encodec_model_48khz,
    }
    with warnings.catch_warnings():  # the package uses the deprecated torch.nn.utils.weight_norm
        warnings.simplefilter("ignore", FutureWarning)
        model = constructors[model_name](pretrained=False)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


# ---------------------------------------------------------------------------------------------------------- parity


@dataclass
class ParityResult:
    bandwidth: float
    num_codebooks: int
    num_frames: int
    codes_equal: bool
    max_abs_diff: float  # decoded audio, original vs transformers

    @property
    def ok(self) -> bool:
        return self.codes_equal and self.max_abs_diff <= PARITY_ATOL


def parity_waveform(config: EncodecConfig, seed: int = PARITY_SEED) -> torch.Tensor:
    """Seeded noise, `[1, channels, samples]`: 0.5 s, or 1.5 chunks for a chunked model (48 kHz: two overlapping
    1 s chunks), plus 7 samples so that the last codec frame is partial."""
    seconds = 0.5 if config.chunk_length_s is None else 1.5 * config.chunk_length_s
    num_samples = int(seconds * config.sampling_rate) + 7
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(1, config.audio_channels, num_samples, generator=generator)


@torch.inference_mode()
def check_parity(original_model, hf_model: EncodecModel, bandwidths: list[float]) -> list[ParityResult]:
    """Encode and decode the same waveform with both models at each bandwidth; raise `ParityError` on a mismatch."""
    waveform = parity_waveform(hf_model.config)
    results = []
    for bandwidth in bandwidths:
        original_model.set_target_bandwidth(bandwidth)
        original_frames = original_model.encode(waveform)  # one (codes [B, K, T], scale) per chunk
        original_audio = original_model.decode(original_frames)

        encoded = hf_model.encode(waveform, bandwidth=bandwidth)
        hf_audio = hf_model.decode(
            encoded.audio_codes, encoded.audio_scales, last_frame_pad_length=encoded.last_frame_pad_length
        ).audio_values

        # transformers stacks the chunks into [chunks, B, K, T], right-padding the last one with zeros
        codes_equal = len(original_frames) == len(encoded.audio_codes) and all(
            torch.equal(hf_codes[..., : codes.shape[-1]], codes)
            for (codes, _), hf_codes in zip(original_frames, encoded.audio_codes)
        )
        same_shape = original_audio.shape == hf_audio.shape
        max_abs_diff = (original_audio - hf_audio).abs().max().item() if same_shape else math.inf
        results.append(
            ParityResult(
                bandwidth=bandwidth,
                num_codebooks=original_frames[0][0].shape[1],
                num_frames=sum(codes.shape[-1] for codes, _ in original_frames),
                codes_equal=codes_equal,
                max_abs_diff=max_abs_diff,
            )
        )
    failed = [result for result in results if not result.ok]
    if failed:
        raise ParityError(
            "the converted model does not match the original: "
            + "; ".join(
                f"bandwidth {r.bandwidth}: codes {'equal' if r.codes_equal else 'DIFFER'}, "
                f"max |audio diff| {r.max_abs_diff:.3g} (tolerance {PARITY_ATOL})"
                for r in failed
            )
        )
    return results


def format_parity_table(results: list[ParityResult]) -> str:
    lines = ["bandwidth  codebooks  frames  codes equal  max |audio diff|"]
    for r in results:
        lines.append(
            f"{r.bandwidth:>9}  {r.num_codebooks:>9}  {r.num_frames:>6}  {str(r.codes_equal):>11}  {r.max_abs_diff:.3g}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ conversion


def verify_saved(output_dir: Path, model: EncodecModel) -> None:
    """Reload the saved folder and check that every tensor came back bit for bit."""
    reloaded = EncodecModel.from_pretrained(output_dir)
    expected, found = model.state_dict(), reloaded.state_dict()
    differing = sorted(key for key in expected if key not in found or not torch.equal(expected[key], found[key]))
    if differing or set(found) != set(expected):
        raise ConversionError(f"{output_dir}: the reloaded model differs from the converted one in: {differing}")


def convert_encodec_checkpoint(
    checkpoint_path: str | Path,
    output_dir: str | Path,
    model_name: str = "encodec_24khz",
    bandwidths: list[float] | None = None,
    check_parity_against_original: bool = True,
) -> list[ParityResult]:
    """Convert `checkpoint_path` into a transformers `EncodecModel` folder at `output_dir`.

    `bandwidths` are the ones the parity check runs at (default: every bandwidth the model supports). Returns the
    parity results (empty when the check is skipped); raises a `ConversionError` subclass on any failure (a bad
    file, key or bandwidth, or a parity failure raise before anything is written).
    """
    config = get_encodec_config(model_name)
    bandwidths = list(config.target_bandwidths) if bandwidths is None else [float(b) for b in bandwidths]
    unsupported = [b for b in bandwidths if b not in config.target_bandwidths]
    if unsupported:
        raise ConversionError(
            f"{model_name} does not support bandwidth(s) {unsupported}; choose from {list(config.target_bandwidths)}"
        )

    original_state_dict = load_original_state_dict(checkpoint_path)
    with torch.device("meta"):  # names and shapes only: a bad checkpoint fails before any weight is allocated
        expected_state_dict = EncodecModel(config).state_dict()
    converted = convert_state_dict(original_state_dict, expected_state_dict)
    check_codebooks_initialised(original_state_dict)
    hf_model = EncodecModel(config).eval()
    hf_model.load_state_dict(converted, strict=True)

    results = []
    if check_parity_against_original:
        original_model = build_original_model(model_name, original_state_dict)
        results = check_parity(original_model, hf_model, bandwidths)

    output_dir = Path(output_dir)
    hf_model.save_pretrained(output_dir)  # safetensors by default
    get_feature_extractor(config).save_pretrained(output_dir)
    verify_saved(output_dir, hf_model)
    return results


__all__ = [
    "ENCODEC_KEY_MAP",
    "CheckpointKeyError",
    "CheckpointReadError",
    "ConversionError",
    "ParityError",
    "ParityResult",
    "convert_encodec_checkpoint",
    "convert_state_dict",
    "format_parity_table",
    "load_original_state_dict",
    "rename_key",
]
