"""What the web app does for one request, without Gradio: the ``locate`` workflow and its files.

:class:`AppBackend` holds the loaded policy and segmenter; :meth:`AppBackend.run` reads the
uploaded image exactly as ``georeason locate`` does (:func:`georeason.io.read_image`), runs
:func:`georeason.workflow.locate` and writes its files with
:func:`georeason.workflow.write_outputs` into a fresh folder per request. There is no second
code path: the app only chooses what to draw and which files to offer for the task.

Tasks (the three outputs of RemoteReasoner's inference workflow):

* ``region``: boxes only (no segmentation); GeoJSON/GeoPackage of the boxes.
* ``pixel``: boxes -> masks; the overlay tints the masks; ``mask.tif`` is offered.
* ``contour``: boxes -> masks -> contours; the overlay outlines the contours.

A scene over the whole-image limit (400 megapixels), or any image when the backend has a
``tile_size``, goes through the same tiled path as ``georeason locate`` (:mod:`georeason.scene`):
windowed reads, overlapping tiles (progress per tile), fused boxes, masks in a label COG; the
overlay is then the scene's overview with boxes and contours.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from georeason.errors import UserInputError

if TYPE_CHECKING:
    import numpy as np

    from georeason.models.policy import Policy
    from georeason.models.segmenters import Segmenter

TASKS: tuple[str, ...] = ("region", "pixel", "contour")

#: fraction of the progress bar at the start of each stage (ours, for the display only)
STAGE_PROGRESS: dict[str, float] = {
    "read": 0.02,
    "locate": 0.1,
    "segment": 0.6,
    "contour": 0.8,
    "write": 0.9,
}


@dataclass
class AppResult:
    """The outputs of one request.

    Attributes:
        reasoning: the policy's reasoning text (its ``<think>`` part), or its whole text, so
            labelled, when it gave no reasoning.
        overlay_path: PNG of the image with the task's outputs drawn.
        files: the written files by name (``result.geojson``, ``result.gpkg``, ``result.json``
            and, for ``pixel``/``contour``, ``mask.tif``).
        feature_collection: the RFC 7946 GeoJSON document written to ``result.geojson``.
        georeferenced: whether the image has a CRS and transform (map coordinates).
        timings_s: seconds per stage (``read``, ``locate``, ``segment``, ``contour``,
            ``write``).
        summary: one line for the page: box count, parse status, frame, weights warning.
    """

    reasoning: str
    overlay_path: Path
    files: dict[str, Path]
    feature_collection: dict
    georeferenced: bool
    footprint_lonlat: list[list[float]] | None
    timings_s: dict[str, float] = field(default_factory=dict)
    summary: str = ""


def parse_bands_text(text: str | None) -> tuple[int, ...] | None:
    """The band picker's text (``"4,3,2"``, ``"1"``, empty) as 1-based bands, or None.

    Raises:
        UserInputError: not comma-separated integers, or not 1 or 3 of them.
    """
    from georeason.commands.locate import parse_bands_arg

    text = (text or "").strip()
    return parse_bands_arg(text) if text else None


def describe_image(path: str | Path) -> str:
    """One line about an upload, read from its header only (no pixels decoded): size, bands,
    data type and CRS. Never raises: an unreadable file is described as such."""
    p = Path(path)
    try:
        if p.suffix.lower() in (".tif", ".tiff"):
            import warnings

            import rasterio
            from rasterio.errors import NotGeoreferencedWarning

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(p) as ds:
                    crs = ds.crs.to_string() if ds.crs else "no CRS (pixel coordinates)"
                    gsd = f", {abs(ds.transform.a):g} units/px" if ds.crs else ""
                    return (
                        f"{p.name}: {ds.width} x {ds.height} px, {ds.count} band(s), "
                        f"{ds.dtypes[0]}, {crs}{gsd}"
                    )
        from PIL import Image

        with Image.open(p) as im:
            return f"{p.name}: {im.width} x {im.height} px, mode {im.mode}, no CRS"
    except Exception as exc:  # the page shows it; reading it for real gives the clear error
        return f"{p.name}: not a readable image ({exc.__class__.__name__})"


def footprint_lonlat(transform: Any, crs: str, width: int, height: int) -> list[list[float]]:
    """The image's corner points ``[[lon, lat], ...]`` (upper-left, upper-right, lower-right,
    lower-left), WGS 84, from its affine transform and CRS (pyproj, ``always_xy``)."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    out = []
    for col, row in corners:
        x, y = transform @ (col, row)
        lon, lat = to_wgs84.transform(x, y)
        out.append([float(lon), float(lat)])
    return out


class AppBackend:
    """The loaded models and the per-request workflow of the web app.

    Args:
        policy: a loaded :class:`georeason.models.policy.Policy`.
        segmenter: a box-prompted segmenter (:func:`georeason.models.segmenters.build_segmenter`).
        work_dir: where each request gets its own output folder (default: a new temporary
            folder).
        locate_options: keyword arguments of :func:`georeason.workflow.locate` (e.g.
            ``max_new_tokens``, ``samples``, ``verifier``, ``verifier_input``, ``temperature``).
        tile_size: tile every image with this tile side (px); None: tile only scenes over the
            whole-image limit, with the model's pixel-budget side
            (:func:`georeason.scene.default_tile_size`).
        tile_overlap: overlap of neighbouring tiles (px).
    """

    def __init__(
        self,
        policy: Policy,
        segmenter: Segmenter,
        work_dir: str | Path | None = None,
        locate_options: dict[str, Any] | None = None,
        tile_size: int | None = None,
        tile_overlap: int = 128,
    ) -> None:
        self.policy = policy
        self.segmenter = segmenter
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="georeason-app-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.locate_options = dict(locate_options or {})
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap

    @property
    def random_weights(self) -> bool:
        return getattr(self.policy, "weights", None) == "random"

    def run(
        self,
        image_path: str | Path | None,
        query: str | None,
        task: str = "contour",
        bands: str | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> AppResult:
        """Run one request: read -> locate -> (segment -> contour) -> write.

        Args:
            image_path: the uploaded file (PNG, JPEG, TIFF, GeoTIFF; 16-bit and multi-band too).
            query: the natural-language query.
            task: one of :data:`TASKS`.
            bands: the band picker's text, e.g. ``"4,3,2"`` (empty: by band count).
            on_stage: progress callback, called with each stage name of
                :data:`STAGE_PROGRESS` as it starts, and on the tiled path with
                ``("tile i/n", fraction)`` per tile.

        Raises:
            georeason.errors.GeoreasonError: no image, empty query, unknown task, unreadable
                image or bad bands; the message is one line for the page.
        """
        from georeason.io import read_image
        from georeason.models.processors import check_aspect_ratio
        from georeason.render import render_overlay
        from georeason.workflow import locate, write_outputs

        stage = on_stage or (lambda name: None)
        if not image_path:
            raise UserInputError("upload an image first (PNG, JPEG or GeoTIFF)")
        if not (query or "").strip():
            raise UserInputError("type a query, e.g. 'the vehicles parked near the warehouse'")
        if task not in TASKS:
            raise UserInputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        timings: dict[str, float] = {}
        stage("read")
        from georeason.io import DEFAULT_MAX_READ_PIXELS, raster_pixels

        n_px = raster_pixels(image_path)
        if self.tile_size is not None or (n_px is not None and n_px > DEFAULT_MAX_READ_PIXELS):
            return self._run_scene(image_path, query.strip(), bands, stage)
        t0 = time.perf_counter()
        image = read_image(image_path, bands=parse_bands_text(bands))
        check_aspect_ratio(image.height, image.width)
        timings["read"] = time.perf_counter() - t0
        result = locate(
            image,
            query.strip(),
            self.segmenter,
            policy=self.policy,
            segment=task != "region",
            on_stage=stage,
            **self.locate_options,
        )
        timings.update(result.timings_s)
        stage("write")
        t0 = time.perf_counter()
        out = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_dir))
        paths = write_outputs(result, image, out, gpkg=True, mask_tif=task != "region")
        overlay = render_overlay(
            image.rgb,
            result.boxes_xyxy_px,
            masks=result.masks if task == "pixel" else (),
            polygons_px=result.polygons_px if task == "contour" else (),
        )
        overlay_path = _save_png(out / f"overlay_{task}.png", overlay)
        timings["write"] = time.perf_counter() - t0
        import json

        fc = json.loads(paths["result.geojson"].read_text(encoding="utf-8"))
        footprint = (
            footprint_lonlat(image.transform, image.crs, image.width, image.height)
            if image.georeferenced
            else None
        )
        return AppResult(
            reasoning=result.reasoning
            or f"(no <think> reasoning in the answer; the model's text:)\n{result.raw_text or ''}",
            overlay_path=overlay_path,
            files={name: p for name, p in paths.items() if name != "overlay.png"},
            feature_collection=fc,
            georeferenced=image.georeferenced,
            footprint_lonlat=footprint,
            timings_s={k: round(v, 3) for k, v in timings.items()},
            summary=self._summary(result, image.georeferenced),
        )

    def _run_scene(
        self, image_path: str | Path, query: str, bands: str | None, stage: Callable[..., None]
    ) -> AppResult:
        """The tiled path (:func:`georeason.scene.locate_scene`); ``stage("tile", fraction)``
        reports each tile."""
        import json

        from georeason.scene import (
            SceneReader,
            default_tile_size,
            locate_scene,
            tile_windows,
            write_scene_outputs,
        )

        t0 = time.perf_counter()
        reader = SceneReader.open(image_path, bands=parse_bands_text(bands))
        read_s = time.perf_counter() - t0
        tile = self.tile_size or default_tile_size(getattr(self.policy, "max_pixels", 802_816))
        n_tiles = len(tile_windows(reader.width, reader.height, tile, self.tile_overlap))
        out = Path(tempfile.mkdtemp(prefix="request-", dir=self.work_dir))
        stage("locate")
        result = locate_scene(
            reader,
            query,
            self.segmenter,
            out,
            policy=self.policy,
            tile_size=tile,
            overlap=self.tile_overlap,
            max_new_tokens=int(self.locate_options.get("max_new_tokens", 512)),
            progress=False,
            on_tile=lambda t: stage(f"tile {t + 1}/{n_tiles}", (t + 1) / n_tiles),
        )
        stage("write")
        paths = write_scene_outputs(
            result,
            reader,
            query,
            out,
            model=getattr(self.policy, "model_name", None),
            weights=getattr(self.policy, "weights", None),
            gpkg=True,
        )
        fc = json.loads(paths["result.geojson"].read_text(encoding="utf-8"))
        footprint = (
            footprint_lonlat(reader.transform, reader.crs, reader.width, reader.height)
            if reader.georeferenced
            else None
        )
        timings = {"read": read_s, **result.timings_s}
        line = (
            f"{len(result.boxes_xyxy_px)} box(es) from {n_tiles} tiles of {tile} px "
            f"({reader.width} x {reader.height} px scene)."
        )
        if self.random_weights:
            line += " The model has RANDOM weights (a test model): its boxes are not a real "
            line += "prediction."
        return AppResult(
            reasoning="\n\n".join(
                f"[tile {t}] {text}" for t, text in sorted(result.texts.items()) if text
            ),
            overlay_path=paths["overlay.png"],
            files={name: p for name, p in paths.items() if name != "overlay.png"},
            feature_collection=fc,
            georeferenced=reader.georeferenced,
            footprint_lonlat=footprint,
            timings_s={k: round(v, 3) for k, v in timings.items()},
            summary=line,
        )

    def _summary(self, result: Any, georeferenced: bool) -> str:
        frame = (
            "GeoJSON in WGS 84 longitude/latitude (RFC 7946)"
            if georeferenced
            else "no georeferencing: GeoJSON in pixel coordinates (x right, y down)"
        )
        line = f"{len(result.boxes_xyxy_px)} box(es), parse status {result.parse_status}; {frame}."
        if self.random_weights:
            line += " The model has RANDOM weights (a test model): its boxes are not a real "
            line += "prediction."
        return line


def _save_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    from georeason.io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp)
    return path
