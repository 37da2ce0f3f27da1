"""GeoZero training data: ms-swift records or GeoZero conversations -> TRL datasets (SFT, GRPO).

Two record formats are read (JSON list or JSONL; one file may mix tasks):

* **ms-swift** (what GeoZero trained with, per its README "based on ms-swift")::

    {"messages": [{"role": "system"|"user"|"assistant", "content": "<image>..."}, ...],
     "images": ["img.png"], "solution": "<answer>...</answer>", "task_type": "vqa"}

  The prompt is every message but a final ``assistant`` one; the SFT target is that final
  message, else ``solution``; the reward's label is the ``<answer>`` block of ``solution``
  (else of the final message).
* **GeoZero conversations** (its evaluation files)::

    {"conversations": [{"from": "human", "value": "<image>..."}, {"from": "gpt", "value": ...}],
     "images": [...], "refs": [...], "system": ..., "task_type": ...}

``task_type`` routes each record to its task's answer reward
(:mod:`georeason.rewards.geozero`); the spellings in :data:`TASK_ALIASES` are accepted, and
``data.task`` names the task of records without one. ``<image>`` markers are removed from the
text: the image goes before the first user text (TRL's convention for vision datasets; GeoZero's
records put ``<image>`` first). Grounding labels hold one box ``[x1, y1, x2, y2]`` in original
pixels (GeoZero's convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.eval.geozero_rules import extract_answer_block, extract_box_numbers
from georeason.training.config import DataConfig

#: Canonical GeoZero tasks (the four of its evaluation script).
TASKS = ("scene_cls", "vqa", "caption", "grounding")
#: Accepted ``task_type`` spellings -> canonical task (ours: the names seen in RS instruction
#: sets; lower-cased before lookup).
TASK_ALIASES: dict[str, str] = {
    **{t: t for t in TASKS},
    "cls": "scene_cls",
    "classification": "scene_cls",
    "scene_classification": "scene_cls",
    "sc": "scene_cls",
    "qa": "vqa",
    "captioning": "caption",
    "image_caption": "caption",
    "ic": "caption",
    "vg": "grounding",
    "visual_grounding": "grounding",
    "rec": "grounding",
}
#: ``data.path`` keyword for the bundled GeoZero-format records over the real sample images.
BUNDLED = "geozero-samples"


def canonical_task(name: Any) -> str | None:
    """The canonical task of a ``task_type`` value, or None if it is not a known spelling."""
    return TASK_ALIASES.get(str(name).strip().lower()) if name is not None else None


@dataclass(frozen=True)
class GeoZeroTrainRecord:
    """One training sample.

    Attributes:
        id: the record's ``id`` (else its index).
        prompt: chat messages before the answer, ``{"role", "content": str}`` (``<image>``
            removed); a system turn first if the record has one.
        images: image paths as written (relative ones resolve against the image root).
        target: the SFT target text (the final assistant turn, else ``solution``).
        label: the reward's ground truth: the ``<answer>`` block of ``solution`` (else of the
            target), GeoZero's extraction rule.
        task: one of :data:`TASKS`.
        refs: caption references (``refs`` if given, else ``[label]``).
    """

    id: str
    prompt: tuple[dict[str, str], ...]
    images: tuple[str, ...]
    target: str
    label: str
    task: str
    refs: tuple[str, ...]


_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


def _turns(rec: dict[str, Any]) -> list[dict[str, str]]:
    if "messages" in rec:
        return [
            {"role": str(m["role"]), "content": str(m.get("content") or "")}
            for m in rec["messages"]
        ]
    out = [{"role": "system", "content": str(rec["system"])}] if rec.get("system") else []
    out += [
        {"role": _ROLES.get(str(c["from"]), str(c["from"])), "content": str(c["value"])}
        for c in rec["conversations"]
    ]
    return out


def _parse_record(rec: Any, n: int, where: str, default_task: str | None) -> GeoZeroTrainRecord:
    if not isinstance(rec, dict) or not ("messages" in rec or "conversations" in rec):
        raise UserInputError(f"{where}: record {n} needs 'messages' (ms-swift) or 'conversations'")
    try:
        turns = _turns(rec)
    except (KeyError, TypeError) as exc:
        raise UserInputError(f"{where}: record {n} has a malformed turn ({exc!r})") from None
    images = rec.get("images") or ([rec["image"]] if rec.get("image") else [])
    if isinstance(images, str):
        images = [images]
    if len(images) != 1:
        raise UserInputError(f"{where}: record {n} needs exactly one image, got {len(images)}")
    final = turns[-1]["content"] if turns and turns[-1]["role"] == "assistant" else None
    prompt = turns[:-1] if final is not None else turns
    if not any(t["role"] == "user" for t in prompt):
        raise UserInputError(f"{where}: record {n} has no user turn")
    solution = rec.get("solution")
    target = final if final is not None else solution
    if target is None:
        raise UserInputError(
            f"{where}: record {n} has no answer (a final assistant turn or 'solution')"
        )
    raw_task = rec.get("task_type", default_task)
    task = canonical_task(raw_task)
    if task is None:
        raise UserInputError(
            f"{where}: record {n} has task_type {raw_task!r}; known: {sorted(TASK_ALIASES)} "
            "(set data.task for records without one)"
        )
    label = extract_answer_block(str(solution if solution is not None else target))
    refs = rec.get("refs")
    refs = [str(r) for r in refs] if isinstance(refs, list) and refs else [label]
    if task == "grounding":
        box = extract_box_numbers(label)
        if box is None or len(box) != 4:
            raise UserInputError(
                f"{where}: grounding record {n} needs one box [x1, y1, x2, y2] in its answer, "
                f"got {label[:80]!r}"
            )
    clean = tuple(
        {"role": t["role"], "content": t["content"].replace("<image>", "").strip()} for t in prompt
    )
    return GeoZeroTrainRecord(
        id=str(rec.get("id", n)),
        prompt=clean,
        images=(str(images[0]),),
        target=str(target).strip(),
        label=label,
        task=task,
        refs=tuple(refs),
    )


def read_geozero_train_records(data: DataConfig) -> tuple[list[GeoZeroTrainRecord], Path]:
    """The records of ``data.path`` and the folder relative image paths start from.

    Raises:
        UserInputError: a missing file, malformed JSON, a record without turns, image, answer
            or a known task, a grounding label without one box (the message names the record).
    """
    from georeason.jsonl import read_record_list

    if data.path == BUNDLED:
        from georeason.data import SAMPLES_DIR

        path = SAMPLES_DIR / "geozero_train.jsonl"
    else:
        path = Path(data.path).expanduser()
    if not path.is_file():
        raise UserInputError(f"training data {path} not found")
    raw = read_record_list(path, "GeoZero training data")
    if data.max_samples is not None:
        raw = raw[: data.max_samples]
    if not raw:
        raise UserInputError(f"no training records in {path}")
    records = [_parse_record(r, n, str(path), data.task) for n, r in enumerate(raw)]
    root = Path(data.image_root).expanduser() if data.image_root else path.parent
    return records, root


def build_geozero_rows(
    records: list[GeoZeroTrainRecord], root: Path, for_sft: bool
) -> list[dict[str, Any]]:
    """Dataset rows (no pixels yet). GRPO: ``prompt``, ``image_path``, ``task_type``,
    ``solution`` (the label), ``refs``, ``id``. SFT: ``prompt``, ``completion`` (one assistant
    message), ``image_path``, ``task_type``, ``id``.

    Raises:
        UserInputError: an image file that does not exist.
    """
    rows = []
    for rec in records:
        image_path = Path(rec.images[0]).expanduser()
        if not image_path.is_absolute():
            image_path = root / image_path
        if not image_path.is_file():
            raise UserInputError(f"record {rec.id}: image {image_path} not found")
        row: dict[str, Any] = {
            "prompt": [dict(m) for m in rec.prompt],
            "image_path": str(image_path),
            "task_type": rec.task,
            "id": rec.id,
        }
        if for_sft:
            row["completion"] = [{"role": "assistant", "content": rec.target}]
        else:
            row["solution"] = rec.label
            row["refs"] = list(rec.refs)
        rows.append(row)
    return rows


def target_in_model_frame(target: str, image_hw: tuple[int, int], frame_spec: Any) -> str:
    """An SFT grounding target with its box moved from original pixels to the policy's frame.

    GeoZero's labels are original pixels, but Qwen2.5-VL answers in resized pixels and
    Qwen3-VL in 0..1000 (:class:`georeason.rewards.FrameSpec`); training on original pixels
    would teach the wrong frame. The ``<answer>`` block becomes ``[x1, y1, x2, y2]`` (integers,
    ours) in the model frame; the text before it (e.g. a ``<think>`` block) is kept. A target
    without exactly four numbers is returned unchanged.
    """
    from georeason.geometry import boxes_to_model_frame

    block = extract_answer_block(target)
    box = extract_box_numbers(block)
    if box is None or len(box) != 4:
        return target
    resized = frame_spec.model_input_hw(image_hw) if frame_spec.frame == "resized_px" else None
    model_box = boxes_to_model_frame([box], frame_spec.frame, image_hw, resized)[0]
    answer = "<answer>[" + ", ".join(str(round(float(v))) for v in model_box) + "]</answer>"
    head, sep, _ = target.partition("<answer>")
    return (head + answer) if sep else answer


class _ImageLoader:
    """``datasets`` transform: the ``image`` column (RGB PIL) from ``image_path``; for SFT also
    grounding targets moved into the policy's frame. Picklable."""

    def __init__(self, frame_spec: Any = None) -> None:
        self.frame_spec = frame_spec

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        from georeason.io import read_image

        out = dict(batch)
        out["image"] = [read_image(p).pil() for p in batch["image_path"]]
        if self.frame_spec is not None and "completion" in batch:
            completions = []
            for image, task, comp in zip(
                out["image"], batch["task_type"], batch["completion"], strict=True
            ):
                if task == "grounding":
                    hw = (image.size[1], image.size[0])
                    text = target_in_model_frame(comp[0]["content"], hw, self.frame_spec)
                    comp = [{"role": "assistant", "content": text}]
                completions.append(comp)
            out["completion"] = completions
        return out


def build_geozero_dataset(data: DataConfig, for_sft: bool, frame_spec: Any = None):
    """A ``datasets.Dataset`` of GeoZero samples in TRL's vision format; images load on access.

    ``frame_spec`` (SFT): the policy's :class:`georeason.rewards.FrameSpec`, used to move
    grounding targets into its frame (:func:`target_in_model_frame`); None keeps them verbatim.
    """
    from datasets import Dataset

    records, root = read_geozero_train_records(data)
    dataset = Dataset.from_list(build_geozero_rows(records, root, for_sft))
    dataset.set_transform(_ImageLoader(frame_spec if for_sft else None))
    return dataset
