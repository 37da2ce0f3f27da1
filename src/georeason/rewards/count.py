"""Count reward (RemoteReasoner, 2025, eq. 5: ``R_count``)."""

from __future__ import annotations

import math

import numpy as np

from georeason.rewards._common import FrameSpec, GroundTruthBoxReward


def count_score(num_pred: int, num_gt: int) -> float:
    """RemoteReasoner eq. 5 for ``K`` predicted and ``J`` ground-truth boxes.

    ``1`` if ``J = 0`` and ``K = 0``; ``0`` if ``J = 0`` and ``K > 0``; ``exp(-2 |K - J| / J)``
    if ``J > 0``.

    Raises:
        ValueError: on a negative count.

    Examples:
        >>> count_score(0, 0), count_score(2, 0), count_score(2, 2)
        (1.0, 0.0, 1.0)
        >>> round(count_score(1, 2), 6)  # exp(-1)
        0.367879
    """
    if num_pred < 0 or num_gt < 0:
        raise ValueError(f"counts must be >= 0, got K={num_pred}, J={num_gt}")
    if num_gt == 0:
        return 1.0 if num_pred == 0 else 0.0
    return math.exp(-2.0 * abs(num_pred - num_gt) / num_gt)


class CountReward(GroundTruthBoxReward):
    """TRL reward: :func:`count_score` of the answer's box count against the ground truth.

    ``K`` counts the boxes that survive conversion to original pixels (boxes entirely outside the
    image or empty after clipping are dropped, as at inference). An unreadable answer (no box list
    at all, :attr:`georeason.parsing.ParseResult.parsed` false) scores 0 even when ``J = 0``: only
    an explicit ``[]`` claims "no target" (ours; the paper does not discuss unreadable output).

    Dataset columns used: ``boxes_xyxy_px`` (``(J, 4)`` original pixels per sample) and ``image``
    (PIL image) or ``image_hw`` (``(height, width)``) for the frame conversion.

    Args:
        frame: how the policy's answers are framed (see :class:`FrameSpec`).
    """

    __name__ = "count_reward"

    def score(self, pred_boxes_xyxy_px: np.ndarray, gt_boxes_xyxy_px: np.ndarray) -> float:
        return count_score(len(pred_boxes_xyxy_px), len(gt_boxes_xyxy_px))


def make_count_reward(frame: FrameSpec | None = None) -> CountReward:
    """A picklable :class:`CountReward` for the given model frame."""
    return CountReward(frame)
