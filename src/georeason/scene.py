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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from georeason.errors import UserInputError
from georeason.geometry import box_area, box_iou_matrix
from georeason.io import (
    ImageReadError,
    apply_stretch,
    rgb_band_indices,
    select_rgb,
    stretch_limits,
)

DEFAULT_TILE_OVERLAP_PX = 128
#: largest side of the decimated read that sets the scene-wide stretch and the overview image
OVERVIEW_MAX_SIDE_PX = 2048
MERGE_IOU = 0.5
MERGE_CONTAINMENT = 0.8
SEGMENT_MARGIN = 0.25
SEGMENT_MIN_MARGIN_PX = 16
#: GDAL block cache while reading a scene (MB; ours: keeps the resident memory bounded)
GDAL_CACHE_MB = 256


def default_tile_size(max_pixels: int, factor: int = 28) -> int:
    """The tile side (px) that the model sees at full resolution: the largest multiple of
    ``factor`` whose square fits ``max_pixels``.

    >>> default_tile_size(802_816)
    896
    """
    return max(factor, int(math.isqrt(int(max_pixels)) // factor) * factor)


def tile_windows(
    width: int, height: int, tile_size: int, overlap: int
) -> list[tuple[int, int, int, int]]:
    """Overlapping windows ``(col_off, row_off, width, height)`` covering a scene.

    Tiles advance by ``tile_size - overlap``; the last tile of a row or column is moved back to
    end at the scene's edge (so every tile is full size when the scene is at least one tile
    wide, and neighbours overlap by at least ``overlap``). Order: row by row, top-left first.

    Raises:
        UserInputError: ``tile_size < 32`` or ``overlap`` not in ``[0, tile_size / 2]``.

    >>> tile_windows(2000, 1000, 1024, 128)  # 976 alone would overlap the first by 48 px only
    [(0, 0, 1024, 1000), (896, 0, 1024, 1000), (976, 0, 1024, 1000)]
    """
    if tile_size < 32:
        raise UserInputError(f"--tile-size must be at least 32 px, got {tile_size}")
    if not 0 <= overlap <= tile_size // 2:
        raise UserInputError(
            f"--tile-overlap must be in 0..{tile_size // 2} (half the tile), got {overlap}"
        )

    def starts(length: int) -> list[int]:
        if length <= tile_size:
            return [0]
        stride = tile_size - overlap
        out = list(range(0, length - tile_size, stride))
        out.append(length - tile_size)
        return out

    return [
        (c, r, min(tile_size, width), min(tile_size, height))
        for r in starts(height)
        for c in starts(width)
    ]


def merge_boxes(
    boxes_xyxy_px: np.ndarray,
    iou_threshold: float = MERGE_IOU,
    containment_threshold: float = MERGE_CONTAINMENT,
) -> tuple[np.ndarray, list[list[int]]]:
    """Fuse the duplicates that overlapping tiles produce.

    Two boxes are the same target when their IoU is at least ``iou_threshold`` or the smaller
    lies at least ``containment_threshold`` inside the larger (intersection over the smaller
    area: a piece of the target cut by a tile border). Connected groups are fused into their
    enclosing box. Policies give no scores, so there is nothing to rank by: fusion, not NMS.

    Args:
        boxes_xyxy_px: ``(N, 4)`` boxes in scene pixels.

    Returns:
        ``(M, 4)`` fused boxes (ordered by their first member) and, for each, the indices of
        the input boxes it fuses.

    >>> b = np.array([[0, 0, 100, 100], [90, 0, 100, 100], [300, 300, 310, 310]], float)
    >>> fused, groups = merge_boxes(b)
    >>> fused.tolist(), groups
    ([[0.0, 0.0, 100.0, 100.0], [300.0, 300.0, 310.0, 310.0]], [[0, 1], [2]])
    """
    boxes = np.asarray(boxes_xyxy_px, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return boxes, []
    iou = box_iou_matrix(boxes, boxes)
    area = box_area(boxes)
    inter = iou * (area[:, None] + area[None, :]) / (1.0 + iou)  # |A∩B| from IoU
    smaller = np.minimum(area[:, None], area[None, :])
    contained = np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)
    same = (iou >= iou_threshold) | (contained >= containment_threshold)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(same, k=1)), strict=True):
        parent[find(int(j))] = find(int(i))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    members = sorted(groups.values(), key=lambda g: g[0])
    fused = np.array(
        [
            [
                boxes[g, 0].min(),
                boxes[g, 1].min(),
                boxes[g, 2].max(),
                boxes[g, 3].max(),
            ]
            for g in members
        ]
    )
    return fused, members


@dataclass
class SceneReader:
    """Windowed RGB reads of one raster with a scene-wide stretch.

    Build with :meth:`open`. Attributes: ``width``, ``height`` (px), ``count`` (bands),
    ``transform``, ``crs`` (None when not georeferenced), ``bands`` (1-based, as RGB),
    ``limits`` (per-band stretch, None for uint8 data).
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    transform: Any
    crs: str | None
    nodata: float | None
    bands: tuple[int, int, int]
    limits: list[tuple[float, float] | None] | None = None
    _overview: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | Path, bands: tuple[int, ...] | None = None) -> SceneReader:
        """Open a raster (GeoTIFF, or any format GDAL reads) and set its stretch.

        Raises:
            ImageReadError: missing or unreadable file, or bands it does not have.
        """
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        from georeason.io import crs_string

        p = Path(path)
        if not p.is_file():
            raise ImageReadError(f"{p}: no such file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(p) as ds:
                    georef = ds.crs is not None and not ds.transform.is_identity
                    reader = cls(
                        str(p),
                        ds.width,
                        ds.height,
                        ds.count,
                        ds.dtypes[0],
                        ds.transform if georef else None,
                        crs_string(ds.crs) if georef else None,
                        ds.nodata,
                        rgb_band_indices(ds.count, bands),
                    )
        except RasterioIOError as exc:
            raise ImageReadError(
                f"{p}: not a readable raster ({str(exc).splitlines()[0]})"
            ) from exc
        overview = reader._read_overview_stack()
        if reader.dtype != "uint8":
            reader.limits = stretch_limits(overview, reader.nodata)
        reader._overview = reader._to_rgb(overview)
        return reader

    @property
    def georeferenced(self) -> bool:
        return self.transform is not None and self.crs is not None

    def _env(self):  # -> rasterio.Env
        import rasterio

        return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)

    def _read_overview_stack(self) -> np.ndarray:
        import rasterio

        scale = max(self.width, self.height) / OVERVIEW_MAX_SIDE_PX
        h, w = self.height, self.width
        if scale > 1:
            h, w = max(1, round(self.height / scale)), max(1, round(self.width / scale))
        with self._env(), rasterio.open(self.path) as ds:
            # GDAL uses the file's overviews when it has some; nearest keeps data values
            return ds.read(indexes=sorted(set(self.bands)), out_shape=(len(set(self.bands)), h, w))

    def _to_rgb(self, stack: np.ndarray) -> np.ndarray:
        order = sorted(set(self.bands))
        if self.limits is not None:
            stack = apply_stretch(stack, self.limits, self.nodata)
        elif stack.dtype != np.uint8:
            stack = np.clip(stack, 0, 255).astype(np.uint8)
        picked = tuple(order.index(b) + 1 for b in self.bands)
        return np.ascontiguousarray(select_rgb(stack, picked))

    def overview_rgb(self) -> tuple[np.ndarray, float]:
        """The whole scene decimated to at most :data:`OVERVIEW_MAX_SIDE_PX` per side:
        ``(rgb (h, w, 3) uint8, scale)`` where scene px = overview px x ``scale``."""
        rgb = self._overview
        return rgb, self.width / rgb.shape[1]

    def read_rgb(self, window: tuple[int, int, int, int]) -> np.ndarray:
        """``(h, w, 3)`` uint8 of a window ``(col_off, row_off, width, height)`` in scene px,
        with the scene-wide stretch."""
        import rasterio
        from rasterio.windows import Window

        col, row, w, h = window
        with self._env(), rasterio.open(self.path) as ds:
            stack = ds.read(indexes=sorted(set(self.bands)), window=Window(col, row, w, h))
        return self._to_rgb(stack)


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
