"""Tiles of a whole scene and the fusion of their boxes (ours; see :mod:`georeason.scene`).

Defaults that no paper fixes are ours: tile side = the side of the model's pixel budget, overlap
128 px, fusion when IoU >= 0.5 or containment >= 0.8.
"""

from __future__ import annotations

import math

import numpy as np

from georeason.errors import UserInputError
from georeason.geometry import box_area, box_iou_matrix

DEFAULT_TILE_OVERLAP_PX = 128
MERGE_IOU = 0.5
MERGE_CONTAINMENT = 0.8


def default_tile_size(max_pixels: int, factor: int = 28) -> int:
    """The tile side (px) that the model sees at full resolution: the largest multiple of
    ``factor`` whose square fits ``max_pixels``.

    >>> default_tile_size(802_816)
    896
    """
    return max(factor, int(math.isqrt(int(max_pixels)) // factor) * factor)


def tile_windows(
    width: int, height: int, tile_size: int, overlap: int
) -> list[tuple[int, int, int, int]]:
    """Overlapping windows ``(col_off, row_off, width, height)`` covering a scene.

    Tiles advance by ``tile_size - overlap``; the last tile of a row or column is moved back to
    end at the scene's edge (so every tile is full size when the scene is at least one tile
    wide, and neighbours overlap by at least ``overlap``). Order: row by row, top-left first.

    Raises:
        UserInputError: ``tile_size < 32`` or ``overlap`` not in ``[0, tile_size / 2]``.

    >>> tile_windows(2000, 1000, 1024, 128)  # 976 alone would overlap the first by 48 px only
    [(0, 0, 1024, 1000), (896, 0, 1024, 1000), (976, 0, 1024, 1000)]
    """
    if tile_size < 32:
        raise UserInputError(f"--tile-size must be at least 32 px, got {tile_size}")
    if not 0 <= overlap <= tile_size // 2:
        raise UserInputError(
            f"--tile-overlap must be in 0..{tile_size // 2} (half the tile), got {overlap}"
        )

    def starts(length: int) -> list[int]:
        if length <= tile_size:
            return [0]
        stride = tile_size - overlap
        out = list(range(0, length - tile_size, stride))
        out.append(length - tile_size)
        return out

    return [
        (c, r, min(tile_size, width), min(tile_size, height))
        for r in starts(height)
        for c in starts(width)
    ]


def merge_boxes(
    boxes_xyxy_px: np.ndarray,
    iou_threshold: float = MERGE_IOU,
    containment_threshold: float = MERGE_CONTAINMENT,
) -> tuple[np.ndarray, list[list[int]]]:
    """Fuse the duplicates that overlapping tiles produce.

    Two boxes are the same target when their IoU is at least ``iou_threshold`` or the smaller
    lies at least ``containment_threshold`` inside the larger (intersection over the smaller
    area: a piece of the target cut by a tile border). Connected groups are fused into their
    enclosing box. Policies give no scores, so there is nothing to rank by: fusion, not NMS.

    Args:
        boxes_xyxy_px: ``(N, 4)`` boxes in scene pixels.

    Returns:
        ``(M, 4)`` fused boxes (ordered by their first member) and, for each, the indices of
        the input boxes it fuses.

    >>> b = np.array([[0, 0, 100, 100], [90, 0, 100, 100], [300, 300, 310, 310]], float)
    >>> fused, groups = merge_boxes(b)
    >>> fused.tolist(), groups
    ([[0.0, 0.0, 100.0, 100.0], [300.0, 300.0, 310.0, 310.0]], [[0, 1], [2]])
    """
    boxes = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return boxes, []
    iou = box_iou_matrix(boxes, boxes)
    area = box_area(boxes)
    inter = iou * (area[:, None] + area[None, :]) / (1.0 + iou)  # |A∩B| from IoU
    smaller = np.minimum(area[:, None], area[None, :])
    contained = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    same = (iou >= iou_threshold) | (contained >= containment_threshold)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(same, k=1)), strict=True):
        parent[find(int(j))] = find(int(i))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    members = sorted(groups.values(), key=lambda g: g[0])
    fused = np.array(
        [
            [
                boxes[g, 0].min(),
                boxes[g, 1].min(),
                boxes[g, 2].max(),
                boxes[g, 3].max(),
            ]
            for g in members
        ]
    )
    return fused, members
