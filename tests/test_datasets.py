"""Benchmark loaders on tiny fake data in the real formats (tests/data/make_fake_data.py) and on
the real annotations bundled in rs-samples (DIOR-RSVG XML, DOTA labelTxt, iSAID masks)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from georeason.data import SAMPLES_DIR, sample_records
from georeason.errors import UserInputError
from georeason.eval import datasets as D

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    return {r["id"]: r for r in sample_records()}


def test_generator_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_fake_data", DATA / "make_fake_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for rel in [
        "earthreason/test/QAs/er_a.json",
        "dior_rsvg/Annotations/00003.xml",
        "geozero/test.json",
        "dota/val/labelTxt/P0001.txt",
        "jsonl/queries.jsonl",
        "rrsisd/rrsisd/instances.json",
        "earthreason/test/labels/er_a.png",
        "isaid/val/Semantic_masks/images/P0007_instance_color_RGB.png",
    ]:
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), rel


# ------------------------------------------------------------------------------- EarthReason


def test_earthreason_pairs_by_stem_and_derives_boxes():
    ds = D.EarthReason(DATA / "earthreason", "test")
    assert ds.ids == ["er_a", "er_b", "er_c"]
    a = ds[0]
    assert a.query == "Where would trucks load goods?"  # questions[0], as SegEarth-R1 evaluates
    assert a.questions == ("Where would trucks load goods?", "Which area serves logistics?")
    assert a.mask.shape == (48, 64) and a.mask.sum() == 10 * 20 + 4 * 4
    assert a.boxes_xyxy_px.tolist() == [[5.0, 10.0, 44.0, 34.0]]  # M2B, whole mask
    assert a.image_path.name == "er_a.jpg"
    b = ds[1]  # empty answer: no target
    assert b.meta["no_target_answer"] and not b.has_target and b.boxes_xyxy_px.shape == (0, 4)
    assert ds[2].image_path.suffix == ".png"
    comps = D.EarthReason(DATA / "earthreason", "test", box_from_mask="components")[0]
    assert comps.boxes_xyxy_px.tolist() == [[5.0, 10.0, 25.0, 20.0], [40.0, 30.0, 44.0, 34.0]]


def test_earthreason_all_questions():
    ds = D.EarthReason(DATA / "earthreason", "test", question_index=None)
    assert ds.ids == ["er_a#0", "er_a#1", "er_b#0", "er_c#0"]
    assert ds[1].query == "Which area serves logistics?"
    assert len(D.EarthReason(DATA / "earthreason", "val")) == 1


def test_earthreason_errors(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match=r"test/images not found.*Expected layout"):
        D.EarthReason(DATA / "earthreason" / "test", "test")  # root one level too deep
    root = tmp_path / "er"
    shutil.copytree(DATA / "earthreason", root)
    (root / "test" / "labels" / "er_c.png").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"without a label.*er_c"):
        D.EarthReason(root, "test")
    shutil.copy(DATA / "earthreason/test/labels/er_a.png", root / "test/labels/er_c.png")
    (root / "test" / "QAs" / "er_b.json").write_text("{not json")
    with pytest.raises(D.CorruptDataError, match="er_b.json"):
        D.EarthReason(root, "test")
    (root / "test" / "QAs" / "er_b.json").write_text(json.dumps({"answer": []}))
    with pytest.raises(D.CorruptDataError, match="questions"):
        D.EarthReason(root, "test")
    with pytest.raises(UserInputError, match="unknown split"):
        D.EarthReason(DATA / "earthreason", "dev")


def test_corrupt_mask_is_reported(tmp_path):
    root = tmp_path / "er"
    shutil.copytree(DATA / "earthreason", root)
    (root / "test" / "labels" / "er_a.png").write_bytes(b"\x89PNG broken")
    ds = D.EarthReason(root, "test")
    with pytest.raises(D.CorruptDataError, match="er_a.png"):
        ds[0]


# ------------------------------------------------------------------------------- DIOR-RSVG


def test_dior_rsvg_split_indexes_objects_globally():
    test = D.DIORRSVG(DATA / "dior_rsvg", "test")
    assert test.ids == ["00001_0", "00003_0"]  # global object indices 0 and 3
    s = test[1]
    assert s.query == "a ship at the pier" and s.label == "ship"
    assert s.boxes_xyxy_px.tolist() == [[10.0, 12.0, 20.0, 30.0]]
    assert s.image_path.name == "00003.jpg" and s.mask is None
    assert D.DIORRSVG(DATA / "dior_rsvg", "train").ids == ["00001_1", "00003_1"]


def test_dior_rsvg_real_sample(tmp_path, records):
    root = tmp_path / "rsvg"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    shutil.copy(SAMPLES_DIR / "annotations/dior_00001.xml", root / "Annotations/00001.xml")
    shutil.copy(SAMPLES_DIR / "images/dior_00001.jpg", root / "JPEGImages/00001.jpg")
    (root / "test.txt").write_text("0\n")
    s = D.DIORRSVG(root, "test")[0]
    ref = records["dior_00001_rsvg"]
    assert s.query == ref["query"]
    assert s.boxes_xyxy_px.tolist() == [[float(v) for v in ref["gt_boxes"][0]]]
    assert s.image_path.is_file()


def test_dior_rsvg_errors(tmp_path):
    root = tmp_path / "rsvg"
    shutil.copytree(DATA / "dior_rsvg", root)
    (root / "val.txt").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"val.txt.*Expected layout"):
        D.DIORRSVG(root, "val")
    (root / "Annotations" / "00002.xml").write_text("<annotation><object>")
    with pytest.raises(D.CorruptDataError, match="00002.xml"):
        D.DIORRSVG(root, "test")
    (root / "Annotations" / "00002.xml").write_text(
        "<annotation><object><name>dam</name><description>x</description></object></annotation>"
    )
    with pytest.raises(D.CorruptDataError, match="bndbox"):
        D.DIORRSVG(root, "test")


# ------------------------------------------------------------------------------- RRSIS-D


def test_rrsisd_polygon_and_rle_masks():
    ds = D.RRSISD(DATA / "rrsisd", "test")
    assert ds.ids == ["10", "11"]
    a, b = ds[0], ds[1]
    assert a.query == "The small square vehicle"
    assert a.mask.shape == (40, 50) and a.mask.sum() == 100
    assert a.boxes_xyxy_px.tolist() == [[5.0, 5.0, 15.0, 15.0]]
    expected = np.zeros((40, 50), bool)
    expected[20:30, 30:45] = True
    assert np.array_equal(b.mask, expected)
    assert b.boxes_xyxy_px.tolist() == [[30.0, 20.0, 45.0, 30.0]]
    every = D.RRSISD(DATA / "rrsisd", "test", sentence_index=None)
    assert every.ids == ["10#0", "10#1", "11#0"]
    assert D.RRSISD(DATA / "rrsisd", "val").ids == ["12"]


def test_rrsisd_refuses_pickled_code(tmp_path):
    root = tmp_path / "rr"
    shutil.copytree(DATA / "rrsisd", root)
    with open(root / "rrsisd" / "refs(unc).p", "wb") as f:
        pickle.dump([Path("x")], f)  # a class reference: could run code on load
    with pytest.raises(D.CorruptDataError, match="only plain"):
        D.RRSISD(root, "test")
    (root / "rrsisd" / "refs(unc).p").unlink()
    with pytest.raises(D.DatasetNotFoundError, match=r"refs\(unc\)"):
        D.RRSISD(root, "test")


# ------------------------------------------------------------------------------- GeoZero


def test_geozero_grounding_records():
    ds = D.GeoZeroEval(DATA / "geozero", "test")
    assert ds.ids == ["g1", "g2"] and ds.n_skipped == 1
    assert ds[0].query == "Locate the storage tank."
    assert ds[0].boxes_xyxy_px.tolist() == [[4.0, 6.0, 20.0, 30.0]]
    assert ds[1].boxes_xyxy_px.tolist() == [[1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 20.0, 20.0]]
    norm = D.GeoZeroEval(DATA / "geozero" / "test.json", box_frame="norm1000")
    # 0..1000 -> pixels of the 64x48 image.
    assert norm[0].boxes_xyxy_px[0].tolist() == pytest.approx([4 * 0.064, 6 * 0.048, 1.28, 1.44])


def test_geozero_errors(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match="test.json"):
        D.GeoZeroEval(tmp_path, "test")
    (tmp_path / "test.json").write_text(json.dumps([{"images": ["a.png"]}]))
    with pytest.raises(D.CorruptDataError, match="record 0"):
        D.GeoZeroEval(tmp_path, "test")


# ------------------------------------------------------------------------------- DOTA, iSAID


def test_dota_fake():
    ds = D.DOTA(DATA / "dota", "val")
    assert ds.ids == ["P0001_plane", "P0001_small-vehicle"]
    assert ds[0].boxes_xyxy_px.tolist() == [[1.0, 1.0, 11.0, 9.0], [40.0, 30.0, 60.0, 45.0]]
    assert ds[1].boxes_xyxy_px.tolist() == [[20.0, 8.0, 30.0, 20.0]]  # hull of the oriented box
    assert ds[1].query == "Find every small vehicle in this image."
    no_diff = D.DOTA(DATA / "dota", "val", include_difficult=False)
    assert no_diff[0].boxes_xyxy_px.tolist() == [[1.0, 1.0, 11.0, 9.0]]


def test_dota_real_sample(tmp_path, records):
    base = tmp_path / "dota" / "val"
    (base / "images").mkdir(parents=True)
    (base / "labelTxt").mkdir()
    shutil.copy(SAMPLES_DIR / "images/dota_P1888.png", base / "images/P1888.png")
    shutil.copy(SAMPLES_DIR / "annotations/dota_P1888.txt", base / "labelTxt/P1888.txt")
    ds = D.DOTA(tmp_path / "dota", "val", classes=["large-vehicle"])
    assert ds.ids == ["P1888_large-vehicle"]
    ours = sorted(map(tuple, ds[0].boxes_xyxy_px.tolist()))
    assert ours == sorted(map(tuple, records["dota_P1888_buses"]["gt_boxes"]))
    (base / "labelTxt/P1888.txt").write_text("1 2 3 plane\n")
    with pytest.raises(D.CorruptDataError, match="P1888.txt:1"):
        D.DOTA(tmp_path / "dota", "val")


def test_isaid_fake():
    ds = D.ISAID(DATA / "isaid", "val")
    assert ds.ids == ["P0007_large_vehicle", "P0007_small_vehicle"]
    lv = ds[0]
    assert lv.mask.sum() == 2 * 4 * 10
    assert lv.boxes_xyxy_px.tolist() == [[2.0, 2.0, 12.0, 6.0], [2.0, 10.0, 12.0, 14.0]]
    assert ds[1].boxes_xyxy_px.tolist() == [[30.0, 20.0, 34.0, 23.0]]


def _isaid_coco(categories, annotations, images=({"id": 7, "file_name": "P0007.png"},)):
    return {"images": list(images), "annotations": annotations, "categories": categories}


def test_isaid_annotation_file_lists_classes_without_decoding(tmp_path, monkeypatch):
    root = tmp_path / "isaid"
    shutil.copytree(DATA / "isaid", root)
    decoded = [s.mask.copy() for s in D.ISAID(root, "val")]  # reference: the decode pass
    cats = [{"id": 2, "name": "Large_Vehicle"}, {"id": 3, "name": "Small_Vehicle"}]
    anns = [{"image_id": 7, "category_id": 3}, {"image_id": 7, "category_id": 2}]
    ann_dir = root / "val" / "Annotations"
    ann_dir.mkdir()
    (ann_dir / "iSAID_val.json").write_text(json.dumps(_isaid_coco(cats, anns)))
    import georeason.eval.datasets.isaid as isaid_mod

    def no_decode(path):
        raise AssertionError(f"decoded {path} at construction")

    monkeypatch.setattr(isaid_mod, "read_rgb_label", no_decode)
    ds = D.ISAID(root, "val")
    assert ds.ids == ["P0007_large_vehicle", "P0007_small_vehicle"]
    monkeypatch.undo()
    assert all(np.array_equal(s.mask, m) for s, m in zip(ds, decoded, strict=True))
    only_small = root / "small.json"
    only_small.write_text(json.dumps(_isaid_coco(cats, anns[:1])))
    assert D.ISAID(root, "val", annotations=only_small).ids == ["P0007_small_vehicle"]
    with pytest.raises(D.DatasetNotFoundError, match="missing.json"):
        D.ISAID(root, "val", annotations=root / "missing.json")
    bad = root / "bad.json"
    bad.write_text(json.dumps(_isaid_coco([{"id": 2, "name": "tank_farm"}], anns[1:])))
    with pytest.raises(D.CorruptDataError, match="tank_farm"):
        D.ISAID(root, "val", annotations=bad)
    bad.write_text(json.dumps(_isaid_coco(cats, [{"image_id": 9, "category_id": 2}])))
    with pytest.raises(D.CorruptDataError, match="image 9"):
        D.ISAID(root, "val", annotations=bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(D.CorruptDataError, match="COCO-style"):
        D.ISAID(root, "val", annotations=bad)


def test_isaid_real_sample(tmp_path, records):
    base = tmp_path / "isaid" / "val"
    (base / "images").mkdir(parents=True)
    shutil.copy(SAMPLES_DIR / "images/isaid_P0004.png", base / "images/P0004.png")
    with pytest.raises(D.DatasetNotFoundError, match="P0004_instance_color_RGB"):
        D.ISAID(tmp_path / "isaid", "val")
    for kind in ("color", "id"):
        shutil.copy(
            SAMPLES_DIR / f"annotations/isaid_P0004_instance_{kind}_RGB.png",
            base / f"P0004_instance_{kind}_RGB.png",
        )
    ds = D.ISAID(tmp_path / "isaid", "val")
    for s, rid in zip(ds, ["isaid_P0004_trailers", "isaid_P0004_cars"], strict=True):
        ref = records[rid]
        assert np.array_equal(s.mask, D.read_mask(SAMPLES_DIR / ref["gt_mask"]))
        assert sorted(map(tuple, s.boxes_xyxy_px.tolist())) == sorted(
            tuple(float(v) for v in b) for b in ref["gt_boxes"]
        )


# ------------------------------------------------------------------------------- JSONL


def test_jsonl_fake_and_real(records):
    fake = D.JSONLQueries(DATA / "jsonl")
    assert fake.ids == ["q1", "q2"] and fake.has_masks
    assert fake[0].boxes_xyxy_px.tolist() == [[2.0, 3.0, 10.0, 12.0]] and fake[0].label == "roof"
    assert not fake[1].has_target
    real = D.build_dataset("jsonl", SAMPLES_DIR)
    assert real.ids == list(records) and not real.has_masks
    masked = real.with_masks_only()
    assert masked.ids == ["isaid_P0004_trailers", "isaid_P0004_cars", "spacenet_atlanta_buildings"]
    s = masked[2]
    assert s.mask.shape == (900, 900) and s.boxes_xyxy_px.shape == (43, 4)
    assert s.image_path.is_file()


def test_jsonl_errors(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match="queries.jsonl"):
        D.JSONLQueries(tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"id": "a", "image": "x.png", "query": "q"}\n')
    with pytest.raises(D.CorruptDataError, match=r"gt_boxes"):
        D.JSONLQueries(tmp_path)
    line = json.dumps({"id": "a", "image": "x.png", "query": "q", "gt_boxes": []})
    (tmp_path / "queries.jsonl").write_text(line + "\n" + line + "\n")
    with pytest.raises(D.CorruptDataError, match="duplicate id"):
        D.JSONLQueries(tmp_path)


def test_build_dataset_names():
    assert set(D.DATASETS) == {
        "earthreason",
        "dior_rsvg",
        "rrsisd",
        "geozero",
        "dota",
        "isaid",
        "jsonl",
    }
    assert isinstance(D.build_dataset("DIOR-RSVG", DATA / "dior_rsvg"), D.DIORRSVG)
    with pytest.raises(UserInputError, match="unknown dataset"):
        D.build_dataset("refcoco", DATA)
    with pytest.raises(D.DatasetNotFoundError, match="does not exist"):
        D.build_dataset("dota", DATA / "nope")


def _save_mask(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_mask_png_modes_are_read_as_segearth_r1_reads_them(tmp_path):
    """cv2.imread(..., IMREAD_GRAYSCALE) != 0 (SegEarth-R1's EarthReason loader), per PNG mode."""
    import numpy as np
    from PIL import Image

    from georeason.eval.datasets.base import read_mask

    grey = np.array([[0, 1, 255]], np.uint8)
    assert read_mask(_save_mask(tmp_path, "l.png", Image.fromarray(grey, "L"))).tolist() == [
        [False, True, True]
    ]
    # RGB: the decoder's luma; very dark colours round to grey 0 -> background
    rgb = np.array([[[0, 0, 0], [1, 0, 0], [0, 0, 3], [0, 9, 0], [255, 0, 0]]], np.uint8)
    assert read_mask(_save_mask(tmp_path, "rgb.png", Image.fromarray(rgb, "RGB"))).tolist() == [
        [False, False, False, True, True]
    ]
    # palette: the colour counts, not the index (index 0 is white here, index 1 black)
    pal = Image.fromarray(np.array([[0, 1, 1, 0]], np.uint8), "P")
    pal.putpalette([255, 255, 255, 0, 0, 0] + [0, 0, 0] * 254)
    assert read_mask(_save_mask(tmp_path, "p.png", pal)).tolist() == [[True, False, False, True]]
    # alpha is ignored: transparent white is target, opaque black is background
    la = np.array([[[255, 0], [0, 255]]], np.uint8)
    assert read_mask(_save_mask(tmp_path, "la.png", Image.fromarray(la, "LA"))).tolist() == [
        [True, False]
    ]
    rgba = np.array([[[255, 255, 255, 0], [0, 0, 0, 255]]], np.uint8)
    assert read_mask(_save_mask(tmp_path, "rgba.png", Image.fromarray(rgba, "RGBA"))).tolist() == [
        [True, False]
    ]
