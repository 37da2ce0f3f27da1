"""The evaluation runner, report and CLI (eval, convert): predictions mode on the real samples,
model mode on a tiny random model, interrupt-and-resume, failure paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from georeason.cli import main
from georeason.data import SAMPLES_DIR, sample_records
from georeason.errors import UserInputError
from georeason.eval import datasets as D
from georeason.eval import runner as R
from georeason.eval.report import published_for, worst_cases
from georeason.masks import boxes_to_masks, encode_rle, union_of_masks

DATA = Path(__file__).parent / "data"


def _oracle_box_predictions(path: Path, drop: tuple[str, ...] = ()) -> Path:
    """The box-filling baseline on ground-truth boxes (not a model output): boxes = the true
    boxes, masks = the filled boxes."""
    with open(path, "w") as f:
        for r in sample_records():
            if r["id"] in drop:
                continue
            with Image.open(SAMPLES_DIR / r["image"]) as im:
                w, h = im.size
            boxes = np.asarray(r["gt_boxes"], float).reshape(-1, 4)
            mask = union_of_masks(boxes_to_masks(boxes, h, w), h, w)
            f.write(
                json.dumps(
                    {"id": r["id"], "boxes_xyxy_px": boxes.tolist(), "masks": [encode_rle(mask)]}
                )
                + "\n"
            )
    return path


def _write_preds(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


# ------------------------------------------------------------------------------- scoring


def test_score_sample_exact_values_and_empty_convention():
    ds = D.JSONLQueries(DATA / "jsonl")
    q1, q2 = ds[0], ds[1]
    pm = np.zeros((32, 32), bool)
    pm[3:12, 2:6] = True  # half of the true 9x8 mask
    rec = R.score_sample(
        q1, R.Prediction(np.array([[2.0, 3, 6, 12]]), mask=pm), "contour", R.ScoringOptions()
    )
    assert rec["box_iou"] == pytest.approx(0.5)
    assert (rec["mask_I"], rec["mask_U"], rec["mask_iou"]) == (36, 72, 0.5)
    assert set(rec["f1"]) == {"1", "3"} and rec["contour_empty"] == "none"
    empty = R.Prediction(np.zeros((0, 4)), mask=np.zeros((32, 32), bool))
    seg = R.score_sample(q2, empty, "pixel", R.ScoringOptions(empty_target="segearth"))
    rs = R.score_sample(q2, empty, "pixel", R.ScoringOptions(empty_target="remotesam"))
    assert (seg["box_iou"], seg["mask_iou"]) == (1.0, 1.0)
    assert (rs["box_iou"], rs["mask_iou"]) == (0.0, 0.0)
    # An unparsable answer is a miss even where boxes and mask would match.
    miss = R.score_sample(
        q1,
        R.Prediction(np.array([[2.0, 3, 10, 12]]), parsed=False, status="no_boxes", mask=q1.mask),
        "pixel",
        R.ScoringOptions(),
    )
    assert (miss["box_iou"], miss["mask_iou"]) == (0.0, 0.0)
    with pytest.raises(UserInputError, match="differ in size"):
        R.score_sample(
            q1,
            R.Prediction(np.zeros((0, 4)), mask=np.zeros((5, 5), bool)),
            "pixel",
            R.ScoringOptions(),
        )
    with pytest.raises(UserInputError, match="protocol"):
        R.ScoringOptions(protocol="lisa").validate()


# ------------------------------------------------------------------------------- predictions


def test_predictions_mode_on_real_samples_cli(tmp_path):
    preds = _oracle_box_predictions(tmp_path / "preds.jsonl", drop=("neon_OSBS_029_trees",))
    out = tmp_path / "region"
    rc = main(
        [
            "eval",
            "--dataset",
            "jsonl",
            "--predictions",
            str(preds),
            "--task",
            "region",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # 7 samples; the NEON line is missing from the file: a miss. The others are exact boxes.
    assert metrics["n_samples"] == 7
    assert metrics["box_Acc@0.5"] == pytest.approx(100 * 6 / 7)
    assert metrics["box_gIoU"] == pytest.approx(100 * 6 / 7)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [r["id"] for r in sample_records()]
    assert next(r for r in lines if r["id"] == "neon_OSBS_029_trees")["status"] == "missing"
    report = (out / "report.md").read_text()
    assert "| box_Acc@0.5 | 85.71 | % |" in report and "missing predictions: 1" in report
    assert (out / "overlays" / "neon_OSBS_029_trees.png").is_file()  # the worst case


def test_predictions_mode_pixel_and_contour_match_direct_computation(tmp_path):
    preds = _oracle_box_predictions(tmp_path / "preds.jsonl")
    ds = D.JSONLQueries(SAMPLES_DIR)
    res = R.evaluate(ds, R.PredictionsFile(preds), "contour", tmp_path / "c", progress=False)
    assert res.counts["skipped_no_gt_mask"] == 4 and res.counts["samples"] == 3
    inter, union, ious = [], [], []
    for s in ds.with_masks_only():
        h, w = s.mask.shape
        pm = union_of_masks(boxes_to_masks(s.boxes_xyxy_px, h, w), h, w)
        i, u = int((pm & s.mask).sum()), int((pm | s.mask).sum())
        inter.append(i)
        union.append(u)
        ious.append(i / u)
    assert res.metrics["cIoU"] == pytest.approx(100 * sum(inter) / sum(union))
    assert res.metrics["gIoU"] == pytest.approx(100 * np.mean(ious))
    assert res.metrics["box_Acc@0.5"] == 100.0 and res.metrics["box_gIoU"] == pytest.approx(100.0)
    assert 0 < res.metrics["F1@1"] <= res.metrics["F1@3"] <= 1
    assert res.metrics["HD"] >= res.metrics["ASD"] > 0
    # The SegEarth-R1 canvas changes pixel counts but not the ranking of a good prediction.
    seg = R.evaluate(
        ds,
        R.PredictionsFile(preds),
        "pixel",
        tmp_path / "s",
        progress=False,
        options=R.ScoringOptions(protocol="segearth1024"),
    )
    assert seg.records[0]["mask_U"] != res.records[0]["mask_U"]
    assert seg.metrics["gIoU"] == pytest.approx(res.metrics["gIoU"], abs=2.0)


def test_predictions_file_errors(tmp_path):
    ds = D.JSONLQueries(DATA / "jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "boxes_xyxy_px": [[1, 2, 3, 4]]}\nnot json\n')
    with pytest.raises(UserInputError, match=r"bad.jsonl:2: not valid JSON"):
        R.PredictionsFile(bad)
    _write_preds(bad, [{"id": "q1"}, {"id": "q1"}])
    with pytest.raises(UserInputError, match="duplicate id"):
        R.PredictionsFile(bad)
    _write_preds(bad, [{"id": "q1", "boxes_xyxy_px": [[1, 2, 3]]}])
    with pytest.raises(UserInputError, match=r"\[\[x1, y1, x2, y2\]"):
        R.evaluate(ds, R.PredictionsFile(bad), "region", tmp_path / "o1", progress=False)
    _write_preds(bad, [{"id": "q1", "boxes_xyxy_px": []}])
    with pytest.raises(UserInputError, match='need "masks"'):
        R.evaluate(ds, R.PredictionsFile(bad), "pixel", tmp_path / "o2", progress=False)
    small = encode_rle(np.ones((4, 4), bool))
    _write_preds(bad, [{"id": "q1", "boxes_xyxy_px": [], "masks": [small]}])
    with pytest.raises(UserInputError, match="differs from the ground truth"):
        R.evaluate(ds, R.PredictionsFile(bad), "pixel", tmp_path / "o3", progress=False)
    with pytest.raises(UserInputError, match="not found"):
        R.PredictionsFile(tmp_path / "nope.jsonl")


def test_unparsable_and_empty_predictions_are_counted(tmp_path):
    ds = D.JSONLQueries(DATA / "jsonl")
    preds = _write_preds(
        tmp_path / "p.jsonl",
        [
            {"id": "q1", "boxes_xyxy_px": [[2, 3, 10, 12]], "parse_status": "no_boxes"},
            {"id": "q2", "boxes_xyxy_px": []},
        ],
    )
    res = R.evaluate(ds, R.PredictionsFile(preds), "region", tmp_path / "o", progress=False)
    assert [r["box_iou"] for r in res.records] == [0.0, 1.0]
    assert res.counts["unparsable"] == 1 and res.counts["empty_predictions"] == 1
    assert res.metrics == {"box_Acc@0.5": 50.0, "box_gIoU": 50.0}


def test_task_needs_masks():
    ds = D.DIORRSVG(DATA / "dior_rsvg", "test")
    with pytest.raises(UserInputError, match="no ground-truth masks"):
        R.evaluate(ds, _CountingPredictor(), "pixel", "/tmp/unused-georeason", progress=False)


# ------------------------------------------------------------------------------- resume


class _CountingPredictor:
    """Predicts the true boxes and masks (a test double, not a model); can fail after N calls."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_after = fail_after

    def describe(self) -> dict:
        return {"kind": "test-oracle"}

    def predict(self, samples):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.extend(s.id for s in samples)
        return [R.Prediction(s.boxes_xyxy_px, mask=s.mask) for s in samples]


def test_interrupt_and_resume(tmp_path):
    ds = D.EarthReason(DATA / "earthreason", "test", question_index=None)  # 4 samples
    out = tmp_path / "run"
    first = _CountingPredictor(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        R.evaluate(ds, first, "contour", out, batch_size=2, progress=False)
    assert first.calls == ["er_a#0", "er_a#1"]
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    # A kill in the middle of a write leaves a torn line: it is dropped on resume.
    with open(out / "results.jsonl", "a") as f:
        f.write('{"id": "er_b#0", "box_')
    second = _CountingPredictor()
    res = R.evaluate(ds, second, "contour", out, batch_size=2, progress=False)
    assert second.calls == ["er_b#0", "er_c#0"]  # finished samples were not recomputed
    assert res.counts["resumed"] == 2 and res.counts["scored"] == 2
    fresh = R.evaluate(ds, _CountingPredictor(), "contour", tmp_path / "fresh", progress=False)
    assert res.metrics == fresh.metrics
    assert res.metrics["gIoU"] == 100.0 and res.metrics["F1@1"] == 1.0
    # A smoke run (limit) and the full run share the folder: only the rest is predicted.
    lim = tmp_path / "lim"
    R.evaluate(ds, _CountingPredictor(), "contour", lim, limit=1, progress=False)
    rest = _CountingPredictor()
    assert R.evaluate(ds, rest, "contour", lim, progress=False).counts["resumed"] == 1
    assert rest.calls == ["er_a#1", "er_b#0", "er_c#0"]
    # Running again predicts nothing; a different configuration refuses to mix results.
    third = _CountingPredictor()
    R.evaluate(ds, third, "contour", out, progress=False)
    assert third.calls == []
    with pytest.raises(UserInputError, match="different evaluation.*scoring"):
        R.evaluate(
            ds,
            _CountingPredictor(),
            "contour",
            out,
            progress=False,
            options=R.ScoringOptions(empty_target="remotesam"),
        )
    again = _CountingPredictor()
    R.evaluate(
        ds,
        again,
        "contour",
        out,
        progress=False,
        overwrite=True,
        options=R.ScoringOptions(empty_target="remotesam"),
    )
    assert len(again.calls) == 4


# ------------------------------------------------------------------------------- report


def test_report_shows_published_numbers_for_same_benchmark(tmp_path):
    ds = D.EarthReason(DATA / "earthreason", "test")
    res = R.evaluate(ds, _CountingPredictor(), "region", tmp_path / "r", progress=False)
    from georeason.eval.report import write_report

    text = write_report(res, ds, worst_k=2).read_text()
    assert "68.11 (RemoteReasoner (2025))" in text and "71.29" in text
    assert "66.51" not in text  # the val number is not shown for the test split
    assert text.count("![") == 2
    assert {p.metric for p in published_for("earthreason", "test", "contour")} >= {
        "F1@1",
        "F1@3",
        "ASD",
        "HD",
        "cIoU",
    }
    recs = [{"box_iou": 0.9}, {"box_iou": 0.1}, {"box_iou": 0.1}]
    assert worst_cases(recs, "region", 2) == [recs[1], recs[2]]


# ------------------------------------------------------------------------------- model mode


def test_model_mode_tiny_random_model_on_real_samples_cli(tmp_path, tiny_qwen25vl_dir, monkeypatch):
    out = tmp_path / "m"
    argv = [
        "eval",
        "--dataset",
        "jsonl",
        "--model",
        str(tiny_qwen25vl_dir),
        "--task",
        "contour",
        "--segmenter",
        "box",
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--max-new-tokens",
        "8",
        "--max-pixels",
        "12544",
        "--no-progress",
    ]
    assert main(argv) == 0  # no --root: the bundled rs-samples
    report = (out / "report.md").read_text()
    assert "RANDOM WEIGHTS" in report
    run = json.loads((out / "run.json").read_text())
    assert run["predictor"]["weights"] == "random" and run["predictor"]["segmenter"] == "box"
    assert run["root"] == str(SAMPLES_DIR.resolve())
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == [
        "isaid_P0004_trailers",
        "isaid_P0004_cars",
        "spacenet_atlanta_buildings",
    ]
    assert all("text" in r for r in lines)  # the raw completion is kept, whatever it is
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"gIoU", "cIoU", "Pr@0.5", "F1@1", "F1@3", "ASD", "HD"} <= set(metrics)
    # Resuming the finished run re-reports it without loading the model at all.
    from georeason.models.policy import Policy

    def no_load(*a, **k):
        raise AssertionError("the model was loaded although every sample was done")

    monkeypatch.setattr(Policy, "from_pretrained", no_load)
    assert main(argv) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3


def test_resume_refuses_another_sam_checkpoint_or_sampling(tmp_path, tiny_qwen3vl_dir, capsys):
    out = tmp_path / "r"
    base = [
        "eval",
        "--dataset",
        "jsonl",
        "--model",
        str(tiny_qwen3vl_dir),
        "--task",
        "pixel",
        "--out",
        str(out),
        "--max-new-tokens",
        "4",
        "--limit",
        "1",
        "--no-progress",
    ]
    assert main([*base, "--segmenter", "box"]) == 0
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["predictor"]["sam_checkpoint"] is None
    assert recorded["predictor"]["samples"] == 1
    # a finished SAM2 run with checkpoint A must not be resumed with checkpoint B
    recorded["predictor"].update(segmenter="sam2", sam_checkpoint="/ckpt/sam2-A")
    (out / "run.json").write_text(json.dumps(recorded))
    capsys.readouterr()
    assert main([*base, "--segmenter", "sam2", "--sam-checkpoint", "/ckpt/sam2-B"]) == 2
    err = capsys.readouterr().err
    assert "differs in" in err and "sam_checkpoint" in err
    assert main([*base, "--segmenter", "sam2", "--sam-checkpoint", "/ckpt/sam2-A"]) == 0
    # test-time verification changes the predictions too
    assert (
        main([*base, "--segmenter", "sam2", "--sam-checkpoint", "/ckpt/sam2-A", "--samples", "3"])
        == 2
    )
    assert "samples" in capsys.readouterr().err
