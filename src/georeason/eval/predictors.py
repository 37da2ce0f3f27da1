"""Predictors of the evaluation runner: where a sample's boxes (and mask) come from.

* :class:`PolicyPredictor` - a policy model (greedy, or best-of-N with a verifier) and a segmenter;
* :class:`PredictionsFile` - predictions made elsewhere (one JSON object per line)::

      {"id": "...", "boxes_xyxy_px": [[x1, y1, x2, y2], ...], "masks": [COCO RLE, ...]}

  boxes in original-image pixels; ``masks`` (needed for the pixel and contour tasks) are OR-ed
  into one mask of the image's size. Optional ``"parse_status"``: ``"no_boxes"`` marks an
  unparsable answer (a miss). A sample without a line is scored as a miss.
* :class:`LazyPredictor` - builds its predictor on first use (a finished run needs no model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from georeason.errors import UserInputError
from georeason.eval.datasets import EvalSample
from georeason.geometry import as_boxes_xyxy
from georeason.jsonl import read_jsonl_numbered
from georeason.masks import decode_rle


@dataclass
class Prediction:
    """A model's answer for one sample, in original-image pixels.

    Attributes:
        boxes_xyxy_px: ``(N, 4)`` float64 xyxy boxes.
        parsed: False when the answer could not be read (a miss).
        status: parser status, ``"missing"`` for no prediction, ``"given"`` for a file.
        mask: ``(H, W)`` bool union of the predicted masks, or None (region task).
        text: the raw completion, if any.
    """

    boxes_xyxy_px: np.ndarray
    parsed: bool = True
    status: str = "ok"
    mask: np.ndarray | None = None
    text: str | None = None


class Predictor(Protocol):
    """Produces one :class:`Prediction` per sample, in order."""

    def predict(self, samples: Sequence[EvalSample]) -> list[Prediction]: ...

    def describe(self) -> dict[str, Any]:
        """What identifies the predictions (written into ``run.json`` for resuming)."""
        ...


# --------------------------------------------------------------------------------------------
# Predictors
# --------------------------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PredictionsFile:
    """Predictions made elsewhere, read from a JSONL file (format in the module docs).

    Raises:
        UserInputError: missing file, a line that is not JSON, no ``id``, duplicate ids,
            boxes that are not ``[[x1, y1, x2, y2], ...]``, masks that are not COCO RLE.
    """

    def __init__(self, path: str | Path, need_masks: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserInputError(f"predictions file {self.path} not found")
        self.need_masks = need_masks
        self.records: dict[str, dict[str, Any]] = {}
        for n, rec in read_jsonl_numbered(self.path, torn_tail="error"):
            if "id" not in rec:
                raise UserInputError(f'{self.path}:{n}: each line needs an "id"')
            key = str(rec["id"])
            if key in self.records:
                raise UserInputError(f"{self.path}:{n}: duplicate id {key!r}")
            rec["_line"] = n
            self.records[key] = rec
        self.sha256 = _file_sha256(self.path)
        self.used: set[str] = set()

    def describe(self) -> dict[str, Any]:
        return {"kind": "predictions", "path": str(self.path.resolve()), "sha256": self.sha256}

    def _boxes(self, rec: dict[str, Any]) -> np.ndarray:
        try:
            boxes = as_boxes_xyxy(rec.get("boxes_xyxy_px") or [])
        except (ValueError, TypeError):
            raise UserInputError(
                f"{self.path}:{rec['_line']}: boxes_xyxy_px must be [[x1, y1, x2, y2], ...] "
                "in original-image pixels"
            ) from None
        if not np.all(np.isfinite(boxes)):
            raise UserInputError(f"{self.path}:{rec['_line']}: non-finite box coordinate")
        return boxes

    def _mask(self, rec: dict[str, Any], sample: EvalSample) -> np.ndarray:
        where = f"{self.path}:{rec['_line']} (id {sample.id!r})"
        if "masks" not in rec:
            raise UserInputError(f'{where}: the pixel and contour tasks need "masks" (COCO RLE)')
        hw = sample.mask.shape if sample.mask is not None else None
        out = np.zeros(hw, dtype=bool) if hw is not None else None
        for rle in rec["masks"] or []:
            try:
                m = decode_rle(rle)
            except (ValueError, TypeError, KeyError) as exc:
                raise UserInputError(f"{where}: unreadable mask RLE ({exc})") from None
            if out is None:
                out = np.zeros(m.shape, dtype=bool)
            if m.shape != out.shape:
                raise UserInputError(
                    f"{where}: mask size {m.shape} differs from the ground truth {out.shape}"
                )
            out |= m
        return out if out is not None else np.zeros((0, 0), dtype=bool)

    def predict(self, samples: Sequence[EvalSample]) -> list[Prediction]:
        out = []
        for s in samples:
            rec = self.records.get(s.id)
            if rec is None:
                empty = np.zeros_like(s.mask) if s.mask is not None else None
                out.append(Prediction(as_boxes_xyxy([]), False, "missing", empty))
                continue
            self.used.add(s.id)
            status = str(rec.get("parse_status", "given"))
            parsed = status != "no_boxes"
            mask = self._mask(rec, s) if self.need_masks else None
            out.append(Prediction(self._boxes(rec), parsed, status, mask, rec.get("text")))
        return out


class PolicyPredictor:
    """The model mode: policy boxes (batched generation), then a segmenter for masks.

    Args:
        policy: a :class:`georeason.models.policy.Policy`.
        segmenter: a segmenter (:func:`georeason.models.segmenters.build_segmenter`) or None for
            the region task; the masks of all boxes are OR-ed (RemoteReasoner's workflow).
        max_new_tokens: generation budget.
        batch_size: pairs per ``generate`` call.
        describe_extra: extra configuration recorded in ``run.json`` (segmenter name, ...).
        samples: 1 = greedy; N > 1 = test-time verification (:func:`georeason.bestofn.best_of_n`:
            N sampled answers, the one with the highest verification reward is scored).
        verifier: the verifier for ``samples > 1`` (None: the policy's own model).
        temperature: sampling temperature for ``samples > 1``.
        verifier_input: what the verifier sees for ``samples > 1``
            (:mod:`georeason.verifier_inputs`).
    """

    def __init__(
        self,
        policy: Any,
        segmenter: Any | None = None,
        max_new_tokens: int = 512,
        batch_size: int = 4,
        describe_extra: dict[str, Any] | None = None,
        samples: int = 1,
        verifier: Any | None = None,
        temperature: float = 0.9,
        verifier_input: str = "context_crop",
    ) -> None:
        self.policy = policy
        self.samples, self.verifier, self.temperature = int(samples), verifier, float(temperature)
        self.verifier_input = verifier_input
        self.segmenter = segmenter
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.extra = describe_extra or {}

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "model",
            "model": getattr(self.policy, "model_name", ""),
            "weights": getattr(self.policy, "weights", None),
            "segmenter": getattr(self.segmenter, "name", None),
            "max_new_tokens": self.max_new_tokens,
            "max_pixels": getattr(self.policy, "max_pixels", None),
            **self.extra,
        }

    def predict(self, samples: Sequence[EvalSample]) -> list[Prediction]:
        from georeason.io import read_image
        from georeason.masks import union_of_masks

        images = [read_image(s.image_path) for s in samples]
        queries = [s.query for s in samples]
        if self.samples > 1:
            from georeason.bestofn import best_of_n
            from georeason.models.verifier import LocalVerifier

            if self.verifier is None:
                self.verifier = LocalVerifier(self.policy.model, self.policy.processor)
            picked = best_of_n(
                self.policy,
                self.verifier,
                images,
                queries,
                n=self.samples,
                temperature=self.temperature,
                max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size,
                input_mode=self.verifier_input,
            )
            locs = [b.best for b in picked]
        else:
            locs = self.policy.locate(
                images,
                queries,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                batch_size=self.batch_size,
            )
        out = []
        for img, loc in zip(images, locs, strict=True):
            mask = None
            if self.segmenter is not None:
                masks = (
                    self.segmenter.segment(img.rgb, loc.boxes_xyxy_px)
                    if len(loc.boxes_xyxy_px)
                    else []
                )
                mask = union_of_masks(masks, img.height, img.width)
            out.append(
                Prediction(loc.boxes_xyxy_px, loc.parse.parsed, loc.parse.status, mask, loc.text)
            )
        return out


class LazyPredictor:
    """A predictor built on the first :meth:`predict` call (ours).

    ``georeason eval --model`` uses it so that a finished evaluation is re-reported without
    loading the model: :meth:`describe` (recorded in ``run.json``) needs no model.

    Args:
        build: zero-argument callable returning the real predictor (e.g. loads the policy).
        description: what :meth:`describe` returns (must not depend on the loaded model).
    """

    def __init__(self, build: Callable[[], Any], description: dict[str, Any]) -> None:
        self._build = build
        self._description = dict(description)
        self._predictor: Any | None = None

    @property
    def loaded(self) -> bool:
        """Whether the real predictor was built."""
        return self._predictor is not None

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def get(self) -> Any:
        """The real predictor (built now if it was not yet)."""
        if self._predictor is None:
            self._predictor = self._build()
        return self._predictor

    def predict(self, samples: Sequence[EvalSample]) -> list[Prediction]:
        return self.get().predict(samples)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------
