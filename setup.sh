#!/usr/bin/env bash
# Set up a virtual environment for caseray: ./setup.sh [extras], e.g. ./setup.sh test
# VENV picks the folder (default .venv). Without a GPU the CPU torch wheel goes in first, so nothing
# later pulls a multi-GB CUDA build; with a GPU an installed torch is left alone.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
EXTRAS=${1:-}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        "$PY" -m pip install -q torch          # CUDA build
    else
        "$PY" -m pip install -q torch==2.13.0  # the CPU wheel
    fi
fi
spec="."
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
"$PY" -m pip install -q -e "$spec"
echo "caseray set up in $VENV"
