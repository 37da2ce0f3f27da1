"""Generic JSONL queries: ``{"image", "query", "gt_boxes" | "boxes_xyxy_px", "gt_mask"}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from georeason.eval.datasets.base import (
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    read_mask,
)
from georeason.geometry import as_boxes_xyxy


class JSONLQueries(EvalDataset):
    """Any folder in the ``rs-samples`` layout: ``root/queries.jsonl`` plus the files it names.

    Each line: ``{"id", "image", "query", "gt_boxes": [[x1, y1, x2, y2], ...] (original
    pixels), "gt_mask": "masks/x.png" | null, ...}``; paths are relative to ``root``. Every
    line is a sample (there are no splits; ``split`` is recorded only). Extra fields go to
    ``meta``.

    Raises:
        DatasetNotFoundError: no ``queries.jsonl``; CorruptDataError: a bad line.
    """

    name = "jsonl"
    splits = ()
    REQUIRED = ("id", "image", "query", "gt_boxes")

    def __init__(self, root: str | Path, split: str = "test", filename: str = "queries.jsonl"):
        super().__init__(root, split)
        path = self.root / filename if self.root.is_dir() else self.root
        if not path.is_file():
            raise DatasetNotFoundError(
                f"jsonl: {path} not found; expected ROOT/{filename} with one JSON object per "
                f"line holding {list(self.REQUIRED)} and optionally gt_mask"
            )
        base = path.parent
        seen: set[str] = set()
        from georeason.jsonl import JsonlError, read_jsonl_numbered

        try:
            numbered = read_jsonl_numbered(path, torn_tail="error")
        except JsonlError as exc:
            raise CorruptDataError(str(exc)) from None
        for n, rec in numbered:
            missing = [k for k in self.REQUIRED if k not in rec]
            if missing:
                raise CorruptDataError(f"{path}:{n}: missing field(s) {missing}")
            if rec["id"] in seen:
                raise CorruptDataError(f"{path}:{n}: duplicate id {rec['id']!r}")
            try:  # check the boxes now: a bad one must not stop a run half-way with a traceback
                as_boxes_xyxy(rec["gt_boxes"])
            except (ValueError, TypeError) as exc:
                raise CorruptDataError(f"{path}:{n}: bad gt_boxes ({exc})") from None
            seen.add(rec["id"])
            self._records.append({**rec, "_base": base})
        self._check_not_empty(path)

    @property
    def has_masks(self) -> bool:  # type: ignore[override]
        """True when every sample has a ``gt_mask``."""
        return bool(self._records) and all(r.get("gt_mask") for r in self._records)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        base: Path = r["_base"]
        mask = read_mask(base / r["gt_mask"]) if r.get("gt_mask") else None
        meta = {k: v for k, v in r.items() if k not in (*self.REQUIRED, "gt_mask", "_base")}
        return EvalSample(
            id=str(r["id"]),
            image_path=base / r["image"],
            query=r["query"],
            boxes_xyxy_px=as_boxes_xyxy(r["gt_boxes"]),
            mask=mask,
            questions=(r["query"],),
            label=r.get("target_class"),
            meta=meta,
        )

    def with_masks_only(self) -> JSONLQueries:
        """A view of the samples that have a ``gt_mask`` (for the pixel and contour tasks)."""
        view = object.__new__(JSONLQueries)
        view.__dict__.update(self.__dict__)
        view._records = [r for r in self._records if r.get("gt_mask")]
        return view
