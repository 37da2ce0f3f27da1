"""GRPO probe (2026-12-01; not part of ``georeason-toyworld run``): one GRPO run on a pretrained
toy policy with the experiment's settings, one setting changed at a time from the command line.

Prints the Hand before/after on plain and implicit (train wordings) eval scenes of seed ``--seed``
(default 0; the RL scenes and TRL's seed too) and the
per-step diagnostics (first 10 -> last 10 steps). One CPU thread. Example::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_grpo.py --policy /tmp/probe_hand_G2 \\
        --mode remotereasoner --data plain --set grpo_lr=1e-4 --name A
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import yaml

from georeason_toyworld.cli import apply_overrides
from georeason_toyworld.grpo import grpo_config, grpo_run
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split, write_split

ap = argparse.ArgumentParser()
ap.add_argument("--policy", required=True, help="pretrained toy policy folder")
ap.add_argument("--teacher", help="verifier folder for --mode remotezero (default: the policy)")
ap.add_argument("--mode", default="remotereasoner", choices=["remotereasoner", "remotezero"])
ap.add_argument("--data", default="plain", choices=["plain", "implicit"])
ap.add_argument("--name", required=True)
ap.add_argument("--set", nargs="*", default=[], help="ExperimentSettings overrides k=v")
ap.add_argument("--neval", type=int, default=100)
ap.add_argument("--seed", type=int, default=0, help="split and GRPO seed (the run's seed)")
ap.add_argument("--grpo", nargs="*", default=[], help="raw GRPOConfig overrides k=v (YAML values)")
a = ap.parse_args()
torch.set_num_threads(1)
s = apply_overrides(ExperimentSettings(), a.set)
kw = s.split_kwargs()
root = Path(f"/tmp/probe_grpo_{a.name}")
kind = "plain" if a.data == "plain" else "implicit"
boxed = build_split("rl", s.n_rl, a.seed, kind=kind, with_boxes=True, **kw)
if a.mode == "remotezero":
    data = write_split(
        build_split("rl", s.n_rl, a.seed, kind=kind, **kw), root / "data", overwrite=True
    )
else:
    data = write_split(boxed, root / "data", overwrite=True)
evals = {
    "plain": build_split("eval", a.neval, a.seed, kind="plain", wordings="train", **kw),
    "implicit_train_wordings": build_split(
        "eval", a.neval, a.seed, kind="implicit", wordings="train", **kw
    ),
}
verifier = {"kind": "local", "model": a.teacher} if a.teacher else None
raw = grpo_config(s, a.mode, a.policy, root / "run", data, a.seed, verifier=verifier)
for kv in a.grpo:
    k, v = kv.split("=", 1)
    raw["grpo"][k] = yaml.safe_load(v)
r = grpo_run(a.name, raw, evals, a.policy, {x["id"]: x["boxes_xyxy_px"] for x in boxed})
out = {
    "name": a.name,
    "seed": a.seed,
    "grpo": a.grpo,
    "set": a.set,
    "mode": a.mode,
    "data": a.data,
    "train_wall_s": round(r["train_wall_s"]),
}
out["hand"] = {
    k: {
        m: round(v[m], 4)
        for m in ("acc50", "miou", "box_area_ratio", "target_area_ratio", "think_hit_rate")
    }
    for k, v in r["hand"].items()
}
for key, ys in r["curves"].items():
    ys = np.asarray([np.nan if v is None else v for v in ys], float)
    if ys.size and not np.all(np.isnan(ys)):
        out[key] = [round(float(np.nanmean(ys[:10])), 4), round(float(np.nanmean(ys[-10:])), 4)]
print(json.dumps(out))
