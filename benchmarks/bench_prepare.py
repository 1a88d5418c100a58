"""Preparation speed: seconds of audio prepared per second, 1 vs 2 CPU processes, batched vs per-clip encoding, with
the small committed codec and a codec of EnCodec-24 kHz size (transformers' default `EncodecConfig`, 14.9 M
parameters, random weights and random codebooks: the speed of the real model, not its codes).

Every configuration runs `data.prepare_dataset(..., output_dir=...)` (what `whisper-gpt prepare` runs) in fresh
worker processes with 1 torch thread each, on the same audiofolder of synthetic clips (2-6 s), with `prepare`'s
default shard size. Workers load everything first, meet at a file barrier, then time only the preparation
(decoding, encoding, windows, shard writing, waiting, merge); the 2-process wall time runs from the common start to
the last worker's end. The workload (10 min of audio for the small codec, 4 min for the EnCodec-size one) is large
enough that the fixed costs of a preparation (one `save_to_disk` per shard, the merge, the waits) are a few percent,
so the rows measure throughput. Each configuration runs `--repeats` times (rounds interleaved, so a burst of load
from other jobs hits all of them alike) and the fastest run is reported. The anchor of each ratio is the per-clip
loop in 1 process, measured in the same run. The ceiling row runs two independent 1-process preparations of the
whole data at once (separate folders, a common start): what the 2 cores give two processes that share nothing, the
most a 2-process preparation could reach. A second table says where each process's time went; a third times the
codec's encoder alone on 8 clips at batch sizes 1-8 (why batching does not pay on this CPU).

    python benchmarks/bench_prepare.py --quick
    python benchmarks/bench_prepare.py --output benchmarks/results/prepare.md
"""

from __future__ import annotations

import json
import os
import shutil
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
    from whisper_gpt_hf.data import load_audio_dataset
    from whisper_gpt_hf.data import preparation as data  # the module whose phases are timed
    from whisper_gpt_hf.modeling import WhisperGPTProcessor

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    phases, batched_stats = time_phases(data)
    processor = WhisperGPTProcessor.from_pretrained(args.processor)
    raw = load_audio_dataset(args.data, split="train")
    barrier, party, parties = args.barrier or args.out, args.party if args.barrier else rank, args.parties or world
    Path(barrier, f"ready-{party}").touch()
    while not all(Path(barrier, f"ready-{r}").exists() for r in range(parties)):
        time.sleep(0.01)
    start = time.time()
    phases.clear()
    dataset, report = data.prepare_dataset(raw, processor, output_dir=os.path.join(args.out, "prepared"),
                                           cache_key="bench", batched_encoding=args.batched, batch_size=8,
                                           shard_size=args.shard_size, progress=False, process_index=rank,
                                           num_processes=world)
    end = time.time()
    Path(args.out, f"time-{rank}.json").write_text(json.dumps({"start": start, "end": end, "frames": report.num_frames,
                                                               "examples": len(dataset), "phases": phases,
                                                               "batched": batched_stats}))


PHASES = ("decode", "encode", "windows", "write shards", "wait", "merge")


def time_phases(data) -> tuple[dict, dict]:
    """Wrap the phases of `data.prepare_dataset` with timers (seconds per phase, for the where-the-time-goes table):
    decode (`decode_audio`), encode (`encode_clips`: codec + mel front end), windows (the rest of
    `_prepare_examples`: cutting windows, building the Arrow table), write shards (`save_to_disk` of each shard),
    wait (for the other processes), merge (concatenating the shards, writing and loading the merged folder)."""
    phases: dict[str, float] = {}
    stats: dict[str, int] = {}
    active: set[str] = set()

    def timed(name, phase):
        original = getattr(data, name)

        def wrapper(*args, **kwargs):
            key = phase(args, kwargs) if callable(phase) else phase
            if key in active:  # e.g. load_prepared inside _merge_shards: counted once
                return original(*args, **kwargs)
            active.add(key)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                active.discard(key)
                phases[key] = phases.get(key, 0.0) + time.perf_counter() - start
        setattr(data, name, wrapper)

    timed("decode_audio", "decode")
    timed("_prepare_examples", "examples")  # includes decode and encode: "windows" is the remainder
    timed("_write_prepared", lambda args, kwargs: "merge" if (args[3:] or kwargs.get("config")) else "write shards")
    timed("_wait_for", "wait")
    def encoding(args, kwargs):  # + the seconds of audio this process encoded
        phases["audio"] = phases.get("audio", 0.0) + sum(len(c) for c in args[1]) / 24000
        return "encode"

    timed("encode_clips", encoding)
    timed("_merge_shards", "merge")
    timed("load_prepared", "merge")
    original_batched = data._encode_codes_batched

    def batched(processor, clips, stats_=None):  # + the padding a batch encodes (length buckets keep it small)
        stats["samples"] = stats.get("samples", 0) + sum(len(c) for c in clips)
        stats["padded"] = stats.get("padded", 0) + len(clips) * max(len(c) for c in clips)
        return original_batched(processor, clips, stats)

    data._encode_codes_batched = batched
    return phases, stats


def phase_row(phases: dict) -> dict:
    row = {p: phases.get(p, 0.0) for p in (*PHASES, "audio")}
    row["windows"] = phases.get("examples", 0.0) - row["decode"] - row["encode"]
    return row


def run_config(processor_dir: str, data_dir: str, processes: int, batched: bool, shard_size: int,
               independent: bool = False, parent: str | None = None) -> dict:
    """One configuration: `processes` workers of one preparation, or (`independent`) as many separate 1-process
    preparations of the whole data started together (what the machine gives two processes that share nothing)."""
    out = tempfile.mkdtemp(prefix="bench-prepare-", dir=parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WORLD_SIZE": "1" if independent else str(processes)}
    cmd = [sys.executable, str(HERE / "bench_prepare.py"), "--worker", "--processor", processor_dir, "--data",
           data_dir, "--shard-size", str(shard_size)] + (["--batched"] if batched else [])
    outs = [os.path.join(out, f"run-{r}") if independent else out for r in range(processes)]
    procs = []
    for r in range(processes):
        os.makedirs(outs[r], exist_ok=True)
        extra = ["--barrier", out, "--party", str(r), "--parties", str(processes)] if independent else []
        rank_env = {**env, "RANK": "0" if independent else str(r)}
        procs.append(subprocess.Popen(cmd + ["--out", outs[r], *extra], env=rank_env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err[-3000:])
    times = [json.loads(Path(outs[r], f"time-{0 if independent else r}.json").read_text()) for r in range(processes)]
    start = min(t["start"] for t in times)
    return {"seconds": max(t["end"] for t in times) - start, "frames": times[0]["frames"],
            "examples": times[0]["examples"], "out": outs[0], "copies": processes if independent else 1, "ranks": [
                {"seconds": t["end"] - start, **phase_row(t["phases"]), "batched": t["batched"]} for t in times]}


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
        p.add_argument("--batched", action="store_true"), p.add_argument("--barrier"),
        p.add_argument("--party", type=int, default=0), p.add_argument("--parties", type=int, default=None),
        p.add_argument("--seconds", type=float, default=None, help="audio for the small codec (default 600)"),
        p.add_argument("--encodec-seconds", type=float, default=None,
                       help="audio for the EnCodec-size codec (default 240)"),
        p.add_argument("--shard-size", type=int, default=None, help="clips per shard (default: prepare's)")))
    if args.worker:
        return worker(args)
    import platform

    from whisper_gpt_hf.data import load_prepared
    from whisper_gpt_hf.data.preparation import DEFAULT_SHARD_SIZE

    shard_size = args.shard_size or DEFAULT_SHARD_SIZE
    repeats = args.repeats or (1 if args.quick else 2)
    amounts = {"small (committed)": args.seconds or (60.0 if args.quick else 600.0),
               "EnCodec-24kHz-size (random)": args.encodec_seconds or (30.0 if args.quick else 240.0)}
    root = Path(tempfile.mkdtemp(prefix="bench-prepare-data-"))
    processors = make_processors(root)
    lines = [f"# Preparation speed ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)", "",
             f"1 torch thread per process; clips of 2-6 s; shard size {shard_size} clips (`prepare`'s default: "
             f"{DEFAULT_SHARD_SIZE}); batch size 8; fastest of {repeats} run(s), rounds interleaved; load average at "
             f"start: {load_average()}.", "",
             "| codec | audio | configuration | audio s / s | ratio vs per-clip, 1 process |", "|---|---|---|---|---|"]
    configs = (("per-clip, 1 process", 1, False, False), ("batched, 1 process", 1, True, False),
               ("per-clip, 2 processes", 2, False, False),
               ("ceiling: 2 independent 1-process runs at once", 2, False, True))
    phase_lines = ["| codec | configuration | process | its audio s | wall s | " + " | ".join(PHASES)
                   + " | batched: clips re-encoded alone (near-tied code) |",
                   "|---" * (len(PHASES) + 6) + "|"]
    notes = []
    for name, path in processors.items():
        data_dir = root / f"data-{list(amounts).index(name)}"
        audio = make_data(data_dir, amounts[name])
        clips = len(list((data_dir / "train").iterdir()))
        runs = {label: [] for label, *_ in configs}
        for _ in range(repeats):
            for label, processes, batched, independent in configs:
                runs[label].append(run_config(path, str(data_dir), processes, batched, shard_size, independent,
                                              parent=str(root)))
                r = runs[label][-1]
                print(f"{name} {label}: {r['copies'] * audio / r['seconds']:.1f} audio s/s", flush=True)
        results = {label: min(r, key=lambda x: x["seconds"] / x["copies"]) for label, r in runs.items()}
        reference = load_prepared(Path(results["per-clip, 1 process"]["out"]) / "prepared")[0].to_list()
        base = audio / results["per-clip, 1 process"]["seconds"]
        for label, r in results.items():
            same = all(load_prepared(Path(x["out"]) / "prepared")[0].to_list() == reference for x in runs[label])
            speed = r["copies"] * audio / r["seconds"]
            lines.append(f"| {name} | {audio:.0f} s ({clips} clips) | {label}{'' if same else ' (EXAMPLES DIFFER)'} | "
                         f"{speed:.1f} | {speed / base:.2f}x |")
            print(lines[-1], flush=True)
            if label.startswith("ceiling"):
                two = audio / results["per-clip, 2 processes"]["seconds"]
                notes.append(f"{name}: one preparation in 2 processes runs at {two / speed:.0%} of the speed of 2 "
                             "independent 1-process runs sharing the machine (the ceiling: what the 2 cores give 2 "
                             "processes that share nothing).")
                continue
            for rank, row in enumerate(r["ranks"]):
                stats = row["batched"]
                redo = (f"{stats['re_encoded']} / {stats['clips']} (padding "
                        f"{100 * (1 - stats['samples'] / stats['padded']):.1f} %)") if stats else "-"
                phase_lines.append(f"| {name} | {label} | {rank} | {row['audio']:.1f} | {row['seconds']:.2f} | "
                                   + " | ".join(f"{row[p]:.2f}" for p in PHASES) + f" | {redo} |")
    lines += ["", f"Load average at the end: {load_average()}. Every run's prepared examples were compared with the "
              "fastest per-clip 1-process run's (marked if they differ).", "", *notes, "",
              "Where each process's time went in the reported run (seconds; `encode` = codec + mel front end, "
              "`windows` = cutting windows and building the Arrow rows, `merge` = concatenating the shards, writing "
              "and loading the merged folder; the rest of the wall time is the shard bookkeeping between them). "
              "Shards split the clips by count, so with few clips per process the audio differs between processes "
              "(`its audio s`) and the faster one waits: that caps the 2-process ratio at 2 x min / max of the two "
              "(at corpus scale, thousands of clips per process, the difference vanishes):", "",
              *phase_lines, "", *encoder_batch_lines(processors), ""]
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text)
    shutil.rmtree(root, ignore_errors=True)  # the audio, processors and prepared folders of every run


def encoder_batch_lines(processors: dict[str, str], clips: int = 8, seconds: float = 4.0) -> list[str]:
    """The codec's encoder alone, 1 thread: the same 8 clips of 4 s in batches of 1, 2, 4 and 8 (fastest of 2)."""
    import numpy as np
    import torch

    from whisper_gpt_hf.modeling import WhisperGPTProcessor

    torch.set_num_threads(1)
    sizes = (1, 2, 4, 8)
    lines = [f"The codec's encoder alone ({clips} clips of {seconds:g} s, 1 thread; seconds for all {clips}, "
             "fastest of 2): on this CPU a batch costs more per clip than one clip at a time, so batching cannot pay "
             "here and `--batched-encoding auto` encodes clip by clip on a CPU, in batches on a GPU.", "",
             "| codec | " + " | ".join(f"batch {b}" for b in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for name, path in processors.items():
        codec = WhisperGPTProcessor.from_pretrained(path).audio_tokenizer
        noise = np.random.default_rng(0).standard_normal((clips, 1, int(seconds * 24000)), dtype=np.float32)
        x = torch.from_numpy(0.1 * noise)
        cells = []
        with torch.no_grad():
            for b in sizes:
                codec.encoder(x[:b])  # warm-up
                best = float("inf")
                for _ in range(2):
                    start = time.perf_counter()
                    for i in range(0, clips, b):
                        codec.encoder(x[i:i + b])
                    best = min(best, time.perf_counter() - start)
                cells.append(best)
        lines.append(f"| {name} | " + " | ".join(f"{c:.3f} ({c / cells[0]:.2f}x)" for c in cells) + " |")
        print(lines[-1], flush=True)
    return lines


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
