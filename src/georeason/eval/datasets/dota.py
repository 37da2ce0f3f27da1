"""DOTA: oriented boxes in text label files, class-name queries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from georeason.eval.datasets.base import (
    CLASS_QUERY_TEMPLATE,
    IMAGE_SUFFIXES,
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    require_dir,
)
from georeason.geometry import as_boxes_xyxy


def parse_dota_label(path: str | Path) -> list[dict[str, Any]]:
    """Objects of a DOTA ``labelTxt`` file (v1.0 / v1.5).

    Each object line is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (an oriented box as four
    corners in pixels); header lines (``imagesource:``, ``gsd:``) are skipped.

    Returns:
        ``[{"polygon": (4, 2) float64, "name": str, "difficult": bool}]``.

    Raises:
        CorruptDataError: for a line that is neither a header nor an object.
    """
    p = Path(path)
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts or ":" in parts[0]:
            continue
        try:
            coords = np.array([float(v) for v in parts[:8]], dtype=np.float64).reshape(4, 2)
            name = parts[8]
        except (ValueError, IndexError) as exc:
            raise CorruptDataError(f"{p}:{n}: expected 8 numbers, a class and a flag") from exc
        difficult = len(parts) > 9 and parts[9] == "1"
        out.append({"polygon": coords, "name": name, "difficult": difficult})
    return out


class DOTA(EvalDataset):
    """DOTA v1.0/v1.5 object detection, as class-level grounding queries.

    Layout: ``root/{train,val,test}/images/<stem>.png`` and ``root/{split}/labelTxt/<stem>.txt``.
    One sample per (image, class): the query is :data:`CLASS_QUERY_TEMPLATE` (ours: DOTA has
    no referring expressions), the boxes are the axis-aligned hulls of the class's oriented
    boxes (xyxy pixels). ``include_difficult=False`` drops objects flagged difficult.

    Raises:
        DatasetNotFoundError: missing folders or a label without its image.
    """

    name = "dota"
    LAYOUT = "ROOT/{split}/images/*.png, ROOT/{split}/labelTxt/*.txt"

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        classes: Sequence[str] | None = None,
        include_difficult: bool = True,
    ) -> None:
        super().__init__(root, split)
        base = self.root / split
        img_dir = require_dir(base / "images", "DOTA", self.LAYOUT)
        lbl_dir = require_dir(base / "labelTxt", "DOTA", self.LAYOUT)
        images = {p.stem: p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        for lbl in sorted(lbl_dir.glob("*.txt")):
            if lbl.stem not in images:
                raise DatasetNotFoundError(f"DOTA: label {lbl} has no image in {img_dir}")
            objs = [o for o in parse_dota_label(lbl) if include_difficult or not o["difficult"]]
            by_class: dict[str, list[list[float]]] = {}
            for o in objs:
                poly = o["polygon"]
                by_class.setdefault(o["name"], []).append(
                    [*poly.min(axis=0).tolist(), *poly.max(axis=0).tolist()]
                )
            for name in sorted(by_class):
                if classes is not None and name not in classes:
                    continue
                self._records.append(
                    {
                        "id": f"{lbl.stem}_{name}",
                        "image": images[lbl.stem],
                        "name": name,
                        "boxes": by_class[name],
                    }
                )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        query = CLASS_QUERY_TEMPLATE.format(name=r["name"].replace("-", " "))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=query,
            boxes_xyxy_px=as_boxes_xyxy(r["boxes"]),
            questions=(query,),
            label=r["name"],
        )
