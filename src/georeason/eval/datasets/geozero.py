"""GeoZero evaluation JSON: grounding records (boxes read from the answer text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from georeason.eval.datasets.base import (
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    image_size_hw,
    read_json,
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
        if path.suffix == ".jsonl":
            try:
                records = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
            except json.JSONDecodeError as exc:
                raise CorruptDataError(f"{path}: invalid JSON line ({exc})") from exc
        else:
            records = read_json(path)
        if not isinstance(records, list):
            raise CorruptDataError(f"{path}: expected a list of records")
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
            bbox_xyxy=boxes,
            questions=(r["query"],),
            meta={"answer": r["answer"]},
        )
