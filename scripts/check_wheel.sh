#!/usr/bin/env bash
# The installed-wheel check (run by .ci/run after the test suite):
#   bash scripts/check_wheel.sh
# Builds the wheel from the tracked files, checks it stays under 60 MB and carries every file of hub/, installs it
# into a fresh virtual environment (--system-site-packages: torch and the other dependencies come from the current
# environment, whisper-gpt-hf itself from the wheel), runs the demo from an unrelated folder and checks its WAVs,
# then times `whisper-gpt --help` against `python -c "import torch, transformers"`.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# A copy of the tracked files, so that no stale build/ or untracked file of this checkout reaches the wheel.
mkdir "$WORK/src"
git ls-files -z | xargs -0 cp --parents -t "$WORK/src"
python -m pip wheel -q --no-deps --disable-pip-version-check -w "$WORK/dist" "$WORK/src"
WHEEL="$(ls "$WORK"/dist/whisper_gpt_hf-*.whl)"
python - "$WHEEL" <<'PY'
import os, subprocess, sys, zipfile
wheel = sys.argv[1]
size = os.path.getsize(wheel)
names = set(zipfile.ZipFile(wheel).namelist())
tracked = subprocess.run(["git", "ls-files", "hub", "cards", "MODEL_CARD.md"], capture_output=True, text=True,
                         check=True).stdout.split()
missing = [f for f in tracked if f"whisper_gpt_hf/embedded/{f}" not in names]
print(f"wheel: {wheel.rsplit('/', 1)[-1]}, {size / 1e6:.1f} MB, {len(names)} files")
assert not missing, f"the wheel lacks embedded files: {missing}"
assert size < 60e6, f"the wheel is {size / 1e6:.1f} MB, over the 60 MB limit"
PY

python -m venv --system-site-packages "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --no-deps --ignore-installed --disable-pip-version-check "$WHEEL"
mkdir "$WORK/elsewhere"
cd "$WORK/elsewhere"
"$WORK/venv/bin/python" - "$WORK/venv" <<'PY'
import sys
from pathlib import Path
import whisper_gpt_hf.assets as assets
venv = Path(sys.argv[1]).resolve()
assert assets.PACKAGE_DIR.is_relative_to(venv), f"imported {assets.PACKAGE_DIR}, not the wheel in {venv}"
assert assets.ASSETS_ROOT == assets.EMBEDDED_DIR, f"assets from {assets.ASSETS_ROOT}, not the wheel's embedded/"
print(f"installed package: {assets.PACKAGE_DIR}")
PY
HF_HUB_OFFLINE=1 "$WORK/venv/bin/whisper-gpt" demo --max-test-clips 4 --seconds 0.3 --output-dir OUT
ls OUT/*.wav
[ "$(ls OUT/*_continuation.wav | wc -l)" -ge 2 ] || { echo "the demo wrote no continuations" >&2; exit 1; }

# --help against the import anchor: runs interleaved (anchor, help, anchor, help, ...) so that a change in machine
# load hits both alike; best of 3 each (load adds noise, never removes it).
"$WORK/venv/bin/python" - "$WORK/venv/bin/whisper-gpt" <<'PY'
import subprocess, sys, time
def took(cmd):
    t = time.perf_counter(); subprocess.run(cmd, check=True, capture_output=True); return time.perf_counter() - t
anchor_cmd = [sys.executable, "-c", "import torch, transformers"]
for verb in ("", "train", "demo"):
    pairs = [(took(anchor_cmd), took([sys.argv[1], *([verb] if verb else []), "--help"])) for _ in range(3)]
    anchor, t = min(a for a, _ in pairs), min(h for _, h in pairs)
    print(f"whisper-gpt {verb + ' ' if verb else ''}--help: {t:.2f} s = {t / anchor:.2f}x "
          f"`python -c \"import torch, transformers\"` ({anchor:.2f} s)")
PY
cd "$REPO"
echo "wheel check passed"
