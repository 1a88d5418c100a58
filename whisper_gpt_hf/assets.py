"""Where the committed Hub-style folders live (the package's embedded, offline defaults).

They sit in the repository's ``hub/`` folder, each loadable by path with ``from_pretrained`` / ``load_dataset``.
An installed wheel carries the same files as package data in ``whisper_gpt_hf/embedded/`` (``hub/``,
``MODEL_CARD.md``, ``cards/``); a git checkout (``pip install -e .``) reads them in place. ``ASSETS_ROOT`` is
whichever of the two this copy of the package has, so the paths below work from any working directory:

- ``hub/whisper-gpt-corpus-small``  a dataset repo (speech + music made by espeak-ng and fluidsynth)
- ``hub/whisper-gpt-codec-small``   a small EnCodec-architecture codec trained on the corpus (transformers EncodecModel)
- ``hub/whisper-gpt-processor``     the default processor: feature extractor + that codec
- ``hub/whisper-gpt-demo-hybrid`` / ``hub/whisper-gpt-demo-gpt``  small WHISPER-GPT checkpoints for the demo

Online users can swap in ``facebook/encodec_24khz`` as the audio tokenizer.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the git checkout (in a wheel install: site-packages, holding none of the assets)
EMBEDDED_DIR = PACKAGE_DIR / "embedded"  # where the wheel puts them (pyproject.toml, package-data)
ASSETS_ROOT = EMBEDDED_DIR if (EMBEDDED_DIR / "hub").is_dir() else REPO_ROOT
HUB_DIR = ASSETS_ROOT / "hub"
MODEL_CARD_TEMPLATE = ASSETS_ROOT / "MODEL_CARD.md"  # the model card, also the template of every published one
CARD_TEMPLATES_DIR = ASSETS_ROOT / "cards"  # the codec, processor and dataset card templates
CORPUS_SMALL = HUB_DIR / "whisper-gpt-corpus-small"
CODEC_SMALL = HUB_DIR / "whisper-gpt-codec-small"
PROCESSOR_DEFAULT = HUB_DIR / "whisper-gpt-processor"
DEMO_HYBRID = HUB_DIR / "whisper-gpt-demo-hybrid"
DEMO_GPT = HUB_DIR / "whisper-gpt-demo-gpt"
CORPUS_LARGE = REPO_ROOT / "data" / "whisper-gpt-corpus-large"


def require(path: Path, what: str) -> Path:
    """Return `path` if it exists, else raise a FileNotFoundError that says how to make it."""
    if not path.exists():
        raise FileNotFoundError(
            f"{what} not found at {path}. It ships in the repository's hub/ folder and in the wheel "
            "(whisper_gpt_hf/embedded/): reinstall the package (pip install whisper-gpt-hf, or pip install -e . "
            "in a git checkout), or pass an explicit path / Hub repo id."
        )
    return path


def default_processor(**kwargs):
    """The embedded offline processor (causal mel front end + the small trained codec)."""
    from whisper_gpt_hf.modeling import WhisperGPTProcessor

    return WhisperGPTProcessor.from_pretrained(str(require(PROCESSOR_DEFAULT, "The default processor")), **kwargs)


REMOTE_CODE_CONFIGS = ("config.json", "processor_config.json", "preprocessor_config.json")


def strip_remote_code(folder: str | Path) -> list[str]:
    """Make a committed ``hub/`` folder package-only; return what was removed.

    ``save_pretrained`` copies the remote-code files (``*_whisper_gpt.py``) next to the weights and points
    ``auto_map`` at them. The embedded folders are loaded with the package installed (its registered classes), so
    those copies would only be a second, drifting version of ``modeling/``; ``whisper-gpt publish`` and
    ``convert hub-ready`` write the remote code into every folder that goes to the Hub. This deletes the copies and
    every ``auto_map`` entry (also the one nested under ``feature_extractor``) of the folder's configs.
    """
    import json
    import os

    folder = Path(folder)
    removed = []
    for path in sorted(folder.glob("*_whisper_gpt.py")):
        path.unlink()
        removed.append(path.name)
    for name in REMOTE_CODE_CONFIGS:
        path = folder / name
        if not path.is_file():
            continue
        config = json.loads(path.read_text())
        nested = [config] + [v for v in config.values() if isinstance(v, dict)]
        if not any("auto_map" in part for part in nested):
            continue
        for part in nested:
            part.pop("auto_map", None)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        removed.append(f"{name}: auto_map")
    return removed
