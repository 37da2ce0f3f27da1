"""Overlays a person can open: the image with mask tint, contours and boxes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from shapely.geometry import Polygon

#: BGR-free RGB palette, one colour per box (cycled).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 64, 64),
    (64, 200, 255),
    (255, 200, 0),
    (160, 90, 255),
    (0, 220, 120),
    (255, 120, 200),
)


def render_overlay(
    rgb: np.ndarray,
    boxes_xyxy_px: np.ndarray,
    masks: Sequence[np.ndarray] = (),
    polygons_px: Sequence[Sequence[Polygon]] = (),
    gt_boxes_xyxy_px: np.ndarray | None = None,
    tint_alpha: float = 0.4,
) -> np.ndarray:
    """Draw masks (tinted), contours (outlined) and boxes over an image.

    Args:
        rgb: ``(H, W, 3)`` uint8 image.
        boxes_xyxy_px: ``(N, 4)`` predicted boxes, original pixels (drawn in the box's colour).
        masks: N ``(H, W)`` bool masks, one per box.
        polygons_px: N lists of contour polygons in pixel coordinates, one list per box.
        gt_boxes_xyxy_px: optional ``(M, 4)`` ground-truth boxes, drawn as thin white boxes.
        tint_alpha: opacity of the mask tint.

    Returns:
        ``(H, W, 3)`` uint8 overlay (a new array).
    """
    out = rgb.astype(np.float32).copy()
    for i, mask in enumerate(masks):
        colour = np.array(PALETTE[i % len(PALETTE)], dtype=np.float32)
        m = mask.astype(bool)
        out[m] = (1 - tint_alpha) * out[m] + tint_alpha * colour
    img = np.clip(out, 0, 255).astype(np.uint8)
    thickness = max(1, round(max(img.shape[:2]) / 500))
    if gt_boxes_xyxy_px is not None:
        for x1, y1, x2, y2 in np.asarray(gt_boxes_xyxy_px, dtype=float).reshape(-1, 4):
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2) - 1, int(y2) - 1), (255, 255, 255), 1)
    for i, polys in enumerate(polygons_px):
        colour = PALETTE[i % len(PALETTE)]
        for poly in polys:
            pts = np.asarray(poly.exterior.coords, dtype=np.float64)
            cv2.polylines(img, [np.round(pts).astype(np.int32)], True, colour, thickness)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy_px, dtype=float).reshape(-1, 4)):
        colour = PALETTE[i % len(PALETTE)]
        cv2.rectangle(
            img, (int(x1), int(y1)), (int(np.ceil(x2)) - 1, int(np.ceil(y2)) - 1), colour, thickness
        )
    return img
