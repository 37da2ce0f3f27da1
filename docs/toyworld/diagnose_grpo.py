"""GRPO probe of 2026-11-23 (not part of ``georeason-toyworld run``).

One GRPO run on the pretrained seed-0 policy of a finished ``toyworld run`` (RUN/seed0), with
the experiment's settings except LoRA lr, steps and prompts per step, evaluated like the
experiment's stages. One CPU thread. Example (numbers in ``README.md``)::

    OMP_NUM_THREADS=1 python docs/toyworld/diagnose_grpo.py runs/toyworld_v3 remotezero 3e-4 100 4 B

Writes the run to ``/tmp/grpo_probe/NAME``; prints Hand metrics and 10-step reward means.
"""

import dataclasses
import sys
from pathlib import Path

import torch

from georeason_toyworld import build_split
from georeason_toyworld.experiment import EVAL_SETS, ExperimentSettings, _grpo_raw, _grpo_run

torch.set_num_threads(1)
run, mode, lr, steps, pps, name = sys.argv[1:7]
s = dataclasses.replace(
    ExperimentSettings(), grpo_lr=float(lr), grpo_steps=int(steps), prompts_per_step=int(pps)
)
base = Path(run) / "seed0"
evals = {
    k: build_split("eval", s.n_eval, 0, s.scene_px, kind=kd, wordings=w)
    for k, (kd, w) in EVAL_SETS.items()
}
data = base / "data" / ("rl_oracle" if mode == "remotereasoner" else "rl") / "queries.jsonl"
policy = str(base / "models" / "policy")
raw = _grpo_raw(s, mode, policy, Path("/tmp/grpo_probe") / name, data, 0)
r = _grpo_run(name, raw, evals, policy)
for k, v in r["hand"].items():
    keys = ("acc50", "miou", "think_hit_rate", "box_area_ratio", "format_rate")
    print(name, k, {m: round(v[m], 3) for m in keys})
for key in ("reward", "verification", "iou"):
    v = [x for x in r["curves"][key] if x is not None]
    if v:
        print(
            name,
            key,
            [round(sum(v[i : i + 10]) / len(v[i : i + 10]), 3) for i in range(0, len(v), 10)],
        )
