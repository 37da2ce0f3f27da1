"""Whole scenes larger than the model's input: windowed reads, overlapping tiles, box merging,
per-box segmentation windows and a label COG written window by window.

The scene is never read whole at full resolution. :class:`SceneReader` reads windows with
rasterio and applies one scene-wide percentile stretch (computed once from a decimated read, so
tiles of a 16-bit scene look alike). :func:`locate_scene` runs the policy on overlapping tiles
(:func:`tile_windows`; optionally also once on the whole scene downsampled, the *overview*
pass, for queries about large structures), maps each tile's boxes to scene pixels, fuses the
duplicates that tile overlaps create (:func:`merge_boxes`, over the project's one IoU,
:func:`georeason.geometry.box_iou_matrix`), then segments each kept box on a window around it
and writes its mask into a label GeoTIFF, window by window, finally copied to a COG
(:func:`georeason.gis.copy_to_cog`).

Every tile's answer is appended to ``OUT/tiles.jsonl`` as it finishes: an interrupted run,
started again with the same command, skips the finished tiles (``OUT/scene_run.json`` records
the settings; a different run in the same folder is refused).

Defaults that no paper fixes are ours: tile side = the side of the model's pixel budget
(``floor(sqrt(max_pixels) / 28) * 28`` = 896 px for 802,816, so a tile is seen at full
resolution), overlap 128 px (a target up to 128 px wide is whole in at least one tile), merge
when IoU >= 0.5 or when the smaller box lies >= 80 % inside the larger (a piece cut by a tile
border), segmentation window = box + 25 % margin on each side (at least 16 px).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from georeason.errors import UserInputError
from georeason.scene_reader import GDAL_CACHE_MB, SceneReader
from georeason.tiling import (
    DEFAULT_TILE_OVERLAP_PX,
    default_tile_size,
    merge_boxes,
    tile_windows,
)

__all__ = [
    "DEFAULT_TILE_OVERLAP_PX",
    "SceneReader",
    "SceneResult",
    "default_tile_size",
    "locate_scene",
    "merge_boxes",
    "segment_scene",
    "segment_window",
    "tile_windows",
    "write_scene_outputs",
]

SEGMENT_MARGIN = 0.25
SEGMENT_MIN_MARGIN_PX = 16


@dataclass
class SceneResult:
    """What :func:`locate_scene` found.

    Attributes:
        boxes_xyxy_px: ``(N, 4)`` merged boxes in scene pixels.
        sources: per box, the tiles (ids; ``-1`` = the overview pass) whose boxes it fuses.
        polygons_px: per box, its contour polygons in scene pixels.
        texts: the policy's answer per tile id (empty with given boxes).
        timings_s: seconds per stage (``tiles``, ``overview``, ``segment``, ``write``).
    """

    boxes_xyxy_px: np.ndarray
    sources: list[list[int]]
    polygons_px: list[list[Any]]
    texts: dict[int, str]
    tiles: list[tuple[int, int, int, int]]
    timings_s: dict[str, float] = field(default_factory=dict)
    resumed_tiles: int = 0


def _check_run(out: Path, settings: dict[str, Any]) -> None:
    import json

    from georeason.io import write_json

    path = out / "scene_run.json"
    if path.exists() and (out / "tiles.jsonl").exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if diff:
            raise UserInputError(
                f"{out} holds tiles of a different run (differs in: {', '.join(diff)}); use a "
                "new --out"
            )
    write_json(path, settings)


def predict_tiles(
    reader: SceneReader,
    query: str,
    policy: Any,
    tiles: list[tuple[int, int, int, int]],
    out: Path,
    max_new_tokens: int = 512,
    progress: bool = True,
    on_tile: Callable[[int], None] | None = None,
) -> tuple[list[np.ndarray], dict[int, str], int]:
    """Run the policy on every tile not yet in ``OUT/tiles.jsonl``; returns per tile its boxes
    in scene pixels, the texts, and how many tiles were resumed."""
    from georeason.jsonl import JsonlAppender, read_jsonl

    done = {
        int(r["tile"]): r
        for r in read_jsonl(out / "tiles.jsonl", torn_tail="repair", missing_ok=True)
    }
    resumed = len(done)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tiles), initial=len(done), desc="tiles", unit="tile")
    with JsonlAppender(out / "tiles.jsonl", fsync=True) as f:
        for t, (col, row, w, h) in enumerate(tiles):
            if t in done:
                continue
            if on_tile is not None:
                on_tile(t)
            loc = policy.locate([reader.read_rgb((col, row, w, h))], [query], max_new_tokens)[0]
            boxes = loc.boxes_xyxy_px + np.array([col, row, col, row], dtype=np.float64)
            rec = {
                "tile": t,
                "window": [col, row, w, h],
                "boxes_xyxy_px": [[round(float(v), 3) for v in b] for b in boxes],
                "text": loc.text,
            }
            f.write(rec)
            done[t] = rec
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    per_tile = [
        np.asarray(done[t]["boxes_xyxy_px"], np.float64).reshape(-1, 4) for t in range(len(tiles))
    ]
    texts = {t: done[t]["text"] for t in range(len(tiles))}
    return per_tile, texts, resumed


def locate_scene(
    reader: SceneReader,
    query: str,
    segmenter: Any,
    out_dir: str | Path,
    policy: Any = None,
    boxes_xyxy_px: np.ndarray | None = None,
    tile_size: int = 896,
    overlap: int = DEFAULT_TILE_OVERLAP_PX,
    overview: bool = False,
    max_new_tokens: int = 512,
    progress: bool = True,
    on_tile: Callable[[int], None] | None = None,
) -> SceneResult:
    """Locate, merge and segment on a whole scene; writes ``OUT/tiles.jsonl`` and
    ``OUT/mask.tif`` (label COG, see :mod:`georeason.gis`).

    Args:
        reader: the scene (:meth:`SceneReader.open`).
        query: the query.
        segmenter: box-prompted segmenter, run on a window around each box.
        out_dir: output folder (resumes its ``tiles.jsonl``).
        policy: the policy (in-process or served); or give ``boxes_xyxy_px`` (scene px).
        tile_size, overlap: see :func:`tile_windows` and the module docstring.
        overview: also run the policy once on the whole scene decimated.
        on_tile: called with each tile id before it is predicted (progress, tests).

    Raises:
        ValueError: both or neither of ``policy`` and ``boxes_xyxy_px``.
        UserInputError: bad tile settings, or ``out_dir`` holds a different run.
    """
    if (policy is None) == (boxes_xyxy_px is None):
        raise ValueError("give exactly one of policy or boxes_xyxy_px")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiles = tile_windows(reader.width, reader.height, tile_size, overlap)
    timings: dict[str, float] = {}
    texts: dict[int, str] = {}
    resumed = 0
    if policy is not None:
        _check_run(
            out,
            {
                "scene": str(Path(reader.path).resolve()),
                "query": query,
                "model": getattr(policy, "model_name", None),
                "tile_size": tile_size,
                "overlap": overlap,
                "bands": list(reader.bands),
                "max_new_tokens": max_new_tokens,
            },
        )
        t0 = time.perf_counter()
        per_tile, texts, resumed = predict_tiles(
            reader, query, policy, tiles, out, max_new_tokens, progress, on_tile
        )
        timings["tiles"] = time.perf_counter() - t0
        all_boxes = list(per_tile)
        owners = [t for t, b in enumerate(per_tile) for _ in range(len(b))]
        if overview:
            t0 = time.perf_counter()
            rgb, scale = reader.overview_rgb()
            loc = policy.locate([rgb], [query], max_new_tokens)[0]
            all_boxes.append(loc.boxes_xyxy_px * scale)
            owners += [-1] * len(loc.boxes_xyxy_px)
            texts[-1] = loc.text
            timings["overview"] = time.perf_counter() - t0
        raw = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4))
    else:
        raw = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
        owners = [_tile_of(b, tiles) for b in raw]
    boxes, groups = merge_boxes(raw)
    sources = [sorted({owners[i] for i in g}) for g in groups]
    t0 = time.perf_counter()
    polygons = segment_scene(reader, boxes, segmenter, out, progress=progress)
    timings["segment"] = time.perf_counter() - t0
    return SceneResult(boxes, sources, polygons, texts, tiles, timings, resumed)


def _tile_of(box: np.ndarray, tiles: list[tuple[int, int, int, int]]) -> int:
    """The first tile that holds a box's centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for t, (c, r, w, h) in enumerate(tiles):
        if c <= cx < c + w and r <= cy < r + h:
            return t
    return 0


def segment_window(box_xyxy_px: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The window ``(col_off, row_off, w, h)`` that a box is segmented on: the box plus
    :data:`SEGMENT_MARGIN` of its size on each side (at least :data:`SEGMENT_MIN_MARGIN_PX`),
    clipped to the scene."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy_px)
    mx = max(SEGMENT_MIN_MARGIN_PX, SEGMENT_MARGIN * (x2 - x1))
    my = max(SEGMENT_MIN_MARGIN_PX, SEGMENT_MARGIN * (y2 - y1))
    c0, r0 = max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my))
    c1, r1 = min(width, math.ceil(x2 + mx)), min(height, math.ceil(y2 + my))
    return c0, r0, max(1, c1 - c0), max(1, r1 - r0)


def segment_scene(
    reader: SceneReader,
    boxes_xyxy_px: np.ndarray,
    segmenter: Any,
    out: Path,
    progress: bool = True,
) -> list[list[Any]]:
    """Segment each box on its window, write the masks into ``OUT/mask.tif`` (label COG,
    value ``i + 1`` for box ``i``), and return each box's contour polygons in scene pixels."""
    import rasterio
    from rasterio.windows import Window
    from shapely.affinity import translate

    from georeason.gis import copy_to_cog, label_profile
    from georeason.masks import DEFAULT_SIMPLIFY_TOLERANCE_PX, mask_to_polygons

    tmp = out / ".mask-build.tif"
    profile = label_profile(reader.height, reader.width, reader.transform, reader.crs)
    polygons: list[list[Any]] = []
    bar = None
    if progress and len(boxes_xyxy_px):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(boxes_xyxy_px), desc="segment", unit="box")
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(tmp, "w+", **profile) as dst:
        for i, b in enumerate(np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)):
            col, row, w, h = segment_window(b, reader.width, reader.height)
            rgb = reader.read_rgb((col, row, w, h))
            local = (b - np.array([col, row, col, row]))[None]
            mask = segmenter.segment(rgb, local)[0].astype(bool)
            win = Window(col, row, w, h)
            labels = dst.read(1, window=win)
            labels[mask] = i + 1
            dst.write(labels, 1, window=win)
            polys = mask_to_polygons(mask, DEFAULT_SIMPLIFY_TOLERANCE_PX)
            polygons.append([translate(p, xoff=col, yoff=row) for p in polys])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    try:
        copy_to_cog(tmp, out / "mask.tif")
    finally:
        tmp.unlink(missing_ok=True)
    return polygons


def write_scene_outputs(
    result: SceneResult,
    reader: SceneReader,
    query: str,
    out_dir: str | Path,
    model: str | None = None,
    weights: str | None = None,
    geojson_crs: str = "wgs84",
    gpkg: bool = False,
) -> dict[str, Path]:
    """Write ``result.json``, ``overlay.png`` (the overview with boxes and contours),
    ``result.geojson`` (features carry ``tile_id``: the first tile that found the box, ``-1``
    for the overview pass, and ``tiles``) and, with ``gpkg``, ``result.gpkg``; ``mask.tif`` is
    already there (:func:`segment_scene`). Returns the paths by name."""
    from PIL import Image
    from shapely.affinity import scale as shapely_scale
    from shapely.geometry import mapping

    from georeason.geojson import build_feature_collection
    from georeason.gis import write_geopackage
    from georeason.io import atomic_path, write_json
    from georeason.render import render_overlay

    out = Path(out_dir)
    t0 = time.perf_counter()
    meta = {"query": query, "model": model, "weights": weights}
    props = [{"tile_id": int(src[0]), "tiles": src} for src in result.sources]

    def collection(frame: str) -> dict:
        return build_feature_collection(
            result.boxes_xyxy_px,
            result.polygons_px,
            reader.transform,
            reader.crs,
            meta,
            geojson_crs=frame,
            box_properties=props,
        )

    paths = {"result.json": out / "result.json", "overlay.png": out / "overlay.png"}
    paths["result.geojson"] = out / "result.geojson"
    write_json(paths["result.geojson"], collection(geojson_crs))
    if gpkg:
        paths["result.gpkg"] = write_geopackage(
            out / "result.gpkg", collection("source"), reader.crs if reader.georeferenced else None
        )
    rgb, s = reader.overview_rgb()
    small = [
        [shapely_scale(p, 1 / s, 1 / s, origin=(0, 0)) for p in ps] for ps in result.polygons_px
    ]
    overlay = render_overlay(rgb, result.boxes_xyxy_px / s, (), small)
    with atomic_path(paths["overlay.png"]) as tmp:
        Image.fromarray(overlay).save(tmp)
    result.timings_s["write"] = time.perf_counter() - t0
    write_json(
        paths["result.json"],
        {
            "image": reader.path,
            "query": query,
            "model": model,
            "weights": weights,
            "scene_px": [reader.width, reader.height],
            "tiles": [list(t) for t in result.tiles],
            "resumed_tiles": result.resumed_tiles,
            "boxes_xyxy_px": [[round(float(v), 3) for v in b] for b in result.boxes_xyxy_px],
            "box_tiles": result.sources,
            "contours_px": [[mapping(p)["coordinates"] for p in ps] for ps in result.polygons_px],
            "tile_texts": {str(k): v for k, v in sorted(result.texts.items())},
            "masks": "mask.tif (label COG: value i + 1 = box i)",
            "crs": reader.crs,
            "timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
        },
    )
    paths["mask.tif"] = out / "mask.tif"
    return paths
