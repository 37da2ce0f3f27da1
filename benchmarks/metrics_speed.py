"""Speed of the mask and contour metrics at EarthReason test scale.

1,928 samples (the EarthReason test split) of 1024x1024 masks (SegEarth-R1's scoring canvas)
with realistic shapes: smooth blobs (water, vegetation), clusters of rotated rectangles
(buildings, vehicles), large polygons (fields, airports), 5% empty targets; predictions are
perturbed targets (shifts, dilation/erosion, dropped and spurious parts, empty answers). Masks are
generated in the workers; only the metric calls are timed.

Usage::

    python benchmarks/metrics_speed.py [--samples 1928] [--workers 2] [--out benchmarks/results]

Writes ``metrics_speed.json`` and ``metrics_speed.md`` to ``--out``: total wall time of all
metrics on ``--workers`` processes (the busiest worker's summed metric time) and the split per
metric (CPU seconds summed over workers).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from georeason.eval import metrics as M

SIZE = 1024


def _blob(rng: np.random.Generator) -> np.ndarray:
    low = cv2.GaussianBlur(rng.random((64, 64)).astype(np.float32), (0, 0), 4)
    up = cv2.resize(low, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    return up > np.quantile(up, 1 - rng.uniform(0.05, 0.4))


def _rectangles(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(rng.integers(3, 60)):
        c = rng.uniform(0, SIZE, 2)
        wh = rng.uniform(8, 90, 2)
        box = cv2.boxPoints(((c[0], c[1]), (wh[0], wh[1]), rng.uniform(0, 180)))
        cv2.fillPoly(m, [box.astype(np.int32)], 1)
    return m.astype(bool)


def _polygon(rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    c = rng.uniform(200, 824, 2)
    ang = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(5, 14)))
    rad = rng.uniform(80, 400, len(ang))
    pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1).astype(np.int32)
    cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def make_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (prediction, target) pair of 1024x1024 bool masks."""
    rng = np.random.default_rng(seed)
    kind = rng.random()
    if kind < 0.05:
        gt = np.zeros((SIZE, SIZE), bool)
    elif kind < 0.45:
        gt = _blob(rng)
    elif kind < 0.8:
        gt = _rectangles(rng)
    else:
        gt = _polygon(rng)
    r = rng.random()
    u8 = gt.astype(np.uint8)
    if r < 0.05:
        pred = np.zeros_like(gt)
    elif r < 0.35:
        dy, dx = rng.integers(-20, 21, 2)
        pred = np.roll(gt, (int(dy), int(dx)), axis=(0, 1))
    elif r < 0.6:
        k = np.ones((3, 3), np.uint8)
        it = int(rng.integers(1, 6))
        op = cv2.dilate if rng.random() < 0.5 else cv2.erode
        pred = op(u8, k, iterations=it).astype(bool)
    elif r < 0.85:
        pred = gt | _rectangles(rng) if rng.random() < 0.5 else gt & ~_blob(rng)
    else:
        pred = _blob(rng)
    return pred, gt


def _worker(args: tuple[int, int, str]) -> dict[str, float]:
    start, stop, method = args
    t = {"mask_iou": 0.0, "contour": 0.0, "n": 0}
    for seed in range(start, stop):
        pred, gt = make_pair(seed)
        t0 = time.perf_counter()
        M.mask_sample_score(pred, gt)
        t1 = time.perf_counter()
        M.contour_sample_score(pred, gt, distance_method=method)
        t2 = time.perf_counter()
        t["mask_iou"] += t1 - t0
        t["contour"] += t2 - t1
        t["n"] += 1
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1928)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--distance-method", choices=M.DISTANCE_METHODS, default="kdtree")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)
    bounds = np.linspace(0, args.samples, args.workers + 1).astype(int)
    pairs = zip(bounds[:-1], bounds[1:], strict=True)
    jobs = [(int(a), int(b), args.distance_method) for a, b in pairs]
    wall0 = time.perf_counter()
    if args.workers == 1:
        parts = [_worker(jobs[0])]
    else:
        with mp.get_context("spawn").Pool(args.workers) as pool:
            parts = pool.map(_worker, jobs)
    wall = time.perf_counter() - wall0
    per_metric = {k: sum(p[k] for p in parts) for k in ("mask_iou", "contour")}
    busiest = max(p["mask_iou"] + p["contour"] for p in parts)
    result = {
        "samples": args.samples,
        "mask_size": [SIZE, SIZE],
        "workers": args.workers,
        "metrics_wall_s": round(busiest, 3),
        "cpu_s_per_metric": {
            "mask I/U, IoU (gIoU, cIoU, Pr@t)": round(per_metric["mask_iou"], 3),
            f"contour ({args.distance_method}: boundaries, distances, F1@1, F1@3, ASD, HD)": round(
                per_metric["contour"], 3
            ),
        },
        "ms_per_sample_cpu": round(1000 * sum(per_metric.values()) / args.samples, 3),
        "target_s": 20.0,
        "script_wall_s_including_mask_generation": round(wall, 2),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Mask and contour metrics speed",
        "",
        f"{args.samples} samples of {SIZE}x{SIZE} masks, {args.workers} worker processes "
        f"({result['machine']}), {result['date_utc']} UTC.",
        "",
        "| metric | CPU s (all samples) |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in result["cpu_s_per_metric"].items()],
        "",
        f"**All metrics, wall time on {args.workers} workers: {busiest:.2f} s** (target < 20 s); "
        f"{result['ms_per_sample_cpu']:.2f} ms CPU per sample.",
        "",
        "Command: `python benchmarks/metrics_speed.py "
        f"--samples {args.samples} --workers {args.workers}`",
    ]
    (out / "metrics_speed.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
