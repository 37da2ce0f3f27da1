"""Tolerant parsing of model text into reasoning and boxes. Never raises on model output.

The expected format (RemoteReasoner, 2025) is::

    <think> ... </think><answer>[[x1,y1,x2,y2], ...]</answer>

with one box ``[x1,y1,x2,y2]``, several ``[[...],[...]]`` or none ``[]``. Real models also write
Qwen's JSON ``[{"bbox_2d": [...], "label": ...}]``, floats, code fences, missing tags, or garbage;
:func:`parse_completion` reads whatever boxes it can and says what was wrong in ``status`` and
``issues``. Boxes stay in the **model frame** (see :mod:`georeason.geometry`); converting and
clipping to original pixels is the caller's job.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

#: Statuses, from best to worst.
STATUS_OK = "ok"  #: strict format, every box readable
STATUS_EMPTY = "empty"  #: a readable answer that says "no target" (``[]``)
STATUS_PARTIAL = "partial"  #: boxes read, but the text deviates from the format (see ``issues``)
STATUS_NO_BOXES = "no_boxes"  #: no box could be read

DEFAULT_MAX_BOXES = 100  # ours: no paper sets a cap; 100 covers dense scenes, bounds the cost
#: Longest text parsed, in characters (ours): 64 Ki characters is well above any completion the
#: papers allow (2,048 tokens of a few characters each); longer text is cut to its first
#: ``MAX_PARSE_CHARS`` characters first (issue ``"input_truncated"``) so parsing stays fast.
MAX_PARSE_CHARS = 65_536

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BOX4 = re.compile(rf"[\[\(]\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*[\]\)]")
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_STRICT = re.compile(r"^\s*<think>.*?</think>\s*<answer>(.*?)</answer>\s*$", re.DOTALL)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class ParseResult:
    """What could be read from one completion.

    Attributes:
        boxes: list of ``[x1, y1, x2, y2]`` floats in the model frame, finite, corners ordered
            (inverted corners are swapped and reported), at most ``max_boxes``.
        reasoning: the text inside ``<think>`` (or before ``<answer>``), or ``""``.
        answer_text: the text inside ``<answer>`` (or the text searched for boxes).
        status: one of ``"ok"``, ``"empty"``, ``"partial"``, ``"no_boxes"``.
        issues: short machine-readable notes, e.g. ``"missing_think"``, ``"inverted_box"``.
        format_ok: True iff the text is exactly ``<think>…</think><answer>LIST</answer>`` and
            ``LIST`` is a readable box list (possibly ``[]``): RemoteReasoner's format reward.
    """

    boxes: list[list[float]]
    reasoning: str
    answer_text: str
    status: str
    issues: tuple[str, ...] = field(default_factory=tuple)
    format_ok: bool = False

    @property
    def parsed(self) -> bool:
        """True when the answer was readable (boxes found, or an explicit empty list)."""
        return self.status in (STATUS_OK, STATUS_EMPTY, STATUS_PARTIAL)


def _as_box(values: object) -> list[float] | None:
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        out.append(float(v))
    return out


def _boxes_from_json(obj: object) -> list[list[float]] | None:
    """Boxes from a decoded JSON answer, or None if its shape is not a box answer."""
    if isinstance(obj, dict):
        for key in ("bbox_2d", "bbox", "box", "boxes", "bbox_xyxy"):
            if key in obj:
                return _boxes_from_json(obj[key])
        return None
    if isinstance(obj, (list, tuple)):
        if len(obj) == 0:
            return []
        box = _as_box(obj)
        if box is not None:
            return [box]
        boxes: list[list[float]] = []
        for item in obj:
            sub = _boxes_from_json(item)
            if sub is None:
                return None
            boxes.extend(sub)
        return boxes
    return None


def _clean_boxes(raw: list[list[float]], issues: list[str], max_boxes: int) -> list[list[float]]:
    boxes = []
    for x1, y1, x2, y2 in raw:
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            issues.append("non_finite_box")
            continue
        if x1 > x2 or y1 > y2:
            issues.append("inverted_box")
            x1, x2 = min(x1, x2), max(x1, x2)
            y1, y2 = min(y1, y2), max(y1, y2)
        if x1 == x2 or y1 == y2:
            issues.append("degenerate_box")
            continue
        boxes.append([x1, y1, x2, y2])
    if len(boxes) > max_boxes:
        issues.append("too_many_boxes")
        boxes = boxes[:max_boxes]
    return boxes


def _read_answer(text: str) -> list[list[float]] | None:
    """Boxes in an answer string: JSON first, then any ``[a, b, c, d]`` groups."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for cand in candidates:
        if not cand:
            continue
        try:
            obj = json.loads(cand)
        except (ValueError, RecursionError):
            continue
        boxes = _boxes_from_json(obj)
        if boxes is not None:
            return boxes
    found = [[float(g) for g in m.groups()] for m in _BOX4.finditer(text)]
    if found:
        return found
    if re.fullmatch(r"\s*\[\s*\]\s*", text) or re.fullmatch(r"\s*\[\s*\[\s*\]\s*\]\s*", text):
        return []
    return None


def parse_completion(text: object, max_boxes: int = DEFAULT_MAX_BOXES) -> ParseResult:
    """Read reasoning and boxes from a model completion. Never raises.

    Args:
        text: the generated text (anything else, e.g. ``None``, gives ``status="no_boxes"``);
            only its first :data:`MAX_PARSE_CHARS` characters are read.
        max_boxes: keep at most this many boxes (ours; see :data:`DEFAULT_MAX_BOXES`).

    Returns:
        A :class:`ParseResult`; boxes are in the model frame.

    Examples:
        >>> parse_completion("<think>a pool</think><answer>[10,20,30,40]</answer>").boxes
        [[10.0, 20.0, 30.0, 40.0]]
        >>> parse_completion("<think>x</think><answer>[]</answer>").status
        'empty'
        >>> parse_completion("no idea").status
        'no_boxes'
    """
    try:
        return _parse(text, max_boxes)
    except Exception as exc:  # noqa: BLE001 - model text must never crash a run
        return ParseResult([], "", "", STATUS_NO_BOXES, (f"parser_error:{type(exc).__name__}",))


def _parse(text: object, max_boxes: int) -> ParseResult:
    if not isinstance(text, str):
        return ParseResult([], "", "", STATUS_NO_BOXES, ("not_text",))
    issues: list[str] = []
    if len(text) > MAX_PARSE_CHARS:
        text = text[:MAX_PARSE_CHARS]
        issues.append("input_truncated")
    think = _THINK.search(text)
    answers = _ANSWER.findall(text)
    if think is None:
        issues.append("missing_think")
    if not answers:
        issues.append("missing_answer")
    if len(answers) > 1:
        issues.append("multiple_answers")

    if think is not None:
        reasoning = think.group(1).strip()
    else:
        cut = text.lower().find("<answer>")
        reasoning = (text[:cut] if cut >= 0 else "").replace("<think>", "").strip()

    if answers:
        answer_text = answers[-1]
    elif think is not None:
        answer_text = text[think.end() :]
    else:
        answer_text = text.split("<answer>", 1)[-1]  # unclosed <answer> or bare text

    raw = _read_answer(answer_text)
    if raw is None and answers:
        issues.append("unreadable_answer")
    if raw is None:
        return ParseResult([], reasoning, answer_text.strip(), STATUS_NO_BOXES, tuple(issues))

    boxes = _clean_boxes(raw, issues, max_boxes)
    strict = _STRICT.match(text)
    format_ok = bool(strict) and len(answers) == 1 and _read_answer(strict.group(1)) is not None
    if not raw:
        status = STATUS_EMPTY if format_ok or not issues else STATUS_PARTIAL
    elif not boxes:
        status = STATUS_NO_BOXES
    else:
        status = STATUS_OK if format_ok and not issues else STATUS_PARTIAL
    if raw == [] and not format_ok:
        status = STATUS_EMPTY if not issues else STATUS_PARTIAL
    return ParseResult(boxes, reasoning, answer_text.strip(), status, tuple(issues), format_ok)
