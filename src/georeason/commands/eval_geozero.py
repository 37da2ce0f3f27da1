"""``georeason eval --dataset geozero --geozero-task T``: GeoZero's tasks scored its way."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from georeason.errors import UserInputError

DEFAULT_FRAME = "qwen3-norm1000"  # GeoZero's model is Qwen3-VL: its own box convention


def run_geozero(args: argparse.Namespace) -> int:
    from georeason.eval.datasets.geozero import read_geozero_records
    from georeason.eval.geozero_eval import (
        answers_from_predictions,
        grounding_by_frame,
        read_predictions,
        score_task,
    )
    from georeason.eval.geozero_report import write_geozero_outputs
    from georeason.eval.metric_conventions import PRED_BOX_FRAMES

    task = args.geozero_task
    frame = args.pred_box_frame or DEFAULT_FRAME
    if args.pred_box_frame and task != "grounding":
        raise UserInputError("--pred-box-frame applies to --geozero-task grounding only")
    records = read_geozero_records(args.data) if args.data else None
    root = args.root if args.root else (Path(args.data).parent if args.data else None)
    if args.predictions:
        predictions = read_predictions(args.predictions)
        source = {"kind": "predictions", "predictions": str(args.predictions)}
    else:
        if records is None:
            raise UserInputError("model mode needs the GeoZero evaluation file: pass --data")
        from georeason.eval.geozero_generate import generate_answers

        predictions = generate_answers(args, records, task, root)
        if getattr(args, "policy_url", None):
            source = {"kind": "served", "model": f"{args.policy_model} @ {args.policy_url}"}
        else:
            source = {"kind": "model", "model": str(args.model)}
    if args.limit is not None:
        predictions = predictions[: args.limit]
    answers = answers_from_predictions(predictions, records, task)
    frames = None
    if task == "grounding":  # every frame for the report; image sizes are read once
        frames = grounding_by_frame(answers, root, PRED_BOX_FRAMES, args.max_pixels)
        metrics = frames[frame]
    else:
        metrics = score_task(task, answers, root, frame, args.max_pixels)
    meta = {
        **source,
        "data": str(args.data) if args.data else None,
        "image_root": str(root) if root is not None else None,
        "pred_box_frame": frame if task == "grounding" else None,
        "n_data_records": len(records) if records is not None else None,
        "n_predictions": len(predictions),
    }
    if records is not None and len(predictions) != len(records) and args.limit is None:
        print(
            f"NOTE: {len(predictions)} predictions for {len(records)} data records",
            file=sys.stderr,
        )
    metrics_path, report = write_geozero_outputs(args.out, task, metrics, meta, frames)
    shown = {k: v for k, v in metrics.items() if isinstance(v, float)}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
    print(f"GeoZero {task}: {len(answers)} answers: {summary}")
    if metrics.get("METEOR_unavailable"):
        print(f"NOTE: METEOR not computed: {metrics['METEOR_unavailable']}", file=sys.stderr)
    print(f"wrote {metrics_path} and {report}")
    return 0
