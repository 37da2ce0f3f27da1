"""Verifier probe (2026-12-02; not part of ``georeason-toyworld run``): pretrain the larger Eye-only
verifier of seed ``--seed`` with one setting changed, then print its select accuracy and, per query
category, the other categories it confuses with the target (mean P(yes) > 0.3) on ``--neval``
implicit eval scenes (train wordings). One CPU thread. Example::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_teacher.py --seed 2 --set teacher_steps=1500 \\
        --out /tmp/probe_teacher_T1500
"""

import argparse
import collections
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from georeason.models.verifier import LocalVerifier
from georeason_toyworld.cli import apply_overrides
from georeason_toyworld.evaluate import score_scene_objects
from georeason_toyworld.pretrain import TOY_MAX_PIXELS
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split
from georeason_toyworld.stages import _pretrained_model, teacher_config

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, required=True)
ap.add_argument("--out", required=True, help="folder of the new verifier")
ap.add_argument("--set", nargs="*", default=[], help="ExperimentSettings overrides k=v")
ap.add_argument("--neval", type=int, default=300)
ap.add_argument("--skip-train", action="store_true", help="only measure the verifier in --out")
a = ap.parse_args()
torch.set_num_threads(1)
s = apply_overrides(ExperimentSettings(), a.set)
out = Path(a.out)
cfg = teacher_config(s, a.seed)
if not a.skip_train:
    t0 = time.perf_counter()
    split = {"n": s.n_pretrain, "seed": a.seed, **s.split_kwargs()}
    _pretrained_model(out, s.teacher_size, a.seed + 1000, split, [cfg], out / "log.jsonl")
    print(f"pretrained in {time.perf_counter() - t0:.0f} s: {dataclasses.asdict(cfg)}")

recs = build_split("eval", a.neval, a.seed, kind="implicit", wordings="train", **s.split_kwargs())
v = LocalVerifier.from_pretrained(out, max_pixels=TOY_MAX_PIXELS, batch_size=64)
conf, per = collections.defaultdict(list), collections.defaultdict(list)
for o in score_scene_objects(v, recs):
    tcat = recs[o["record"]]["target_category"]
    conf[(tcat, "TARGET" if o["is_target"] else o["category"])].append(o["score"])
    per[o["record"]].append((o["score"], o["is_target"], tcat))
select = collections.defaultdict(list)
for xs in per.values():
    select[xs[0][2]].append(max(xs)[1])
rows = {}
for c in sorted(select):
    confused = {
        o: round(float(np.mean(ps)), 2)
        for (t, o), ps in conf.items()
        if t == c and o != "TARGET" and np.mean(ps) > 0.3
    }
    rows[c] = {"select": round(float(np.mean(select[c])), 3), "confused": confused}
total = float(np.mean([x for xs in select.values() for x in xs]))
print(json.dumps({"name": out.name, "set": a.set, "select_acc": round(total, 3), "per_cat": rows}))
