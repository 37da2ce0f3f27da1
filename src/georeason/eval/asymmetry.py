"""Eye vs Hand: does a model verify regions better than it localizes them?

RemoteZero (arXiv 2605.04451, section 2) rests on this asymmetry: an MLLM judging "does this
region satisfy the query?" (the Eye) is more reliable than the same MLLM writing the region's
coordinates (the Hand), so a verifier's confidence can reward a policy without box annotations.
This module measures both on one dataset with ground-truth boxes:

* **Hand**: the policy's greedy Acc@0.5 (the region task, :mod:`georeason.eval.metrics`).
* **Eye, selection**: per sample, the verifier scores every candidate box: the ground-truth
  targets and distractors (:func:`candidate_boxes`); ``eye_select_acc`` is the share of samples
  where a target scores highest (a tie at the top counts as the share of targets among the tied,
  the expected accuracy of a random tie-break), ``eye_select_chance`` the same for scores drawn at
  random: ``n_targets / n_candidates`` averaged over samples.
* **Eye, pairs**: ``eye_pair_acc``, the share of (target, distractor) pairs of a sample where the
  target scores higher (ties count 1/2): the AUC of the verifier's confidence as a target
  detector, pooled over the pairs of all samples.
* **Calibration**: ``eye_ece``, the expected calibration error of P(yes) as the probability that
  a candidate is a target, over all candidates, with :data:`ECE_BINS` equal-width bins
  (Guo et al., ICML 2017, eq. 3: ``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|``).
* ``asymmetry = eye_select_acc - hand_acc50`` in percentage points.

Shares are percentages; ECE is a fraction. Samples without a target count for the Hand only.
Note that selection among a few candidates is an easier task than free localization; that is
exactly the gap a verification reward exploits, so the two numbers are compared as the paper
compares them.

Defaults the paper does not fix (ours): :data:`DEFAULT_DISTRACTORS` = 4 distractors per sample,
at most :data:`DEFAULT_MAX_TARGETS` = 8 targets verified per sample (the first ones), an
annotated object is a distractor when its IoU with every target is below
:data:`DISTRACTOR_MAX_IOU` = 0.1, and a random distractor keeps a target's size (then half, then
a quarter of it, :data:`RANDOM_SIZE_STEPS`, when there is no room) and is drawn uniformly in the
image until its IoU with every target and earlier distractor is below that. A sample left
without any distractor counts for calibration only (selection among targets alone says
nothing).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from georeason.geometry import as_boxes_xyxy, box_iou_matrix

DEFAULT_DISTRACTORS = 4
DEFAULT_MAX_TARGETS = 8
DISTRACTOR_MAX_IOU = 0.1
ECE_BINS = 10
_MAX_TRIES = 200  # random placements per distractor and size before giving up (ours)
#: Sizes tried for random distractors, as fractions of the target's (ours): a target covering
#: most of the image leaves no room for a same-size box that does not overlap it.
RANDOM_SIZE_STEPS: tuple[float, ...] = (1.0, 0.5, 0.25)


@dataclass(frozen=True)
class Candidates:
    """The boxes a verifier judges for one sample.

    Attributes:
        boxes_xyxy_px: ``(K, 4)`` float64, original pixels; targets first.
        is_target: ``(K,)`` bool.
        sources: per box, ``"target"``, ``"annotated"`` (another object of the image) or
            ``"random"``.
    """

    boxes_xyxy_px: np.ndarray
    is_target: np.ndarray
    sources: tuple[str, ...]


def _seed_for(sample_id: str, seed: int) -> int:
    return (zlib.crc32(sample_id.encode("utf-8")) + 1_000_003 * int(seed)) % (2**32)


def _far_from(box: np.ndarray, others: np.ndarray) -> bool:
    if len(others) == 0:
        return True
    return bool(box_iou_matrix(box[None], others).max() < DISTRACTOR_MAX_IOU)


def candidate_boxes(
    sample_id: str,
    targets_xyxy_px: np.ndarray,
    others_xyxy_px: np.ndarray,
    width: int,
    height: int,
    n_distractors: int = DEFAULT_DISTRACTORS,
    max_targets: int = DEFAULT_MAX_TARGETS,
    seed: int = 0,
) -> Candidates:
    """Targets and distractors of one sample (rules and defaults in the module docstring).

    Annotated distractors (``others_xyxy_px``: other objects annotated on the same image) come
    first, in a seeded random order; random boxes at the targets' sizes fill up to
    ``n_distractors``. The draw depends only on ``sample_id`` and ``seed`` (reproducible, and
    the same on resume).

    Args:
        sample_id: the sample's id (seeds the draw).
        targets_xyxy_px: ``(T, 4)`` ground-truth boxes, original pixels.
        others_xyxy_px: ``(M, 4)`` other annotated boxes of the image (may overlap targets:
            those are skipped).
        width, height: image size in pixels.
        n_distractors: distractors wanted (fewer when the image has no room).
        max_targets: at most this many targets are kept (the first ones).
        seed: global seed.

    Returns:
        :class:`Candidates` (no distractors and no targets when ``targets_xyxy_px`` is empty).
    """
    targets = as_boxes_xyxy(targets_xyxy_px)[:max_targets]
    if len(targets) == 0:
        return Candidates(np.zeros((0, 4)), np.zeros(0, bool), ())
    rng = np.random.default_rng(_seed_for(sample_id, seed))
    chosen: list[np.ndarray] = []
    sources: list[str] = []

    def taken() -> np.ndarray:  # targets and the distractors chosen so far
        return np.vstack([targets, *chosen])

    others = as_boxes_xyxy(others_xyxy_px)
    for j in rng.permutation(len(others)):
        if len(chosen) >= n_distractors:
            break
        box = others[j]
        if box[2] > box[0] and box[3] > box[1] and _far_from(box, taken()):
            chosen.append(box)
            sources.append("annotated")
    for shrink in RANDOM_SIZE_STEPS:
        k = 0
        while len(chosen) < n_distractors and k < n_distractors * _MAX_TRIES:
            t = targets[len(chosen) % len(targets)]
            bw = min((t[2] - t[0]) * shrink, width)
            bh = min((t[3] - t[1]) * shrink, height)
            x1 = rng.uniform(0.0, max(0.0, width - bw))
            y1 = rng.uniform(0.0, max(0.0, height - bh))
            box = np.array([x1, y1, x1 + bw, y1 + bh])
            if _far_from(box, taken()):
                chosen.append(box)
                sources.append("random")
            k += 1
    boxes = taken()
    is_target = np.arange(len(boxes)) < len(targets)
    return Candidates(
        boxes.astype(np.float64), is_target, ("target",) * len(targets) + tuple(sources)
    )


def selection_score(scores: Sequence[float], is_target: Sequence[bool]) -> float:
    """1 if a target has the highest score, 0 if a distractor has; on a tie at the top, the
    share of targets among the tied (the expected accuracy of a random tie-break).

    Raises:
        ValueError: no candidates, or lengths differ.

    Examples:
        >>> selection_score([0.9, 0.2, 0.4], [True, False, False])
        1.0
        >>> selection_score([0.5, 0.5, 0.1], [True, False, False])
        0.5
    """
    s, t = np.asarray(scores, float), np.asarray(is_target, bool)
    if len(s) == 0 or len(s) != len(t):
        raise ValueError(f"need as many scores as flags, at least one ({len(s)} vs {len(t)})")
    top = s == s.max()
    return float(t[top].sum() / top.sum())


def pair_counts(scores: Sequence[float], is_target: Sequence[bool]) -> tuple[float, int]:
    """(correctly ordered target-distractor pairs, ties counting 1/2; number of pairs).

    Examples:
        >>> pair_counts([0.9, 0.2, 0.9], [True, False, False])
        (1.5, 2)
    """
    s, t = np.asarray(scores, float), np.asarray(is_target, bool)
    pos, neg = s[t], s[~t]
    if len(pos) == 0 or len(neg) == 0:
        return 0.0, 0
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum()), int(diff.size)


def reliability_bins(
    confidences: Sequence[float], labels: Sequence[bool], n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Equal-width bins over ``[0, 1]`` (the last one closed): per non-empty bin its ``lo``,
    ``hi``, ``count``, mean ``confidence`` and ``accuracy`` (share of targets)."""
    c, y = np.asarray(confidences, float), np.asarray(labels, bool)
    idx = np.clip((c * n_bins).astype(int), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "lo": b / n_bins,
                    "hi": (b + 1) / n_bins,
                    "count": int(m.sum()),
                    "confidence": float(c[m].mean()),
                    "accuracy": float(y[m].mean()),
                }
            )
    return out


def expected_calibration_error(
    confidences: Sequence[float], labels: Sequence[bool], n_bins: int = ECE_BINS
) -> float:
    """ECE (Guo et al. 2017, eq. 3) with ``n_bins`` equal-width bins; NaN without samples.

    Examples:
        >>> expected_calibration_error([0.9, 0.9, 0.1, 0.1], [True, False, False, False])
        0.25
    """
    n = len(confidences)
    if n == 0:
        return float("nan")
    bins = reliability_bins(confidences, labels, n_bins)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins))


def summarize_eye(records: Sequence[dict[str, Any]], hand_acc50: float) -> dict[str, float]:
    """The asymmetry metrics from per-sample records.

    Args:
        records: dicts with an ``"eye"`` entry ``{"scores": [...], "is_target": [...]}`` (or
            None for a sample without target).
        hand_acc50: the policy's Acc@0.5 on the same samples, in percent.

    Returns:
        ``hand_acc50``, ``eye_select_acc``, ``eye_select_chance``, ``eye_pair_acc``,
        ``asymmetry`` (percent / percentage points), ``eye_ece`` (fraction), ``eye_samples``
        (samples with a target and a distractor), ``eye_pairs``; NaN where nothing was scored.
    """
    select, chance, confs, labels = [], [], [], []
    correct, pairs = 0.0, 0
    for rec in records:
        eye = rec.get("eye")
        if not eye or not eye["scores"]:
            continue
        s, t = eye["scores"], eye["is_target"]
        confs.extend(s)
        labels.extend(t)
        if all(t):  # no distractor: nothing to select against
            continue
        select.append(selection_score(s, t))
        chance.append(sum(t) / len(t))
        c, p = pair_counts(s, t)
        correct, pairs = correct + c, pairs + p
    nan = float("nan")
    eye_select = 100.0 * float(np.mean(select)) if select else nan
    return {
        "hand_acc50": float(hand_acc50),
        "eye_select_acc": eye_select,
        "eye_select_chance": 100.0 * float(np.mean(chance)) if chance else nan,
        "eye_pair_acc": 100.0 * correct / pairs if pairs else nan,
        "eye_ece": expected_calibration_error(confs, labels),
        "asymmetry": eye_select - float(hand_acc50),
        "eye_samples": float(len(select)),
        "eye_pairs": float(pairs),
    }
