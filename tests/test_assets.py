"""The committed hub/ folders stay in step with the code that loads them."""

import filecmp
import json

import pytest

from whisper_gpt_hf.assets import DEMO_GPT, DEMO_HYBRID, HUB_DIR, PROCESSOR_DEFAULT, REPO_ROOT


@pytest.mark.parametrize("folder", [DEMO_HYBRID, DEMO_GPT, PROCESSOR_DEFAULT], ids=lambda p: p.name)
def test_committed_remote_code_matches_modeling(folder):
    # trust_remote_code users run these copies, not modeling/: a stale copy would load a different model.
    copies = sorted(folder.glob("*_whisper_gpt.py"))
    assert copies, f"no remote-code files in {folder}"
    stale = [p.name for p in copies if not filecmp.cmp(p, REPO_ROOT / "modeling" / p.name, shallow=False)]
    assert not stale, f"refresh with: cp modeling/{{{','.join(stale)}}} {folder.relative_to(REPO_ROOT)}/"


def test_committed_folders_are_small_and_portable():
    for path in HUB_DIR.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < 8_000_000, path
        if path.suffix == ".json":
            assert "/work/" not in path.read_text() and "/tmp/" not in path.read_text(), f"machine path in {path}"
    config = json.loads((PROCESSOR_DEFAULT / "processor_config.json").read_text())
    assert config["codec_source"] == {"subfolder": "audio_tokenizer"}
