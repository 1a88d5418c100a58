"""Tests for `conversion/convert_encodec_checkpoint.py`: original `encodec` checkpoints -> transformers EncodecModel.

The real 24 kHz checkpoint cannot be downloaded here, so the original model is built by the `encodec` package's own
constructor with random weights, and its codebooks are filled from encoder outputs (as EnCodec's k-means init does):
left at the package's initial all-zero codebooks, every frame would encode to code 0 and the parity check would
prove nothing.
"""

from __future__ import annotations

import pickle
import warnings

import encodec
import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoFeatureExtractor, EncodecFeatureExtractor, EncodecModel

from whisper_gpt_hf import cli
from whisper_gpt_hf.conversion.convert_encodec_checkpoint import (
    PARITY_ATOL,
    CheckpointKeyError,
    CheckpointReadError,
    ConversionError,
    ParityError,
    check_parity,
    convert_encodec_checkpoint,
    convert_state_dict,
    get_encodec_config,
    load_original_state_dict,
    original_key,
    rename_key,
)


def make_original_encodec(seed: int = 0) -> encodec.EncodecModel:
    """The original 24 kHz EnCodec with random weights and non-trivial codebooks: each quantizer's 1,024 entries are
    residual vectors of encoded noise plus jitter, so the codes vary from frame to frame."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the package's legacy weight_norm
        model = encodec.EncodecModel.encodec_model_24khz(pretrained=False)
    with torch.no_grad():
        residual = model.encoder(0.1 * torch.randn(1, 1, 48_000, generator=generator))[0].T  # [frames, dim]
        for layer in model.quantizer.vq.layers:
            codebook = layer._codebook
            rows = torch.randint(0, residual.shape[0], (codebook.embed.shape[0],), generator=generator)
            spread = (residual - residual.mean(0)).std()
            embed = residual[rows] + 0.5 * spread * torch.randn(codebook.embed.shape, generator=generator)
            codebook.embed.copy_(embed)
            codebook.embed_avg.copy_(embed)
            codebook.cluster_size.fill_(1.0)
            codebook.inited.fill_(1.0)
            residual = residual - layer.decode(layer.encode(residual.T[None]))[0].T
    return model.eval()


@pytest.fixture(scope="module")
def original_model() -> encodec.EncodecModel:
    return make_original_encodec()


@pytest.fixture(scope="module")
def original_state_dict(original_model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in original_model.state_dict().items()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, original_state_dict):
    """The original model saved the way the `encodec` package's checkpoints are: a plain state dict, torch.save."""
    path = tmp_path_factory.mktemp("original") / "encodec_24khz-random.th"
    torch.save(original_state_dict, path)
    return path


def save_modified(tmp_path, state_dict, add=None, drop=None):
    state_dict = dict(state_dict)
    state_dict.update(add or {})
    for key in drop or []:
        del state_dict[key]
    path = tmp_path / "modified.th"
    torch.save(state_dict, path)
    return path


# ----------------------------------------------------------------------------------------------------- rename map


@pytest.mark.parametrize("model_name", ["encodec_24khz", "encodec_48khz"])
def test_rename_map_is_a_bijection_onto_the_transformers_keys(model_name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        constructor = {
            "encodec_24khz": encodec.EncodecModel.encodec_model_24khz,
            "encodec_48khz": encodec.EncodecModel.encodec_model_48khz,
        }[model_name]
        original = constructor(pretrained=False)
    original_keys = list(original.state_dict())
    with torch.device("meta"):  # names only
        hf_keys = set(EncodecModel(get_encodec_config(model_name)).state_dict())

    renamed = {rename_key(key) for key in original_keys}
    assert renamed == hf_keys  # every original key lands on a distinct transformers key, and all are covered
    assert len(renamed) == len(original_keys)
    assert all(original_key(rename_key(key)) == key for key in original_keys)  # the inverse names missing keys
    upsampling_weight_g = rename_key("decoder.model.3.convtr.convtr.weight_g")
    assert upsampling_weight_g == "decoder.layers.3.conv.parametrizations.weight.original0"
    assert rename_key("quantizer.vq.layers.7._codebook.embed") == "quantizer.layers.7.codebook.embed"


# ------------------------------------------------------------------------------------------------------------ parity


def test_converted_model_reproduces_original_codes_and_audio(checkpoint, original_model, tmp_path, capsys):
    output = tmp_path / "encodec_hf"
    status = cli.main(
        ["convert", "encodec", "--checkpoint", str(checkpoint), "--output", str(output), "--bandwidth", "24"]
    )
    assert status == 0
    table = capsys.readouterr().out.splitlines()  # the converter's own check: all 32 codebooks, audio bit-exact
    assert table[0].split() == ["bandwidth", "codebooks", "frames", "codes", "equal", "max", "|audio", "diff|"]
    assert table[1].split() == ["24.0", "32", "38", "True", "0"]
    assert {p.name for p in output.iterdir()} >= {"config.json", "model.safetensors", "preprocessor_config.json"}

    feature_extractor = AutoFeatureExtractor.from_pretrained(output)
    assert isinstance(feature_extractor, EncodecFeatureExtractor)
    assert (feature_extractor.sampling_rate, feature_extractor.feature_size) == (24_000, 1)

    # An independent check on the saved folder, with audio the converter's check did not see.
    hf_model = EncodecModel.from_pretrained(output).eval()
    waveform = 0.1 * torch.randn(1, 1, 9_613, generator=torch.Generator().manual_seed(123))
    for bandwidth, num_codebooks in [(1.5, 2), (24.0, 32)]:
        original_model.set_target_bandwidth(bandwidth)
        with torch.inference_mode():
            [(original_codes, original_scale)] = original_model.encode(waveform)
            original_audio = original_model.decode([(original_codes, original_scale)])
            encoded = hf_model.encode(waveform, bandwidth=bandwidth)
            hf_audio = hf_model.decode(encoded.audio_codes, encoded.audio_scales).audio_values

        assert encoded.audio_codes.shape == (1, 1, num_codebooks, 31)  # ceil(9613 / 320) frames
        assert torch.equal(encoded.audio_codes[0], original_codes)
        assert original_codes[0, 0].unique().numel() > 5  # the codes are not trivially constant
        assert hf_audio.shape == original_audio.shape == (1, 1, 31 * 320)
        assert (hf_audio - original_audio).abs().max().item() <= PARITY_ATOL
        assert original_audio.abs().max().item() > 1e-3  # and the audio is not trivially silent


def test_parity_check_catches_a_wrong_weight(original_model, original_state_dict):
    hf_model = EncodecModel(get_encodec_config("encodec_24khz")).eval()
    hf_model.load_state_dict(convert_state_dict(original_state_dict, hf_model.state_dict()))
    with torch.no_grad():
        hf_model.decoder.layers[15].conv.bias.add_(1e-3)  # decoder only: codes stay equal, audio moves by 1e-3

    with pytest.raises(ParityError, match=r"bandwidth 1.5: codes equal, max \|audio diff\| 0.001"):
        check_parity(original_model, hf_model, [1.5])


def test_training_state_wrapper_and_safetensors_are_read(tmp_path, original_state_dict):
    wrapped = tmp_path / "checkpoint.th"
    torch.save({"best_state": original_state_dict, "epoch": 3, "metrics": {"loss": 1.0}}, wrapped)
    as_safetensors = tmp_path / "checkpoint.safetensors"
    save_file(original_state_dict, as_safetensors)

    for path in (wrapped, as_safetensors):
        loaded = load_original_state_dict(path)
        assert loaded.keys() == original_state_dict.keys()
        assert all(torch.equal(loaded[key], original_state_dict[key]) for key in loaded)


# ------------------------------------------------------------------------------------------------- hard failures


@pytest.mark.parametrize(
    "extra_key",
    [
        "encoder.model.13.lstm.weight_ih_l2",  # not in the rename map (a third LSTM layer)
        "quantizer.vq.layers.32._codebook.embed",  # mapped, but the model has 32 codebooks (0..31)
    ],
)
def test_extra_key_fails_naming_the_key(tmp_path, original_state_dict, capsys, extra_key):
    path = save_modified(tmp_path, original_state_dict, add={extra_key: torch.zeros(3)})
    output = tmp_path / "out"

    with pytest.raises(CheckpointKeyError, match="1 unexpected key") as error:
        convert_encodec_checkpoint(path, output, check_parity_against_original=False)
    assert error.value.unexpected[0].startswith(extra_key) and not error.value.missing
    assert extra_key in str(error.value)

    status = cli.main(["convert", "encodec", "--checkpoint", str(path), "--output", str(output)])
    assert status == 1
    assert extra_key in capsys.readouterr().err
    assert not output.exists()  # nothing is written on failure


def test_missing_key_fails_naming_the_key(tmp_path, original_state_dict, capsys):
    dropped = "decoder.model.15.conv.conv.bias"
    path = save_modified(tmp_path, original_state_dict, drop=[dropped])
    output = tmp_path / "out"

    with pytest.raises(CheckpointKeyError, match="1 missing key") as error:
        convert_encodec_checkpoint(path, output, check_parity_against_original=False)
    # named as the checkpoint should have had it, and as the transformers key it feeds
    assert error.value.missing == [f"{dropped} (-> decoder.layers.15.conv.bias)"] and not error.value.unexpected

    status = cli.main(["convert", "encodec", "--checkpoint", str(path), "--output", str(output)])
    assert status == 1
    assert dropped in capsys.readouterr().err
    assert not output.exists()


def test_wrong_shape_fails_naming_the_key(tmp_path, original_state_dict):
    key = "quantizer.vq.layers.0._codebook.embed"
    path = save_modified(tmp_path, original_state_dict, add={key: torch.randn(512, 128)})

    with pytest.raises(CheckpointKeyError, match=r"quantizer.vq.layers.0._codebook.embed \(checkpoint \(512, 128\)"):
        convert_encodec_checkpoint(path, tmp_path / "out", check_parity_against_original=False)


def test_untrained_codebooks_are_refused(tmp_path, original_state_dict):
    key = "quantizer.vq.layers.4._codebook.inited"
    path = save_modified(tmp_path, original_state_dict, add={key: torch.zeros(1)})

    with pytest.raises(ConversionError, match=r"1 codebook\(s\) were never initialised .*layers.4._codebook.inited"):
        convert_encodec_checkpoint(path, tmp_path / "out", check_parity_against_original=False)


def test_unsupported_bandwidth_is_refused(checkpoint, tmp_path):
    with pytest.raises(ConversionError, match=r"does not support bandwidth\(s\) \[2.0\]"):
        convert_encodec_checkpoint(checkpoint, tmp_path / "out", bandwidths=[2.0])


class _CodeOnLoad:
    """Unpickling this calls open(marker, "w"): harmless, but it proves whether code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_checkpoint_that_runs_code_on_load_is_refused(tmp_path, capsys, writer):
    marker = tmp_path / "code-ran"
    path = tmp_path / "malicious.th"
    payload = {"payload": _CodeOnLoad(marker), "encoder.model.0.conv.conv.bias": torch.zeros(32)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)  # torch's legacy format (not a zip archive)

    with pytest.raises(CheckpointReadError, match="refused: .* execute code .*Unsupported global: GLOBAL io.open") as e:
        load_original_state_dict(path)
    assert str(path) in str(e.value)
    assert not marker.exists()

    assert cli.main(["convert", "encodec", "--checkpoint", str(path), "--output", str(tmp_path / "out")]) == 1
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".safetensors", ".th"])
def test_truncated_checkpoint_fails_naming_the_file(tmp_path, original_state_dict, capsys, suffix):
    complete = tmp_path / f"complete{suffix}"
    small = {key: original_state_dict[key] for key in list(original_state_dict)[:10]}
    if suffix == ".safetensors":
        save_file(small, complete)
    else:
        torch.save(small, complete)
    truncated = tmp_path / f"truncated{suffix}"
    data = complete.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])

    with pytest.raises(CheckpointReadError, match="truncated or corrupt") as error:
        load_original_state_dict(truncated)
    assert str(truncated) in str(error.value)

    assert cli.main(["convert", "encodec", "--checkpoint", str(truncated), "--output", str(tmp_path / "out")]) == 1
    assert str(truncated) in capsys.readouterr().err

