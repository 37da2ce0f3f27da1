"""Benchmark loaders: one class per benchmark, each in the dataset's own file format.

Every loader yields :class:`EvalSample` objects with the same meaning everywhere:

* ``bbox_xyxy``: ``(N, 4)`` float64 ground-truth boxes ``[x1, y1, x2, y2]`` in original-image
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

import json
import pickle
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from georeason.errors import UserInputError
from georeason.geometry import as_boxes_xyxy, boxes_from_model_frame
from georeason.masks import decode_rle, mask_to_box, mask_to_component_boxes

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
        bbox_xyxy: ``(N, 4)`` float64, original-image pixels; ``(0, 4)`` for no target.
        mask: ``(H, W)`` bool, or None when the benchmark has no masks.
        questions: every question of the sample (EarthReason has several per image).
        label: class name when the benchmark has one, else None.
        meta: loader-specific extras (source files, answers, difficulty flags).
    """

    id: str
    image_path: Path
    query: str
    bbox_xyxy: np.ndarray
    mask: np.ndarray | None = None
    questions: tuple[str, ...] = ()
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_target(self) -> bool:
        """True when the ground truth has at least one box or mask pixel."""
        if self.mask is not None:
            return bool(self.mask.any())
        return len(self.bbox_xyxy) > 0


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask image; nonzero = target (any channel for RGB masks).

    Returns:
        ``(H, W)`` bool.

    Raises:
        DatasetNotFoundError: the file does not exist.
        CorruptDataError: the file cannot be decoded.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(f"mask file not found: {p}")
    try:
        with Image.open(p) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptDataError(f"cannot read mask {p}: {exc}") from exc
    if arr.ndim == 3:
        return np.any(arr != 0, axis=-1)
    if arr.ndim != 2:
        raise CorruptDataError(f"mask {p} has shape {arr.shape}; expected (H, W) or (H, W, C)")
    return arr != 0


def _read_rgb_label(path: Path) -> np.ndarray:
    """Read an RGB label image as ``(H, W, 3)`` uint8 (iSAID colour and id masks)."""
    if not path.is_file():
        raise DatasetNotFoundError(f"label file not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptDataError(f"cannot read label image {path}: {exc}") from exc


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise CorruptDataError(f"{path}: invalid JSON ({exc})") from exc


def _require_dir(path: Path, dataset: str, layout: str) -> Path:
    if not path.is_dir():
        raise DatasetNotFoundError(f"{dataset}: folder {path} not found. Expected layout: {layout}")
    return path


def _boxes_from_mask(mask: np.ndarray, mode: BoxFromMask) -> np.ndarray:
    """RemoteReasoner's M2B: one tight box of the whole mask, or one per 8-connected component."""
    if mode == "components":
        return as_boxes_xyxy(mask_to_component_boxes(mask))
    box = mask_to_box(mask)
    return as_boxes_xyxy([] if box is None else [box])


def _image_size(path: Path) -> tuple[int, int]:
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


# --------------------------------------------------------------------------------------------
# EarthReason (SegEarth-R1)
# --------------------------------------------------------------------------------------------


class EarthReason(EvalDataset):
    """EarthReason, the geospatial pixel-reasoning benchmark of SegEarth-R1 (2025).

    Layout::

        root/{train,val,test}/images/<stem>.{jpg,png}
        root/{train,val,test}/labels/<stem>.png     # nonzero = target
        root/{train,val,test}/QAs/<stem>.json       # {"questions": [...], "answer": [...]}

    The three folders are paired by file stem. An empty ``answer`` means "no target in the
    image" (its label is empty). Sizes: 2,371 train, 1,135 val, 1,928 test.

    Args:
        root: the folder holding the split folders (SegEarth-R1's ``RSReasonSeg``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        question_index: which question is the query. 0 (default) is what SegEarth-R1's
            evaluation uses (``QAs["questions"][0]``; an index past the last question takes the
            last); None gives one sample per question, with ids ``<stem>#<k>``. Every sample
            keeps all questions in ``questions``.
        box_from_mask: ground-truth boxes for the region task, derived from the label as
            RemoteReasoner built its region labels (M2B): ``"whole"`` (default) one tight box
            around all target pixels; ``"components"`` one box per 8-connected component.

    Raises:
        DatasetNotFoundError: missing folders, or an image without its label or QA file.
        CorruptDataError: a QA file that is not JSON or lacks ``questions``.
    """

    name = "earthreason"
    has_masks = True
    LAYOUT = "ROOT/{split}/images/*.jpg|png, ROOT/{split}/labels/*.png, ROOT/{split}/QAs/*.json"

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        question_index: int | None = 0,
        box_from_mask: BoxFromMask = "whole",
    ) -> None:
        super().__init__(root, split)
        self.box_from_mask = box_from_mask
        base = self.root / split
        folders = {
            k: _require_dir(base / k, "EarthReason", self.LAYOUT)
            for k in ("images", "labels", "QAs")
        }
        images = {
            p.stem: p
            for p in sorted(folders["images"].iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        }
        labels = {
            p.stem: p for p in sorted(folders["labels"].iterdir()) if p.suffix.lower() == ".png"
        }
        qas = {
            p.stem: p
            for p in sorted(folders["QAs"].iterdir())
            if p.suffix.lower() in (".json", ".txt")
        }
        for kind, group in (("label", labels), ("QA file", qas)):
            missing = sorted(set(images) - set(group))
            if missing:
                raise DatasetNotFoundError(
                    f"EarthReason {split}: {len(missing)} image(s) without a {kind} "
                    f"(first: {missing[:3]}); folders are paired by file stem"
                )
        for stem in sorted(images):
            qa = _read_json(qas[stem])
            if (
                not isinstance(qa, dict)
                or not isinstance(qa.get("questions"), list)
                or not (qa["questions"])
            ):
                raise CorruptDataError(f"{qas[stem]}: expected {{'questions': [...], 'answer'}}")
            questions = tuple(str(q) for q in qa["questions"])
            answer = qa.get("answer") or []
            answers = [answer] if isinstance(answer, str) else list(answer)
            if question_index is None:
                picks = list(range(len(questions)))
            else:
                picks = [min(question_index, len(questions) - 1)]
            for k in picks:
                self._records.append(
                    {
                        "id": stem if question_index is not None else f"{stem}#{k}",
                        "image": images[stem],
                        "label": labels[stem],
                        "query": questions[k],
                        "questions": questions,
                        "answers": answers,
                    }
                )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        mask = read_mask(r["label"])
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            bbox_xyxy=_boxes_from_mask(mask, self.box_from_mask),
            mask=mask,
            questions=r["questions"],
            meta={
                "answers": r["answers"],
                "no_target_answer": not r["answers"],
                "label_path": str(r["label"]),
            },
        )


# --------------------------------------------------------------------------------------------
# DIOR-RSVG
# --------------------------------------------------------------------------------------------


class DIORRSVG(EvalDataset):
    """DIOR-RSVG visual grounding (Zhan et al., 2023; ZhanYang-nwpu/RSVG-pytorch).

    Layout::

        root/JPEGImages/<name>.jpg
        root/Annotations/<name>.xml       # VOC XML; each <object> has <bndbox> and <description>
        root/{train,val,test}.txt         # one integer per line: a global object index

    The split files index objects, counted over all XML files in file-name order and over the
    objects in document order (as the reference ``data_loader.py``, which walks the folder).
    One sample per object: query = its ``description``, one box (VOC ``xmin ymin xmax ymax``
    taken as xyxy pixel corners, as the reference code does).

    Raises:
        DatasetNotFoundError: a missing folder or split file.
        CorruptDataError: malformed XML or an object without a box or description.
    """

    name = "dior_rsvg"
    LAYOUT = "ROOT/JPEGImages/*.jpg, ROOT/Annotations/*.xml, ROOT/{train,val,test}.txt"

    def __init__(self, root: str | Path, split: str = "test") -> None:
        super().__init__(root, split)
        ann_dir = _require_dir(self.root / "Annotations", "DIOR-RSVG", self.LAYOUT)
        img_dir = _require_dir(self.root / "JPEGImages", "DIOR-RSVG", self.LAYOUT)
        split_file = self.root / f"{split}.txt"
        if not split_file.is_file():
            raise DatasetNotFoundError(
                f"DIOR-RSVG: split file {split_file} not found. Expected layout: {self.LAYOUT}"
            )
        try:
            wanted = {int(x) for x in split_file.read_text().split()}
        except ValueError as exc:
            raise CorruptDataError(f"{split_file}: expected one integer per line") from exc
        count = 0
        for xml_path in sorted(ann_dir.glob("*.xml")):
            for obj in parse_voc_rsvg(xml_path):
                if count in wanted:
                    self._records.append(
                        {
                            "id": f"{xml_path.stem}_{obj['index']}",
                            "image": img_dir / obj["filename"],
                            "query": obj["description"],
                            "box": obj["box"],
                            "label": obj["name"],
                            "global_index": count,
                        }
                    )
                count += 1
        self._check_not_empty(self.root)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            bbox_xyxy=as_boxes_xyxy([r["box"]]),
            questions=(r["query"],),
            label=r["label"],
            meta={"global_index": r["global_index"]},
        )


def parse_voc_rsvg(xml_path: str | Path) -> list[dict[str, Any]]:
    """Objects of one DIOR-RSVG VOC XML file.

    Returns:
        ``[{"index", "filename", "name", "box": [xmin, ymin, xmax, ymax], "description"}]`` in
        document order.

    Raises:
        CorruptDataError: malformed XML, a missing ``<bndbox>`` coordinate or ``<description>``.
    """
    p = Path(xml_path)
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise CorruptDataError(f"{p}: malformed XML ({exc})") from exc
    filename = (root.findtext("filename") or f"{p.stem}.jpg").strip()
    out = []
    for i, obj in enumerate(root.findall("object")):
        bb = obj.find("bndbox")
        desc = obj.findtext("description")
        try:
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]  # type: ignore[union-attr, arg-type]
        except (AttributeError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"{p}: object {i} has no valid <bndbox>") from exc
        if desc is None or not desc.strip():
            raise CorruptDataError(f"{p}: object {i} has no <description>")
        out.append(
            {
                "index": i,
                "filename": filename,
                "name": obj.findtext("name") or "",
                "box": box,
                "description": desc.strip(),
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# RRSIS-D style referring segmentation (refer API layout)
# --------------------------------------------------------------------------------------------


class _PlainUnpickler(pickle.Unpickler):
    """Unpickler that builds only plain containers: a refs file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise CorruptDataError(
            f"refs pickle refers to {module}.{name}; only plain lists/dicts are accepted"
        )


class RRSISD(EvalDataset):
    """RRSIS-D-style referring segmentation (Liu et al., 2024), in the ``refer`` API layout.

    Layout (as SegEarth-R1 reads RRSIS-D with ``REFER(root, 'rrsisd', 'unc')``)::

        root/rrsisd/refs(unc).p           # or refs(unc).json: list of refs
        root/rrsisd/instances.json        # COCO: images, annotations with segmentation
        root/images/rrsisd/JPEGImages/<file_name>

    A ref is ``{"ref_id", "ann_id", "image_id", "split", "sentences": [{"raw", "sent"}]}``;
    its mask is its annotation's segmentation (COCO polygons or RLE), its box the annotation's
    ``bbox`` (COCO ``[x, y, w, h]`` converted to xyxy). One sample per ref; query = its first
    sentence's ``raw`` text, as SegEarth-R1 evaluates (``sentence_index=None``: one per
    sentence, ids ``<ref_id>#<k>``).

    Raises:
        DatasetNotFoundError / CorruptDataError: missing or unreadable files.
    """

    name = "rrsisd"
    has_masks = True
    LAYOUT = (
        "ROOT/rrsisd/refs(unc).p (or .json), ROOT/rrsisd/instances.json, "
        "ROOT/images/rrsisd/JPEGImages/"
    )

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        dataset_dir: str = "rrsisd",
        split_by: str = "unc",
        sentence_index: int | None = 0,
    ) -> None:
        super().__init__(root, split)
        ddir = _require_dir(self.root / dataset_dir, "RRSIS-D", self.LAYOUT)
        refs = self._read_refs(ddir, split_by)
        inst_path = ddir / "instances.json"
        if not inst_path.is_file():
            raise DatasetNotFoundError(f"RRSIS-D: {inst_path} not found. Layout: {self.LAYOUT}")
        inst = _read_json(inst_path)
        images = {im["id"]: im for im in inst.get("images", [])}
        anns = {a["id"]: a for a in inst.get("annotations", [])}
        img_dir = self.root / "images" / dataset_dir / "JPEGImages"
        for ref in refs:
            if ref.get("split") != split:
                continue
            ann = anns.get(ref.get("ann_id"))
            im = images.get(ref.get("image_id"))
            if ann is None or im is None:
                raise CorruptDataError(
                    f"RRSIS-D: ref {ref.get('ref_id')} points to a missing annotation or image"
                )
            sentences = [s.get("raw") or s.get("sent") or "" for s in ref.get("sentences", [])]
            if not sentences:
                raise CorruptDataError(f"RRSIS-D: ref {ref.get('ref_id')} has no sentences")
            picks = range(len(sentences)) if sentence_index is None else [sentence_index]
            for k in picks:
                rid = str(ref["ref_id"]) if sentence_index is not None else f"{ref['ref_id']}#{k}"
                self._records.append(
                    {
                        "id": rid,
                        "image": img_dir / im["file_name"],
                        "query": sentences[min(k, len(sentences) - 1)],
                        "sentences": tuple(sentences),
                        "ann": ann,
                        "hw": (int(im["height"]), int(im["width"])),
                    }
                )
        self._check_not_empty(ddir)

    @staticmethod
    def _read_refs(ddir: Path, split_by: str) -> list[dict[str, Any]]:
        pkl, js = ddir / f"refs({split_by}).p", ddir / f"refs({split_by}).json"
        if js.is_file():
            return _read_json(js)
        if pkl.is_file():
            try:
                with open(pkl, "rb") as f:
                    return _PlainUnpickler(f).load()
            except (pickle.UnpicklingError, EOFError) as exc:
                raise CorruptDataError(f"{pkl}: unreadable pickle ({exc})") from exc
        raise DatasetNotFoundError(f"RRSIS-D: neither {pkl} nor {js} exists")

    def _load(self, r: dict[str, Any]) -> EvalSample:
        h, w = r["hw"]
        mask = coco_segmentation_to_mask(r["ann"].get("segmentation"), h, w)
        x, y, bw, bh = (float(v) for v in r["ann"]["bbox"])
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            bbox_xyxy=as_boxes_xyxy([[x, y, x + bw, y + bh]]),
            mask=mask,
            questions=r["sentences"],
            meta={"ann_id": r["ann"].get("id")},
        )


def coco_segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """COCO segmentation (list of polygons, or RLE) -> ``(H, W)`` bool mask (parts OR-ed).

    Raises:
        CorruptDataError: for a missing or unreadable segmentation.
    """
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, list):
        if not segmentation:
            return np.zeros((height, width), dtype=bool)
        rles = coco_mask.frPyObjects(segmentation, height, width)
        return coco_mask.decode(coco_mask.merge(rles)).astype(bool)
    if isinstance(segmentation, dict):
        try:
            return decode_rle(segmentation)
        except (ValueError, TypeError) as exc:
            raise CorruptDataError(f"unreadable RLE segmentation: {exc}") from exc
    raise CorruptDataError(f"unsupported segmentation {type(segmentation).__name__}")


# --------------------------------------------------------------------------------------------
# GeoZero evaluation JSON
# --------------------------------------------------------------------------------------------


class GeoZeroEval(EvalDataset):
    """GeoZero's evaluation annotation files (LLaVA-style conversations), grounding records.

    Layout: ``root/<split>.json`` (a JSON list) or ``root/<split>.jsonl``; or ``root`` is the
    file itself. A record is ``{"id"?, "images": [path], "conversations": [{"from": "human",
    "value": "<image>\\nquery"}, {"from": "gpt", "value": "answer"}]}``; image paths are relative
    to ``image_root`` (default: the folder of the file). The query is the first human turn
    without ``<image>``; ground-truth boxes are read from the last gpt turn with
    :func:`georeason.parsing.parse_completion` and converted from ``box_frame`` ("px", default,
    or "norm1000" for 0..1000-normalised boxes) to pixels. Records whose answer holds no box
    (classification, VQA, captioning) are not grounding samples and are skipped (counted in
    ``n_skipped``).

    Raises:
        DatasetNotFoundError / CorruptDataError: missing file, bad JSON, missing keys.
    """

    name = "geozero"
    splits = ()

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        image_root: str | Path | None = None,
        box_frame: Literal["px", "norm1000"] = "px",
    ) -> None:
        super().__init__(root, split)
        from georeason.parsing import parse_completion

        path = self.root
        if path.is_dir():
            cands = [path / f"{split}.json", path / f"{split}.jsonl"]
            found = [c for c in cands if c.is_file()]
            if not found:
                raise DatasetNotFoundError(
                    f"GeoZero: neither {cands[0]} nor {cands[1]} exists; pass the JSON file "
                    "as --root or name it <split>.json"
                )
            path = found[0]
        self.file = path
        self.box_frame = box_frame
        img_root = Path(image_root) if image_root else path.parent
        if path.suffix == ".jsonl":
            try:
                records = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
            except json.JSONDecodeError as exc:
                raise CorruptDataError(f"{path}: invalid JSON line ({exc})") from exc
        else:
            records = _read_json(path)
        if not isinstance(records, list):
            raise CorruptDataError(f"{path}: expected a list of records")
        self.n_skipped = 0
        for i, rec in enumerate(records):
            try:
                convs = rec["conversations"]
                imgs = rec.get("images") or ([rec["image"]] if "image" in rec else [])
                human = next(c["value"] for c in convs if c.get("from") in ("human", "user"))
                gpt = [c["value"] for c in convs if c.get("from") in ("gpt", "assistant")][-1]
            except (KeyError, StopIteration, IndexError, TypeError) as exc:
                raise CorruptDataError(
                    f"{path}: record {i} lacks 'conversations' with a human and a gpt turn"
                ) from exc
            if not imgs:
                raise CorruptDataError(f"{path}: record {i} has no 'images'")
            parsed = parse_completion(gpt)
            if not parsed.boxes:
                self.n_skipped += 1
                continue
            query = human.replace("<image>", "").strip()
            self._records.append(
                {
                    "id": str(rec.get("id", rec.get("question_id", i))),
                    "image": img_root / imgs[0],
                    "query": query,
                    "boxes": parsed.boxes,
                    "answer": gpt,
                }
            )
        self._check_not_empty(path)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        boxes = as_boxes_xyxy(r["boxes"])
        if self.box_frame == "norm1000":
            boxes = boxes_from_model_frame(boxes, "norm1000", _image_size(r["image"]))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=r["query"],
            bbox_xyxy=boxes,
            questions=(r["query"],),
            meta={"answer": r["answer"]},
        )


# --------------------------------------------------------------------------------------------
# DOTA labelTxt
# --------------------------------------------------------------------------------------------


def parse_dota_label(path: str | Path) -> list[dict[str, Any]]:
    """Objects of a DOTA ``labelTxt`` file (v1.0 / v1.5).

    Each object line is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (an oriented box as four
    corners in pixels); header lines (``imagesource:``, ``gsd:``) are skipped.

    Returns:
        ``[{"polygon": (4, 2) float64, "name": str, "difficult": bool}]``.

    Raises:
        CorruptDataError: for a line that is neither a header nor an object.
    """
    p = Path(path)
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts or ":" in parts[0]:
            continue
        try:
            coords = np.array([float(v) for v in parts[:8]], dtype=np.float64).reshape(4, 2)
            name = parts[8]
        except (ValueError, IndexError) as exc:
            raise CorruptDataError(f"{p}:{n}: expected 8 numbers, a class and a flag") from exc
        difficult = len(parts) > 9 and parts[9] == "1"
        out.append({"polygon": coords, "name": name, "difficult": difficult})
    return out


class DOTA(EvalDataset):
    """DOTA v1.0/v1.5 object detection, as class-level grounding queries.

    Layout: ``root/{train,val,test}/images/<stem>.png`` and ``root/{split}/labelTxt/<stem>.txt``.
    One sample per (image, class): the query is :data:`CLASS_QUERY_TEMPLATE` (ours: DOTA has
    no referring expressions), the boxes are the axis-aligned hulls of the class's oriented
    boxes (xyxy pixels). ``include_difficult=False`` drops objects flagged difficult.

    Raises:
        DatasetNotFoundError: missing folders or a label without its image.
    """

    name = "dota"
    LAYOUT = "ROOT/{split}/images/*.png, ROOT/{split}/labelTxt/*.txt"

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        classes: Sequence[str] | None = None,
        include_difficult: bool = True,
    ) -> None:
        super().__init__(root, split)
        base = self.root / split
        img_dir = _require_dir(base / "images", "DOTA", self.LAYOUT)
        lbl_dir = _require_dir(base / "labelTxt", "DOTA", self.LAYOUT)
        images = {p.stem: p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        for lbl in sorted(lbl_dir.glob("*.txt")):
            if lbl.stem not in images:
                raise DatasetNotFoundError(f"DOTA: label {lbl} has no image in {img_dir}")
            objs = [o for o in parse_dota_label(lbl) if include_difficult or not o["difficult"]]
            by_class: dict[str, list[list[float]]] = {}
            for o in objs:
                poly = o["polygon"]
                by_class.setdefault(o["name"], []).append(
                    [*poly.min(axis=0).tolist(), *poly.max(axis=0).tolist()]
                )
            for name in sorted(by_class):
                if classes is not None and name not in classes:
                    continue
                self._records.append(
                    {
                        "id": f"{lbl.stem}_{name}",
                        "image": images[lbl.stem],
                        "name": name,
                        "boxes": by_class[name],
                    }
                )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        query = CLASS_QUERY_TEMPLATE.format(name=r["name"].replace("-", " "))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=query,
            bbox_xyxy=as_boxes_xyxy(r["boxes"]),
            questions=(query,),
            label=r["name"],
        )


# --------------------------------------------------------------------------------------------
# iSAID instance masks
# --------------------------------------------------------------------------------------------

#: iSAID class colours in the ``*_instance_color_RGB.png`` files, as (R, G, B). The iSAID devkit
#: lists them in OpenCV's BGR order; these are the same colours read as RGB.
ISAID_CLASS_COLORS_RGB: dict[str, tuple[int, int, int]] = {
    "ship": (0, 0, 63),
    "storage_tank": (0, 63, 63),
    "baseball_diamond": (0, 63, 0),
    "tennis_court": (0, 63, 127),
    "basketball_court": (0, 63, 191),
    "ground_track_field": (0, 63, 255),
    "bridge": (0, 127, 63),
    "large_vehicle": (0, 127, 127),
    "small_vehicle": (0, 0, 127),
    "helicopter": (0, 0, 191),
    "swimming_pool": (0, 0, 255),
    "roundabout": (0, 191, 127),
    "soccer_ball_field": (0, 127, 191),
    "plane": (0, 127, 255),
    "harbor": (0, 100, 155),
}


class ISAID(EvalDataset):
    """iSAID instance segmentation (on DOTA images), as class-level pixel-grounding queries.

    Layout: ``root/{split}/images/<stem>.png`` with ``<stem>_instance_color_RGB.png`` (class
    colours, :data:`ISAID_CLASS_COLORS_RGB`) and ``<stem>_instance_id_RGB.png`` (one colour per
    instance) anywhere under ``root/{split}`` (the official archives put them in
    ``Semantic_masks/images`` and ``Instance_masks/images``). One sample per (image, class
    present): mask = the class's pixels, boxes = one tight box per instance (instance colour
    within the class mask). Query: :data:`CLASS_QUERY_TEMPLATE` (ours).

    Raises:
        DatasetNotFoundError: a missing folder or an image without its colour/id masks.
        CorruptDataError: masks of a different size than each other.
    """

    name = "isaid"
    has_masks = True
    LAYOUT = (
        "ROOT/{split}/images/<stem>.png and <stem>_instance_color_RGB.png, "
        "<stem>_instance_id_RGB.png under ROOT/{split}"
    )

    def __init__(
        self, root: str | Path, split: str = "val", classes: Sequence[str] | None = None
    ) -> None:
        super().__init__(root, split)
        base = self.root / split
        img_dir = _require_dir(base / "images", "iSAID", self.LAYOUT)
        color = {
            p.name[: -len("_instance_color_RGB.png")]: p
            for p in base.rglob("*_instance_color_RGB.png")
        }
        ids = {
            p.name[: -len("_instance_id_RGB.png")]: p for p in base.rglob("*_instance_id_RGB.png")
        }
        for img in sorted(img_dir.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES or "_instance_" in img.name:
                continue
            if img.stem not in color or img.stem not in ids:
                raise DatasetNotFoundError(
                    f"iSAID: image {img.name} has no {img.stem}_instance_color_RGB.png and "
                    f"{img.stem}_instance_id_RGB.png under {base}"
                )
            sem = _read_rgb_label(color[img.stem])
            present = {tuple(int(v) for v in c) for c in np.unique(sem.reshape(-1, 3), axis=0)}
            for name, rgb in ISAID_CLASS_COLORS_RGB.items():
                if rgb in present and (classes is None or name in classes):
                    self._records.append(
                        {
                            "id": f"{img.stem}_{name}",
                            "image": img,
                            "name": name,
                            "color": color[img.stem],
                            "ids": ids[img.stem],
                        }
                    )
        self._check_not_empty(base)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        sem = _read_rgb_label(r["color"])
        inst = _read_rgb_label(r["ids"])
        if sem.shape != inst.shape:
            raise CorruptDataError(f"iSAID: {r['color']} and {r['ids']} differ in size")
        mask = np.all(sem == np.array(ISAID_CLASS_COLORS_RGB[r["name"]], np.uint8), axis=-1)
        codes = inst.astype(np.int64) @ np.array([1, 256, 65536])  # (H, W) instance colour code
        boxes = []
        for code in np.unique(codes[mask]):
            if code == 0:
                continue
            box = mask_to_box(mask & (codes == code))
            if box is not None:
                boxes.append(box)
        boxes.sort()
        query = CLASS_QUERY_TEMPLATE.format(name=r["name"].replace("_", " "))
        return EvalSample(
            id=r["id"],
            image_path=r["image"],
            query=query,
            bbox_xyxy=as_boxes_xyxy(boxes),
            mask=mask,
            questions=(query,),
            label=r["name"],
        )


# --------------------------------------------------------------------------------------------
# Generic JSONL (rs-samples layout)
# --------------------------------------------------------------------------------------------


class JSONLQueries(EvalDataset):
    """Any folder in the ``rs-samples`` layout: ``root/queries.jsonl`` plus the files it names.

    Each line: ``{"id", "image", "query", "gt_boxes": [[x1, y1, x2, y2], ...] (original
    pixels), "gt_mask": "masks/x.png" | null, ...}``; paths are relative to ``root``. Every
    line is a sample (there are no splits; ``split`` is recorded only). Extra fields go to
    ``meta``.

    Raises:
        DatasetNotFoundError: no ``queries.jsonl``; CorruptDataError: a bad line.
    """

    name = "jsonl"
    splits = ()
    REQUIRED = ("id", "image", "query", "gt_boxes")

    def __init__(self, root: str | Path, split: str = "test", filename: str = "queries.jsonl"):
        super().__init__(root, split)
        path = self.root / filename if self.root.is_dir() else self.root
        if not path.is_file():
            raise DatasetNotFoundError(
                f"jsonl: {path} not found; expected ROOT/{filename} with one JSON object per "
                f"line holding {list(self.REQUIRED)} and optionally gt_mask"
            )
        base = path.parent
        seen: set[str] = set()
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorruptDataError(f"{path}:{n}: invalid JSON ({exc})") from exc
            missing = [k for k in self.REQUIRED if k not in rec]
            if missing:
                raise CorruptDataError(f"{path}:{n}: missing field(s) {missing}")
            if rec["id"] in seen:
                raise CorruptDataError(f"{path}:{n}: duplicate id {rec['id']!r}")
            seen.add(rec["id"])
            self._records.append({**rec, "_base": base})
        self._check_not_empty(path)

    @property
    def has_masks(self) -> bool:  # type: ignore[override]
        """True when every sample has a ``gt_mask``."""
        return bool(self._records) and all(r.get("gt_mask") for r in self._records)

    def _load(self, r: dict[str, Any]) -> EvalSample:
        base: Path = r["_base"]
        mask = read_mask(base / r["gt_mask"]) if r.get("gt_mask") else None
        meta = {k: v for k, v in r.items() if k not in (*self.REQUIRED, "gt_mask", "_base")}
        return EvalSample(
            id=str(r["id"]),
            image_path=base / r["image"],
            query=r["query"],
            bbox_xyxy=as_boxes_xyxy(r["gt_boxes"]),
            mask=mask,
            questions=(r["query"],),
            label=r.get("target_class"),
            meta=meta,
        )

    def with_masks_only(self) -> JSONLQueries:
        """A view of the samples that have a ``gt_mask`` (for the pixel and contour tasks)."""
        view = object.__new__(JSONLQueries)
        view.__dict__.update(self.__dict__)
        view._records = [r for r in self._records if r.get("gt_mask")]
        return view


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
