"""scripts/full_bandwidth_check.py: the metric is right (perfect predictions give exactly the codec's ceiling, the
predictions are what greedy generation picks, the free-running part is `continue_audio`), end to end on tiny models."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from whisper_gpt_hf import WhisperGPTSpectrogramFeedback, continue_audio

from helpers import HOP, SR, test_audio, tiny_model, tiny_processor
from hub_helpers import saved_model_dir, write_audio_dataset

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "full_bandwidth_check.py"
DEPTH = dict(depth_hidden_size=16, depth_num_layers=2, depth_num_heads=2, depth_intermediate_size=32)


@pytest.fixture(scope="module")
def fbc():
    spec = importlib.util.spec_from_file_location("full_bandwidth_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def full_model(processor, seed=0):
    return tiny_model(num_codebooks=processor.num_codebooks, seed=seed, **DEPTH)


def test_perfect_predictions_give_exactly_the_ceiling(fbc, processor):
    audio = test_audio(0.6, seed=5)
    _, codes = fbc.true_codes(processor, audio)
    top = processor.num_codebooks
    assert top > 1 and codes.shape == (-(-len(audio) // HOP), top)
    target = fbc.log_mel(processor, audio)
    perfect = fbc.with_first_frame(codes, codes[1:])
    assert torch.equal(perfect, codes)
    for k in (1, top):
        ceiling = fbc.decoded_l1(processor, codes[:, :k], target)
        assert ceiling[1] == (codes.shape[0] - 1) * target.shape[1]  # frames 1..T-1, every band
        assert ceiling[0] > 0  # the codec is not lossless
        assert fbc.decoded_l1(processor, perfect[:, :k], target) == ceiling
        # Any wrong prediction scores worse than the ceiling here: the trivial "repeat previous frame" one.
        repeat = fbc.with_first_frame(codes, codes[:-1])
        assert fbc.decoded_l1(processor, repeat[:, :k], target)[0] > ceiling[0]
    # The score is the mean |log-mel difference| over the predicted frames, computed by hand.
    decoded = processor.decode(codes[None])
    mel = processor.feature_extractor.extract(torch.from_numpy(decoded)[None])[0].numpy()
    total, count = fbc.decoded_l1(processor, codes, target)
    np.testing.assert_allclose(total / count, np.abs(mel[1:] - target[1:]).mean(), rtol=1e-6)


def test_ceiling_levels_are_the_codec_bandwidths(fbc, processor):
    codec = processor.audio_tokenizer
    expected = sorted({1} | {codec.quantizer.get_num_quantizers_for_bandwidth(b)
                             for b in codec.config.target_bandwidths})
    assert fbc.ceiling_levels(processor) == expected and expected[-1] == processor.num_codebooks


@pytest.mark.parametrize("full", [True, False])
def test_predictions_are_what_greedy_generate_picks_for_the_next_frame(fbc, processor, full):
    model = full_model(processor, seed=2) if full else tiny_model(seed=2)
    audio = test_audio(0.3, seed=7)
    features, codes = fbc.true_codes(processor, audio)
    predicted = fbc.predict_next_frames(model, features, codes)
    levels = model.config.num_codebooks
    assert predicted.shape == (codes.shape[0] - 1, levels)
    for t in (0, 5, codes.shape[0] - 2):
        kwargs = dict(input_ids=codes[None, : t + 1, 0], input_features=features[:, : t + 1], max_new_tokens=1,
                      do_sample=False, spectrogram_feedback=WhisperGPTSpectrogramFeedback(
                          processor.audio_tokenizer, processor.feature_extractor))
        if levels > 1:
            kwargs["fine_input_ids"] = codes[None, : t + 1, 1:levels]
        with torch.no_grad():
            out = model.generate(**kwargs)
        frame = out[0, -1] if levels > 1 else out[0, -1:]
        assert torch.equal(frame, predicted[t]), t


def test_continuation_is_continue_audio(fbc, processor):
    model = full_model(processor, seed=3)
    prompt = test_audio(0.2, seed=9)
    seq = fbc.continue_codes(model, processor, prompt, new_frames=6, seed=4)
    assert seq.shape == (-(-len(prompt) // HOP) + 6, processor.num_codebooks)
    reference = continue_audio(model, processor, prompt, SR, seconds=6 / 75, seed=4)
    np.testing.assert_array_equal(processor.decode(seq[None]), reference)


def test_run_check_end_to_end(fbc, processor, tmp_path):
    dataset = write_audio_dataset(tmp_path / "data", clips_per_split=4, seconds=0.8)
    full = saved_model_dir(tmp_path / "full", full_model(processor), processor)
    coarse = saved_model_dir(tmp_path / "coarse", tiny_model(seed=1), processor)
    report = fbc.run_check({"fb": str(full), "k1": str(coarse)}, str(dataset), "test", max_frames=40,
                           continuations=1, prompt_seconds=0.2, continue_seconds=0.2, demo_wavs=str(tmp_path / "wav"))
    top = processor.num_codebooks
    l1 = report["teacher_forced_log_mel_l1"]
    assert set(l1) == {f"ceiling@{k}" for k in fbc.ceiling_levels(processor)} | {
        f"fb@{top}", "fb@1", "k1@1", "repeat@1", f"repeat@{top}"}
    assert report["scored_frames"]["all"] == 4 * 39 and report["clips"] == 4
    # The ceiling row is the pooled per-clip score, recomputed here from the same clips.
    from whisper_gpt_hf.audio.codec.data import load_clips, to_float

    sums = [0.0, 0]
    for clip in load_clips(str(dataset), "test"):
        audio = to_float(clip["audio"])[: 40 * HOP]
        _, codes = fbc.true_codes(processor, audio)
        s, n = fbc.decoded_l1(processor, codes, fbc.log_mel(processor, audio))
        sums[0] += s
        sums[1] += n
    assert l1[f"ceiling@{top}"]["all"] == pytest.approx(sums[0] / sums[1], rel=1e-9)
    acc = report["teacher_forced_code_accuracy"]
    assert set(acc) == {f"fb/codebook{j}" for j in range(1, top + 1)} | {"k1/codebook1"}
    assert all(0.0 <= v <= 1.0 for cats in acc.values() for v in cats.values())
    free = report["free_running"]
    assert sum(len(v) for v in free["prompts"].values()) == 2 and f"fb@{top}" in free["log_mel_l1"]
    wavs = sorted(p.name for p in (tmp_path / "wav").iterdir())
    assert wavs == sorted([f"fb-{top}cb.wav", "fb-1cb.wav", "k1-1cb.wav", "real.wav"])
    written = fbc.write_report(report, tmp_path / "out")
    assert json.loads(Path(written[0]).read_text())["models"]["fb"]["num_codebooks"] == top
    md = Path(written[1]).read_text()
    assert f"fb (K={top}) predictions, coarse codebook only" in md and "codec ceiling: true codes, 1 codebook(s)" in md


def test_a_model_with_more_codebooks_than_the_codec_is_refused(fbc, processor, tmp_path):
    dataset = write_audio_dataset(tmp_path / "data", clips_per_split=2, seconds=0.3)
    model = tiny_model(num_codebooks=processor.num_codebooks + 1, **DEPTH)
    too_many = saved_model_dir(tmp_path / "m", model, processor)
    with pytest.raises(ValueError, match="codebooks"):
        fbc.run_check({"m": str(too_many)}, str(dataset), continuations=0)


def test_help_runs(fbc, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fbc.main(["--help"])
    assert exit_info.value.code == 0 and "ceiling" in capsys.readouterr().out
