"""The inference workflow: locate (policy) -> segment (box prompts) -> contour -> outputs.

RemoteReasoner (2025), inference: one MLLM pass gives boxes; each box (with its centre as a
positive point) prompts SAM2 for one mask; the mask's external boundary is the contour. Here the
segmenter is pluggable (``sam2``, the weights-free ``default``, or ``box``) and the boxes can come
from a policy or from the user.

Outputs (:func:`write_outputs`): ``result.json``, ``overlay.png`` and ``result.geojson``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from shapely.geometry import Polygon, mapping

from georeason.geojson import build_feature_collection
from georeason.geometry import as_boxes_xyxy, sanitize_boxes, validate_boxes_xyxy
from georeason.io import RasterImage, atomic_path, write_json
from georeason.masks import DEFAULT_SIMPLIFY_TOLERANCE_PX, encode_rle, mask_to_polygons
from georeason.render import render_overlay

if TYPE_CHECKING:
    from georeason.models.policy import Policy
    from georeason.models.segmenters import Segmenter


@dataclass
class WorkflowResult:
    """Everything the workflow produced for one (image, query).

    Attributes:
        boxes_xyxy_px: ``(N, 4)`` float64 boxes in original-image pixels.
        masks: N ``(H, W)`` bool masks, one per box.
        polygons_px: N lists of shapely polygons (pixel coordinates), one list per mask.
        weights: ``"random"`` for random-weight models (never a real prediction),
            ``"pretrained"``, or None when the boxes were given by the user.
        parse_status: the parser's status (``"given"`` when boxes were given).
        candidates: with test-time verification (``samples > 1``), every sampled answer with
            its boxes and verifier score (:meth:`georeason.bestofn.BestOfN.to_json`); else None.
    """

    image: str
    query: str
    model: str | None
    weights: str | None
    reasoning: str
    parse_status: str
    boxes_xyxy_px: np.ndarray
    masks: list[np.ndarray]
    polygons_px: list[list[Polygon]]
    segmenter: str
    crs: str | None
    raw_text: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``result.json`` document (masks as COCO RLE, contours as pixel rings)."""
        return {
            "image": self.image,
            "query": self.query,
            "model": self.model,
            "weights": self.weights,
            "reasoning": self.reasoning,
            "raw_text": self.raw_text,
            "parse_status": self.parse_status,
            "boxes_xyxy_px": [[round(float(v), 3) for v in b] for b in self.boxes_xyxy_px],
            "segmenter": self.segmenter,
            "masks": [encode_rle(m) for m in self.masks],
            "contours_px": [
                [mapping(p)["coordinates"] for p in polys] for polys in self.polygons_px
            ],
            "crs": self.crs,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            **({"candidates": self.candidates} if self.candidates is not None else {}),
        }


def segment_and_contour(
    image: RasterImage,
    boxes_xyxy_px: np.ndarray,
    segmenter: Segmenter,
    simplify_tolerance_px: float = DEFAULT_SIMPLIFY_TOLERANCE_PX,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[list[np.ndarray], list[list[Polygon]], dict[str, float]]:
    """Masks for the boxes and their external contours. Returns ``(masks, polygons, timings)``.

    ``on_stage`` (optional) is called with ``"segment"`` and ``"contour"`` as each stage starts.
    """
    stage = on_stage or (lambda name: None)
    stage("segment")
    t0 = time.perf_counter()
    masks = segmenter.segment(image.rgb, boxes_xyxy_px) if len(boxes_xyxy_px) else []
    t1 = time.perf_counter()
    stage("contour")
    polygons = [mask_to_polygons(m, simplify_tolerance_px) for m in masks]
    t2 = time.perf_counter()
    return masks, polygons, {"segment": t1 - t0, "contour": t2 - t1}


def locate(
    image: RasterImage,
    query: str,
    segmenter: Segmenter,
    policy: Policy | None = None,
    boxes_xyxy_px: np.ndarray | None = None,
    max_new_tokens: int = 512,
    simplify_tolerance_px: float = DEFAULT_SIMPLIFY_TOLERANCE_PX,
    samples: int = 1,
    verifier: Any = None,
    temperature: float = 0.9,
    verifier_input: str = "context_crop",
    segment: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> WorkflowResult:
    """Run the workflow on one image: boxes (from the policy or given) -> masks -> contours.

    Args:
        image: the image (see :func:`georeason.io.read_image`).
        query: the natural-language query.
        segmenter: box-prompted segmenter (:func:`georeason.models.segmenters.build_segmenter`).
        policy: a loaded policy; exactly one of ``policy`` and ``boxes_xyxy_px`` is needed.
        boxes_xyxy_px: ``(N, 4)`` boxes in original pixels given by the user.
        max_new_tokens: generation budget of the policy.
        simplify_tolerance_px: contour simplification tolerance (pixels).
        samples: 1 = greedy decoding; N > 1 = test-time verification: N answers sampled at
            ``temperature``, each scored by the verification reward, the best kept
            (:func:`georeason.bestofn.best_of_n`; costs N generations + N verifications).
        verifier: the verifier for ``samples > 1`` (None: the policy's own model as verifier).
        temperature: sampling temperature for ``samples > 1`` (0.9, the papers' rollouts).
        verifier_input: what the verifier sees of each box (:mod:`georeason.verifier_inputs`).
        segment: False stops after the boxes (the region task): no masks, no contours.
        on_stage: optional progress callback, called with ``"locate"``, ``"segment"`` and
            ``"contour"`` as each stage starts (the web app's progress bar).

    Raises:
        ValueError: if both or neither of ``policy`` and ``boxes_xyxy_px`` are given, or given
            boxes are invalid or outside the image.
    """
    if (policy is None) == (boxes_xyxy_px is None):
        raise ValueError("give exactly one of policy or boxes_xyxy_px")
    timings: dict[str, float] = {}
    if policy is not None:
        if on_stage is not None:
            on_stage("locate")
        t0 = time.perf_counter()
        candidates = None
        if samples > 1:
            from georeason.bestofn import best_of_n

            if verifier is None:
                from georeason.models.verifier import LocalVerifier

                verifier = LocalVerifier(policy.model, policy.processor)
            bon = best_of_n(
                policy,
                verifier,
                [image],
                [query],
                n=samples,
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                input_mode=verifier_input,
            )[0]
            loc, candidates = bon.best, bon.to_json()
        else:
            loc = policy.locate([image], [query], max_new_tokens=max_new_tokens)[0]
        timings["locate"] = time.perf_counter() - t0
        boxes = loc.boxes_xyxy_px
        reasoning, status, raw = loc.parse.reasoning, loc.parse.status, loc.text
        model, weights = policy.model_name, policy.weights
    else:
        boxes = validate_boxes_xyxy(boxes_xyxy_px, image.width, image.height)
        boxes, _ = sanitize_boxes(boxes, image.width, image.height)
        reasoning, status, raw, model, weights = "", "given", None, None, None
    boxes = as_boxes_xyxy(boxes)
    masks: list[np.ndarray] = []
    polygons: list[list[Polygon]] = []
    if segment:
        masks, polygons, t_seg = segment_and_contour(
            image, boxes, segmenter, simplify_tolerance_px, on_stage
        )
        timings.update(t_seg)
    return WorkflowResult(
        image=image.path,
        query=query,
        model=model,
        weights=weights,
        reasoning=reasoning,
        parse_status=status,
        boxes_xyxy_px=boxes,
        masks=masks,
        polygons_px=polygons,
        segmenter=getattr(segmenter, "name", type(segmenter).__name__) if segment else "none",
        crs=image.crs,
        raw_text=raw,
        timings_s=timings,
        candidates=candidates if policy is not None else None,
    )


def write_outputs(
    result: WorkflowResult,
    image: RasterImage,
    out_dir: str | Path,
    gt_boxes_xyxy_px: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
    geojson_crs: str = "wgs84",
    gpkg: bool = False,
    mask_tif: bool = True,
) -> dict[str, Path]:
    """Write the workflow's files into ``out_dir`` (each atomically).

    * ``result.json``: everything (:meth:`WorkflowResult.to_json`);
    * ``overlay.png``: boxes, masks and contours drawn over the image;
    * ``result.geojson``: RFC 7946 (WGS 84 longitude/latitude) for a georeferenced image, or in
      its own CRS with ``geojson_crs="source"``; in pixel coordinates otherwise (see
      :mod:`georeason.geojson`);
    * ``mask.tif`` (``mask_tif``, when there are masks): the masks as a label Cloud-Optimized
      GeoTIFF in the image's CRS and transform (:func:`georeason.gis.write_label_cog`);
    * ``result.gpkg`` (``gpkg``): the GeoJSON's features as a GeoPackage in the image's own CRS
      (:func:`georeason.gis.write_geopackage`).

    Returns the paths written, by name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_json()
    if extra:
        doc.update(extra)
    paths = {
        "result.json": out / "result.json",
        "overlay.png": out / "overlay.png",
        "result.geojson": out / "result.geojson",
    }
    write_json(paths["result.json"], doc)
    overlay = render_overlay(
        image.rgb, result.boxes_xyxy_px, result.masks, result.polygons_px, gt_boxes_xyxy_px
    )
    with atomic_path(paths["overlay.png"]) as tmp:
        Image.fromarray(overlay).save(tmp)
    meta = {"query": result.query, "model": result.model, "weights": result.weights}

    def collection(frame: str) -> dict:
        return build_feature_collection(
            result.boxes_xyxy_px,
            result.polygons_px,
            image.transform,
            image.crs,
            meta,
            geojson_crs=frame,
        )

    write_json(paths["result.geojson"], collection(geojson_crs))
    if mask_tif and result.masks:
        from georeason.gis import label_raster, write_label_cog

        paths["mask.tif"] = write_label_cog(
            out / "mask.tif",
            label_raster(result.masks, image.height, image.width),
            image.transform,
            image.crs,
        )
    if gpkg:
        from georeason.gis import write_geopackage

        paths["result.gpkg"] = write_geopackage(
            out / "result.gpkg", collection("source"), image.crs if image.georeferenced else None
        )
    return paths
