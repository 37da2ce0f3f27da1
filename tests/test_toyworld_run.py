"""``georeason-toyworld run``: the --quick smoke run writes its report (wiring, not learning),
plus exact checks of the pieces that decide what the experiment measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from georeason_toyworld import build_split
from georeason_toyworld import cli as tw_cli
from georeason_toyworld.experiment import rl_oracle_records
from georeason_toyworld.pretrain import (
    canonical_noun,
    caption_examples,
    eye_examples,
    hand_target,
    think_text,
)
from georeason_toyworld.report import aggregate, last_run, mean_std


def test_quick_run_writes_report_and_results(tmp_path, capsys):
    out = tmp_path / "run"
    assert tw_cli.main(["run", "--out", str(out), "--quick", "--seed", "3"]) == 0
    res = json.loads((out / "results.json").read_text())
    seed = res["per_seed"][0]
    assert seed["seed"] == 3
    assert set(seed["runs"]) == {
        "remotezero_distill",
        "remotezero_selfevo_r1",
        "remotezero_selfevo_r2",
        "remotereasoner_ceiling",
        "ablation_no_area_penalty",
        "ablation_strict_crop",
    }
    assert seed["runs"]["remotezero_selfevo_r1"]["verifier"]["kind"] == "initial_policy"
    assert seed["runs"]["remotezero_distill"]["verifier"]["kind"] == "local"
    assert seed["runs"]["ablation_strict_crop"]["verifier"]["margin_ratio"] == 0.0
    assert seed["runs"]["ablation_no_area_penalty"]["verifier"]["area_penalty_weight"] == 0.0
    assert all(r["steps"] == 2 for r in seed["runs"].values())
    # the RL data the RemoteZero runs read carries no box
    rl_lines = (out / "seed3" / "data" / "rl" / "queries.jsonl").read_text().splitlines()
    assert rl_lines and all("gt_boxes" not in json.loads(x) for x in rl_lines)
    report = (out / "report.md").read_text()
    assert "## Targets (as measured)" in report and "## Eye vs Hand before RL" in report
    for png in ("reward_curves.png", "box_area_trend.png", "pretrain_loss.png"):
        assert (out / png).stat().st_size > 0
    # a second call reuses the finished seed (no retraining) and rewrites the report
    capsys.readouterr()
    assert tw_cli.main(["run", "--out", str(out), "--quick", "--seed", "3"]) == 0
    assert f"[seed 3] reusing {out / 'seed3' / 'results.json'}" in capsys.readouterr().out
    # changing only a GRPO setting reruns the GRPO stages on the same pretrained models
    policy_weights = out / "seed3" / "models" / "policy" / "model.safetensors"
    before = policy_weights.read_bytes()
    argv = ["run", "--out", str(out), "--quick", "--seed", "3", "--grpo-steps", "1"]
    assert tw_cli.main([*argv, "--no-ablations"]) == 0
    assert "[seed 3] reusing the pretrained models" in capsys.readouterr().out
    again = json.loads((out / "results.json").read_text())["per_seed"][0]
    assert all(r["steps"] == 1 for r in again["runs"].values())
    assert policy_weights.read_bytes() == before


def test_rl_oracle_reproduces_rl_queries_with_boxes():
    rl = build_split("rl", 5, 2)
    oracle = rl_oracle_records(5, 2)
    assert [r["query"] for r in oracle] == [r["query"] for r in rl]
    assert [r["id"] for r in oracle] == [r["id"] for r in rl]
    assert np.array_equal(np.asarray(oracle[0]["image"]), np.asarray(rl[0]["image"]))
    assert all(len(r["boxes_xyxy_px"]) == 1 for r in oracle)


def test_hand_target_is_a_parsable_one_box_answer():
    from georeason.parsing import parse_completion

    text = hand_target("pool", [3.4, 5.6, 40.2, 50.5])
    assert text == "<think>a swimming pool</think><answer>[[3,6,40,50]]</answer>"
    parsed = parse_completion(text)
    assert parsed.format_ok and parsed.boxes == [[3.0, 6.0, 40.0, 50.0]]
    assert think_text("storage_tank") == "a storage tank"


def test_eye_examples_never_pair_a_no_with_the_target():
    rec = build_split("pretrain", 1, 0)[0]
    rng = np.random.default_rng(0)
    examples = [e for _ in range(20) for e in eye_examples(rec, rng, n=4)]
    labels = [label for _, _, label in examples]
    assert set(labels) == {"Yes", "No"}
    texts = {text for _, text, _ in examples}
    assert rec["plain_query"] in texts  # plain and implicit texts both appear
    assert any(t != rec["plain_query"] for t in texts)


def test_caption_examples_name_the_cropped_object():
    rec = build_split("pretrain", 1, 0)[0]
    examples = caption_examples(rec, np.random.default_rng(0), n=40)
    nouns = {canonical_noun(o["category"]) for o in rec["objects"]}
    assert {noun for _, noun in examples} == nouns  # every object named, nothing else
    assert all(crop.size[0] >= 2 and crop.size[1] >= 2 for crop, _ in examples)


def test_mean_std_and_target_checks():
    assert mean_std([0.2, 0.4]) == pytest.approx((0.3, 0.1414213562))
    assert mean_std([0.5]) == (0.5, 0.0)

    def seed(base, r1, r2):
        hand = {
            es: {
                "acc50": v,
                "miou": v,
                "box_area_ratio": 0.1,
                "format_rate": 1.0,
                "think_hit_rate": 0.0,
            }
            for es, v in (("implicit_heldout", 0), ("implicit_train_wordings", 0), ("plain", 0))
        }

        def with_acc(v):
            h = json.loads(json.dumps(hand))
            h["implicit_heldout"]["acc50"] = v
            return {"hand": h}

        eye = {
            es: {"select_acc": 0.5, "pair_acc": 0.5, "chance_select": 0.2}
            for es in ("implicit_heldout", "implicit_train_wordings")
        }
        return {
            "seed": 0,
            "baseline": {"hand": with_acc(base)["hand"], "eye_policy": eye, "eye_teacher": eye},
            "runs": {
                "remotezero_distill": with_acc(r1),
                "remotezero_selfevo_r1": with_acc(r1),
                "remotezero_selfevo_r2": with_acc(r2),
            },
        }

    agg = aggregate([seed(0.1, 0.35, 0.30), seed(0.1, 0.25, 0.30)])
    t = agg["targets"]["implicit_heldout"]
    assert t["remotezero_selfevo_r1"]["gain_mean"] == pytest.approx(0.2)
    assert t["remotezero_selfevo_r1"]["met"]
    assert t["r2_minus_r1"]["mean"] == pytest.approx(0.0) and t["r2_minus_r1"]["met"]
    agg = aggregate([seed(0.1, 0.25, 0.20)])
    assert not agg["targets"]["implicit_heldout"]["remotezero_selfevo_r1"]["met"]
    assert not agg["targets"]["implicit_heldout"]["r2_minus_r1"]["met"]


def test_run_jobs_in_worker_processes_keeps_order_and_reraises():
    import math

    from georeason_toyworld.experiment import _run_jobs

    jobs = [(math.sqrt, (16.0,)), (math.pow, (2.0, 3.0)), (math.sqrt, (9.0,))]
    assert _run_jobs(jobs, workers=2) == [4.0, 8.0, 3.0]
    assert _run_jobs(jobs, workers=1) == [4.0, 8.0, 3.0]
    with pytest.raises(ValueError, match="math domain error"):
        _run_jobs([(math.sqrt, (1.0,)), (math.sqrt, (-1.0,))], workers=2)


def test_toy_model_is_qwen3_vl_with_absolute_positions_and_its_pixel_budget(tmp_path):
    from PIL import Image

    from georeason.models.loading import load_processor, read_arch
    from georeason_toyworld.pretrain import TOY_PIXEL_BUDGET, ToyModelSize, make_toy_model

    d = make_toy_model(tmp_path / "m", ToyModelSize(hidden=64, layers=1, vision_hidden=32))
    assert read_arch(d) == "qwen3_vl"
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["vision_config"]["num_position_embeddings"] == 196
    proc = load_processor(d)
    lo, hi = TOY_PIXEL_BUDGET["qwen3_vl"]
    assert (
        proc.image_processor.size["shortest_edge"],
        proc.image_processor.size["longest_edge"],
    ) == (lo, hi)
    grids = {}
    for side in (20, 112, 224):  # a small crop, the default scene, a 224 px scene
        enc = proc(
            text=["<|vision_start|><|image_pad|><|vision_end|>"],
            images=[Image.new("RGB", (side, side))],
            return_tensors="pt",
        )
        grids[side] = enc["image_grid_thw"][0].tolist()
    # patches of 16 px: 20 px -> 64 px (min budget), 112 -> 128, 224 -> 224
    assert grids == {20: [1, 4, 4], 112: [1, 8, 8], 224: [1, 14, 14]}
    with pytest.raises(ValueError, match="unknown toy arch"):
        make_toy_model(tmp_path / "x", arch="llava")


def test_last_run_of_an_appended_step_log():
    rows = [{"step": s} for s in (0, 10, 20, 0, 10, 0, 10, 20, 30)]
    assert [r["step"] for r in last_run(rows)] == [0, 10, 20, 30]
    assert last_run(rows[:3]) == rows[:3] and last_run([]) == []
