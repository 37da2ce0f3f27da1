"""Hand/Eye probe of the redesigned toy (2026-12-01; not part of ``georeason-toyworld run``).

Pretrains a fresh toy policy (:class:`~georeason_toyworld.pretrain.ToyModelSize` defaults,
seed ``--seed``, default 0) with the real :func:`georeason_toyworld.pretrain.pretrain` on NREC
pretrain scenes of that seed, then measures, on 100 eval scenes of that seed each, the Hand
(greedy) on plain expressions and on implicit queries (train wordings), and the Eye's selection
accuracy on implicit queries
(train wordings). One CPU thread. Example (numbers in ``README.md``)::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_hand.py --name G1 --layout grid --size 128

Writes the model and its ``log.jsonl`` to ``/tmp/probe_hand_<name>``; prints a JSON line.
"""

import argparse
import json
import time

import torch

from georeason_toyworld.evaluate import eye_metrics, hand_metrics
from georeason_toyworld.pretrain import PretrainConfig, ToyModelSize, make_toy_model, pretrain
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("--name", required=True)
ap.add_argument("--steps", type=int, default=600)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--hand", type=int, default=32)
ap.add_argument("--eye", type=int, default=16)
ap.add_argument("--cap", type=int, default=8)
ap.add_argument("--ground", type=int, default=0, help="think-grounding examples per step")
ap.add_argument("--ground-queries", default="fixed", choices=["fixed", "varied"])
ap.add_argument(
    "--no-position", action="store_true", help="pretraining expressions without position phrases"
)
ap.add_argument(
    "--no-position-eval", action="store_true", help="plain eval expressions without them too"
)
ap.add_argument("--detect", type=int, default=0, help="scene-listing examples per step")
ap.add_argument("--think-cells", type=int, default=0, help="name the grid cell in the think")
ap.add_argument("--coord-digits", type=int, default=0, help="zero-pad coordinates to N digits")
ap.add_argument("--grid", type=int, default=4, help="grid cells per side")
ap.add_argument("--nrec", type=int, default=2000)
ap.add_argument("--size", type=int, default=128)
ap.add_argument("--layout", default="grid", choices=["grid", "free"])
ap.add_argument(
    "--num-categories",
    type=int,
    nargs=2,
    metavar=("LO", "HI"),
    help="categories per scene (generate_scene's num_categories; default its own 3-5)",
)
ap.add_argument(
    "--init", help="continue from this pretrained model folder (copied) instead of a new model"
)
ap.add_argument("--neval", type=int, default=100)
ap.add_argument("--seed", type=int, default=0, help="split and model seed")
ap.add_argument("--hidden", type=int, default=ToyModelSize.hidden, help="language model width")
ap.add_argument("--layers", type=int, default=ToyModelSize.layers, help="language model depth")
a = ap.parse_args()
torch.set_num_threads(1)
t0 = time.time()
if a.num_categories:  # every split of this probe draws scenes with LO-HI categories
    import functools

    from georeason_toyworld import evaluate, scenes, splits

    splits.generate_scene = evaluate.generate_scene = functools.partial(
        scenes.generate_scene, num_categories=tuple(a.num_categories)
    )
kw = {"size_px": a.size, "layout": a.layout, "grid_cells": a.grid}
pre = build_split("pretrain", a.nrec, a.seed, position_phrases=not a.no_position, **kw)
plain = build_split(
    "eval",
    a.neval,
    a.seed,
    kind="plain",
    wordings="train",
    position_phrases=not a.no_position_eval,
    **kw,
)
implicit = build_split("eval", a.neval, a.seed, kind="implicit", wordings="train", **kw)
d = f"/tmp/probe_hand_{a.name}"
if a.init:  # a second pretraining stage on a copy of an earlier probe's model
    import shutil

    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(a.init, d, ignore=shutil.ignore_patterns("log.jsonl"))
else:
    make_toy_model(d, ToyModelSize(hidden=a.hidden, layers=a.layers), seed=a.seed)
cfg = PretrainConfig(
    steps=a.steps, hand_batch=a.hand, eye_batch=a.eye, caption_batch=a.cap, lr=a.lr, seed=a.seed
)
cfg.ground_batch, cfg.detect_batch, cfg.think_cells = a.ground, a.detect, a.think_cells
cfg.coord_digits, cfg.ground_queries = a.coord_digits, a.ground_queries
r = pretrain(d, pre, cfg, log_path=d + "/log.jsonl")
out = {"args": vars(a), "train_wall_s": round(r["wall_s"]), "final_loss": r["final_loss"]}
for name, recs in (("plain", plain), ("implicit_train", implicit)):
    m = hand_metrics(d, recs)
    out[name] = {k: m[k] for k in ("acc50", "miou", "think_hit_rate", "box_area_ratio")}
out["eye_implicit_train"] = eye_metrics(d, implicit)
out["wall_s"] = round(time.time() - t0)
print(json.dumps(out))
