"""Whole scenes: tile windows, box fusion across tile borders, windowed reads with one stretch,
the tiled locate (resumable per tile), the label COG written window by window."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from georeason.errors import UserInputError
from georeason.scene import (
    SceneReader,
    default_tile_size,
    locate_scene,
    merge_boxes,
    segment_window,
    tile_windows,
)

SPACENET = "images/spacenet_atlanta_pan.tif"


@pytest.mark.parametrize(
    ("width", "height", "tile", "overlap"),
    [(2000, 1000, 1024, 128), (900, 900, 512, 64), (5000, 3100, 896, 128), (300, 200, 512, 0)],
)
def test_tile_windows_cover_the_scene_with_the_overlap(width, height, tile, overlap):
    wins = tile_windows(width, height, tile, overlap)
    covered = np.zeros((height, width), bool)
    for c, r, w, h in wins:
        assert c >= 0 and r >= 0 and c + w <= width and r + h <= height
        assert w == min(tile, width) and h == min(tile, height)  # full tiles only
        covered[r : r + h, c : c + w] = True
    assert covered.all()
    cols = sorted({c for c, _, _, _ in wins})
    for a, b in zip(cols, cols[1:], strict=False):  # neighbours overlap by >= overlap
        assert a + min(tile, width) - b >= overlap


def test_tile_windows_exact_and_refusals():
    assert tile_windows(900, 900, 512, 64) == [
        (0, 0, 512, 512),
        (388, 0, 512, 512),
        (0, 388, 512, 512),
        (388, 388, 512, 512),
    ]
    with pytest.raises(UserInputError, match="--tile-overlap must be in 0..256"):
        tile_windows(900, 900, 512, 300)
    with pytest.raises(UserInputError, match="--tile-size must be at least 32"):
        tile_windows(900, 900, 16, 0)
    assert default_tile_size(802_816) == 896 and default_tile_size(1_003_520, 32) == 992


def test_merge_boxes_fuses_border_pieces_and_keeps_neighbours():
    boxes = np.array(
        [
            [900, 100, 1100, 300],  # a target seen whole in the right tile
            [900, 100, 1024, 300],  # ... and cut by the left tile's border (inside the whole)
            [905, 102, 1098, 301],  # ... and again, IoU 0.95 with the first
            [1150, 100, 1250, 300],  # a neighbour, touching nothing
            [0, 0, 10, 10],
        ],
        float,
    )
    fused, groups = merge_boxes(boxes)
    assert groups == [[0, 1, 2], [3], [4]]
    np.testing.assert_array_equal(
        fused, [[900, 100, 1100, 301], [1150, 100, 1250, 300], [0, 0, 10, 10]]
    )
    assert merge_boxes(np.zeros((0, 4)))[0].shape == (0, 4)
    # two half-overlapping boxes (IoU 1/3, half of the smaller inside) stay apart
    assert len(merge_boxes(np.array([[0, 0, 100, 100], [50, 0, 150, 100]], float))[1]) == 2


def test_segment_window_margin_and_clip():
    assert segment_window(np.array([100, 100, 300, 200]), 1000, 1000) == (50, 75, 300, 150)
    assert segment_window(np.array([0, 0, 10, 10]), 20, 20) == (0, 0, 20, 20)


def test_windowed_reads_equal_the_whole_image_read(samples_dir):
    """A 900 px uint16 scene is small enough for the stretch to be computed at full
    resolution, so every window is exactly the whole-image read's window."""
    from georeason.io import read_image

    whole = read_image(samples_dir / SPACENET).rgb
    reader = SceneReader.open(samples_dir / SPACENET)
    assert (reader.width, reader.height, reader.count, reader.dtype) == (900, 900, 1, "uint16")
    assert reader.crs == "EPSG:32616" and reader.georeferenced
    for c, r, w, h in tile_windows(900, 900, 512, 64):
        np.testing.assert_array_equal(reader.read_rgb((c, r, w, h)), whole[r : r + h, c : c + w])
    rgb, scale = reader.overview_rgb()
    assert scale == 1.0 and np.array_equal(rgb, whole)
    with pytest.raises(Exception, match="not available: the image has 1 band"):
        SceneReader.open(samples_dir / SPACENET, bands=(1, 2, 3))


@pytest.fixture
def synthetic_scene(tmp_path):
    """A 2600 x 3000 px 3-band uint8 GeoTIFF (UTM 16N, 0.5 m) with bright squares."""
    path = tmp_path / "scene.tif"
    data = np.full((3, 2600, 3000), 40, np.uint8)
    squares = [(200, 300), (950, 980), (2400, 2200), (1500, 100)]
    for x, y in squares:
        data[:, y : y + 120, x : x + 120] = 220
    profile = {
        "driver": "GTiff",
        "width": 3000,
        "height": 2600,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32616",
        "transform": from_origin(733_000.0, 3_730_000.0, 0.5, 0.5),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    boxes = [[x, y, x + 120, y + 120] for x, y in squares]
    return path, boxes


def test_tiled_locate_with_given_boxes_writes_the_same_masks_as_one_pass(synthetic_scene, tmp_path):
    """With the box segmenter, the label COG built window by window equals the whole-image
    workflow's label raster; the GeoJSON carries tile ids and stays inside the footprint."""
    from rasterio.warp import transform_bounds
    from rio_cogeo.cogeo import cog_validate

    from georeason.gis import label_raster
    from georeason.masks import box_to_mask
    from georeason.models.segmenters import build_segmenter
    from georeason.scene import write_scene_outputs

    path, boxes = synthetic_scene
    reader = SceneReader.open(path)
    out = tmp_path / "out"
    res = locate_scene(
        reader,
        "the squares",
        build_segmenter("box"),
        out,
        boxes_xyxy_px=np.array(boxes, float),
        tile_size=1024,
        overlap=128,
        progress=False,
    )
    paths = write_scene_outputs(res, reader, "the squares", out, gpkg=True)
    assert cog_validate(str(paths["mask.tif"]))[0]
    expected = label_raster([box_to_mask(b, 2600, 3000) for b in boxes], 2600, 3000)
    with rasterio.open(paths["mask.tif"]) as ds:
        assert ds.crs.to_epsg() == 32616 and ds.transform == reader.transform
        np.testing.assert_array_equal(ds.read(1), expected)
    fc = json.loads(paths["result.geojson"].read_text())
    assert [f["properties"]["tile_id"] for f in fc["features"] if f["properties"]["kind"] == "box"]
    west, south, east, north = transform_bounds(
        "EPSG:32616", "EPSG:4326", *rasterio.open(path).bounds
    )
    pts = np.array(
        [p for f in fc["features"] for ring in f["geometry"]["coordinates"] for p in ring]
    )
    assert ((pts[:, 0] >= west) & (pts[:, 0] <= east)).all()
    assert ((pts[:, 1] >= south) & (pts[:, 1] <= north)).all()
    doc = json.loads(paths["result.json"].read_text())
    assert doc["boxes_xyxy_px"] == [[float(v) for v in b] for b in boxes]
    assert len(doc["tiles"]) == 12 and not list(out.glob(".mask-build*"))


def test_tiled_policy_run_resumes_per_tile(tiny_qwen25vl_dir, samples_dir, tmp_path):
    """The tiny policy on 4 tiles; a killed run (last tile missing, torn line) resumes with
    only the missing tile predicted, and ends with the same tiles.jsonl answers."""
    from georeason.models.policy import Policy
    from georeason.models.segmenters import build_segmenter

    policy = Policy.from_pretrained(str(tiny_qwen25vl_dir))
    reader = SceneReader.open(samples_dir / SPACENET)
    seg = build_segmenter("default")
    out = tmp_path / "run"
    seen: list[int] = []
    kwargs = dict(tile_size=512, overlap=64, max_new_tokens=24, progress=False)
    first = locate_scene(
        reader, "the roofs", seg, out, policy=policy, on_tile=seen.append, **kwargs
    )
    assert seen == [0, 1, 2, 3] and first.resumed_tiles == 0
    lines = (out / "tiles.jsonl").read_text().splitlines()
    (out / "tiles.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][:15])
    seen.clear()
    second = locate_scene(
        reader, "the roofs", seg, out, policy=policy, on_tile=seen.append, **kwargs
    )
    assert seen == [3] and second.resumed_tiles == 3
    assert second.texts == first.texts
    np.testing.assert_array_equal(second.boxes_xyxy_px, first.boxes_xyxy_px)
    with pytest.raises(UserInputError, match="differs in: query"):
        locate_scene(reader, "another query", seg, out, policy=policy, **kwargs)


def test_locate_cli_tiles_with_given_boxes(synthetic_scene, tmp_path, capsys):
    from georeason.cli import main

    path, boxes = synthetic_scene
    out = tmp_path / "cli"
    rc = main(
        [
            "locate",
            str(path),
            "the squares",
            "--boxes",
            json.dumps(boxes),
            "--tile-size",
            "1024",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "4 box(es) from 12 tile(s)" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {
        "result.json",
        "result.geojson",
        "mask.tif",
        "overlay.png",
    }
    assert (
        main(
            ["locate", str(path), "q", "--boxes", "[[0,0,10,10]]", "--out", str(out), "--overview"]
        )
        == 2
    )
    assert "--overview goes with tiling" in capsys.readouterr().err
