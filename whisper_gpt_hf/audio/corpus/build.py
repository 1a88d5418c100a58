"""Build the WHISPER-GPT audio corpus: speech and music made by real synthesizers, written as a Hub dataset folder.

``build_corpus`` plans the clips (``speech.SpeechPlanner``, ``music.MusicPlanner``), renders them in parallel
synthesizer processes, assigns seeded splits per category, writes each split as parquet shards (``common.features()``
is their schema) and the dataset card (``card.dataset_card``), and returns a report of what it made.
``held_out_pools`` lists what a ``--held-out`` build draws from.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from whisper_gpt_hf.audio.corpus.card import dataset_card
from whisper_gpt_hf.audio.corpus.common import SIZES, SPLITS, Clip, _tool_version, check_tools, features
from whisper_gpt_hf.audio.corpus.music import MusicPlanner, held_out_music_pools, render_music
from whisper_gpt_hf.audio.corpus.speech import SpeechPlanner, held_out_speech_pools, render_speech

SHARD_BYTES = 200 * 2**20  # Hub guidance: parquet shards well under 500 MB


def held_out_pools() -> dict:
    """What a --held-out build draws from (for the dataset card and the report): the speech pools, then the music's."""
    return {**held_out_speech_pools(), **held_out_music_pools()}


def _render_all(clips: list[Clip], render, num_workers: int, desc: str, progress: bool) -> list[Clip]:
    from tqdm.auto import tqdm

    # the work happens in subprocesses, so threads parallelise it; map keeps the order (determinism)
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        return list(tqdm(pool.map(render, clips), total=len(clips), desc=desc, unit="clip", disable=not progress))


def _assign_splits(clips: list[Clip], fractions: tuple[float, float, float], rng: random.Random) -> None:
    """Exact split counts per category (each split gets at least one clip when there are three or more)."""
    n = len(clips)
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    order = rng.sample(range(n), n)
    for rank, i in enumerate(order):
        clips[i].split = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"


@contextlib.contextmanager
def _datasets_progress(enabled: bool):
    """Silence datasets' own progress bars when the caller asked for a quiet build."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    if not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _write_split(clips: list[Clip], split: str, data_dir: Path) -> dict:
    """Write one split as parquet shards; returns its size info for the card."""
    from datasets import Dataset

    total = sum(len(c.flac) for c in clips)
    shards = max(1, math.ceil(total / SHARD_BYTES))
    num_bytes = 0
    for s in range(shards):
        part = clips[s::shards] if shards > 1 else clips
        part = sorted(part, key=lambda c: (c.category != "speech", c.index))
        ds = Dataset.from_dict(
            {
                "id": [c.id for c in part],
                "audio": [{"bytes": c.flac, "path": f"{c.id}.flac"} for c in part],
                "category": [c.category for c in part],
                "text": [c.text for c in part],
                "source": [c.source for c in part],
                "duration": [round(c.seconds, 3) for c in part],
            },
            features=features(),
        )
        ds.to_parquet(str(data_dir / f"{split}-{s:05d}-of-{shards:05d}.parquet"))
        num_bytes += ds.data.nbytes
    return {"name": split, "num_bytes": num_bytes, "num_examples": len(clips)}


def build_corpus(
    output_dir: str | os.PathLike,
    size: str = "small",
    seed: int = 0,
    num_workers: int = 2,
    speech_minutes: float | None = None,
    music_minutes: float | None = None,
    soundfont: str | None = None,
    progress: bool = True,
    held_out: bool = False,
) -> dict:
    """Synthesize the corpus into ``output_dir`` (a Hub dataset folder) and return a report of what was made.

    ``held_out=True`` draws every clip from pools the default build never uses (other languages and their texts, other
    voice variants; other General MIDI instruments, drum kits, scales, metres, tempi and textures): a test set that
    differs in kind from a default-built training corpus, not only in seed. The default build is unchanged by it."""
    preset = SIZES[size]
    speech_minutes = preset.speech_minutes if speech_minutes is None else speech_minutes
    music_minutes = preset.music_minutes if music_minutes is None else music_minutes
    soundfont = check_tools(speech=speech_minutes > 0, music=music_minutes > 0, soundfont=soundfont)
    start = time.perf_counter()

    speech: list[Clip] = []
    if speech_minutes > 0:
        planner = SpeechPlanner(seed, preset.clip_seconds, held_out=held_out)
        # speech durations are only known after synthesis: plan by estimate, render, top up until the target is met
        while sum(c.seconds for c in speech) < speech_minutes * 60 or len(speech) < 3:
            missing = max(speech_minutes * 60 - sum(c.seconds for c in speech), preset.clip_seconds[0])
            speech += _render_all(planner.plan(missing), render_speech, num_workers, "speech", progress)
    music: list[Clip] = []
    if music_minutes > 0:
        planner = MusicPlanner(seed, preset.clip_seconds, soundfont, held_out=held_out)
        music = planner.plan(music_minutes * 60)
        while len(music) < 3:
            music += planner.plan(preset.clip_seconds[0])
        music = _render_all(music, render_music, num_workers, "music", progress)

    for category, clips in (("speech", speech), ("music", music)):
        _assign_splits(clips, preset.split_fractions,
                       random.Random(f"whisper-gpt-corpus/{'held-out/' if held_out else ''}{seed}/splits/{category}"))

    out = Path(output_dir)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.parquet"):  # a rebuild replaces the previous shards
        old.unlink()
    clips = speech + music
    with _datasets_progress(progress):
        split_infos = [_write_split([c for c in clips if c.split == split], split, data_dir) for split in SPLITS]

    report = {
        "output_dir": str(out),
        "size": size,
        "seed": seed,
        "held_out": held_out,
        "speech_minutes_requested": speech_minutes,
        "music_minutes_requested": music_minutes,
        "splits": {
            split: {
                cat: {
                    "clips": sum(1 for c in clips if c.split == split and c.category == cat),
                    "minutes": round(sum(c.seconds for c in clips if c.split == split and c.category == cat) / 60, 2),
                }
                for cat in ("speech", "music")
            }
            for split in SPLITS
        },
        "clip_seconds": {cat: [round(min((c.seconds for c in clips if c.category == cat), default=0), 2),
                               round(max((c.seconds for c in clips if c.category == cat), default=0), 2)]
                         for cat in ("speech", "music")},
        "languages": sorted({c.params["language"] for c in speech}),
        "voices": len({c.params["voice"] for c in speech}),
        **({"pools": held_out_pools()} if held_out else {}),
        "tools": {
            "espeak-ng": _tool_version("espeak-ng") if speech else None,
            "sox": _tool_version("sox") if speech else None,
            "fluidsynth": _tool_version("fluidsynth") if music else None,
            "soundfont": Path(soundfont).name if music else None,
        },
    }
    (out / "README.md").write_text(dataset_card(report, split_infos, data_dir), encoding="utf-8")
    report["megabytes"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 2)
    report["build_seconds"] = round(time.perf_counter() - start, 1)
    return report


__all__ = ["SHARD_BYTES", "build_corpus", "held_out_pools"]
