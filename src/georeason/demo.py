"""The newcomer's demo: the whole workflow on every bundled real sample image.

For each record of ``rs-samples/queries.jsonl``:

1. the policy (a tiny **random-weight** model built offline, unless ``model=`` names a real
   checkpoint) answers the query -> boxes -> masks -> contours -> files;
2. where the record has ground-truth boxes, the same workflow runs from those boxes, so the page
   shows real masks and contours; where it has a ground-truth mask, mask IoU against it is
   reported for the default segmenter and for plain box-filling.

Writes one folder per record, ``summary.json`` and ``index.html``.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from georeason.data import SAMPLES_DIR, sample_records
from georeason.io import RasterImage, read_image, write_json, write_text_atomic
from georeason.masks import mask_iou, union_of_masks
from georeason.workflow import locate, write_outputs


def _gt_mask(record: dict) -> np.ndarray | None:
    if not record.get("gt_mask"):
        return None
    return np.asarray(Image.open(SAMPLES_DIR / record["gt_mask"]).convert("L")) > 0


def run_demo(
    out_dir: str | Path,
    model: str | None = None,
    arch: str = "qwen2_5_vl",
    segmenter_name: str = "default",
    max_new_tokens: int = 64,
    max_pixels: int = 802_816,
) -> dict[str, Any]:
    """Run the demo and return the summary (also written to ``summary.json``).

    Args:
        out_dir: output folder (created).
        model: a real checkpoint; default: ``tiny:ARCH``, the tiny random model for ``arch``
            (built offline on first use, see :mod:`georeason.models.spec`).
        max_new_tokens: generation budget (small by default: the tiny model's text is noise).
    """
    from georeason.models.policy import Policy
    from georeason.models.segmenters import build_segmenter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy = Policy.from_pretrained(model or f"tiny:{arch}", max_pixels=max_pixels)
    segmenter = build_segmenter(segmenter_name)
    box_segmenter = build_segmenter("box")
    images: dict[str, RasterImage] = {}
    rows = []
    records = sample_records()
    for rec in tqdm(records, desc="demo", unit="query"):
        if rec["image"] not in images:
            images[rec["image"]] = read_image(SAMPLES_DIR / rec["image"])
        image = images[rec["image"]]
        rec_dir = out / rec["id"]
        gt_boxes = np.asarray(rec.get("gt_boxes") or [], dtype=np.float64).reshape(-1, 4)
        t0 = time.perf_counter()
        res = locate(image, rec["query"], segmenter, policy=policy, max_new_tokens=max_new_tokens)
        write_outputs(res, image, rec_dir / "model", gt_boxes)
        row: dict[str, Any] = {
            "id": rec["id"],
            "image": rec["image"],
            "query": rec["query"],
            "size_hw": [image.height, image.width],
            "crs": image.crs,
            "model": res.model,
            "weights": res.weights,
            "parse_status": res.parse_status,
            "model_boxes": len(res.boxes_xyxy_px),
            "model_dir": f"{rec['id']}/model",
            "gt_boxes": len(gt_boxes),
            "seconds_model": round(time.perf_counter() - t0, 3),
        }
        if len(gt_boxes):
            gt_res = locate(image, rec["query"], segmenter, boxes_xyxy_px=gt_boxes)
            write_outputs(gt_res, image, rec_dir / "gt_boxes", gt_boxes)
            row["gt_dir"] = f"{rec['id']}/gt_boxes"
            gt_mask = _gt_mask(rec)
            if gt_mask is not None:
                pred = union_of_masks(gt_res.masks, image.height, image.width)
                filled = union_of_masks(
                    box_segmenter.segment(image.rgb, gt_boxes), image.height, image.width
                )
                row["mask_iou_from_gt_boxes"] = {
                    segmenter_name: round(mask_iou(pred, gt_mask), 4),
                    "box": round(mask_iou(filled, gt_mask), 4),
                }
        rows.append(row)
    summary = {
        "model": policy.model_name,
        "weights": policy.weights,
        "segmenter": segmenter_name,
        "results": rows,
    }
    write_json(out / "summary.json", summary)
    write_text_atomic(out / "index.html", _html(summary))
    return summary


def _html(summary: dict[str, Any]) -> str:
    random_note = (
        "<p class=warn><b>The policy has random weights</b> (a tiny test model built offline): its "
        "boxes are noise, shown only to prove the pipeline runs end to end. The right-hand "
        "column uses the datasets' ground-truth boxes as prompts.</p>"
        if summary["weights"] == "random"
        else ""
    )
    cards = []
    for r in summary["results"]:
        e = html.escape
        iou = r.get("mask_iou_from_gt_boxes")
        iou_txt = " · ".join(f"{k}: {v:.3f}" for k, v in iou.items()) if iou else "n/a"
        gt_img = (
            f'<figure><img src="{e(r["gt_dir"])}/overlay.png"><figcaption>'
            f"from {r['gt_boxes']} ground-truth box(es); mask IoU vs ground truth: "
            f"{e(iou_txt)}</figcaption></figure>"
            if r.get("gt_dir")
            else ""
        )
        cards.append(
            f"<section><h2>{e(r['id'])}</h2><p class=q>“{e(r['query'])}”</p>"
            f"<p>{r['size_hw'][1]}×{r['size_hw'][0]} px · CRS {e(str(r['crs']))}</p>"
            f'<div class=row><figure><img src="{e(r["model_dir"])}/overlay.png"><figcaption>'
            f"policy ({e(str(r['weights']))} weights): {r['model_boxes']} box(es), parse "
            f"status {e(r['parse_status'])}</figcaption></figure>{gt_img}</div></section>"
        )
    return (
        "<!doctype html><meta charset=utf-8><title>georeason demo</title><style>"
        "body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:560px;"
        "max-height:560px}.row{display:flex;gap:12px}.warn{background:#fee;padding:8px}"
        ".q{font-style:italic}</style><h1>georeason demo</h1>"
        f"<p>model: {html.escape(str(summary['model']))} · segmenter: "
        f"{html.escape(summary['segmenter'])}</p>{random_note}{''.join(cards)}"
    )
