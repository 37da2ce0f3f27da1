"""Toy-world evaluation of the Hand (policy boxes) and the Eye (verifier yes/no confidence).

* Hand: greedy decoding of the policy on (image, query); the answer's boxes (original pixels,
  :func:`georeason.models.policy.localization_from_text`) are scored against the target box with
  :func:`georeason.eval.metrics.box_sample_iou` (Hungarian-matched IoU; an unreadable answer is
  a miss). Acc@0.5 = share of samples with IoU >= 0.5 (the field's metric, RemoteZero Table 1).
* Eye: for every object of the (regenerated) scene, the verifier scores the RemoteZero context
  crop (margin 0.15) of the object's exact box with the query. ``select_acc`` = share of scenes
  whose target crop scores highest (the Eye picking the right object among the scene's objects,
  i.e. a Hand that proposes only exact object boxes would reach this Acc@0.5); ``pair_acc`` =
  share of (crop, query) pairs judged right at confidence 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from georeason.eval.metrics import box_sample_iou
from georeason.verifier_inputs import score_views, verifier_images
from georeason_toyworld.pretrain import (
    EYE_MARGIN,
    TOY_MAX_PIXELS,
    TOY_POLICY_TEMPLATE,
    think_text,
)
from georeason_toyworld.scenes import generate_scene

#: Completion budget of the toy policy (ours: the SFT targets are about 25 tokens).
MAX_NEW_TOKENS = 32


def record_iou(loc: Any, record: dict[str, Any]) -> float:
    """IoU of one answer with an eval record's target boxes, in ``[0, 1]``.

    Args:
        loc: a :class:`georeason.models.policy.Localization` (boxes ``(K, 4)`` xyxy, original
            pixels).
        record: an eval record with ``boxes_xyxy_px`` (xyxy, original pixels).

    Returns:
        :func:`georeason.eval.metrics.box_sample_iou` (Hungarian-matched mean IoU, RemoteReasoner
        eq. 4); 0.0 for an answer with no readable box.
    """
    return box_sample_iou(loc.boxes_xyxy_px, record["boxes_xyxy_px"], parsed=loc.parse.parsed)


def sample_best_of_n(policy: Any, eye: Any, records: Sequence[dict[str, Any]], s: Any) -> list:
    """Rung 2's Generate-Crop-Verify with the run's settings ``s``
    (:class:`georeason_toyworld.settings.ExperimentSettings`): ``s.bestofn_samples`` answers per
    record at ``s.temperature``, each scored by ``eye`` with RemoteZero's verification reward
    (context margin, area penalty weight and threshold from ``s``).

    Returns:
        One :class:`georeason.bestofn.BestOfN` per record, in order.
    """
    from georeason.bestofn import best_of_n

    return best_of_n(
        policy,
        eye,
        [r["image"] for r in records],
        [r["query"] for r in records],
        n=s.bestofn_samples,
        temperature=s.temperature,
        margin_ratio=s.margin_ratio,
        area_penalty_weight=s.area_penalty_weight,
        area_threshold=s.area_threshold,
        max_new_tokens=MAX_NEW_TOKENS,
        batch_size=64,
    )


def toy_policy(
    model_dir: str | Path, adapter: str | Path | None = None, device: str = "cpu"
) -> Any:
    """A :class:`georeason.models.policy.Policy` of a toy checkpoint, with the toy pixel budget
    (:data:`~georeason_toyworld.pretrain.TOY_MAX_PIXELS`) and prompt
    (:data:`~georeason_toyworld.pretrain.TOY_POLICY_TEMPLATE`) it was trained with.

    Args:
        model_dir: policy checkpoint folder; adapter: LoRA adapter folder (a GRPO run) or None;
        device: ``"cpu"`` or ``"cuda"``.

    Raises:
        georeason.errors.ModelLoadError: as :meth:`georeason.models.policy.Policy.from_pretrained`.
    """
    from georeason.models.policy import Policy

    return Policy.from_pretrained(
        model_dir,
        adapter=adapter,
        max_pixels=TOY_MAX_PIXELS,
        device=device,
        prompt_template=TOY_POLICY_TEMPLATE,
    )


def hand_metrics(
    model_dir: str | Path,
    records: Sequence[dict[str, Any]],
    adapter: str | Path | None = None,
    batch_size: int = 32,
    device: str = "cpu",
) -> dict[str, Any]:
    """Acc@0.5, mean IoU, format rate, box area and reasoning hit rate of a policy.

    Args:
        model_dir: policy checkpoint folder (toy Qwen2.5-VL).
        records: eval records (``image`` PIL RGB, ``query``, ``boxes_xyxy_px`` xyxy original
            pixels, ``target_category``).
        adapter: LoRA adapter folder on top of ``model_dir`` (a GRPO run), or None.
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        ``{"acc50", "miou", "format_rate", "box_area_ratio", "target_area_ratio",
        "think_hit_rate", "n"}``; rates in ``[0, 1]``; ``box_area_ratio`` = mean area of the
        first box / image area over parsed answers (``target_area_ratio``: the same for the
        target boxes); ``think_hit_rate`` = share of answers whose reasoning names the target's
        category (:func:`georeason_toyworld.pretrain.think_text`).
    """
    policy = toy_policy(model_dir, adapter, device)
    locs = policy.locate(
        [r["image"] for r in records],
        [r["query"] for r in records],
        max_new_tokens=MAX_NEW_TOKENS,
        batch_size=batch_size,
    )
    ious, areas, hits, fmt, target_areas = [], [], [], [], []
    for rec, loc in zip(records, locs, strict=True):
        ious.append(record_iou(loc, rec))
        fmt.append(bool(loc.parse.format_ok))
        t = rec["boxes_xyxy_px"][0]
        target_areas.append(
            float((t[2] - t[0]) * (t[3] - t[1])) / float(loc.original_hw[0] * loc.original_hw[1])
        )
        hits.append(think_text(rec["target_category"]) in loc.text.split("</think>")[0])
        if len(loc.boxes_xyxy_px):
            b = loc.boxes_xyxy_px[0]
            h, w = loc.original_hw
            areas.append(float((b[2] - b[0]) * (b[3] - b[1])) / float(h * w))
    ious_arr = np.asarray(ious, float)
    return {
        "acc50": float(np.mean(ious_arr >= 0.5)) if len(ious) else 0.0,
        "miou": float(np.mean(ious_arr)) if len(ious) else 0.0,
        "format_rate": float(np.mean(fmt)) if fmt else 0.0,
        "box_area_ratio": float(np.mean(areas)) if areas else float("nan"),
        "target_area_ratio": float(np.mean(target_areas)) if target_areas else float("nan"),
        "think_hit_rate": float(np.mean(hits)) if hits else 0.0,
        "n": len(records),
        "examples": [loc.text for loc in locs[:3]],
    }


def scene_objects(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of an eval record's scene, regenerated from its ``scene_seed``.

    Returns:
        ``[{"category", "box_xyxy_px"}]`` (xyxy, original pixels).

    Raises:
        RuntimeError: if the regenerated target box differs from the record's (the generator
            changed since the record was built).
    """
    size = record["image"].size[0]
    scene = generate_scene(
        int(record["scene_seed"]),
        size,
        required=(record["target_category"],),
        layout=record.get("layout", "free"),
        grid_cells=int(record.get("grid_cells", 4)),
    )
    objs = [{"category": o.category, "box_xyxy_px": list(o.bbox_xyxy_px)} for o in scene.objects]
    target = [float(v) for v in record["boxes_xyxy_px"][0]]
    if not any(o["box_xyxy_px"] == target for o in objs):
        raise RuntimeError(f"scene {record['scene_seed']} does not reproduce its target box")
    return objs


def score_scene_objects(
    verifier: Any, records: Sequence[dict[str, Any]], input_mode: str = "context_crop"
) -> list[dict[str, Any]]:
    """The verifier's confidence for every object of every eval record's scene, asked the
    record's query (one batched :func:`georeason.verifier_inputs.score_views` call).

    Returns:
        one ``{"record", "category", "box_xyxy_px", "is_target", "score"}`` per object, in
        record order; ``record`` is the index into ``records``, ``box_xyxy_px`` xyxy original
        pixels, ``score`` P(yes) in ``[0, 1]``.
    """
    objects, views, queries = [], [], []
    for i, rec in enumerate(records):
        target = [float(v) for v in rec["boxes_xyxy_px"][0]]
        for o in scene_objects(rec):
            box = o["box_xyxy_px"]
            objects.append({"record": i, **o, "is_target": box == target})
            views.append(verifier_images(rec["image"], box, input_mode, EYE_MARGIN, TOY_MAX_PIXELS))
            queries.append(rec["query"])
    scores = score_views(verifier, views, queries, input_mode)
    return [{**o, "score": float(s)} for o, s in zip(objects, scores, strict=True)]


def eye_metrics(
    model_dir: str | Path,
    records: Sequence[dict[str, Any]],
    adapter: str | Path | None = None,
    device: str = "cpu",
    input_mode: str = "context_crop",
) -> dict[str, Any]:
    """The Eye's accuracy on eval records (module docstring: ``select_acc``, ``pair_acc``).

    ``input_mode`` is what the verifier sees of each object (:mod:`georeason.verifier_inputs`;
    the toy Eye is pretrained on context crops only, so the other modes measure transfer).

    Returns:
        ``{"select_acc", "pair_acc", "conf_target", "conf_other", "chance_select", "n"}``;
        ``conf_*`` are mean confidences of target and non-target crops; ``chance_select`` is the
        mean of 1 / (objects in the scene).
    """
    from georeason.models.verifier import LocalVerifier

    verifier = LocalVerifier.from_pretrained(
        model_dir, adapter=adapter, max_pixels=TOY_MAX_PIXELS, batch_size=64, device=device
    )
    scored = score_scene_objects(verifier, records, input_mode)
    scores = np.asarray([o["score"] for o in scored], float)
    owner_arr = np.asarray([o["record"] for o in scored])
    tgt = np.asarray([o["is_target"] for o in scored], bool)
    select, chance = [], []
    for i in range(len(records)):
        m = owner_arr == i
        s, t = scores[m], tgt[m]
        select.append(bool(t[int(np.argmax(s))]))
        chance.append(1.0 / int(m.sum()))
    pair_ok = np.where(tgt, scores >= 0.5, scores < 0.5)
    return {
        "select_acc": float(np.mean(select)),
        "pair_acc": float(np.mean(pair_ok)),
        "conf_target": float(scores[tgt].mean()),
        "conf_other": float(scores[~tgt].mean()) if (~tgt).any() else float("nan"),
        "chance_select": float(np.mean(chance)),
        "n": len(records),
    }
