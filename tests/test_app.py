"""The web app: its backend (the locate workflow per request), map, CLI, and the page driven in
headless Chromium with Playwright, plus the ``/locate`` API through ``gradio_client``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from georeason.errors import GeoreasonError

SPACENET = "images/spacenet_atlanta_pan.tif"
CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def backend(tiny_qwen25vl_dir, tmp_path_factory):
    from georeason.app.backend import AppBackend
    from georeason.models.policy import Policy
    from georeason.models.segmenters import build_segmenter

    policy = Policy.from_pretrained(str(tiny_qwen25vl_dir))
    return AppBackend(
        policy,
        build_segmenter("default"),
        work_dir=tmp_path_factory.mktemp("app"),
        locate_options={"max_new_tokens": 24},
    )


@pytest.mark.parametrize(
    ("image", "query", "task", "bands", "message"),
    [
        (None, "the tanks", "contour", "", "upload an image"),
        (SPACENET, "   ", "contour", "", "type a query"),
        (SPACENET, "the tanks", "detect", "", "task must be one of"),
        (SPACENET, "the tanks", "region", "a,b", "--bands must be comma-separated"),
        (SPACENET, "the tanks", "region", "1,2,3", "not available: the image has 1 band"),
    ],
)
def test_backend_refuses_bad_requests_with_one_line(
    backend, samples_dir, image, query, task, bands, message
):
    path = str(samples_dir / image) if image else None
    with pytest.raises(GeoreasonError, match=message) as info:
        backend.run(path, query, task, bands)
    assert "\n" not in str(info.value)


def test_backend_refuses_an_unreadable_upload(backend, tmp_path):
    bad = tmp_path / "scene.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(GeoreasonError, match="not a readable image"):
        backend.run(str(bad), "the tanks", "contour")


def test_backend_region_task_on_a_geotiff(backend, samples_dir):
    stages: list[str] = []
    res = backend.run(
        str(samples_dir / SPACENET), "the buildings", "region", on_stage=stages.append
    )
    assert stages == ["read", "locate", "write"]  # region: no segment/contour stages
    assert set(res.files) == {"result.json", "result.geojson", "result.gpkg"}  # no masks
    assert all(p.is_file() for p in res.files.values()) and res.overlay_path.is_file()
    fc = json.loads(res.files["result.geojson"].read_text())
    assert fc == res.feature_collection
    assert fc["properties"]["crs"] == "EPSG:4326" and "crs" not in fc
    assert fc["properties"]["weights"] == "random"
    assert res.georeferenced and "RANDOM weights" in res.summary
    doc = json.loads(res.files["result.json"].read_text())
    assert doc["segmenter"] == "none" and doc["masks"] == []
    assert set(res.timings_s) >= {"read", "locate", "write"}


def test_backend_requests_get_their_own_folders(backend, samples_dir):
    a = backend.run(str(samples_dir / "images/dior_00001.jpg"), "a golf field", "pixel")
    b = backend.run(str(samples_dir / "images/dior_00001.jpg"), "a golf field", "pixel")
    assert a.files["result.json"].parent != b.files["result.json"].parent
    assert not a.georeferenced and a.footprint_lonlat is None
    assert "pixel coordinates" in a.summary
    assert a.feature_collection["properties"]["frame"] == "pixel (x right, y down)"


def test_footprint_matches_rasterio_reprojected_bounds(samples_dir):
    import rasterio
    from rasterio.warp import transform_bounds

    from georeason.app.backend import footprint_lonlat

    with rasterio.open(samples_dir / SPACENET) as ds:
        corners = footprint_lonlat(ds.transform, ds.crs.to_string(), ds.width, ds.height)
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    lons, lats = zip(*corners, strict=True)
    # GDAL densifies the edges; the four corners of a 450 m UTM scene differ by far below 1 cm
    np.testing.assert_allclose(
        [min(lons), min(lats), max(lons), max(lats)], [west, south, east, north], atol=1e-7
    )
    assert -84.6 < west < -84.2 and 33.6 < south < 33.9  # Atlanta


def test_describe_image_reads_only_the_header(samples_dir, tmp_path):
    from georeason.app.backend import describe_image

    assert describe_image(samples_dir / SPACENET) == (
        "spacenet_atlanta_pan.tif: 900 x 900 px, 1 band(s), uint16, EPSG:32616, 0.5 units/px"
    )
    assert describe_image(samples_dir / "images/dior_00001.jpg") == (
        "dior_00001.jpg: 800 x 800 px, mode RGB, no CRS"
    )
    bad = tmp_path / "x.tif"
    bad.write_bytes(b"garbage")
    assert describe_image(bad).startswith("x.tif: not a readable image")


def test_web_map_is_self_contained(samples_dir):
    from shapely.geometry import box, mapping

    from georeason.app.webmap import web_map_html

    footprint = [[-84.4, 33.8], [-84.39, 33.8], [-84.39, 33.79], [-84.4, 33.79]]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(box(-84.398, 33.792, -84.395, 33.795)),
                "properties": {"kind": "box", "box_index": 0, "area_m2": 1234.5},
            }
        ],
    }
    html = web_map_html(fc, footprint, samples_dir / "images/dior_00001.jpg")
    assert html.startswith("<iframe") and "srcdoc=" in html
    # Leaflet inlined, no CDN script or stylesheet; the feature and image are in the page
    assert "cdn.jsdelivr.net" not in html and "code.jquery.com" not in html
    assert "data:text/javascript;base64," in html and "data:image/png;base64," in html
    assert "1234.5" in html and "-84.398" in html


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("myhost", False),
    ],
)
def test_is_loopback(host, loopback):
    from georeason.commands.app import is_loopback

    assert is_loopback(host) is loopback


def test_app_cli_errors_are_one_line(tmp_path, capsys):
    from georeason.cli import main

    assert main(["app", "--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "georeason: error: --port must be in 1..65535, got 0"
    assert main(["app", "--model", str(tmp_path / "missing"), "--samples", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("--samples must be at least 1, got 0")


def test_examples_are_the_bundled_samples_geotiffs_first(samples_dir):
    from georeason.app.ui import examples_from_samples

    rows = examples_from_samples()
    images = [Path(r[0]).name for r in rows]
    assert len(images) == len(set(images)) == 5
    assert images[:2] == ["spacenet_atlanta_pan.tif", "neon_OSBS_029.tif"] or images[:2] == [
        "neon_OSBS_029.tif",
        "spacenet_atlanta_pan.tif",
    ]
    assert all(Path(r[0]).is_file() and r[1] and r[2] == "contour" for r in rows)


@pytest.mark.slow
def test_app_in_headless_chromium_and_gradio_client(tiny_qwen25vl_dir, samples_dir, tmp_path):
    """Start ``georeason app`` as a user would, drive the page in Debian's Chromium, then call
    the same action through ``gradio_client``: both return the same RFC 7946 GeoJSON."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: the setup script installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from _servers import free_port, start_app
    from gradio_client import Client, handle_file
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start_app(tiny_qwen25vl_dir, port, tmp_path / "work")
    url = f"http://127.0.0.1:{port}/"
    scene = samples_dir / SPACENET
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.goto(url)
            assert "RANDOM weights" in page.inner_text("#random-weights")
            page.set_input_files("#image-in input[type=file]", str(scene))
            page.wait_for_selector("#image-info p", timeout=30_000)
            assert "EPSG:32616" in page.inner_text("#image-info")
            page.fill("#query-in textarea", "the largest building")
            page.click("#run")
            link = page.wait_for_selector("#geojson a", timeout=120_000)
            page.wait_for_selector("#overlay img", timeout=30_000)
            page.wait_for_selector("#map iframe", timeout=30_000)
            body = page.request.get(link.get_attribute("href")).body()
            page_fc = json.loads(body)
            files_text = page.inner_text("#files").replace("\n", "")
            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        assert page_fc["type"] == "FeatureCollection"
        assert page_fc["properties"]["crs"] == "EPSG:4326"
        assert "result.gpkg" in files_text and "result.json" in files_text
        assert shot.stat().st_size > 10_000
        if os.environ.get("GEOREASON_UPDATE_DOCS"):  # the README's screenshot, as a light JPEG
            from PIL import Image

            Image.open(shot).convert("RGB").save(DOCS / "app.jpg", quality=80, optimize=True)

        client = Client(url, verbose=False)
        out = client.predict(
            handle_file(str(scene)), "the largest building", "contour", api_name="/locate"
        )
        api_fc = json.loads(Path(out[3]).read_text())
        assert api_fc == page_fc  # greedy decoding: the same request gives the same answer
        assert Path(out[1]).suffix == ".png" and "<iframe" in out[2]

        with pytest.raises(Exception, match="upload an image|type a query"):
            client.predict(handle_file(str(scene)), "  ", "contour", api_name="/locate")
        assert proc.poll() is None  # the app keeps running after a bad request
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_backend_tiles_when_asked_and_reports_each_tile(backend, samples_dir):
    """The tiled path (as for scenes over 400 MP) on the SpaceNet GeoTIFF with 512 px tiles:
    four tiles reported as progress, a label COG, RFC 7946 GeoJSON and the overview overlay."""
    from rio_cogeo.cogeo import cog_validate

    from georeason.app.backend import AppBackend

    tiled = AppBackend(
        backend.policy,
        backend.segmenter,
        work_dir=backend.work_dir,
        locate_options={"max_new_tokens": 16},
        tile_size=512,
        tile_overlap=64,
    )
    calls: list[tuple] = []
    res = tiled.run(
        str(samples_dir / SPACENET), "the roofs", "contour", on_stage=lambda *a: calls.append(a)
    )
    tiles = [a for a in calls if a[0].startswith("tile")]
    assert [a[0] for a in tiles] == ["tile 1/4", "tile 2/4", "tile 3/4", "tile 4/4"]
    assert [a[1] for a in tiles] == [0.25, 0.5, 0.75, 1.0]
    assert cog_validate(str(res.files["mask.tif"]))[0]
    assert res.feature_collection["properties"]["crs"] == "EPSG:4326"
    assert "from 4 tiles of 512 px" in res.summary and res.overlay_path.is_file()
    assert set(res.files) >= {"result.json", "result.geojson", "result.gpkg", "mask.tif"}
