"""``georeason-toyworld run``: the --quick smoke run writes its report (wiring, not learning),
plus exact checks of the pieces that decide what the experiment measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from georeason_toyworld import build_split
from georeason_toyworld import cli as tw_cli
from georeason_toyworld.pretrain import (
    canonical_noun,
    caption_examples,
    eye_examples,
    hand_target,
    think_text,
)
from georeason_toyworld.report import aggregate, last_run, mean_std, threshold_value
from georeason_toyworld.splits import ANNOTATION_KEYS
from georeason_toyworld.stages import _stored_pretrain

RUNS = {
    "sanity_iou_plain",
    "remotezero_distill",
    "remotereasoner_ceiling",
    "remotezero_selfevo_r1",
    "remotezero_selfevo_r2",
}
SUMMARY_KEYS = {
    "plain_acc50_pretrained",
    "implicit_acc50_pretrained",
    "implicit_heldout_acc50_pretrained",
    "eye_select_implicit",
    "sanity_plain_acc50_after_iou_grpo",
    "greedy_implicit_acc50",
    "bestofn_eye_implicit_acc50",
    "bestofn_oracle_implicit_acc50",
    "remotezero_implicit_acc50",
    "remotezero_implicit_heldout_acc50",
    "ceiling_implicit_acc50",
    "selfevo_r1_implicit_acc50",
    "selfevo_r2_implicit_acc50",
    "wall_s",
}


@pytest.mark.slow
def test_quick_run_writes_report_and_results(tmp_path, capsys):
    out = tmp_path / "run"
    assert tw_cli.main(["run", "--out", str(out), "--quick", "--seed", "3"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["summary"]) == SUMMARY_KEYS
    seed = res["per_seed"][0]
    assert seed["seed"] == 3 and set(seed["summary"]) == SUMMARY_KEYS
    runs = seed["runs"]
    assert set(runs) == RUNS
    assert runs["remotezero_selfevo_r1"]["verifier"]["kind"] == "initial_policy"
    assert runs["remotezero_distill"]["verifier"]["kind"] == "local"
    assert runs["sanity_iou_plain"]["mode"] == "remotereasoner"
    long_runs = {"remotezero_distill", "remotereasoner_ceiling"}  # rungs 3 and 4
    assert {k: r["steps"] for k, r in runs.items()} == {k: 3 if k in long_runs else 2 for k in runs}
    # every GRPO setting TRL would default is explicit and recorded
    for r in runs.values():
        for key in ("beta", "loss_type", "scale_rewards", "epsilon", "lr_scheduler_type"):
            assert key in r["grpo"]
        assert r["lora"]["r"] == 16
        for key in ("reward_std", "frac_tied_groups", "kl", "clip_ratio", "sampled_box_iou"):
            assert len(r["curves"][key]) == r["steps"]
    # the RL data the RemoteZero runs read carries no box and no target identity
    rl = [json.loads(x) for x in (out / "seed3/data/rl/queries.jsonl").read_text().splitlines()]
    assert rl and all(not set(ANNOTATION_KEYS) & set(x) for x in rl)
    boxed = (out / "seed3/data/rl_boxes/queries.jsonl").read_text().splitlines()
    assert all(json.loads(x)["gt_boxes"] for x in boxed)
    report = (out / "report.md").read_text()
    assert "## The ladder" in report and "## Thresholds" in report
    assert "## GRPO diagnostics" in report and "## What each design change did" in report
    assert "## Levers tested and not adopted" in report
    for png in ("grpo_diagnostics.png", "pretrain_loss.png"):
        assert (out / png).stat().st_size > 0
    # a second call reuses the finished seed (no retraining) and rewrites the report
    capsys.readouterr()
    assert tw_cli.main(["run", "--out", str(out), "--quick", "--seed", "3"]) == 0
    assert f"[seed 3] reusing {out / 'seed3' / 'results.json'}" in capsys.readouterr().out
    # changing only a GRPO setting reruns the GRPO stages on the same pretrained models
    policy_weights = out / "seed3" / "models" / "policy" / "model.safetensors"
    before = policy_weights.read_bytes()
    argv = ["run", "--out", str(out), "--quick", "--seed", "3", "--grpo-steps", "1"]
    assert tw_cli.main(argv) == 0
    log = capsys.readouterr().out
    assert "[seed 3] reusing the pretrained policy" in log
    assert "[seed 3] reusing the pretrained teacher" in log
    again = json.loads((out / "results.json").read_text())["per_seed"][0]
    assert all(r["steps"] == 1 for r in again["runs"].values())
    assert policy_weights.read_bytes() == before
    # a setting that no GRPO run reads (best-of-N's N) reruns the seed but reuses every
    # finished GRPO run; one that changes their data (the eval scenes) trains them again
    argv += ["--set", "bestofn_samples=3"]
    assert tw_cli.main(argv) == 0
    log = capsys.readouterr().out
    assert sorted(x.split()[5] for x in log.splitlines() if "finished GRPO run" in x) == sorted(
        RUNS
    )
    third = json.loads((out / "results.json").read_text())["per_seed"][0]
    assert third["runs"] == again["runs"] and third["bestofn"]["n_samples"] == 3
    # the reused runs count with the time they took to train (1 worker: their sum), so a
    # resumed seed's total covers its work; a call that trained every run reused none
    assert again["wall_s"]["grpo_reused_train"] == 0.0
    trained = sum(r["train_wall_s"] for r in again["runs"].values())
    assert third["wall_s"]["grpo_reused_train"] == pytest.approx(trained)
    assert third["wall_s"]["total"] > trained + third["wall_s"]["grpo"]
    assert tw_cli.main(argv + ["n_eval=6"]) == 0
    assert "finished GRPO run" not in capsys.readouterr().out


def test_pretrain_only_writes_the_models_and_stops(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--quick", "--seed", "4", "--pretrain-only"]
    assert tw_cli.main(argv) == 0
    seed = out / "seed4"
    for name in ("policy", "teacher"):
        assert (seed / "models" / name / "model.safetensors").stat().st_size > 0
    assert (seed / "data" / "rl" / "queries.jsonl").is_file()
    assert not (seed / "results.json").exists() and not (out / "report.md").exists()
    assert f"[seed 4] pretrained models in {seed / 'models'}" in capsys.readouterr().out
    # a second call finds them
    assert tw_cli.main(argv) == 0
    log = capsys.readouterr().out
    assert "[seed 4] reusing the pretrained policy" in log and "pretraining:" not in log
    # a change of the verifier's settings retrains the verifier only
    policy = (seed / "models" / "policy" / "model.safetensors").read_bytes()
    teacher = (seed / "models" / "teacher" / "model.safetensors").read_bytes()
    assert tw_cli.main(argv + ["--set", "teacher_steps=5"]) == 0
    log = capsys.readouterr().out
    assert "[seed 4] reusing the pretrained policy" in log
    assert "[seed 4] pretraining: teacher" in log
    assert (seed / "models" / "policy" / "model.safetensors").read_bytes() == policy
    assert (seed / "models" / "teacher" / "model.safetensors").read_bytes() != teacher
    stored = json.loads((seed / "pretrain.json").read_text())
    assert stored["teacher"]["steps"] == 5 and stored["teacher"]["key"]["config"]["steps"] == 5
    # a retraining killed half-way leaves no entry that vouches for the overwritten weights
    import georeason_toyworld.grpo as tw_grpo

    def killed(jobs, workers):
        raise KeyboardInterrupt

    monkeypatch.setattr(tw_grpo, "run_jobs", killed)
    assert tw_cli.main(argv + ["--set", "teacher_steps=6"]) == 130  # Ctrl-C's exit code
    stored = json.loads((seed / "pretrain.json").read_text())
    assert "teacher" not in stored and stored["policy"]["key"]["config"][0]["steps"] == 2
    monkeypatch.undo()
    capsys.readouterr()
    assert tw_cli.main(argv + ["--set", "teacher_steps=5"]) == 0  # the old setting retrains
    assert "[seed 4] pretraining: teacher" in capsys.readouterr().out


def test_pretrain_json_of_the_one_key_layout_is_read_per_model(tmp_path):
    old = {
        "key": {
            "split": {"n": 4, "seed": 1},
            "policy_size": {"hidden": 8},
            "teacher_size": {"hidden": 16},
            "policy_config": [{"steps": 3}],
            "teacher_config": {"steps": 2},
        },
        "policy": {"steps": 3, "wall_s": 10.0},
        "teacher": {"steps": 2, "wall_s": 4.0},
        "stage_wall_s": 11.0,
    }
    path = tmp_path / "pretrain.json"
    path.write_text(json.dumps(old))
    stored = _stored_pretrain(path)
    assert stored["policy"]["key"] == {
        "split": {"n": 4, "seed": 1},
        "size": {"hidden": 8},
        "config": [{"steps": 3}],
    }
    assert stored["teacher"]["key"]["config"] == {"steps": 2}
    path.write_text("{not json")
    assert _stored_pretrain(path) == {}


def test_rl_records_with_boxes_are_the_rl_records_plus_their_answers():
    kw = {"size_px": 128, "layout": "grid"}
    rl = build_split("rl", 5, 2, **kw)
    boxed = build_split("rl", 5, 2, with_boxes=True, **kw)
    assert [r["query"] for r in boxed] == [r["query"] for r in rl]
    assert [r["id"] for r in boxed] == [r["id"] for r in rl]
    assert np.array_equal(np.asarray(boxed[0]["image"]), np.asarray(rl[0]["image"]))
    assert all(len(r["boxes_xyxy_px"]) == 1 for r in boxed)
    assert all(not set(ANNOTATION_KEYS) & set(r) for r in rl)
    # the plain-expression variant of the same scenes has the same targets
    plain = build_split("rl", 5, 2, kind="plain", with_boxes=True, **kw)
    assert [r["boxes_xyxy_px"] for r in plain] == [r["boxes_xyxy_px"] for r in boxed]


class _Exploding(list):
    """A column that fails the test if a reward reads it."""

    def _boom(self, *args):
        raise AssertionError("the reward read a box column")

    __iter__ = __getitem__ = __len__ = _boom


def test_remotezero_reward_never_reads_a_box():
    from PIL import Image

    from georeason.rewards import FrameSpec, format_reward, make_verification_reward

    class Const:
        def score(self, crops, queries):
            return [0.75] * len(crops)

    reward = make_verification_reward(Const(), frame=FrameSpec("norm1000"))
    img = Image.new("RGB", (128, 128))
    comps = ["<think>a</think><answer>[[0,0,250,250]]</answer>", "junk"]
    kwargs = {
        "image": [img, img],
        "query": ["q", "q"],
        "boxes_xyxy_px": _Exploding(),
        "gt_boxes": _Exploding(),
        "target_box_xyxy_px": _Exploding(),
    }
    assert reward(prompts=None, completions=comps, **kwargs) == [0.75, 0.0]
    assert format_reward(completions=comps, **kwargs) == [1.0, 0.0]


def test_sampled_box_monitor_reads_its_own_targets():
    from PIL import Image

    from georeason.rewards import FrameSpec
    from georeason_toyworld.grpo import SampledBoxMonitor

    boxes = {"a": [[0.0, 0.0, 32.0, 32.0]]}
    img = Image.new("RGB", (128, 128))
    comps = [
        "<answer>[[0,0,250,250]]</answer>",  # exact: IoU 1
        "<answer>[[0,0,250,125]]</answer>",  # half: IoU 0.5
        "<answer>[[500,500,750,750]]</answer>",  # elsewhere
        "nothing",
    ]
    kw = {"id": ["a"] * 4, "image": [img] * 4}
    iou = SampledBoxMonitor(boxes, "iou", FrameSpec("norm1000", factor=32))
    acc = SampledBoxMonitor(boxes, "acc50", FrameSpec("norm1000", factor=32))
    assert iou.__name__ == "sampled_box_iou" and acc.__name__ == "sampled_box_acc50"
    assert iou(completions=comps, **kw) == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert acc(completions=comps, **kw) == [1.0, 1.0, 0.0, 0.0]
    assert iou(completions=comps[:1], id=["unknown"], image=[img]) == [None]
    with pytest.raises(ValueError):
        SampledBoxMonitor(boxes, "giou", FrameSpec("norm1000"))


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
    assert all(len(views) == 1 for views, _, _ in examples)  # one context crop each
    two = eye_examples(rec, rng, n=2, input_mode="global_and_crop")
    assert [len(v) for v, _, _ in two] == [2, 2] and two[0][0][0].size == rec["image"].size


def test_caption_examples_name_the_cropped_object():
    rec = build_split("pretrain", 1, 0)[0]
    examples = caption_examples(rec, np.random.default_rng(0), n=40)
    nouns = {canonical_noun(o["category"]) for o in rec["objects"]}
    assert {noun for _, noun in examples} == nouns  # every object named, nothing else
    assert all(crop.size[0] >= 2 and crop.size[1] >= 2 for crop, _ in examples)


def test_mean_std_and_threshold_checks():
    assert mean_std([0.2, 0.4]) == pytest.approx((0.3, 0.1414213562))
    assert mean_std([0.5]) == (0.5, 0.0)

    def seed(n, plain, implicit, rz, r1, r2, area=0.1):
        summary = {
            "plain_acc50_pretrained": plain,
            "implicit_acc50_pretrained": implicit,
            "implicit_heldout_acc50_pretrained": implicit,
            "eye_select_implicit": 85.0,
            "sanity_plain_acc50_after_iou_grpo": plain + 4,
            "greedy_implicit_acc50": implicit,
            "bestofn_eye_implicit_acc50": implicit + 10,
            "bestofn_oracle_implicit_acc50": implicit + 30,
            "remotezero_implicit_acc50": rz,
            "remotezero_implicit_heldout_acc50": rz,
            "ceiling_implicit_acc50": rz,
            "selfevo_r1_implicit_acc50": r1,
            "selfevo_r2_implicit_acc50": r2,
            "wall_s": 10.0,
        }
        hand = {"plain": {"box_area_ratio": area, "target_area_ratio": 0.1}}
        return {"seed": n, "summary": summary, "runs": {"sanity_iou_plain": {"hand": hand}}}

    agg = aggregate([seed(0, 70.0, 20.0, 45.0, 40.0, 39.5), seed(1, 64.0, 22.0, 40.0, 38, 38)])
    t = agg["thresholds"]
    assert agg["summary"]["plain_acc50_pretrained"] == pytest.approx(67.0)
    assert t["hand_plain"]["met"] and t["reasoning_gap"]["per_seed"] == [50.0, 42.0]
    assert t["rung3_gain"]["per_seed"] == [25.0, 18.0] and not t["rung3_gain"]["met"]
    assert t["rung5_r2_vs_r1"]["met"] and t["rung1_gain"]["met"] and t["rung2_gain"]["met"]
    assert t["rung1_box_area"]["met"]
    agg = aggregate([seed(0, 50.0, 40.0, 45.0, 40.0, 38.0, area=0.2)])
    t = agg["thresholds"]
    assert not t["hand_plain"]["met"] and not t["reasoning_gap"]["met"]
    assert not t["rung5_r2_vs_r1"]["met"] and not t["rung1_box_area"]["met"]
    assert t["rung1_box_area"]["per_seed"] == [pytest.approx(2.0)]
    # levels print unsigned, gains signed, ratios with two decimals
    assert threshold_value(t["hand_plain"], 50.0) == "50.0"
    assert threshold_value(t["reasoning_gap"], 10.0) == "+10.0"
    assert threshold_value(t["rung5_r2_vs_r1"], -2.0) == "-2.0"
    assert threshold_value(t["rung1_box_area"], 2.0) == "2.00"


def test_grid_scenes_put_one_object_in_each_of_their_cells():
    from georeason_toyworld.grid import FILL_RANGE, GRID_CATEGORIES
    from georeason_toyworld.scenes import generate_scene

    for seed in range(30):
        scene = generate_scene(seed, 128, layout="grid", required=("boat",))
        cells = []
        for o in scene.objects:
            x1, y1, x2, y2 = o.bbox_xyxy_px
            c, r = int(x1 // 32), int(y1 // 32)
            assert (x2 - 1) // 32 == c and (y2 - 1) // 32 == r  # inside one 32 px cell
            assert max(x2 - x1, y2 - y1) >= FILL_RANGE[0] * 32
            assert o.category in GRID_CATEGORIES
            cells.append((r, c))
        assert len(set(cells)) == len(cells) >= 2
        assert "boat" in {o.category for o in scene.objects}
    a = generate_scene(7, 128, layout="grid")
    b = generate_scene(7, 128, layout="grid")
    assert np.array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="grid layout"):
        generate_scene(1, 128, layout="grid", required=("road",))
    with pytest.raises(ValueError, match="layout"):
        generate_scene(1, 128, layout="hex")


def test_ground_query_names_no_category():
    from georeason_toyworld.pretrain import GROUND_QUERY
    from georeason_toyworld.queries import forbidden_words_pattern

    assert not forbidden_words_pattern().search(GROUND_QUERY)


def test_run_jobs_in_worker_processes_keeps_order_and_reraises():
    import math

    from georeason_toyworld.grpo import run_jobs as _run_jobs

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


def test_sincos_position_table_is_unit_std_and_tells_cells_apart(tmp_path):
    from safetensors.torch import load_file

    from georeason_toyworld.pretrain import ToyModelSize, make_toy_model, sincos_position_table

    t = sincos_position_table(14, 64)
    assert t.shape == (196, 64) and t.dtype == np.float32
    assert abs(float(t.std()) - 1.0) < 1e-4 and abs(float(t.mean())) < 1e-4
    # every cell has its own code, and neighbours are closer than far cells
    d = np.linalg.norm(t[:, None] - t[None], axis=-1)
    assert (d + np.eye(196) * 1e9).min() > 0.1
    assert d[0, 1] < d[0, 13] and d[0, 14] < d[0, 14 * 13]
    with pytest.raises(ValueError):
        sincos_position_table(4, 30)
    small = ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1)
    m = make_toy_model(tmp_path / "m", small)
    pos = load_file(m / "model.safetensors")["model.visual.pos_embed.weight"].numpy()
    np.testing.assert_allclose(pos, sincos_position_table(14, 32))
    plain = ToyModelSize(
        hidden=64, layers=1, vision_hidden=32, vision_depth=1, vision_pos_init="random"
    )
    r = make_toy_model(tmp_path / "r", plain)
    assert float(load_file(r / "model.safetensors")["model.visual.pos_embed.weight"].std()) < 0.1


def test_hand_only_pretraining_with_padded_coordinates_and_neutral_queries(tmp_path):
    """A Hand-only probe (no Eye, no captions) trains on the Hand loss alone, and
    ``coord_digits`` writes every coordinate of the Hand's targets with three digits."""
    import re

    from georeason_toyworld.pretrain import (
        PretrainConfig,
        ToyModelSize,
        hand_example,
        make_toy_model,
        pretrain,
    )

    recs = build_split("pretrain", 8, 0, size_px=96, layout="grid", grid_cells=3)
    r = recs[0]
    _, padded, _ = hand_example(
        r["image"], r["query"], r["target_category"], [1, 2, 40, 50], "norm1000", coord_digits=3
    )
    assert re.search(r"\[\[010,021,417,521\]\]", padded), padded
    _, plain, _ = hand_example(
        r["image"], r["query"], r["target_category"], [1, 2, 40, 50], "norm1000"
    )
    assert "[[10,21,417,521]]" in plain
    model = tmp_path / "m"
    make_toy_model(model, ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1))
    cfg = PretrainConfig(
        steps=2,
        hand_batch=2,
        eye_batch=0,
        caption_batch=0,
        coord_digits=3,
        ground_batch=2,
        ground_queries="varied",
    )
    pretrain(model, recs, cfg, log_path=tmp_path / "log.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert rows and all(x["eye_loss"] == 0 and x["caption_loss"] == 0 for x in rows)
    assert all(x["hand_loss"] > 0 and x["loss"] == x["hand_loss"] for x in rows)
    with pytest.raises(ValueError, match="all 0"):
        PretrainConfig(hand_batch=0, eye_batch=0, caption_batch=0)
    with pytest.raises(ValueError, match="ground_queries"):
        PretrainConfig(ground_queries="sometimes")


def test_apply_overrides_parses_each_setting_type():
    from georeason.errors import UserInputError
    from georeason_toyworld.cli import apply_overrides
    from georeason_toyworld.settings import ExperimentSettings

    s = apply_overrides(
        ExperimentSettings(),
        ["grpo_steps=7", "grpo_lr=1e-3", "loss_type=dr_grpo", "position_phrases=false"],
    )
    assert (s.grpo_steps, s.grpo_lr, s.loss_type, s.position_phrases) == (7, 1e-3, "dr_grpo", False)
    assert apply_overrides(s, ["position_phrases=Yes"]).position_phrases is True
    for bad, match in (
        (["position_phrases=maybe"], "not a boolean"),
        (["grpo_steps=many"], "not a int"),
        (["no_such=1"], "expected KEY=VALUE"),
        (["grpo_steps"], "expected KEY=VALUE"),
        (["policy_size=3"], "only number, boolean and text"),
    ):
        with pytest.raises(UserInputError, match=match):
            apply_overrides(ExperimentSettings(), bad)


def test_results_from_before_a_new_setting_are_reused_when_it_has_its_default(tmp_path):
    import dataclasses

    from georeason_toyworld.experiment import _reusable
    from georeason_toyworld.settings import ExperimentSettings

    settings = ExperimentSettings()
    old = dataclasses.asdict(settings)
    del old["full_finetune"]  # results.json written before the setting existed
    done = tmp_path / "results.json"
    done.write_text(json.dumps({"settings": old, "summary": {"wall_s": 1.0}}))
    assert _reusable(done, settings)["summary"] == {"wall_s": 1.0}
    assert _reusable(done, dataclasses.replace(settings, full_finetune=True)) is None
    assert _reusable(done, dataclasses.replace(settings, grpo_steps=5)) is None


def test_reused_runs_add_their_training_time_once():
    from georeason_toyworld.experiment import _reused_train_s

    def batch(*runs):
        return [{"train_wall_s": w, **({"reused": True} if was else {})} for w, was in runs]

    # one worker: runs one after another, the reused ones' sum
    assert _reused_train_s(batch((100.0, True), (30.0, False), (20.0, True)), 1) == 120.0
    # two workers, side by side: the batch took its longest run; the part of it that this
    # call did not already spend training
    assert _reused_train_s(batch((100.0, True), (30.0, False)), 2) == 70.0
    assert _reused_train_s(batch((20.0, True), (30.0, False)), 2) == 0.0
    assert _reused_train_s(batch((100.0, True), (120.0, True)), 2) == 120.0
    assert _reused_train_s(batch((10.0, False), (12.0, False)), 2) == 0.0
    done = batch((5.0, True))
    assert _reused_train_s(done, 1) == 5.0 and "reused" not in done[0]  # the flag is popped
