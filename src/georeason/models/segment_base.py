"""Leaf module of the segmenters: their interface and the input check they all share.

The factory (:mod:`georeason.models.segmenters`) depends on the segmenters, never the reverse.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """Turns boxes into masks.

    Attributes:
        name: short label written into outputs (e.g. ``"shape-fit"``, ``"box"``, ``"sam2"``).
    """

    name: str

    def segment(self, rgb: np.ndarray, boxes_xyxy_px: np.ndarray) -> list[np.ndarray]:
        """One mask per box.

        Args:
            rgb: ``(H, W, 3)`` uint8 image, row 0 at the top.
            boxes_xyxy_px: ``(N, 4)`` float64 ``[x1, y1, x2, y2]`` boxes in original-image pixels.

        Returns:
            N ``(H, W)`` bool masks in box order (an empty list for N = 0). Masks stay inside
            their box's pixel window except for SAM2 (see its docstring).
        """
        ...


def check_rgb(rgb: np.ndarray) -> None:
    """Check the image a segmenter receives.

    Raises:
        ValueError: if ``rgb`` is not an ``(H, W, 3)`` uint8 array with H, W >= 1.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise ValueError(f"segmenters take an (H, W, 3) uint8 RGB array; got shape {shape}")
    if rgb.dtype != np.uint8 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(
            f"segmenters take a non-empty uint8 RGB array; got {rgb.dtype} {rgb.shape}"
        )
