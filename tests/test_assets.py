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


def test_wheel_package_data_covers_every_embedded_file():
    # pyproject.toml's package-data globs decide what the wheel carries; a file they miss would be absent from
    # an installed package (scripts/check_wheel.sh builds the real wheel in CI).
    import subprocess
    import tomllib

    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["whisper_gpt_hf.embedded"] == "."
    shipped = {p for pattern in config["package-data"]["whisper_gpt_hf.embedded"] for p in REPO_ROOT.glob(pattern)}
    tracked = subprocess.run(["git", "ls-files", "hub", "cards", "MODEL_CARD.md"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "no embedded files tracked"
    missing = [f for f in tracked if REPO_ROOT / f not in shipped]
    assert not missing, f"not in the wheel's package-data globs: {missing}"


def test_installed_layout_reads_the_embedded_folder(tmp_path):
    # A wheel install: whisper_gpt_hf/embedded/hub/ next to assets.py, no checkout above it.
    import importlib.util

    package = tmp_path / "site-packages" / "whisper_gpt_hf"
    (package / "embedded" / "hub" / "whisper-gpt-processor").mkdir(parents=True)
    (package / "assets.py").write_bytes((REPO_ROOT / "whisper_gpt_hf" / "assets.py").read_bytes())
    spec = importlib.util.spec_from_file_location("installed_assets", package / "assets.py")
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    assert installed.ASSETS_ROOT == package.resolve() / "embedded"
    assert installed.PROCESSOR_DEFAULT == package.resolve() / "embedded" / "hub" / "whisper-gpt-processor"
    assert installed.MODEL_CARD_TEMPLATE == package.resolve() / "embedded" / "MODEL_CARD.md"
    with pytest.raises(FileNotFoundError, match="reinstall the package"):
        installed.require(installed.DEMO_HYBRID, "The hybrid demo model")


def test_checkout_reads_hub_in_place():
    assert HUB_DIR == REPO_ROOT / "hub" and (HUB_DIR / "whisper-gpt-processor" / "processor_config.json").is_file()
