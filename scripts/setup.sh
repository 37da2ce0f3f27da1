#!/usr/bin/env bash
# Creates .venv and installs georeason with its training, GeoZero, web-app, serving and test
# extras, CPU-only, plus Debian's WordNet packages (METEOR) and Chromium (the web app's browser test;
# Playwright cannot download a browser here).
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
.venv/bin/python -m pip install --quiet -e ".[train,geozero,app,serve,dev]"
# Debian's packages, when apt is there: WordNet 3.0 for METEOR (NLTK cannot download it here)
# and Chromium for the web app's headless-browser test
if command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  need=()
  [ -f /usr/share/wordnet/index.sense ] || need+=(wordnet-base wordnet-sense-index)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      "${need[@]}") >/dev/null \
      || echo "WARNING: could not install ${need[*]}: METEOR / the browser test will not run"
  fi
fi
echo "georeason installed in .venv"
