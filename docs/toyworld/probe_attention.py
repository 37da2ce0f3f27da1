"""Where does the Hand look when it writes a box? (2026-12-02; not part of
``georeason-toyworld run``.)

Teacher-forces the Hand's own SFT target (:func:`georeason_toyworld.pretrain.hand_target`) on
``--n`` plain eval scenes of ``--seed`` (eager attention) and reads, at the position that predicts
the first digit of x1, per language-model layer (mean over heads):

* ``image_mass``: attention mass on the visual tokens (they are ``image_tokens`` of ``tokens``);
* ``target_share``: of that mass, the share on the target's visual token (chance: 1 / cells²);
* ``object_share``: the share on tokens whose cell holds any object (chance: ``object_chance``).

Visual tokens are in row-major order of the merged grid (Qwen-VL's order); a cell is the grid
cell of a box centre (:func:`georeason_toyworld.pretrain.grid_cell_of_box`). Grid layout only.
One CPU thread; prints one JSON line::

    OMP_NUM_THREADS=1 python docs/toyworld/probe_attention.py /tmp/probe_hand_D3N --seed 0
"""

import argparse
import json

import numpy as np
import torch

from georeason.geometry import boxes_to_model_frame
from georeason.models.loading import load_model_and_processor
from georeason.models.policy import encode_batch
from georeason.prompts import policy_messages
from georeason_toyworld.cli import apply_overrides
from georeason_toyworld.evaluate import scene_objects
from georeason_toyworld.pretrain import (
    TOY_MAX_PIXELS,
    TOY_POLICY_TEMPLATE,
    grid_cell_of_box,
    hand_target,
)
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("policy")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--n", type=int, default=16, help="plain eval scenes")
ap.add_argument("--set", nargs="*", default=[], help="ExperimentSettings overrides KEY=VALUE")
a = ap.parse_args()
torch.set_num_threads(1)
s = apply_overrides(ExperimentSettings(), a.set)
cells, side = s.grid_cells, s.scene_px
lm = load_model_and_processor(a.policy, max_pixels=TOY_MAX_PIXELS, device="cpu")
model, proc = lm.model, lm.processor
for cfg in (model.config, model.config.text_config):
    cfg._attn_implementation = "eager"  # sdpa returns no attention weights
recs = build_split(
    "eval", a.n, a.seed, kind="plain", wordings="train", size_px=side, layout="grid",
    grid_cells=cells, position_phrases=s.position_phrases,
)  # fmt: skip
mass, target, objects, chance = [], [], [], []
for r in recs:
    box = boxes_to_model_frame(np.asarray([r["boxes_xyxy_px"][0]], float), lm.frame,
                               (side, side), (side, side))[0]  # fmt: skip
    prompt = proc.apply_chat_template(
        policy_messages(r["query"], lm.frame, TOY_POLICY_TEMPLATE),
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = encode_batch(
        proc, [prompt + hand_target(r["target_category"], box)], [r["image"]], None, TOY_MAX_PIXELS
    )
    with torch.no_grad():
        att = model(**inputs, output_attentions=True).attentions  # layers x (1, H, T, T)
    ids = inputs["input_ids"][0]
    is_img = ids == model.config.image_token_id
    if int(is_img.sum()) != cells * cells:
        raise SystemExit(f"expected {cells * cells} visual tokens, got {int(is_img.sum())}")
    toks = proc.tokenizer.convert_ids_to_tokens(ids)
    k = [i for i, t in enumerate(toks) if t.endswith("[[")][-1]  # predicts x1's first digit
    col, row = grid_cell_of_box(r["boxes_xyxy_px"][0], side, cells)
    occupied = {grid_cell_of_box(o["box_xyxy_px"], side, cells) for o in scene_objects(r)}
    chance.append(len(occupied) / cells**2)
    per_layer = []
    for layer in att:
        w = layer[0, :, k, is_img].mean(0)  # (cells², ) mean over heads
        share = w / w.sum()
        per_layer.append(
            (
                float(w.sum()),
                float(share[row * cells + col]),
                float(sum(share[y * cells + x] for x, y in occupied)),
            )
        )
    mass.append([p[0] for p in per_layer])
    target.append([p[1] for p in per_layer])
    objects.append([p[2] for p in per_layer])
print(
    json.dumps(
        {
            "policy": a.policy,
            "n": len(recs),
            "tokens": len(ids),
            "image_tokens": cells * cells,
            "image_mass": np.round(np.mean(mass, 0), 3).tolist(),
            "target_share": np.round(np.mean(target, 0), 3).tolist(),
            "target_chance": round(1 / cells**2, 3),
            "object_share": np.round(np.mean(objects, 0), 3).tolist(),
            "object_chance": round(float(np.mean(chance)), 3),
        }
    )
)
