"""``georeason eval --dataset geozero --geozero-task T``: GeoZero's four tasks, scored its way.

Two sources of answers:

- **predictions mode**: the JSON that GeoZero's script writes (a list of ``{"raw_output",
  "pred", "label", "image_path"}``; its scoring uses ``pred`` and ``label``), or georeason's own
  predictions JSONL (``{"id", "raw_output"}`` or ``{"id", "pred"}`` a line, ``id`` being the
  data record's ``id`` or its index in the data file; labels come from ``--data``). A record
  without ``label`` needs ``--data``.
- **model mode**: see :mod:`georeason.eval.geozero_generate`.

Scoring rules: :mod:`georeason.eval.geozero_rules` and :mod:`georeason.eval.caption_metrics`.
Outputs: ``OUT/metrics.json`` (GeoZero's metric names, see :func:`score_task`) and
``OUT/report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.eval.datasets.geozero import GeoZeroRecord
from georeason.eval.geozero_rules import (
    extract_answer_block,
    grounding_metrics,
    scene_cls_accuracy,
    score_grounding_item,
    vqa_accuracy,
)
from georeason.eval.metric_conventions import GEOZERO_TASKS, PredBoxFrame


@dataclass(frozen=True)
class ScoredAnswer:
    """One answer to score: ``pred`` (the extracted answer), ``label`` (a string; the list of
    references for captions) and the image it was asked about (None if unknown)."""

    pred: str
    label: str | list[str]
    image_path: str | None


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Prediction records of a GeoZero output JSON (a list) or a georeason JSONL file.

    Raises:
        UserInputError: missing file, bad JSON (file and line for JSONL), a record that is not
            an object or has neither ``pred`` nor ``raw_output``.
    """
    from georeason.jsonl import read_record_list

    p = Path(path)
    records = read_record_list(p, "--predictions")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or ("pred" not in rec and "raw_output" not in rec):
            raise UserInputError(
                f"--predictions: {p} record {i} has neither 'pred' nor 'raw_output'"
            )
    return records


def _pred_text(rec: dict[str, Any]) -> str:
    # GeoZero's script stores pred = extract_answer_block(raw_output); prefer it as written
    if rec.get("pred") is not None:
        return str(rec["pred"])
    return extract_answer_block(rec.get("raw_output"))


def answers_from_predictions(
    predictions: list[dict[str, Any]], records: list[GeoZeroRecord] | None, task: str
) -> list[ScoredAnswer]:
    """Pair each prediction with its label: the prediction's own ``label`` (GeoZero's files),
    else the data record whose ``id`` (or index) equals the prediction's ``id``.

    Raises:
        UserInputError: a prediction without ``label`` and no data, or an ``id`` not in the data.
    """
    by_id: dict[str, GeoZeroRecord] = {}
    for r in records or []:
        by_id.setdefault(r.id, r)
        by_id.setdefault(str(r.index), r)
    out = []
    for i, rec in enumerate(predictions):
        label: str | list[str]
        image = rec.get("image_path")
        if "label" in rec:
            label = rec["label"]
            if task == "caption":
                label = [str(x) for x in label] if isinstance(label, list) else [str(label)]
            else:
                label = str(label)
        else:
            if records is None:
                raise UserInputError(
                    f"prediction {i} has no 'label': pass the GeoZero data file with --data"
                )
            key = str(rec.get("id", ""))
            if key not in by_id:
                raise UserInputError(f"prediction {i}: id {key!r} is not in the --data file")
            r = by_id[key]
            label = list(r.refs) if task == "caption" else r.label
            image = image or r.images[0]
        out.append(ScoredAnswer(_pred_text(rec), label, None if image is None else str(image)))
    return out


def resolve_image(path: str, root: str | Path | None) -> Path:
    """The file of an image path from a GeoZero file: a relative path is read under ``root``;
    an absolute path that does not exist here (a run made on another machine) is looked up by
    its file name under ``root``.

    Raises:
        UserInputError: if no such file exists.
    """
    p = Path(path)
    tries = [p] if p.is_absolute() else []
    if root is not None:
        tries.append(Path(root) / (p.name if p.is_absolute() else p))
    elif not p.is_absolute():
        tries.append(p)
    for t in tries:
        if t.is_file():
            return t
    raise UserInputError(
        f"image {path!r} not found (looked at {', '.join(str(t) for t in tries)}); "
        "pass the image folder as --root"
    )


def score_task(
    task: str,
    answers: list[ScoredAnswer],
    root: str | Path | None = None,
    frame: PredBoxFrame = "qwen3-norm1000",
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """Score one task's answers with GeoZero's rules.

    Returns:
        scene_cls: ``accuracy`` (percent), ``n``; vqa: also ``accuracy_empty_as_wrong`` and
        ``n_empty_answers``; caption: ``BLEU-1``..``BLEU-4``, ``METEOR``, ``ROUGE-1``,
        ``ROUGE-L``, ``CIDEr`` (fractions) and counts; grounding: ``acc50``, ``acc50_S``,
        ``acc50_M``, ``acc50_L`` (percent), ``count_S``, ``count_M``, ``count_L`` and
        ``n_invalid_label`` / ``n_invalid_pred``.

    Raises:
        UserInputError: an unknown task, no answers, or (grounding) an image that cannot be
            found or read.
    """
    if task not in GEOZERO_TASKS:
        raise UserInputError(f"unknown GeoZero task {task!r}; expected one of {GEOZERO_TASKS}")
    if not answers:
        raise UserInputError("no predictions to score")
    preds = [a.pred for a in answers]
    if task == "scene_cls":
        return dict(scene_cls_accuracy(preds, [str(a.label) for a in answers]))
    if task == "vqa":
        return dict(vqa_accuracy(preds, [str(a.label) for a in answers]))
    if task == "caption":
        from georeason.eval.caption_metrics import caption_metrics

        refs = [a.label if isinstance(a.label, list) else [a.label] for a in answers]
        return dict(caption_metrics(preds, refs))
    return grounding_by_frame(answers, root, (frame,), max_pixels)[frame]


def grounding_by_frame(
    answers: list[ScoredAnswer],
    root: str | Path | None,
    frames: tuple[str, ...],
    max_pixels: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Grounding metrics of the same answers under each box frame; each image's size is read
    once (from its header).

    Returns:
        ``{frame: metrics}`` with the keys of :func:`score_task` for grounding.

    Raises:
        UserInputError: an answer without an image, an image that cannot be found or read, or
            no answer with a valid ground-truth box.
    """
    from georeason.eval.datasets.base import image_size_hw

    sizes: dict[str, tuple[int, int]] = {}
    for i, a in enumerate(answers):
        if a.image_path is None:
            raise UserInputError(f"grounding prediction {i} names no image ('image_path')")
        if a.image_path not in sizes:
            path = resolve_image(a.image_path, root)
            try:
                sizes[a.image_path] = image_size_hw(path)
            except Exception as exc:  # PIL and rasterio raise many types on a bad file
                raise UserInputError(f"image {path} cannot be read ({exc})") from None
    out = {}
    for frame in frames:
        items = [
            score_grounding_item(a.pred, str(a.label), *sizes[a.image_path], frame, max_pixels)
            for a in answers
        ]
        try:
            out[frame] = {**grounding_metrics(items), "n": len(items)}
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
    return out
