"""Where the Hand's boxes land (2026-12-02; not part of ``georeason-toyworld run``).

Greedy boxes of a pretrained toy policy on grid scenes (plain expressions, train wordings) of
one seed: the share whose centre falls in the target's grid cell, in another object's cell or
in an empty cell (with Acc@0.5 within each), the column and row accuracy of the centre, and the
column / row accuracy split by whether the target's x1 / y1 is written with fewer than three
digits in the 0-1000 frame (``72`` rather than ``072``). One CPU thread::

    python docs/toyworld/probe_cells.py /tmp/probe_hand_D3N --seed 0 --grid 3 --size 96
"""

import argparse
import json

import numpy as np
import torch

from georeason.geometry import boxes_to_model_frame
from georeason.models.policy import Policy
from georeason_toyworld.evaluate import MAX_NEW_TOKENS, record_iou, scene_objects
from georeason_toyworld.pretrain import TOY_MAX_PIXELS, TOY_POLICY_TEMPLATE, grid_cell_of_box
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("policy")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--grid", type=int, default=3)
ap.add_argument("--size", type=int, default=96)
ap.add_argument("--split", default="eval", choices=["eval", "pretrain"])
ap.add_argument("--n", type=int, default=100)
a = ap.parse_args()
torch.set_num_threads(1)
kw = {"size_px": a.size, "layout": "grid", "grid_cells": a.grid}
if a.split == "eval":
    recs = build_split("eval", a.n, a.seed, kind="plain", wordings="train", **kw)
else:
    recs = build_split("pretrain", a.n, a.seed, **kw)
policy = Policy.from_pretrained(
    a.policy, max_pixels=TOY_MAX_PIXELS, device="cpu", prompt_template=TOY_POLICY_TEMPLATE
)
locs = policy.locate(
    [r["image"] for r in recs], [r["query"] for r in recs], max_new_tokens=MAX_NEW_TOKENS
)


def cell(box):
    return grid_cell_of_box(box, a.size, a.grid)


where: dict[str, list[float]] = {"target": [], "other_object": [], "empty": [], "no_box": []}
col, row, short_x, short_y = [], [], [], []
for rec, loc in zip(recs, locs, strict=True):
    iou = record_iou(loc, rec)
    target = rec["boxes_xyxy_px"][0]
    hw = (a.size, a.size)
    x1, y1 = boxes_to_model_frame(np.asarray([target], float), "norm1000", hw, hw)[0][:2]
    short_x.append(round(float(x1)) < 100)  # written with fewer than three digits
    short_y.append(round(float(y1)) < 100)
    if not len(loc.boxes_xyxy_px):
        where["no_box"].append(iou)
        col.append(False)
        row.append(False)
        continue
    c, t = cell(loc.boxes_xyxy_px[0]), cell(target)
    occupied = {cell(o["box_xyxy_px"]) for o in scene_objects(rec)}
    key = "target" if c == t else ("other_object" if c in occupied else "empty")
    where[key].append(iou)
    col.append(c[0] == t[0])
    row.append(c[1] == t[1])
col_a, row_a, sx, sy = (np.asarray(v, bool) for v in (col, row, short_x, short_y))
out = {
    "n": len(recs),
    "centre_in": {k: round(len(v) / len(recs), 3) for k, v in where.items()},
    "acc50_within": {
        k: round(float(np.mean(np.asarray(v) >= 0.5)), 3) for k, v in where.items() if v
    },
    "column_acc": round(float(col_a.mean()), 3),
    "row_acc": round(float(row_a.mean()), 3),
    "column_acc_x1_short": round(float(col_a[sx].mean()), 3) if sx.any() else None,
    "column_acc_x1_3digit": round(float(col_a[~sx].mean()), 3) if (~sx).any() else None,
    "row_acc_y1_short": round(float(row_a[sy].mean()), 3) if sy.any() else None,
    "row_acc_y1_3digit": round(float(row_a[~sy].mean()), 3) if (~sy).any() else None,
}
print(json.dumps(out))
