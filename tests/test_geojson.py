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
    fc = build_feature_collection(box, [[]], im.transform, im.crs)
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
