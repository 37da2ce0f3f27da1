"""GIS files beside GeoJSON: a GeoPackage of the result features and a label-mask GeoTIFF (COG).

Both are written by well-kept GDAL bindings, never by hand:

* :func:`write_geopackage` goes through ``pyogrio`` (GDAL's OGR ``GPKG`` driver): one layer
  ``result`` with the same features and properties as ``result.geojson``, in the image's own CRS
  (a GeoPackage stores its CRS, so nothing is reprojected and outlines stay pixel-exact). QGIS,
  geopandas and ArcGIS open it as it is.
* :func:`write_label_cog` goes through ``rasterio`` (GDAL's ``COG`` driver, GDAL >= 3.1): a
  single-band Cloud-Optimized GeoTIFF, tiled 512 x 512, DEFLATE-compressed, with overviews, in
  the source's CRS and transform. Pixel value ``i + 1`` marks the mask of box ``i``; 0 is
  background (also the nodata value). Where masks overlap, the later box wins.

Images without georeferencing get the same files in pixel coordinates (x right, y down) and no
CRS; the GeoPackage's layer description says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from georeason.io import atomic_path

#: properties of ``result.geojson`` features copied into the GeoPackage, with their OGR types
GPKG_FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "str"),
    ("box_index", "int"),
    ("part", "int"),
    ("area_px", "float"),
    ("area_m2", "float"),
    ("tile_id", "int"),
)


def write_geopackage(
    path: str | Path,
    feature_collection: dict,
    crs: str | None,
    layer: str = "result",
) -> Path:
    """Write a result FeatureCollection as a GeoPackage layer (atomically).

    Args:
        path: the ``.gpkg`` file to write (replaced if it exists).
        feature_collection: from :func:`georeason.geojson.build_feature_collection` with
            ``geojson_crs="source"`` (geometries in ``crs``), or in pixels when ``crs`` is None.
        crs: the geometries' CRS (``"EPSG:32616"``, WKT) or None for pixel coordinates.
        layer: the layer name.

    Returns:
        The path written. Geometries are promoted to MultiPolygon (one geometry type per layer,
        as GeoPackage readers expect); missing properties are written as NULL.

    Raises:
        ValueError: if a feature's geometry is not polygonal.
    """
    import pyogrio.raw
    from shapely import to_wkb
    from shapely.geometry import MultiPolygon, shape

    features = feature_collection.get("features", [])
    geoms = []
    for f in features:
        g = shape(f["geometry"])
        if g.geom_type == "GeometryCollection":  # make_valid may add slivers: keep the areas
            g = MultiPolygon([p for p in g.geoms if p.geom_type == "Polygon"])
        if g.geom_type == "Polygon":
            g = MultiPolygon([g])
        if g.geom_type != "MultiPolygon":
            raise ValueError(f"GeoPackage layer holds polygons, got a {g.geom_type}")
        geoms.append(g)
    names = [name for name, _ in GPKG_FIELDS]
    columns = []
    masks = []
    for name, kind in GPKG_FIELDS:
        values = [f["properties"].get(name) for f in features]
        missing = np.array([v is None for v in values], dtype=bool)
        fill = "" if kind == "str" else 0
        dtype = {"str": object, "int": np.int64, "float": np.float64}[kind]
        columns.append(np.array([fill if v is None else v for v in values], dtype=dtype))
        masks.append(missing if missing.any() else None)
    meta = feature_collection.get("properties", {})
    description = f"georeason result for query {meta.get('query')!r}; " + (
        "coordinates in " + crs if crs else "pixel coordinates (x right, y down), no CRS"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # pixel coordinates have no CRS on purpose (the layer description says so)
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.raw.write(
            str(tmp),
            geometry=np.array([to_wkb(g) for g in geoms], dtype=object),
            field_data=columns,
            fields=names,
            field_mask=masks,
            layer=layer,
            driver="GPKG",
            geometry_type="MultiPolygon",
            crs=crs,
            layer_metadata={"DESCRIPTION": description},
        )
    return out


def label_raster(masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """``(H, W)`` uint16 labels: ``i + 1`` inside ``masks[i]`` (later masks win), 0 elsewhere.

    Raises:
        ValueError: if a mask's shape is not ``(height, width)`` or there are over 65,534 masks.
    """
    if len(masks) > np.iinfo(np.uint16).max - 1:
        raise ValueError(f"{len(masks)} masks do not fit a uint16 label raster")
    labels = np.zeros((height, width), dtype=np.uint16)
    for i, m in enumerate(masks):
        if m.shape != (height, width):
            raise ValueError(f"mask {i} has shape {m.shape}, expected {(height, width)}")
        labels[np.asarray(m, dtype=bool)] = i + 1
    return labels


def write_label_cog(
    path: str | Path,
    labels: np.ndarray,
    transform: Any = None,
    crs: str | None = None,
) -> Path:
    """Write a ``(H, W)`` label raster as a Cloud-Optimized GeoTIFF (atomically).

    Args:
        path: the ``.tif`` to write.
        labels: ``(H, W)`` integer labels (see :func:`label_raster`), 0 = background.
        transform: the source raster's pixel -> map affine transform (None: pixel grid).
        crs: the source raster's CRS (None: not georeferenced).

    Returns:
        The path written (GDAL ``COG`` driver: 512 px tiles, DEFLATE, overviews by nearest).
    """
    from rasterio.io import MemoryFile

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    with MemoryFile() as mem:
        with mem.open(**label_profile(labels.shape[0], labels.shape[1], transform, crs)) as ds:
            ds.write(labels.astype(np.uint16), 1)
        return copy_to_cog(mem.name, path)


def label_profile(height: int, width: int, transform: Any = None, crs: str | None = None) -> dict:
    """The rasterio profile of a label raster: one uint16 band, nodata 0, tiled 512 x 512,
    DEFLATE, in the source's CRS and transform when given (pixel grid otherwise)."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "height": int(height),
        "width": int(width),
        "count": 1,
        "dtype": "uint16",
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    if crs is not None and transform is not None:
        profile.update(crs=crs, transform=transform)
    return profile


def copy_to_cog(src: str | Path, path: str | Path) -> Path:
    """Copy a raster (a file or a ``MemoryFile`` name) to a Cloud-Optimized GeoTIFF at ``path``
    (atomically): GDAL's ``COG`` driver streams the source block by block, so a scene-size
    label raster written window by window never has to fit in memory."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        rio_copy(
            str(src),
            str(tmp),
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE=512,
            OVERVIEW_RESAMPLING="NEAREST",
        )
    return out
