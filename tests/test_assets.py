"""The committed hub/ folders stay in step with the code that loads them."""

import json

import pytest

from whisper_gpt_hf.assets import DEMO_GPT, DEMO_HYBRID, HUB_DIR, PROCESSOR_DEFAULT, REPO_ROOT


@pytest.mark.parametrize("folder", [DEMO_HYBRID, DEMO_GPT, PROCESSOR_DEFAULT], ids=lambda p: p.name)
def test_committed_folders_hold_no_remote_code_and_load_with_the_package(folder):
    # The embedded folders are read with the package's registered classes; a copy of the modeling code in them
    # would be a second version that drifts (publish writes the remote code into what goes to the Hub).
    from transformers import AutoModelForCausalLM, AutoProcessor

    assert not sorted(p.name for p in folder.glob("*.py")), "run whisper_gpt_hf.assets.strip_remote_code(folder)"
    for name in ("config.json", "processor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file():
            assert "auto_map" not in (folder / name).read_text(), f"{name}: run strip_remote_code(folder)"
    loaded = (AutoProcessor if folder == PROCESSOR_DEFAULT else AutoModelForCausalLM).from_pretrained(str(folder))
    assert type(loaded).__module__.startswith("whisper_gpt_hf.modeling."), type(loaded).__module__


def test_strip_remote_code_removes_the_copies_and_auto_map(tmp_path):
    from helpers import tiny_model, tiny_processor

    from whisper_gpt_hf.assets import strip_remote_code

    tiny_model().save_pretrained(tmp_path / "model")
    tiny_processor().save_pretrained(tmp_path / "processor")
    assert list((tmp_path / "model").glob("*_whisper_gpt.py"))  # what save_pretrained writes
    removed = strip_remote_code(tmp_path / "model") + strip_remote_code(tmp_path / "processor")
    assert "modeling_whisper_gpt.py" in removed and "processor_config.json: auto_map" in removed
    assert not list(tmp_path.rglob("*.py"))
    assert "auto_map" not in json.dumps([json.loads(p.read_text()) for p in tmp_path.rglob("*.json")])
    assert strip_remote_code(tmp_path / "model") == []  # idempotent


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
