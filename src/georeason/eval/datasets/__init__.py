"""Benchmark loaders: one class per benchmark, each in the dataset's own file format.

Every loader yields :class:`EvalSample` objects with the same meaning everywhere:

* ``boxes_xyxy_px``: ``(N, 4)`` float64 ground-truth boxes ``[x1, y1, x2, y2]`` in original-image
  pixels (x right, y down, pixel-corner convention; see :mod:`georeason.geometry`); ``(0, 4)``
  when the image has no target.
* ``mask``: ``(H, W)`` bool ground-truth mask of all target pixels, or None when the benchmark
  has no masks (DIOR-RSVG, DOTA, GeoZero grounding).

Loaders read only annotations when constructed; ``__getitem__`` reads the mask (not the image:
``image_path`` is read by the caller with :func:`georeason.io.read_image`). They behave like a
``torch.utils.data.Dataset`` (``len``, integer indexing) without importing torch.

Errors: :class:`DatasetNotFoundError` says which folder or file is missing and what layout is
expected; :class:`CorruptDataError` names the unreadable file. Both are
:class:`georeason.errors.UserInputError`, printed by the CLI as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.eval.datasets.base import (
    CLASS_QUERY_TEMPLATE,
    IMAGE_SUFFIXES,
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    read_mask,
)
from georeason.eval.datasets.dior_rsvg import DIORRSVG, parse_voc_rsvg
from georeason.eval.datasets.dota import DOTA, parse_dota_label
from georeason.eval.datasets.earthreason import EarthReason
from georeason.eval.datasets.geozero import GeoZeroEval
from georeason.eval.datasets.isaid import ISAID, ISAID_CLASS_COLORS_RGB
from georeason.eval.datasets.jsonl import JSONLQueries
from georeason.eval.datasets.rrsisd import RRSISD, coco_segmentation_to_mask

__all__ = [
    "CLASS_QUERY_TEMPLATE",
    "DATASETS",
    "DIORRSVG",
    "DOTA",
    "IMAGE_SUFFIXES",
    "ISAID",
    "ISAID_CLASS_COLORS_RGB",
    "RRSISD",
    "CorruptDataError",
    "DatasetNotFoundError",
    "EarthReason",
    "EvalDataset",
    "EvalSample",
    "GeoZeroEval",
    "JSONLQueries",
    "build_dataset",
    "coco_segmentation_to_mask",
    "parse_dota_label",
    "parse_voc_rsvg",
    "read_mask",
]


#: ``--dataset`` names of the CLI.
DATASETS: dict[str, type[EvalDataset]] = {
    "earthreason": EarthReason,
    "dior_rsvg": DIORRSVG,
    "rrsisd": RRSISD,
    "geozero": GeoZeroEval,
    "dota": DOTA,
    "isaid": ISAID,
    "jsonl": JSONLQueries,
}


def build_dataset(name: str, root: str | Path, split: str = "test", **kwargs: Any) -> EvalDataset:
    """Instantiate a loader by its CLI name (see :data:`DATASETS`).

    Raises:
        UserInputError: for an unknown name; the loaders' own errors otherwise.
    """
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise UserInputError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[key](root, split, **kwargs)
