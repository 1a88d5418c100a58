"""Shared plumbing for the benchmark scripts: argument parsing, thread pinning, timing and the markdown report.

Every script parses its arguments *before* importing numpy or torch, because the BLAS/OpenMP thread pools read their
environment variables at import time: `--threads N` therefore pins torch, OpenMP, OpenBLAS and MKL to N threads, and
the report prints what torch actually uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
NOISE_NOTE = (
    "The CPU may be shared with other jobs: numbers are medians of several repeats, but compare ratios measured in "
    "the same run rather than absolute numbers across runs. The load average is printed at the start and the end."
)


def parse_args(description: str, extra=None) -> argparse.Namespace:
    """Common flags (`--quick`, `--threads`, `--repeats`, `--warmup`, `--output`), then pin the thread pools."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller work: a smoke-size run")
    parser.add_argument("--threads", type=int, default=2, help="torch / BLAS threads (default 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (the median is reported)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs before timing")
    parser.add_argument("--output", type=Path, default=None, help="also write the markdown report to this file")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    if str(REPO_ROOT) not in sys.path:  # for `tests.helpers` (the k-means codec)
        sys.path.insert(0, str(REPO_ROOT))
    return args


def set_threads(threads: int) -> int:
    import torch

    torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_average() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unavailable"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(threads: int) -> list[str]:
    """Markdown bullet lines describing the machine and the software set."""
    import numpy
    import torch
    import transformers

    return [
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
        f"- threads: `torch.set_num_threads({threads})` -> torch.get_num_threads() = {torch.get_num_threads()} "
        f"(OMP/OpenBLAS/MKL_NUM_THREADS = {os.environ.get('OMP_NUM_THREADS')})",
        f"- python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"numpy {numpy.__version__}",
        f"- load average (1/5/15 min) at start: {load_average()}",
    ]


def measure(fn, warmup: int, repeats: int) -> list[float]:
    """Run `fn` `warmup` times untimed, then `repeats` times; return the wall times in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure_interleaved(fns: dict, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Like `measure` for several candidates, but round-robin: repeat r of every candidate runs before repeat r + 1
    of any, so a load change on a shared machine hits all candidates alike instead of whichever ran last."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def spread(times: list[float]) -> str:
    """`min-max` of the repeats, as a quick noise indicator."""
    return f"{min(times):.4g}-{max(times):.4g}"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


class Report:
    """Collects markdown lines, prints them as they come and optionally writes them to a file at the end."""

    def __init__(self, title: str, args: argparse.Namespace, threads: int):
        self.lines: list[str] = []
        self.output = args.output
        self.started = time.perf_counter()
        mode = "quick" if args.quick else "full"
        script = Path(sys.argv[0]).resolve()
        script = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
        command = " ".join([script.as_posix()] + sys.argv[1:])
        self.add(f"# {title}", "", f"Command: `python {command}` ({mode} run, repeats interleaved)", "")
        self.add(*machine_info(threads), "", f"> {NOISE_NOTE}", "")

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    def finish(self) -> None:
        wall = time.perf_counter() - self.started
        self.add("", f"Load average at the end: {load_average()}; script wall time {wall:.1f} s.")
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self.output.write_text("\n".join(self.lines) + "\n")
            print(f"\n(report written to {self.output})", flush=True)


def load_processor():
    """The default processor (`hub/whisper-gpt-processor`, the trained small codec) if it exists, else a processor
    with the tests' tiny k-means codec. Returns `(processor, note)`."""
    from whisper_gpt_hf import WhisperGPTFeatureExtractor, WhisperGPTProcessor
    from whisper_gpt_hf.assets import default_processor

    try:
        processor = default_processor()
        note = "codec: the default processor `hub/whisper-gpt-processor` (the trained small codec)"
    except (FileNotFoundError, OSError) as error:
        from tests.helpers import kmeans_codec

        processor = WhisperGPTProcessor(WhisperGPTFeatureExtractor(), audio_tokenizer=kmeans_codec())
        reason = str(error).split(".")[0]
        note = (
            "codec: NOTE `hub/whisper-gpt-processor` is not available yet "
            f"({reason}); falling back to the tests' tiny k-means codec `tests/helpers.py::kmeans_codec()`, which is "
            "far smaller than a real EnCodec, so the feedback cost below is a lower bound"
        )
    codec = processor.audio_tokenizer
    params = sum(p.numel() for p in codec.parameters())
    note += f" ({params / 1e6:.3f}M parameters, codebook size {codec.config.codebook_size})."
    return processor, note


def test_audio(seconds: float, seed: int = 0):
    """Deterministic non-trivial 24 kHz audio (the tests' generator)."""
    from tests.helpers import test_audio as make

    return make(seconds, seed)
