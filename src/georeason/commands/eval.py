"""``georeason eval``: score a model, or predictions made elsewhere, on a benchmark split."""

from __future__ import annotations

import argparse
import sys

from georeason.commands import (
    add_policy_arguments,
    add_served_policy_arguments,
    check_sampling_args,
    check_served_policy_args,
    load_policy_arg,
    load_verifier_arg,
    prompt_template_arg,
)
from georeason.commands.eval_verify import add_verify_arguments
from georeason.errors import UserInputError
from georeason.eval.metric_conventions import GEOZERO_TASKS, PRED_BOX_FRAMES

DATASET_CHOICES = ("earthreason", "dior_rsvg", "rrsisd", "geozero", "dota", "isaid", "jsonl")
TASK_CHOICES = ("region", "pixel", "contour", "verify")
SEGMENTERS = ("default", "sam2", "box")


def _add_geozero_arguments(p: argparse.ArgumentParser) -> None:
    """The options of GeoZero's own tasks (``--geozero-task`` and its companions)."""
    gz = p.add_argument_group("GeoZero tasks (--dataset geozero --geozero-task T)")
    gz.add_argument(
        "--geozero-task",
        choices=GEOZERO_TASKS,
        help="score a GeoZero evaluation file with GeoZero's own rules (--root is then the "
        "image folder); without it, --dataset geozero runs the region task on grounding records",
    )
    gz.add_argument("--data", help="the GeoZero evaluation JSON (list of conversation records)")
    gz.add_argument(
        "--pred-box-frame",
        choices=PRED_BOX_FRAMES,
        help="frame of predicted grounding boxes: qwen3-norm1000 (default: Qwen3-VL's own), "
        "qwen25-resized-px, original-px, or geozero-script (GeoZero's published numbers)",
    )
    gz.add_argument(
        "--geozero-system",
        action="store_true",
        help="model mode: send GeoZero's 'Type1' system prompt (its script's --system True)",
    )
    gz.add_argument(
        "--seed",
        type=int,
        default=42,
        help="GeoZero model mode sampling seed; --task verify: seed of the random "
        "distractors (default 42)",
    )


def _add_scoring_arguments(p: argparse.ArgumentParser) -> None:
    """The metric conventions: empty targets, mask protocol, multi-box IoU, contour ASD/HD."""
    p.add_argument(
        "--empty-target",
        choices=("segearth", "remotesam"),
        default="segearth",
        help="IoU when target and prediction are both empty: 1.0 (SegEarth-R1, "
        "default) or 0.0 (RemoteSAM)",
    )
    p.add_argument(
        "--protocol",
        choices=("native", "segearth1024"),
        default="native",
        help="score masks at the original size, or on SegEarth-R1's 1024 canvas",
    )
    p.add_argument(
        "--box-mode",
        choices=("matched", "union"),
        default="matched",
        help="IoU of multi-box samples: Hungarian-matched mean over targets "
        "(default) or IoU of the enclosing boxes",
    )
    p.add_argument(
        "--contour-empty",
        choices=("diagonal", "skip"),
        default="diagonal",
        help="ASD/HD when exactly one mask is empty: the image diagonal, or skip",
    )
    p.add_argument(
        "--asd-convention",
        choices=("medpy-0.4", "medpy-0.5"),
        default="medpy-0.4",
        help="ASD: mean of the two directed mean distances (medpy <= 0.4, default) or the "
        "mean over both boundaries pooled (medpy 0.5.x)",
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model or a predictions file on a benchmark (metrics.json, report.md)",
        description="Score boxes (region: Acc@0.5, gIoU), masks (pixel: gIoU, cIoU, Pr@0.5-0.9) "
        "or contours (contour: F1@1, F1@3, ASD, HD) over all samples of a split. Per-sample "
        "results are appended to OUT/results.jsonl as they finish; rerunning the same command "
        "resumes. Writes OUT/metrics.json and OUT/report.md (with the papers' numbers).",
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=DATASET_CHOICES,
        help="benchmark loader; 'jsonl' reads any folder in the rs-samples layout",
    )
    p.add_argument(
        "--root", help="dataset folder (default for --dataset jsonl: the bundled rs-samples)"
    )
    p.add_argument("--split", default="test", help="split (default: test)")
    p.add_argument(
        "--gt-box-frame",
        choices=("px", "norm1000"),
        help="frame of the ground-truth boxes in GeoZero files: px (default) or norm1000",
    )
    p.add_argument("--task", choices=TASK_CHOICES, default="region")
    _add_geozero_arguments(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="policy checkpoint (folder or hub id)")
    add_served_policy_arguments(p, src)
    src.add_argument(
        "--predictions",
        help='predictions JSONL made elsewhere: one {"id", "boxes_xyxy_px", "masks"} per line; '
        "for --geozero-task: the JSON that GeoZero's script writes, or a JSONL of "
        '{"id", "raw_output"}',
    )
    p.add_argument(
        "--segmenter",
        choices=SEGMENTERS,
        default="default",
        help="box -> mask segmenter of the model mode (pixel and contour tasks)",
    )
    p.add_argument("--sam-checkpoint", help="SAM2 checkpoint for --segmenter sam2")
    p.add_argument("--out", required=True, help="output folder (resumes if it holds this run)")
    p.add_argument("--batch-size", type=int, default=4, help="samples per generate call")
    add_policy_arguments(p)
    _add_scoring_arguments(p)
    add_verify_arguments(p)
    p.add_argument("--limit", type=int, help="evaluate only the first N samples (smoke runs)")
    p.add_argument("--worst", type=int, default=4, help="worst cases drawn in the report")
    p.add_argument("--overwrite", action="store_true", help="discard earlier results in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _model_predictor(args: argparse.Namespace):  # -> LazyPredictor
    """The model mode's predictor, described for ``run.json`` without loading the model (it
    loads on the first sample that needs predicting)."""
    from pathlib import Path

    from georeason.eval.runner import LazyPredictor, PolicyPredictor
    from georeason.models.loading import read_weights_kind
    from georeason.models.spec import resolve_model

    check_served_policy_args(args)
    if args.policy_url:  # nothing to read: the server holds the model
        model = f"{args.policy_model} @ {args.policy_url}"
        weights = "served"
    else:
        model = resolve_model(args.model)  # a folder, or a hub id (not downloaded here)
        weights = read_weights_kind(model) if Path(model).is_dir() else "pretrained"
    segmenter_name = args.segmenter if args.task in ("pixel", "contour") else None
    template = prompt_template_arg(args)  # a malformed one fails now, not at the first sample

    def build_predictor() -> PolicyPredictor:  # only when a sample needs predicting
        policy = load_policy_arg(args, model)
        segmenter = None
        if segmenter_name is not None:
            from georeason.models.segmenters import build_segmenter

            segmenter = build_segmenter(segmenter_name, sam_checkpoint=args.sam_checkpoint)
        verifier = load_verifier_arg(args)
        return PolicyPredictor(
            policy,
            segmenter,
            args.max_new_tokens,
            args.batch_size,
            samples=args.samples,
            verifier=verifier,
            temperature=args.temperature,
            verifier_input=args.verifier_input,
        )

    predictor = LazyPredictor(
        build_predictor,
        {
            "kind": "model",
            "model": str(model),
            "adapter": args.adapter,
            "weights": weights,
            "segmenter": segmenter_name,
            # every segmenter option changes the masks: a resume must not mix them
            "sam_checkpoint": args.sam_checkpoint if segmenter_name == "sam2" else None,
            "samples": args.samples,
            "verifier": args.verifier if args.samples > 1 else None,
            "temperature": args.temperature if args.samples > 1 else None,
            "verifier_input": args.verifier_input if args.samples > 1 else None,
            "max_new_tokens": args.max_new_tokens,
            "max_pixels": args.max_pixels,
            "prompt_template": template,
            # a served policy's frame comes from its family: a resume must not mix them
            **({"model_family": args.model_family} if args.policy_url else {}),
        },
    )
    if weights == "random":
        print(
            "NOTE: the model has RANDOM weights (a test model): the metrics test the "
            "pipeline only.",
            file=sys.stderr,
        )
    return predictor


def run(args: argparse.Namespace) -> int:
    if args.geozero_task is not None or args.data is not None or args.pred_box_frame:
        if args.dataset != "geozero" or args.geozero_task is None:
            raise UserInputError(
                "--geozero-task, --data and --pred-box-frame go together with --dataset geozero"
            )
        from georeason.commands.eval_geozero import run_geozero

        return run_geozero(args)
    from georeason.eval.datasets import build_dataset
    from georeason.eval.report import write_report
    from georeason.eval.runner import (
        PredictionsFile,
        ScoringOptions,
        evaluate,
    )

    root = args.root
    if root is None:
        if args.dataset != "jsonl":
            raise UserInputError(f"--root is required for --dataset {args.dataset}")
        from georeason.data import SAMPLES_DIR

        root = SAMPLES_DIR
    if args.limit is not None and args.limit <= 0:
        raise UserInputError(f"--limit must be positive, got {args.limit}")
    has_policy = args.model is not None or args.policy_url is not None
    check_sampling_args(args, has_policy=has_policy or args.task == "verify")
    extra = {}
    if args.gt_box_frame is not None:
        if args.dataset != "geozero":
            raise UserInputError("--gt-box-frame applies to --dataset geozero only")
        extra["box_frame"] = args.gt_box_frame
    dataset = build_dataset(args.dataset, root, args.split, **extra)
    options = ScoringOptions(
        empty_target=args.empty_target,
        protocol=args.protocol,
        box_mode=args.box_mode,
        contour_empty=args.contour_empty,
        asd_convention=args.asd_convention,
    )
    if args.task == "verify" and args.samples > 1:
        raise UserInputError("--task verify measures the greedy policy; drop --samples")
    if args.predictions:
        predictor = PredictionsFile(args.predictions, need_masks=args.task in ("pixel", "contour"))
    else:
        predictor = _model_predictor(args)
    if args.task == "verify":
        from georeason.commands.eval_verify import run_verify

        return run_verify(args, dataset, options, predictor)
    result = evaluate(
        dataset,
        predictor,
        args.task,
        args.out,
        options,
        batch_size=args.batch_size,
        limit=args.limit,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    if not result.is_main:  # a data-parallel run: the main process merges and reports
        return 0
    report = write_report(result, dataset, worst_k=args.worst)
    summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    print(f"{result.counts['samples']} samples ({result.counts['resumed']} resumed): {summary}")
    print(f"wrote {result.out_dir / 'metrics.json'} and {report}")
    return 0
