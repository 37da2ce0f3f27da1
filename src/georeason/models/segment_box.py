"""The box-filling baseline: each box's pixel window is its mask."""

from __future__ import annotations

import numpy as np

from georeason.geometry import as_boxes_xyxy
from georeason.masks import box_to_mask
from georeason.models.segment_base import check_rgb


class BoxSegmenter:
    """Box -> mask by filling the box (every pixel the box covers, rounded outwards).

    The baseline every other segmenter is measured against, and the fallback of
    :class:`georeason.models.segment_default.ShapeFitSegmenter`.
    """

    name = "box"

    def segment(self, rgb: np.ndarray, boxes_xyxy_px: np.ndarray) -> list[np.ndarray]:
        """One filled mask per box.

        Args:
            rgb: ``(H, W, 3)`` uint8 image (only its size is used).
            boxes_xyxy_px: ``(N, 4)`` xyxy boxes in original-image pixels.

        Returns:
            N ``(H, W)`` bool masks in box order (see :func:`georeason.masks.box_to_mask`).

        Raises:
            ValueError: if ``rgb`` is not an ``(H, W, 3)`` uint8 array.
        """
        check_rgb(rgb)
        h, w = rgb.shape[:2]
        return [box_to_mask(b, h, w) for b in as_boxes_xyxy(boxes_xyxy_px)]
