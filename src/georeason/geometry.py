"""Box geometry: the one place for boxes, IoU, matching, margin crops and coordinate frames.

Conventions (used everywhere in georeason):

* A box is ``[x1, y1, x2, y2]`` (``xyxy``) in **original-image pixels**, x to the right, y down,
  float, with ``x1 < x2`` and ``y1 < y2``. Pixel ``(col, row)`` covers
  ``[col, col+1) x [row, row+1)``, so a box ``[0, 0, W, H]`` is the whole image.
* Arrays of boxes have shape ``(N, 4)`` and dtype ``float64``.
* Model frames: Qwen2.5-VL answers in pixels of the *resized* image fed to it
  (``"resized_px"``); Qwen3-VL answers in coordinates normalised to ``0..1000`` (``"norm1000"``).
  :func:`boxes_from_model_frame` / :func:`boxes_to_model_frame` are the only conversions.

Rewards, metrics and the workflow all call :func:`box_iou_matrix`; nothing else computes box IoU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

ModelFrame = Literal["resized_px", "norm1000"]
MODEL_FRAMES: tuple[str, ...] = ("resized_px", "norm1000")


def as_boxes_xyxy(boxes: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Convert box-like input to a ``(N, 4)`` float64 array.

    Args:
        boxes: ``N`` boxes ``[x1, y1, x2, y2]``; an empty sequence gives shape ``(0, 4)``.

    Returns:
        Array of shape ``(N, 4)``, dtype ``float64``. Values are not validated or clipped.

    Raises:
        ValueError: if the input cannot be read as ``(N, 4)`` numbers.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as [x1, y1, x2, y2]; got shape {arr.shape}")
    return arr


def validate_boxes_xyxy(
    boxes: Sequence[Sequence[float]] | np.ndarray,
    width: float | None = None,
    height: float | None = None,
) -> np.ndarray:
    """Check that boxes are finite xyxy boxes with positive size (and inside the image if given).

    Returns:
        The boxes as a ``(N, 4)`` float64 array.

    Raises:
        ValueError: naming the first offending box and why.
    """
    arr = as_boxes_xyxy(boxes)
    for i, (x1, y1, x2, y2) in enumerate(arr):
        if not np.all(np.isfinite([x1, y1, x2, y2])):
            raise ValueError(f"box {i} {arr[i].tolist()} has a non-finite coordinate")
        if not (x1 < x2 and y1 < y2):
            raise ValueError(f"box {i} {arr[i].tolist()} is not [x1, y1, x2, y2] with x1<x2, y1<y2")
        if (
            width is not None
            and height is not None
            and (x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height)
        ):
            raise ValueError(
                f"box {i} {arr[i].tolist()} lies outside the {int(width)}x{int(height)} image"
            )
    return arr


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of each box in square pixels; degenerate or inverted boxes have area 0.

    Args:
        boxes: ``(N, 4)`` xyxy.

    Returns:
        ``(N,)`` float64.
    """
    b = as_boxes_xyxy(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of two sets of xyxy boxes.

    ``IoU(a, b) = area(a ∩ b) / area(a ∪ b)``; a pair whose union is empty (both degenerate) has
    IoU 0. Same definition as ``torchvision.ops.box_iou``.

    Args:
        boxes_a: ``(N, 4)`` xyxy, any consistent unit.
        boxes_b: ``(M, 4)`` xyxy, same unit.

    Returns:
        ``(N, M)`` float64 array with values in ``[0, 1]``.
    """
    a = as_boxes_xyxy(boxes_a)
    b = as_boxes_xyxy(boxes_b)
    area_a = box_area(a)  # (N,)
    area_b = box_area(b)  # (M,)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def hungarian_match(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching that maximises the summed IoU (Hungarian algorithm, scipy).

    Source: RemoteReasoner (2025), eq. 4 — predicted boxes are matched one-to-one to ground truth.

    Args:
        iou: ``(K, J)`` IoU matrix (predictions x ground truth).

    Returns:
        ``(rows, cols)`` integer index arrays of equal length ``min(K, J)``.
    """
    if iou.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return rows.astype(np.int64), cols.astype(np.int64)


def matched_mean_iou(pred_boxes_xyxy: np.ndarray, gt_boxes_xyxy: np.ndarray) -> float:
    """Summed IoU of the Hungarian matching divided by the number of ground-truth boxes.

    Source: RemoteReasoner (2025), eq. 4 (``R_IoU``). Unmatched ground truth contributes 0, so
    missing boxes lower the score; surplus predictions are punished by the count reward instead.
    With no ground truth the value is 1.0 if there is no prediction and 0.0 otherwise (the
    count reward's logic, eq. 5).

    Args:
        pred_boxes_xyxy: ``(K, 4)``.
        gt_boxes_xyxy: ``(J, 4)``, same frame as the predictions.

    Returns:
        A float in ``[0, 1]``.
    """
    pred = as_boxes_xyxy(pred_boxes_xyxy)
    gt = as_boxes_xyxy(gt_boxes_xyxy)
    if len(gt) == 0:
        return 1.0 if len(pred) == 0 else 0.0
    if len(pred) == 0:
        return 0.0
    iou = box_iou_matrix(pred, gt)
    rows, cols = hungarian_match(iou)
    return float(iou[rows, cols].sum() / len(gt))


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip xyxy boxes to the image ``[0, width] x [0, height]`` (pixels). Returns a copy."""
    b = as_boxes_xyxy(boxes).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def expand_box(
    box_xyxy: Sequence[float], margin_ratio: float, width: float, height: float
) -> np.ndarray:
    """Enlarge a box by ``margin_ratio`` of its width/height on each side, clipped to the image.

    This is RemoteZero's context crop ``T(I, b)``: the paper's ablation pads by 15% and shows it
    beats the exact-box crop. ``margin_ratio=0`` gives the strict crop.

    Args:
        box_xyxy: ``[x1, y1, x2, y2]`` in pixels.
        margin_ratio: non-negative fraction of the box size added on each side.
        width, height: image size in pixels.

    Returns:
        ``(4,)`` float64 box clipped to ``[0, width] x [0, height]``.

    Raises:
        ValueError: if ``margin_ratio`` is negative.
    """
    if margin_ratio < 0:
        raise ValueError(f"margin_ratio must be >= 0, got {margin_ratio}")
    x1, y1, x2, y2 = as_boxes_xyxy(box_xyxy)[0]
    dx = (x2 - x1) * margin_ratio
    dy = (y2 - y1) * margin_ratio
    return clip_boxes(np.array([[x1 - dx, y1 - dy, x2 + dx, y2 + dy]]), width, height)[0]


def crop_window_px(box_xyxy: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel window ``(left, top, right, bottom)`` that covers a float box, at least 1 px.

    The window is clipped to the image and always non-empty (a 0-pixel box becomes a 1-pixel
    window), so a crop never fails. Suitable for ``array[top:bottom, left:right]``.
    """
    x1, y1, x2, y2 = as_boxes_xyxy(box_xyxy)[0]
    left = int(np.clip(np.floor(x1), 0, max(width - 1, 0)))
    top = int(np.clip(np.floor(y1), 0, max(height - 1, 0)))
    right = int(np.clip(np.ceil(x2), left + 1, width))
    bottom = int(np.clip(np.ceil(y2), top + 1, height))
    return left, top, right, bottom


def _model_to_original_scale(
    frame: ModelFrame, original_hw: tuple[int, int], resized_hw: tuple[int, int] | None
) -> tuple[float, float]:
    """``(sx, sy)`` such that ``x_original = sx * x_model`` and ``y_original = sy * y_model``."""
    h, w = original_hw
    if frame == "norm1000":
        return w / 1000.0, h / 1000.0
    if frame == "resized_px":
        if resized_hw is None:
            raise ValueError("resized_hw is required for the 'resized_px' frame")
        rh, rw = resized_hw
        return w / rw, h / rh
    raise ValueError(f"unknown model frame {frame!r}; expected one of {MODEL_FRAMES}")


def boxes_from_model_frame(
    boxes: np.ndarray,
    frame: ModelFrame,
    original_hw: tuple[int, int],
    resized_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Convert boxes from a model's output frame to original-image pixels.

    Args:
        boxes: ``(N, 4)`` xyxy in the model frame.
        frame: ``"resized_px"`` — pixels of the resized image the processor fed the model
            (Qwen2.5-VL); ``"norm1000"`` — coordinates normalised to ``0..1000`` (Qwen3-VL).
        original_hw: ``(height, width)`` of the original image in pixels.
        resized_hw: ``(height, width)`` of the model input; required for ``"resized_px"``.

    Returns:
        ``(N, 4)`` float64 xyxy in original pixels (not clipped).

    Raises:
        ValueError: on an unknown frame or a missing ``resized_hw``.
    """
    sx, sy = _model_to_original_scale(frame, original_hw, resized_hw)
    return as_boxes_xyxy(boxes) * np.array([sx, sy, sx, sy])


def boxes_to_model_frame(
    boxes_xyxy_px: np.ndarray,
    frame: ModelFrame,
    original_hw: tuple[int, int],
    resized_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Inverse of :func:`boxes_from_model_frame`: original pixels -> model frame (same args)."""
    sx, sy = _model_to_original_scale(frame, original_hw, resized_hw)
    return as_boxes_xyxy(boxes_xyxy_px) / np.array([sx, sy, sx, sy])


def sanitize_boxes(boxes: np.ndarray, width: float, height: float) -> tuple[np.ndarray, int]:
    """Normalise model boxes in original pixels: fix inverted corners, clip, drop empty ones.

    Returns:
        ``(boxes, n_dropped)``: ``(K, 4)`` valid boxes inside the image and how many were dropped
        (non-finite, or empty after clipping).
    """
    b = as_boxes_xyxy(boxes)
    finite = np.all(np.isfinite(b), axis=1)
    b = b[finite]
    b = (
        np.stack(
            [
                np.minimum(b[:, 0], b[:, 2]),
                np.minimum(b[:, 1], b[:, 3]),
                np.maximum(b[:, 0], b[:, 2]),
                np.maximum(b[:, 1], b[:, 3]),
            ],
            axis=1,
        )
        if len(b)
        else b
    )
    b = clip_boxes(b, width, height)
    keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    n_dropped = int((~finite).sum() + (~keep).sum())
    return b[keep], n_dropped
