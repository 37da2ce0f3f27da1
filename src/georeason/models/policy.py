"""The policy (locator): a Qwen-VL model that reasons and answers boxes for a query on an image.

:meth:`Policy.locate` runs one batched ``generate`` (left padding) over (image, query) pairs and
returns one :class:`Localization` per pair with boxes in **original-image pixels** (xyxy, float64).
Post-processing is :func:`localization_from_text`, the single path from model text to pixels:
``parse_completion`` (model frame) -> ``geometry.boxes_from_model_frame`` -> ``sanitize_boxes``.

The image is resized by the processor to a pixel budget with transformers' ``smart_resize``
(height and width multiples of 28 for Qwen2.5-VL, 32 for Qwen3-VL); the size actually used is
read back from the processor output (``image_grid_thw`` x patch size), never re-derived.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from georeason import prompts
from georeason.geometry import ModelFrame, boxes_from_model_frame, sanitize_boxes
from georeason.parsing import DEFAULT_MAX_BOXES, ParseResult, parse_completion

#: Pixel budget of the model input: 802,816 = 1024 x 28 x 28, used by RemoteReasoner and RemoteZero.
DEFAULT_MAX_PIXELS = 802_816
#: Generation budget (ours: reasoning + a few boxes fit in 512 tokens; RemoteZero caps the whole
#: sequence at 2048).
DEFAULT_MAX_NEW_TOKENS = 512

ImageLike = Any  # RasterImage | np.ndarray (H, W, 3) uint8 | PIL.Image.Image


@dataclass(frozen=True)
class Localization:
    """The policy's answer for one (image, query) pair.

    Attributes:
        text: the raw completion (special tokens removed).
        parse: :class:`georeason.parsing.ParseResult`; its boxes are in the model frame.
        boxes_xyxy_px: ``(N, 4)`` float64 xyxy boxes in **original-image pixels**, clipped to the
            image, corners ordered, empty boxes dropped.
        model_input_hw: ``(height, width)`` in pixels of the resized image fed to the model.
        original_hw: ``(height, width)`` in pixels of the original image.
        frame: the model frame the text was read in (``"resized_px"`` or ``"norm1000"``).
        n_dropped: boxes parsed but dropped by ``sanitize_boxes`` (empty after clipping).
    """

    text: str
    parse: ParseResult
    boxes_xyxy_px: np.ndarray
    model_input_hw: tuple[int, int]
    original_hw: tuple[int, int]
    frame: ModelFrame
    n_dropped: int = 0


def localization_from_text(
    text: str,
    original_hw: tuple[int, int],
    model_input_hw: tuple[int, int],
    frame: ModelFrame,
    max_boxes: int = DEFAULT_MAX_BOXES,
) -> Localization:
    """Turn a completion into boxes in original pixels (the only post-processing path). Never
    raises on model text.

    Args:
        text: the completion.
        original_hw: ``(H, W)`` of the original image, pixels.
        model_input_hw: ``(h, w)`` of the resized model input, pixels (used by ``"resized_px"``).
        frame: ``"resized_px"`` (Qwen2.5-VL) or ``"norm1000"`` (Qwen3-VL).
        max_boxes: passed to :func:`georeason.parsing.parse_completion`.

    Returns:
        A :class:`Localization`.

    Raises:
        ValueError: on an unknown frame (a programming error, not model text).

    Examples:
        >>> text = "<think>t</think><answer>[0,0,500,500]</answer>"
        >>> loc = localization_from_text(text, (200, 400), (196, 392), "norm1000")
        >>> loc.boxes_xyxy_px.tolist()
        [[0.0, 0.0, 200.0, 100.0]]
    """
    parse = parse_completion(text, max_boxes=max_boxes)
    h, w = int(original_hw[0]), int(original_hw[1])
    hw_in = (int(model_input_hw[0]), int(model_input_hw[1]))
    boxes = boxes_from_model_frame(
        np.asarray(parse.boxes, dtype=np.float64).reshape(-1, 4), frame, (h, w), hw_in
    )
    boxes, n_dropped = sanitize_boxes(boxes, w, h)
    return Localization(
        text=text if isinstance(text, str) else "",
        parse=parse,
        boxes_xyxy_px=boxes,
        model_input_hw=hw_in,
        original_hw=(h, w),
        frame=frame,
        n_dropped=n_dropped,
    )


def to_pil_rgb(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a ``RasterImage``, a ``(H, W, 3)`` uint8 array or a PIL image.

    Raises:
        ValueError: if an array is not ``(H, W, 3)`` uint8 (or ``(H, W)`` uint8, made grey RGB).
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    arr = getattr(image, "rgb", image)
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"image must be (H, W, 3) uint8 (see georeason.io.read_image); got {arr.shape} "
            f"{arr.dtype}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image has no pixels: shape {arr.shape}")
    return Image.fromarray(np.ascontiguousarray(arr), mode="RGB")


def model_input_sizes(image_grid_thw, patch_size: int) -> list[tuple[int, int]]:
    """``(h, w)`` in pixels of each image as fed to the vision tower: grid x patch size.

    Args:
        image_grid_thw: ``(B, 3)`` tensor/array of (temporal, grid_h, grid_w) patches per image.
        patch_size: the vision patch size (14 for Qwen2.5-VL, 16 for Qwen3-VL).
    """
    grid = np.asarray(
        image_grid_thw.tolist() if hasattr(image_grid_thw, "tolist") else image_grid_thw
    )
    return [(int(gh) * patch_size, int(gw) * patch_size) for _, gh, gw in grid.reshape(-1, 3)]


def encode_batch(
    processor, texts: Sequence[str], images: Sequence[Image.Image], min_pixels, max_pixels
):  # -> transformers.BatchFeature
    """Processor inputs of (text, image) pairs, padded, as tensors, at the given pixel budget.

    Raises:
        RuntimeError: if the processor dropped the images (a bare tokenizer, not an image-only
            Qwen-VL processor of :mod:`georeason.models.processors`).
    """
    inputs = processor(
        text=list(texts),
        images=list(images),
        padding=True,
        return_tensors="pt",
        **image_size_kwargs(processor, min_pixels, max_pixels),
    )
    if "pixel_values" not in inputs:
        raise RuntimeError(
            "the processor dropped the images (no pixel_values); use an image-only Qwen-VL "
            "processor (georeason.models.processors)"
        )
    return inputs


def image_size_kwargs(processor, min_pixels: int | None, max_pixels: int | None) -> dict:
    """Processor-call kwargs that set the pixel budget for this call only (``size=``).

    ``None`` keeps the image processor's own bound (rules of
    :func:`georeason.models.loading.pixel_budget`). The processor object is not modified, so a
    processor shared by a policy and a verifier can serve both budgets.

    Raises:
        ValueError: if a value is not positive or an explicit ``min_pixels > max_pixels``.
    """
    from georeason.models.loading import pixel_budget

    if min_pixels is None and max_pixels is None:
        return {}
    return {"size": pixel_budget(processor.image_processor.size, max_pixels, min_pixels)}


class Policy:
    """A Qwen2.5-VL / Qwen3-VL locator with batched generation.

    Build with :meth:`from_pretrained` (checkpoint folder or hub id, optional LoRA adapter), or
    wrap an already loaded model and processor with the constructor (e.g. a model being trained).

    Attributes:
        model: the generation model (possibly a ``peft.PeftModel``).
        processor: the image-only Qwen-VL processor (tokenizer padding side left).
        arch: ``"qwen2_5_vl"`` or ``"qwen3_vl"``.
        frame: ``"resized_px"`` or ``"norm1000"``: how the model writes boxes.
        weights: ``"random"`` (a ``make-tiny`` model) or ``"pretrained"``.
        model_name: the id or folder it came from.
        max_pixels, min_pixels: pixel budget of each model input (``None``: processor's own).
        prompt_template: the policy prompt template (:func:`georeason.prompts.policy_prompt`;
            None = the default). Use the one the policy was trained with.
    """

    def __init__(
        self,
        model,
        processor,
        arch: str,
        frame: ModelFrame | None = None,
        weights: str | None = None,
        model_name: str | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        min_pixels: int | None = None,
        prompt_template: str | None = None,
    ) -> None:
        from georeason.models.loading import FRAME_BY_ARCH, weights_kind_of

        if arch not in FRAME_BY_ARCH:
            raise ValueError(f"unsupported arch {arch!r}; expected one of {tuple(FRAME_BY_ARCH)}")
        self.model = model
        self.processor = processor
        self.arch = arch
        self.frame: ModelFrame = frame or FRAME_BY_ARCH[arch]
        self.weights = weights or weights_kind_of(model)
        self.model_name = model_name or getattr(model.config, "name_or_path", "") or ""
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        if prompt_template is not None:
            prompts.check_policy_template(prompt_template)
        self.prompt_template = prompt_template
        processor.tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        adapter: str | os.PathLike | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        min_pixels: int | None = None,
        device: str | None = None,
        dtype=None,
        prompt_template: str | None = None,
    ) -> Policy:
        """Load a checkpoint (folder or hub id) and optionally a LoRA adapter.

        Args:
            model: folder with ``config.json`` or hub id (Qwen2.5-VL or Qwen3-VL).
            adapter: peft LoRA adapter folder, or None.
            max_pixels: pixel budget of the resized input (default 802,816 as in both papers).
            min_pixels: lower pixel bound (None: the checkpoint's, 3,136 for Qwen2.5-VL).
            device: default cuda if available, else cpu.
            dtype: default bfloat16 on GPU, float32 on CPU.
            prompt_template: see the class docstring.

        Raises:
            georeason.errors.ModelLoadError: missing folder/id, unsupported arch, bad adapter.
        """
        from georeason.models.loading import load_model_and_processor

        lm = load_model_and_processor(
            model,
            adapter=adapter,
            max_pixels=max_pixels,
            min_pixels=min_pixels,
            device=device,
            dtype=dtype,
        )
        return cls(
            lm.model,
            lm.processor,
            arch=lm.arch,
            frame=lm.frame,
            weights=lm.weights,
            model_name=lm.model_name,
            max_pixels=max_pixels,
            min_pixels=min_pixels,
            prompt_template=prompt_template,
        )

    @property
    def device(self):  # -> torch.device
        return next(self.model.parameters()).device

    def prompt_text(self, query: str) -> str:
        """The full chat-formatted policy prompt for one query (image placeholder included)."""
        return self.processor.apply_chat_template(
            prompts.policy_messages(query, self.frame, self.prompt_template),
            tokenize=False,
            add_generation_prompt=True,
        )

    def build_inputs(self, images: Sequence[ImageLike], queries: Sequence[str]):
        """Processor inputs for a batch (left padded) and each image's original/model size.

        Returns:
            ``(inputs, original_hws, model_input_hws)``: a ``BatchFeature`` with ``input_ids``
            ``(B, T)``, ``attention_mask`` ``(B, T)``, ``pixel_values`` ``(P, C*t*p*p)`` and
            ``image_grid_thw`` ``(B, 3)``; two lists of ``(h, w)`` pixel sizes.

        Raises:
            ValueError: if lengths differ, the batch is empty, or an image is malformed.
            georeason.errors.UserInputError: an aspect ratio Qwen-VL cannot take (> 200:1).
        """
        from georeason.models.processors import check_aspect_ratio

        if len(images) != len(queries):
            raise ValueError(f"got {len(images)} images but {len(queries)} queries")
        if len(images) == 0:
            raise ValueError("empty batch")
        pil = [to_pil_rgb(im) for im in images]
        for im in pil:
            check_aspect_ratio(im.height, im.width)
        texts = [self.prompt_text(q) for q in queries]
        inputs = encode_batch(self.processor, texts, pil, self.min_pixels, self.max_pixels)
        original = [(im.height, im.width) for im in pil]
        resized = model_input_sizes(
            inputs["image_grid_thw"], self.processor.image_processor.patch_size
        )
        return inputs, original, resized

    def locate(
        self,
        images: Sequence[ImageLike],
        queries: Sequence[str],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        do_sample: bool = False,
        temperature: float = 1.0,
        batch_size: int | None = None,
    ) -> list[Localization]:
        """Answer each query on its image with boxes in original pixels (batched ``generate``).

        Args:
            images: ``RasterImage``, ``(H, W, 3)`` uint8 arrays or PIL images.
            queries: one query per image.
            max_new_tokens: generation budget per completion.
            do_sample: greedy decoding if False (default), else plain sampling at
                ``temperature`` with ``top_p=1`` and no top-k (the papers' rollouts use 0.9),
                overriding the checkpoint's generation config.
            temperature: sampling temperature (ignored when ``do_sample`` is False).
            batch_size: pairs per ``generate`` call (None: all at once).

        Returns:
            One :class:`Localization` per pair, in input order.

        Raises:
            ValueError: mismatched lengths, empty batch, malformed image, bad ``batch_size``.
        """
        import torch

        if len(images) != len(queries):
            raise ValueError(f"got {len(images)} images but {len(queries)} queries")
        n = len(images)
        if n == 0:
            return []
        step = n if batch_size is None else int(batch_size)
        if step <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        gen_kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "do_sample": do_sample}
        if do_sample:
            # plain temperature sampling, as in GRPO rollouts (TRL: top_p=1, no top-k); the
            # checkpoints' generation_config (e.g. top_k=1, top_p=0.001) would make it greedy
            gen_kwargs.update(temperature=float(temperature), top_p=1.0, top_k=0)
        tok = self.processor.tokenizer
        gen_kwargs["pad_token_id"] = tok.pad_token_id
        results: list[Localization] = []
        for start in range(0, n, step):
            inputs, original, resized = self.build_inputs(
                images[start : start + step], queries[start : start + step]
            )
            inputs = inputs.to(self.device)
            dtype = next(self.model.parameters()).dtype
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            with torch.inference_mode():
                out = self.model.generate(**inputs, **gen_kwargs)  # (B, T + new)
            new_tokens = out[:, inputs["input_ids"].shape[1] :]
            texts = tok.batch_decode(new_tokens, skip_special_tokens=True)
            for text, ohw, mhw in zip(texts, original, resized, strict=True):
                results.append(localization_from_text(text, ohw, mhw, self.frame))
        return results

    def generate_chat(
        self,
        messages: Sequence[Sequence[dict[str, Any]]],
        images: Sequence[Sequence[ImageLike]],
        **generate_kwargs: Any,
    ) -> list[str]:
        """Free-text answers to chats (e.g. GeoZero's tasks), one ``generate`` call per batch.

        Args:
            messages: per sample, a Qwen chat (``{"role", "content"}``) whose user turns hold
                one ``{"type": "image"}`` part per image.
            images: per sample, its images in order (``RasterImage``, arrays or PIL).
            generate_kwargs: passed to ``model.generate`` (``max_new_tokens``, ``do_sample``,
                ``num_beams``...); ``pad_token_id`` is set here.

        Returns:
            The decoded completions (special tokens skipped), in input order.

        Raises:
            ValueError: mismatched lengths or an image count that differs from the chat's.
            georeason.errors.UserInputError: an aspect ratio Qwen-VL cannot take (> 200:1).
        """
        import torch

        from georeason.models.processors import check_aspect_ratio

        if len(messages) != len(images):
            raise ValueError(f"got {len(messages)} chats but {len(images)} image lists")
        if not messages:
            return []
        texts, pil = [], []
        for chat, ims in zip(messages, images, strict=True):
            n_parts = sum(
                isinstance(c, dict) and c.get("type") == "image"
                for m in chat
                if isinstance(m.get("content"), list)
                for c in m["content"]
            )
            if n_parts != len(ims):
                raise ValueError(f"a chat has {n_parts} image parts but {len(ims)} images")
            texts.append(
                self.processor.apply_chat_template(
                    list(chat), tokenize=False, add_generation_prompt=True
                )
            )
            for im in ims:
                rgb = to_pil_rgb(im)
                check_aspect_ratio(rgb.height, rgb.width)
                pil.append(rgb)
        inputs = encode_batch(self.processor, texts, pil, self.min_pixels, self.max_pixels)
        inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(next(self.model.parameters()).dtype)
        tok = self.processor.tokenizer
        with torch.inference_mode():
            out = self.model.generate(**inputs, pad_token_id=tok.pad_token_id, **generate_kwargs)
        return tok.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
