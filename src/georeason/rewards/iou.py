"""IoU reward (RemoteReasoner, 2025, eq. 4: ``R_IoU``)."""

from __future__ import annotations

import numpy as np

from georeason.geometry import matched_mean_iou
from georeason.rewards._common import FrameSpec, GroundTruthBoxReward


class IoUReward(GroundTruthBoxReward):
    """TRL reward: Hungarian-matched IoU summed over matches, divided by the ground-truth count.

    Source: RemoteReasoner (2025), eq. 4. Predicted boxes (``K``) are matched one-to-one to the
    ground truth (``J``) by the Hungarian algorithm on IoU (scipy); the summed IoU of the matches is
    divided by ``J``. With ``J = 0`` the count reward's logic applies: 1 for no prediction, else 0.
    Computed by :func:`georeason.geometry.matched_mean_iou` in original pixels, after converting the
    answer from the model frame and clipping to the image. An unreadable answer scores 0.

    Dataset columns used: ``boxes_xyxy_px`` and ``image`` (or ``image_hw``), as for
    :class:`georeason.rewards.count.CountReward`.

    Args:
        frame: how the policy's answers are framed (see :class:`FrameSpec`).
    """

    __name__ = "iou_reward"

    def score(self, pred_boxes_xyxy_px: np.ndarray, gt_boxes_xyxy_px: np.ndarray) -> float:
        return matched_mean_iou(pred_boxes_xyxy_px, gt_boxes_xyxy_px)


def make_iou_reward(frame: FrameSpec | None = None) -> IoUReward:
    """A picklable :class:`IoUReward` for the given model frame."""
    return IoUReward(frame)
