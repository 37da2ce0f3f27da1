import numpy as np
import pytest
import rasterio
from shapely.geometry import Polygon, shape

from georeason.geojson import build_feature_collection
from georeason.io import read_image


@pytest.mark.parametrize(
    "name,epsg", [("spacenet_atlanta_pan.tif", 32616), ("neon_OSBS_029.tif", 32617)]
)
def test_box_corners_land_on_rasterio_map_coordinates(samples_dir, name, epsg):
    path = samples_dir / "images" / name
    im = read_image(path)
    box = np.array([[10.0, 20.0, 110.0, 220.0]])
    fc = build_feature_collection(box, [[]], im.transform, im.crs, geojson_crs="source")
    assert fc["crs"]["properties"]["name"] == f"urn:ogc:def:crs:EPSG::{epsg}"
    geom = shape(fc["features"][0]["geometry"])
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == epsg
        # corner convention: pixel (col, row) corner = rasterio.transform.xy(offset="ul")
        expected = []
        for col, row in [(10, 20), (110, 20), (110, 220), (10, 220)]:
            x, y = rasterio.transform.xy(ds.transform, row, col, offset="ul")
            expected.append((float(x), float(y)))
    got = set((round(x, 6), round(y, 6)) for x, y in geom.exterior.coords)
    assert {(round(x, 6), round(y, 6)) for x, y in expected} == got


def test_pixel_frame_without_crs():
    poly = Polygon([(0, 0), (4, 0), (4, 3), (0, 3)])
    fc = build_feature_collection(np.array([[0, 0, 4, 3]]), [[poly]])
    assert "crs" not in fc and fc["properties"]["frame"].startswith("pixel")
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds == ["box", "contour"]
    assert shape(fc["features"][1]["geometry"]).equals(poly)
    assert fc["features"][1]["properties"]["area_px"] == 12.0


@pytest.mark.parametrize("name", ["spacenet_atlanta_pan.tif", "neon_OSBS_029.tif"])
def test_default_is_rfc7946_wgs84_matching_gdal_reprojection(samples_dir, name):
    from rasterio.warp import transform as gdal_transform
    from rasterio.warp import transform_bounds

    path = samples_dir / "images" / name
    im = read_image(path)
    box = np.array([[10.0, 20.0, 110.0, 220.0]])
    fc = build_feature_collection(box, [[]], im.transform, im.crs)
    assert "crs" not in fc and fc["properties"]["crs"] == "EPSG:4326"
    assert fc["properties"]["source_crs"] == im.crs
    geom = shape(fc["features"][0]["geometry"])
    assert geom.exterior.is_ccw  # RFC 7946 right-hand rule
    with rasterio.open(path) as ds:
        cols, rows = [10, 110, 110, 10], [20, 20, 220, 220]
        xs, ys = zip(
            *(
                rasterio.transform.xy(ds.transform, r, c, offset="ul")
                for c, r in zip(cols, rows, strict=True)
            ),
            strict=True,
        )
        lon, lat = gdal_transform(ds.crs, "EPSG:4326", list(xs), list(ys))
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    got = sorted((round(x, 9), round(y, 9)) for x, y in geom.exterior.coords[:-1])
    assert got == sorted((round(x, 9), round(y, 9)) for x, y in zip(lon, lat, strict=True))
    minx, miny, maxx, maxy = geom.bounds
    assert west <= minx and maxx <= east and south <= miny and maxy <= north
    # area: 100 x 200 pixels of |a * e| square metres each (UTM: metres)
    t = im.transform
    assert fc["features"][0]["properties"]["area_m2"] == pytest.approx(100 * 200 * abs(t.a * t.e))


def test_geographic_crs_area_is_geodesic_and_geometry_is_repaired():
    from rasterio.transform import from_origin

    t = from_origin(0.0, 0.01, 0.0001, 0.0001)  # 100 x 100 px of 0.0001 deg at the equator
    bowtie = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])  # self-intersecting contour
    square = Polygon(
        [(0, 0), (100, 0), (100, 100), (0, 100)], [[(40, 40), (40, 60), (60, 60), (60, 40)]]
    )
    fc = build_feature_collection(np.array([[0, 0, 100, 100]]), [[bowtie, square]], t, "EPSG:4326")
    box_f, bow_f, sq_f = fc["features"]
    # 0.01 deg x 0.01 deg at the equator: 1113.19 m x 1105.74 m on WGS 84
    assert box_f["properties"]["area_m2"] == pytest.approx(1113.19 * 1105.74, rel=2e-4)
    bow = shape(bow_f["geometry"])
    assert bow.is_valid and bow.geom_type == "MultiPolygon"
    assert bow_f["properties"]["area_m2"] == pytest.approx(
        box_f["properties"]["area_m2"] / 2, rel=1e-3
    )
    sq = shape(sq_f["geometry"])
    assert sq.exterior.is_ccw and not sq.interiors[0].is_ccw  # holes clockwise
    with pytest.raises(ValueError, match="geojson_crs"):
        build_feature_collection(np.zeros((0, 4)), [], t, "EPSG:4326", geojson_crs="utm")
