"""Supplementary diagnostic of the toy-world experiment (not part of ``georeason toyworld run``).

Kept with the first runs (2026-11-22) it belongs to: it was written for the code of that
time (toy Qwen2.5-VL, the default policy prompt, commit c144bd8) and is not maintained.

Trains one GRPO run for STEPS steps on seed 0's pretrained toy policy (from
``georeason toyworld run --out runs/toyworld --seeds 0``) and evaluates it on seed 0's eval
scenes, with the experiment's own settings otherwise:

    OMP_NUM_THREADS=1 python docs/toyworld/diagnostic_300_steps.py ceiling 300
    OMP_NUM_THREADS=1 python docs/toyworld/diagnostic_300_steps.py selfevo_r1 300

``ceiling``: supervised IoU + count + format reward on the RL scenes' boxes; ``selfevo_r1``:
RemoteZero with the frozen pretrained policy as verifier. Writes
``runs/toyworld_long/<which>.json`` (curves and Hand metrics).
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch

from georeason_toyworld import build_split
from georeason_toyworld.experiment import EVAL_SETS, ExperimentSettings, _grpo_raw, _grpo_run

torch.set_num_threads(1)
which, steps = sys.argv[1], int(sys.argv[2])
root = Path("runs/toyworld/seed0")
s = dataclasses.replace(ExperimentSettings(), grpo_steps=steps)
evals = {n: build_split("eval", s.n_eval, 0, kind=k, wordings=w) for n, (k, w) in EVAL_SETS.items()}
pdir = str(root / "models" / "policy")
out = Path(f"runs/toyworld_long/{which}")
if which == "ceiling":
    raw = _grpo_raw(s, "remotereasoner", pdir, out, root / "data/rl_oracle/queries.jsonl", 0)
else:
    raw = _grpo_raw(s, "remotezero", pdir, out, root / "data/rl/queries.jsonl", 0)
res = _grpo_run(which, raw, evals, pdir)
Path(f"runs/toyworld_long/{which}.json").write_text(json.dumps(res, indent=2))
print({k: (v["acc50"], v["miou"], v["box_area_ratio"]) for k, v in res["hand"].items()})
