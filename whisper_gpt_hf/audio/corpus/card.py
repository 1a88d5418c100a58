"""The dataset card (the Hub folder's ``README.md``) of a built corpus, rendered from the templates ``cards/dataset.md``
and ``cards/dataset_how.md`` (``cards/dataset_how_held_out.md`` for a ``--held-out`` build) by
``whisper_gpt_hf.publishing.card.render_card``: the YAML metadata (``configs``, ``dataset_info`` with the schema of
``common.FEATURE_YAML``), the split table, the command that rebuilds the folder and the tool versions.
"""

from __future__ import annotations

from pathlib import Path

from whisper_gpt_hf.audio.corpus.common import FEATURE_YAML, SIZES, SPLITS
from whisper_gpt_hf.audio.corpus.music import BASS, CHORDS, MELODY, MODES
from whisper_gpt_hf.audio.corpus.speech import PITCH, RATE_WPM


def dataset_card(report: dict, split_infos: list[dict], data_dir: Path) -> str:
    """The card of the corpus `build_corpus` wrote: `report` is its report, `split_infos` the size of each split as
    `_write_split` returns it, `data_dir` the folder of the parquet shards."""
    import yaml

    # deferred: publishing.card brings in evaluation and the model classes, which building a corpus never needs
    from whisper_gpt_hf.publishing.card import render_card

    download_size = sum(f.stat().st_size for f in data_dir.glob("*.parquet"))
    total_examples = sum(s["num_examples"] for s in split_infos)
    size_category = "n<1K" if total_examples < 1000 else "1K<n<10K" if total_examples < 10_000 else "10K<n<100K"
    held_out = report.get("held_out", False)
    label = f"{report['size']}, held-out" if held_out else report["size"]
    meta = {
        "license": "cc0-1.0",
        "pretty_name": f"WHISPER-GPT synthetic speech and music corpus ({label})",
        "language": report["languages"] or ["en"],
        "task_categories": ["audio-to-audio", "audio-classification"],
        "tags": ["audio", "speech", "music", "synthetic", "espeak-ng", "fluidsynth", "midi", "encodec", "24khz"],
        "size_categories": [size_category],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*"} for s in SPLITS]}],
        "dataset_info": {
            "features": FEATURE_YAML,
            "splits": split_infos,
            "download_size": download_size,
            "dataset_size": sum(s["num_bytes"] for s in split_infos),
        },
    }
    if held_out:
        meta["held_out"] = True
        meta["held_out_pools"] = report["pools"]
    rows = "\n".join(
        f"| {split} | {v['speech']['clips']} | {v['speech']['minutes']:.2f} | {v['music']['clips']} | "
        f"{v['music']['minutes']:.2f} |"
        for split, v in report["splits"].items()
    )
    minutes = {cat: sum(v[cat]["minutes"] for v in report["splits"].values()) for cat in ("speech", "music")}
    tools = report["tools"]
    command = (f"whisper-gpt make-corpus {'--held-out ' if held_out else ''}--size {report['size']} "
               f"--seed {report['seed']} --output {Path(report['output_dir']).as_posix()}")
    if report["speech_minutes_requested"] != SIZES[report["size"]].speech_minutes:
        command += f" --speech-minutes {report['speech_minutes_requested']:g}"
    if report["music_minutes_requested"] != SIZES[report["size"]].music_minutes:
        command += f" --music-minutes {report['music_minutes_requested']:g}"
    (speech_lo, speech_hi), (music_lo, music_hi) = report["clip_seconds"]["speech"], report["clip_seconds"]["music"]
    values = {
        "num_languages": len(report["languages"]),
        "languages": ", ".join(report["languages"]),
        "voices": report["voices"],
        "rate_wpm": f"{RATE_WPM[0]}-{RATE_WPM[1]}",
        "pitch": f"{PITCH[0]}-{PITCH[1]}",
    }
    if not held_out:
        values.update(num_melody=len(MELODY), num_chords=len(CHORDS), num_bass=len(BASS), num_modes=len(MODES))
        how = render_card("dataset_how", values, optional=values)  # cards/dataset_how.md
    else:
        pools = report["pools"]
        values.update(
            speech_variants=", ".join(f"`+{v}`" for v in pools["speech_variants"]),
            num_music_programs=len(pools["music_programs"]),
            drum_kits=", ".join(pools["drum_kits"]),
            modes=", ".join(pools["modes"]),
            metres=" and ".join(pools["metres"]),
            tempi=" or ".join(f"{lo}-{hi - 2}" for lo, hi in pools["tempo_bpm"]),
            textures=", ".join(pools["textures"]),
            chord_patterns=", ".join(pools["chord_patterns"]),
            bass_patterns=", ".join(pools["bass_patterns"]),
        )
        how = render_card("dataset_how_held_out", values, optional=values)  # cards/dataset_how_held_out.md
    return render_card("dataset", {  # cards/dataset.md
        "front_matter": yaml.safe_dump(meta, sort_keys=False, allow_unicode=True),
        "label": label,
        "speech_minutes": f"{minutes['speech']:.1f}",
        "music_minutes": f"{minutes['music']:.1f}",
        "num_clips": total_examples,
        "megabytes": f"{download_size / 2**20:.1f}",
        "speech_seconds": f"{speech_lo:g}-{speech_hi:g}",
        "music_seconds": f"{music_lo:g}-{music_hi:g}",
        "split_rows": rows,
        "command": command,
        "espeak_version": str(tools["espeak-ng"]),
        "sox_version": str(tools["sox"]),
        "fluidsynth_version": str(tools["fluidsynth"]),
        "soundfont": str(tools["soundfont"]),
        "how_it_was_made": how.rstrip("\n"),
    }, optional=("split_rows", "how_it_was_made"))


__all__ = ["dataset_card"]
