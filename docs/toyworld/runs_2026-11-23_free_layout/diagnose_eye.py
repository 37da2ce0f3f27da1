"""Eye diagnosis probe of 2026-11-22 (not part of ``georeason-toyworld run``).

Pretrains a fresh toy policy-size model (hidden 128, 3 layers, vision 64 x 2, seed 0) with the
real :func:`georeason_toyworld.pretrain.pretrain` on NREC pretrain scenes of seed 0, then
measures the Eye (:func:`georeason_toyworld.evaluate.eye_metrics`) on 100 eval scenes of seed 0
(implicit queries, train and held-out wordings) and, with ``--hand N > 0``, the Hand on 60
plain-expression eval scenes. One CPU thread. Examples (numbers in ``README.md``)::

    OMP_NUM_THREADS=1 python docs/toyworld/diagnose_eye.py --name A --lr 2e-3 --cap 0
    OMP_NUM_THREADS=1 python docs/toyworld/diagnose_eye.py --name B --lr 5e-4 --cap 8

Writes the model and its ``log.jsonl`` to ``/tmp/diagnose_eye_<name>``; prints the metrics.
"""

import argparse
import json

import numpy as np
import torch

from georeason_toyworld.evaluate import eye_metrics, hand_metrics
from georeason_toyworld.pretrain import PretrainConfig, ToyModelSize, make_toy_model, pretrain
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("--name", required=True)
ap.add_argument("--steps", type=int, default=600)
ap.add_argument("--lr", type=float, default=2e-3)
ap.add_argument("--hand", type=int, default=0, help="Hand examples per step (0: Eye-only)")
ap.add_argument("--eye", type=int, default=16, help="Eye examples per step")
ap.add_argument("--cap", type=int, default=0, help="caption examples per step")
ap.add_argument("--nrec", type=int, default=500, help="pretrain scenes")
ap.add_argument("--size", type=int, default=112, help="scene side in pixels")
ap.add_argument("--hidden", type=int, default=128)
ap.add_argument("--layers", type=int, default=3)
ap.add_argument("--vision-hidden", type=int, default=64)
ap.add_argument("--vision-depth", type=int, default=2)
ap.add_argument("--arch", default="qwen3_vl", choices=["qwen3_vl", "qwen2_5_vl"])
a = ap.parse_args()
torch.set_num_threads(1)
pre = build_split("pretrain", a.nrec, 0, size_px=a.size)
evals = {
    f"implicit_{w}": build_split("eval", 100, 0, kind="implicit", wordings=w, size_px=a.size)
    for w in ("train", "heldout")
}
d = f"/tmp/diagnose_eye_{a.name}"
size = ToyModelSize(a.hidden, a.layers, a.vision_hidden, a.vision_depth)
make_toy_model(d, size, seed=0, arch=a.arch)
cfg = PretrainConfig(
    steps=a.steps, hand_batch=a.hand, eye_batch=a.eye, caption_batch=a.cap, lr=a.lr, seed=0
)
r = pretrain(d, pre, cfg, log_path=d + "/log.jsonl")
with open(d + "/log.jsonl", encoding="utf-8") as f:
    log = [json.loads(line) for line in f]
print(vars(a), "train wall", round(r["wall_s"]))
print("eye_loss, mean of the last 5 logged steps", np.mean([x["eye_loss"] for x in log[-5:]]))
print("eye_loss curve", [(x["step"], round(x["eye_loss"], 3)) for x in log[::6]])
for name, recs in evals.items():
    print(name, eye_metrics(d, recs))
if a.hand:
    plain = build_split("eval", 60, 0, kind="plain", wordings="train", size_px=a.size)
    m = hand_metrics(d, plain)
    print("hand plain", {k: v for k, v in m.items() if k != "examples"})
    print("hand_loss curve", [(x["step"], round(x["hand_loss"], 3)) for x in log[::6]])
