"""Reward functions for GRPO, in TRL's signature ``f(prompts, completions, **columns)``.

* :func:`format_reward` — RemoteReasoner ``R_format`` (georeason's reading);
  :func:`ms_swift_format_reward` — the ms-swift regex of RemoteReasoner's released run.
* :class:`IoUReward` / :func:`make_iou_reward` — RemoteReasoner eq. 4 (Hungarian-matched IoU).
* :class:`CountReward` / :func:`make_count_reward` — RemoteReasoner eq. 5.
* :class:`VerificationReward` / :func:`make_verification_reward` — RemoteZero Generate-Crop-Verify.

Boxes in completions are in the policy's model frame (:class:`FrameSpec`); ground truth in the
dataset (``boxes_xyxy_px``) is in original pixels.
"""

from georeason.rewards._common import FrameSpec, completion_text, frame_spec_for
from georeason.rewards.count import CountReward, count_score, make_count_reward
from georeason.rewards.format import FORMAT_REWARDS, format_reward, ms_swift_format_reward
from georeason.rewards.iou import IoUReward, make_iou_reward
from georeason.rewards.verification import (
    VerificationReward,
    area_penalty,
    crop_for_verifier,
    make_verification_reward,
)

__all__ = [
    "FORMAT_REWARDS",
    "CountReward",
    "FrameSpec",
    "IoUReward",
    "VerificationReward",
    "area_penalty",
    "completion_text",
    "count_score",
    "crop_for_verifier",
    "format_reward",
    "frame_spec_for",
    "make_count_reward",
    "make_iou_reward",
    "make_verification_reward",
    "ms_swift_format_reward",
]
