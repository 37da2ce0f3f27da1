"""GeoJSON output: boxes and contour polygons, in map coordinates for georeferenced images.

For a georeferenced image, geometries are first mapped through the raster's affine transform
(pixel corner ``(col, row)`` -> ``transform * (col, row)``, as ``rasterio.transform.xy(...,
offset="ul")``), repaired with shapely's ``make_valid``, then written in one of two frames:

* ``"wgs84"`` (default): RFC 7946 GeoJSON: WGS 84 longitude/latitude (reprojected with pyproj,
  ``always_xy``), exterior rings counter-clockwise and holes clockwise (the right-hand rule, RFC
  7946 section 3.1.6), no ``crs`` member. This is what QGIS, geopandas, web maps and GitHub
  render without questions. Vertices are reprojected one by one (no densification: box edges a
  few hundred metres long bend by far less than a pixel).
* ``"source"``: the image's own CRS, with the GeoJSON 2008 named-CRS ``crs`` member that
  GDAL/QGIS read (not RFC 7946: say so to whoever reads the file); pixel-accurate outlines.

Every feature of a georeferenced image carries ``area_m2``: planar area in the CRS's linear unit
converted to metres for a projected CRS, geodesic area on the CRS's ellipsoid (pyproj ``Geod``)
for a geographic one. Without georeferencing, coordinates are image pixels (x right,
**y down**), there is no ``crs`` and no ``area_m2``; ``properties.frame`` says which frame a file
is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.affinity import affine_transform
from shapely.geometry import Polygon, box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import make_valid

GEOJSON_CRS_CHOICES: tuple[str, ...] = ("wgs84", "source")
FRAME_WGS84 = "WGS 84 longitude/latitude (RFC 7946)"


def to_map(geom_px: BaseGeometry, transform: Any) -> BaseGeometry:
    """Map a shapely geometry from pixel coordinates to map coordinates with an affine transform.

    Args:
        geom_px: geometry in pixel-corner coordinates (x = column, y = row).
        transform: ``rasterio``/``affine.Affine`` pixel -> map transform.
    """
    t = transform
    return affine_transform(geom_px, [t.a, t.b, t.d, t.e, t.c, t.f])


def right_hand_rule(geom: BaseGeometry) -> BaseGeometry:
    """Polygons (also inside multi-geometries) with counter-clockwise exteriors and clockwise
    holes (RFC 7946 section 3.1.6); other geometries unchanged."""
    if geom.geom_type == "Polygon":
        return orient(geom, sign=1.0)
    if hasattr(geom, "geoms"):
        return type(geom)([right_hand_rule(g) for g in geom.geoms])
    return geom


class _MapFrame:
    """Pixel geometry -> output geometry and area in m² for one georeferenced image."""

    def __init__(self, transform: Any, crs: str, geojson_crs: str) -> None:
        from pyproj import CRS, Geod, Transformer

        self.transform = transform
        self.crs = CRS.from_user_input(crs)
        self.to_wgs84 = (
            Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True).transform
            if geojson_crs == "wgs84"
            else None
        )
        self.geod = Geod(ellps="WGS84")
        self.unit_to_m = 1.0
        if self.crs.is_geographic:
            self.to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True).transform
        else:
            self.to_lonlat = None
            self.unit_to_m = float(self.crs.axis_info[0].unit_conversion_factor or 1.0)

    def map_geom(self, geom_px: BaseGeometry) -> BaseGeometry:
        return make_valid(to_map(geom_px, self.transform))

    def area_m2(self, geom_map: BaseGeometry) -> float:
        if self.to_lonlat is None:
            return float(geom_map.area) * self.unit_to_m**2
        lonlat = shapely.transform(geom_map, self.to_lonlat, interleaved=False)
        return abs(float(self.geod.geometry_area_perimeter(lonlat)[0]))

    def output(self, geom_map: BaseGeometry) -> BaseGeometry:
        if self.to_wgs84 is None:
            return geom_map
        return right_hand_rule(shapely.transform(geom_map, self.to_wgs84, interleaved=False))


def build_feature_collection(
    boxes_xyxy_px: np.ndarray,
    polygons_px: Sequence[Sequence[Polygon]],
    transform: Any = None,
    crs: str | None = None,
    properties: dict | None = None,
    geojson_crs: str = "wgs84",
    box_properties: Sequence[dict[str, Any]] | None = None,
) -> dict:
    """A GeoJSON FeatureCollection with one box feature per box and its contour features.

    Args:
        boxes_xyxy_px: ``(N, 4)`` boxes in original pixels.
        polygons_px: N lists of contour polygons (pixel coordinates), one list per box.
        transform, crs: the image's georeferencing; both needed for map coordinates.
        properties: extra top-level members copied into the collection (e.g. query, model).
        geojson_crs: ``"wgs84"`` (RFC 7946, default) or ``"source"`` (the image's CRS); see the
            module docstring. Ignored without georeferencing.
        box_properties: optional N dicts added to the properties of box ``i``'s features (its
            box and its contours), e.g. the tile it came from.

    Returns:
        A JSON-serialisable dict. Features have ``properties.kind`` = ``"box"`` or ``"contour"``,
        ``properties.box_index`` and, when georeferenced, ``properties.area_m2``.

    Raises:
        ValueError: an unknown ``geojson_crs``, or ``box_properties`` of the wrong length.
    """
    if geojson_crs not in GEOJSON_CRS_CHOICES:
        raise ValueError(f"geojson_crs must be one of {GEOJSON_CRS_CHOICES}, got {geojson_crs!r}")
    georef = transform is not None and crs is not None
    frame = _MapFrame(transform, crs, geojson_crs) if georef else None

    def feature(geom_px: BaseGeometry, props: dict[str, Any]) -> dict[str, Any]:
        if frame is None:
            return {"type": "Feature", "geometry": mapping(geom_px), "properties": props}
        geom_map = frame.map_geom(geom_px)
        props = {**props, "area_m2": frame.area_m2(geom_map)}
        return {"type": "Feature", "geometry": mapping(frame.output(geom_map)), "properties": props}

    boxes = np.asarray(boxes_xyxy_px, dtype=float).reshape(-1, 4)
    extra = list(box_properties) if box_properties is not None else [{}] * len(boxes)
    if len(extra) != len(boxes):
        raise ValueError(f"{len(extra)} box_properties for {len(boxes)} boxes")
    features = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        bbox = [float(x1), float(y1), float(x2), float(y2)]
        props = {"kind": "box", "box_index": i, "bbox_xyxy_px": bbox, **extra[i]}
        features.append(feature(box(x1, y1, x2, y2), props))
    for i, polys in enumerate(polygons_px):
        for j, poly in enumerate(polys):
            props = {"kind": "contour", "box_index": i, "part": j, "area_px": float(poly.area)}
            features.append(feature(poly, {**props, **(extra[i] if i < len(extra) else {})}))
    fc: dict = {"type": "FeatureCollection"}
    if georef and geojson_crs == "source":
        fc["crs"] = {"type": "name", "properties": {"name": _crs_urn(crs)}}
    if not georef:
        where = "pixel (x right, y down)"
    elif geojson_crs == "wgs84":
        where = FRAME_WGS84
    else:
        where = "source CRS (not RFC 7946: GeoJSON 2008 crs member)"
    fc["properties"] = {
        "frame": where,
        "crs": "EPSG:4326" if georef and geojson_crs == "wgs84" else (crs if georef else None),
        "source_crs": crs if georef else None,
        **(properties or {}),
    }
    fc["features"] = features
    return fc


def _crs_urn(crs: str) -> str:
    if crs.upper().startswith("EPSG:"):
        return f"urn:ogc:def:crs:EPSG::{crs.split(':', 1)[1]}"
    return crs
