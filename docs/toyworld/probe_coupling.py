"""Does the Hand's box follow its reasoning? (2026-12-02; not part of ``georeason-toyworld run``.)

RemoteZero can only teach an implicit query through the reasoning if the box follows what the
reasoning names. This probe writes the reasoning for the policy and lets it write the box
(greedy), on 100 eval scenes of ``--seed`` per query kind (train wordings):

* ``forced_target``: the reasoning names the target (``<think>a swimming pool</think>``):
  Acc@0.5 against the target. On implicit queries this is what a policy whose reasoning RL has
  made right would reach; compare it with the plain Hand.
* ``forced_other``: the reasoning names another object of the scene (of another category):
  ``follow`` = share of boxes with IoU >= 0.5 against *that* object, ``stay`` = share still on
  the query's target. On plain queries a Hand that reads the query stays; one that reads the
  reasoning follows.
* ``free``: the policy writes its own reasoning (greedy Acc@0.5, as ``hand_metrics``).

Kinds: ``plain`` and ``implicit`` eval queries, and ``neutral``: the plain scenes asked with a
:func:`georeason_toyworld.queries.neutral_query` (the think-grounding examples' queries), where
``forced_target`` is the think-grounding skill itself.

One CPU thread; prints one JSON line::

    python docs/toyworld/probe_coupling.py /tmp/probe_hand_D3NV16 --seed 0
"""

import argparse
import json

import numpy as np
import torch

from georeason.geometry import box_iou_matrix
from georeason.models.policy import encode_batch, localization_from_text, model_input_sizes
from georeason_toyworld.cli import apply_overrides
from georeason_toyworld.evaluate import MAX_NEW_TOKENS, record_iou, scene_objects, toy_policy
from georeason_toyworld.pretrain import (
    TOY_MAX_PIXELS,
    hand_target,
    think_text,
)
from georeason_toyworld.queries import neutral_query
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("policy")
ap.add_argument("--adapter", help="LoRA adapter folder (a GRPO run)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--n", type=int, default=100, help="queries per kind")
ap.add_argument("--set", nargs="*", default=[], help="ExperimentSettings overrides KEY=VALUE")
a = ap.parse_args()
torch.set_num_threads(1)
s = apply_overrides(ExperimentSettings(), a.set)
policy = toy_policy(a.policy, a.adapter)
tok = policy.processor.tokenizer


def reasoning_ids(category: str) -> list[int]:
    """Token ids of ``<think>{noun}</think><answer>[[`` cut where the training targets' own
    tokenization cuts (BPE merges across ``</think><answer>``, so a re-tokenised text prefix
    would not be what the Hand saw in pretraining)."""
    head = f"<think>{think_text(category)}</think><answer>[["
    ids = tok(hand_target(category, [111, 111, 111, 111]), add_special_tokens=False)["input_ids"]
    k = max(k for k in range(len(ids) + 1) if head.startswith(tok.decode(ids[:k])))
    return ids[:k]


def answer(recs: list[dict], categories: list[str | None]) -> list:
    """Greedy completions, after the reasoning naming ``categories[i]`` (None: the policy's
    own reasoning), as Localizations in original pixels."""
    out: list = [None] * len(recs)
    for cat in dict.fromkeys(categories):
        idx = [i for i, c in enumerate(categories) if c == cat]
        head = reasoning_ids(cat) if cat is not None else []
        for j in range(0, len(idx), 32):
            part = idx[j : j + 32]
            texts = [policy.prompt_text(recs[i]["query"]) for i in part]
            images = [recs[i]["image"] for i in part]
            inputs = encode_batch(policy.processor, texts, images, None, TOY_MAX_PIXELS)
            resized = model_input_sizes(
                inputs["image_grid_thw"], policy.processor.image_processor.patch_size
            )
            if head:  # append the reasoning to every per-token tensor (text tokens)
                n_tok = inputs["input_ids"].shape[1]
                extra = torch.tensor([head] * len(part), dtype=inputs["input_ids"].dtype)
                for key, val in list(inputs.items()):
                    if key == "input_ids":
                        inputs[key] = torch.cat([val, extra], 1)
                    elif key == "attention_mask":
                        inputs[key] = torch.cat([val, torch.ones_like(extra)], 1)
                    elif val.dim() == 2 and val.shape == (len(part), n_tok):
                        inputs[key] = torch.cat([val, torch.zeros_like(extra).to(val.dtype)], 1)
            with torch.no_grad():
                gen = policy.model.generate(
                    **inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False
                )
            new = tok.batch_decode(gen[:, inputs["input_ids"].shape[1] - len(head) :])
            for i, t, hw in zip(part, new, resized, strict=True):
                t = t.split("<|im_end|>")[0]
                out[i] = localization_from_text(t, recs[i]["image"].size[::-1], hw, policy.frame)
    return out


def iou(loc, box) -> float:
    if loc.boxes_xyxy_px.shape[0] == 0:
        return 0.0
    return float(box_iou_matrix(loc.boxes_xyxy_px[:1], np.asarray([box], float))[0, 0])


result = {"policy": a.policy, "adapter": a.adapter, "seed": a.seed}
for kind in ("plain", "implicit", "neutral"):
    recs = build_split(
        "eval",
        a.n,
        a.seed,
        kind="plain" if kind == "neutral" else kind,
        wordings="train",
        **s.split_kwargs(),
    )
    rng = np.random.default_rng(a.seed)
    if kind == "neutral":  # the plain scenes, asked with a neutral query (neutral_query)
        recs = [dict(r, query=neutral_query(rng)) for r in recs]
    free = answer(recs, [None] * len(recs))
    forced = answer(recs, [r["target_category"] for r in recs])
    others, other_recs = [], []
    for r in recs:
        objs = [o for o in scene_objects(r) if o["category"] != r["target_category"]]
        if objs:
            others.append(objs[int(rng.integers(len(objs)))])
            other_recs.append(r)
    moved = answer(other_recs, [o["category"] for o in others])
    result[kind] = {
        "free_acc50": float(
            np.mean([record_iou(x, r) >= 0.5 for x, r in zip(free, recs, strict=True)])
        ),
        "forced_target_acc50": float(
            np.mean([record_iou(x, r) >= 0.5 for x, r in zip(forced, recs, strict=True)])
        ),
        "forced_other_follow": float(
            np.mean([iou(x, o["box_xyxy_px"]) >= 0.5 for x, o in zip(moved, others, strict=True)])
        ),
        "forced_other_stay": float(
            np.mean([record_iou(x, r) >= 0.5 for x, r in zip(moved, other_recs, strict=True)])
        ),
        "n": len(recs),
        "n_other": len(others),
    }
print(json.dumps(result))
