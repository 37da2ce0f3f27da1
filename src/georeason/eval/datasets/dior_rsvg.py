"""DIOR-RSVG: visual grounding on DIOR images, Pascal-VOC-style XML annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from georeason.eval.datasets.base import (
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    require_dir,
)
from georeason.geometry import as_boxes_xyxy


class DIORRSVG(EvalDataset):
    """DIOR-RSVG visual grounding (Zhan et al., 2023; ZhanYang-nwpu/RSVG-pytorch).

    Layout::

        root/JPEGImages/<name>.jpg
        root/Annotations/<name>.xml       # VOC XML; each <object> has <bndbox> and <description>
        root/{train,val,test}.txt         # one integer per line: a global object index

    The split files index objects, counted over all XML files in file-name order and over the
    objects in document order (as the reference ``data_loader.py``, which walks the folder).
    One sample per object: query = its ``description``, one box (VOC ``xmin ymin xmax ymax``
    taken as xyxy pixel corners, as the reference code does).

    Raises:
        DatasetNotFoundError: a missing folder or split file.
        CorruptDataError: malformed XML or an object without a box or description.
    """

    name = "dior_rsvg"
    LAYOUT = "ROOT/JPEGImages/*.jpg, ROOT/Annotations/*.xml, ROOT/{train,val,test}.txt"

    def __init__(self, root: str | Path, split: str = "test") -> None:
        super().__init__(root, split)
        ann_dir = require_dir(self.root / "Annotations", "DIOR-RSVG", self.LAYOUT)
        img_dir = require_dir(self.root / "JPEGImages", "DIOR-RSVG", self.LAYOUT)
        split_file = self.root / f"{split}.txt"
        if not split_file.is_file():
            raise DatasetNotFoundError(
                f"DIOR-RSVG: split file {split_file} not found. Expected layout: {self.LAYOUT}"
            )
        try:
            wanted = {int(x) for x in split_file.read_text().split()}
        except ValueError as exc:
            raise CorruptDataError(f"{split_file}: expected one integer per line") from exc
        count = 0
        for xml_path in sorted(ann_dir.glob("*.xml")):
            for obj in parse_voc_rsvg(xml_path):
                if count in wanted:
                    self._records.append(
                        {
                            "id": f"{xml_path.stem}_{obj['index']}",
                            "image": img_dir / obj["filename"],
                            "query": obj["description"],
                            "box": obj["box"],
                            "label": obj["name"],
                            "global_index": count,
                        }
                    )
                count += 1
        self._check_not_empty(self.root)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            boxes_xyxy_px=as_boxes_xyxy([r["box"]]),
            questions=(r["query"],),
            label=r["label"],
            meta={"global_index": r["global_index"]},
        )


def parse_voc_rsvg(xml_path: str | Path) -> list[dict[str, Any]]:
    """Objects of one DIOR-RSVG VOC XML file.

    Returns:
        ``[{"index", "filename", "name", "box": [xmin, ymin, xmax, ymax], "description"}]`` in
        document order.

    Raises:
        CorruptDataError: malformed XML, a missing ``<bndbox>`` coordinate or ``<description>``.
    """
    p = Path(xml_path)
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise CorruptDataError(f"{p}: malformed XML ({exc})") from exc
    filename = (root.findtext("filename") or f"{p.stem}.jpg").strip()
    out = []
    for i, obj in enumerate(root.findall("object")):
        bb = obj.find("bndbox")
        desc = obj.findtext("description")
        try:
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]  # type: ignore[union-attr, arg-type]
        except (AttributeError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"{p}: object {i} has no valid <bndbox>") from exc
        if desc is None or not desc.strip():
            raise CorruptDataError(f"{p}: object {i} has no <description>")
        out.append(
            {
                "index": i,
                "filename": filename,
                "name": obj.findtext("name") or "",
                "box": box,
                "description": desc.strip(),
            }
        )
    return out
