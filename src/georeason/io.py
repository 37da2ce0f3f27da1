"""Reading images of any kind into model-ready RGB, keeping their georeferencing.

* PNG / JPEG / plain TIFF are read with PIL; GeoTIFFs (and any TIFF PIL cannot decode, e.g.
  single-band uint16) are read with rasterio, which also gives the affine transform and CRS.
* Band rule: 1 band -> grey replicated to RGB; 2 bands -> first band as grey; 3 bands -> RGB;
  4+ bands -> bands 1, 2, 3 (RGBA alpha or NIR beyond the third band is dropped). Choose other
  bands with ``bands=``.
* Value rule for non-uint8 data (uint16, int, float): each band is linearly stretched from its
  2nd to its 98th percentile to 0..255, ignoring nodata and non-finite pixels (ours: the usual
  display stretch in GIS tools; the papers feed 8-bit RGB and do not say how to convert).
* Size: images up to ``max_read_pixels`` (default 400 megapixels, ours) are read whole; the
  model-side resizing to the pixel budget happens in the policy, and boxes are mapped back.

Errors: :class:`ImageReadError` (a ``ValueError``) with a one-line, actionable message.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from georeason.errors import GeoreasonError

DEFAULT_MAX_READ_PIXELS = 400_000_000
STRETCH_PERCENTILES = (2.0, 98.0)
_TIFF_SUFFIXES = {".tif", ".tiff", ".gtif", ".geotiff"}


class ImageReadError(GeoreasonError, ValueError):
    """An image file is missing, empty, corrupt, or in a form georeason cannot use."""


@dataclass
class RasterImage:
    """An image ready for the model, with what is needed to map results back to the ground.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 array, row 0 at the top.
        path: the file it came from.
        transform: affine pixel -> map transform (``rasterio.Affine``) or None if not georeferenced.
            Pixel ``(col, row)`` corner maps to ``transform * (col, row)``.
        crs: the CRS as a string (``"EPSG:32616"`` when it has an EPSG code, else WKT), or None.
        source_dtype: numpy dtype name of the file's pixels (e.g. ``"uint16"``).
        source_bands: number of bands in the file.
        stretch: how values were mapped to uint8 (``"none"`` or the percentile rule).
    """

    rgb: np.ndarray
    path: str
    transform: Any = None
    crs: str | None = None
    source_dtype: str = "uint8"
    source_bands: int = 3
    stretch: str = "none"

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def georeferenced(self) -> bool:
        return self.transform is not None and self.crs is not None

    def pil(self) -> Image.Image:
        """The RGB pixels as a PIL image (what the processors take)."""
        return Image.fromarray(self.rgb, mode="RGB")


def stretch_limits(
    band_stack: np.ndarray, nodata: float | None = None
) -> list[tuple[float, float] | None]:
    """Per-band ``(low, high)`` of the percentile stretch (:data:`STRETCH_PERCENTILES` of the
    finite pixels that are not ``nodata``); None for a band with no valid pixel or a flat one.

    A whole scene read in windows computes them once, from a decimated read, and applies them
    to every window (:func:`apply_stretch`), so tiles share one stretch.
    """
    lo_p, hi_p = STRETCH_PERCENTILES
    limits: list[tuple[float, float] | None] = []
    for band in band_stack:
        band = band.astype(np.float64)
        valid = np.isfinite(band)
        if nodata is not None:
            valid &= band != nodata
        if not valid.any():
            limits.append(None)
            continue
        lo, hi = np.percentile(band[valid], [lo_p, hi_p])
        limits.append((float(lo), float(hi)) if hi > lo else None)
    return limits


def apply_stretch(
    band_stack: np.ndarray,
    limits: list[tuple[float, float] | None],
    nodata: float | None = None,
) -> np.ndarray:
    """``(C, H, W)`` uint8: each band mapped linearly from its ``(low, high)`` to 0..255
    (clipped, rounded); invalid pixels (non-finite, ``nodata``) and bands without limits are 0.
    """
    out = np.zeros(band_stack.shape, dtype=np.uint8)
    for c, (band, lim) in enumerate(zip(band_stack, limits, strict=True)):
        if lim is None:
            continue
        lo, hi = lim
        band = band.astype(np.float64)
        valid = np.isfinite(band)
        if nodata is not None:
            valid &= band != nodata
        scaled = (np.where(valid, band, lo) - lo) / (hi - lo) * 255.0
        out[c] = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    return out


def to_uint8(band_stack: np.ndarray, nodata: float | None = None) -> tuple[np.ndarray, str]:
    """Map a ``(C, H, W)`` array of any numeric dtype to uint8 with the percentile stretch.

    uint8 input is returned unchanged. For other dtypes each band is stretched from its
    2nd to 98th percentile (over finite pixels that are not ``nodata``) to 0..255; a flat band
    becomes 0 (:func:`stretch_limits`, :func:`apply_stretch`). Returns
    ``(array (C, H, W) uint8, description)``.
    """
    if band_stack.dtype == np.uint8:
        return band_stack, "none"
    lo_p, hi_p = STRETCH_PERCENTILES
    out = apply_stretch(band_stack, stretch_limits(band_stack, nodata), nodata)
    return out, f"per-band percentile {lo_p:g}-{hi_p:g} to 0-255"


def select_rgb(band_stack: np.ndarray, bands: tuple[int, ...] | None = None) -> np.ndarray:
    """Pick three bands of a ``(C, H, W)`` stack by the band rule; returns ``(H, W, 3)``.

    Args:
        bands: 1-based band indices (GDAL style), one or three of them; default by band count.

    Raises:
        ImageReadError: if ``bands`` names a band the image does not have.
    """
    picked = rgb_band_indices(band_stack.shape[0], bands)
    return np.stack([band_stack[b - 1] for b in picked], axis=-1)


def rgb_band_indices(count: int, bands: tuple[int, ...] | None = None) -> tuple[int, int, int]:
    """The 1-based bands shown as RGB: ``bands`` (one is repeated three times) or by count
    (1, 1, 1 below three bands; else 1, 2, 3).

    Raises:
        ImageReadError: if ``bands`` names a band the image does not have.
    """
    if bands is None:
        bands = (1, 1, 1) if count < 3 else (1, 2, 3)
    if len(bands) == 1:
        bands = (bands[0],) * 3
    if len(bands) != 3 or any(b < 1 or b > count for b in bands):
        raise ImageReadError(f"bands {bands} not available: the image has {count} band(s)")
    return (int(bands[0]), int(bands[1]), int(bands[2]))


def crs_string(crs: Any) -> str | None:
    """A rasterio CRS as ``"EPSG:n"`` when it has an EPSG code, else its WKT (None for None)."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def _read_rasterio(path: Path, max_read_pixels: int) -> tuple[np.ndarray, Any, Any, Any]:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                if ds.width * ds.height > max_read_pixels:
                    raise ImageReadError(
                        f"{path}: {ds.width}x{ds.height} pixels exceeds max_read_pixels="
                        f"{max_read_pixels}; tile the scene or raise the limit"
                    )
                data = ds.read()
                georef = ds.crs is not None and not ds.transform.is_identity
                transform = ds.transform if georef else None
                return data, transform, ds.crs if georef else None, ds.nodata
    except RasterioIOError as exc:
        raise ImageReadError(f"{path}: not a readable raster ({str(exc).splitlines()[0]})") from exc


def _read_pil(path: Path, max_read_pixels: int) -> np.ndarray:
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
    try:
        with Image.open(path) as im:
            if im.width * im.height > max_read_pixels:
                raise ImageReadError(
                    f"{path}: {im.width}x{im.height} pixels exceeds max_read_pixels="
                    f"{max_read_pixels}; tile the scene or raise the limit"
                )
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                return np.asarray(im)[None]
            arr = np.asarray(im.convert("RGBA" if "A" in im.mode else "RGB"))
            return np.moveaxis(arr, -1, 0)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(
            f"{path}: not a readable image ({exc.__class__.__name__}: {exc})"
        ) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


def raster_pixels(path: str | Path) -> int | None:
    """Width x height from the file's header (no pixels decoded, GDAL via rasterio); None if
    GDAL cannot open it (then :func:`read_image` gives the clear error)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                return int(ds.width) * int(ds.height)
    except (RasterioIOError, OSError):
        return None


def read_image(
    path: str | Path,
    bands: tuple[int, ...] | None = None,
    max_read_pixels: int = DEFAULT_MAX_READ_PIXELS,
) -> RasterImage:
    """Read an image file into a :class:`RasterImage` (uint8 RGB plus georeferencing).

    Args:
        path: PNG, JPEG, TIFF or GeoTIFF; any size up to ``max_read_pixels``; uint8, uint16,
            int or float; 1, 3 or 4+ bands.
        bands: optional 1-based band indices to use as RGB (see module docs for the default).
        max_read_pixels: refuse larger images with a clear error instead of exhausting memory.

    Raises:
        ImageReadError: missing, empty, unreadable or truncated file, unknown bands, too large.
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: no such file")
    if p.is_dir():
        raise ImageReadError(f"{p}: is a directory, expected an image file")
    if p.stat().st_size == 0:
        raise ImageReadError(f"{p}: file is empty (0 bytes)")

    transform = crs = nodata = None
    if p.suffix.lower() in _TIFF_SUFFIXES:
        data, transform, crs_obj, nodata = _read_rasterio(p, max_read_pixels)
        crs = crs_string(crs_obj)
    else:
        data = _read_pil(p, max_read_pixels)
        if data.shape[0] == 4 and bands is None:
            data = data[:3]  # RGBA: drop alpha
    source_dtype = str(data.dtype)
    source_bands = int(data.shape[0])
    data8, stretch = to_uint8(data, nodata)
    rgb = np.ascontiguousarray(select_rgb(data8, bands))
    return RasterImage(rgb, str(p), transform, crs, source_dtype, source_bands, stretch)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers infer the format) that replaces
    ``path`` when the block ends without an exception (``os.replace``: atomic on POSIX); on an
    exception the temporary file is removed and ``path`` is left as it was. A killed process
    therefore never leaves a truncated ``path`` that a later run would trust.

    Example::

        with atomic_path(out / "overlay.png") as tmp:
            Image.fromarray(rgb).save(tmp)
    """
    p = Path(path)
    tmp = p.with_name(f".{p.stem}.tmp-{os.getpid()}{p.suffix}")
    try:
        yield tmp
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (:func:`atomic_path`), UTF-8, indented."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
