"""Preparation speed: seconds of audio prepared per second, 1 vs 2 CPU processes, batched vs per-clip encoding, with
the small committed codec and a codec of EnCodec-24 kHz size (transformers' default `EncodecConfig`, 14.9 M
parameters, random weights and random codebooks: the speed of the real model, not its codes).

Every configuration runs `data.prepare_dataset(..., output_dir=...)` (what `whisper-gpt prepare` runs) in fresh
worker processes with 1 torch thread each, on the same audiofolder of synthetic clips (2-6 s). Workers load
everything first, meet at a file barrier, then time only the preparation (encoding, windows, shard writing, merge);
the 2-process wall time runs from the common start to the last worker's end. The anchor of each ratio is the
per-clip loop in 1 process, measured in the same run.

    python benchmarks/bench_prepare.py --quick
    python benchmarks/bench_prepare.py --output benchmarks/results/prepare.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def worker(args) -> None:
    """One preparation process (RANK / WORLD_SIZE as `accelerate launch` sets them)."""
    import torch

    torch.set_num_threads(1)
    from whisper_gpt_hf.data import load_audio_dataset, prepare_dataset
    from whisper_gpt_hf.modeling import WhisperGPTProcessor

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    processor = WhisperGPTProcessor.from_pretrained(args.processor)
    raw = load_audio_dataset(args.data, split="train")
    Path(args.out, f"ready-{rank}").touch()
    while not all(Path(args.out, f"ready-{r}").exists() for r in range(world)):
        time.sleep(0.01)
    start = time.time()
    dataset, report = prepare_dataset(raw, processor, output_dir=os.path.join(args.out, "prepared"), cache_key="bench",
                                      batched_encoding=args.batched, batch_size=8, shard_size=4, progress=False,
                                      process_index=rank, num_processes=world)
    end = time.time()
    Path(args.out, f"time-{rank}.json").write_text(json.dumps({"start": start, "end": end, "frames": report.num_frames,
                                                               "examples": len(dataset)}))


def run_config(processor_dir: str, data_dir: str, processes: int, batched: bool) -> dict:
    out = tempfile.mkdtemp(prefix="bench-prepare-")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WORLD_SIZE": str(processes)}
    cmd = [sys.executable, str(HERE / "bench_prepare.py"), "--worker", "--processor", processor_dir, "--data",
           data_dir, "--out", out] + (["--batched"] if batched else [])
    procs = [subprocess.Popen(cmd, env={**env, "RANK": str(r)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for r in range(processes)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err[-3000:])
    times = [json.loads(Path(out, f"time-{r}.json").read_text()) for r in range(processes)]
    return {"seconds": max(t["end"] for t in times) - min(t["start"] for t in times), "frames": times[0]["frames"],
            "examples": times[0]["examples"], "out": out}


def make_data(root: Path, total_seconds: float) -> float:
    import numpy as np
    import soundfile as sf

    from tests.helpers import test_audio

    (root / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    made, i = 0.0, 0
    while made < total_seconds:
        seconds = float(rng.uniform(2, 6))
        sf.write(root / "train" / f"clip{i:04d}.wav", test_audio(seconds, i), 24000)
        made += seconds
        i += 1
    return made


def make_processors(root: Path) -> dict[str, str]:
    import torch
    from transformers import EncodecConfig, EncodecModel

    from whisper_gpt_hf.assets import default_processor
    from whisper_gpt_hf.modeling import WhisperGPTFeatureExtractor, WhisperGPTProcessor

    small = default_processor()
    small.save_pretrained(root / "small")
    torch.manual_seed(0)
    big = EncodecModel(EncodecConfig()).eval()
    with torch.no_grad():  # random codebooks: a random EncodecModel's are all zero (every frame code 0)
        for layer in big.quantizer.layers:
            layer.codebook.embed.normal_()
    WhisperGPTProcessor(WhisperGPTFeatureExtractor(), audio_tokenizer=big).save_pretrained(root / "encodec24k")
    return {"small (committed)": str(root / "small"), "EnCodec-24kHz-size (random)": str(root / "encodec24k")}


def main() -> None:
    sys.path.insert(0, str(HERE))
    from common import load_average, parse_args

    args = parse_args(__doc__.splitlines()[0], extra=lambda p: (
        p.add_argument("--worker", action="store_true", help=argparse_hidden()),
        p.add_argument("--processor"), p.add_argument("--data"), p.add_argument("--out"),
        p.add_argument("--batched", action="store_true"), p.add_argument("--seconds", type=float, default=None)))
    if args.worker:
        return worker(args)
    import platform

    from whisper_gpt_hf.data import load_prepared

    seconds = args.seconds or (40.0 if args.quick else 120.0)
    root = Path(tempfile.mkdtemp(prefix="bench-prepare-data-"))
    audio = make_data(root / "data", seconds)
    processors = make_processors(root)
    lines = [f"# Preparation speed ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)", "",
             f"{audio:.1f} s of audio ({len(list((root / 'data' / 'train').iterdir()))} clips of 2-6 s); 1 torch thread "
             f"per process; load average at start: {load_average()}.", "",
             "| codec | configuration | audio s / s | ratio vs per-clip, 1 process |", "|---|---|---|---|"]
    for name, path in processors.items():
        results = {}
        for label, processes, batched in (("per-clip, 1 process", 1, False), ("batched, 1 process", 1, True),
                                          ("per-clip, 2 processes", 2, False)):
            results[label] = run_config(path, str(root / "data"), processes, batched)
        reference = load_prepared(Path(results["per-clip, 1 process"]["out"]) / "prepared")[0].to_list()
        for label, r in results.items():
            same = load_prepared(Path(r["out"]) / "prepared")[0].to_list() == reference
            speed = audio / r["seconds"]
            base = audio / results["per-clip, 1 process"]["seconds"]
            lines.append(f"| {name} | {label}{'' if same else ' (EXAMPLES DIFFER)'} | {speed:.1f} | "
                         f"{speed / base:.2f}x |")
            print(lines[-1], flush=True)
    lines += ["", f"Load average at the end: {load_average()}. Every configuration's prepared examples were compared "
              "with the per-clip 1-process ones (marked if they differ)."]
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
