"""Where the committed Hub-style folders live (the package's embedded, offline defaults).

They sit in the repository's ``hub/`` folder, each loadable by path with ``from_pretrained`` / ``load_dataset``:

- ``hub/whisper-gpt-corpus-small``  a dataset repo (speech + music made by espeak-ng and fluidsynth)
- ``hub/whisper-gpt-codec-small``   a small EnCodec-architecture codec trained on the corpus (transformers EncodecModel)
- ``hub/whisper-gpt-processor``     the default processor: feature extractor + that codec
- ``hub/whisper-gpt-demo-hybrid`` / ``hub/whisper-gpt-demo-gpt``  small WHISPER-GPT checkpoints for the demo

Online users can swap in ``facebook/encodec_24khz`` as the audio tokenizer.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HUB_DIR = REPO_ROOT / "hub"
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
            f"{what} not found at {path}. It ships in the repository's hub/ folder: install from a git checkout "
            "(pip install -e .), or pass an explicit path / Hub repo id."
        )
    return path


def default_processor(**kwargs):
    """The embedded offline processor (causal mel front end + the small trained codec)."""
    from .modeling import WhisperGPTProcessor

    return WhisperGPTProcessor.from_pretrained(str(require(PROCESSOR_DEFAULT, "The default processor")), **kwargs)
