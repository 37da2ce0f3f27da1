#!/usr/bin/env bash
# Creates .venv and installs georeason with its training and test extras, CPU-only.
# torch goes first, pinned to the CPU wheel that this kind of machine keeps on disk; asking for
# accelerate/peft before torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install --quiet -e ".[train,dev]"
echo "georeason installed in .venv"
