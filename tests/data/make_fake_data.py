#!/usr/bin/env python3
"""Write tiny fake benchmarks in the real file formats (torchgeo style, seeded).

Run from anywhere: ``python tests/data/make_fake_data.py [OUT_DIR]`` (default: this folder).
Creates ``earthreason/``, ``dior_rsvg/``, ``rrsisd/``, ``geozero/``, ``dota/``, ``isaid/`` and
``jsonl/`` with a few images each. Pixels are seeded noise; the annotations are fixed so that
tests can assert exact boxes, masks and queries (documented next to each writer below).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 0


def _rgb(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), mode="RGB")


def _mask_png(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(path)


def write_earthreason(out: Path, rng: np.random.Generator) -> None:
    """test: er_a (rectangle rows 10:20, cols 5:25 and a 4x4 square at rows 30:34, cols 40:44,
    two questions), er_b (empty answer, empty label), er_c (png image, one question,
    full-width band rows 0:8). val: er_v (rows 2:6, cols 2:6)."""
    specs = {
        "test": [
            (
                "er_a",
                ".jpg",
                [(10, 20, 5, 25), (30, 34, 40, 44)],
                ["Where would trucks load goods?", "Which area serves logistics?"],
                ["the depot"],
            ),
            ("er_b", ".jpg", [], ["Where is the harbour?"], []),
            ("er_c", ".png", [(0, 8, 0, 64)], ["Which strip is the runway?"], ["the runway"]),
        ],
        "val": [("er_v", ".jpg", [(2, 6, 2, 6)], ["Where is the pool?"], ["a pool"])],
    }
    for split, items in specs.items():
        for stem, ext, rects, questions, answer in items:
            base = out / "earthreason" / split
            for sub in ("images", "labels", "QAs"):
                (base / sub).mkdir(parents=True, exist_ok=True)
            _rgb(rng, 48, 64).save(base / "images" / f"{stem}{ext}")
            m = np.zeros((48, 64), bool)
            for r0, r1, c0, c1 in rects:
                m[r0:r1, c0:c1] = True
            _mask_png(base / "labels" / f"{stem}.png", m)
            (base / "QAs" / f"{stem}.json").write_text(
                json.dumps({"questions": questions, "answer": answer}, indent=1)
            )


def write_dior_rsvg(out: Path, rng: np.random.Generator) -> None:
    """Three XMLs, five objects (global indices 0..4): 00001 has objects 0, 1; 00002 has 2;
    00003 has 3, 4. test.txt = {0, 3}, val.txt = {2}, train.txt = {1, 4}."""
    root = out / "dior_rsvg"
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    objs = {
        "00001": [
            ("golffield", (3, 4, 30, 20), "A green golf field"),
            ("vehicle", (40, 10, 44, 18), "the small car on the right"),
        ],
        "00002": [("dam", (0, 0, 63, 47), "The dam across the valley")],
        "00003": [
            ("ship", (10, 12, 20, 30), "a ship at the pier"),
            ("ship", (30, 5, 50, 9), "the long ship at the top"),
        ],
    }
    for stem, items in objs.items():
        _rgb(rng, 48, 64).save(root / "JPEGImages" / f"{stem}.jpg")
        xml = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
            "<annotation>",
            f"  <filename>{stem}.jpg</filename>",
            "  <size><width>64</width><height>48</height><depth>3</depth></size>",
        ]
        for name, (x1, y1, x2, y2), desc in items:
            xml += [
                "  <object>",
                f"    <name>{name}</name>",
                "    <pose>Unspecified</pose>",
                "    <bndbox>",
                f"      <xmin>{x1}</xmin>",
                f"      <ymin>{y1}</ymin>",
                f"      <xmax>{x2}</xmax>",
                f"      <ymax>{y2}</ymax>",
                "    </bndbox>",
                f"    <description>{desc}</description>",
                "  </object>",
            ]
        xml.append("</annotation>")
        (root / "Annotations" / f"{stem}.xml").write_text("\n".join(xml) + "\n")
    (root / "test.txt").write_text("0\n3\n")
    (root / "val.txt").write_text("2\n")
    (root / "train.txt").write_text("1\n4\n")


def write_rrsisd(out: Path, rng: np.random.Generator) -> None:
    """Two images (40x50); ref 10 (test): COCO polygon square with corners (5, 5)..(15, 15),
    which pycocotools rasterises to 100 pixels, two sentences; ref 11 (test): RLE mask rows
    20:30, cols 30:45; ref 12 (val). Refs pickled as plain dicts, protocol 2."""
    from pycocotools import mask as coco_mask

    root = out / "rrsisd"
    img_dir = root / "images" / "rrsisd" / "JPEGImages"
    img_dir.mkdir(parents=True, exist_ok=True)
    (root / "rrsisd").mkdir(parents=True, exist_ok=True)
    for name in ("01.jpg", "02.jpg"):
        _rgb(rng, 40, 50).save(img_dir / name)
    rle_mask = np.zeros((40, 50), np.uint8)
    rle_mask[20:30, 30:45] = 1
    rle = coco_mask.encode(np.asfortranarray(rle_mask))
    rle = {"size": [40, 50], "counts": rle["counts"].decode()}
    instances = {
        "images": [
            {"id": 1, "file_name": "01.jpg", "height": 40, "width": 50},
            {"id": 2, "file_name": "02.jpg", "height": 40, "width": 50},
        ],
        "annotations": [
            {
                "id": 100,
                "image_id": 1,
                "category_id": 1,
                "bbox": [5, 5, 10, 10],
                "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]],
            },
            {
                "id": 101,
                "image_id": 1,
                "category_id": 2,
                "bbox": [30, 20, 15, 10],
                "segmentation": rle,
            },
            {
                "id": 102,
                "image_id": 2,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]],
            },
        ],
        "categories": [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "ship"}],
    }
    (root / "rrsisd" / "instances.json").write_text(json.dumps(instances))
    refs = [
        {
            "ref_id": 10,
            "ann_id": 100,
            "image_id": 1,
            "split": "test",
            "category_id": 1,
            "sentences": [
                {"raw": "The small square vehicle", "sent": "the small square vehicle"},
                {"raw": "vehicle at top left", "sent": "vehicle at top left"},
            ],
        },
        {
            "ref_id": 11,
            "ann_id": 101,
            "image_id": 1,
            "split": "test",
            "category_id": 2,
            "sentences": [{"raw": "The ship on the right", "sent": "the ship on the right"}],
        },
        {
            "ref_id": 12,
            "ann_id": 102,
            "image_id": 2,
            "split": "val",
            "category_id": 1,
            "sentences": [{"raw": "a vehicle", "sent": "a vehicle"}],
        },
    ]
    with open(root / "rrsisd" / "refs(unc).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)


def write_geozero(out: Path, rng: np.random.Generator) -> None:
    """test.json: g1 grounding box [4, 6, 20, 30] (pixels), g2 two boxes in Qwen JSON, g3 a
    classification record without a box (skipped)."""
    root = out / "geozero"
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name in ("a.png", "b.png"):
        _rgb(rng, 48, 64).save(root / "images" / name)
    recs = [
        {
            "id": "g1",
            "images": ["images/a.png"],
            "conversations": [
                {"from": "human", "value": "<image>\nLocate the storage tank."},
                {"from": "gpt", "value": "<answer>[4, 6, 20, 30]</answer>"},
            ],
        },
        {
            "id": "g2",
            "images": ["images/b.png"],
            "conversations": [
                {"from": "human", "value": "<image>\nFind both ships."},
                {
                    "from": "gpt",
                    "value": '[{"bbox_2d": [1, 2, 3, 4], "label": "ship"}, '
                    '{"bbox_2d": [10, 10, 20, 20], "label": "ship"}]',
                },
            ],
        },
        {
            "id": "g3",
            "images": ["images/a.png"],
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is the scene category?"},
                {"from": "gpt", "value": "<answer>industrial</answer>"},
            ],
        },
    ]
    (root / "test.json").write_text(json.dumps(recs, indent=1))


def write_dota(out: Path, rng: np.random.Generator) -> None:
    """val/images/P0001.png with labelTxt: two planes (one difficult) and one oriented
    small-vehicle whose hull is [20, 8, 30, 20]."""
    root = out / "dota" / "val"
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labelTxt").mkdir(parents=True, exist_ok=True)
    _rgb(rng, 48, 64).save(root / "images" / "P0001.png")
    (root / "labelTxt" / "P0001.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n"
        "1 1 11 1 11 9 1 9 plane 0\n"
        "40 30 60 30 60 45 40 45 plane 1\n"
        "25 8 30 14 25 20 20 14 small-vehicle 0\n"
    )


#: iSAID colours used below (RGB): large_vehicle, small_vehicle.
_LV, _SV = (0, 127, 127), (0, 0, 127)


def write_isaid(out: Path, rng: np.random.Generator) -> None:
    """val/images/P0007.png (40x60): two large vehicles (rows 2:6, cols 2:12 and rows 10:14,
    cols 2:12) and one small vehicle (rows 20:23, cols 30:34); masks in the official
    Semantic_masks/ and Instance_masks/ sub-folders."""
    root = out / "isaid" / "val"
    (root / "images").mkdir(parents=True, exist_ok=True)
    _rgb(rng, 40, 60).save(root / "images" / "P0007.png")
    sem = np.zeros((40, 60, 3), np.uint8)
    ids = np.zeros((40, 60, 3), np.uint8)
    for (r0, r1, c0, c1), color, inst in [
        ((2, 6, 2, 12), _LV, (1, 0, 0)),
        ((10, 14, 2, 12), _LV, (2, 0, 0)),
        ((20, 23, 30, 34), _SV, (3, 0, 0)),
    ]:
        sem[r0:r1, c0:c1] = color
        ids[r0:r1, c0:c1] = inst
    for sub, arr, suffix in (
        ("Semantic_masks", sem, "instance_color_RGB"),
        ("Instance_masks", ids, "instance_id_RGB"),
    ):
        (root / sub / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, mode="RGB").save(root / sub / "images" / f"P0007_{suffix}.png")


def write_jsonl(out: Path, rng: np.random.Generator) -> None:
    """queries.jsonl: q1 (box [2, 3, 10, 12], mask rows 3:12, cols 2:10), q2 (no target)."""
    root = out / "jsonl"
    (root / "images").mkdir(parents=True, exist_ok=True)
    _rgb(rng, 32, 32).save(root / "images" / "x.png")
    m = np.zeros((32, 32), bool)
    m[3:12, 2:10] = True
    _mask_png(root / "masks" / "x.png", m)
    _mask_png(root / "masks" / "empty.png", np.zeros((32, 32), bool))
    lines = [
        {
            "id": "q1",
            "image": "images/x.png",
            "query": "the red roof",
            "gt_boxes": [[2, 3, 10, 12]],
            "gt_mask": "masks/x.png",
            "target_class": "roof",
        },
        {
            "id": "q2",
            "image": "images/x.png",
            "query": "the swimming pool",
            "gt_boxes": [],
            "gt_mask": "masks/empty.png",
        },
    ]
    (root / "queries.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


WRITERS = (
    write_earthreason,
    write_dior_rsvg,
    write_rrsisd,
    write_geozero,
    write_dota,
    write_isaid,
    write_jsonl,
)


def main(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    for writer in WRITERS:
        writer(out, rng)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
