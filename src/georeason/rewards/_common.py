"""Shared plumbing of the reward functions: completion text, image sizes, model-frame boxes.

TRL calls a reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
where every dataset column except ``prompt`` arrives as a list with one entry per completion
(each prompt's row repeated once per generation). Conversational completions are lists of
messages ``[{"role": "assistant", "content": "..."}]``; plain ones are strings. Both are read here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from georeason.geometry import MODEL_FRAMES
from georeason.models.policy import Localization, localization_from_text


def completion_text(completion: Any) -> str:
    """The generated text of one completion, whatever TRL's format.

    Args:
        completion: a string, or a list of chat messages (the last ``assistant`` message is read;
            its ``content`` may be a string or a list of ``{"type": "text", "text": ...}`` parts).

    Returns:
        The text, or ``""`` for anything unreadable. Never raises.

    Examples:
        >>> completion_text([{"role": "assistant", "content": "<answer>[]</answer>"}])
        '<answer>[]</answer>'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return ""
    for message in reversed(completion):
        if not isinstance(message, dict):
            continue
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content", "")
        if isinstance(content, str):
            return content
        if isinstance(content, (list, tuple)):
            return "".join(
                str(p.get("text", ""))
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        return ""
    return ""


def image_hw(image: Any) -> tuple[int, int]:
    """``(height, width)`` in pixels of a PIL image, an ``(H, W[, C])`` array or an ``(h, w)`` pair.

    Raises:
        ValueError: if the size cannot be read.
    """
    if hasattr(image, "size") and hasattr(image, "mode"):  # PIL.Image: size is (W, H)
        w, h = image.size
        return int(h), int(w)
    if isinstance(image, np.ndarray) and image.ndim >= 2:
        return int(image.shape[0]), int(image.shape[1])
    if isinstance(image, (list, tuple)) and len(image) == 2:
        return int(image[0]), int(image[1])
    raise ValueError(f"cannot read an image size from {type(image).__name__}")


def column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    """Dataset column ``name`` from the reward kwargs, checked to hold one entry per completion.

    Raises:
        KeyError: naming the missing column and the columns that are there.
        ValueError: if its length differs from the number of completions.
    """
    if name not in kwargs or kwargs[name] is None:
        present = sorted(k for k in kwargs if not k.startswith("_"))
        raise KeyError(f"reward needs the dataset column {name!r}; columns given: {present}")
    values = list(kwargs[name])
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} entries for {n} completions")
    return values


@dataclass(frozen=True)
class FrameSpec:
    """How the policy's processor resized the image, to map answer boxes back to original pixels.

    Qwen2.5-VL answers in pixels of the resized model input (``"resized_px"``): the processor
    resizes with ``smart_resize`` (sides rounded to multiples of ``factor`` = patch 14 x merge 2 =
    28, area kept within ``[min_pixels, max_pixels]``). Qwen3-VL answers in ``"norm1000"``
    (0..1000, independent of the resize; its factor is 16 x 2 = 32).

    Attributes:
        frame: ``"resized_px"`` or ``"norm1000"``.
        min_pixels, max_pixels: the processor's pixel budget (pixels of the model input).
        factor: side multiple of the resized image (patch size x spatial merge size).
    """

    frame: str = "resized_px"
    min_pixels: int = 56 * 56
    max_pixels: int = 802_816  # RemoteReasoner / RemoteZero: max image size 802,816 pixels
    factor: int = 28

    def __post_init__(self) -> None:
        if self.frame not in MODEL_FRAMES:
            raise ValueError(f"unknown model frame {self.frame!r}; expected one of {MODEL_FRAMES}")
        if self.factor <= 0 or self.min_pixels <= 0 or self.max_pixels < self.min_pixels:
            raise ValueError(f"invalid pixel budget in {self}")

    def model_input_hw(self, original_hw: tuple[int, int]) -> tuple[int, int]:
        """``(height, width)`` of the model input for an original image: transformers' own
        ``smart_resize`` (``transformers.models.qwen2_vl.image_processing_pil_qwen2_vl``), the
        function the Qwen-VL processors call.

        Raises:
            georeason.errors.UserInputError: an aspect ratio above Qwen-VL's limit
                (:func:`georeason.models.processors.check_aspect_ratio`).
        """
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        from georeason.models.processors import check_aspect_ratio

        height, width = int(original_hw[0]), int(original_hw[1])
        check_aspect_ratio(height, width)
        h_bar, w_bar = smart_resize(
            height,
            width,
            factor=self.factor,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
        )
        return int(h_bar), int(w_bar)

    def localize(self, completion: Any, original_hw: tuple[int, int]) -> Localization:
        """Read one completion and convert its boxes to original pixels, exactly as the policy
        does at inference (:func:`georeason.models.policy.localization_from_text`: parse, frame
        conversion, corners fixed, clipped to the image, empty boxes dropped). Never raises on
        model text."""
        return localization_from_text(
            completion_text(completion), original_hw, self.model_input_hw(original_hw), self.frame
        )


def frame_spec_for(processor: Any, arch: str) -> FrameSpec:
    """The policy's answer frame and resize rule, read from its processor.

    ``factor`` = patch size x merge size; the pixel budget = the image processor's ``size``
    (``shortest_edge``/``longest_edge`` are pixel counts in the Qwen-VL processors).
    """
    from georeason.models.loading import FRAME_BY_ARCH

    ip = processor.image_processor
    size = ip.size
    return FrameSpec(
        frame=FRAME_BY_ARCH[arch],
        min_pixels=int(size["shortest_edge"]),
        max_pixels=int(size["longest_edge"]),
        factor=int(ip.patch_size) * int(ip.merge_size),
    )


def log_metric(kwargs: dict[str, Any], name: str, value: float) -> None:
    """Send a scalar to TRL's per-step metrics when the trainer provides ``log_metric``."""
    fn = kwargs.get("log_metric")
    if callable(fn) and math.isfinite(value):
        fn(name, float(value))


def as_gt_boxes(value: Sequence[Sequence[float]] | np.ndarray | None) -> np.ndarray:
    """Ground-truth boxes of one sample as ``(J, 4)`` float64 (``None`` or ``[]`` gives J = 0)."""
    if value is None:
        return np.zeros((0, 4), dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return arr.reshape(-1, 4)


class GroundTruthBoxReward:
    """Base of the supervised rewards: localise each completion, compare with ground-truth boxes.

    Subclasses define :meth:`score` on ``(K, 4)`` predicted and ``(J, 4)`` ground-truth boxes, both
    in original pixels. An unreadable answer scores 0 without calling :meth:`score` (only an
    explicit ``[]`` claims "no target"; ours, the papers do not discuss unreadable output).

    Dataset columns used: ``boxes_xyxy_px`` (``(J, 4)`` original pixels per sample) and ``image``
    (PIL image) or ``image_hw`` (``(height, width)``) for the frame conversion.
    """

    __name__ = "ground_truth_box_reward"

    def __init__(self, frame: FrameSpec | None = None) -> None:
        self.frame = frame or FrameSpec()

    def score(self, pred_boxes_xyxy_px: np.ndarray, gt_boxes_xyxy_px: np.ndarray) -> float:
        raise NotImplementedError

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
            out.append(self.score(loc.boxes_xyxy_px, as_gt_boxes(gt)))
        return out
