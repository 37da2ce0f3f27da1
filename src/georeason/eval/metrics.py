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
from typing import Literal

import cv2
import numpy as np

from georeason.geometry import as_boxes_xyxy, box_iou_matrix, matched_mean_iou
from georeason.masks import mask_intersection_union

#: IoU of an empty-union sample under each published convention (see module docs).
EMPTY_TARGET_CONVENTIONS: dict[str, float] = {"segearth": 1.0, "remotesam": 0.0}
#: IoU thresholds of ``Pr@tau`` (SegEarth-R1 ``eval.py``; the referring-segmentation standard).
PR_THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Boundary tolerances of ``F1@d`` in pixels (RemoteReasoner, contour task).
F1_TOLERANCES_PX: tuple[int, ...] = (1, 3)
#: Side of SegEarth-R1's scoring canvas (``RS_val_dataset.preprocess_mask``).
SEGEARTH_SIZE = 1024

Protocol = Literal["native", "segearth1024"]
PROTOCOLS: tuple[str, ...] = ("native", "segearth1024")
BoxMode = Literal["matched", "union"]
BOX_MODES: tuple[str, ...] = ("matched", "union")
ContourEmptyPolicy = Literal["diagonal", "skip"]
CONTOUR_EMPTY_POLICIES: tuple[str, ...] = ("diagonal", "skip")
DistanceMethod = Literal["edt", "kdtree"]
DISTANCE_METHODS: tuple[str, ...] = ("edt", "kdtree")

# 4-connected structuring element: a target pixel is on the boundary iff one of its 4 neighbours
# is background (outside the image counts as background).
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


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


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Inner boundary of a mask: target pixels with a 4-neighbour that is background.

    Pixels outside the image count as background, so target pixels on the image border are
    boundary pixels (ours: the outline the contour task draws is closed along the border too).
    Equivalent to ``mask & ~binary_erosion(mask, cross, border_value=0)``.

    Args:
        mask: ``(H, W)``, nonzero = target.

    Returns:
        ``(H, W)`` bool.
    """
    m = np.ascontiguousarray(mask.astype(np.uint8))
    if m.size == 0:
        return m.astype(bool)
    eroded = cv2.erode(m, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (m > eroded).astype(bool)


@dataclass(frozen=True)
class ContourScore:
    """Boundary agreement of one sample.

    Attributes:
        precision: ``{d: share of predicted boundary pixels within d px of the true boundary}``.
        recall: ``{d: share of true boundary pixels within d px of the predicted boundary}``.
        f1: ``{d: 2PR / (P + R)}`` (0 when P + R = 0).
        asd: average symmetric surface distance in pixels (NaN when skipped, see policy).
        hd: Hausdorff distance in pixels (NaN when skipped).
        empty: ``"none"``, ``"both"``, ``"pred"`` or ``"gt"``: which boundary was empty.
    """

    precision: dict[int, float]
    recall: dict[int, float]
    f1: dict[int, float]
    asd: float
    hd: float
    empty: str = "none"


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _distances_to(
    target_boundary: np.ndarray, query_rc: tuple[np.ndarray, np.ndarray], window: tuple
) -> np.ndarray:
    """Euclidean distance from each query pixel to the nearest pixel of ``target_boundary``.

    Computed with an exact Euclidean distance transform inside ``window`` (which must contain
    every target and query pixel): distances to target pixels need nothing outside it.
    """
    r0, r1, c0, c1 = window
    sub = target_boundary[r0:r1, c0:c1]
    # cv2.distanceTransform: distance of each nonzero pixel to the nearest zero pixel.
    # DIST_MASK_PRECISE is the exact Euclidean transform (Felzenszwalb & Huttenlocher, 2012).
    src = np.where(sub, 0, 1).astype(np.uint8)
    dt = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)  # (h, w) float32
    rows, cols = query_rc
    return dt[rows - r0, cols - c0].astype(np.float64)


def _coords_rc(b: np.ndarray) -> np.ndarray:
    """``(N, 2)`` int (row, col) of the True pixels of a bool image (OpenCV, ~3x np.nonzero)."""
    pts = cv2.findNonZero(b.view(np.uint8)) if b.any() else None
    if pts is None:
        return np.zeros((0, 2), dtype=np.int64)
    return pts.reshape(-1, 2)[:, ::-1]  # (x, y) -> (row, col)


def _distances_kdtree(
    query_rc: np.ndarray, target_rc: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Exact distances from query pixels to the nearest pixel of a target boundary.

    Args:
        query_rc: ``(N, 2)`` int (row, col) of the query pixels.
        target_rc: ``(M, 2)`` int (row, col) of the target pixels (M > 0).
        target: the target as a bool image (to find query pixels lying on it: distance 0).

    Returns:
        ``(N,)`` float64 distances in pixels, in query order.
    """
    from scipy.spatial import cKDTree

    dist = np.zeros(len(query_rc), dtype=np.float64)
    off = ~target[query_rc[:, 0], query_rc[:, 1]]  # (N,) not on the target boundary
    if off.any():
        tree = cKDTree(target_rc)
        dist[off], _ = tree.query(query_rc[off], k=1)
    return dist


def contour_sample_score(
    pred: np.ndarray,
    gt: np.ndarray,
    tolerances_px: Sequence[int] = F1_TOLERANCES_PX,
    empty_policy: ContourEmptyPolicy = "diagonal",
    distance_method: DistanceMethod = "kdtree",
) -> ContourScore:
    """Boundary F1@d, ASD and HD of one predicted mask against the true mask.

    Definitions (RemoteReasoner's contour task), on the boundaries
    ``Bp``, ``Bg`` of :func:`mask_boundary` and the Euclidean pixel distance ``d(x, B)`` of a
    pixel centre to the nearest pixel centre of ``B``:

    * ``P@d = |{x in Bp: d(x, Bg) <= d}| / |Bp|``, ``R@d = |{y in Bg: d(y, Bp) <= d}| / |Bg|``,
      ``F1@d = 2 P R / (P + R)``.
    * ``ASD = (mean_{x in Bp} d(x, Bg) + mean_{y in Bg} d(y, Bp)) / 2`` (the mean of the two
      directed average surface distances, as ``medpy.metric.binary.assd``; RemoteReasoner does
      not give a formula).
    * ``HD = max(max_{x in Bp} d(x, Bg), max_{y in Bg} d(y, Bp))``.

    Distances are exact Euclidean distances between pixel centres, never pairwise O(N^2), by
    either of two methods that give the same numbers (both tested against brute force):

    * ``distance_method="edt"``: Euclidean distance transforms of each boundary (OpenCV
      ``DIST_MASK_PRECISE``, the exact transform of Felzenszwalb & Huttenlocher, equal to
      ``scipy.ndimage.distance_transform_edt`` within float32 rounding and ~4x faster than it),
      in the window around both boundaries: O(window area).
    * ``"kdtree"`` (default, ours): nearest-neighbour queries on the boundary pixels
      (``scipy.spatial.cKDTree``), O(N log N) in the boundary length. On 1024x1024 masks it is
      ~3x faster than the transforms, which is what keeps the full EarthReason test split
      under 20 s on 2 cores (``benchmarks/results/metrics_speed.md``).

    Empty masks (ours, the papers do not say): both empty -> F1 = 1, ASD = HD = 0 (a correct
    "no target" answer); one empty -> F1 = 0 and, with ``empty_policy="diagonal"`` (default),
    ASD = HD = the image diagonal ``sqrt(H^2 + W^2)`` (the worst possible distance, keeps means
    finite and over all samples); ``"skip"`` gives NaN so that ASD/HD means leave it out.

    Args:
        pred, gt: ``(H, W)`` masks of the same shape, nonzero = target.
        tolerances_px: the ``d`` of ``F1@d`` in pixels.
        empty_policy: ``"diagonal"`` or ``"skip"``.

    Returns:
        A :class:`ContourScore`.

    Raises:
        ValueError: if the shapes differ or the policy or the distance method is unknown.
    """
    if distance_method not in DISTANCE_METHODS:
        raise ValueError(
            f"unknown distance method {distance_method!r}; expected one of {DISTANCE_METHODS}"
        )
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    if empty_policy not in CONTOUR_EMPTY_POLICIES:
        raise ValueError(
            f"unknown contour empty policy {empty_policy!r}; expected {CONTOUR_EMPTY_POLICIES}"
        )
    tol = tuple(int(d) for d in tolerances_px)
    h, w = gt.shape
    pb, gb = pred.astype(bool, copy=False), gt.astype(bool, copy=False)
    # Work in the bounding box of both masks plus a 1-px background margin (clipped to the
    # image, whose outside is background anyway): same boundaries, fewer pixels.
    rows_any = np.flatnonzero(np.any(pb, axis=1) | np.any(gb, axis=1))
    if rows_any.size:
        cols_any = np.flatnonzero(np.any(pb, axis=0) | np.any(gb, axis=0))
        r0, r1 = max(int(rows_any[0]) - 1, 0), min(int(rows_any[-1]) + 2, h)
        c0, c1 = max(int(cols_any[0]) - 1, 0), min(int(cols_any[-1]) + 2, w)
        pb, gb = pb[r0:r1, c0:c1], gb[r0:r1, c0:c1]
    bp = mask_boundary(pb)
    bg = mask_boundary(gb)
    n_p, n_g = int(np.count_nonzero(bp)), int(np.count_nonzero(bg))
    if n_p == 0 or n_g == 0:
        if n_p == 0 and n_g == 0:
            one = dict.fromkeys(tol, 1.0)
            return ContourScore(one, dict(one), dict(one), 0.0, 0.0, "both")
        zero = dict.fromkeys(tol, 0.0)
        worst = math.hypot(h, w) if empty_policy == "diagonal" else math.nan
        return ContourScore(
            zero, dict(zero), dict(zero), worst, worst, "pred" if n_p == 0 else "gt"
        )

    if distance_method == "kdtree":
        p_rc, g_rc = _coords_rc(bp), _coords_rc(bg)  # (n_p, 2), (n_g, 2)
        d_pg = _distances_kdtree(p_rc, g_rc, bg)  # (n_p,) distance of each pred px to Bg
        d_gp = _distances_kdtree(g_rc, p_rc, bp)  # (n_g,)
    else:
        p_rc, g_rc = np.nonzero(bp), np.nonzero(bg)
        rows = np.concatenate([p_rc[0], g_rc[0]])
        cols = np.concatenate([p_rc[1], g_rc[1]])
        window = (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
        d_pg = _distances_to(bg, p_rc, window)  # (n_p,)
        d_gp = _distances_to(bp, g_rc, window)  # (n_g,)
    precision = {d: float(np.count_nonzero(d_pg <= d + 1e-6) / n_p) for d in tol}
    recall = {d: float(np.count_nonzero(d_gp <= d + 1e-6) / n_g) for d in tol}
    f1 = {d: _f1(precision[d], recall[d]) for d in tol}
    asd = 0.5 * (float(d_pg.mean()) + float(d_gp.mean()))
    hd = max(float(d_pg.max()), float(d_gp.max()))
    return ContourScore(precision, recall, f1, asd, hd, "none")


# --------------------------------------------------------------------------------------------
# Aggregation in the papers' names and units
# --------------------------------------------------------------------------------------------

#: Unit of every key that :func:`summarize` may write.
METRIC_UNITS: dict[str, str] = {
    "Acc@0.5": "%",
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

    Keys (present when their inputs are given): ``Acc@0.5`` and the box mean IoU (region,
    percent) under ``gIoU`` as RemoteReasoner names it for the region task, or under
    ``box_gIoU`` when mask scores are given too (then ``gIoU`` is the mask gIoU), ``cIoU``,
    ``Pr@0.5`` ... ``Pr@0.9`` (pixel, percent), ``F1@1``, ``F1@3`` (contour, fraction, mean over
    samples: ours, the papers do not say), ``ASD``, ``HD`` (pixels, mean over samples, NaN
    samples left out under the ``"skip"`` policy). See :data:`METRIC_UNITS`.
    """
    out: dict[str, float] = {}
    if box_ious is not None:
        out[f"Acc@{acc_tau:g}"] = 100.0 * accuracy_at(box_ious, acc_tau)
        key = "gIoU" if mask_scores is None else "box_gIoU"
        out[key] = 100.0 * (float(np.mean(box_ious)) if len(box_ious) else math.nan)
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
