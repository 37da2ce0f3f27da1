"""Odd but legal images: each is read by the documented rule (README "Odd images") and runs
through ``locate`` with the tiny model, or stops with one line (the extreme strip is in
test_cli)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from georeason.cli import main
from georeason.io import read_image


def _one_px(path):
    Image.new("RGB", (1, 1), (10, 200, 30)).save(path)
    return lambda im: im.rgb.tolist() == [[[10, 200, 30]]]


def _cmyk_jpeg(path):
    # pure cyan in CMYK -> PIL's CMYK->RGB conversion: (255 - C, 255 - M, 255 - Y) with K = 0
    Image.new("CMYK", (16, 12), (255, 0, 0, 0)).save(path, quality=100)
    return lambda im: (
        im.rgb.shape == (12, 16, 3) and np.abs(im.rgb.astype(int) - [0, 255, 255]).max() <= 3
    )


def _palette_png(path):
    im = Image.new("P", (8, 6), 1)
    im.putpalette([0, 0, 0, 250, 20, 5] + [0, 0, 0] * 254)
    im.save(path)
    return lambda r: (r.rgb == [250, 20, 5]).all()


def _grey_alpha_png(path):
    a = np.zeros((6, 8, 2), np.uint8)
    a[..., 0], a[..., 1] = 77, 3  # grey 77, nearly transparent: alpha is dropped, grey kept
    Image.fromarray(a, "LA").save(path)
    return lambda r: (r.rgb == 77).all()


def _uint16_single_band_tif(path):
    data = np.arange(100, dtype=np.uint16).reshape(1, 10, 10) * 600
    with rasterio.open(
        path, "w", driver="GTiff", height=10, width=10, count=1, dtype="uint16"
    ) as ds:
        ds.write(data)
    # 2-98 percentile stretch of 0..59,400: grey, replicated to three equal channels
    return lambda r: (
        r.source_dtype == "uint16"
        and (r.rgb[..., 0] == r.rgb[..., 2]).all()
        and (r.rgb.min() == 0 and r.rgb.max() == 255)
    )


def _float32_4band_nan_tif(path):
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 0.4, size=(4, 20, 24)).astype(np.float32)
    data[:, :5, :5] = np.nan  # nodata block
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=20,
        width=24,
        count=4,
        dtype="float32",
        nodata=float("nan"),
        crs="EPSG:32633",
        transform=from_origin(500000, 4e6, 10, 10),
    ) as ds:
        ds.write(data)
    # bands 1-3 stretched per band over finite pixels; NaN pixels become 0; band 4 dropped
    return lambda r: r.source_bands == 4 and (r.rgb[:5, :5] == 0).all() and r.georeferenced


CASES = {
    "1x1.png": _one_px,
    "cmyk.jpg": _cmyk_jpeg,
    "palette.png": _palette_png,
    "grey_alpha.png": _grey_alpha_png,
    "uint16_1band.tif": _uint16_single_band_tif,
    "float32_4band_nan.tif": _float32_4band_nan_tif,
}


@pytest.mark.parametrize("name", list(CASES))
def test_odd_image_is_read_by_the_documented_rule(tmp_path, name):
    check = CASES[name](tmp_path / name)
    im = read_image(tmp_path / name)
    assert im.rgb.dtype == np.uint8 and im.rgb.ndim == 3 and im.rgb.shape[2] == 3
    assert check(im), name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_odd_image_runs_through_locate(tmp_path, tiny_qwen25vl_dir, name, capsys):
    CASES[name](tmp_path / name)
    out = tmp_path / "out"
    argv = ["locate", str(tmp_path / name), "the field", "--model", str(tiny_qwen25vl_dir)]
    assert main([*argv, "--out", str(out), "--max-new-tokens", "8"]) == 0, capsys.readouterr().err
    result = json.loads((out / "result.json").read_text())
    h, w = read_image(tmp_path / name).rgb.shape[:2]
    assert result["image"] == str(tmp_path / name)
    for x1, y1, x2, y2 in result["boxes_xyxy_px"]:  # original pixels, inside the image
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    with Image.open(out / "overlay.png") as overlay:
        assert overlay.size == (w, h)


def test_cmyk_fixture_really_is_cmyk(tmp_path):
    _cmyk_jpeg(tmp_path / "c.jpg")
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK"
