"""`whisper-gpt codec-report` (see `whisper_gpt_hf.audio.codec.report` for what it measures)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    """Register `whisper-gpt codec-report`."""
    from whisper_gpt_hf.assets import CODEC_SMALL, CORPUS_SMALL
    from whisper_gpt_hf.audio.codec import report

    p = subparsers.add_parser("codec-report", help="codebook usage and reconstruction quality of a codec, per category",
                              description=report.__doc__.split("\n\n")[0])
    p.add_argument("--codec", default=str(CODEC_SMALL), help="codec folder or Hub repo id (EncodecModel)")
    p.add_argument("--dataset", default=str(CORPUS_SMALL), help="corpus folder or Hub repo id")
    p.add_argument("--split", default="test")
    p.add_argument("--train-split", default="train", help="audio for the baseline's k-means codebooks")
    p.add_argument("--output-dir", default="docs")
    p.add_argument("--max-seconds", type=float, default=None, help="evaluate at most this much audio (split evenly)")
    p.add_argument("--baseline-seconds", type=float, default=120.0, help="audio for the baseline's k-means")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-threads", type=int, default=None)
    p.add_argument("--name", default="codec_report", help="file stem of the .md / .json / .png written")
    p.add_argument("--note", default=None, help="a sentence about the data (e.g. held-out status) for md/json/card")
    p.add_argument("--update-card", action="store_true", help="write the table into the codec's README.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from whisper_gpt_hf.audio.codec.report import (
        ladder_table,
        markdown_table,
        report_to_files,
    )

    report, paths = report_to_files(args.codec, args.dataset, args.split, args.train_split, args.max_seconds,
                                    args.baseline_seconds, args.seed, args.num_threads, args.output_dir, args.name,
                                    args.note, args.update_card)
    print(markdown_table(report))
    print(ladder_table(report))
    print(json.dumps(paths, indent=2))
    return 0
