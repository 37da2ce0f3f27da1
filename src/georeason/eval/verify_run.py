"""``eval --task verify``: the Eye-vs-Hand asymmetry on one split, resumable.

Per sample, the policy's greedy boxes are scored as in the region task (the Hand), and the
verifier scores the targets and distractors of :func:`georeason.eval.asymmetry.candidate_boxes`
(the Eye), seen as :mod:`georeason.verifier_inputs` says. Each finished sample is one line of
``OUT/results.jsonl`` (the region record plus an ``"eye"`` entry); a rerun of the same command
resumes; ``OUT/metrics.json`` holds :func:`georeason.eval.asymmetry.summarize_eye`'s keys and the
Hand's region metrics (``hand_gIoU``); ``OUT/report.md`` the verdict and ``reliability.png``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from georeason.errors import UserInputError
from georeason.eval.asymmetry import (
    DEFAULT_DISTRACTORS,
    DEFAULT_MAX_TARGETS,
    candidate_boxes,
    summarize_eye,
)
from georeason.eval.datasets import EvalDataset, EvalSample
from georeason.eval.runner import (
    EvalResult,
    ScoringOptions,
    open_run,
    score_sample,
    summarize_records,
    write_metrics,
)
from georeason.jsonl import JsonlAppender
from georeason.verifier_inputs import (
    DEFAULT_GLOBAL_MAX_PIXELS,
    check_verifier_input,
    score_views,
    verifier_images,
)


@dataclass(frozen=True)
class VerifyOptions:
    """How the Eye is tested (recorded in ``run.json``; defaults are ours, see
    :mod:`georeason.eval.asymmetry`).

    Attributes:
        input_mode: what the verifier sees (:data:`georeason.verifier_inputs.VERIFIER_INPUTS`).
        margin_ratio: context margin of the crops (RemoteZero: 0.15).
        n_distractors: distractors per sample.
        max_targets: targets verified per sample (the first ones).
        seed: seed of the random distractors.
    """

    input_mode: str = "context_crop"
    margin_ratio: float = 0.15
    n_distractors: int = DEFAULT_DISTRACTORS
    max_targets: int = DEFAULT_MAX_TARGETS
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`UserInputError` on a bad value."""
        try:
            check_verifier_input(self.input_mode)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
        if self.margin_ratio < 0 or self.n_distractors < 1 or self.max_targets < 1:
            raise UserInputError(
                "margin ratio must be >= 0, distractors and max targets >= 1 "
                f"(got {self.margin_ratio}, {self.n_distractors}, {self.max_targets})"
            )


def _others_by_image(samples: list[EvalSample]) -> dict[str, list[tuple[str, np.ndarray]]]:
    index: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for s in samples:
        index[str(Path(s.image_path).resolve())].append((s.id, np.asarray(s.boxes_xyxy_px, float)))
    return index


def _eye_entries(
    batch: list[EvalSample],
    index: dict[str, list[tuple[str, np.ndarray]]],
    verifier: Any,
    vo: VerifyOptions,
) -> list[dict[str, Any] | None]:
    """The ``"eye"`` entry of each sample of a batch (one ``verifier.score`` call)."""
    from georeason.io import read_image

    views, queries, cands = [], [], []
    # the whole-image modes show the image at the verifier's own pixel budget
    budget = getattr(verifier, "max_pixels", None) or DEFAULT_GLOBAL_MAX_PIXELS
    for sample in batch:
        image = read_image(sample.image_path).pil()
        others = [b for sid, b in index[str(Path(sample.image_path).resolve())] if sid != sample.id]
        c = candidate_boxes(
            sample.id,
            sample.boxes_xyxy_px,
            np.vstack(others) if others else np.zeros((0, 4)),
            image.size[0],
            image.size[1],
            vo.n_distractors,
            vo.max_targets,
            vo.seed,
        )
        cands.append(c)
        for box in c.boxes_xyxy_px:
            views.append(verifier_images(image, box, vo.input_mode, vo.margin_ratio, budget))
            queries.append(sample.query)
    scores = score_views(verifier, views, queries, vo.input_mode) if views else []
    if len(scores) != len(views):
        raise RuntimeError(f"verifier returned {len(scores)} scores for {len(views)} views")
    out: list[dict[str, Any] | None] = []
    start = 0  # each sample's candidates are contiguous in ``views``
    for c in cands:
        k = len(c.boxes_xyxy_px)
        mine = [float(s) for s in scores[start : start + k]]
        start += k
        if k == 0:
            out.append(None)
            continue
        out.append(
            {
                "scores": mine,
                "is_target": [bool(t) for t in c.is_target],
                "sources": list(c.sources),
                "boxes_xyxy_px": np.round(c.boxes_xyxy_px, 2).tolist(),
            }
        )
    return out


def verify_metrics(records: list[dict[str, Any]], options: ScoringOptions) -> dict[str, float]:
    """``metrics.json``'s numbers from the per-sample records (Hand and Eye)."""
    hand = summarize_records(records, "region", options)
    out = summarize_eye(records, hand["box_Acc@0.5"])
    out["hand_gIoU"] = hand["box_gIoU"]
    return out


def evaluate_verify(
    dataset: EvalDataset,
    predictor: Any,
    build_verifier: Callable[[], Any],
    out_dir: str | Path,
    verifier_description: dict[str, Any],
    options: ScoringOptions | None = None,
    verify: VerifyOptions | None = None,
    batch_size: int = 4,
    limit: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Measure Hand and Eye on a split; writes ``results.jsonl``, ``run.json``, ``metrics.json``.

    Args:
        dataset: a split with ground-truth boxes.
        predictor: the Hand (:class:`georeason.eval.predictors.PolicyPredictor`, a lazy one, or a
            predictions file).
        build_verifier: zero-argument callable returning the Eye (a
            :class:`~georeason.models.verifier_base.Verifier`); called once, when a sample
            needs scoring (a finished run is re-reported without loading anything).
        out_dir: output folder.
        verifier_description: what identifies the verifier in ``run.json`` (a resume with another
            verifier is refused).
        options: box scoring conventions of the Hand.
        verify: :class:`VerifyOptions`.
        batch_size: samples per predictor / verifier call.
        limit: only the first ``limit`` samples.
        overwrite: discard earlier results instead of resuming.
        progress: tqdm bar.

    Raises:
        UserInputError: bad options, or ``out_dir`` holding another evaluation.
    """
    options = options or ScoringOptions()
    options.validate()
    verify = verify or VerifyOptions()
    verify.validate()
    if batch_size <= 0:
        raise UserInputError(f"batch size must be positive, got {batch_size}")
    settings = {
        "task": "verify",
        "predictor": predictor.describe(),
        "verifier": dict(verifier_description),
        "verify": asdict(verify),
        "scoring": asdict(options),
    }
    state = open_run(dataset, out_dir, limit, overwrite, settings)
    ids, done, pending, n = state.ids, state.done, state.pending, len(state.ids)
    counts = {"samples": n, "resumed": len(done), "scored": 0}
    if pending:
        index = _others_by_image([dataset[i] for i in range(n)])
        verifier = build_verifier()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=len(done), desc=f"verify {dataset.name}", unit="sample")
        with JsonlAppender(state.results_path, fsync=True) as f:
            for start in range(0, len(pending), batch_size):
                batch = [dataset[i] for i in pending[start : start + batch_size]]
                preds = predictor.predict(batch)
                eyes = _eye_entries(batch, index, verifier, verify)
                for sample, pred, eye in zip(batch, preds, eyes, strict=True):
                    rec = score_sample(sample, pred, "region", options)
                    rec["eye"] = eye
                    f.write(rec)
                    done[rec["id"]] = rec
                    counts["scored"] += 1
                if bar is not None:
                    bar.update(len(batch))
        if bar is not None:
            bar.close()
    records = [done[sid] for sid in ids]
    metrics = verify_metrics(records, options)
    write_metrics(state.out, metrics, n, verifier_input=verify.input_mode)
    return EvalResult(metrics, records, counts, state.out, state.run)
