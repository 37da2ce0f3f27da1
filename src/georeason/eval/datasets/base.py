"""Shared pieces of the benchmark loaders: the sample type, the base class, errors, readers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from georeason.errors import UserInputError
from georeason.geometry import as_boxes_xyxy
from georeason.masks import mask_to_box, mask_to_component_boxes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
BoxFromMask = Literal["whole", "components"]

#: Query for benchmarks that have classes but no referring expressions (DOTA, iSAID); ours.
CLASS_QUERY_TEMPLATE = "Find every {name} in this image."


class DatasetNotFoundError(UserInputError):
    """A benchmark's folder or annotation file is missing; the message gives the layout."""


class CorruptDataError(UserInputError):
    """An annotation or mask file exists but cannot be read; the message names it."""


@dataclass
class EvalSample:
    """One evaluation query with its ground truth.

    Attributes:
        id: unique within the split (used to pair predictions and to resume).
        image_path: the image file (read it with :func:`georeason.io.read_image`).
        query: the text given to the model.
        boxes_xyxy_px: ``(N, 4)`` float64, original-image pixels; ``(0, 4)`` for no target.
        mask: ``(H, W)`` bool, or None when the benchmark has no masks.
        questions: every question of the sample (EarthReason has several per image).
        label: class name when the benchmark has one, else None.
        meta: loader-specific extras (source files, answers, difficulty flags).
    """

    id: str
    image_path: Path
    query: str
    boxes_xyxy_px: np.ndarray
    mask: np.ndarray | None = None
    questions: tuple[str, ...] = ()
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_target(self) -> bool:
        """True when the ground truth has at least one box or mask pixel."""
        if self.mask is not None:
            return bool(self.mask.any())
        return len(self.boxes_xyxy_px) > 0


def read_mask(path: str | Path) -> np.ndarray:
    """Read a label mask as SegEarth-R1 reads EarthReason's labels: OpenCV
    ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``, then nonzero = target (its
    ``eval_dataset/RS_val_dataset.py``, ``ReasonSegDataset.__getitem__``).

    What that means per PNG mode: grey (``L``) -> the value; RGB -> its 8-bit luma (about
    0.299 R + 0.587 G + 0.114 B, as the PNG decoder rounds it), so a very dark colour such as
    ``(1, 0, 0)`` or ``(0, 0, 3)`` is background; palette (``P``) -> the palette *colour*
    (not the index) converted to grey; an alpha channel is ignored; 16-bit grey is scaled to
    8 bits by OpenCV (values below ~128 become background). Binary 0/255 masks, the usual case,
    read the same under every rule.

    Returns:
        ``(H, W)`` bool.

    Raises:
        DatasetNotFoundError: the file does not exist.
        CorruptDataError: the file cannot be decoded.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(f"mask file not found: {p}")
    arr = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    if arr is None or arr.ndim != 2:
        raise CorruptDataError(f"cannot read mask {p}: OpenCV could not decode it as an image")
    return arr != 0


def read_rgb_label(path: Path) -> np.ndarray:
    """Read an RGB label image as ``(H, W, 3)`` uint8 (iSAID colour and id masks)."""
    if not path.is_file():
        raise DatasetNotFoundError(f"label file not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptDataError(f"cannot read label image {path}: {exc}") from exc


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise CorruptDataError(f"{path}: invalid JSON ({exc})") from exc


def require_dir(path: Path, dataset: str, layout: str) -> Path:
    if not path.is_dir():
        raise DatasetNotFoundError(f"{dataset}: folder {path} not found. Expected layout: {layout}")
    return path


def boxes_from_mask(mask: np.ndarray, mode: BoxFromMask) -> np.ndarray:
    """RemoteReasoner's M2B: one tight box of the whole mask, or one per 8-connected component."""
    if mode == "components":
        return as_boxes_xyxy(mask_to_component_boxes(mask))
    box = mask_to_box(mask)
    return as_boxes_xyxy([] if box is None else [box])


def image_size_hw(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the image header (PIL; rasterio for TIFFs PIL cannot open)."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError):
        import rasterio

        with rasterio.open(path) as src:
            return src.height, src.width


class EvalDataset:
    """Base class: a list of lightweight records; ``__getitem__`` builds an :class:`EvalSample`.

    Subclasses set :attr:`name`, :attr:`has_masks`, fill ``self._records`` in ``__init__`` and
    implement :meth:`_load`.
    """

    name: ClassVar[str] = ""
    has_masks: ClassVar[bool] = False
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test")

    def __init__(self, root: str | Path, split: str = "test") -> None:
        self.root = Path(root)
        if self.splits and split not in self.splits:
            raise UserInputError(
                f"{self.name}: unknown split {split!r}; expected one of {self.splits}"
            )
        self.split = split
        if not self.root.exists():
            raise DatasetNotFoundError(f"{self.name}: root {self.root} does not exist")
        self._records: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> EvalSample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return self._load(self._records[index])

    def __iter__(self) -> Iterator[EvalSample]:
        for i in range(len(self)):
            yield self[i]

    @property
    def ids(self) -> list[str]:
        """Sample ids in order."""
        return [r["id"] for r in self._records]

    def _load(self, record: dict[str, Any]) -> EvalSample:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_not_empty(self, where: Path) -> None:
        if not self._records:
            raise DatasetNotFoundError(
                f"{self.name}: no samples found for split {self.split!r} under {where}"
            )
