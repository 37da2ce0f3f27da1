"""Windowed RGB reads of a whole scene with one scene-wide stretch (rasterio; see
:mod:`georeason.scene`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from georeason.io import (
    ImageReadError,
    apply_stretch,
    crs_string,
    rgb_band_indices,
    select_rgb,
    stretch_limits,
)

#: largest side of the decimated read that sets the scene-wide stretch and the overview image
OVERVIEW_MAX_SIDE_PX = 2048
#: GDAL block cache while reading a scene (MB; ours: keeps the resident memory bounded)
GDAL_CACHE_MB = 256


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
