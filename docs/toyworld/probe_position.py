"""Does the Hand look at the image, or read the position from the text? (2026-12-02; not part
of ``georeason-toyworld run``.)

Greedy Acc@0.5 of a toy policy on ``--n`` plain eval expressions (train wordings, scenes of
``--seed``), split by whether the expression carries a position phrase
(:data:`georeason_toyworld.queries.POSITION_PHRASES`, e.g. "in the top-left corner"): on the
grid layout that phrase alone gives the box's cell. One CPU thread; prints one JSON line::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_position.py /tmp/probe_hand_D3N --seed 0
"""

import argparse
import json

import numpy as np
import torch

from georeason_toyworld.evaluate import MAX_NEW_TOKENS, record_iou, toy_policy
from georeason_toyworld.queries import POSITION_PHRASES
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("policy")
ap.add_argument("--adapter", help="LoRA adapter folder (a GRPO run)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--n", type=int, default=300, help="plain expressions")
a = ap.parse_args()
torch.set_num_threads(1)


s = ExperimentSettings()
recs = build_split(
    "eval",
    a.n,
    a.seed,
    kind="plain",
    wordings="train",
    **{**s.split_kwargs(), "position_phrases": True},  # the split this probe is about
)
policy = toy_policy(a.policy, a.adapter)
locs = policy.locate(
    [r["image"] for r in recs],
    [r["query"] for r in recs],
    max_new_tokens=MAX_NEW_TOKENS,
    batch_size=32,
)
has = [any(p in r["query"] for p in POSITION_PHRASES.values()) for r in recs]
hit = [record_iou(x, r) >= 0.5 for x, r in zip(locs, recs, strict=True)]
out = {"policy": a.policy, "adapter": a.adapter, "seed": a.seed}
for key, flag in (("with_position_phrase", True), ("without_position_phrase", False)):
    sel = [h for h, f in zip(hit, has, strict=True) if f == flag]
    out[key] = {"acc50": float(np.mean(sel)) if sel else None, "n": len(sel)}
print(json.dumps(out))
