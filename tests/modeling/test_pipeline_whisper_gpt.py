"""The audio-continuation pipeline (issue 9, item 6): in process and from a folder with remote code only."""

import textwrap

import numpy as np
import pytest
import soundfile as sf
from helpers import HOP, SR, run_without_package, test_audio, tiny_model, tiny_processor
from transformers import pipeline

from whisper_gpt_hf import WhisperGPTAudioContinuationPipeline, continue_audio


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipe") / "ckpt"
    tiny_model(True).save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return path


def test_pipeline_by_task_name_with_array_dict_and_path(folder, tmp_path):
    pipe = pipeline("audio-continuation", model=str(folder))
    assert isinstance(pipe, WhisperGPTAudioContinuationPipeline)
    clip = test_audio(0.3)
    expected = continue_audio(pipe.model, tiny_processor(), clip, SR, seconds=0.2, do_sample=False)
    from_dict = pipe({"array": clip, "sampling_rate": SR}, seconds=0.2, do_sample=False)
    assert from_dict["sampling_rate"] == 24000
    np.testing.assert_allclose(from_dict["audio"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pipe(clip, seconds=0.2, do_sample=False)["audio"], expected, rtol=0, atol=1e-6)
    sf.write(tmp_path / "prompt.wav", clip, SR, subtype="FLOAT")
    from_path = pipe(str(tmp_path / "prompt.wav"), seconds=0.2, do_sample=False)
    np.testing.assert_allclose(from_path["audio"], expected, rtol=0, atol=1e-6)


def test_pipeline_defaults_come_from_the_generation_config(folder):
    pipe = pipeline("audio-continuation", model=str(folder))
    clip = test_audio(0.2)
    out = pipe(clip)  # no seconds: generation_config.max_new_tokens frames, sampled with seed 0
    frames = int(np.ceil(len(clip) / HOP))
    assert out["audio"].shape == ((frames + pipe.model.generation_config.max_new_tokens) * HOP,)
    np.testing.assert_array_equal(out["audio"], pipe(clip)["audio"])  # same seed, same audio


CHILD = textwrap.dedent(
    """
    import numpy as np
    from transformers import pipeline
    folder = sys.argv[1]
    pipe = pipeline("audio-continuation", model=folder, trust_remote_code=True)
    clip = np.load(folder + "/audio.npy")
    out = pipe({"array": clip, "sampling_rate": 24000}, seconds=0.2, do_sample=False)
    np.save(folder + "/child_audio.npy", out["audio"])
    print(type(pipe).__module__, out["sampling_rate"])
    """
)


def test_pipeline_from_remote_code_without_the_package(folder, tmp_path):
    clip = test_audio(0.3)
    np.save(folder / "audio.npy", clip)
    result = run_without_package(CHILD, folder, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transformers_modules" in result.stdout and "24000" in result.stdout
    expected = continue_audio(tiny_model(True), tiny_processor(), clip, SR, seconds=0.2, do_sample=False)
    np.testing.assert_allclose(np.load(folder / "child_audio.npy"), expected, rtol=0, atol=1e-6)
