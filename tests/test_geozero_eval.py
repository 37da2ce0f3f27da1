"""GeoZero's scoring rules: constructed cases with known values, an independent reference on
the bundled real images, and the CLI's predictions mode (``eval --geozero-task``)."""

import json
import math

import pytest
from PIL import Image

from georeason.cli import main
from georeason.eval import geozero_rules as R
from georeason.eval.caption_metrics import caption_metrics
from georeason.eval.datasets.geozero import read_geozero_records
from georeason.eval.wordnet_data import (
    LEXNAMES,
    LEXNAMES_MANPAGE,
    lexnames_file,
    lexnames_from_manpage,
)

# ------------------------------------------------------------------- answers and normalisation


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer> Forest </answer>", "Forest"),
        ("<answer> </answer><answer>b</answer>", "b"),  # first NON-empty block
        ("<answer> </answer><answer>\n</answer>", ""),  # all empty: the first, stripped
        ("  no tags here ", "no tags here"),  # no block: the whole text
        ("<answer>a\nb</answer>", "a\nb"),  # DOTALL
        ("", ""),
        (None, ""),
    ],
)
def test_extract_answer_block(text, expected):
    assert R.extract_answer_block(text) == expected


def test_normalize_answer():
    assert R.normalize_answer("  Dense-Residential,\tArea!! ") == "denseresidential area"
    assert R.normalize_answer("Río_2 ") == "río_2"  # \w keeps unicode letters and _


def test_scene_cls_exact_match():
    out = R.scene_cls_accuracy(["Forest.", "beach", "Bare land"], ["forest", "river", "bareland"])
    assert out == {"accuracy": pytest.approx(100 / 3), "n": 3}


def test_vqa_loose_match_and_empty_quirk():
    preds = ["yes", "There are 3", "", "no"]
    labels = ["Yes", "3", "rural", "yes"]
    out = R.vqa_accuracy(preds, labels)
    # "3" is contained in "there are 3"; "" is contained in "rural" (GeoZero's quirk)
    assert out["accuracy"] == 75.0
    assert out["accuracy_empty_as_wrong"] == 50.0
    assert out["n_empty_answers"] == 1 and out["n"] == 4


def test_rules_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="2 predictions but 1 labels"):
        R.scene_cls_accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no sample"):
        R.vqa_accuracy([], [])


# ------------------------------------------------------------------------------ grounding


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<answer>[10, 20.5, 30, 40]</answer>", [10, 20.5, 30, 40]),
        # Qwen's JSON answer: the "2" of "bbox_2d" is a number too, so it is not a valid box
        ('[{"bbox_2d": [1, 2, 3, 4]}]', [2, 1, 2, 3, 4]),
        ("[[1,2,3,4],[5,6,7,8]]", [1, 2, 3, 4, 5, 6, 7, 8]),  # all numbers, first [ to last ]
        ("box 1 2 3 4", None),  # no bracket
        ("] 1 2 3 4 [", []),  # ] before [: nothing between
        ("[1e3, -2, +3, .5]", [1, 3, -2, 3, 0.5]),  # 1e3 reads as 1 and 3
    ],
)
def test_extract_box_numbers(text, expected):
    assert R.extract_box_numbers(text) == expected


def test_geozero_smart_resize_matches_transformers_on_normal_sizes():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(800, 800), (500, 1000), (557, 712), (1464, 824), (4000, 3000), (60, 60)]:
        expected = smart_resize(h, w, factor=28, min_pixels=4 * 28**2, max_pixels=16384 * 28**2)
        assert R.geozero_smart_resize(h, w) == expected
    # the one difference: under 14 px a side GeoZero's version keeps one factor first
    assert R.geozero_smart_resize(10, 100) == (28, 112)
    with pytest.raises(ValueError, match="aspect ratio"):
        R.geozero_smart_resize(2, 500)


def test_pred_box_frames_worked_examples():
    box = [100, 100, 300, 200]
    # 1000 x 500 (W x H): norm1000 vs GeoZero's resized-pixel reading (resize to 1008 x 504)
    assert R.pred_box_to_original_px(box, "qwen3-norm1000", 500, 1000) == [100, 50, 300, 100]
    assert R.pred_box_to_original_px(box, "geozero-script", 500, 1000) == [99, 99, 298, 198]
    assert R.pred_box_to_original_px(box, "original-px", 500, 1000) == [100, 100, 300, 200]
    # the report's example: 800 x 800, resize 812 x 812, Python's round
    b = R.pred_box_to_original_px([100, 100, 300, 300], "geozero-script", 800, 800)
    assert b == [99, 99, 296, 296]
    # qwen25 with the paper budget: 800x800 -> 812x812 too (no downscale)
    q = R.pred_box_to_original_px([812, 0, 406, 0], "qwen25-resized-px", 800, 800, 802_816)
    assert q == pytest.approx([800, 0, 400, 0])
    with pytest.raises(ValueError, match="unknown"):
        R.pred_box_to_original_px(box, "pixels", 10, 10)  # type: ignore[arg-type]


def test_geozero_script_rounds_half_to_even():
    # 56 x 56 image (the minimum budget): no resize, scale 1; round(2.5) == 2 (half to even)
    assert R.pred_box_to_original_px([2.5, 3.5, 10, 10], "geozero-script", 56, 56) == [2, 4, 10, 10]


def test_grounding_levels_and_counts():
    h = w = 1000
    f = "original-px"
    items = [
        R.score_grounding_item("[0,0,32,32]", "[0,0,32,32]", h, w, f),  # area 1024: S, hit
        R.score_grounding_item("[0,0,5,5]", "[0,0,32,33]", h, w, f),  # 1056: M, miss
        R.score_grounding_item("no box", "[0,0,96,96]", h, w, f),  # 9216: M, invalid pred
        R.score_grounding_item("[0,0,100,100]", "[0,0,97,96]", h, w, f),  # L, hit
        R.score_grounding_item("[0,0,1,1]", "[1,2,3]", h, w, f),  # invalid label: not counted
        R.score_grounding_item("[1,2,3,4,5]", "[0,0,200,200]", h, w, f),  # 5 numbers: miss
    ]
    assert items[0] == R.GroundingItem("S", 1.0)
    assert items[1].level == "M" and items[1].iou == pytest.approx(25 / 1056)
    assert items[2] == R.GroundingItem("M", None)
    assert items[4] == R.GroundingItem(None, None)
    m = R.grounding_metrics(items)
    assert (m["count_S"], m["count_M"], m["count_L"]) == (1, 2, 2)
    assert m["acc50"] == pytest.approx(100 * 2 / 5)
    assert (m["acc50_S"], m["acc50_M"], m["acc50_L"]) == (100.0, 0.0, 50.0)
    assert m["n_invalid_label"] == 1 and m["n_invalid_pred"] == 2


def test_grounding_inverted_prediction_scores_zero_and_empty_level_is_none():
    item = R.score_grounding_item("[30,30,0,0]", "[0,0,30,30]", 100, 100, "original-px")
    assert item.iou == 0.0
    m = R.grounding_metrics([item])
    assert m["acc50_M"] is None and m["acc50_L"] is None and m["count_S"] == 1
    with pytest.raises(ValueError, match="no grounding sample"):
        R.grounding_metrics([R.GroundingItem(None, None)])


def _reference_grounding(rows, frame_fn):
    """An independent transcription of GeoZero's grounding rule (loops, no georeason code)."""
    import re

    num = re.compile(r"[-+]?\d*\.?\d+")

    def box(t):
        a, b = t.find("["), t.rfind("]")
        return None if a < 0 or b < 0 else [float(x) for x in num.findall(t[a : b + 1])]

    def iou(p, q):
        ix1, iy1, ix2, iy2 = max(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), min(p[3], q[3])
        if ix1 >= ix2 or iy1 >= iy2:
            return 0.0
        inter = (ix2 - ix1) * (iy2 - iy1)
        return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)

    count, hit = [0, 0, 0], [0, 0, 0]
    for pred, label, (w, h) in rows:
        g = box(label)
        if g is None or len(g) != 4:
            continue
        area = (g[2] - g[0]) * (g[3] - g[1])
        lvl = 0 if area <= 1024 else 1 if area <= 9216 else 2
        count[lvl] += 1
        p = box(pred)
        if p is None or len(p) != 4:
            continue
        p = frame_fn(p, h, w)
        gn = [g[0] / w, g[1] / h, g[2] / w, g[3] / h]
        pn = [p[0] / w, p[1] / h, p[2] / w, p[3] / h]
        hit[lvl] += iou(gn, pn) >= 0.5
    levels = [100 * a / b if b else None for a, b in zip(hit, count, strict=True)]
    return 100 * sum(hit) / sum(count), levels


def _script_frame(p, h, w):
    rh = max(28, round(h / 28) * 28)
    rw = max(28, round(w / 28) * 28)
    return [round(p[0] * w / rw), round(p[1] * h / rh), round(p[2] * w / rw), round(p[3] * h / rh)]


# ------------------------------------------------------------ real images: the CLI path


def _grounding_set(samples_dir, tmp_path):
    """GeoZero-format grounding records on the bundled real images, with predictions written
    in Qwen3-VL's 0..1000 frame (the target box, one shifted, one wrong, one malformed)."""
    rows = [json.loads(x) for x in (samples_dir / "queries.jsonl").read_text().splitlines()]
    data, preds, ref_rows = [], [], []
    for i, r in enumerate(rows):
        w, h = Image.open(samples_dir / r["image"]).size
        g = [round(v) for v in r["gt_boxes"][0]]
        label = f"<answer>[{g[0]}, {g[1]}, {g[2]}, {g[3]}]</answer>"
        n = [round(1000 * g[0] / w), round(1000 * g[1] / h), round(1000 * g[2] / w)]
        n.append(round(1000 * g[3] / h))
        kind = i % 5
        if kind == 1:
            n = [n[0] + 15, n[1] + 15, n[2] + 15, n[3] + 15]
        elif kind == 2:
            n = [0, 0, 40, 40]
        answer = {3: "I cannot tell", 4: json.dumps([{"bbox_2d": n}])}.get(kind, json.dumps(n))
        raw = f"<think>...</think><answer>{answer}</answer>"
        data.append(
            {
                "conversations": [
                    {"from": "human", "value": "<image>" + r["query"]},
                    {"from": "gpt", "value": label},
                ],
                "images": [r["image"]],
            }
        )
        pred = R.extract_answer_block(raw)
        preds.append({"raw_output": raw, "pred": pred, "label": label, "image_path": r["image"]})
        ref_rows.append((pred, label, (w, h)))
    (tmp_path / "grounding.json").write_text(json.dumps(data))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    return ref_rows


def test_cli_grounding_predictions_equal_reference(samples_dir, tmp_path, capsys):
    ref_rows = _grounding_set(samples_dir, tmp_path)
    common = ["eval", "--dataset", "geozero", "--geozero-task", "grounding"]
    common += ["--root", str(samples_dir), "--data", str(tmp_path / "grounding.json")]
    common += ["--predictions", str(tmp_path / "pred.json")]
    for frame, fn in [
        ("geozero-script", _script_frame),
        (
            "qwen3-norm1000",
            lambda p, h, w: [p[0] * w / 1e3, p[1] * h / 1e3, p[2] * w / 1e3, p[3] * h / 1e3],
        ),  # fmt: skip
    ]:
        out = tmp_path / frame
        assert main([*common, "--pred-box-frame", frame, "--out", str(out)]) == 0
        m = json.loads((out / "metrics.json").read_text())
        acc, levels = _reference_grounding(ref_rows, fn)
        assert m["acc50"] == pytest.approx(acc, abs=1e-9)
        for name, v in zip("SML", levels, strict=True):
            assert m[f"acc50_{name}"] == (None if v is None else pytest.approx(v, abs=1e-9))
        assert m["count_S"] + m["count_M"] + m["count_L"] == len(ref_rows)
        assert m["meta"]["pred_box_frame"] == frame
    norm = json.loads((tmp_path / "qwen3-norm1000" / "metrics.json").read_text())
    script = json.loads((tmp_path / "geozero-script" / "metrics.json").read_text())
    assert norm["acc50"] > script["acc50"]  # the predictions were written in norm1000
    report = (tmp_path / "geozero-script" / "report.md").read_text()
    assert "under every box frame" in report and "qwen3-norm1000" in report


def test_cli_text_tasks_and_label_from_data(samples_dir, tmp_path):
    data = [
        {
            "conversations": [
                {"from": "human", "value": "<image>What scene?"},
                {"from": "gpt", "value": lbl},
            ],
            "images": ["images/dior_00001.jpg"],
        }
        for lbl in ["golf course", "river", "forest"]
    ]
    (tmp_path / "cls.json").write_text(json.dumps(data))
    # georeason's own JSONL: ids are the record indices, labels come from --data
    lines = [{"id": "0", "raw_output": "<answer>Golf course.</answer>"}, {"id": "2", "pred": "x"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    argv = ["eval", "--dataset", "geozero", "--geozero-task", "scene_cls"]
    argv += ["--data", str(tmp_path / "cls.json"), "--predictions", str(tmp_path / "p.jsonl")]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["accuracy"] == 50.0 and m["n"] == 2 and m["geozero_task"] == "scene_cls"


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_label", "pass the GeoZero data file with --data"),
        ("bad_json", "is not valid JSON"),
        ("unknown_id", "is not in the --data file"),
        ("frame_wrong_task", "applies to --geozero-task grounding only"),
        ("no_geozero_task", "go together with --dataset geozero"),
        ("missing_image", "not found"),
    ],
)
def test_cli_geozero_errors_one_line(case, message, tmp_path, capsys):
    data = tmp_path / "d.json"
    convs = [{"from": "gpt", "value": "[0,0,5,5]"}]
    data.write_text(json.dumps([{"conversations": convs, "images": ["x.png"]}]))
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps([{"pred": "[0,0,5,5]"}]))
    argv = ["eval", "--dataset", "geozero", "--geozero-task", "grounding", "--out", str(tmp_path)]
    if case == "no_label":
        argv += ["--predictions", str(pred)]
    elif case == "bad_json":
        pred.write_text("[{")
        argv += ["--predictions", str(pred)]
    elif case == "unknown_id":
        pred.write_text(json.dumps([{"id": "7", "pred": "a"}]))
        argv += ["--predictions", str(pred), "--data", str(data)]
    elif case == "frame_wrong_task":
        argv[4] = "vqa"
        argv += ["--predictions", str(pred), "--pred-box-frame", "original-px"]
    elif case == "no_geozero_task":
        argv = ["eval", "--dataset", "jsonl", "--pred-box-frame", "original-px"]
        argv += ["--predictions", str(pred), "--out", str(tmp_path)]
    elif case == "missing_image":
        rec = {"pred": "[0,0,5,5]", "label": "[0,0,5,5]", "image_path": "x.png"}
        pred.write_text(json.dumps([rec]))
        argv += ["--predictions", str(pred), "--root", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("georeason: error:") and message in err and "\n" not in err


def test_read_geozero_records_multi_turn_and_refs(tmp_path):
    rec = {
        "conversations": [
            {"from": "human", "value": "<image>Describe it."},
            {"from": "gpt", "value": "A port."},
            {"from": "human", "value": "Shorter?"},
            {"from": "gpt", "value": "port"},
        ],
        "images": ["a.png"],
        "system": "be brief",
    }
    cap = {"conversations": [{"from": "human", "value": "<image>Caption?"}], "images": ["b.png"]}
    cap["refs"] = ["a harbor", "boats at a pier"]
    (tmp_path / "d.json").write_text(json.dumps([rec, cap]))
    r0, r1 = read_geozero_records(tmp_path / "d.json")
    assert [m["role"] for m in r0.messages] == ["system", "user", "assistant", "user"]
    text = {"type": "text", "text": "Describe it."}
    assert r0.messages[1]["content"] == [{"type": "image"}, text]
    assert r0.label == "port" and r0.refs == ("port",) and r0.id == "0"
    assert r1.label == "" and r1.refs == ("a harbor", "boats at a pier")


# ----------------------------------------------------------------------------- captions


def test_caption_identical_and_empty():
    m = caption_metrics(["A red roof.", "two ships"], [["a red roof"], ["two ships", "boats"]])
    assert m["BLEU-1"] == pytest.approx(1.0)
    assert m["ROUGE-1"] == pytest.approx(1.0) and m["ROUGE-L"] == pytest.approx(1.0)
    # METEOR of an exact match of n words in one chunk: 1 - 0.5 * (1/n)^3
    assert m["METEOR"] == pytest.approx(((1 - 0.5 / 27) + (1 - 0.5 / 8)) / 2)
    assert m["CIDEr"] > 0
    e = caption_metrics(["", "two ships"], [["a red roof"], ["two ships"]])
    assert e["ROUGE-1"] == pytest.approx(0.5)  # the empty answer scores 0 and counts
    s = caption_metrics(["roof", "two ships"], [["..."], ["two ships"]])
    assert s["ROUGE_skipped_samples"] == 1 and s["ROUGE-1"] == pytest.approx(1.0)


def test_meteor_uses_wordnet_synonyms():
    syn = caption_metrics(["the car on a road"], [["the auto on a road"]])
    none = caption_metrics(["the car on a road"], [["the tank on a road"]])
    # with the synonym: 5 matches in one chunk; without: 4 matches in 2 chunks
    assert syn["METEOR"] == pytest.approx(1 - 0.5 * (1 / 5) ** 3)
    assert none["METEOR"] == pytest.approx(0.8 * (1 - 0.5 * (2 / 4) ** 3))


def test_meteor_unavailable_is_none_not_zero(monkeypatch):
    import georeason.eval.wordnet_data as W

    monkeypatch.setattr(W, "load_wordnet", lambda: None)
    m = caption_metrics(["a"], [["a"]])
    assert m["METEOR"] is None and "wordnet-base" in m["METEOR_unavailable"]


def test_lexnames_table_matches_the_manpage():
    import gzip

    lines = lexnames_file().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2" and lines[44] == "44\tadj.ppl\t3"
    with pytest.raises(ValueError, match="00..44"):
        lexnames_from_manpage("00\tadj.all\tall\n")
    if not LEXNAMES_MANPAGE.is_file():
        pytest.skip("Debian's lexnames(5WN) manual page is not installed (path-excluded)")
    with gzip.open(LEXNAMES_MANPAGE, "rt") as fh:
        assert lexnames_from_manpage(fh.read()) == LEXNAMES


def test_bleu_matches_hand_computation():
    # one sample, hypothesis of 4 words with 3 unigram matches, no brevity penalty
    m = caption_metrics(["a b c x"], [["a b c d"]])
    assert m["BLEU-1"] == pytest.approx(0.75)
    # bigrams: ab, bc match of 3 -> 2/3; geometric mean of (3/4, 2/3)
    assert m["BLEU-2"] == pytest.approx(math.sqrt(0.75 * 2 / 3))


# ---------------------------------------------------------------------------- model mode


def test_model_mode_tiny_qwen3vl_resumes(tiny_qwen3vl_dir, samples_dir, tmp_path, capsys):
    data = [
        {
            "conversations": [
                {"from": "human", "value": "<image>Locate the golf course."},
                {"from": "gpt", "value": "<answer>[133, 237, 684, 672]</answer>"},
            ],
            "images": ["images/dior_00001.jpg"],
        },
        {
            "conversations": [
                {"from": "human", "value": "<image>Where are the buses?"},
                {"from": "gpt", "value": "<answer>[197, 172, 531, 508]</answer>"},
            ],
            "images": ["images/dota_P1888.png"],
        },
    ]
    (tmp_path / "g.json").write_text(json.dumps(data))
    argv = ["eval", "--dataset", "geozero", "--geozero-task", "grounding", "--model"]
    argv += [str(tiny_qwen3vl_dir), "--data", str(tmp_path / "g.json"), "--root"]
    argv += [str(samples_dir), "--out", str(tmp_path / "o"), "--max-new-tokens", "8"]
    argv += ["--max-pixels", "50000", "--no-progress", "--geozero-system"]
    assert main(argv) == 0
    lines = (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()
    first = [json.loads(x) for x in lines]
    assert [r["id"] for r in first] == ["0", "1"]
    assert first[0]["label"] == data[0]["conversations"][1]["value"]
    # GeoZero's output format, re-scorable by its script or by predictions mode
    exported = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert set(exported[0]) == {"raw_output", "pred", "label", "image_path"}
    m1 = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m1["count_S"] + m1["count_M"] + m1["count_L"] == 2
    # resume: nothing is generated again, the numbers are the same
    assert main(argv) == 0
    assert (tmp_path / "o" / "predictions.jsonl").read_text().splitlines() == lines
    assert json.loads((tmp_path / "o" / "metrics.json").read_text()) == m1
    assert "RANDOM weights" in capsys.readouterr().out


def test_decoding_presets_and_system_prompt():
    from georeason.eval.datasets.geozero import GeoZeroRecord
    from georeason.eval.geozero_generate import DECODING_PRESETS, chat_for

    assert DECODING_PRESETS["caption"]["num_beams"] == 5
    assert DECODING_PRESETS["scene_cls"] == {"do_sample": False}
    assert DECODING_PRESETS["grounding"]["top_k"] == 50
    rec = GeoZeroRecord(0, "0", ({"role": "user", "content": "q"},), ("a.png",), "x", ("x",))
    assert chat_for(rec, False) == [{"role": "user", "content": "q"}]
    sys_turn = chat_for(rec, True)[0]
    assert sys_turn["role"] == "system" and "<answer></answer>" in sys_turn["content"]
