"""Box -> mask segmenters given the ground-truth boxes ("oracle boxes"), on the real mask sets.

Protocol (the same for every segmenter): for each real mask set bundled in
``georeason/data/rs-samples`` (records of ``queries.jsonl`` with ``gt_mask``), segment every
ground-truth box of the record, OR the per-box masks (RemoteReasoner's union of instance masks),
and score the union against the ground-truth mask with :func:`georeason.masks.mask_iou`
(pixel IoU). Time per box is the wall time of ``segment`` divided by the number of boxes
(CPU unless ``--device``). Rows: ``box`` (box-filling baseline), ``default`` (the weights-free
shape fit), ``grabcut`` (plain OpenCV GrabCut per box, reference only: 5 iterations on the box
plus a 10 px context margin), and ``sam2`` when ``--sam-checkpoint`` is given.

Round objects (NWPU VHR-10 instance polygons): per class, over the bundled images in
``tests/data/nwpu_vhr10`` (and, with ``--vhr10-root``, over every image of a COCO-format NWPU
VHR-10 copy holding ``annotations/instances_{train,val}.json`` and ``images/{train,val}/``), the
mean per-instance IoU (each ground-truth box's mask against its own instance mask) and the pooled
union IoU (sum over images of the union masks' intersections over the sum of their unions).

Writes ``benchmarks/results/segmenter_oracle.md`` and ``.json``.

Usage::

    .venv/bin/python benchmarks/segmenter_oracle.py [--sam-checkpoint DIR] [--device cpu]
        [--vhr10-root DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from georeason.data import SAMPLES_DIR, sample_records
from georeason.eval.datasets.coco_instances import read_coco_instances
from georeason.geometry import as_boxes_xyxy, crop_window_px
from georeason.io import read_image
from georeason.masks import box_to_mask, mask_intersection_union, mask_iou, union_of_masks
from georeason.models.segmenters import build_segmenter

RESULTS = Path(__file__).resolve().parent / "results"
VHR10_BUNDLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "nwpu_vhr10"
VHR10_CLASSES = ("storage_tank", "baseball_diamond", "tennis_court", "ground_track_field")
GRABCUT_MARGIN_PX = 10
GRABCUT_ITERS = 5


class GrabCutReference:
    """Plain OpenCV GrabCut per box (reference row; falls back to the box if GrabCut fails)."""

    name = "grabcut"

    def segment(self, rgb: np.ndarray, boxes_xyxy_px: np.ndarray) -> list[np.ndarray]:
        h, w = rgb.shape[:2]
        out = []
        for box in as_boxes_xyxy(boxes_xyxy_px):
            left, top, right, bottom = crop_window_px(box, w, h)
            cl, ct = max(left - GRABCUT_MARGIN_PX, 0), max(top - GRABCUT_MARGIN_PX, 0)
            cr, cb = min(right + GRABCUT_MARGIN_PX, w), min(bottom + GRABCUT_MARGIN_PX, h)
            crop = np.ascontiguousarray(rgb[ct:cb, cl:cr, ::-1])
            gc = np.zeros(crop.shape[:2], np.uint8)
            rect = (left - cl, top - ct, right - left, bottom - top)
            try:
                cv2.grabCut(
                    crop,
                    gc,
                    rect,
                    np.zeros((1, 65)),
                    np.zeros((1, 65)),
                    GRABCUT_ITERS,
                    cv2.GC_INIT_WITH_RECT,
                )
                m = np.zeros((h, w), bool)
                m[ct:cb, cl:cr] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
                m &= box_to_mask(box, h, w)
            except cv2.error:
                m = box_to_mask(box, h, w)
            out.append(m)
        return out


def mask_sets() -> list[dict]:
    """Records of the bundled samples that have a ground-truth mask."""
    return [r for r in sample_records() if r.get("gt_mask")]


def load_gt(record: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rgb (H, W, 3) uint8, gt mask (H, W) bool, boxes (N, 4) xyxy px)`` of a record."""
    rgb = read_image(SAMPLES_DIR / record["image"]).rgb
    gt = np.array(Image.open(SAMPLES_DIR / record["gt_mask"]))
    if gt.ndim == 3:
        gt = gt[..., 0]
    return rgb, gt > 0, as_boxes_xyxy(record["gt_boxes"])


def dota_obb_sets() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Held-out check: DOTA oriented boxes rasterised as pseudo-masks (not used for design).

    Each DOTA class of ``dota_P1888`` gives a set: the union of its oriented-box polygons
    (vertices read as pixel-corner coordinates) as the mask, their axis-aligned hulls as boxes.
    Coarser than real masks (an oriented box contains more than the object), so it is reported
    separately. Returns ``[(set id, rgb, gt mask, boxes), ...]``.
    """
    rgb = read_image(SAMPLES_DIR / "images" / "dota_P1888.png").rgb
    h, w = rgb.shape[:2]
    lines = (SAMPLES_DIR / "annotations" / "dota_P1888.txt").read_text().splitlines()
    polys: dict[str, list[np.ndarray]] = {}
    for line in lines:
        f = line.split()
        if len(f) >= 9 and f[8].replace("-", "").isalpha():
            polys.setdefault(f[8], []).append(np.array(f[:8], dtype=float).reshape(4, 2))
    out = []
    for cls, plist in sorted(polys.items()):
        instances = []
        for pts in plist:
            inst = np.zeros((h, w), np.uint8)
            cv2.fillPoly(inst, [np.round((pts - 0.5) * 8).astype(np.int32)], 1, shift=3)
            instances.append(inst > 0)
        gt = union_of_masks(instances, h, w)
        boxes = np.array(
            [[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in plist]
        )
        out.append((f"dota_P1888_{cls} (OBB)", rgb, gt, boxes, instances))
    return out


def round_object_scores(segmenter, sources: list[tuple[Path, Path]]) -> dict[str, dict]:
    """Per NWPU VHR-10 class: mean instance IoU, pooled union IoU, boxes, ms per box.

    Args:
        segmenter: a box -> mask segmenter.
        sources: ``[(instances json, image folder), ...]``.
    """
    acc: dict[str, dict[str, list]] = {}
    for json_path, image_dir in sources:
        for item in read_coco_instances(json_path, image_dir, VHR10_CLASSES):
            rgb = read_image(item.image_path).rgb
            for cls in sorted(set(item.categories)):
                idx = [i for i, c in enumerate(item.categories) if c == cls]
                t0 = time.perf_counter()
                masks = segmenter.segment(rgb, item.boxes_xyxy_px[idx])
                a = acc.setdefault(cls, {"iou": [], "inter": [], "union": [], "s": []})
                a["s"].append(time.perf_counter() - t0)
                a["iou"] += [mask_iou(m, item.masks[i]) for m, i in zip(masks, idx, strict=True)]
                gt = union_of_masks([item.masks[i] for i in idx], item.height, item.width)
                inter, union = mask_intersection_union(union_of_masks(masks, *gt.shape), gt)
                a["inter"].append(inter)
                a["union"].append(union)
    return {
        cls: {
            "instance_iou": float(np.mean(a["iou"])),
            "pooled_union_iou": sum(a["inter"]) / max(sum(a["union"]), 1),
            "num_boxes": len(a["iou"]),
            "ms_per_box": 1000.0 * sum(a["s"]) / max(len(a["iou"]), 1),
        }
        for cls, a in acc.items()
    }


def evaluate(
    segmenter,
    rgb: np.ndarray,
    gt: np.ndarray,
    boxes: np.ndarray,
    instances: list[np.ndarray] | None = None,
) -> dict:
    """Union IoU, time per box and (with instance masks) mean per-instance IoU of one set."""
    t0 = time.perf_counter()
    masks = segmenter.segment(rgb, boxes)
    dt = time.perf_counter() - t0
    union = union_of_masks(masks, *gt.shape)
    out = {"iou": mask_iou(union, gt), "ms_per_box": 1000.0 * dt / max(len(boxes), 1)}
    if instances is not None:
        ious = [mask_iou(m, g) for m, g in zip(masks, instances, strict=True)]
        out["instance_iou"] = float(np.mean(ious))
    return out


def _table_header(first: str, left: str, right: str, names: list[str]) -> list[str]:
    """Markdown header rows: ``first | boxes | NAME left ... | NAME right ...``."""
    cols = [first, "boxes", *(f"{k} {left}" for k in names), *(f"{k} {right}" for k in names)]
    return ["| " + " | ".join(cols) + " |", "|---|---|" + "---|" * (2 * len(names))]


def _table_row(label: str, n: int, left: list[str], right: list[str]) -> str:
    return "| " + " | ".join([label, str(n), *left, *right]) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sam-checkpoint", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--no-grabcut", action="store_true")
    ap.add_argument(
        "--vhr10-root", type=Path, default=None, help="a COCO-format NWPU VHR-10 copy (optional)"
    )
    args = ap.parse_args()

    cv2.setNumThreads(1)
    segmenters = {"box": build_segmenter("box"), "default": build_segmenter("default")}
    if not args.no_grabcut:
        segmenters["grabcut"] = GrabCutReference()
    if args.sam_checkpoint:
        sam = build_segmenter("sam2", sam_checkpoint=args.sam_checkpoint, device=args.device)
        segmenters[sam.name] = sam

    def run(sets) -> dict[str, dict[str, dict]]:
        res: dict[str, dict[str, dict]] = {}
        for sid, rgb, gt, boxes, *inst in sets:
            res[sid] = {}
            for key, seg in segmenters.items():
                r = evaluate(seg, rgb, gt, boxes, inst[0] if inst else None)
                res[sid][key] = r | {"num_boxes": len(boxes)}
                r = res[sid][key]
                print(f"{sid:<34} {key:<20} IoU {r['iou']:.4f}  {r['ms_per_box']:.1f} ms/box")
        return res

    results = run([(r["id"], *load_gt(r)) for r in mask_sets()])
    held_out = run(dota_obb_sets())
    round_sets = {"bundled": [(VHR10_BUNDLED / "instances.json", VHR10_BUNDLED / "images")]}
    if args.vhr10_root:
        round_sets["full"] = [
            (
                args.vhr10_root / "annotations" / f"instances_{s}.json",
                args.vhr10_root / "images" / s,
            )
            for s in ("train", "val")
        ]
    round_objects = {
        which: {key: round_object_scores(seg, src) for key, seg in segmenters.items()}
        for which, src in round_sets.items()
    }

    names = list(segmenters)
    means = {k: float(np.mean([results[s][k]["iou"] for s in results])) for k in names}
    lines = [
        "# Box -> mask segmenters on ground-truth boxes",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        "`benchmarks/segmenter_oracle.py` on "
        + f"{platform.machine()} CPU"
        + (f" (SAM2 device {args.device})" if args.sam_checkpoint else "")
        + ".",
        "",
        "Metric: pixel IoU of the union of the per-box masks against the ground-truth mask "
        "(all ground-truth boxes of the set as prompts). Time: wall time of `segment` per box.",
        "",
        *_table_header("mask set", "IoU", "ms/box", names),
    ]
    for sid, row in results.items():
        n = next(iter(row.values()))["num_boxes"]
        lines.append(
            _table_row(
                sid,
                n,
                [f"{row[k]['iou']:.4f}" for k in names],
                [f"{row[k]['ms_per_box']:.1f}" for k in names],
            )
        )
    lines.append(
        "| **mean over sets** | | "
        + " | ".join(f"**{means[k]:.4f}**" for k in names)
        + " |"
        + " |" * len(names)
    )
    lines += [
        "",
        "Secondary check (no constant was chosen on it): DOTA oriented boxes rasterised as "
        "pseudo-masks. Union IoU favours box-filling here: each box is exactly the hull of its "
        "oriented box, and packed vehicles' boxes cover each other's gaps. Mean per-instance "
        "IoU (each box's mask against its own oriented box) is given as well.",
        "",
        *_table_header("set", "IoU", "instance IoU", names),
    ]
    for sid, row in held_out.items():
        n = next(iter(row.values()))["num_boxes"]
        lines.append(
            _table_row(
                sid,
                n,
                [f"{row[k]['iou']:.4f}" for k in names],
                [f"{row[k]['instance_iou']:.4f}" for k in names],
            )
        )
    for which, by_seg in round_objects.items():
        what = (
            "the 7 bundled images (tests/data/nwpu_vhr10)"
            if which == "bundled"
            else f"all 650 annotated images of NWPU VHR-10 (`--vhr10-root {args.vhr10_root}`)"
        )
        lines += [
            "",
            f"Round objects, NWPU VHR-10 instance polygons, {what}: mean per-instance IoU, and "
            "pooled union IoU (sum of intersections over sum of unions of the per-image unions).",
            "",
            *_table_header("class", "instance IoU", "pooled IoU", names),
        ]
        for cls in VHR10_CLASSES:
            if cls not in by_seg["box"]:
                continue
            lines.append(
                _table_row(
                    cls,
                    by_seg["box"][cls]["num_boxes"],
                    [f"{by_seg[k][cls]['instance_iou']:.4f}" for k in names],
                    [f"{by_seg[k][cls]['pooled_union_iou']:.4f}" for k in names],
                )
            )
    if any(s.startswith("sam2-random") for s in names):
        lines += ["", "`sam2-random-weights` is a tiny random-weight model (wiring check only)."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "segmenter_oracle.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload = {
        "protocol": "union IoU vs gt mask, gt boxes as prompts",
        "results": results,
        "mean_iou": means,
        "round_objects_nwpu_vhr10": round_objects,
    }
    (RESULTS / "segmenter_oracle.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
