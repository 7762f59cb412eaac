#!/usr/bin/env bash
# Set up a virtual environment in .venv with the given extras (default: server,client).
# Installs PortAudio's headers with apt when missing (PyAudio builds from source).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-server,client}"
PYTHON="${PYTHON:-python3}"

if command -v apt-get >/dev/null && ! { [ -f /usr/include/portaudio.h ] && dpkg -s python3-venv >/dev/null 2>&1; }; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== installing portaudio19-dev and python3-venv with apt"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq portaudio19-dev python3-venv python3-dev build-essential >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "== installing speechsense[$extras]"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$extras]"
