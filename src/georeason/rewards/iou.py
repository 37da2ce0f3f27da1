"""IoU reward (RemoteReasoner, 2025, eq. 4: ``R_IoU``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from georeason.geometry import matched_mean_iou
from georeason.rewards._common import (
    FrameSpec,
    as_gt_boxes,
    column,
    image_hw,
)


class IoUReward:
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

    def __init__(self, frame: FrameSpec | None = None) -> None:
        self.frame = frame or FrameSpec()

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        gts = column(kwargs, "boxes_xyxy_px", n)
        sizes = kwargs.get("image_hw") or column(kwargs, "image", n)
        out: list[float | None] = []
        for completion, gt, size in zip(completions, gts, sizes, strict=True):
            loc = self.frame.localize(completion, image_hw(size))
            if not loc.parse.parsed:
                out.append(0.0)
                continue
            pred = loc.boxes_xyxy_px
            out.append(matched_mean_iou(pred, as_gt_boxes(gt)))
        return out


def make_iou_reward(frame: FrameSpec | None = None) -> IoUReward:
    """A picklable :class:`IoUReward` for the given model frame."""
    return IoUReward(frame)
