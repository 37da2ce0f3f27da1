"""GeoZero evaluation JSON: grounding records (boxes read from the answer text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from georeason.eval.datasets.base import (
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    image_size_hw,
)
from georeason.geometry import as_boxes_xyxy, boxes_from_model_frame


class GeoZeroEval(EvalDataset):
    """GeoZero's evaluation annotation files (LLaVA-style conversations), grounding records.

    Layout: ``root/<split>.json`` (a JSON list) or ``root/<split>.jsonl``; or ``root`` is the
    file itself. A record is ``{"id"?, "images": [path], "conversations": [{"from": "human",
    "value": "<image>\\nquery"}, {"from": "gpt", "value": "answer"}]}``; image paths are relative
    to ``image_root`` (default: the folder of the file). The query is the first human turn
    without ``<image>``; ground-truth boxes are read from the last gpt turn with
    :func:`georeason.parsing.parse_completion` and converted from ``box_frame`` ("px", default,
    or "norm1000" for 0..1000-normalised boxes) to pixels. Records whose answer holds no box
    (classification, VQA, captioning) are not grounding samples and are skipped (counted in
    ``n_skipped``).

    Raises:
        DatasetNotFoundError / CorruptDataError: missing file, bad JSON, missing keys.
    """

    name = "geozero"
    splits = ()

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        image_root: str | Path | None = None,
        box_frame: Literal["px", "norm1000"] = "px",
    ) -> None:
        super().__init__(root, split)
        from georeason.parsing import parse_completion

        path = self.root
        if path.is_dir():
            cands = [path / f"{split}.json", path / f"{split}.jsonl"]
            found = [c for c in cands if c.is_file()]
            if not found:
                raise DatasetNotFoundError(
                    f"GeoZero: neither {cands[0]} nor {cands[1]} exists; pass the JSON file "
                    "as --root or name it <split>.json"
                )
            path = found[0]
        self.file = path
        self.box_frame = box_frame
        img_root = Path(image_root) if image_root else path.parent
        from georeason.jsonl import read_record_list

        records = read_record_list(path, "GeoZero")
        self.n_skipped = 0
        for i, rec in enumerate(records):
            try:
                convs = rec["conversations"]
                imgs = rec.get("images") or ([rec["image"]] if "image" in rec else [])
                human = next(c["value"] for c in convs if c.get("from") in ("human", "user"))
                gpt = [c["value"] for c in convs if c.get("from") in ("gpt", "assistant")][-1]
            except (KeyError, StopIteration, IndexError, TypeError) as exc:
                raise CorruptDataError(
                    f"{path}: record {i} lacks 'conversations' with a human and a gpt turn"
                ) from exc
            if not imgs:
                raise CorruptDataError(f"{path}: record {i} has no 'images'")
            parsed = parse_completion(gpt)
            if not parsed.boxes:
                self.n_skipped += 1
                continue
            query = human.replace("<image>", "").strip()
            self._records.append(
                {
                    "id": str(rec.get("id", rec.get("question_id", i))),
                    "image": img_root / imgs[0],
                    "query": query,
                    "boxes": parsed.boxes,
                    "answer": gpt,
                }
            )
        self._check_not_empty(path)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        boxes = as_boxes_xyxy(r["boxes"])
        if self.box_frame == "norm1000":
            boxes = boxes_from_model_frame(boxes, "norm1000", image_size_hw(r["image"]))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            boxes_xyxy_px=boxes,
            questions=(r["query"],),
            meta={"answer": r["answer"]},
        )


@dataclass(frozen=True)
class GeoZeroRecord:
    """One record of a GeoZero evaluation file, as GeoZero's script reads it.

    Attributes:
        index: position in the file (GeoZero records have no id).
        id: the record's ``id`` / ``question_id`` if it has one, else ``str(index)``.
        messages: the chat the model sees: every turn but a final ``gpt`` answer, in the
            Qwen chat format (``{"role", "content"}``; images as ``{"type": "image"}`` parts,
            paths in ``images``); a system turn first when the record has ``system``.
        images: image paths as written in the file (relative paths resolve against the image
            root).
        label: the ground-truth answer (the last ``gpt`` turn; ``""`` if none).
        refs: caption references (``refs`` if a non-empty list, else ``[label]``).
    """

    index: int
    id: str
    messages: tuple[dict[str, Any], ...]
    images: tuple[str, ...]
    label: str
    refs: tuple[str, ...]


def _messages_of(convs: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    turns = convs[:-1] if convs and convs[-1].get("from") in ("gpt", "assistant") else convs
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for c in turns:
        text = str(c["value"])
        if c.get("from") in ("human", "user"):
            content: list[dict[str, Any]] = [
                {"type": "image"} for _ in range(text.count("<image>"))
            ]
            content.append({"type": "text", "text": text.replace("<image>", "").strip()})
            out.append({"role": "user", "content": content})
        else:
            out.append({"role": "assistant", "content": text.strip()})
    return out


def read_geozero_records(path: str | Path) -> list[GeoZeroRecord]:
    """Read a GeoZero evaluation file (a JSON list, or JSONL with one record a line).

    A record is ``{"conversations": [{"from": "human"|"gpt", "value": ...}, ...], "images":
    [...], "refs"?: [...], "system"?: ...}`` (multi-turn allowed: every turn but the last answer
    is kept). Used for all four tasks.

    Raises:
        DatasetNotFoundError: the file does not exist.
        CorruptDataError: bad JSON, not a list, a record without ``conversations`` or
            ``images`` (the message names the record).
    """
    from georeason.jsonl import read_record_list

    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(f"GeoZero: data file {p} not found")
    data = read_record_list(p, "GeoZero data")
    out = []
    for i, rec in enumerate(data):
        try:
            convs = list(rec["conversations"])
            images = rec.get("images") or ([rec["image"]] if rec.get("image") else [])
            for c in convs:
                str(c["value"])
        except (KeyError, TypeError) as exc:
            raise CorruptDataError(
                f"{p}: record {i} lacks 'conversations' (turns with 'from' and 'value')"
            ) from exc
        if not images:
            raise CorruptDataError(f"{p}: record {i} has no 'images'")
        last = convs[-1] if convs else {}
        label = str(last["value"]) if last.get("from") in ("gpt", "assistant") else ""
        refs = rec.get("refs")
        refs = [str(r) for r in refs] if isinstance(refs, list) and refs else [label]
        out.append(
            GeoZeroRecord(
                index=i,
                id=str(rec.get("id", rec.get("question_id", i))),
                messages=tuple(_messages_of(convs, rec.get("system"))),
                images=tuple(str(x) for x in images),
                label=label,
                refs=tuple(refs),
            )
        )
    return out
