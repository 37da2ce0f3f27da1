"""The evaluation report: ``report.md`` with the metrics table, the papers' published numbers for
the same benchmark, split and task, the configuration, and overlays of the worst cases.

Published numbers are those collected in the project's design notes (section 2) from the papers;
each carries its source. They are shown beside ours only for the same benchmark, split and task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from georeason.eval.metrics import METRIC_UNITS
from georeason.io import atomic_path, write_text_atomic


@dataclass(frozen=True)
class PublishedNumber:
    """One number from a paper.

    Attributes:
        dataset, split, task: what it was measured on (our names: ``earthreason``/``test``/...).
        metric: our key (:func:`georeason.eval.metrics.summarize`: box metrics prefixed
            ``box_``, so the papers' region ``Acc@0.5`` / ``gIoU`` are ``box_Acc@0.5`` /
            ``box_gIoU``; ``gIoU``, ``cIoU``, ``F1@1``, ``ASD`` ...), in the papers' units
            (percent for IoU-type metrics, fraction for F1, pixels for distances).
        value: the number.
        source: paper and setting.
    """

    dataset: str
    split: str
    task: str
    metric: str
    value: float
    source: str


_RR = "RemoteReasoner (2025)"
_RZ = "RemoteZero (2026)"
_SPLIT_NOTE = "; split not given in our notes, listed under test"

#: Published numbers (RemoteReasoner 2025 and RemoteZero 2026, as cited per entry).
PUBLISHED: tuple[PublishedNumber, ...] = (
    # EarthReason, region
    PublishedNumber("earthreason", "val", "region", "box_Acc@0.5", 66.51, _RR),
    PublishedNumber("earthreason", "test", "region", "box_Acc@0.5", 68.11, _RR),
    PublishedNumber("earthreason", "val", "region", "box_gIoU", 67.04, _RR),
    PublishedNumber("earthreason", "test", "region", "box_gIoU", 69.29, _RR),
    PublishedNumber(
        "earthreason", "test", "region", "box_Acc@0.5", 65.05, f"{_RZ}, external verifier"
    ),
    PublishedNumber(
        "earthreason", "test", "region", "box_Acc@0.5", 71.29, f"{_RZ}, after self-evolution"
    ),
    PublishedNumber(
        "earthreason",
        "test",
        "region",
        "box_Acc@0.5",
        45.82,
        f"Qwen2.5-VL-7B zero-shot, reported by {_RZ}",
    ),
    # EarthReason, pixel
    PublishedNumber("earthreason", "val", "pixel", "cIoU", 67.80, _RR),
    PublishedNumber("earthreason", "test", "pixel", "cIoU", 69.13, _RR),
    PublishedNumber("earthreason", "val", "pixel", "gIoU", 69.02, _RR),
    PublishedNumber("earthreason", "test", "pixel", "gIoU", 70.96, _RR),
    # EarthReason, contour
    PublishedNumber("earthreason", "val", "contour", "F1@1", 0.46, _RR),
    PublishedNumber("earthreason", "test", "contour", "F1@1", 0.44, _RR),
    PublishedNumber("earthreason", "val", "contour", "F1@3", 0.55, _RR),
    PublishedNumber("earthreason", "test", "contour", "F1@3", 0.58, _RR),
    PublishedNumber("earthreason", "val", "contour", "ASD", 41.50, _RR),
    PublishedNumber("earthreason", "test", "contour", "ASD", 45.20, _RR),
    PublishedNumber("earthreason", "val", "contour", "HD", 160.56, _RR),
    PublishedNumber("earthreason", "test", "contour", "HD", 165.11, _RR),
    # Zero-shot transfer
    PublishedNumber(
        "dior_rsvg", "test", "region", "box_Acc@0.5", 50.76, f"{_RR}, zero-shot{_SPLIT_NOTE}"
    ),
    PublishedNumber("rrsisd", "test", "pixel", "cIoU", 54.29, f"{_RR}, zero-shot{_SPLIT_NOTE}"),
    PublishedNumber("rrsisd", "test", "pixel", "gIoU", 50.97, f"{_RR}, zero-shot{_SPLIT_NOTE}"),
)


def published_for(dataset: str, split: str, task: str) -> list[PublishedNumber]:
    """The published numbers for one benchmark, split and task (contour rows also show the
    pixel-task numbers of the same masks)."""
    tasks = {task, "pixel"} if task == "contour" else {task}
    return [p for p in PUBLISHED if p.dataset == dataset and p.split == split and p.task in tasks]


# --------------------------------------------------------------------------------------------
# Overlays
# --------------------------------------------------------------------------------------------

GT_COLOUR = (0, 230, 0)
PRED_COLOUR = (255, 40, 40)


def render_case(
    rgb: np.ndarray,
    gt_boxes_xyxy: np.ndarray,
    pred_boxes_xyxy: np.ndarray,
    gt_mask: np.ndarray | None = None,
    pred_mask: np.ndarray | None = None,
    max_side: int = 768,
) -> np.ndarray:
    """One evaluation case: prediction tinted red with red boxes, ground truth outlined green.

    Args:
        rgb: ``(H, W, 3)`` uint8 image.
        gt_boxes_xyxy, pred_boxes_xyxy: ``(N, 4)`` boxes in original pixels.
        gt_mask, pred_mask: ``(H, W)`` bool masks or None.
        max_side: the overlay is downscaled so that its longer side is at most this (pixels).

    Returns:
        ``(h, w, 3)`` uint8 overlay.
    """
    img = rgb.astype(np.float32).copy()
    if pred_mask is not None and pred_mask.shape == rgb.shape[:2]:
        m = pred_mask.astype(bool)
        img[m] = 0.55 * img[m] + 0.45 * np.array(PRED_COLOUR, np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    thick = max(1, round(max(out.shape[:2]) / 400))
    if gt_mask is not None and gt_mask.shape == rgb.shape[:2]:
        contours, _ = cv2.findContours(
            gt_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, GT_COLOUR, thick)
    for boxes, colour in ((gt_boxes_xyxy, GT_COLOUR), (pred_boxes_xyxy, PRED_COLOUR)):
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=float).reshape(-1, 4):
            cv2.rectangle(
                out,
                (int(x1), int(y1)),
                (max(int(np.ceil(x2)) - 1, int(x1)), max(int(np.ceil(y2)) - 1, int(y1))),
                colour,
                thick,
            )
    scale = max_side / max(out.shape[:2])
    if scale < 1:
        out = cv2.resize(
            out,
            (round(out.shape[1] * scale), round(out.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
    return out


def primary_score(record: dict[str, Any], task: str) -> float:
    """The per-sample score that ranks worst cases: box IoU (region), mask IoU (pixel), F1@3
    (contour)."""
    if task == "contour":
        return float(record["f1"]["3"])
    if task == "pixel":
        return float(record["mask_iou"])
    return float(record["box_iou"])


def worst_cases(records: Sequence[dict[str, Any]], task: str, k: int) -> list[dict[str, Any]]:
    """The ``k`` records with the lowest :func:`primary_score` (ties: dataset order)."""
    order = sorted(range(len(records)), key=lambda i: (primary_score(records[i], task), i))
    return [records[i] for i in order[:k]]


# --------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if METRIC_UNITS.get(metric) == "fraction" else f"{value:.2f}"


def _metrics_section(result: Any, run: dict[str, Any], task: str) -> list[str]:
    """The metrics table: ours beside the published numbers of the same benchmark and split."""
    lines: list[str] = []
    published = published_for(run["dataset"], run["split"], task)
    lines += [
        "## Metrics",
        "",
        "| metric | ours | unit | published (same benchmark and split) |",
        "|---|---|---|---|",
    ]
    for key, value in result.metrics.items():
        pubs = [p for p in published if p.metric == key]
        pub_txt = "; ".join(f"{_fmt(p.value, key)} ({p.source})" for p in pubs) or "-"
        lines.append(f"| {key} | {_fmt(value, key)} | {METRIC_UNITS.get(key, '')} | {pub_txt} |")
    shown = set(result.metrics)
    extra = [p for p in published if p.metric not in shown]
    for p in extra:
        lines.append(
            f"| {p.metric} ({p.task} task) | - | {METRIC_UNITS.get(p.metric, '')} | "
            f"{_fmt(p.value, p.metric)} ({p.source}) |"
        )
    if not published:
        lines += ["", "No published numbers for this benchmark, split and task in our notes."]
    return lines


def _config_section(result: Any, run: dict[str, Any], task: str, pred: dict[str, Any]) -> list[str]:
    """The scoring conventions, the predictor and the counts."""
    lines: list[str] = []
    lines += ["", "## Configuration", ""]
    sc = run["scoring"]
    lines += [
        f"- task: {task}; dataset loader: `{run['dataset']}`",
        f"- empty-target convention: `{sc['empty_target']}` (IoU of a sample with no target and "
        "no prediction: 1.0 for SegEarth-R1, 0.0 for RemoteSAM)",
        f"- mask scoring protocol: `{sc['protocol']}` (`segearth1024`: longest side resized to "
        "1024 with nearest neighbour, zero-padded to 1024x1024, as SegEarth-R1)",
        f"- box IoU of multi-box samples: `{sc['box_mode']}`; Acc threshold IoU >= "
        f"{sc['acc_tau']}; unparsable or empty predictions are misses",
        "- Pr@t counts IoU > t (strict, SegEarth-R1); cIoU = sum(I) / sum(U); gIoU = mean IoU",
        f"- contour metrics on 4-connected inner boundaries; empty-mask policy "
        f"`{sc['contour_empty']}`; distances: `{sc['distance_method']}` (exact Euclidean); "
        f"ASD convention `{sc.get('asd_convention', 'medpy-0.4')}`",
        "- predictor: " + ", ".join(f"{k}={v}" for k, v in pred.items() if k != "kind"),
    ]
    lines += ["", "## Counts", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in result.counts.items()]

    return lines


def _worst_section(result: Any, dataset: Any, task: str, worst_k: int, out: Path) -> list[str]:
    """The worst cases, each drawn to ``out/overlays/<id>.png``."""
    from georeason.io import read_image
    from georeason.masks import decode_rle

    lines: list[str] = []
    lines += [
        "",
        f"## Worst {worst_k} cases",
        "",
        "Red: prediction (tint and boxes); green: ground truth (outline and boxes).",
        "",
    ]
    index = {sid: i for i, sid in enumerate(dataset.ids)}
    (out / "overlays").mkdir(exist_ok=True)
    for rec in worst_cases(result.records, task, worst_k):
        sample = dataset[index[rec["id"]]]
        try:
            rgb = read_image(sample.image_path).rgb
        except Exception as exc:  # noqa: BLE001 - a missing image must not lose the report
            lines.append(f"- `{rec['id']}`: image unreadable ({exc})")
            continue
        pm = decode_rle(rec["pred_mask"]) if "pred_mask" in rec else None
        img = render_case(
            rgb, sample.boxes_xyxy_px, np.asarray(rec["pred_boxes_xyxy_px"]), sample.mask, pm
        )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in rec["id"])
        name = f"overlays/{safe}.png"
        with atomic_path(out / name) as tmp:
            Image.fromarray(img).save(tmp)
        score = primary_score(rec, task)
        lines += [
            f"### `{rec['id']}` (score {score:.3f}, status {rec['status']})",
            "",
            f"Query: {sample.query}",
            "",
            f"![{rec['id']}]({name})",
            "",
        ]
    return lines


def write_report(
    result: Any,
    dataset: Any,
    worst_k: int = 4,
    title: str | None = None,
) -> Path:
    """Write ``report.md`` (and ``overlays/*.png``) into ``result.out_dir``.

    Args:
        result: an :class:`georeason.eval.runner.EvalResult`.
        dataset: the evaluated dataset (to read the images of the worst cases).
        worst_k: number of worst cases drawn.
        title: report title (default: dataset, split, task).

    Returns:
        The path of ``report.md``.
    """
    out: Path = result.out_dir
    run = result.run
    task = run["task"]
    pred = run["predictor"]
    default_title = f"Evaluation: {run['dataset']} / {run['split']} / {task}"
    lines = [f"# {title or default_title}", ""]
    if pred.get("kind") == "model" and pred.get("weights") == "random":
        lines += [
            "> **RANDOM WEIGHTS.** The model is a tiny random-weight model (`make-tiny`): these "
            "numbers test the pipeline only and say nothing about any method.",
            "",
        ]
    if run.get("limit") is not None:
        lines += [f"> Smoke run: only the first {run['limit']} samples were evaluated.", ""]
    if pred.get("kind") == "model":
        lines.append(
            f"Model: `{pred.get('model')}` (weights: {pred.get('weights')}), segmenter: "
            f"{pred.get('segmenter')}."
        )
    else:
        lines.append(f"Predictions: `{pred.get('path')}` (sha256 {pred.get('sha256', '')[:12]}).")
    lines += [
        f"Samples: {result.counts.get('samples')} of split `{run['split']}`, root `{run['root']}`.",
        "",
    ]

    lines += _metrics_section(result, run, task)
    lines += _config_section(result, run, task, pred)
    lines += _worst_section(result, dataset, task, worst_k, out)
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
