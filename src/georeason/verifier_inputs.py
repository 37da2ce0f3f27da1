"""What the verifier sees of a candidate box: RemoteZero's context crop and the inputs it names as
future work (the whole image with the candidate region highlighted).

RemoteZero (arXiv 2605.04451) verifies ``T(I, b)``, the box ``b`` enlarged by a 15 % context
margin per side and cropped (its ablation: 69.96 Acc@0.5 with the margin vs 64.61 for the exact
box). Its closing remarks on crop construction suggest giving the verifier the whole image with
the candidate highlighted instead. The four input modes (``verifier.input`` in training configs,
``--verifier-input`` on the command line):

============================  ===============================================  ====================
mode                          images per (box, query)                          visual tokens
============================  ===============================================  ====================
``context_crop`` (default)    the box + ``margin_ratio`` per side, cropped     <= budget / 784
``strict_crop``               the box alone (margin 0: the paper's ablation)   <= budget / 784
``global_highlight``          the whole image, resized to the budget, with     = budget / 784
                              the box outlined (:func:`highlight_box`)
``global_and_crop``           the whole image (no outline), then the context   <= 2 x budget / 784
                              crop: two images in one message
============================  ===============================================  ====================

"budget" is the verifier's pixel budget (:data:`georeason.models.verifier.DEFAULT_CROP_MAX_PIXELS`,
200,704 px: 256 visual tokens for Qwen2.5-VL, whose merged visual token covers 28 x 28 = 784 px;
Qwen3-VL's covers 32 x 32). A crop is usually far smaller than the budget, so the crop modes cost
least; the whole-image modes always pay the full budget. Every mode keeps one batched prefill per
group of rollouts (the two images of ``global_and_crop`` go into the same prefill).

The outline (ours; RemoteZero publishes no drawing): pure red (255, 0, 0), the colour named in the
prompt, :data:`HIGHLIGHT_WIDTH_PX` = 3 pixels wide at the verifier's resolution, drawn OUTSIDE the
box so the candidate's own pixels stay unchanged. Red is the set-of-mark convention; a scene full
of red roofs can make it harder to see, which is one thing the ablation measures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# Light on purpose: the CLI parsers import VERIFIER_INPUTS, so numpy/scipy (georeason.geometry)
# are imported inside the functions that need them.

VERIFIER_INPUTS: tuple[str, ...] = (
    "context_crop",
    "strict_crop",
    "global_highlight",
    "global_and_crop",
)
#: The modes that show the whole image (the verifier needs ``input_mode`` for their prompt).
GLOBAL_INPUTS: tuple[str, ...] = ("global_highlight", "global_and_crop")
HIGHLIGHT_RGB: tuple[int, int, int] = (255, 0, 0)
HIGHLIGHT_COLOR_NAME = "red"
#: Outline width in pixels of the image as the verifier sees it (ours).
HIGHLIGHT_WIDTH_PX = 3
#: Pixel budget of the whole image in the global modes (ours: the verifier's crop budget).
DEFAULT_GLOBAL_MAX_PIXELS = 200_704


def check_verifier_input(mode: str) -> str:
    """``mode`` if it is one of :data:`VERIFIER_INPUTS`.

    Raises:
        ValueError: otherwise (the message lists the modes).
    """
    if mode not in VERIFIER_INPUTS:
        raise ValueError(f"verifier input must be one of {VERIFIER_INPUTS}, got {mode!r}")
    return mode


def images_of(item: Any) -> list[Any]:
    """A verifier pair's images as a list: one PIL image (the crop modes), or the tuple of
    :func:`verifier_images` (any mode)."""
    return [item] if hasattr(item, "mode") and hasattr(item, "size") else list(item)


def crop_for_verifier(image: Any, box_xyxy_px: Sequence[float], margin_ratio: float) -> Any:
    """``T(I, b)``: the box enlarged by ``margin_ratio`` of its size per side, clipped, cropped.

    Args:
        image: PIL image (any mode; converted to RGB).
        box_xyxy_px: ``[x1, y1, x2, y2]`` in original pixels.
        margin_ratio: context margin (0 = strict crop).

    Returns:
        An RGB PIL image of at least 1 x 1 pixel (a 0-pixel box becomes a 1-pixel crop).
    """
    from georeason.geometry import crop_window_px, expand_box

    w, h = image.size
    window = expand_box(box_xyxy_px, margin_ratio, w, h)
    left, top, right, bottom = crop_window_px(window, w, h)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.crop((left, top, right, bottom))


def fit_to_pixel_budget(image: Any, max_pixels: int) -> tuple[Any, float]:
    """The RGB image downscaled (bilinear, aspect kept) to at most ``max_pixels``; never upscaled.

    Returns:
        ``(image, scale)``: the new image and new size / old size.

    Raises:
        ValueError: ``max_pixels`` not positive.
    """
    from PIL import Image

    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    scale = min(1.0, math.sqrt(max_pixels / float(w * h)))
    if scale >= 1.0:
        return rgb, 1.0
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    return rgb.resize((nw, nh), Image.BILINEAR), nw / w


def highlight_box(
    image: Any,
    box_xyxy_px: Sequence[float],
    color: tuple[int, int, int] = HIGHLIGHT_RGB,
    width_px: int = HIGHLIGHT_WIDTH_PX,
) -> Any:
    """A copy of the RGB image with ``width_px`` pixels of ``color`` around the box.

    The box covers pixel columns ``round(x1) .. round(x2) - 1`` and rows ``round(y1) ..
    round(y2) - 1`` (at least one of each); the outline is the ``width_px``-pixel band just
    outside them, clipped at the image border. Pixels inside the box are unchanged.

    Raises:
        ValueError: ``width_px < 1``.
    """
    from PIL import ImageDraw

    if width_px < 1:
        raise ValueError(f"width_px must be at least 1, got {width_px}")
    out = (image if image.mode == "RGB" else image.convert("RGB")).copy()
    x1, y1 = int(round(box_xyxy_px[0])), int(round(box_xyxy_px[1]))
    x2 = max(x1 + 1, int(round(box_xyxy_px[2])))
    y2 = max(y1 + 1, int(round(box_xyxy_px[3])))
    # PIL's rectangle is inclusive of both corners and draws its width inwards
    rect = (x1 - width_px, y1 - width_px, x2 - 1 + width_px, y2 - 1 + width_px)
    ImageDraw.Draw(out).rectangle(rect, outline=tuple(color), width=int(width_px))
    return out


def verifier_images(
    image: Any,
    box_xyxy_px: Sequence[float],
    input_mode: str = "context_crop",
    margin_ratio: float = 0.15,
    global_max_pixels: int = DEFAULT_GLOBAL_MAX_PIXELS,
) -> tuple[Any, ...]:
    """The image(s) the verifier sees for one candidate box (table in the module docstring).

    Args:
        image: PIL image, original pixels (any mode).
        box_xyxy_px: ``[x1, y1, x2, y2]``, original pixels.
        input_mode: one of :data:`VERIFIER_INPUTS`.
        margin_ratio: context margin of the crop modes (``strict_crop`` ignores it: 0).
        global_max_pixels: pixel budget of the whole image in the global modes.

    Returns:
        A tuple of RGB PIL images: one, or (whole image, context crop) for ``global_and_crop``.

    Raises:
        ValueError: unknown ``input_mode``.
    """
    check_verifier_input(input_mode)
    if input_mode == "strict_crop":
        return (crop_for_verifier(image, box_xyxy_px, 0.0),)
    if input_mode == "context_crop":
        return (crop_for_verifier(image, box_xyxy_px, margin_ratio),)
    whole, scale = fit_to_pixel_budget(image, global_max_pixels)
    if input_mode == "global_highlight":
        return (highlight_box(whole, [float(v) * scale for v in box_xyxy_px]),)
    return whole, crop_for_verifier(image, box_xyxy_px, margin_ratio)


def score_views(
    verifier: Any,
    views: Sequence[tuple[Any, ...]],
    queries: Sequence[str],
    input_mode: str,
) -> list[float]:
    """``verifier.score`` on the views of :func:`verifier_images`: the crop modes pass one image
    per pair (the :class:`georeason.models.verifier_base.Verifier` contract); the global modes pass
    the image tuples and ``input_mode=``, which only verifiers that show whole images accept
    (:class:`~georeason.models.verifier.LocalVerifier`, the HTTP client)."""
    if input_mode in GLOBAL_INPUTS:
        return list(verifier.score(list(views), list(queries), input_mode=input_mode))
    return list(verifier.score([v[0] for v in views], list(queries)))
