import json
import subprocess
import sys

import pytest

from georeason.cli import main
from georeason.commands.locate import parse_boxes_arg


def _bad_inputs(tmp_path, samples_dir):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes((samples_dir / "images/dota_P1888.png").read_bytes()[:3000])
    good = str(samples_dir / "images/dior_00001.jpg")
    return {
        "empty": [str(empty), "q", "--boxes", "[[1,1,5,5]]"],
        "text": [str(text), "q", "--boxes", "[[1,1,5,5]]"],
        "truncated": [str(trunc), "q", "--boxes", "[[1,1,5,5]]"],
        "missing": [str(tmp_path / "nope.png"), "q", "--boxes", "[[1,1,5,5]]"],
        "not_json_boxes": [good, "q", "--boxes", "golf course"],
        "wrong_arity": [good, "q", "--boxes", "[[1,2,3]]"],
        "inverted": [good, "q", "--boxes", "[[50,50,10,10]]"],
        "outside": [good, "q", "--boxes", "[[5000,5000,6000,6000]]"],
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "text",
        "truncated",
        "missing",
        "not_json_boxes",
        "wrong_arity",
        "inverted",
        "outside",
    ],
)
def test_bad_input_exit_2_one_line(case, tmp_path, samples_dir, capsys):
    argv = ["locate", *_bad_inputs(tmp_path, samples_dir)[case], "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("georeason: error:") and "\n" not in err
    assert "Traceback" not in err


def test_console_script_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "georeason.cli",
            "locate",
            str(tmp_path / "missing.tif"),
            "q",
            "--boxes",
            "[[0,0,1,1]]",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["locate", "img.png"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("georeason: error:")


def test_parse_boxes_arg_forms():
    assert parse_boxes_arg("[1, 2, 3, 4]") == [[1, 2, 3, 4]]
    assert parse_boxes_arg("[[1,2,3,4],[5,6,7.5,8]]") == [[1, 2, 3, 4], [5, 6, 7.5, 8]]
    assert parse_boxes_arg("[]") == []


def test_locate_from_boxes_on_real_geotiff(tmp_path, samples_dir, capsys):
    out = tmp_path / "res"
    rc = main(
        [
            "locate",
            str(samples_dir / "images/spacenet_atlanta_pan.tif"),
            "Which structures do people live in?",
            "--boxes",
            "[[100, 100, 180, 170], [300, 400, 350, 460]]",
            "--segmenter",
            "box",
            "--out",
            str(out),
            "--geojson-crs",
            "source",
        ]
    )
    assert rc == 0
    res = json.loads((out / "result.json").read_text())
    assert res["boxes_xyxy_px"] == [[100, 100, 180, 170], [300, 400, 350, 460]]
    assert res["crs"] == "EPSG:32616" and res["weights"] is None and res["parse_status"] == "given"
    assert len(res["masks"]) == 2 and res["masks"][0]["size"] == [900, 900]
    gj = json.loads((out / "result.geojson").read_text())
    assert gj["crs"]["properties"]["name"].endswith("32616")
    # box segmenter: contour of box 0 equals the box, in map coordinates (0.5 m pixels)
    contour = [f for f in gj["features"] if f["properties"]["kind"] == "contour"][0]
    xs = [p[0] for p in contour["geometry"]["coordinates"][0]]
    assert max(xs) - min(xs) == pytest.approx(80 * 0.5)
    assert (out / "overlay.png").stat().st_size > 0
    assert contour["properties"]["area_m2"] == pytest.approx(80 * 70 * 0.25)


def test_locate_refuses_an_extreme_strip_in_one_line(tmp_path, tiny_qwen3vl_dir, capsys):
    from PIL import Image

    strip = tmp_path / "strip.png"
    Image.new("RGB", (2500, 10), (100, 120, 90)).save(strip)
    out = tmp_path / "o"
    argv = ["locate", str(strip), "the road", "--model", str(tiny_qwen3vl_dir), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "2500 x 10 px" in err and "aspect ratio" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"id": broken', ":2: not valid JSON"),
        ('{"id": "x", "image": "images/dior_00001.jpg", "gt_boxes": []}', ":2: missing field"),
        (
            '{"id": "x", "query": "q", "image": "images/dior_00001.jpg", "gt_boxes": [[1, 2, 3]]}',
            ":2: bad gt_boxes",
        ),
    ],
)
def test_eval_bad_data_line_exit_2_names_file_and_line(bad_line, message, tmp_path, samples_dir):
    """A bad record in a JSONL data file stops eval before any sample, in one line (the box
    of three numbers gave a traceback with exit 1 before the check at load time)."""
    first = (samples_dir / "queries.jsonl").read_text().splitlines()[0]
    root = tmp_path / "data"
    root.mkdir()
    (root / "images").symlink_to(samples_dir / "images")
    (root / "queries.jsonl").write_text(
        first + "\n" + bad_line + "\n" + first.replace('"id": "', '"id": "z') + "\n"
    )
    (tmp_path / "p.jsonl").write_text("")
    argv = ["eval", "--dataset", "jsonl", "--root", str(root), "--predictions"]
    argv += [str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "o")]
    proc = subprocess.run(
        [sys.executable, "-m", "georeason.cli", *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert "queries.jsonl" in err and message in err and "Traceback" not in proc.stderr
