"""``georeason demo``: the whole workflow on the bundled real samples."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the workflow on every bundled real sample image and write a summary page",
        description="Builds (or reuses) a tiny random-weight policy, runs locate on every bundled "
        "real sample with its query, runs the workflow from ground-truth boxes where they exist, "
        "and writes index.html + summary.json.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", help="a real checkpoint instead of the tiny random model")
    p.add_argument(
        "--arch",
        choices=("qwen2_5_vl", "qwen3_vl"),
        default="qwen2_5_vl",
        help="architecture of the tiny model",
    )
    p.add_argument("--segmenter", choices=("default", "box"), default="default")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from georeason.demo import run_demo

    summary = run_demo(
        args.out,
        model=args.model,
        arch=args.arch,
        segmenter_name=args.segmenter,
        max_new_tokens=args.max_new_tokens,
    )
    if summary["weights"] == "random":
        print(
            "NOTE: the policy has RANDOM weights (a tiny test model): its boxes are not real "
            "predictions. The ground-truth-box runs show real masks and contours.",
            file=sys.stderr,
        )
    for row in summary["results"]:
        iou = row.get("mask_iou_from_gt_boxes")
        extra = f"  mask IoU from gt boxes: {iou}" if iou else ""
        print(f"  {row['id']}: {row['model_boxes']} policy box(es) [{row['parse_status']}]{extra}")
    print(f"wrote {args.out}/index.html and {args.out}/summary.json")
    return 0
