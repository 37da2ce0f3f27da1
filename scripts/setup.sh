#!/usr/bin/env bash
# Creates .venv and installs georeason with its training, GeoZero and test extras, CPU-only,
# plus Debian's WordNet packages (METEOR).
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
.venv/bin/python -m pip install --quiet -e ".[train,geozero,dev]"
# WordNet 3.0 for METEOR (NLTK cannot download it here): Debian's packages, when apt is there
if command -v apt-get >/dev/null && [ ! -f /usr/share/wordnet/index.sense ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq wordnet-base wordnet-sense-index) \
    >/dev/null || echo "WARNING: could not install WordNet; METEOR will be reported as unavailable"
fi
echo "georeason installed in .venv"
