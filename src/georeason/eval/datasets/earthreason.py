"""EarthReason (SegEarth-R1): ``{split}/{images,labels,QAs}`` paired by file stem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from georeason.eval.datasets.base import (
    IMAGE_SUFFIXES,
    BoxFromMask,
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    boxes_from_mask,
    read_json,
    read_mask,
    require_dir,
)


class EarthReason(EvalDataset):
    """EarthReason, the geospatial pixel-reasoning benchmark of SegEarth-R1 (2025).

    Layout::

        root/{train,val,test}/images/<stem>.{jpg,png}
        root/{train,val,test}/labels/<stem>.png     # nonzero = target
        root/{train,val,test}/QAs/<stem>.json       # {"questions": [...], "answer": [...]}

    The three folders are paired by file stem. An empty ``answer`` means "no target in the
    image" (its label is empty). Sizes: 2,371 train, 1,135 val, 1,928 test.

    Args:
        root: the folder holding the split folders (SegEarth-R1's ``RSReasonSeg``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        question_index: which question is the query. 0 (default) is what SegEarth-R1's
            evaluation uses (``QAs["questions"][0]``; an index past the last question takes the
            last); None gives one sample per question, with ids ``<stem>#<k>``. Every sample
            keeps all questions in ``questions``.
        box_from_mask: ground-truth boxes for the region task, derived from the label as
            RemoteReasoner built its region labels (M2B): ``"whole"`` (default) one tight box
            around all target pixels; ``"components"`` one box per 8-connected component.

    Raises:
        DatasetNotFoundError: missing folders, or an image without its label or QA file.
        CorruptDataError: a QA file that is not JSON or lacks ``questions``.
    """

    name = "earthreason"
    has_masks = True
    LAYOUT = "ROOT/{split}/images/*.jpg|png, ROOT/{split}/labels/*.png, ROOT/{split}/QAs/*.json"

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        question_index: int | None = 0,
        box_from_mask: BoxFromMask = "whole",
    ) -> None:
        super().__init__(root, split)
        self.box_from_mask = box_from_mask
        base = self.root / split
        folders = {
            k: require_dir(base / k, "EarthReason", self.LAYOUT)
            for k in ("images", "labels", "QAs")
        }
        images = {
            p.stem: p
            for p in sorted(folders["images"].iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        }
        labels = {
            p.stem: p for p in sorted(folders["labels"].iterdir()) if p.suffix.lower() == ".png"
        }
        qas = {
            p.stem: p
            for p in sorted(folders["QAs"].iterdir())
            if p.suffix.lower() in (".json", ".txt")
        }
        for kind, group in (("label", labels), ("QA file", qas)):
            missing = sorted(set(images) - set(group))
            if missing:
                raise DatasetNotFoundError(
                    f"EarthReason {split}: {len(missing)} image(s) without a {kind} "
                    f"(first: {missing[:3]}); folders are paired by file stem"
                )
        for stem in sorted(images):
            qa = read_json(qas[stem])
            if (
                not isinstance(qa, dict)
                or not isinstance(qa.get("questions"), list)
                or not (qa["questions"])
            ):
                raise CorruptDataError(f"{qas[stem]}: expected {{'questions': [...], 'answer'}}")
            questions = tuple(str(q) for q in qa["questions"])
            answer = qa.get("answer") or []
            answers = [answer] if isinstance(answer, str) else list(answer)
            if question_index is None:
                picks = list(range(len(questions)))
            else:
                picks = [min(question_index, len(questions) - 1)]
            for k in picks:
                self._records.append(
                    {
                        "id": stem if question_index is not None else f"{stem}#{k}",
                        "image": images[stem],
                        "label": labels[stem],
                        "query": questions[k],
                        "questions": questions,
                        "answers": answers,
                    }
                )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        mask = read_mask(r["label"])
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            boxes_xyxy_px=boxes_from_mask(mask, self.box_from_mask),
            mask=mask,
            questions=r["questions"],
            meta={
                "answers": r["answers"],
                "no_target_answer": not r["answers"],
                "label_path": str(r["label"]),
            },
        )
