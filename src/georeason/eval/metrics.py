"""Evaluation metrics of the field, each with its convention and its source.

Three granularities (RemoteReasoner, 2025; SegEarth-R1 / EarthReason, 2025):

* **Region (boxes)**: per-sample box IoU, ``Acc@tau`` (share of samples with IoU >= tau) and the
  box ``gIoU`` (mean per-sample IoU). Boxes are ``[x1, y1, x2, y2]`` in original-image pixels.
  Box IoU comes from :func:`georeason.geometry.box_iou_matrix` (the only box IoU).
* **Pixel (masks)**: per-sample IoU ``I / U``; ``gIoU`` = mean per-sample IoU; ``cIoU`` =
  ``sum(I) / sum(U)`` over the split; ``Pr@tau`` = share of samples with IoU > tau.
* **Contour**: boundary ``F1@d`` (d = 1, 3 pixels), ``ASD`` (average symmetric surface distance)
  and ``HD`` (Hausdorff distance), in pixels, from Euclidean distance transforms.

Masks are ``(H, W)`` arrays (bool, or any dtype where nonzero = target) in original-image pixels,
row 0 at the top; prediction and ground truth must have the same shape.

Conventions that the field does not share are explicit options here:

* ``empty_iou``: the IoU of a sample whose union is empty (no target, no prediction). SegEarth-R1's
  evaluation code (``eval_and_test/eval.py``, ``acc_iou[union == 0] = 1.0``) uses **1.0**, the
  default (:data:`EMPTY_TARGET_CONVENTIONS` ``"segearth"``); RemoteSAM uses **0.0**
  (``"remotesam"``).
* ``protocol="segearth1024"``: SegEarth-R1 scores masks after :func:`segearth_resize_pad`
  (longest side resized to 1024 with nearest-neighbour, then zero-padded, centred, to 1024x1024);
  ``"native"`` (default) scores at the original resolution.

Scores that are fractions are returned as fractions in ``[0, 1]``; :func:`summarize` reports them
in the papers' units (percent for Acc, gIoU, cIoU, Pr; fraction for F1; pixels for ASD and HD).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from georeason.eval.contour_metrics import (
    ContourScore,
    contour_sample_score,
    mask_boundary,
)
from georeason.eval.metric_conventions import (
    ASD_CONVENTIONS,
    BOX_MODES,
    CONTOUR_EMPTY_POLICIES,
    DISTANCE_METHODS,
    EMPTY_TARGET_CONVENTIONS,
    F1_TOLERANCES_PX,
    PR_THRESHOLDS,
    PROTOCOLS,
    SEGEARTH_SIZE,
    BoxMode,
    ContourEmptyPolicy,
    DistanceMethod,
    Protocol,
)

#: The metric functions and conventions (contour metrics live in
#: :mod:`georeason.eval.contour_metrics`, constants in :mod:`georeason.eval.metric_conventions`).
__all__ = [
    "BOX_MODES",
    "CONTOUR_EMPTY_POLICIES",
    "ASD_CONVENTIONS",
    "DISTANCE_METHODS",
    "EMPTY_TARGET_CONVENTIONS",
    "F1_TOLERANCES_PX",
    "METRIC_UNITS",
    "PROTOCOLS",
    "PR_THRESHOLDS",
    "SEGEARTH_SIZE",
    "BoxMode",
    "ContourEmptyPolicy",
    "ContourScore",
    "DistanceMethod",
    "MaskScore",
    "Protocol",
    "accuracy_at",
    "apply_protocol",
    "box_sample_iou",
    "contour_sample_score",
    "empty_iou_for",
    "mask_boundary",
    "mask_ciou",
    "mask_giou",
    "mask_sample_score",
    "precision_at",
    "segearth_resize_pad",
    "summarize",
]
from georeason.geometry import as_boxes_xyxy, box_iou_matrix, matched_mean_iou
from georeason.masks import mask_intersection_union


def empty_iou_for(convention: str) -> float:
    """IoU assigned to an empty-union sample under a named convention.

    Raises:
        ValueError: for a name not in :data:`EMPTY_TARGET_CONVENTIONS`.
    """
    try:
        return EMPTY_TARGET_CONVENTIONS[convention]
    except KeyError:
        raise ValueError(
            f"unknown empty-target convention {convention!r}; "
            f"expected one of {sorted(EMPTY_TARGET_CONVENTIONS)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Boxes
# --------------------------------------------------------------------------------------------


def box_sample_iou(
    pred_boxes_xyxy: Sequence[Sequence[float]] | np.ndarray,
    gt_boxes_xyxy: Sequence[Sequence[float]] | np.ndarray,
    parsed: bool = True,
    mode: BoxMode = "matched",
    empty_iou: float = 1.0,
) -> float:
    """Box IoU of one sample (region task).

    Args:
        pred_boxes_xyxy: ``(K, 4)`` predicted boxes, xyxy, original-image pixels.
        gt_boxes_xyxy: ``(J, 4)`` ground-truth boxes in the same frame.
        parsed: False when the model's answer could not be read; such a sample scores 0.0
            (a miss for Acc@tau; the field's convention, RemoteZero / RemoteReasoner).
        mode: how several boxes are scored. The papers evaluate one box per sample and do not
            say; ``"matched"`` (ours, default): Hungarian one-to-one matching on IoU, summed IoU
            divided by J (RemoteReasoner eq. 4, :func:`georeason.geometry.matched_mean_iou`);
            ``"union"``: IoU of the tight boxes around all predictions and around all targets.
            Both reduce to the plain IoU when K = J = 1.
        empty_iou: score when there is no target and the (parsed) prediction is empty too; with
            a target, an empty prediction is a miss (0.0), and with no target any box is 0.0.

    Returns:
        IoU in ``[0, 1]``.

    Raises:
        ValueError: for an unknown ``mode`` or boxes not shaped ``(N, 4)``.
    """
    if mode not in BOX_MODES:
        raise ValueError(f"unknown box mode {mode!r}; expected one of {BOX_MODES}")
    pred = as_boxes_xyxy(pred_boxes_xyxy)
    gt = as_boxes_xyxy(gt_boxes_xyxy)
    if not parsed:
        return 0.0
    if len(gt) == 0:
        return float(empty_iou) if len(pred) == 0 else 0.0
    if len(pred) == 0:
        return 0.0
    if mode == "matched":
        return matched_mean_iou(pred, gt)
    union_pred = np.concatenate([pred[:, :2].min(0), pred[:, 2:].max(0)])[None]  # (1, 4)
    union_gt = np.concatenate([gt[:, :2].min(0), gt[:, 2:].max(0)])[None]  # (1, 4)
    return float(box_iou_matrix(union_pred, union_gt)[0, 0])


def accuracy_at(ious: Iterable[float], tau: float = 0.5) -> float:
    """``Acc@tau``: share of samples whose box IoU is at least ``tau`` (IoU >= tau counts).

    Misses (unparsable or empty predictions) must enter ``ious`` as 0.0. Source: the visual
    grounding standard used by RemoteZero and RemoteReasoner (Acc@0.5).

    Returns:
        Fraction in ``[0, 1]``; NaN for no samples.
    """
    arr = np.asarray(list(ious), dtype=np.float64)
    return float(np.mean(arr >= tau)) if arr.size else math.nan


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def segearth_resize_pad(mask: np.ndarray, size: int = SEGEARTH_SIZE) -> np.ndarray:
    """SegEarth-R1's scoring canvas: longest side to ``size`` (nearest), zero-padded to square.

    Exactly as ``preprocess_mask`` in SegEarth-R1 ``eval_dataset/RS_val_dataset.py``: the longer
    side becomes ``size``, the shorter ``int(short * size / long)`` (truncated), resized with
    ``cv2.INTER_NEAREST``; then padded with zeros, centred (``top = pad // 2``).

    Args:
        mask: ``(H, W)`` mask, nonzero = target.

    Returns:
        ``(size, size)`` bool mask.
    """
    m = np.ascontiguousarray(mask.astype(np.uint8))
    h, w = m.shape
    if w > h:
        new_w, new_h = size, int(h * (size / w))
    else:
        new_h, new_w = size, int(w * (size / h))
    resized = cv2.resize(m, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = size - new_h, size - new_w
    top, left = pad_h // 2, pad_w // 2
    out = np.zeros((size, size), dtype=bool)
    out[top : top + new_h, left : left + new_w] = resized.astype(bool)
    return out


def apply_protocol(mask: np.ndarray, protocol: Protocol = "native") -> np.ndarray:
    """Bring a mask to the scoring canvas of ``protocol`` (see module docs); bool ``(H', W')``.

    Raises:
        ValueError: for an unknown protocol.
    """
    if protocol == "native":
        return mask.astype(bool, copy=False)
    if protocol == "segearth1024":
        return segearth_resize_pad(mask)
    raise ValueError(f"unknown scoring protocol {protocol!r}; expected one of {PROTOCOLS}")


@dataclass(frozen=True)
class MaskScore:
    """Pixel counts and IoU of one sample.

    Attributes:
        intersection: ``|P ∩ G|`` in pixels (of the scoring canvas).
        union: ``|P ∪ G|`` in pixels.
        iou: ``intersection / union``, or the ``empty_iou`` convention when ``union == 0``.
    """

    intersection: int
    union: int
    iou: float


def mask_sample_score(pred: np.ndarray, gt: np.ndarray, empty_iou: float = 1.0) -> MaskScore:
    """Per-sample intersection, union and IoU of two same-shape masks.

    ``IoU = I / U`` (SegEarth-R1 ``eval.py``; it adds 1e-5 to U, which changes IoU by less than
    1e-5 / U and is not reproduced); ``IoU = empty_iou`` when ``U = 0``.

    Raises:
        ValueError: if the shapes differ.
    """
    inter, union = mask_intersection_union(pred, gt)
    iou = inter / union if union > 0 else float(empty_iou)
    return MaskScore(inter, union, float(iou))


def mask_giou(scores: Sequence[MaskScore]) -> float:
    """``gIoU``: mean of the per-sample IoUs (SegEarth-R1 ``eval.py``, ``acc_iou_meter``).

    Returns a fraction in ``[0, 1]``; NaN for no samples.
    """
    return float(np.mean([s.iou for s in scores])) if scores else math.nan


def mask_ciou(scores: Sequence[MaskScore]) -> float:
    """``cIoU``: cumulative ``sum(I) / sum(U)`` over all samples (SegEarth-R1 ``eval.py``).

    Empty-union samples add nothing. Returns a fraction; 0.0 if every union is empty (as their
    code, which divides by ``sum(U) + 1e-10``); NaN for no samples.
    """
    if not scores:
        return math.nan
    total_u = sum(s.union for s in scores)
    return float(sum(s.intersection for s in scores) / total_u) if total_u > 0 else 0.0


def precision_at(ious: Iterable[float], tau: float) -> float:
    """``Pr@tau``: share of samples with IoU strictly above ``tau``.

    Strict ``>`` as in SegEarth-R1 ``eval.py`` (``if max_iou[1] > threshold``). Returns a
    fraction; NaN for no samples.
    """
    arr = np.asarray(list(ious), dtype=np.float64)
    return float(np.mean(arr > tau)) if arr.size else math.nan


# --------------------------------------------------------------------------------------------
# Contours
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Aggregation in the papers' names and units
# --------------------------------------------------------------------------------------------

#: Unit of every key that :func:`summarize` may write.
METRIC_UNITS: dict[str, str] = {
    "box_Acc@0.5": "%",
    "box_gIoU": "%",
    "gIoU": "%",
    "cIoU": "%",
    **{f"Pr@{t}": "%" for t in PR_THRESHOLDS},
    **{f"F1@{d}": "fraction" for d in F1_TOLERANCES_PX},
    "ASD": "px",
    "HD": "px",
}


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def summarize(
    box_ious: Sequence[float] | None = None,
    mask_scores: Sequence[MaskScore] | None = None,
    contour_scores: Sequence[ContourScore] | None = None,
    acc_tau: float = 0.5,
) -> dict[str, float]:
    """Split-level metrics under the papers' names and in their units.

    Keys (present when their inputs are given), each with one meaning in every task: box
    metrics are prefixed ``box_``: ``box_Acc@0.5`` (the papers' region ``Acc@0.5``) and
    ``box_gIoU`` (mean box IoU, the papers' region ``gIoU``), percent; mask metrics ``gIoU``,
    ``cIoU``, ``Pr@0.5`` ... ``Pr@0.9`` (pixel, percent), ``F1@1``, ``F1@3`` (contour,
    fraction, mean over samples: ours, the papers do not say), ``ASD``, ``HD`` (pixels, mean
    over samples, NaN samples left out under the ``"skip"`` policy). See :data:`METRIC_UNITS`.
    """
    out: dict[str, float] = {}
    if box_ious is not None:
        out[f"box_Acc@{acc_tau:g}"] = 100.0 * accuracy_at(box_ious, acc_tau)
        out["box_gIoU"] = 100.0 * (float(np.mean(box_ious)) if len(box_ious) else math.nan)
    if mask_scores is not None:
        out["gIoU"] = 100.0 * mask_giou(mask_scores)
        out["cIoU"] = 100.0 * mask_ciou(mask_scores)
        ious = [s.iou for s in mask_scores]
        for t in PR_THRESHOLDS:
            out[f"Pr@{t}"] = 100.0 * precision_at(ious, t)
    if contour_scores is not None:
        tols = sorted({d for s in contour_scores for d in s.f1}) or list(F1_TOLERANCES_PX)
        for d in tols:
            out[f"F1@{d}"] = _nanmean([s.f1.get(d, math.nan) for s in contour_scores])
        out["ASD"] = _nanmean([s.asd for s in contour_scores])
        out["HD"] = _nanmean([s.hd for s in contour_scores])
    return out
