"""Verification reward (RemoteZero, 2026: Generate-Crop-Verify).

``R = V(T(I, b), q) - lambda * max(0, area(b) / area(I) - tau)``

* ``T(I, b)``: crop of the image around the predicted box ``b`` enlarged by a context margin
  (RemoteZero's ablation: 15% padding beats the exact-box crop, Acc@0.5 64.61 -> 69.96), or
  another verifier input (:mod:`georeason.verifier_inputs`: strict crop, whole image with the
  box highlighted, whole image and crop).
* ``V``: a verifier MLLM's confidence in ``[0, 1]`` that the crop satisfies the query ``q``
  (any object with ``score(crops, queries) -> list[float]``, e.g.
  :class:`georeason.models.verifier.LocalVerifier` or
  :class:`georeason.serving.verifier_client.HTTPVerifier`).
* Area penalty: without it the policy learns huge boxes (RemoteZero: 65.20 -> 69.96 with it).

The paper publishes neither ``lambda`` nor ``tau``; our defaults are ``tau = 0.3``,
``lambda = 1.0``: boxes up to 30% of the image (a single target of EarthReason/RSVG rarely covers
more) are not penalised, while a full-image box loses 0.7, so even a verifier that is certain about
the whole scene leaves it at 0.3, clearly below a tight correct box the verifier accepts (> 0.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from georeason.geometry import box_area
from georeason.models.verifier_base import Verifier
from georeason.rewards._common import (
    FrameSpec,
    column,
    image_hw,
    log_metric,
)
from georeason.verifier_inputs import (
    DEFAULT_GLOBAL_MAX_PIXELS,
    check_verifier_input,
    crop_for_verifier,
    score_views,
    verifier_images,
)

__all__ = [
    "VerificationReward",
    "area_penalty",
    "crop_for_verifier",
    "make_verification_reward",
]

DEFAULT_MARGIN_RATIO = 0.15  # RemoteZero's context-crop ablation
DEFAULT_AREA_PENALTY = 1.0  # lambda, ours (see the module docstring)
DEFAULT_AREA_THRESHOLD = 0.3  # tau, ours (see the module docstring)
AGGREGATES = ("mean", "max", "first")


def area_penalty(area_ratio: float, weight: float, threshold: float) -> float:
    """RemoteZero's area penalty ``lambda * max(0, ratio - tau)`` (``lambda``, ``tau`` ours).

    Examples:
        >>> area_penalty(1.0, 1.0, 0.3)
        0.7
        >>> area_penalty(0.2, 1.0, 0.3)
        0.0
    """
    return float(weight * max(0.0, area_ratio - threshold))


class VerificationReward:
    """TRL reward of RemoteZero's Generate-Crop-Verify loop (equation in the module docstring).

    For each completion: parse the answer, convert its boxes from the model frame to original
    pixels (clipped, empty ones dropped), crop each box with the context margin, score all crops
    of the batch in one ``verifier.score`` call, subtract each box's area penalty and aggregate
    over the answer's boxes. An unreadable answer, an empty answer ``[]`` or one whose boxes all lie
    outside the image scores 0 (nothing to verify). Verifier errors propagate: a reward is never
    silently replaced by 0.

    Dataset columns used: ``image`` (PIL image, original pixels) and ``query`` (str).
    Metrics sent to TRL (``log_metric``): ``verifier_confidence`` (mean over scored boxes) and
    ``box_area_ratio`` (mean box area / image area).

    Args:
        verifier: object with ``score(crops, queries) -> list[float]`` in ``[0, 1]``.
        frame: how the policy's answers are framed (see :class:`FrameSpec`).
        margin_ratio: context margin per side as a fraction of the box size (0.15, RemoteZero);
            0 gives the strict crop of the ablation.
        area_penalty_weight: ``lambda`` (ours: 1.0).
        area_threshold: ``tau``, an area fraction of the image (ours: 0.3).
        aggregate: how the per-box scores of one answer combine: ``"mean"`` (default, ours: an
            extra wrong box lowers the reward), ``"max"``, or ``"first"`` (the paper's one-box
            setting: only the first box is scored).
        max_boxes: at most this many boxes per answer are verified (first ones; bounds the cost).
        input_mode: what the verifier sees (:data:`georeason.verifier_inputs.VERIFIER_INPUTS`;
            default ``"context_crop"``, RemoteZero's). The area penalty is the same in every mode.
        global_max_pixels: pixel budget of the whole image in the global modes (None: the
            verifier's own ``max_pixels`` when it has one, else 200,704, ours).

    Raises:
        ValueError: on an unknown aggregate or input mode, or negative parameters.
    """

    __name__ = "verification_reward"

    def __init__(
        self,
        verifier: Verifier,
        frame: FrameSpec | None = None,
        margin_ratio: float = DEFAULT_MARGIN_RATIO,
        area_penalty_weight: float = DEFAULT_AREA_PENALTY,
        area_threshold: float = DEFAULT_AREA_THRESHOLD,
        aggregate: str = "mean",
        max_boxes: int = 10,
        input_mode: str = "context_crop",
        global_max_pixels: int | None = None,
    ) -> None:
        check_verifier_input(input_mode)
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        if margin_ratio < 0 or area_penalty_weight < 0 or max_boxes < 1:
            raise ValueError("margin_ratio and area_penalty_weight must be >= 0, max_boxes >= 1")
        if not 0.0 <= area_threshold <= 1.0:
            raise ValueError(f"area_threshold must be in [0, 1], got {area_threshold}")
        self.verifier = verifier
        self.frame = frame or FrameSpec()
        self.margin_ratio = float(margin_ratio)
        self.area_penalty_weight = float(area_penalty_weight)
        self.area_threshold = float(area_threshold)
        self.aggregate = aggregate
        self.max_boxes = int(max_boxes)
        self.input_mode = input_mode
        if global_max_pixels is None:
            global_max_pixels = getattr(verifier, "max_pixels", None) or DEFAULT_GLOBAL_MAX_PIXELS
        self.global_max_pixels = int(global_max_pixels)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        images = column(kwargs, "image", n)
        queries = column(kwargs, "query", n)
        crops: list[Any] = []
        crop_queries: list[str] = []
        owner: list[int] = []  # completion index of each crop
        penalties: list[float] = []
        ratios: list[float] = []
        for i, (completion, image) in enumerate(zip(completions, images, strict=True)):
            hw = image_hw(image)
            loc = self.frame.localize(completion, hw)
            if not loc.parse.parsed:
                continue
            boxes = loc.boxes_xyxy_px
            boxes = boxes[: 1 if self.aggregate == "first" else self.max_boxes]
            image_area = float(hw[0] * hw[1])
            for box, area in zip(boxes, box_area(boxes), strict=True):
                ratio = float(area) / image_area
                crops.append(
                    verifier_images(
                        image, box, self.input_mode, self.margin_ratio, self.global_max_pixels
                    )
                )
                crop_queries.append(str(queries[i]))
                owner.append(i)
                ratios.append(ratio)
                penalties.append(area_penalty(ratio, self.area_penalty_weight, self.area_threshold))
        confidences = self._score_by_size(crops, crop_queries)
        if len(confidences) != len(crops):
            raise RuntimeError(
                f"verifier returned {len(confidences)} scores for {len(crops)} crops"
            )
        per_completion: list[list[float]] = [[] for _ in range(n)]
        for i, conf, pen in zip(owner, confidences, penalties, strict=True):
            per_completion[i].append(float(conf) - pen)
        out: list[float | None] = []
        for scores in per_completion:
            if not scores:
                out.append(0.0)
            elif self.aggregate == "max":
                out.append(float(max(scores)))
            else:  # "mean"; "first" has one score
                out.append(float(np.mean(scores)))
        if confidences:
            log_metric(kwargs, "verifier_confidence", float(np.mean(confidences)))
            log_metric(kwargs, "box_area_ratio", float(np.mean(ratios)))
        return out

    def _score_by_size(self, views: list[tuple[Any, ...]], queries: list[str]) -> list[float]:
        """Score views in order of size, returned in input order: a batched verifier pads each
        batch to its largest input, so neighbours of similar size waste less compute."""
        if not views:
            return []

        def pixels(i: int) -> int:
            return sum(im.size[0] * im.size[1] for im in views[i])

        order = sorted(range(len(views)), key=pixels)
        scores = score_views(
            self.verifier,
            [views[i] for i in order],
            [queries[i] for i in order],
            self.input_mode,
        )
        if len(scores) != len(views):
            return scores  # the caller reports the mismatch
        out = [0.0] * len(views)
        for rank, i in enumerate(order):
            out[i] = float(scores[rank])
        return out


def make_verification_reward(verifier: Verifier, **options: Any) -> VerificationReward:
    """A :class:`VerificationReward`; ``options`` are its keyword arguments. Picklable when the
    verifier is (the HTTP client is; a local model is shared by reference)."""
    return VerificationReward(verifier, **options)
