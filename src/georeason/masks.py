"""Masks: box <-> mask, mask -> contour polygons, COCO run-length encoding, mask IoU.

Masks are ``(H, W)`` boolean arrays in original-image pixels, row 0 at the top. Polygons are
shapely geometries in pixel coordinates (x = column, y = row, pixel-corner convention: the
polygon of a single pixel at ``(c, r)`` spans ``[c, c+1] x [r, r+1]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from shapely.geometry import LineString, Point, Polygon
from shapely.validation import make_valid

from georeason.geometry import as_boxes_xyxy, crop_window_px

#: Douglas-Peucker tolerance for contour simplification, in pixels (ours: 1 px keeps the
#: outline within one pixel of the mask boundary, below the F1@1 boundary tolerance).
DEFAULT_SIMPLIFY_TOLERANCE_PX = 1.0


def box_to_mask(box_xyxy_px: Sequence[float], height: int, width: int) -> np.ndarray:
    """Fill a box: every pixel whose area the box covers (rounded outwards) is True.

    Returns:
        ``(H, W)`` bool mask (the ``box`` segmenter and the box-filling baseline).
    """
    mask = np.zeros((height, width), dtype=bool)
    left, top, right, bottom = crop_window_px(box_xyxy_px, width, height)
    mask[top:bottom, left:right] = True
    return mask


def mask_to_box(mask: np.ndarray) -> list[float] | None:
    """Tight xyxy box (pixel-corner convention) around all True pixels; None for an empty mask.

    This is RemoteReasoner's M2B conversion for the whole mask (all instances together).
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def mask_to_component_boxes(mask: np.ndarray, min_area_px: int = 1) -> list[list[float]]:
    """One tight xyxy box per 8-connected component with at least ``min_area_px`` pixels."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area_px:
            boxes.append([float(x), float(y), float(x + w), float(y + h)])
    return boxes


def mask_to_polygons(
    mask: np.ndarray,
    simplify_tolerance_px: float = DEFAULT_SIMPLIFY_TOLERANCE_PX,
    min_area_px: float = 1.0,
) -> list[Polygon]:
    """External contours of a mask as valid shapely polygons (RemoteReasoner's M2C).

    OpenCV ``findContours`` with ``RETR_EXTERNAL`` gives the outermost boundary of every
    component (holes are not kept, as in RemoteReasoner's contour task). The contour runs through
    boundary pixel centres; it is grown by half a pixel (mitre joins) so that axis-aligned outlines
    fall exactly on pixel edges and a polygon's area matches its pixel count; thin parts (one or
    two pixels wide) are handled the same way. Polygons are then simplified with Douglas-Peucker at
    ``simplify_tolerance_px`` (topology preserving; skipped for a part that would lose more than
    10% of its area, e.g. one-pixel-wide lines), repaired with ``make_valid`` if needed, and
    those smaller than ``min_area_px`` are dropped.

    Returns:
        A list of ``Polygon`` in pixel coordinates, largest first.
    """
    m = np.ascontiguousarray(mask.astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys: list[Polygon] = []
    for cnt in contours:
        centres = cnt.reshape(-1, 2).astype(np.float64) + 0.5  # pixel centres, corner frame
        if len(centres) >= 3 and Polygon(centres).is_valid and Polygon(centres).area > 0:
            core = Polygon(centres)
        else:  # one- or two-pixel-wide parts: the contour is a point or a line
            core = LineString(centres) if len(centres) > 1 else Point(centres[0])
        # Grow the centre outline by half a pixel: exact pixel edges for axis-aligned outlines.
        geom = core.buffer(0.5, cap_style="square", join_style="mitre")
        if simplify_tolerance_px > 0:
            simple = geom.simplify(simplify_tolerance_px, preserve_topology=True)
            # Keep the exact outline where simplification would eat a thin or tiny part.
            if not simple.is_empty and simple.area >= 0.9 * geom.area:
                geom = simple
        if not geom.is_valid:
            geom = make_valid(geom)
        parts = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
        polys.extend(g for g in parts if isinstance(g, Polygon) and g.area >= min_area_px)
    polys.sort(key=lambda p: p.area, reverse=True)
    return polys


def encode_rle(mask: np.ndarray) -> dict:
    """COCO run-length encoding ``{"size": [h, w], "counts": str}`` as pycocotools writes it."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode()}


def decode_rle(rle: dict) -> np.ndarray:
    """Inverse of :func:`encode_rle`: ``(H, W)`` bool mask.

    Raises:
        ValueError: if ``rle`` lacks ``size``/``counts``.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError('an RLE must be {"size": [h, w], "counts": ...}')
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed COCO RLE
        obj = coco_mask.frPyObjects(rle, *rle["size"])
    else:
        obj = {
            "size": list(rle["size"]),
            "counts": counts.encode() if isinstance(counts, str) else counts,
        }
    return coco_mask.decode(obj).astype(bool)


def mask_intersection_union(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int]:
    """Pixel counts ``(|pred ∩ gt|, |pred ∪ gt|)`` of two same-shape boolean masks.

    Raises:
        ValueError: if the shapes differ.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    p = pred.astype(bool)
    g = gt.astype(bool)
    return int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g))


def mask_iou(pred: np.ndarray, gt: np.ndarray, empty_iou: float = 1.0) -> float:
    """Pixel IoU ``|P ∩ G| / |P ∪ G|`` of two masks.

    Args:
        empty_iou: value when the union is empty (both masks empty). SegEarth-R1's EarthReason
            code uses 1.0 (default); RemoteSAM uses 0.0.
    """
    inter, union = mask_intersection_union(pred, gt)
    return float(inter / union) if union > 0 else float(empty_iou)


def union_of_masks(masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Logical OR of per-box masks (RemoteReasoner OR-s the masks of several boxes)."""
    out = np.zeros((height, width), dtype=bool)
    for m in masks:
        out |= m.astype(bool)
    return out


def boxes_to_masks(boxes_xyxy_px: np.ndarray, height: int, width: int) -> list[np.ndarray]:
    """Box-filled mask for each box (``(N, 4)`` xyxy pixels -> N ``(H, W)`` bool masks)."""
    return [box_to_mask(b, height, width) for b in as_boxes_xyxy(boxes_xyxy_px)]
