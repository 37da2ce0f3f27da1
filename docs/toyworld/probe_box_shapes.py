"""Verifier probe (2026-12-02; not part of ``georeason-toyworld run``): mean P(yes) of a verifier
for boxes of several shapes around the target (tight, enlarged, shrunk, target + nearest
neighbour, the nearest other object) on 100 implicit eval scenes (train wordings) of a seed.
Tests whether the verification reward pays for loose or partial boxes. Example::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_box_shapes.py \\
        runs/toyworld_v7b/seed2/models/teacher 2
"""

import sys

import numpy as np
import torch

from georeason.models.verifier import LocalVerifier
from georeason.verifier_inputs import score_views, verifier_images
from georeason_toyworld.evaluate import scene_objects
from georeason_toyworld.pretrain import EYE_MARGIN, TOY_MAX_PIXELS, _iou
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split


def scaled(box: list[float], factor: float, size: int) -> list[float]:
    """``box`` (xyxy px) with its sides scaled by ``factor`` about its centre, clipped."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * factor, (box[3] - box[1]) * factor
    return [max(0, cx - w / 2), max(0, cy - h / 2), min(size, cx + w / 2), min(size, cy + h / 2)]


def centre(box: list[float]) -> np.ndarray:
    return np.asarray([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


torch.set_num_threads(1)
model, seed = sys.argv[1], int(sys.argv[2])
kw = ExperimentSettings().split_kwargs()
records = build_split("eval", 100, seed, kind="implicit", wordings="train", **kw)
verifier = LocalVerifier.from_pretrained(model, max_pixels=TOY_MAX_PIXELS, batch_size=64)
shapes: dict[str, list] = {}
for r in records:
    t = [float(x) for x in r["boxes_xyxy_px"][0]]
    size = r["image"].size[0]
    others = [o["box_xyxy_px"] for o in scene_objects(r) if o["box_xyxy_px"] != t]
    nb = min(others, key=lambda b: float(np.linalg.norm(centre(b) - centre(t))))
    boxes = {
        "the target's box": t,
        "sides x1.3": scaled(t, 1.3, size),
        "sides x1.6": scaled(t, 1.6, size),
        "sides x2.0": scaled(t, 2.0, size),
        "target + nearest neighbour": [
            min(t[0], nb[0]),
            min(t[1], nb[1]),
            max(t[2], nb[2]),
            max(t[3], nb[3]),
        ],
        "sides x0.6": scaled(t, 0.6, size),
        "the nearest other object": nb,
    }
    for name, b in boxes.items():
        views = verifier_images(r["image"], b, "context_crop", EYE_MARGIN, TOY_MAX_PIXELS)
        shapes.setdefault(name, []).append((views, r["query"], _iou(b, t)))
print("| box | mean IoU with target | mean P(yes) | median |\n|---|---|---|---|")
for name, xs in shapes.items():
    p = np.asarray(score_views(verifier, [x[0] for x in xs], [x[1] for x in xs], "context_crop"))
    iou = np.asarray([x[2] for x in xs])
    print(f"| {name} | {iou.mean():.2f} | {p.mean():.2f} | {np.median(p):.2f} |")
