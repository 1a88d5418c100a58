#!/usr/bin/env bash
# Set up a fresh machine for whisper-gpt-hf: Debian audio tools + the tested Python dependency set.
#   bash scripts/setup.sh
# Debian packages: ffmpeg (torchcodec loads it to decode audio), espeak-ng + fluidsynth + fluid-soundfont-gm + sox
# (only needed to *build* a corpus; the committed one needs none of them).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="ffmpeg espeak-ng fluidsynth fluid-soundfont-gm sox git"
missing=""
for cmd in ffmpeg espeak-ng fluidsynth sox git; do command -v "$cmd" >/dev/null 2>&1 || missing="yes"; done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing="yes"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = "none" ]; then
    echo "Please install the Debian packages: $APT_PACKAGES" >&2
  else
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT_PACKAGES >/dev/null
  fi
fi

# torch/torchaudio/torchcodec are pinned together in constraints.txt: the registry's CUDA builds run on CPU too,
# while a CPU-only torch wheel breaks torchaudio/torchcodec (and with them encodec and datasets' Audio).
python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
