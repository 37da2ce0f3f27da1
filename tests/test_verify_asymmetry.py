"""Verifier inputs (RemoteZero's future work) and the Eye-vs-Hand report (eval --task verify)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from georeason import cli
from georeason.eval.asymmetry import (
    candidate_boxes,
    expected_calibration_error,
    pair_counts,
    reliability_bins,
    selection_score,
    summarize_eye,
)
from georeason.eval.datasets import build_dataset
from georeason.eval.predictors import PredictionsFile
from georeason.eval.verify_report import asymmetry_verdict
from georeason.eval.verify_run import VerifyOptions, evaluate_verify
from georeason.geometry import box_iou_matrix
from georeason.rewards import VerificationReward
from georeason.rewards._common import FrameSpec
from georeason.verifier_inputs import (
    HIGHLIGHT_RGB,
    VERIFIER_INPUTS,
    fit_to_pixel_budget,
    highlight_box,
    verifier_images,
)

# --- the highlight, pixel by pixel ----------------------------------------------------------------


def test_highlight_is_a_band_just_outside_the_box():
    img = Image.new("RGB", (20, 20), (10, 20, 30))
    out = np.asarray(highlight_box(img, [5, 5, 10, 10], width_px=2))
    red = np.all(out == HIGHLIGHT_RGB, axis=-1)
    expected = np.zeros((20, 20), bool)
    expected[3:12, 3:12] = True  # 2 px around columns/rows 5..9
    expected[5:10, 5:10] = False  # the box itself is untouched
    assert np.array_equal(red, expected)
    assert np.all(out[~expected] == (10, 20, 30))
    assert np.all(np.asarray(img) == (10, 20, 30))  # the input is not modified


def test_highlight_clips_at_the_border_and_keeps_degenerate_boxes_visible():
    img = Image.new("L", (8, 6), 0)  # converted to RGB
    out = np.asarray(highlight_box(img, [0, 0, 3, 2], width_px=1))
    red = np.all(out == HIGHLIGHT_RGB, axis=-1)
    expected = np.zeros((6, 8), bool)
    expected[2, 0:4] = True  # below the box
    expected[0:3, 3] = True  # right of it; above and left are outside the image
    assert np.array_equal(red, expected)
    dot = np.all(np.asarray(highlight_box(img, [4, 4, 4, 4], width_px=1)) == HIGHLIGHT_RGB, -1)
    assert dot.sum() == 8 and not dot[4, 4]  # a 1-pixel box gets a ring of 8
    with pytest.raises(ValueError, match="width_px"):
        highlight_box(img, [1, 1, 2, 2], width_px=0)


def test_verifier_images_per_mode():
    arr = np.zeros((400, 600, 3), np.uint8)
    arr[100:200, 300:400] = 200
    img = Image.fromarray(arr)
    box = [300, 100, 400, 200]
    (strict,) = verifier_images(img, box, "strict_crop", margin_ratio=0.5)
    assert strict.size == (100, 100) and np.asarray(strict).min() == 200
    (ctx,) = verifier_images(img, box, "context_crop", margin_ratio=0.15)
    assert ctx.size == (130, 130)
    (glob,) = verifier_images(img, box, "global_highlight", global_max_pixels=60_000)
    assert glob.size == (300, 200)  # 600 x 400 scaled by 0.5 to 60,000 px
    g = np.asarray(glob)
    assert np.all(g[48, 150:200] == HIGHLIGHT_RGB) and np.all(g[60, 160] == 200)
    whole, crop = verifier_images(img, box, "global_and_crop", global_max_pixels=60_000)
    assert whole.size == (300, 200) and crop.size == (130, 130)
    assert not np.all(np.asarray(whole) == HIGHLIGHT_RGB, -1).any()  # no outline in this mode
    assert fit_to_pixel_budget(img, 10**7)[1] == 1.0  # never upscaled
    with pytest.raises(ValueError, match="verifier input"):
        verifier_images(img, box, "crop")


# --- the reward in every mode ---------------------------------------------------------------------


class RecordingVerifier:
    """Test double: returns 0.5 for every view and records what it was given (the reward's
    plumbing is under test, not a model)."""

    def __init__(self):
        self.calls = []

    def score(self, crops, queries, **kwargs):
        self.calls.append((list(crops), list(queries), kwargs))
        return [0.5] * len(crops)


@pytest.mark.parametrize("mode", VERIFIER_INPUTS)
def test_verification_reward_sends_each_mode_its_views(mode):
    verifier = RecordingVerifier()
    reward = VerificationReward(verifier, frame=FrameSpec("norm1000"), input_mode=mode)
    image = Image.new("RGB", (100, 100), (0, 0, 0))
    text = "<think>x</think><answer>[[200,200,400,400]]</answer>"
    out = reward(completions=[text], image=[image], query=["a roof"])
    assert out == [0.5]  # area 4 % < tau: no penalty
    ((crops, queries, kwargs),) = verifier.calls
    assert queries == ["a roof"]
    if mode in ("context_crop", "strict_crop"):
        assert kwargs == {} and crops[0].size == ((26, 26) if mode == "context_crop" else (20, 20))
    else:
        assert kwargs == {"input_mode": mode}
        assert [im.size for im in crops[0]] == (
            [(100, 100)] if mode == "global_highlight" else [(100, 100), (26, 26)]
        )


def test_local_verifier_two_image_prefill_matches_one_by_one(tiny_qwen25vl_dir, samples_dir):
    from georeason.models.verifier import LocalVerifier

    verifier = LocalVerifier.from_pretrained(tiny_qwen25vl_dir, max_pixels=50_176)
    image = Image.open(samples_dir / "images" / "dior_00001.jpg")
    boxes = [[133, 237, 684, 672], [0, 0, 100, 300], [700, 700, 800, 800]]
    for mode in ("global_highlight", "global_and_crop"):
        views = [verifier_images(image, b, mode, 0.15, 50_176) for b in boxes]
        queries = ["a golf field", "a road", "a tree"]
        batched = verifier.score(views, queries, input_mode=mode)
        single = [
            verifier.score([v], [q], input_mode=mode)[0]
            for v, q in zip(views, queries, strict=True)
        ]
        assert batched == pytest.approx(single, abs=1e-4)
        assert all(0.0 < x < 1.0 for x in batched)
    assert verifier.prompt_text("a pier", "global_and_crop").count("<|image_pad|>") == 2
    with pytest.raises(ValueError, match="needs 2 image"):
        verifier.score([views[0][:1]], ["x"], input_mode="global_and_crop")
    judge = LocalVerifier(verifier.model, verifier.processor, prompt_fn=lambda q: q)
    with pytest.raises(ValueError, match="no 'global_highlight' form"):
        judge.score([views[0][:1]], ["x"], input_mode="global_highlight")


class ModeScorer:
    """Test double behind the server: confidence = mean brightness of the LAST image / 255,
    recording the input mode and image count of each call (transport under test)."""

    def __init__(self):
        self.seen = []

    def score(self, crops, queries, input_mode="context_crop"):
        out = []
        for item in crops:
            group = [item] if isinstance(item, Image.Image) else list(item)
            self.seen.append((input_mode, len(group), queries[len(out)]))
            out.append(float(np.asarray(group[-1].convert("L"), float).mean() / 255.0))
        return out


def test_http_verifier_sends_whole_image_modes_to_the_server():
    from georeason.serving.verifier_client import HTTPVerifier
    from georeason.serving.verifier_server import VerifierServer

    scorer = ModeScorer()
    server = VerifierServer(scorer, "t", port=0).start()
    try:
        client = HTTPVerifier(server.base_url, "t", max_retries=0)
        whole, crop = Image.new("RGB", (16, 16), 0), Image.new("RGB", (8, 8), (51, 51, 51))
        assert client.score([(whole, crop)], ["a pier"], input_mode="global_and_crop") == (
            pytest.approx([0.2], abs=1e-6)
        )
        assert client.score([(crop,)], ["a dam"], input_mode="global_highlight") == (
            pytest.approx([0.2], abs=1e-6)
        )
        assert client.score([crop], ["a bridge"]) == pytest.approx([0.2], abs=1e-6)
        assert scorer.seen == [
            ("global_and_crop", 2, "a pier"),
            ("global_highlight", 1, "a dam"),
            ("context_crop", 1, "a bridge"),
        ]
    finally:
        server.shutdown()


# --- candidates and the metrics, exact values -----------------------------------------------------


def test_candidates_prefer_annotated_objects_and_never_overlap_targets():
    targets = np.array([[10.0, 10, 30, 30]])
    others = np.array([[12.0, 12, 30, 30], [50, 50, 70, 70], [70, 10, 90, 30]])  # 1st = target
    c = candidate_boxes("s1", targets, others, 100, 100, n_distractors=4, seed=3)
    assert c.sources[:3] == ("target", "annotated", "annotated") and c.sources[3:] == (
        "random",
        "random",
    )
    assert c.is_target.tolist() == [True, False, False, False, False]
    assert box_iou_matrix(c.boxes_xyxy_px[1:], targets).max() < 0.1
    again = candidate_boxes("s1", targets, others, 100, 100, n_distractors=4, seed=3)
    assert np.array_equal(c.boxes_xyxy_px, again.boxes_xyxy_px)  # reproducible (resume)
    other = candidate_boxes("s2", targets, others, 100, 100, n_distractors=4, seed=3)
    assert not np.array_equal(c.boxes_xyxy_px, other.boxes_xyxy_px)
    random_sizes = c.boxes_xyxy_px[3:, 2:] - c.boxes_xyxy_px[3:, :2]
    assert np.allclose(random_sizes, 20)  # the target's size


def test_large_target_gets_smaller_random_distractors_and_no_target_gives_none():
    big = np.array([[100.0, 100, 700, 700]])
    c = candidate_boxes("big", big, np.zeros((0, 4)), 800, 800, n_distractors=4)
    assert len(c.boxes_xyxy_px) == 5 and box_iou_matrix(c.boxes_xyxy_px[1:], big).max() < 0.1
    none = candidate_boxes("none", np.zeros((0, 4)), np.zeros((0, 4)), 800, 800)
    assert len(none.boxes_xyxy_px) == 0


def test_selection_pairs_and_ece_exact():
    assert selection_score([0.2, 0.9, 0.9, 0.9], [True, True, False, False]) == pytest.approx(1 / 3)
    assert pair_counts([0.8, 0.4, 0.6, 0.4], [True, True, False, False]) == (2.5, 4)
    conf = [0.95, 0.85, 0.15, 0.05]
    labels = [True, False, False, False]
    # bins: [0.9,1): conf .95 acc 1; [0.8,0.9): .85 vs 0; [0.1,0.2): .15 vs 0; [0,0.1): .05 vs 0
    assert expected_calibration_error(conf, labels) == pytest.approx(
        (0.05 + 0.85 + 0.15 + 0.05) / 4
    )
    assert [b["count"] for b in reliability_bins([1.0, 0.0], [True, False])] == [1, 1]
    records = [
        {"eye": {"scores": [0.9, 0.1, 0.2], "is_target": [True, False, False]}},
        {"eye": {"scores": [0.3, 0.7], "is_target": [True, False]}},
        {"eye": {"scores": [0.6], "is_target": [True]}},  # no distractor: calibration only
        {"eye": None},  # no target
    ]
    m = summarize_eye(records, hand_acc50=25.0)
    assert m["eye_select_acc"] == pytest.approx(50.0)
    assert m["eye_select_chance"] == pytest.approx(100 * (1 / 3 + 1 / 2) / 2)
    assert m["eye_pair_acc"] == pytest.approx(100 * 2 / 3)
    assert m["asymmetry"] == pytest.approx(25.0) and m["eye_samples"] == 2
    all_conf = [0.9, 0.1, 0.2, 0.3, 0.7, 0.6]
    all_lab = [True, False, False, True, False, True]
    assert m["eye_ece"] == pytest.approx(expected_calibration_error(all_conf, all_lab))


def test_verdict_reads_the_gap():
    assert "Eye > Hand" in asymmetry_verdict(
        {"eye_select_acc": 80.0, "hand_acc50": 40.0, "eye_select_chance": 20.0}
    )
    assert "Hand > Eye" in asymmetry_verdict(
        {"eye_select_acc": 40.0, "hand_acc50": 70.0, "eye_select_chance": 20.0}
    )
    assert "even" in asymmetry_verdict(
        {"eye_select_acc": 52.0, "hand_acc50": 50.0, "eye_select_chance": 20.0}
    )
    assert "chance level" in asymmetry_verdict(
        {"eye_select_acc": 22.0, "hand_acc50": 0.0, "eye_select_chance": 20.0}
    )


# --- the run, with a verifier whose scores are known ----------------------------------------------


class RankVerifier:
    """Test double with known scores: within each call, the i-th view scores ``1 - 0.05 i``
    (``descending``) or ``0.05 i`` (ascending). With batch size 1 a call holds one sample's
    candidates, targets first, so the outcome of every metric is known in advance."""

    def __init__(self, descending: bool):
        self.descending = descending
        self.calls = 0

    def score(self, crops, queries):
        self.calls += 1
        n = len(crops)
        return [1 - 0.05 * i if self.descending else 0.05 * i for i in range(n)]


def _predictions(tmp_path, samples_dir):
    ds = build_dataset("jsonl", samples_dir, "test")
    path = tmp_path / "pred.jsonl"
    lines = []
    for s in ds:  # the first target exactly: Acc@0.5 is 1 only for one-target samples
        lines.append(json.dumps({"id": s.id, "boxes_xyxy_px": s.boxes_xyxy_px[:1].tolist()}))
    path.write_text("\n".join(lines) + "\n")
    return ds, PredictionsFile(path, need_masks=False)


@pytest.mark.parametrize("descending", [True, False])
def test_evaluate_verify_exact_metrics_and_resume(tmp_path, samples_dir, descending):
    ds, pred = _predictions(tmp_path, samples_dir)
    verifier = RankVerifier(descending)
    out = tmp_path / "run"
    res = evaluate_verify(
        ds, pred, lambda: verifier, out, {"model": "rank"}, batch_size=1, progress=False
    )
    n_targets = [min(8, len(s.boxes_xyxy_px)) for s in ds]
    chance = np.mean([t / (t + 4) for t in n_targets]) * 100
    m = res.metrics
    assert m["eye_select_acc"] == (100.0 if descending else 0.0)
    assert m["eye_pair_acc"] == (100.0 if descending else 0.0)
    assert m["eye_select_chance"] == pytest.approx(chance)
    hand = 100 * np.mean([len(s.boxes_xyxy_px) == 1 for s in ds])  # matched mean IoU 1/T
    assert m["hand_acc50"] == pytest.approx(hand)
    assert m["asymmetry"] == pytest.approx(m["eye_select_acc"] - hand)
    confs = [x for r in res.records for x in r["eye"]["scores"]]
    labs = [x for r in res.records for x in r["eye"]["is_target"]]
    assert m["eye_ece"] == pytest.approx(expected_calibration_error(confs, labs))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["eye_select_acc"] == m["eye_select_acc"] and saved["verifier_input"] == (
        "context_crop"
    )
    # resume: nothing is scored again, and the verifier is not even built
    res2 = evaluate_verify(ds, pred, _no_verifier, out, {"model": "rank"}, progress=False)
    assert res2.counts["resumed"] == len(ds) and res2.metrics == pytest.approx(m, nan_ok=True)
    with pytest.raises(Exception, match="different evaluation"):
        evaluate_verify(
            ds,
            pred,
            _no_verifier,
            out,
            {"model": "rank"},
            verify=VerifyOptions(input_mode="strict_crop"),
            progress=False,
        )


def _no_verifier():
    raise AssertionError("a finished run must not build the verifier")


# --- the command, on the real samples with the tiny model -----------------------------------------


def test_eval_task_verify_cli_every_input_mode(tmp_path, samples_dir, tiny_qwen25vl_dir, capsys):
    for mode in VERIFIER_INPUTS:
        out = tmp_path / mode
        args = ["eval", "--dataset", "jsonl", "--task", "verify", "--model"]
        args += [str(tiny_qwen25vl_dir), "--out", str(out), "--limit", "2", "--no-progress"]
        args += ["--max-new-tokens", "8", "--verifier-input", mode, "--max-pixels", "50176"]
        assert cli.main(args) == 0
        m = json.loads((out / "metrics.json").read_text())
        for key in ("hand_acc50", "eye_select_acc", "eye_select_chance", "eye_pair_acc"):
            assert 0.0 <= m[key] <= 100.0
        assert 0.0 <= m["eye_ece"] <= 1.0 and m["verifier_input"] == mode
        report = (out / "report.md").read_text()
        assert "RANDOM WEIGHTS" in report and "## Verdict" in report
        assert (out / "reliability.png").stat().st_size > 1000
        assert not [p for p in out.iterdir() if ".tmp" in p.name]  # atomic writes only
    assert "asymmetry" in capsys.readouterr().out


def test_eval_task_verify_errors(tmp_path, samples_dir, capsys):
    pred = tmp_path / "p.jsonl"
    pred.write_text('{"id": "x", "boxes_xyxy_px": []}\n')
    args = ["eval", "--dataset", "jsonl", "--task", "verify", "--predictions", str(pred)]
    assert cli.main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "needs a verifier" in capsys.readouterr().err
    args += ["--verifier-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o2")]
    assert cli.main(args) == 2
    assert "--verifier-model" in capsys.readouterr().err


# --- training with each verifier input ------------------------------------------------------------

ANSWER_BOX = "<think>ok</think><answer>[[100,100,300,300]]</answer>"
ANSWER_FULL = "<think>ok</think><answer>[[0,0,1000,1000]]</answer>"


@pytest.mark.parametrize("mode", VERIFIER_INPUTS)
def test_remotezero_trains_two_steps_with_each_verifier_input(mode, tiny_qwen3vl_dir, tmp_path):
    """2 GRPO steps of the tiny RemoteZero config per ``verifier.input``; the logged rewards are
    the verifier's confidences on exactly the views of that mode (minus the area penalty)."""
    from pathlib import Path

    from georeason.data import SAMPLES_DIR, sample_records
    from georeason.io import read_image
    from georeason.jsonl import read_jsonl
    from georeason.models.verifier import LocalVerifier
    from georeason.training.config import load_config
    from georeason.training.scripted import scripted_answer_bias
    from georeason.training.trainer import train
    from georeason.verifier_inputs import score_views

    out = tmp_path / mode
    config = Path(__file__).resolve().parents[1] / "configs" / "tiny_remotezero.yaml"
    cfg = load_config(
        config,
        [
            f"output_dir={out}",
            f"model={tiny_qwen3vl_dir}",
            "grpo.max_steps=2",
            "grpo.save_steps=2",
            f"verifier.input={mode}",
        ],
    )
    local = LocalVerifier.from_pretrained(tiny_qwen3vl_dir, device="cpu", max_pixels=65536)
    bias = scripted_answer_bias(local.processor.tokenizer, [ANSWER_BOX, ANSWER_FULL])
    cfg.grpo["generation_kwargs"] = {"sequence_bias": bias}
    cfg.grpo["max_completion_length"] = 40
    train(cfg)
    records = {r["id"]: r for r in sample_records()}
    rollouts = [
        r
        for r in read_jsonl(out / "rollouts" / "rank0.jsonl")
        if r["reward"] == "verification_reward"
    ]
    assert [r["step"] for r in rollouts] == [1, 2]
    seen = set()
    for rec in rollouts:
        image = read_image(SAMPLES_DIR / records[rec["ids"][0]]["image"]).pil()
        w, h = image.size
        query = records[rec["ids"][0]]["query"]
        views = [
            verifier_images(image, box, mode, 0.15, 65536)
            for box in ([0.1 * w, 0.1 * h, 0.3 * w, 0.3 * h], [0, 0, w, h])
        ]
        conf_box, conf_full = score_views(local, views, [query, query], mode)
        for value in rec["values"]:
            if value == pytest.approx(conf_box, abs=1e-4):
                seen.add("box")
            else:
                assert value == pytest.approx(conf_full - 0.7, abs=1e-4)
                seen.add("full")
    assert seen == {"box", "full"}
    log = [r for r in read_jsonl(out / "train_log.jsonl") if "reward" in r]
    assert len(log) == 2 and all(0.0 < r["verifier_confidence"] < 1.0 for r in log)
