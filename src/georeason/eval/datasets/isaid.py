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
    read_json,
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


#: File names of the official COCO-style iSAID annotation file of a split (the iSAID release's
#: ``iSAID_{split}.json``, the devkit's ``instancesonly_filtered_{split}.json``), searched for
#: under ``root/{split}`` and ``root`` when ``annotations`` is not given.
ISAID_ANNOTATION_NAMES = ("iSAID_{split}.json", "instancesonly_filtered_{split}.json")


def _class_key(name: str) -> str:
    """``"Large_Vehicle"`` or ``"large vehicle"`` -> ``"large_vehicle"`` (spellings vary)."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def classes_from_coco_json(path: Path) -> dict[str, set[str]]:
    """Classes present per image stem, from a COCO-style iSAID annotation file.

    Returns:
        ``{image stem: {class key of ISAID_CLASS_COLORS_RGB}}``.

    Raises:
        CorruptDataError: the file is not COCO-style (``images``, ``annotations``,
            ``categories``) or names a class iSAID does not have.
    """
    data = read_json(path)
    try:
        names = {int(c["id"]): _class_key(str(c["name"])) for c in data["categories"]}
        stems = {int(im["id"]): Path(str(im["file_name"])).stem for im in data["images"]}
        pairs = [(int(a["image_id"]), int(a["category_id"])) for a in data["annotations"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError(
            f"iSAID: {path} is not a COCO-style annotation file "
            f"(images, annotations, categories): {exc!r}"
        ) from exc
    unknown = sorted(set(names.values()) - set(ISAID_CLASS_COLORS_RGB))
    if unknown:
        raise CorruptDataError(f"iSAID: {path} names classes iSAID does not have: {unknown}")
    present: dict[str, set[str]] = {stem: set() for stem in stems.values()}
    for image_id, category_id in pairs:
        if image_id not in stems or category_id not in names:
            raise CorruptDataError(
                f"iSAID: {path}: annotation refers to image {image_id} / category "
                f"{category_id}, which the file does not list"
            )
        present[stems[image_id]].add(names[category_id])
    return present


def rgb_codes(label: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 colours -> ``(H, W)`` int64 codes ``R * 65536 + G * 256 + B``."""
    return label.astype(np.int64) @ np.array([65536, 256, 1], np.int64)


def classes_from_color_mask(path: Path) -> set[str]:
    """Classes present in one ``*_instance_color_RGB.png`` (decodes the whole mask).

    Returns:
        The :data:`ISAID_CLASS_COLORS_RGB` keys whose colour occurs in the mask.

    Raises:
        DatasetNotFoundError: the file does not exist.
        CorruptDataError: the file cannot be decoded.
    """
    codes = set(np.unique(rgb_codes(read_rgb_label(path))).tolist())
    rgb = np.array(list(ISAID_CLASS_COLORS_RGB.values()), np.uint8)[None]
    class_codes = rgb_codes(rgb)[0].tolist()
    return {n for n, c in zip(ISAID_CLASS_COLORS_RGB, class_codes, strict=True) if c in codes}


def find_annotation_file(root: Path, split: str) -> Path | None:
    """The official annotation file of ``split`` (:data:`ISAID_ANNOTATION_NAMES`), searched
    for recursively under ``root/split`` first, then ``root``; the first match in sorted
    order, or None."""
    for folder in (root / split, root):
        for pattern in ISAID_ANNOTATION_NAMES:
            hits = sorted(folder.rglob(pattern.format(split=split))) if folder.is_dir() else []
            if hits:
                return hits[0]
    return None


class ISAID(EvalDataset):
    """iSAID instance segmentation (on DOTA images), as class-level pixel-grounding queries.

    Layout: ``root/{split}/images/<stem>.png`` with ``<stem>_instance_color_RGB.png`` (class
    colours, :data:`ISAID_CLASS_COLORS_RGB`) and ``<stem>_instance_id_RGB.png`` (one colour per
    instance) anywhere under ``root/{split}`` (the official archives put them in
    ``Semantic_masks/images`` and ``Instance_masks/images``). One sample per (image, class
    present): mask = the class's pixels, boxes = one tight box per instance (instance colour
    within the class mask). Query: :data:`CLASS_QUERY_TEMPLATE` (ours).

    Which classes an image holds is read from the official COCO-style annotation file
    (``annotations``, or the first :data:`ISAID_ANNOTATION_NAMES` match under ``root/{split}``
    or ``root``) without decoding any mask; masks are decoded per sample. Without that file,
    construction decodes each image's colour mask once to list its classes (a progress bar
    shows it; the official val split has 458 images of up to 4,000 px).

    Raises:
        DatasetNotFoundError: a missing folder or an image without its colour/id masks.
        CorruptDataError: masks of a different size than each other, or a malformed
            annotation file.
    """

    name = "isaid"
    has_masks = True
    LAYOUT = (
        "ROOT/{split}/images/<stem>.png and <stem>_instance_color_RGB.png, "
        "<stem>_instance_id_RGB.png under ROOT/{split}"
    )

    def __init__(
        self,
        root: str | Path,
        split: str = "val",
        classes: Sequence[str] | None = None,
        annotations: str | Path | None = None,
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
        images = []
        for img in sorted(img_dir.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES or "_instance_" in img.name:
                continue
            if img.stem not in color or img.stem not in ids:
                raise DatasetNotFoundError(
                    f"iSAID: image {img.name} has no {img.stem}_instance_color_RGB.png and "
                    f"{img.stem}_instance_id_RGB.png under {base}"
                )
            images.append(img)
        ann = Path(annotations) if annotations else find_annotation_file(self.root, split)
        if ann is not None and not ann.is_file():
            raise DatasetNotFoundError(f"iSAID: annotation file {ann} not found")
        listed = classes_from_coco_json(ann) if ann is not None else None
        if listed is None:
            from tqdm.auto import tqdm

            images = tqdm(images, desc="iSAID: listing classes", unit="image", leave=False)
        for img in images:
            if listed is not None:
                present = listed.get(img.stem, set())
            else:
                present = classes_from_color_mask(color[img.stem])
            for name in ISAID_CLASS_COLORS_RGB:
                if name in present and (classes is None or name in classes):
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
        codes = rgb_codes(inst)  # (H, W) instance colour code
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
