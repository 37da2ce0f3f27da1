"""RRSISD: referring remote-sensing image segmentation (refer-style pickle + COCO JSON)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from georeason.eval.datasets.base import (
    CorruptDataError,
    DatasetNotFoundError,
    EvalDataset,
    EvalSample,
    read_json,
    require_dir,
)
from georeason.geometry import as_boxes_xyxy
from georeason.masks import decode_rle


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
        ddir = require_dir(self.root / dataset_dir, "RRSIS-D", self.LAYOUT)
        refs = self._read_refs(ddir, split_by)
        inst_path = ddir / "instances.json"
        if not inst_path.is_file():
            raise DatasetNotFoundError(f"RRSIS-D: {inst_path} not found. Layout: {self.LAYOUT}")
        inst = read_json(inst_path)
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
            return read_json(js)
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
            boxes_xyxy_px=as_boxes_xyxy([[x, y, x + bw, y + bh]]),
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
