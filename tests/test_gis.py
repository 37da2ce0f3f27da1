"""GeoPackage and label-COG outputs: round trips through GDAL readers, on constructed and real
georeferenced data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from shapely import from_wkb
from shapely.geometry import Polygon, box

from georeason.geojson import build_feature_collection
from georeason.gis import label_raster, write_geopackage, write_label_cog

UTM16 = "EPSG:32616"
TRANSFORM = Affine(0.5, 0.0, 733601.0, 0.0, -0.5, 3725139.0)  # SpaceNet sample's


def test_label_raster_exact_values_and_overlap_order():
    a = np.zeros((4, 5), bool)
    a[0:2, 0:3] = True
    b = np.zeros((4, 5), bool)
    b[1:4, 2:5] = True
    labels = label_raster([a, b], 4, 5)
    expected = np.array(
        [[1, 1, 1, 0, 0], [1, 1, 2, 2, 2], [0, 0, 2, 2, 2], [0, 0, 2, 2, 2]], dtype=np.uint16
    )
    np.testing.assert_array_equal(labels, expected)  # the later box wins where masks overlap
    assert labels.dtype == np.uint16
    with pytest.raises(ValueError, match="mask 0 has shape"):
        label_raster([a], 5, 5)


@pytest.mark.parametrize("georef", [True, False])
def test_label_cog_round_trip_and_validates(tmp_path, georef):
    from rio_cogeo.cogeo import cog_validate

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(700, 900)).astype(np.uint16)
    path = write_label_cog(
        tmp_path / "mask.tif", labels, TRANSFORM if georef else None, UTM16 if georef else None
    )
    valid, errors, _warnings = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(1), labels)
        assert ds.nodata == 0 and ds.profile["compress"] == "deflate"
        assert ds.block_shapes == [(512, 512)] and ds.overviews(1)
        if georef:
            assert ds.crs.to_epsg() == 32616 and ds.transform == TRANSFORM
        else:
            assert ds.crs is None
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left behind


def test_label_cog_refuses_non_2d(tmp_path):
    with pytest.raises(ValueError, match=r"labels must be \(H, W\)"):
        write_label_cog(tmp_path / "m.tif", np.zeros((2, 3, 4), np.uint16))


def test_geopackage_keeps_source_crs_geometries_and_properties(tmp_path):
    import pyogrio
    import pyogrio.raw

    ring = Polygon([(10, 10), (30, 10), (30, 40), (10, 40)], [[(15, 15), (20, 15), (20, 20)]])
    fc = build_feature_collection(
        np.array([[10, 10, 30, 40], [50, 60, 70, 90]], float),
        [[ring], []],
        TRANSFORM,
        UTM16,
        {"query": "the tanks"},
        geojson_crs="source",
    )
    path = write_geopackage(tmp_path / "result.gpkg", fc, UTM16)
    info = pyogrio.read_info(path)
    assert info["crs"] == UTM16 and info["features"] == 3
    assert info["geometry_type"] == "MultiPolygon"
    assert "the tanks" in info["layer_metadata"]["DESCRIPTION"]
    _meta, _fids, geoms, fields = pyogrio.raw.read(path)
    kind, box_index, part, area_px, area_m2, tile_id = fields
    assert list(kind) == ["box", "box", "contour"]
    assert list(box_index) == [0, 1, 0]
    assert np.isnan(part[0]) and part[2] == 0  # boxes have no part: NULL, read back as NaN
    assert np.isnan(tile_id).all()  # not a tiled scene
    assert np.isnan(area_px[0]) and area_px[2] == pytest.approx(ring.area)
    # planar UTM area: pixel area x (0.5 m)^2
    assert area_m2[0] == pytest.approx(20 * 30 * 0.25) and area_m2[2] == pytest.approx(
        ring.area * 0.25
    )
    # geometries: exactly the pixel shapes mapped through the transform (no reprojection)
    x0, y0 = TRANSFORM * (10, 10)
    x1, y1 = TRANSFORM * (30, 40)
    got = from_wkb(geoms[0])
    assert got.equals(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    assert from_wkb(geoms[2]).geoms[0].interiors  # the hole survives


def test_geopackage_refuses_non_polygons(tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {"kind": "box"},
            },
        ],
    }
    with pytest.raises(ValueError, match="holds polygons, got a Point"):
        write_geopackage(tmp_path / "x.gpkg", fc, None)
    assert not (tmp_path / "x.gpkg").exists()


def test_locate_writes_cog_mask_and_gpkg_on_real_geotiff(samples_dir, tmp_path, capsys):
    """``locate --boxes ... --format gpkg`` on the SpaceNet GeoTIFF: the COG holds the masks in
    the source grid; the GeoPackage's features reprojected to WGS 84 are the GeoJSON's."""
    import pyogrio.raw
    from pyproj import Transformer
    from rio_cogeo.cogeo import cog_validate
    from shapely.geometry import shape

    from georeason.cli import main
    from georeason.masks import decode_rle

    scene = samples_dir / "images/spacenet_atlanta_pan.tif"
    boxes = "[[100,100,300,260],[400,400,500,520]]"
    out = tmp_path / "out"
    assert (
        main(
            [
                "locate",
                str(scene),
                "buildings",
                "--boxes",
                boxes,
                "--out",
                str(out),
                "--format",
                "gpkg",
            ]
        )
        == 0
    )
    assert "mask.tif" in capsys.readouterr().out
    doc = json.loads((out / "result.json").read_text())
    masks = [decode_rle(r) for r in doc["masks"]]
    assert cog_validate(str(out / "mask.tif"))[0]
    with rasterio.open(out / "mask.tif") as ds, rasterio.open(scene) as src:
        assert ds.crs == src.crs and ds.transform == src.transform
        np.testing.assert_array_equal(ds.read(1), label_raster(masks, src.height, src.width))
    fc = json.loads((out / "result.geojson").read_text())
    _meta, _fids, geoms, fields = pyogrio.raw.read(out / "result.gpkg")
    assert len(geoms) == len(fc["features"]) == 2 + sum(len(p) for p in doc["contours_px"])
    to_wgs84 = Transformer.from_crs(UTM16, "EPSG:4326", always_xy=True).transform
    for wkb, feature in zip(geoms, fc["features"], strict=True):
        lonlat = shapely.transform(from_wkb(wkb), to_wgs84, interleaved=False)
        assert lonlat.symmetric_difference(shape(feature["geometry"])).area < 1e-14
