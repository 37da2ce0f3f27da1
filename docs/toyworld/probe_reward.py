"""Does the verification reward rank GRPO's own samples the way IoU does? (2026-12-02; not
part of ``georeason-toyworld run``.)

Samples N answers per implicit query (train wordings, eval scenes of ``--seed``) from a
pretrained toy policy at the run's temperature, scores each with the verification reward of
RemoteZero (:func:`georeason_toyworld.evaluate.sample_best_of_n`: context-crop confidence
minus area penalty) with ``--verifier`` (default: the policy's own model), and compares with
the true IoU, which training never sees. Prints one JSON line. One CPU thread::

    python docs/toyworld/probe_reward.py runs/toyworld_v6/seed0/models/policy \\
        --verifier runs/toyworld_v6/seed0/models/teacher --seed 0
"""

import argparse
import json
from collections import Counter

import numpy as np
import torch
from scipy.stats import spearmanr

from georeason.models.verifier import LocalVerifier
from georeason_toyworld.evaluate import record_iou, sample_best_of_n, toy_policy
from georeason_toyworld.pretrain import TOY_MAX_PIXELS, think_text
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

ap = argparse.ArgumentParser()
ap.add_argument("policy")
ap.add_argument("--adapter", help="LoRA adapter folder of the policy (a GRPO run)")
ap.add_argument("--verifier", help="verifier model folder (default: the policy itself)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--n", type=int, default=100, help="queries")
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(a.seed)
s = ExperimentSettings()
recs = build_split(
    "eval",
    a.n,
    a.seed,
    kind="implicit",
    wordings="train",
    **s.split_kwargs(),
)
policy = toy_policy(a.policy, a.adapter)
if a.verifier:
    eye = LocalVerifier.from_pretrained(a.verifier, max_pixels=TOY_MAX_PIXELS, batch_size=64)
else:
    eye = LocalVerifier(policy.model, policy.processor, max_pixels=TOY_MAX_PIXELS, batch_size=64)
picked = sample_best_of_n(policy, eye, recs, s)
score, iou, named, adv_hit, top_is_hit, groups_with_hit = [], [], [], [], [], 0
distinct, top_share, nouns = [], [], Counter()
for rec, b in zip(recs, picked, strict=True):
    ious = [record_iou(c, rec) for c in b.candidates]
    sc = np.asarray(b.scores, float)
    hit = np.asarray(ious) >= 0.5
    adv = (sc - sc.mean()) / (sc.std(ddof=1) + 1e-4)  # TRL's group-scaled advantage
    if hit.any():
        groups_with_hit += 1
        adv_hit.extend(adv[hit].tolist())
        top_is_hit.append(bool(hit[int(np.argmax(sc))]))
    score.extend(sc.tolist())
    iou.extend(ious)
    want = think_text(rec["target_category"])
    named.extend(want in c.text.split("</think>")[0] for c in b.candidates)
    thinks = [c.parse.reasoning for c in b.candidates]  # exploration over what is named
    distinct.append(len(set(thinks)))
    top_share.append(Counter(thinks).most_common(1)[0][1] / len(thinks))
    nouns.update(thinks)
score_a, iou_a, named_a = np.asarray(score), np.asarray(iou), np.asarray(named)
hit_a = iou_a >= 0.5
out = {
    "samples": int(score_a.size),
    "hit_share": round(float(hit_a.mean()), 3),
    "names_target_share": round(float(named_a.mean()), 3),
    "hit_share_if_named": round(float(hit_a[named_a].mean()), 3) if named_a.any() else None,
    "hit_share_if_not_named": round(float(hit_a[~named_a].mean()), 3),
    "score_hits": round(float(score_a[hit_a].mean()), 3) if hit_a.any() else None,
    "score_misses": round(float(score_a[~hit_a].mean()), 3),
    "misses_scoring_above_0.5": round(float((score_a[~hit_a] > 0.5).mean()), 3),
    "mean_iou_of_misses_above_0.5": round(float(iou_a[~hit_a & (score_a > 0.5)].mean()), 3)
    if (~hit_a & (score_a > 0.5)).any()
    else None,
    "spearman_score_iou": round(float(spearmanr(score_a, iou_a).correlation), 3),
    "groups_with_a_hit": groups_with_hit,
    "top_score_is_a_hit_in_those": round(float(np.mean(top_is_hit)), 3) if top_is_hit else None,
    "mean_advantage_of_hits": round(float(np.mean(adv_hit)), 3) if adv_hit else None,
    "distinct_reasonings_per_group": round(float(np.mean(distinct)), 2),
    "top_reasoning_share_per_group": round(float(np.mean(top_share)), 3),
    "reasonings": dict(nouns.most_common(9)),
}
print(json.dumps(out))
