"""GeoJSON output: boxes and contour polygons, in map coordinates for georeferenced images.

For a georeferenced GeoTIFF, geometries are mapped through the raster's affine transform
(pixel corner ``(col, row)`` -> ``transform * (col, row)``, as ``rasterio.transform.xy(...,
offset="ul")``) and the collection carries the image's CRS in a ``crs`` member (the GeoJSON 2008
named-CRS form that GDAL/QGIS read; RFC 7946 itself only allows WGS 84, so we keep the image's
CRS rather than reprojecting, which would distort pixel-accurate outlines). Otherwise coordinates
are image pixels (x right, **y down**) and ``crs`` is absent; ``properties.frame`` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from shapely.affinity import affine_transform
from shapely.geometry import Polygon, box, mapping
from shapely.geometry.base import BaseGeometry


def to_map(geom_px: BaseGeometry, transform: Any) -> BaseGeometry:
    """Map a shapely geometry from pixel coordinates to map coordinates with an affine transform.

    Args:
        geom_px: geometry in pixel-corner coordinates (x = column, y = row).
        transform: ``rasterio``/``affine.Affine`` pixel -> map transform.
    """
    t = transform
    return affine_transform(geom_px, [t.a, t.b, t.d, t.e, t.c, t.f])


def build_feature_collection(
    boxes_xyxy_px: np.ndarray,
    polygons_px: Sequence[Sequence[Polygon]],
    transform: Any = None,
    crs: str | None = None,
    properties: dict | None = None,
) -> dict:
    """A GeoJSON FeatureCollection with one box feature per box and its contour features.

    Args:
        boxes_xyxy_px: ``(N, 4)`` boxes in original pixels.
        polygons_px: N lists of contour polygons (pixel coordinates), one list per box.
        transform, crs: the image's georeferencing; both needed for map coordinates.
        properties: extra top-level members copied into the collection (e.g. query, model).

    Returns:
        A JSON-serialisable dict. Features have ``properties.kind`` = ``"box"`` or ``"contour"``
        and ``properties.box_index``.
    """
    georef = transform is not None and crs is not None

    def geo(g: BaseGeometry) -> dict:
        return mapping(to_map(g, transform) if georef else g)

    features = []
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy_px, dtype=float).reshape(-1, 4)):
        features.append(
            {
                "type": "Feature",
                "geometry": geo(box(x1, y1, x2, y2)),
                "properties": {
                    "kind": "box",
                    "box_index": i,
                    "bbox_xyxy_px": [float(x1), float(y1), float(x2), float(y2)],
                },
            }
        )
    for i, polys in enumerate(polygons_px):
        for j, poly in enumerate(polys):
            features.append(
                {
                    "type": "Feature",
                    "geometry": geo(poly),
                    "properties": {
                        "kind": "contour",
                        "box_index": i,
                        "part": j,
                        "area_px": float(poly.area),
                    },
                }
            )
    fc: dict = {"type": "FeatureCollection"}
    if georef:
        fc["crs"] = {"type": "name", "properties": {"name": _crs_urn(crs)}}
    fc["properties"] = {
        "frame": "map" if georef else "pixel (x right, y down)",
        "crs": crs if georef else None,
        **(properties or {}),
    }
    fc["features"] = features
    return fc


def _crs_urn(crs: str) -> str:
    if crs.upper().startswith("EPSG:"):
        return f"urn:ogc:def:crs:EPSG::{crs.split(':', 1)[1]}"
    return crs
