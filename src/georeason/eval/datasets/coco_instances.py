"""COCO instance annotations (polygons or RLE per object) as per-image boxes and masks.

The COCO format (Lin et al., "Microsoft COCO", ECCV 2014; ``instances_*.json``) is how iSAID
and the NWPU VHR-10 instance masks (Su et al., IGARSS 2019,
github.com/chaozhong2010/VHR-10_dataset_coco) are distributed. This reader serves the
box -> mask benchmarks and tests: it yields, per image, every instance's box and mask of the
requested categories.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from georeason.eval.datasets.base import CorruptDataError, read_json
from georeason.eval.datasets.rrsisd import coco_segmentation_to_mask
from georeason.geometry import as_boxes_xyxy


@dataclass(frozen=True)
class CocoImageInstances:
    """The instances of one image.

    Attributes:
        image_path: the image file.
        height, width: image size in pixels (from the annotation file).
        categories: ``N`` category names, one per instance.
        boxes_xyxy_px: ``(N, 4)`` float64 xyxy boxes, original-image pixels (COCO ``bbox`` is
            ``[x, y, w, h]``, pixel-corner frame).
        masks: ``N`` ``(H, W)`` bool instance masks (COCO polygons rasterised by pycocotools).
    """

    image_path: Path
    height: int
    width: int
    categories: list[str]
    boxes_xyxy_px: np.ndarray
    masks: list[np.ndarray]


def read_coco_instances(
    json_path: str | Path, image_dir: str | Path, categories: Sequence[str] | None = None
) -> Iterator[CocoImageInstances]:
    """Images of a COCO instances file, in file-name order, with their instances.

    Args:
        json_path: ``instances_*.json`` (``images``, ``annotations``, ``categories``).
        image_dir: folder holding the images' ``file_name`` s.
        categories: category names to keep (None: all); images without any are skipped.
            Crowd annotations (``iscrowd=1``) are skipped.

    Raises:
        FileNotFoundError: if ``json_path`` does not exist.
        CorruptDataError: if it is not valid JSON or lacks the COCO instance fields.
    """
    data = read_json(Path(json_path))
    try:
        names = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        images = sorted(data["images"], key=lambda im: im["file_name"])
        by_image: dict[int, list[dict]] = {}
        for ann in data["annotations"]:
            if ann.get("iscrowd", 0):
                continue
            if categories is None or names[int(ann["category_id"])] in categories:
                by_image.setdefault(int(ann["image_id"]), []).append(ann)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(f"{json_path}: not a COCO instances file ({exc!r})") from exc
    for im in images:
        anns = by_image.get(int(im["id"]))
        if not anns:
            continue
        h, w = int(im["height"]), int(im["width"])
        boxes = [[x, y, x + bw, y + bh] for x, y, bw, bh in (a["bbox"] for a in anns)]
        yield CocoImageInstances(
            image_path=Path(image_dir) / im["file_name"],
            height=h,
            width=w,
            categories=[names[int(a["category_id"])] for a in anns],
            boxes_xyxy_px=as_boxes_xyxy(boxes),
            masks=[coco_segmentation_to_mask(a["segmentation"], h, w) for a in anns],
        )
