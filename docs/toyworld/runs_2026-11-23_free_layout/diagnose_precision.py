"""Hand precision and Eye grading probe of 2026-11-23 (not part of ``georeason-toyworld run``).

On the pretrained seed-0 policy of a finished run (RUN/seed0/models/policy):

* Hand: greedy answers on 80 pretrain scenes (seen in SFT) and 80 eval scenes (plain
  expressions): Acc@0.5, mIoU, median and 90th percentile absolute corner errors (pixels).
* Eye: verifier confidence on context crops of the target's box jittered at several scales,
  binned by IoU with the target (60 eval scenes, implicit queries, train wordings).

    OMP_NUM_THREADS=1 python docs/toyworld/diagnose_precision.py runs/toyworld_v3
"""

import sys

import numpy as np
import torch

from georeason.geometry import box_iou_matrix
from georeason.models.policy import Policy
from georeason.models.verifier import LocalVerifier
from georeason.rewards.verification import crop_for_verifier
from georeason_toyworld import build_split
from georeason_toyworld.pretrain import TOY_MAX_PIXELS, TOY_POLICY_TEMPLATE, _iou, _jitter

torch.set_num_threads(1)
d = f"{sys.argv[1]}/seed0/models/policy"
pol = Policy.from_pretrained(
    d, max_pixels=TOY_MAX_PIXELS, device="cpu", prompt_template=TOY_POLICY_TEMPLATE
)
sets = {
    "pretrain (seen)": build_split("pretrain", 4000, 0)[:80],
    "eval plain": build_split("eval", 80, 0, kind="plain", wordings="train"),
}
for name, recs in sets.items():
    locs = pol.locate([r["image"] for r in recs], [r["query"] for r in recs], max_new_tokens=32)
    errs, ious = [], []
    for r, loc in zip(recs, locs, strict=True):
        if len(loc.boxes_xyxy_px) == 0:
            continue
        gt, b = np.array(r["boxes_xyxy_px"][0]), np.array(loc.boxes_xyxy_px[0])
        errs.append(np.abs(b - gt))
        ious.append(box_iou_matrix(b[None], gt[None])[0, 0])
    errs, ious = np.array(errs), np.array(ious)
    print(
        name,
        "n",
        len(ious),
        "acc50",
        round(float((ious >= 0.5).mean()), 3),
        "mIoU",
        round(float(ious.mean()), 3),
        "median abs err px",
        np.median(errs, 0).round(1),
        "p90",
        np.percentile(errs, 90, axis=0).round(1),
    )
v = LocalVerifier.from_pretrained(d, max_pixels=TOY_MAX_PIXELS, device="cpu", batch_size=64)
rng = np.random.default_rng(0)
crops, texts, ious = [], [], []
for r in build_split("eval", 60, 0, kind="implicit", wordings="train"):
    t = r["boxes_xyxy_px"][0]
    for scale in (0.05, 0.15, 0.3, 0.5):
        for _ in range(3):
            b = _jitter(t, rng, scale, 112)
            crops.append(crop_for_verifier(r["image"], b, 0.15))
            texts.append(r["query"])
            ious.append(_iou(b, t))
conf, ious = np.asarray(v.score(crops, texts)), np.asarray(ious)
for lo, hi in ((0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01)):
    m = (ious >= lo) & (ious < hi)
    print(f"Eye: IoU [{lo}, {hi}) n={int(m.sum())} mean confidence {conf[m].mean():.3f}")
