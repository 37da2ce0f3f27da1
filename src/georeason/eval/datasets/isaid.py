"""iSAID: instance masks as RGB-coded PNGs over DOTA images, class-name queries."""

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
    read_rgb_label,
    require_dir,
)
from georeason.geometry import as_boxes_xyxy
from georeason.masks import mask_to_box

#: iSAID class colours in the ``*_instance_color_RGB.png`` files, as (R, G, B). The iSAID devkit
#: lists them in OpenCV's BGR order; these are the same colours read as RGB.
ISAID_CLASS_COLORS_RGB: dict[str, tuple[int, int, int]] = {
    "ship": (0, 0, 63),
    "storage_tank": (0, 63, 63),
    "baseball_diamond": (0, 63, 0),
    "tennis_court": (0, 63, 127),
    "basketball_court": (0, 63, 191),
    "ground_track_field": (0, 63, 255),
    "bridge": (0, 127, 63),
    "large_vehicle": (0, 127, 127),
    "small_vehicle": (0, 0, 127),
    "helicopter": (0, 0, 191),
    "swimming_pool": (0, 0, 255),
    "roundabout": (0, 191, 127),
    "soccer_ball_field": (0, 127, 191),
    "plane": (0, 127, 255),
    "harbor": (0, 100, 155),
}


class ISAID(EvalDataset):
    """iSAID instance segmentation (on DOTA images), as class-level pixel-grounding queries.

    Layout: ``root/{split}/images/<stem>.png`` with ``<stem>_instance_color_RGB.png`` (class
    colours, :data:`ISAID_CLASS_COLORS_RGB`) and ``<stem>_instance_id_RGB.png`` (one colour per
    instance) anywhere under ``root/{split}`` (the official archives put them in
    ``Semantic_masks/images`` and ``Instance_masks/images``). One sample per (image, class
    present): mask = the class's pixels, boxes = one tight box per instance (instance colour
    within the class mask). Query: :data:`CLASS_QUERY_TEMPLATE` (ours).

    Raises:
        DatasetNotFoundError: a missing folder or an image without its colour/id masks.
        CorruptDataError: masks of a different size than each other.
    """

    name = "isaid"
    has_masks = True
    LAYOUT = (
        "ROOT/{split}/images/<stem>.png and <stem>_instance_color_RGB.png, "
        "<stem>_instance_id_RGB.png under ROOT/{split}"
    )

    def __init__(
        self, root: str | Path, split: str = "val", classes: Sequence[str] | None = None
    ) -> None:
        super().__init__(root, split)
        base = self.root / split
        img_dir = require_dir(base / "images", "iSAID", self.LAYOUT)
        color = {
            p.name[: -len("_instance_color_RGB.png")]: p
            for p in base.rglob("*_instance_color_RGB.png")
        }
        ids = {
            p.name[: -len("_instance_id_RGB.png")]: p for p in base.rglob("*_instance_id_RGB.png")
        }
        for img in sorted(img_dir.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES or "_instance_" in img.name:
                continue
            if img.stem not in color or img.stem not in ids:
                raise DatasetNotFoundError(
                    f"iSAID: image {img.name} has no {img.stem}_instance_color_RGB.png and "
                    f"{img.stem}_instance_id_RGB.png under {base}"
                )
            sem = read_rgb_label(color[img.stem])
            present = {tuple(int(v) for v in c) for c in np.unique(sem.reshape(-1, 3), axis=0)}
            for name, rgb in ISAID_CLASS_COLORS_RGB.items():
                if rgb in present and (classes is None or name in classes):
                    self._records.append(
                        {
                            "id": f"{img.stem}_{name}",
                            "image": img,
                            "name": name,
                            "color": color[img.stem],
                            "ids": ids[img.stem],
                        }
                    )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        sem = read_rgb_label(r["color"])
        inst = read_rgb_label(r["ids"])
        if sem.shape != inst.shape:
            raise CorruptDataError(f"iSAID: {r['color']} and {r['ids']} differ in size")
        mask = np.all(sem == np.array(ISAID_CLASS_COLORS_RGB[r["name"]], np.uint8), axis=-1)
        codes = inst.astype(np.int64) @ np.array([1, 256, 65536])  # (H, W) instance colour code
        boxes = []
        for code in np.unique(codes[mask]):
            if code == 0:
                continue
            box = mask_to_box(mask & (codes == code))
            if box is not None:
                boxes.append(box)
        boxes.sort()
        query = CLASS_QUERY_TEMPLATE.format(name=r["name"].replace("_", " "))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=query,
            boxes_xyxy_px=as_boxes_xyxy(boxes),
            mask=mask,
            questions=(query,),
            label=r["name"],
        )
