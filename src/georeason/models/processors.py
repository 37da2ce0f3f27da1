"""Leaf module of :mod:`georeason.models`: the Qwen-VL processors without a video processor,
the answer frame and resize factor per architecture, and the random-weights marker.

Environment workaround: the Qwen-VL processors carry a *video* processor that needs torchvision,
which is unusable on CPU-only machines without a matching build.
:class:`ImageOnlyQwen2_5_VLProcessor` and :class:`ImageOnlyQwen3VLProcessor` are the library
processors built **without** a video processor (their constructor passes
``video_processor=None``); importing this module registers them for ``AutoProcessor`` on the two
configs, so ``AutoProcessor.from_pretrained`` (used e.g. by TRL's GRPOTrainer) returns a real
``ProcessorMixin`` that keeps images, never a bare tokenizer that silently drops them.

It imports nothing else of georeason's models, so loaders and model builders can both use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen3VLConfig
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

from georeason.errors import ModelLoadError
from georeason.geometry import ModelFrame
from georeason.io import write_json

Weights = Literal["random", "pretrained"]

#: ``config.model_type`` -> the frame the model answers boxes in.
FRAME_BY_ARCH: dict[str, ModelFrame] = {"qwen2_5_vl": "resized_px", "qwen3_vl": "norm1000"}

#: ``config.model_type`` -> resize factor = patch size x spatial merge size (pixels).
FACTOR_BY_ARCH: dict[str, int] = {"qwen2_5_vl": 28, "qwen3_vl": 32}

#: Marker file that ``make_tiny`` writes next to ``config.json``:
#: ``{"georeason_random_weights": true, ...}`` means the weights are random.
MARKER_FILE = "georeason.json"
MARKER_KEY = "georeason_random_weights"

#: Largest aspect ratio Qwen-VL's ``smart_resize`` accepts (its own check, 200:1).
MAX_ASPECT_RATIO = 200


def check_aspect_ratio(height: int, width: int) -> None:
    """Refuse an image Qwen-VL cannot take, with its size instead of a traceback.

    Raises:
        georeason.errors.UserInputError: an empty side, or an aspect ratio above
            :data:`MAX_ASPECT_RATIO` (``smart_resize`` would raise a bare ``ValueError``).
    """
    from georeason.errors import UserInputError

    if min(height, width) < 1 or max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise UserInputError(
            f"an image of {width} x {height} px has an aspect ratio above {MAX_ASPECT_RATIO}:1, "
            "which Qwen-VL models cannot take; crop or tile it first"
        )


def write_marker(
    folder: str | os.PathLike, random_weights: bool, arch: str, created_by: str, **extra: Any
) -> Path:
    """Write the one marker format: ``{MARKER_KEY: bool, "arch", "created_by", **extra}`` into
    ``folder/georeason.json`` (read by :func:`georeason.models.loading.read_weights_kind`).
    ``random_weights=False`` marks a folder whose random initial weights were trained since."""
    marker = {MARKER_KEY: bool(random_weights), "arch": arch, "created_by": created_by, **extra}
    path = Path(folder) / MARKER_FILE
    write_json(path, marker)
    return path


class _NoVideoProcessorMixin:
    """Builds the processor with ``video_processor=None`` (the video processor needs
    torchvision); images work as usual."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


class ImageOnlyQwen2_5_VLProcessor(_NoVideoProcessorMixin, Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without a video processor (no torchvision); images work as usual."""


class ImageOnlyQwen3VLProcessor(_NoVideoProcessorMixin, Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without a video processor (no torchvision); images work as usual."""


_PROCESSOR_BY_ARCH = {
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen3_vl": ImageOnlyQwen3VLProcessor,
}

AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)
AutoProcessor.register(Qwen3VLConfig, ImageOnlyQwen3VLProcessor, exist_ok=True)


def processor_class_for(arch: str) -> type:
    """The image-only processor class for ``arch`` (``"qwen2_5_vl"`` or ``"qwen3_vl"``).

    Raises:
        ModelLoadError: on an unsupported architecture.
    """
    try:
        return _PROCESSOR_BY_ARCH[arch]
    except KeyError:
        raise ModelLoadError(
            f"unsupported model_type {arch!r}; georeason supports {', '.join(_PROCESSOR_BY_ARCH)}"
        ) from None
