import json

from georeason.demo import run_demo


def test_demo_writes_every_sample_with_real_masks(tmp_path, sample_records_list):
    out = tmp_path / "demo"
    summary = run_demo(out, max_new_tokens=8, max_pixels=65_536)
    assert summary["weights"] == "random"
    ids = [r["id"] for r in summary["results"]]
    assert ids == [r["id"] for r in sample_records_list]
    assert {r["image"] for r in summary["results"]} == {
        "images/dior_00001.jpg",
        "images/dota_P1888.png",
        "images/isaid_P0004.png",
        "images/spacenet_atlanta_pan.tif",
        "images/neon_OSBS_029.tif",
    }
    for row in summary["results"]:
        res = json.loads((out / row["model_dir"] / "result.json").read_text())
        assert res["weights"] == "random" and (out / row["model_dir"] / "overlay.png").exists()
        gt_dir = out / row["gt_dir"]
        gj = json.loads((gt_dir / "result.geojson").read_text())
        n_boxes = sum(f["properties"]["kind"] == "box" for f in gj["features"])
        assert n_boxes == row["gt_boxes"]
        if row["crs"]:  # RFC 7946: WGS 84, the source CRS named in the properties
            assert "crs" not in gj and gj["properties"]["source_crs"] == row["crs"]
            assert gj["properties"]["crs"] == "EPSG:4326"
    by_id = {r["id"]: r for r in summary["results"]}
    for key in ("isaid_P0004_trailers", "isaid_P0004_cars", "spacenet_atlanta_buildings"):
        iou = by_id[key]["mask_iou_from_gt_boxes"]
        assert iou["default"] >= iou["box"] - 0.005  # the default segmenter vs box-filling
    assert by_id["spacenet_atlanta_buildings"]["crs"] == "EPSG:32616"
    assert by_id["neon_OSBS_029_trees"]["crs"] == "EPSG:32617"
    html = (out / "index.html").read_text()
    assert "random weights" in html and html.count("<section>") == len(ids)
