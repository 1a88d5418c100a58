"""Run the three benchmarks one after the other and save each report to `benchmarks/results/<name>.md`.

    python benchmarks/run_all.py --quick              # smoke-size, about 1-2 minutes on 2 idle cores
    python benchmarks/run_all.py --threads 2          # full repeats
    python benchmarks/run_all.py --quick --threads 1 --only generation

Each script runs in its own process (so thread settings and imports start fresh); flags after `--` are passed to
every script unchanged. The scripts are independent: see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {"features": "bench_features.py", "training": "bench_training.py", "generation": "bench_generation.py"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-size runs (fewer repeats)")
    parser.add_argument("--threads", type=int, default=2, help="torch / BLAS threads for every script (default 2)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these (repeatable)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the reports go")
    parser.add_argument("--no-save", action="store_true", help="print only, write no report files")
    parser.add_argument("passthrough", nargs=argparse.REMAINDER, help="-- then flags for every script")
    args = parser.parse_args()
    passthrough = [a for a in args.passthrough if a != "--"]

    failures = []
    start = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        script = (HERE / BENCHMARKS[name]).relative_to(HERE.parent)
        command = [sys.executable, str(script), "--threads", str(args.threads), *passthrough]
        if args.quick:
            command.append("--quick")
        if not args.no_save:
            output = args.results_dir.resolve() / f"{name}.md"
            if output.is_relative_to(HERE.parent):
                output = output.relative_to(HERE.parent)
            command += ["--output", str(output)]
        print(f"\n$ {' '.join(command)}\n", flush=True)
        if subprocess.run(command, cwd=HERE.parent).returncode != 0:
            failures.append(name)
    status = f"; FAILED: {failures}" if failures else "."
    print(f"\nAll benchmarks done in {time.perf_counter() - start:.0f} s{status}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
