"""GeoZero's evaluation rules for scene classification, VQA and visual grounding.

Every rule here reproduces GeoZero's public scoring script, ``single_infer_eval_qwen3vl_think.py``
in the GeoZero repository (Wang et al., 2025, "GeoZero", arXiv 2511.22645), so that predictions
re-scored by georeason give GeoZero's numbers. Captioning lives in
:mod:`georeason.eval.caption_metrics`. Where the script's rule has a quirk we keep it under the
GeoZero convention and report a second, stricter number beside it.

Box frames of a predicted grounding box (``--pred-box-frame``):

- ``qwen3-norm1000``: Qwen3-VL writes boxes normalised to 0..1000 (the model's documented
  convention): ``x_px = x * W / 1000``. The correct frame for GeoZero's Qwen3-VL-8B.
- ``qwen25-resized-px``: Qwen2.5-VL writes pixels of its resized input (``smart_resize`` with
  factor 28 and the given pixel budget): ``x_px = x * W / W_resized``.
- ``original-px``: the prediction is already in original pixels.
- ``geozero-script``: GeoZero's script (``reverse_from_qwen3vl_format``): resized pixels of a
  factor-28 ``smart_resize`` with the processor-default budget (4..16384 tokens of 28 x 28 px),
  each coordinate rounded with Python's ``round`` (half to even). It is how GeoZero's published
  grounding numbers were computed, although Qwen3-VL does not write boxes in that frame.

Worked example, a 1000 x 500 px image (W x H) and the prediction ``[100, 100, 300, 200]``:
``qwen3-norm1000`` reads it as ``[100, 50, 300, 100]`` px; ``geozero-script`` resizes
500 x 1000 to 504 x 1008 (H x W) and reads it as ``[99, 99, 298, 198]`` px. The two boxes do not
even overlap by half, so the same answer is a hit under one frame and a miss under the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from georeason.eval.metric_conventions import PRED_BOX_FRAMES, PredBoxFrame
from georeason.geometry import box_iou_matrix, boxes_from_model_frame

#: GeoZero's area levels of the ground-truth box, in px² (COCO's small/medium thresholds).
AREA_LEVELS_PX2: tuple[float, float, float] = (32.0**2, 96.0**2, math.inf)
LEVEL_NAMES: tuple[str, str, str] = ("S", "M", "L")

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.S)
_PUNCT_RE = re.compile(r"[^\w\s]")
_SPACE_RE = re.compile(r"\s+")
_NUMBER_RE = re.compile(r"[-+]?\d*\.?\d+")
# qwen_vl_utils' constants, as in GeoZero's script
_FACTOR = 28
_MIN_PIXELS = 4 * _FACTOR**2
_MAX_PIXELS = 16384 * _FACTOR**2


def extract_answer_block(text: str | None) -> str:
    """The first non-empty ``<answer>...</answer>`` block (stripped); the first block if all are
    empty; the whole text (stripped) if there is none. Never raises."""
    if not text:
        return ""
    matches = _ANSWER_RE.findall(str(text))
    if not matches:
        return str(text).strip()
    for seg in matches:
        if seg.strip():
            return seg.strip()
    return matches[0].strip()


def normalize_answer(text: str | None) -> str:
    """Lower case, strip, remove every character matching ``[^\\w\\s]``, collapse whitespace
    (GeoZero's ``normalize_caption``)."""
    s = str(text or "").strip().lower()
    s = _PUNCT_RE.sub("", s)
    return _SPACE_RE.sub(" ", s)


def _percent_or_none(hits: int, n: int) -> float | None:
    return 100.0 * hits / n if n else None


def scene_cls_accuracy(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float | int]:
    """Exact match after :func:`normalize_answer`.

    Args:
        preds: extracted answers (:func:`extract_answer_block` of the model output).
        labels: ground-truth class names.

    Returns:
        ``{"accuracy": percent, "n": count}``.

    Raises:
        ValueError: if the lengths differ or there is no sample.
    """
    _check_pairs(preds, labels)
    hits = sum(
        normalize_answer(p) == normalize_answer(t) for p, t in zip(preds, labels, strict=True)
    )
    return {"accuracy": 100.0 * hits / len(preds), "n": len(preds)}


def loose_match(pred: str, label: str) -> bool:
    """GeoZero's VQA rule: equal, or either normalised string contained in the other.

    Quirk kept on purpose: an empty answer is contained in every label, so it matches."""
    p, t = normalize_answer(pred), normalize_answer(label)
    return p == t or p in t or t in p


def vqa_accuracy(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float | int]:
    """Loose-match accuracy (:func:`loose_match`), GeoZero's convention.

    Returns:
        ``accuracy`` (percent, empty answers count as correct as in GeoZero's script),
        ``accuracy_empty_as_wrong`` (percent, the same with empty answers counted wrong),
        ``n_empty_answers`` and ``n``.

    Raises:
        ValueError: if the lengths differ or there is no sample.
    """
    _check_pairs(preds, labels)
    hits = [loose_match(p, t) for p, t in zip(preds, labels, strict=True)]
    empty = [normalize_answer(p) == "" for p in preds]
    strict = sum(h and not e for h, e in zip(hits, empty, strict=True))
    n = len(preds)
    return {
        "accuracy": 100.0 * sum(hits) / n,
        "accuracy_empty_as_wrong": 100.0 * strict / n,
        "n_empty_answers": int(sum(empty)),
        "n": n,
    }


def extract_box_numbers(text: str | None) -> list[float] | None:
    """All numbers between the first ``[`` and the last ``]`` (GeoZero's ``extract_bbox``).

    Quirk kept on purpose: every digit run counts, so Qwen's JSON answer
    ``[{"bbox_2d": [1, 2, 3, 4]}]`` yields five numbers (the "2" of the key) and is not a valid
    box under GeoZero's rule; a plain ``[x1, y1, x2, y2]`` is.

    Returns:
        The numbers as floats (any count; a valid box has exactly four), or None when the text
        has no ``[`` or no ``]``. Never raises.
    """
    text = str(text or "")
    start, end = text.find("["), text.rfind("]")
    if start == -1 or end == -1:
        return None
    return [float(x) for x in _NUMBER_RE.findall(text[start : end + 1])]


def geozero_smart_resize(height: int, width: int) -> tuple[int, int]:
    """``(h, w)`` of the factor-28 resize in GeoZero's script (qwen_vl_utils' ``smart_resize``,
    default budget 4..16384 tokens). It differs from transformers' version only for images
    under 14 px on a side; kept verbatim to reproduce GeoZero's numbers.

    Raises:
        ValueError: aspect ratio above 200 (as the original).
    """
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be smaller than 200, got "
            f"{max(height, width) / min(height, width)}"
        )
    h_bar = max(_FACTOR, round(height / _FACTOR) * _FACTOR)
    w_bar = max(_FACTOR, round(width / _FACTOR) * _FACTOR)
    if h_bar * w_bar > _MAX_PIXELS:
        beta = math.sqrt((height * width) / _MAX_PIXELS)
        h_bar = math.floor(height / beta / _FACTOR) * _FACTOR
        w_bar = math.floor(width / beta / _FACTOR) * _FACTOR
    elif h_bar * w_bar < _MIN_PIXELS:
        beta = math.sqrt(_MIN_PIXELS / (height * width))
        h_bar = math.ceil(height * beta / _FACTOR) * _FACTOR
        w_bar = math.ceil(width * beta / _FACTOR) * _FACTOR
    return h_bar, w_bar


def pred_box_to_original_px(
    box: Sequence[float],
    frame: PredBoxFrame,
    height: int,
    width: int,
    max_pixels: int | None = None,
) -> list[float]:
    """Map one predicted xyxy box from ``frame`` (see the module docstring) to original pixels.

    Args:
        box: four numbers as the model wrote them.
        frame: one of :data:`PRED_BOX_FRAMES`.
        height, width: original image size in pixels.
        max_pixels: pixel budget of ``qwen25-resized-px`` (default: Qwen2.5-VL's processor
            default, 12,845,056; minimum 3,136). The two Qwen frames use georeason's own
            conversion (:class:`georeason.rewards.FrameSpec`,
            :func:`georeason.geometry.boxes_from_model_frame`).

    Returns:
        ``[x1, y1, x2, y2]`` in original pixels, unclipped and unordered (as GeoZero scores them).

    Raises:
        ValueError: an unknown frame, or an aspect ratio over 200 for the resized frames.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if frame == "original-px":
        return [x1, y1, x2, y2]
    if frame == "geozero-script":
        rh, rw = geozero_smart_resize(height, width)
        sw, sh = width / rw, height / rh
        return [float(round(v * f)) for v, f in ((x1, sw), (y1, sh), (x2, sw), (y2, sh))]
    if frame in ("qwen3-norm1000", "qwen25-resized-px"):  # georeason's own frame conversion
        from georeason.rewards import FrameSpec

        spec = FrameSpec(
            "norm1000" if frame == "qwen3-norm1000" else "resized_px",
            max_pixels=max_pixels or _MAX_PIXELS,
            factor=_FACTOR,
        )
        resized = spec.model_input_hw((height, width)) if spec.frame == "resized_px" else None
        out = boxes_from_model_frame([[x1, y1, x2, y2]], spec.frame, (height, width), resized)
        return [float(v) for v in out[0]]
    raise ValueError(f"unknown --pred-box-frame {frame!r}; expected one of {PRED_BOX_FRAMES}")


@dataclass(frozen=True)
class GroundingItem:
    """One scored grounding sample: ``level`` is S/M/L by ground-truth area, or None when the
    label holds no valid box (such samples are not counted, as in GeoZero's script); ``iou`` is
    None when the prediction holds no valid box (counted as a miss)."""

    level: str | None
    iou: float | None


def score_grounding_item(
    pred: str,
    label: str,
    height: int,
    width: int,
    frame: PredBoxFrame,
    max_pixels: int | None = None,
) -> GroundingItem:
    """IoU of one predicted box with the label's box, both normalised by the image size.

    The ground-truth box is read from ``label`` with :func:`extract_box_numbers` (original
    pixels) and must hold exactly four numbers; its area ``(x2-x1)(y2-y1)`` px² picks the level
    (S <= 32², M <= 96², L larger). The prediction is read the same way from ``pred`` and mapped
    with :func:`pred_box_to_original_px`. IoU is :func:`georeason.geometry.box_iou_matrix` on
    ``x/W, y/H`` boxes (GeoZero's ``calculate_iou`` gives the same value: inverted or disjoint
    boxes score 0). Never raises on model text.
    """
    gt = extract_box_numbers(label)
    if gt is None or len(gt) != 4:
        return GroundingItem(None, None)
    area = (gt[2] - gt[0]) * (gt[3] - gt[1])
    level = next(n for n, hi in zip(LEVEL_NAMES, AREA_LEVELS_PX2, strict=True) if not area > hi)
    pb = extract_box_numbers(pred)
    if pb is None or len(pb) != 4:
        return GroundingItem(level, None)
    try:
        pb = pred_box_to_original_px(pb, frame, height, width, max_pixels)
    except ValueError:
        return GroundingItem(level, None)
    scale = np.array([width, height, width, height], dtype=np.float64)
    iou = box_iou_matrix(np.array([gt]) / scale, np.array([pb]) / scale)[0, 0]
    return GroundingItem(level, float(iou))


def grounding_metrics(items: Sequence[GroundingItem]) -> dict[str, float | int | None]:
    """Acc@0.5 overall and per ground-truth area level, GeoZero's way.

    Returns:
        ``acc50``, ``acc50_S``, ``acc50_M``, ``acc50_L`` (percent; None for a level without
        samples, where GeoZero's script prints nan), ``count_S``, ``count_M``, ``count_L``,
        ``n_invalid_label`` (samples not counted) and ``n_invalid_pred`` (counted as misses).

    Raises:
        ValueError: if no sample has a valid ground-truth box.
    """
    counted = [it for it in items if it.level is not None]
    if not counted:
        raise ValueError("no grounding sample has a ground-truth box of four numbers")
    hits = {n: sum(it.level == n and it.iou is not None and it.iou >= 0.5 for it in counted)
            for n in LEVEL_NAMES}  # fmt: skip
    counts = {n: sum(it.level == n for it in counted) for n in LEVEL_NAMES}
    out: dict[str, float | int | None] = {"acc50": 100.0 * sum(hits.values()) / len(counted)}
    out.update({f"acc50_{n}": _percent_or_none(hits[n], counts[n]) for n in LEVEL_NAMES})
    out.update({f"count_{n}": counts[n] for n in LEVEL_NAMES})
    out["n_invalid_label"] = len(items) - len(counted)
    out["n_invalid_pred"] = sum(it.iou is None for it in counted)
    return out


def _check_pairs(preds: Sequence[object], labels: Sequence[object]) -> None:
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels")
    if not preds:
        raise ValueError("no sample to score")
