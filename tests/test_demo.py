"""The README's demo and Python example, on the committed assets (offline)."""

import json
import re
from argparse import Namespace
from pathlib import Path

import numpy as np
import soundfile as sf

from whisper_gpt_hf.assets import DEMO_GPT, DEMO_HYBRID, REPO_ROOT
from whisper_gpt_hf.demo import run_demo


def test_demo_scores_continues_and_plots(tmp_path):
    args = Namespace(output_dir=str(tmp_path), split="test", max_test_clips=6, window_frames=256, prompt_seconds=1.0,
                     seconds=0.4, top_k=50, seed=0, threads=1)
    result = run_demo(args)
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert [s["name"] for s in scores] == ["hybrid", "token-only"]
    assert scores[0]["num_tokens"] == scores[1]["num_tokens"] > 0  # same positions for both models
    assert scores[0]["use_spectrogram"] is True and scores[1]["use_spectrogram"] is False
    for s in scores:
        assert 0 < s["nll"] < np.log(1024) and np.isclose(s["ppl"], np.exp(s["nll"]))
    for category in ("speech", "music"):
        prompt, rate = sf.read(tmp_path / f"{category}_prompt.wav")
        full, _ = sf.read(tmp_path / f"{category}_continuation.wav")
        assert rate == 24000 and len(prompt) == 24000
        assert len(full) == (75 + 30) * 320  # prompt frames + 0.4 s of generated frames
        np.testing.assert_allclose(full[:1000], prompt[:1000], atol=1.0)  # same clip; the codec is lossy
    for png in ("per_position_nll.png", "spectrograms.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert len(result["results"]) == 2


def test_committed_demo_checkpoints_are_the_two_variants():
    from whisper_gpt_hf import WhisperGPTConfig

    assert WhisperGPTConfig.from_pretrained(DEMO_HYBRID).use_spectrogram is True
    assert WhisperGPTConfig.from_pretrained(DEMO_GPT).use_spectrogram is False
    for folder in (DEMO_HYBRID, DEMO_GPT):
        assert (Path(folder) / "model.safetensors").stat().st_size < 8_000_000


def test_readme_python_example_runs(monkeypatch):
    readme = (REPO_ROOT / "README.md").read_text()
    code = re.search(r"## In Python\s+```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(REPO_ROOT)  # the example uses the repository's hub/ paths
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["inputs"]["input_ids"].shape == (1, 75)
    assert float(namespace["out"].loss) > 0
    assert namespace["continuation"].shape == ((75 + 75) * 320,)
