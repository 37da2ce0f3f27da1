"""Evaluation runner: predict (or read predictions), score each sample, aggregate, resume.

Flow of :func:`evaluate`: the samples of a split (:mod:`georeason.eval.datasets`) go in batches
to a :class:`Predictor` (a policy + segmenter, :class:`PolicyPredictor`, or a predictions file
made elsewhere, :class:`PredictionsFile`); each sample is scored (:func:`score_sample`) and
appended to ``OUT/results.jsonl`` as soon as it is finished. An interrupted run resumes: samples
already in ``results.jsonl`` are neither predicted nor scored again, provided ``OUT/run.json``
holds the same configuration (otherwise a :class:`~georeason.errors.UserInputError` asks for a
new ``--out``). Split metrics (:func:`georeason.eval.metrics.summarize`) are computed over all
samples of the split from ``results.jsonl`` and written to ``OUT/metrics.json``.

Predictors and the predictions file format: :mod:`georeason.eval.predictors`. A sample without
a line in a predictions file is scored as a miss and counted in ``missing_predictions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from georeason.errors import UserInputError
from georeason.eval import metrics as M
from georeason.eval.datasets import EvalDataset, EvalSample, JSONLQueries
from georeason.eval.predictors import (
    LazyPredictor,
    PolicyPredictor,
    Prediction,
    PredictionsFile,
    Predictor,
)
from georeason.eval.processes import current_processes
from georeason.eval.run_folder import (  # noqa: F401 (re-exported: the runner's public API)
    METRICS_FILE,
    RESULTS_FILE,
    RUN_FILE,
    SHARD_GLOB,
    RunState,
    check_run_file,
    merge_shards,
    open_run,
    read_results,
    shard_path,
    write_metrics,
)
from georeason.jsonl import JsonlAppender
from georeason.masks import encode_rle

__all__ = [
    "EvalResult",
    "LazyPredictor",
    "PolicyPredictor",
    "Prediction",
    "PredictionsFile",
    "Predictor",
    "ScoringOptions",
    "evaluate",
    "score_sample",
    "summarize_records",
]

TASKS: tuple[str, ...] = ("region", "pixel", "contour")
#: Metrics shown live in the progress bar, per task.
_RUNNING_KEYS = {
    "region": ("box_Acc@0.5", "box_gIoU"),
    "pixel": ("gIoU", "cIoU"),
    "contour": ("cIoU", "F1@1", "F1@3"),
}


@dataclass(frozen=True)
class ScoringOptions:
    """The conventions a score depends on (all written into ``run.json`` and the report).

    Attributes:
        empty_target: ``"segearth"`` (IoU 1.0 when prediction and target are both empty;
            default, SegEarth-R1's EarthReason code) or ``"remotesam"`` (0.0).
        protocol: ``"native"`` (original resolution) or ``"segearth1024"`` (SegEarth-R1's
            1024 canvas, :func:`georeason.eval.metrics.segearth_resize_pad`) for masks/contours.
        box_mode: ``"matched"`` or ``"union"`` (:func:`georeason.eval.metrics.box_sample_iou`).
        contour_empty: ``"diagonal"`` or ``"skip"``
            (:func:`georeason.eval.metrics.contour_sample_score`).
        distance_method: ``"kdtree"`` or ``"edt"`` (same numbers; speed only).
        asd_convention: ``"medpy-0.4"`` (mean of the two directed means) or ``"medpy-0.5"``
            (pooled) (:func:`georeason.eval.metrics.contour_sample_score`).
        acc_tau: IoU threshold of the box accuracy (0.5: ``Acc@0.5``).
    """

    empty_target: str = "segearth"
    protocol: str = "native"
    box_mode: str = "matched"
    contour_empty: str = "diagonal"
    distance_method: str = "kdtree"
    asd_convention: str = "medpy-0.4"
    acc_tau: float = 0.5

    def validate(self) -> None:
        """Raise :class:`UserInputError` naming the first unknown option value."""
        checks = [
            ("empty_target", self.empty_target, tuple(M.EMPTY_TARGET_CONVENTIONS)),
            ("protocol", self.protocol, M.PROTOCOLS),
            ("box_mode", self.box_mode, M.BOX_MODES),
            ("contour_empty", self.contour_empty, M.CONTOUR_EMPTY_POLICIES),
            ("distance_method", self.distance_method, M.DISTANCE_METHODS),
            ("asd_convention", self.asd_convention, M.ASD_CONVENTIONS),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise UserInputError(f"{name} must be one of {allowed}, got {value!r}")
        if not 0.0 < self.acc_tau <= 1.0:
            raise UserInputError(f"acc_tau must be in (0, 1], got {self.acc_tau}")


def score_sample(
    sample: EvalSample, pred: Prediction, task: str, options: ScoringOptions
) -> dict[str, Any]:
    """Score one sample; the returned dict is one line of ``results.jsonl``.

    Keys: ``id``, ``status``, ``n_pred_boxes``, ``n_gt_boxes``, ``box_iou``; for the pixel and
    contour tasks also ``mask_I``, ``mask_U`` (pixels of the scoring canvas), ``mask_iou`` and
    ``pred_mask`` (COCO RLE at the original resolution, for overlays); for the contour task
    ``f1`` (``{"1": ..., "3": ...}``), ``asd``, ``hd`` (pixels; None for NaN) and
    ``contour_empty``. ``pred_boxes_xyxy_px`` are kept for overlays.

    Raises:
        UserInputError: prediction and ground-truth masks of different sizes.
    """
    empty_iou = M.empty_iou_for(options.empty_target)
    rec: dict[str, Any] = {
        "id": sample.id,
        "status": pred.status,
        "parsed": bool(pred.parsed),
        "n_pred_boxes": int(len(pred.boxes_xyxy_px)),
        "n_gt_boxes": int(len(sample.boxes_xyxy_px)),
        "box_iou": M.box_sample_iou(
            pred.boxes_xyxy_px, sample.boxes_xyxy_px, pred.parsed, options.box_mode, empty_iou
        ),
        "pred_boxes_xyxy_px": [[round(float(v), 2) for v in b] for b in pred.boxes_xyxy_px],
    }
    if task in ("pixel", "contour"):
        gt = sample.mask
        pm = pred.mask if pred.mask is not None else np.zeros_like(gt)
        if pm.shape != gt.shape:
            raise UserInputError(
                f"sample {sample.id!r}: predicted mask {pm.shape} and ground truth {gt.shape} "
                "differ in size (masks must be in original-image pixels)"
            )
        if not pred.parsed:
            pm = np.zeros_like(gt)  # an unparsable answer predicts nothing
        gt_c = M.apply_protocol(gt, options.protocol)
        pm_c = M.apply_protocol(pm, options.protocol)
        ms = M.mask_sample_score(pm_c, gt_c, empty_iou)
        rec.update(
            mask_I=ms.intersection, mask_U=ms.union, mask_iou=ms.iou, pred_mask=encode_rle(pm)
        )
        if task == "contour":
            cs = M.contour_sample_score(
                pm_c,
                gt_c,
                M.F1_TOLERANCES_PX,
                options.contour_empty,
                options.distance_method,
                options.asd_convention,
            )
            rec.update(
                f1={str(d): v for d, v in cs.f1.items()},
                asd=None if math.isnan(cs.asd) else cs.asd,
                hd=None if math.isnan(cs.hd) else cs.hd,
                contour_empty=cs.empty,
            )
    if pred.text is not None:
        rec["text"] = pred.text
    return rec


def summarize_records(
    records: Sequence[dict[str, Any]], task: str, options: ScoringOptions
) -> dict[str, float]:
    """Split metrics from ``results.jsonl`` records (papers' names and units, see metrics)."""
    box = [r["box_iou"] for r in records]
    masks = contours = None
    if task in ("pixel", "contour"):
        masks = [M.MaskScore(r["mask_I"], r["mask_U"], r["mask_iou"]) for r in records]
    if task == "contour":
        contours = [
            M.ContourScore(
                {},
                {},
                {int(k): v for k, v in r["f1"].items()},
                math.nan if r["asd"] is None else r["asd"],
                math.nan if r["hd"] is None else r["hd"],
                r["contour_empty"],
            )
            for r in records
        ]
    return M.summarize(
        box_ious=box, mask_scores=masks, contour_scores=contours, acc_tau=options.acc_tau
    )


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """What :func:`evaluate` returns.

    Attributes:
        metrics: split metrics (``metrics.json``).
        records: per-sample records in dataset order.
        counts: bookkeeping (samples, newly scored, resumed, missing predictions, ...).
        out_dir: the output folder.
        run: the configuration written to ``run.json``.
        is_main: False in the non-main processes of a data-parallel run, whose result holds
            no metrics (the main process scores and reports).
    """

    metrics: dict[str, float]
    records: list[dict[str, Any]]
    counts: dict[str, int]
    out_dir: Path
    run: dict[str, Any] = field(default_factory=dict)
    is_main: bool = True


def _dataset_for_task(dataset: EvalDataset, task: str) -> tuple[EvalDataset, dict[str, int]]:
    """The samples the task can score (masks for pixel/contour) and the skipped count.

    Raises:
        UserInputError: the task needs masks and the dataset has none.
    """
    counts = {"skipped_no_gt_mask": 0}
    if task in ("pixel", "contour"):
        if isinstance(dataset, JSONLQueries):
            n_all = len(dataset)
            dataset = dataset.with_masks_only()
            counts["skipped_no_gt_mask"] = n_all - len(dataset)
        if not dataset.has_masks or len(dataset) == 0:
            raise UserInputError(
                f"dataset {dataset.name!r} has no ground-truth masks; the {task} task needs "
                "masks (use --task region)"
            )
    return dataset, counts


def _score_pending(
    dataset: EvalDataset,
    predictor: Predictor,
    task: str,
    options: ScoringOptions,
    pending: list[int],
    done: dict[str, dict[str, Any]],
    results_path: Path,
    batch_size: int,
    n: int,
    progress: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
    initial: int | None = None,
) -> int:
    """Predict and score the pending samples in batches, appending each record to
    ``results_path`` (flushed) and to ``done``; returns how many were scored. The progress bar
    runs from ``initial`` (default: ``len(done)``) to ``n``."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        start = len(done) if initial is None else initial
        bar = tqdm(total=n, initial=start, desc=f"eval {dataset.name}/{task}", unit="sample")
    finished = list(done.values())
    scored = 0
    with JsonlAppender(results_path, fsync=True) as f:
        for start in range(0, len(pending), batch_size):
            batch = [dataset[i] for i in pending[start : start + batch_size]]
            preds = predictor.predict(batch)
            for sample, pred in zip(batch, preds, strict=True):
                rec = score_sample(sample, pred, task, options)
                f.write(rec)
                finished.append(rec)
                done[rec["id"]] = rec
                scored += 1
                if on_record is not None:
                    on_record(rec)
            if bar is not None:
                bar.update(len(batch))
                running = summarize_records(finished, task, options)
                shown = _RUNNING_KEYS[task]
                bar.set_postfix({k: f"{running[k]:.2f}" for k in shown if k in running})
    if bar is not None:
        bar.close()
    return scored


def _outcome_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "missing_predictions": sum(r["status"] == "missing" for r in records),
        "unparsable": sum(not r["parsed"] and r["status"] != "missing" for r in records),
        "empty_predictions": sum(r["parsed"] and r["n_pred_boxes"] == 0 for r in records),
        "no_target_samples": sum(r["n_gt_boxes"] == 0 for r in records),
    }


def evaluate(
    dataset: EvalDataset,
    predictor: Predictor,
    task: str,
    out_dir: str | Path,
    options: ScoringOptions | None = None,
    batch_size: int = 4,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> EvalResult:
    """Evaluate a predictor on a dataset split, resumably; writes ``results.jsonl``,
    ``run.json`` and ``metrics.json`` into ``out_dir``.

    Args:
        dataset: the split (a loader from :mod:`georeason.eval.datasets`).
        predictor: :class:`PolicyPredictor` or :class:`PredictionsFile` (or any object with
            ``predict`` and ``describe``).
        task: ``"region"``, ``"pixel"`` or ``"contour"``.
        out_dir: output folder (created).
        options: scoring conventions (:class:`ScoringOptions`).
        batch_size: samples per ``predict`` call (the policy's generation batch).
        limit: evaluate only the first ``limit`` samples (smoke runs; recorded in ``run.json``).
        overwrite: discard earlier results in ``out_dir`` instead of resuming.
        progress: show a tqdm progress bar with running metrics.
        on_record: called with each newly scored record (after it is written).

    Returns:
        An :class:`EvalResult`; metrics are over all (``limit``) samples of the split.

    Raises:
        UserInputError: unknown task or option, a task needing masks on a dataset without
            masks, or an ``out_dir`` holding a different evaluation.
    """
    options = options or ScoringOptions()
    options.validate()
    if task not in TASKS:
        raise UserInputError(f"task must be one of {TASKS}, got {task!r}")
    if batch_size <= 0:
        raise UserInputError(f"batch size must be positive, got {batch_size}")
    dataset, counts = _dataset_for_task(dataset, task)
    if isinstance(predictor, PredictionsFile) and task in ("pixel", "contour"):
        predictor.need_masks = True
    settings = {"task": task, "predictor": predictor.describe(), "scoring": asdict(options)}
    procs = current_processes()
    if procs.is_main:  # check (or reset) the folder, fold in shards of an interrupted run
        state = open_run(dataset, out_dir, limit, overwrite, settings)
        merge_shards(state.out)
    procs.wait()
    state = open_run(dataset, out_dir, limit, False, settings)
    ids, done, n = state.ids, state.done, len(state.ids)
    counts.update(samples=n, resumed=len(done), scored=0)
    mine = state.pending[procs.index :: procs.count]
    counts["scored"] = _score_pending(
        dataset,
        predictor,
        task,
        options,
        mine,
        done,
        state.results_path if procs.count == 1 else shard_path(state.out, procs.index),
        batch_size,
        n if procs.count == 1 else len(mine),
        progress and procs.is_main,
        on_record,
        initial=None if procs.count == 1 else 0,
    )
    if procs.count > 1:
        procs.wait()
        if not procs.is_main:
            return EvalResult({}, [], counts, state.out, state.run, is_main=False)
        merge_shards(state.out)
        done = {k: v for k, v in read_results(state.results_path).items() if k in set(ids)}
    records = [done[sid] for sid in ids]
    metrics = summarize_records(records, task, options)
    counts.update(_outcome_counts(records))
    if isinstance(predictor, PredictionsFile):
        counts["unused_predictions"] = len(set(predictor.records) - set(ids))
    write_metrics(state.out, metrics, n)
    return EvalResult(metrics, records, counts, state.out, state.run)
