"""Rung-1 re-measurement (2026-12-02; not part of ``georeason-toyworld run``): greedy plain Acc@0.5
of a finished seed's pretrained policy and of its rung-1 adapter (``grpo/sanity_iou_plain``) on
``N`` eval scenes of the seed (the run uses the first 100). One CPU thread. Example::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_rung1_eval.py runs/toyworld_v7b/seed1 1 300
"""

import json
import sys

import torch

from georeason_toyworld.evaluate import hand_metrics
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

torch.set_num_threads(1)
root, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kw = ExperimentSettings().split_kwargs()
records = build_split("eval", n, seed, kind="plain", wordings="train", **kw)
policy = f"{root}/models/policy"
before = hand_metrics(policy, records)["acc50"]
after = hand_metrics(policy, records, adapter=f"{root}/grpo/sanity_iou_plain")["acc50"]
print(json.dumps({"seed": seed, "n": n, "pretrained": before, "after_iou_grpo": after}))
