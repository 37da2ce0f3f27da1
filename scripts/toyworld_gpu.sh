#!/usr/bin/env bash
# One toy-world seed at a larger scale on a GPU machine (for when a GPU is lent):
#   bash scripts/toyworld_gpu.sh [SEED] [OUT]
# 4x the pretraining scenes and steps (both stages and the distillation verifier), 4x the GRPO
# steps with one new RL scene per prompt (16 x 800 for rungs 3 and 4, 400 for the others), and
# 4x the eval scenes of the CPU
# setting; every stage on cuda, one process (the GPU serialises the work anyway).
# Needs: torch with CUDA, then `pip install -e ".[train]"` (see README, "GPU machines").
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:-0}
OUT=${2:-runs/toyworld_gpu}
PY=${PYTHON:-python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
"$PY" -m georeason_toyworld.cli run --seed "$SEED" --out "$OUT" --device cuda --workers 1 \
  --set n_pretrain=16000 hand_stage_steps=6000 pretrain_steps=2400 teacher_steps=6000 \
  n_rl=12800 grpo_steps=400 distill_grpo_steps=800 n_eval=400
