import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from georeason.io import ImageReadError, read_image, select_rgb, to_uint8


def test_real_uint16_single_band_geotiff(samples_dir):
    im = read_image(samples_dir / "images/spacenet_atlanta_pan.tif")
    assert im.rgb.shape == (900, 900, 3) and im.rgb.dtype == np.uint8
    assert im.source_dtype == "uint16" and im.source_bands == 1
    assert im.crs == "EPSG:32616" and im.georeferenced
    assert np.array_equal(im.rgb[..., 0], im.rgb[..., 2])  # grey replicated
    # percentile stretch: about 2% of pixels at 0 and 2% at 255
    assert 0.005 < (im.rgb[..., 0] == 0).mean() < 0.05
    assert 0.005 < (im.rgb[..., 0] == 255).mean() < 0.05


def test_real_rgb_geotiff_and_png(samples_dir):
    neon = read_image(samples_dir / "images/neon_OSBS_029.tif")
    assert neon.rgb.shape == (400, 400, 3) and neon.crs == "EPSG:32617"
    with rasterio.open(samples_dir / "images/neon_OSBS_029.tif") as ds:
        assert np.array_equal(neon.rgb, np.moveaxis(ds.read()[:3], 0, -1))
    png = read_image(samples_dir / "images/isaid_P0004.png")
    assert png.rgb.shape == (1464, 824, 3) and png.crs is None and not png.georeferenced
    jpg = read_image(samples_dir / "images/dior_00001.jpg")
    assert jpg.rgb.shape == (800, 800, 3)


def test_stretch_exact_values():
    band = np.arange(101, dtype=np.float32).reshape(1, 1, 101)  # percentiles 2 and 98 = 2, 98
    out, rule = to_uint8(band)
    assert out[0, 0, 2] == 0 and out[0, 0, 98] == 255 and out[0, 0, 50] == 128
    assert out[0, 0, 0] == 0 and out[0, 0, 100] == 255 and "percentile" in rule
    flat, _ = to_uint8(np.full((1, 4, 4), 7.0))
    assert (flat == 0).all()
    nod, _ = to_uint8(np.array([[[0, 0, 0, 10, 20, 30]]], dtype=np.uint16), nodata=0)
    assert nod[0, 0, :3].tolist() == [0, 0, 0] and nod[0, 0, 5] == 255


def _write_tif(path, data, georef=True):
    c, h, w = data.shape
    kw = dict(crs="EPSG:32633", transform=from_origin(500000, 4000000, 2.0, 2.0)) if georef else {}
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, **kw
    ) as ds:
        ds.write(data)


def test_float_and_multiband_geotiff(tmp_path):
    rng = np.random.default_rng(0)
    _write_tif(tmp_path / "f.tif", rng.normal(size=(5, 20, 30)).astype(np.float32))
    im = read_image(tmp_path / "f.tif")
    assert im.rgb.shape == (20, 30, 3) and im.source_bands == 5 and im.crs == "EPSG:32633"
    im2 = read_image(tmp_path / "f.tif", bands=(4, 3, 2))
    assert not np.array_equal(im.rgb, im2.rgb)
    with pytest.raises(ImageReadError, match="5 band"):
        read_image(tmp_path / "f.tif", bands=(6, 3, 2))
    _write_tif(tmp_path / "plain.tif", rng.integers(0, 255, (3, 8, 8), dtype=np.uint8), False)
    plain = read_image(tmp_path / "plain.tif")
    assert plain.crs is None and plain.transform is None


def test_rgba_and_16bit_png(tmp_path):
    rgba = np.zeros((6, 7, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    im = read_image(tmp_path / "a.png")
    assert im.rgb.shape == (6, 7, 3) and (im.rgb[..., 0] == 200).all()
    Image.fromarray(np.arange(42, dtype=np.uint16).reshape(6, 7) * 1000).save(tmp_path / "g.png")
    g = read_image(tmp_path / "g.png")
    assert g.rgb.shape == (6, 7, 3) and g.rgb.max() == 255 and g.rgb.min() == 0


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "dir", "texttif"])
def test_bad_files_clear_error(tmp_path, samples_dir, kind):
    p = tmp_path / "x.png"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, I am not a picture")
    elif kind == "truncated":
        p.write_bytes((samples_dir / "images/isaid_P0004.png").read_bytes()[:5000])
    elif kind == "dir":
        p.mkdir()
    elif kind == "texttif":
        p = tmp_path / "x.tif"
        p.write_text("not a tiff")
    with pytest.raises(ImageReadError) as info:
        read_image(p)
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg


def test_too_large_refused(samples_dir):
    with pytest.raises(ImageReadError, match="max_read_pixels"):
        read_image(samples_dir / "images/dior_00001.jpg", max_read_pixels=1000)
    with pytest.raises(ImageReadError, match="max_read_pixels"):
        read_image(samples_dir / "images/neon_OSBS_029.tif", max_read_pixels=1000)


def test_select_rgb_rules():
    stack = np.stack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3, 4)])
    assert select_rgb(stack[:1])[0, 0].tolist() == [1, 1, 1]
    assert select_rgb(stack[:2])[0, 0].tolist() == [1, 1, 1]
    assert select_rgb(stack)[0, 0].tolist() == [1, 2, 3]
    assert select_rgb(stack, (4,))[0, 0].tolist() == [4, 4, 4]


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    from georeason.io import atomic_path, write_json

    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"a": ', encoding="utf-8")  # a writer killed half-way
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}  # the old file, whole
    with atomic_path(tmp_path / "overlay.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path  # writers infer the format
        Image.new("RGB", (2, 2)).save(tmp)
    assert Image.open(tmp_path / "overlay.png").size == (2, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "overlay.png"]
