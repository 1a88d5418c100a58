"""`whisper-gpt demo`: the offline end-to-end demo (see `whisper_gpt_hf.demo`)."""

from __future__ import annotations

import argparse

from whisper_gpt_hf import demo


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="offline end-to-end demo on the committed corpus and checkpoints",
                              description=demo.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", default="demo_outputs")
    p.add_argument("--split", default="test")
    p.add_argument("--max-test-clips", type=int, default=None, help="score only the first N test clips")
    p.add_argument("--window-frames", type=int, default=256)
    p.add_argument("--prompt-seconds", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=2.0, help="seconds to generate after each prompt")
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.set_defaults(func=lambda a: (demo.run_demo(a), 0)[1])
